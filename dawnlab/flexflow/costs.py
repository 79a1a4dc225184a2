"""Task costs: how long one piece of an operator takes, analytic or measured.

FlexFlow's simulator (arXiv 1807.05358, Section 5.1) assumes that a task's
time is predictable from the operator and the size of its piece, and measures
each distinct (operator, configuration) once on the real device, caching the
result.  Communication costs latency + bytes / bandwidth per link.

- :class:`AnalyticCosts` predicts a piece's forward and backward time with a
  roofline of the device model: ``latency + max(flops / peak, bytes / bandwidth)``
  where bytes are the piece's inputs (only the region it reads), output and
  weights.  The backward pass costs twice the forward flops and bytes
  (gradients with respect to inputs and weights).
- :class:`MeasuredCosts` runs the piece with torch on this machine (warm-up,
  repeats, median), forward and forward+backward+SGD update of the piece's
  weights (the update is part of the backward time; the paper's simulator
  leaves it out), and caches the times in a JSON file keyed by the piece's
  signature.

Both answer ``compute(graph, i, degrees, device) -> (forward_s, backward_s)``.
Both also answer ``slowdown(graph, i, degrees, device) -> (forward, backward)``: how
many times slower the piece runs while another device that shares its core or memory
computes (``Device.share``).  The analytic model uses the device's ``contention``
factor; measured costs use each operator's measured factor where one was measured
(``MeasuredCosts.slowdowns``, its time with the other core busy over its time alone).
"""

from __future__ import annotations

import json
import math
import pathlib
import time

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph, Op, input_windows, window_rows
from dawnlab.flexflow.machine import Device, Machine

_SLOW = "slowdown "

__all__ = ["AnalyticCosts", "MeasuredCosts", "piece_input_shapes", "param_degree", "FREE_KINDS"]

#: Operators that move no data in a real framework (views) or are given (inputs).
FREE_KINDS = frozenset({"input", "flatten", "view", "parameter", "constant"})


def param_degree(op: Op, degrees: tuple[int, ...]) -> int:
    """Number of distinct weight slices: the product of degrees on parameter dimensions."""
    return math.prod(k for k, d in zip(degrees, op.dims) if d == "parameter")


def piece_input_shapes(graph: Graph, i: int, degrees: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Shape of the region of each input that one piece reads.

    Examples
    --------
    A 3x3 convolution split in two along the height reads 16 rows and one halo row:

    >>> from dawnlab.flexflow.graph import GraphBuilder
    >>> b = GraphBuilder(); x = b.input((8, 3, 32, 32)); c = b.conv2d(x, 16, 3, padding=1)
    >>> piece_input_shapes(b.build(), 1, (2, 4, 2, 1))
    [(4, 3, 17, 32)]
    """
    op = graph.ops[i]
    shapes = [graph[src].shape for src in op.inputs]
    halo = op.attrs.get("window")
    out = []
    for s, m, win in zip(shapes, op.input_maps, input_windows(op, shapes)):
        dims = []
        for t in range(len(s)):
            if m[t] is None:
                dims.append(win[t][1] - win[t][0])
            elif halo is not None and m[t] >= 2:  # a sliding window's rows, halo included
                lo, hi = window_rows(halo[m[t] - 2], 0, -(-op.shape[m[t]] // degrees[m[t]]), s[t])
                dims.append(hi - lo)
            else:
                dims.append(-(-s[t] // degrees[m[t]]))
        out.append(tuple(dims))
    return out


class _MemoCosts:
    """Per-(graph, operator, degrees, device kind) memo shared by the cost models.

    Subclasses give ``_cost`` for operators that do work; free operators cost 0.
    The memo keeps each graph alive so that its ``id()`` is never reused.
    """

    def __init__(self):
        self._memo: dict = {}
        self._graphs: dict = {}

    def compute(self, graph: Graph, i: int, degrees: tuple[int, ...], device: Device) -> tuple[float, float]:
        key = (id(graph), i, degrees, device.kind)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        res = (0.0, 0.0) if graph.ops[i].kind in FREE_KINDS else self._cost(graph, i, degrees, device)
        self._graphs.setdefault(id(graph), graph)
        self._memo[key] = res
        return res

    def slowdown(self, graph: Graph, i: int, degrees: tuple[int, ...], device: Device) -> tuple[float, float]:
        """How many times slower a piece's forward and backward run while another device of
        ``device``'s ``share`` group computes (the simulator's *contention*): the device's
        ``contention`` factor unless a subclass measured the operator's own."""
        return (device.contention, device.contention)


class AnalyticCosts(_MemoCosts):
    """Roofline task times from the device model (Section 5.1's cost model, analytic variant).

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x16")
    >>> c = AnalyticCosts(m)
    >>> f1, b1 = c.compute(g, g.index["conv2"], (1, 1, 1, 1), m.devices[0])
    >>> f4, b4 = c.compute(g, g.index["conv2"], (4, 1, 1, 1), m.devices[0])
    >>> round(b1 / f1, 2), 3.5 < f1 / f4 < 4.01
    (2.0, True)
    """

    def __init__(self, machine: Machine | None = None):
        super().__init__()
        self.machine = machine

    def _cost(self, graph: Graph, i: int, degrees: tuple[int, ...], device: Device) -> tuple[float, float]:
        op = graph.ops[i]
        n = math.prod(degrees)
        flops = op.flops / n
        nbytes = 4.0 * (op.numel / n + sum(math.prod(s) for s in piece_input_shapes(graph, i, degrees))
                        + op.params / param_degree(op, degrees))
        fwd = device.kernel_latency + max(flops / device.flops, nbytes / device.mem_bandwidth)
        bwd = device.kernel_latency + 2.0 * (fwd - device.kernel_latency)
        return fwd, bwd


class MeasuredCosts(_MemoCosts):
    """Task times measured with torch on this machine's devices, cached on disk.

    Each device kind of the machine model is measured on a real torch device of this machine:
    a kind whose name starts with ``"cpu"`` on the CPU, any other kind (``"P100"``, ``"H100"``,
    ...) on the CUDA GPU when one is present (``kinds`` overrides the mapping).  A kind with no
    matching device here is an error, never silently a CPU timing.  The cache key holds the
    torch device's name (``"cpu"``, or the GPU's name), so timings of different hardware never
    mix.

    Parameters
    ----------
    cache : path, optional
        JSON file of measured times (read at start, written after each new measurement).
    warmup, repeats : int
        Untimed and timed runs; the median of the timed runs is kept.
    threads : int
        ``torch.set_num_threads`` while measuring on the CPU (one CPU core = one device).
    kinds : dict, optional
        Device kind -> torch device string (``{"P100": "cuda:0"}``).

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks
    >>> g = benchmarks.mlp(16, (32, 64, 10))
    >>> c = MeasuredCosts(repeats=3)
    >>> f, b = c.compute(g, g.index["fc0"], (1, 1), Machine.preset("cpu1").devices[0])
    >>> 0 < f < 0.1 and 0 < b < 0.1
    True
    """

    def __init__(self, cache: str | pathlib.Path | None = None, warmup: int = 2, repeats: int = 7,
                 threads: int = 1, kinds: dict | None = None):
        super().__init__()
        self.path = pathlib.Path(cache) if cache else None
        self.warmup, self.repeats, self.threads = warmup, repeats, threads
        self.kinds = dict(kinds or {})
        self.table: dict[str, list[float]] = {}
        #: signature -> [forward, backward] slowdown while another device of the group computes
        self.slowdowns: dict[str, list[float]] = {}
        if self.path is not None and self.path.exists():
            self.table = json.loads(self.path.read_text())
            self.slowdowns = {k[len(_SLOW):]: v for k, v in self.table.items() if k.startswith(_SLOW)}
            self.table = {k: v for k, v in self.table.items() if not k.startswith(_SLOW)}

    def torch_device(self, device: Device) -> str:
        """The torch device that measures ``device``'s kind (see the class docstring)."""
        import torch

        want = self.kinds.get(device.kind)
        if want is None:
            want = "cpu" if device.kind.lower().startswith("cpu") else "cuda"
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise invalid("device", "MeasuredCosts", "a device kind this machine can run (a 'cpu...' kind, "
                          "or any kind when a CUDA GPU is present)", f"{device.name} of kind {device.kind!r}",
                          "Use AnalyticCosts for a machine model you cannot measure here, or map the kind "
                          "with MeasuredCosts(kinds={kind: 'cpu'}) if you mean CPU timings.")
        return want

    @staticmethod
    def device_name(torch_device: str) -> str:
        """The hardware name in cache keys: ``"cpu"`` or the CUDA device's name."""
        if torch_device.startswith("cuda"):
            import torch

            return "cuda:" + torch.cuda.get_device_name(torch.device(torch_device))
        return "cpu"

    @staticmethod
    def signature(graph: Graph, i: int, degrees: tuple[int, ...], hardware: str = "cpu") -> str:
        """The cache key: hardware, operator kind, shapes, settings and degrees."""
        op = graph.ops[i]
        attrs = {k: v for k, v in sorted(op.attrs.items())}
        return json.dumps([hardware, op.kind, op.shape, [graph[s].shape for s in op.inputs], op.params > 0,
                           attrs, list(degrees), "sgd"], default=str)

    def _cost(self, graph: Graph, i: int, degrees: tuple[int, ...], device: Device) -> tuple[float, float]:
        tdev = self.torch_device(device)
        sig = self.signature(graph, i, degrees, self.device_name(tdev))
        if sig not in self.table:
            self.table[sig] = list(self._measure(graph, i, degrees, tdev))
            self.save()
        return tuple(self.table[sig])

    def slowdown(self, graph: Graph, i: int, degrees: tuple[int, ...], device: Device) -> tuple[float, float]:
        """The measured slowdown of the piece while another device of its ``share`` group
        computes (``slowdowns``, keyed like the times), else the device's ``contention``."""
        if graph.ops[i].kind in FREE_KINDS:
            return (1.0, 1.0)
        sig = self.signature(graph, i, degrees, self.device_name(self.torch_device(device)))
        got = self.slowdowns.get(sig)
        return tuple(got) if got is not None else (device.contention, device.contention)

    def save(self) -> None:
        """Write the cache file atomically (if a path was given); slowdowns are kept under
        keys prefixed ``"slowdown "``."""
        if self.path is not None:
            from dawnlab.results import save

            self.path.parent.mkdir(parents=True, exist_ok=True)
            save(self.path, {**self.table, **{_SLOW + k: v for k, v in self.slowdowns.items()}})

    def _measure(self, graph: Graph, i: int, degrees: tuple[int, ...], tdev: str = "cpu") -> tuple[float, float]:
        import torch

        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        sync = (lambda: torch.cuda.synchronize(tdev)) if tdev.startswith("cuda") else (lambda: None)
        try:
            fn, tensors, weights = _piece_program(graph, i, degrees, tdev)

            def fwd():
                with torch.no_grad():
                    fn(*tensors)

            def both():
                for t in tensors:
                    if t.grad is not None:
                        t.grad = None
                out = fn(*tensors)
                if out.requires_grad:
                    out.backward(torch.ones_like(out))
                with torch.no_grad():  # the SGD update of the piece's weights
                    for w in weights:
                        w.add_(w.grad, alpha=-1e-3)

            tf = _median_time(fwd, self.warmup, self.repeats, sync)
            tb = _median_time(both, self.warmup, self.repeats, sync)
        finally:
            torch.set_num_threads(old)
        return tf, max(tb - tf, 0.0)


def _median_time(fn, warmup, repeats, sync=lambda: None):
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def _piece_program(graph: Graph, i: int, degrees: tuple[int, ...], tdev: str = "cpu"):
    """A torch function, its leaf tensors and the weights among them, for one piece of operator
    ``i``, on torch device ``tdev``."""
    import torch
    import torch.nn.functional as F

    op = graph.ops[i]
    g = torch.Generator().manual_seed(0)
    ins = [torch.randn(s, generator=g) for s in piece_input_shapes(graph, i, degrees)]
    kp = param_degree(op, degrees)
    a = op.attrs

    weights = []

    def weight(*shape):
        w = torch.randn(shape, generator=g) * 0.05
        weights.append(w)
        return w

    if op.kind == "conv2d":
        oc = op.shape[1] // degrees[1]
        x = ins[0]
        groups = a.get("groups", 1)
        # the groups this piece's output channels span, over the input channels it reads
        pg = max(1, groups * oc // op.shape[1]) if x.shape[1] < a["in_channels"] else groups
        pg = pg if x.shape[1] % pg == 0 and oc % pg == 0 else 1
        w, bias = weight(oc, x.shape[1] // pg, *a["kernel"]), weight(oc)
        (pt, pb), (pl, pr) = a["padding"]

        def fn(x, w, bias):
            y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, bias, a["stride"], 0, a.get("dilation", 1), pg)
            return F.relu(y) if a["relu"] else y
        leaves = [x, w, bias]
    elif op.kind in ("linear", "lstm_cell"):
        if op.kind == "linear":
            w, bias = weight(op.shape[-1] // kp, a["in_features"]), weight(op.shape[-1] // kp)

            def fn(x, w, bias):
                y = F.linear(x, w, bias)
                return F.relu(y) if a["relu"] else y
            leaves = [ins[0], w, bias]
        else:
            h = op.shape[1] // kp
            x = torch.cat(ins, 1) if len(ins) > 1 else ins[0]
            w, bias = weight(4 * h, x.shape[1]), weight(4 * h)

            def fn(x, w, bias):
                gi, gf, gg, go = F.linear(x, w, bias).chunk(4, 1)
                c = torch.sigmoid(gf) * 0.5 + torch.sigmoid(gi) * torch.tanh(gg)
                return torch.sigmoid(go) * torch.tanh(c)
            leaves = [x, w, bias]
    elif op.kind == "pool2d":
        pool = F.max_pool2d if a["mode"] == "max" else F.avg_pool2d

        def fn(x):
            ph, pw = a["padding"]
            y = F.pad(x, (pw, pw, ph, ph), value=-math.inf if a["mode"] == "max" else 0.0)
            return pool(y, a["kernel"], a["stride"], 0)
        leaves = ins
    elif op.kind == "softmax":
        def fn(x):
            return F.log_softmax(x, a["dim"])
        leaves = ins
    elif op.kind == "embedding":
        ids = torch.randint(0, a["vocab"], piece_input_shapes(graph, i, degrees)[0], generator=g)
        w = weight(a["vocab"], op.shape[-1] // kp)

        def fn(w):
            return F.embedding(ids, w)
        leaves = [w]
    elif op.kind in ("concat", "stack", "select"):
        def fn(*xs):
            return torch.cat([x.reshape(x.shape[0], -1) for x in xs], 1) * 1.0
        leaves = ins
    elif op.kind == "attention":
        heads = max(1, a["heads"] // kp)

        def fn(q, k, v):
            n, t, e = q.shape
            sh = lambda z: z.reshape(z.shape[0], z.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
            return F.scaled_dot_product_attention(sh(q), sh(k), sh(v)).transpose(1, 2).reshape(n, t, -1)
        leaves = ins
    elif op.kind == "matmul":
        def fn(x, y):
            return x @ y
        leaves = ins
    else:  # elementwise family: relu, add, mul, batchnorm, layernorm, ...
        def fn(*xs):
            out = xs[0]
            for x in xs[1:]:
                out = out + x
            return F.relu(out) if op.kind == "relu" else out * 1.0
        leaves = ins
    if tdev != "cpu":
        moved = {id(t): t.to(tdev) for t in leaves + ins + weights}
        ins = [moved.get(id(t), t) for t in ins]
        weights = [moved.get(id(t), t) for t in weights]
        leaves = [moved[id(t)] for t in leaves]
        if op.kind == "embedding":
            ids_dev = ids.to(tdev)

            def fn(w):
                return F.embedding(ids_dev, w)
    data = {id(t) for t, src in zip(ins, op.inputs) if graph[src].kind == "input"}
    for t in leaves:
        if t.is_floating_point() and id(t) not in data:  # no gradient for the data batch
            t.requires_grad_(True)
    return fn, leaves, [w for w in weights if any(w is t for t in leaves)]
