"""Operator graphs: the DNN a parallelization strategy is chosen for.

FlexFlow (Jia, Zaharia, Aiken, arXiv 1807.05358, Section 3) sees a DNN as an
*operator graph*: each node is an operator (convolution, matrix multiply, ...)
whose output tensor has named, parallelizable dimensions, and each edge is a
tensor flowing from producer to consumer.  This module holds that graph.

Every :class:`Op` records

- ``shape``: its output tensor's shape;
- ``dims``: for each output dimension, which SOAP dimension it is
  (``"sample"``, ``"attribute"``, ``"parameter"``) or ``"none"`` when the
  operator cannot be split along it (a softmax's class axis, a concat axis);
- ``input_maps``: for each input, for each of the input's dimensions, the output
  dimension it follows proportionally, or ``None`` when every output piece
  needs that input dimension whole.  A convolution's input map is
  ``(0, None, 2, 3)``: a piece of the output needs the matching samples and
  rows/columns of the input but all of its channels.  This is how the simulator
  knows which piece of a producer each consumer piece reads (Section 5.1);
- ``flops`` and ``params``: forward floating point operations and weight count;
- ``param_group``: operators that share weights (the time steps of an unrolled
  recurrent layer) share a group; their gradients are synchronised once.

:class:`GraphBuilder` builds graphs op by op with shape inference; the
:mod:`~dawnlab.flexflow.trace` module builds them from a ``torch.nn.Module``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from dawnlab.errors import InvalidArgument, invalid

__all__ = ["Op", "Graph", "GraphBuilder", "GraphError", "SOAP_DIMS", "input_windows", "window_rows"]

SOAP_DIMS = ("sample", "attribute", "parameter", "none")


def input_windows(op: "Op", shapes: Sequence[tuple[int, ...]]) -> list[tuple]:
    """For each input of ``op`` (of the given ``shapes``), per input dimension, the ``(lo, hi)``
    range that every piece reads of a dimension its input map marks ``None``: the whole
    dimension, except along a ``select``'s dimension, where it is the selected block.

    Examples
    --------
    >>> b = GraphBuilder(); x = b.input((8, 5, 3)); y = b.select(x, 1, 2, name="x2")
    >>> g = b.build()
    >>> input_windows(g["x2"], [g[x].shape])
    [((0, 8), (2, 3), (0, 3))]
    """
    out = []
    for shape in shapes:
        win = [(0, n) for n in shape]
        if op.kind == "select":
            d, size = op.attrs["dim"], op.attrs.get("size", 1)
            lo = min(op.attrs["index"] * size, shape[d])
            win[d] = (lo, min(lo + size, shape[d]))
        out.append(tuple(win))
    return out


class GraphError(InvalidArgument):
    """An operator graph is malformed or an operator is unknown."""


@dataclass(frozen=True)
class Op:
    """One operator of an operator graph (Section 3 of arXiv 1807.05358).

    Attributes
    ----------
    name : str
        Unique name.
    kind : str
        Operator type (``"conv2d"``, ``"linear"``, ``"lstm_cell"``, ...).
    inputs : tuple of str
        Names of the producer operators, in argument order.
    shape : tuple of int
        Output shape.
    dims : tuple of str
        SOAP label of each output dimension (see module docstring).
    input_maps : tuple of tuple
        Per input, per input dimension: the output dimension it follows or None.
    flops : float
        Forward floating-point operations.
    params : int
        Trainable weights (counted once per ``param_group``).
    param_group : str
        Operators with the same group share their weights.
    attrs : dict
        Operator settings (kernel size, stride, ...) used to measure its cost; ``window``
        (a convolution's or pooling's sliding window on output dimensions 2 and 3, for halos)
        and ``split_limits`` (per output dimension, a number every degree must also divide,
        such as an attention's heads) constrain its configurations.
    """

    name: str
    kind: str
    inputs: tuple[str, ...]
    shape: tuple[int, ...]
    dims: tuple[str, ...]
    input_maps: tuple[tuple[int | None, ...], ...]
    flops: float = 0.0
    params: int = 0
    param_group: str = ""
    attrs: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def numel(self) -> int:
        """Elements of the output tensor."""
        return math.prod(self.shape)

    def parallel_dims(self) -> list[int]:
        """Indices of the output dimensions that may be split."""
        return [i for i, d in enumerate(self.dims) if d != "none"]


class Graph:
    """An operator graph in topological order.

    Parameters
    ----------
    ops : sequence of Op
        Operators; each op's inputs must appear before it.
    name : str
        A label (the benchmark's name).

    Examples
    --------
    >>> b = GraphBuilder("mlp")
    >>> x = b.input((8, 4))
    >>> h = b.linear(x, 16, name="fc1")
    >>> g = b.build()
    >>> len(g), g["fc1"].shape, g["fc1"].dims
    (2, (8, 16), ('sample', 'parameter'))
    """

    def __init__(self, ops: Sequence[Op], name: str = "graph"):
        self.name = name
        self.ops: list[Op] = list(ops)
        self.index: dict[str, int] = {}
        for i, op in enumerate(self.ops):
            if op.name in self.index:
                raise invalid("ops", "Graph", "operators with unique names", op.name, cls=GraphError)
            for src in op.inputs:
                if src not in self.index:
                    raise invalid("ops", "Graph", "in topological order (inputs before users)",
                                  f"{op.name} reads {src}", cls=GraphError)
            if len(op.input_maps) != len(op.inputs):
                raise invalid("ops", "Graph", "ops with one input map per input", op.name, cls=GraphError)
            self.index[op.name] = i
        self.consumers: list[list[tuple[int, int]]] = [[] for _ in self.ops]
        for i, op in enumerate(self.ops):
            for slot, src in enumerate(op.inputs):
                self.consumers[self.index[src]].append((i, slot))
        self.groups: dict[str, list[int]] = {}
        for i, op in enumerate(self.ops):
            if op.params:
                self.groups.setdefault(op.param_group or op.name, []).append(i)

    def __len__(self) -> int:
        return len(self.ops)

    def __getitem__(self, key: str | int) -> Op:
        if isinstance(key, str):
            if key not in self.index:
                raise invalid("op", f"Graph {self.name!r}", "the name of one of its operators", key,
                              cls=GraphError)
            return self.ops[self.index[key]]
        return self.ops[key]

    def __iter__(self):
        return iter(self.ops)

    def to_dict(self) -> dict:
        """The graph as plain data (JSON-ready); :meth:`from_dict` rebuilds it."""
        return {"name": self.name, "ops": [
            {"name": o.name, "kind": o.kind, "inputs": list(o.inputs), "shape": list(o.shape), "dims": list(o.dims),
             "input_maps": [list(m) for m in o.input_maps], "flops": o.flops, "params": o.params,
             "param_group": o.param_group, "attrs": o.attrs} for o in self.ops]}

    @classmethod
    def from_dict(cls, data: dict) -> "Graph":
        """Rebuild a graph written by :meth:`to_dict`.

        Examples
        --------
        >>> b = GraphBuilder("cnn"); x = b.input((2, 3, 8, 8)); _ = b.conv2d(x, 4, 3, padding=1)
        >>> g = b.build()
        >>> Graph.from_dict(g.to_dict()).fingerprint() == g.fingerprint()
        True
        """
        def tup(v):
            return tuple(tup(x) for x in v) if isinstance(v, list) else v

        try:
            ops = [Op(o["name"], o["kind"], tuple(o["inputs"]), tuple(o["shape"]), tuple(o["dims"]),
                      tuple(tuple(m) for m in o["input_maps"]), float(o["flops"]), int(o["params"]),
                      o["param_group"], {k: tup(v) for k, v in o["attrs"].items()}) for o in data["ops"]]
        except (KeyError, TypeError, ValueError) as e:
            raise invalid("data", "Graph.from_dict", "the output of Graph.to_dict()", type(data).__name__,
                          f"({e})", cls=GraphError) from None
        return cls(ops, data.get("name", "graph"))

    def fingerprint(self) -> str:
        """A short hash of the graph's structure (operators, shapes, maps, flops, weights), which
        strategy files and search checkpoints name so that they refuse a different graph.

        Examples
        --------
        >>> b = GraphBuilder("a"); x = b.input((8, 4)); _ = b.linear(x, 16)
        >>> c = GraphBuilder("a"); y = c.input((8, 4)); _ = c.linear(y, 32)
        >>> b.build().fingerprint() == c.build().fingerprint(), len(b.build().fingerprint())
        (False, 16)
        """
        import hashlib

        h = hashlib.sha256()
        for op in self.ops:
            h.update(repr((op.name, op.kind, op.inputs, op.shape, op.dims, op.input_maps, op.flops, op.params,
                           op.param_group)).encode())
        return h.hexdigest()[:16]

    def group_of(self, i: int) -> str:
        """Weight-sharing group of operator ``i`` ('' when it has no weights)."""
        op = self.ops[i]
        return (op.param_group or op.name) if op.params else ""

    @property
    def total_params(self) -> int:
        """Weights in the model, each shared group counted once."""
        return sum(self.ops[m[0]].params for m in self.groups.values())

    @property
    def total_flops(self) -> float:
        """Forward floating-point operations of one iteration."""
        return float(sum(op.flops for op in self.ops))

    def summary(self):
        """A pandas table: one row per operator."""
        import pandas as pd

        return pd.DataFrame([{"op": o.name, "kind": o.kind, "shape": o.shape, "dims": o.dims,
                              "gflops": o.flops / 1e9, "params": o.params} for o in self.ops])

    def __repr__(self) -> str:
        return (f"Graph({self.name!r}, ops={len(self)}, params={self.total_params:,}, "
                f"gflops={self.total_flops / 1e9:.2f})")


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, (int, float)) else (int(v[0]), int(v[1]))


def _padding(p) -> tuple[tuple[int, int], tuple[int, int]]:
    """``p`` as ((top, bottom), (left, right))."""
    if isinstance(p, (int, float)):
        return (int(p), int(p)), (int(p), int(p))
    return tuple((int(q), int(q)) if isinstance(q, (int, float)) else (int(q[0]), int(q[1])) for q in p)


def _window_out(size: int, k: int, s: int, lo: int, hi: int, d: int = 1) -> int:
    """Output size of a sliding window (kernel ``k``, stride ``s``, padding ``lo``/``hi``, dilation ``d``)."""
    return (size + lo + hi - d * (k - 1) - 1) // s + 1


def window_rows(window, a: int, b: int, size: int) -> tuple[int, int]:
    """The input rows ``[lo, hi)`` that output rows ``[a, b)`` of a sliding window read (the halo
    included), clipped to the ``size`` rows that exist.  ``window`` is (kernel, stride, padding
    before, dilation).

    Examples
    --------
    >>> window_rows((3, 1, 1, 1), 4, 8, 16)   # a 3x3 'same' convolution: one row either side
    (3, 9)
    >>> window_rows((3, 2, 0, 1), 0, 3, 7)
    (0, 7)
    """
    k, s, p, d = window
    return max(0, a * s - p), min(size, (b - 1) * s - p + d * (k - 1) + 1)


class GraphBuilder:
    """Build an operator graph op by op, inferring shapes.

    Each method adds one operator and returns its name.  Layers that fuse an
    activation (``conv2d(..., relu=True)``) count it inside the operator, as
    the paper's benchmark layers do.

    Examples
    --------
    >>> b = GraphBuilder("cnn")
    >>> x = b.input((2, 3, 32, 32))
    >>> c = b.conv2d(x, 8, 3, padding=1)
    >>> p = b.pool2d(c, 2, 2)
    >>> b.build()[p].shape
    (2, 8, 16, 16)
    """

    def __init__(self, name: str = "graph"):
        self.name = name
        self._ops: list[Op] = []
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._dims: dict[str, tuple[str, ...]] = {}
        self._count: dict[str, int] = {}

    # -- helpers -------------------------------------------------------
    def shape(self, x: str) -> tuple[int, ...]:
        """Output shape of operator ``x``."""
        if x not in self._shapes:
            raise invalid("x", "GraphBuilder", "the name of an operator already added", x, cls=GraphError)
        return self._shapes[x]

    def _name(self, kind: str, name: str | None) -> str:
        if name is None:
            n = self._count.get(kind, 0)
            self._count[kind] = n + 1
            name = f"{kind}{n}"
        if name in self._shapes:
            raise invalid("name", f"GraphBuilder.{kind}", "unused", name, cls=GraphError)
        return name

    def add(self, kind: str, inputs: Sequence[str], shape: Sequence[int], dims: Sequence[str],
            input_maps: Sequence[Sequence[int | None]], flops: float = 0.0, params: int = 0,
            name: str | None = None, param_group: str = "", **attrs) -> str:
        """Add an operator described in full; returns its name."""
        for x in inputs:
            if x not in self._shapes:
                raise invalid("inputs", f"GraphBuilder.{kind}", "names of operators already added", x,
                              cls=GraphError)
        if len(dims) != len(shape) or any(d not in SOAP_DIMS for d in dims):
            raise invalid("dims", f"GraphBuilder.{kind}", f"one of {SOAP_DIMS} per output dimension",
                          dims, cls=GraphError)
        name = self._name(kind, name)
        shape = tuple(int(s) for s in shape)
        if any(s <= 0 for s in shape):
            raise invalid("shape", f"GraphBuilder.{kind}", "positive sizes", shape, cls=GraphError)
        op = Op(name, kind, tuple(inputs), shape, tuple(dims),
                tuple(tuple(m) for m in input_maps), float(flops), int(params), param_group, dict(attrs))
        self._ops.append(op)
        self._shapes[name] = shape
        self._dims[name] = op.dims
        return name

    def build(self) -> Graph:
        """The finished :class:`Graph`."""
        return Graph(self._ops, self.name)

    # -- operators ------------------------------------------------------
    def input(self, shape: Sequence[int], name: str | None = None) -> str:
        """A graph input (a batch of samples; dimension 0 is the sample axis)."""
        dims = ["sample"] + ["attribute"] * (len(shape) - 1)
        return self.add("input", [], shape, dims, [], name=name)

    def conv2d(self, x: str, out_channels: int, kernel: int | tuple[int, int], stride: int | tuple[int, int] = 1,
               padding=0, relu: bool = True, name: str | None = None, groups: int = 1,
               dilation: int | tuple[int, int] = 1, bias: bool = True) -> str:
        """2-D convolution (+ ReLU when ``relu``), NCHW.

        ``kernel``, ``stride`` and ``dilation`` may be (h, w) pairs; ``padding`` an int, an (h, w)
        pair, or ((top, bottom), (left, right)) for the asymmetric padding of ``padding="same"``
        with an even kernel.  ``groups`` splits the channels into independent groups (a
        depthwise convolution has ``groups == in_channels``).
        """
        n, c, h, w = self.shape(x)
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride)
        dh, dw = _pair(dilation)
        (pht, phb), (pwl, pwr) = _padding(padding)
        if not isinstance(groups, int) or groups < 1 or c % groups or out_channels % groups:
            raise invalid("groups", "GraphBuilder.conv2d", f"a positive int dividing the {c} input and "
                          f"{out_channels} output channels", groups, cls=GraphError)
        ho, wo = _window_out(h, kh, sh, pht, phb, dh), _window_out(w, kw, sw, pwl, pwr, dw)
        if ho < 1 or wo < 1:
            raise invalid("kernel", "GraphBuilder.conv2d", f"a window that fits the {h}x{w} input", kernel,
                          cls=GraphError)
        flops = 2.0 * n * out_channels * ho * wo * (c // groups) * kh * kw
        # a piece of the output needs all input channels, unless each output channel reads its own
        # (depthwise: groups == channels), when the channel dimension is read proportionally
        cmap = 1 if groups == c and groups > 1 else None
        return self.add("conv2d", [x], (n, out_channels, ho, wo),
                        ("sample", "parameter", "attribute", "attribute"), [(0, cmap, 2, 3)],
                        flops=flops, params=out_channels * (c // groups * kh * kw + int(bias)), name=name,
                        kernel=(kh, kw), stride=(sh, sw), padding=((pht, phb), (pwl, pwr)),
                        dilation=(dh, dw), groups=groups, relu=relu, in_channels=c,
                        window=((kh, sh, pht, dh), (kw, sw, pwl, dw)))

    def pool2d(self, x: str, kernel: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
               padding: int | tuple[int, int] = 0, mode: str = "max", name: str | None = None,
               dilation: int | tuple[int, int] = 1) -> str:
        """Max or average pooling, NCHW; ``kernel=0`` pools globally; pairs allowed as in :meth:`conv2d`."""
        n, c, h, w = self.shape(x)
        if kernel == 0:
            kernel, stride, padding = (h, w), 1, 0
        kh, kw = _pair(kernel)
        sh, sw = _pair(stride or (kh, kw))
        ph, pw = _pair(padding)
        dh, dw = _pair(dilation)
        ho, wo = _window_out(h, kh, sh, ph, ph, dh), _window_out(w, kw, sw, pw, pw, dw)
        if ho < 1 or wo < 1:
            raise invalid("kernel", "GraphBuilder.pool2d", f"a window that fits the {h}x{w} input", kernel,
                          cls=GraphError)
        return self.add("pool2d", [x], (n, c, ho, wo), ("sample", "attribute", "attribute", "attribute"),
                        [(0, 1, 2, 3)], flops=float(n * c * ho * wo * kh * kw), name=name,
                        kernel=(kh, kw), stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), mode=mode,
                        window=((kh, sh, ph, dh), (kw, sw, pw, dw)))

    def linear(self, x: str, out_features: int, relu: bool = False, name: str | None = None,
               param_group: str = "", bias: bool = True) -> str:
        """Fully connected layer on the last dimension."""
        shape = self.shape(x)
        k = shape[-1]
        out = shape[:-1] + (out_features,)
        dims = ("sample",) + ("attribute",) * (len(shape) - 2) + ("parameter",)
        imap = tuple(range(len(shape) - 1)) + (None,)
        return self.add("linear", [x], out, dims, [imap], flops=2.0 * math.prod(out) * k,
                        params=out_features * (k + int(bias)), name=name, param_group=param_group,
                        in_features=k, relu=relu)

    def flatten(self, x: str, name: str | None = None) -> str:
        """Flatten all but the sample dimension."""
        shape = self.shape(x)
        return self.add("flatten", [x], (shape[0], math.prod(shape[1:])), ("sample", "none"),
                        [(0,) + (None,) * (len(shape) - 1)], name=name)

    def elementwise(self, kind: str, xs: Sequence[str], name: str | None = None,
                    params: int = 0) -> str:
        """An elementwise operator (``relu``, ``add``, ``mul``, ``batchnorm`` ...) with broadcasting."""
        shapes = [self.shape(x) for x in xs]
        out = tuple(max(s[-i] if i <= len(s) else 1 for s in shapes)
                    for i in range(max(map(len, shapes)), 0, -1))
        full = next((x for x in xs if self._shapes[x] == out), None)
        if full is None:
            dims = ("sample",) + ("attribute",) * (len(out) - 1)
        else:
            dims = self._dims[full]
        if kind == "layernorm":
            dims = dims[:-1] + ("none",)
        maps = []
        for s in shapes:
            off = len(out) - len(s)
            maps.append(tuple(None if (s[j] == 1 and out[j + off] != 1) else j + off for j in range(len(s))))
        return self.add(kind, list(xs), out, dims, maps, flops=float(math.prod(out) * len(xs)),
                        params=params, name=name)

    def relu(self, x: str, name: str | None = None) -> str:
        """Rectified linear unit."""
        return self.elementwise("relu", [x], name=name)

    def add_(self, a: str, b: str, name: str | None = None) -> str:
        """Elementwise sum (a residual connection)."""
        return self.elementwise("add", [a, b], name=name)

    def batchnorm(self, x: str, name: str | None = None) -> str:
        """Batch normalisation over channel dimension 1."""
        return self.elementwise("batchnorm", [x], name=name, params=2 * self.shape(x)[1])

    def layernorm(self, x: str, name: str | None = None) -> str:
        """Layer normalisation over the last dimension."""
        return self.elementwise("layernorm", [x], name=name, params=2 * self.shape(x)[-1])

    def concat(self, xs: Sequence[str], dim: int = 1, name: str | None = None) -> str:
        """Concatenate along ``dim`` (which then cannot be split)."""
        shapes = [self.shape(x) for x in xs]
        out = list(shapes[0])
        out[dim] = sum(s[dim] for s in shapes)
        dims = list(self._dims[xs[0]])
        dims[dim] = "none"
        nd = len(out)
        maps = [tuple(None if j == dim else j for j in range(nd)) for _ in xs]
        return self.add("concat", list(xs), out, dims, maps, name=name, dim=dim)

    def stack(self, xs: Sequence[str], name: str | None = None) -> str:
        """Stack same-shaped ``(N, ...)`` tensors along a new axis 1 (time steps)."""
        shape = self._shapes[xs[0]]
        out = (shape[0], len(xs)) + shape[1:]
        dims = (self._dims[xs[0]][0], "none") + self._dims[xs[0]][1:]
        m = (0,) + tuple(j + 1 for j in range(1, len(shape)))
        return self.add("stack", list(xs), out, dims, [m] * len(xs), name=name)

    def softmax(self, x: str, dim: int = -1, name: str | None = None) -> str:
        """Softmax (or softmax + cross-entropy loss) along ``dim``."""
        shape = self.shape(x)
        dim = dim % len(shape)
        dims = list(self._dims[x])
        dims[dim] = "none"
        maps = [tuple(None if j == dim else j for j in range(len(shape)))]
        return self.add("softmax", [x], shape, dims, maps, flops=5.0 * math.prod(shape), name=name, dim=dim)

    def embedding(self, ids: str, vocab: int, dim: int, name: str | None = None,
                  param_group: str = "") -> str:
        """Embedding lookup of integer ids ``(N, ...)`` -> ``(N, ..., dim)``."""
        shape = self.shape(ids)
        out = shape + (dim,)
        dims = ("sample",) + ("attribute",) * (len(shape) - 1) + ("parameter",)
        return self.add("embedding", [ids], out, dims, [tuple(range(len(shape)))],
                        flops=float(math.prod(out)), params=vocab * dim, name=name,
                        param_group=param_group, vocab=vocab)

    def select(self, x: str, dim: int, index: int, size: int = 1, name: str | None = None) -> str:
        """Take the ``index``-th block of ``size`` entries along ``dim`` (a time step, a split
        piece), dropping the dimension when ``size == 1``.  Each piece reads only that block of
        ``dim`` (see :func:`input_windows`)."""
        shape = self.shape(x)
        dims = list(self._dims[x])
        out = list(shape)
        if size == 1:
            del out[dim]
            del dims[dim]
            m = tuple(None if j == dim else (j if j < dim else j - 1) for j in range(len(shape)))
        else:
            out[dim] = size
            dims[dim] = "none"
            m = tuple(None if j == dim else j for j in range(len(shape)))
        return self.add("select", [x], out, dims, [m], name=name, dim=dim, index=index, size=size)

    def lstm_cell(self, x: str, h: str | None, hidden: int, name: str | None = None,
                  param_group: str = "") -> str:
        """One time step of an LSTM layer: ``(N, in)``, ``(N, hidden)`` -> ``(N, hidden)``.

        The cell state travels with ``h`` (it is counted in the flops, not as
        its own tensor).  Steps of one layer share ``param_group``.
        """
        n, k = self.shape(x)
        inputs, maps = [x], [(0, None)]
        if h is not None:
            inputs.append(h)
            maps.append((0, None))
        flops = 2.0 * n * 4 * hidden * (k + hidden) + 10.0 * n * hidden
        return self.add("lstm_cell", inputs, (n, hidden), ("sample", "parameter"), maps, flops=flops,
                        params=4 * hidden * (k + hidden + 1), name=name, param_group=param_group,
                        in_features=k)

    def matmul(self, a: str, b: str, name: str | None = None) -> str:
        """Matrix product ``(..., m, k) @ (..., k, n)``: 2-D, batched, or batched by a 2-D right
        operand (``(N, T, k) @ (k, n)``, a linear map without bias)."""
        sa, sb = self.shape(a), self.shape(b)
        if len(sa) < 2 or len(sb) < 2 or sa[-1] != sb[-2] or (len(sb) > 2 and sa[:-2] != sb[:-2]):
            raise invalid("b", "GraphBuilder.matmul", f"a tensor of shape (..., {sa[-1]}, n) "
                          f"matching {sa}", sb, cls=GraphError)
        out = sa[:-1] + (sb[-1],)
        nd = len(out)
        dims = ("sample",) + ("attribute",) * (nd - 2) + ("parameter",)
        ma = tuple(range(nd - 1)) + (None,)
        mb = ((None, nd - 1) if len(sb) == 2 else tuple(range(nd - 2)) + (None, nd - 1))
        return self.add("matmul", [a, b], out, dims, [ma, mb], flops=2.0 * math.prod(out) * sa[-1],
                        name=name)

    def attention(self, q: str, k: str, v: str, heads: int, name: str | None = None) -> str:
        """Scaled dot-product attention core on ``(N, T, E)`` projections, ``heads`` heads.

        Heads are the parameter-like dimension here: each head is independent.
        The output keeps ``(N, T, E)``; splitting ``E`` splits heads.
        """
        n, t, e = self.shape(q)
        tk = self.shape(k)[1]
        flops = 4.0 * n * t * tk * e + 5.0 * n * heads * t * tk
        if not isinstance(heads, int) or heads < 1 or e % heads:
            raise invalid("heads", "GraphBuilder.attention", f"a positive int dividing the width {e}", heads,
                          cls=GraphError)
        # a split of E must not cut through a head: its degree must divide the number of heads
        return self.add("attention", [q, k, v], (n, t, e), ("sample", "attribute", "parameter"),
                        [(0, 1, 2), (0, None, 2), (0, None, 2)], flops=flops, name=name, heads=heads,
                        split_limits=(n, t, heads))
