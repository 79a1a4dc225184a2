"""Running a SOAP strategy for real: a multilayer perceptron on CPU processes with gloo.

Section 8.3 of arXiv 1807.05358 checks the execution simulator against real
runs of the strategies it ranks.  To do the same beyond data parallelism, this
module *executes* any strategy of a :func:`~dawnlab.flexflow.benchmarks.mlp`
graph (input, fully connected layers with fused ReLU, softmax + cross-entropy)
over ``world`` processes, one device each, the way the simulator's task graph
describes it:

- every piece of every operator is computed on its device from the region of
  its input it reads (the samples it covers, all input features), assembled
  from the producer's pieces: local ones by slicing, remote ones received with
  ``torch.distributed`` point-to-point messages (gloo), which senders post
  asynchronously as soon as a piece is computed;
- the backward pass runs the pieces in reverse, each receiving the gradient of
  its output region from its consumers and sending back the gradients of the
  regions it read;
- replicated weight slices are synchronised after the backward pass, by a ring
  all-reduce (``dist.all_reduce``) or through the owner replica the simulator
  picks (gradients to it, updated weights back), then updated by SGD.

Only operator kinds and input maps of the MLP family are supported (each
piece reads a box of its input); anything else is a ``ConfigError``.
:func:`run_steps` is the per-process entry point used by
:mod:`~dawnlab.flexflow.validation`.

**Starting the processes.**  :func:`spawn` starts ``world`` processes with the
``spawn`` method (never ``fork``: a forked child inherits the parent's torch and
gloo threads) and joins them through a ``TCPStore`` that the parent binds to a
free port *before* they start and holds until they end (:func:`init_process`
connects to it).  The earlier scheme (find a free port, close it, hand its number
to the children) left the port unbound for the seconds that spawned children
take to import torch; with several process groups starting at once (the
parallel test suite), another group's store or gloo pair could take it, and a
child then joined the wrong group or found its port taken: gloo's threads
aborted with "terminate called without an active exception".  Each process also
ends with a barrier before destroying its group, so that no process tears down
its gloo pairs while its peer still uses them.
"""

from __future__ import annotations

import time

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph
from dawnlab.flexflow.soap import ConfigError, Strategy, piece_regions

__all__ = ["Plan", "run_steps", "spawn", "init_process", "end_process"]

#: Seconds a process waits for its peers (store, collectives) before giving up with an error.
TIMEOUT_S = 600


def spawn(fn, args: tuple = (), world: int = 2) -> None:
    """Run ``fn(rank, world, store_port, *args)`` in ``world`` spawned processes and wait for
    them; ``fn`` calls :func:`init_process` first and :func:`end_process` last.  The parent
    holds the rendezvous store on ``store_port`` the whole time (see the module docstring), so
    concurrent calls never share a port.  A failing process raises
    ``torch.multiprocessing.ProcessRaisedException`` here; an interrupt (``KeyboardInterrupt``)
    ends the processes before it propagates, so none is left behind.

    Examples
    --------
    One process that all-reduces its rank with itself and saves the result:

    >>> import tempfile, os, torch
    >>> d = tempfile.mkdtemp()
    >>> spawn(_demo, (d,), world=1)
    >>> torch.load(os.path.join(d, "0"))
    tensor([0.])
    """
    import datetime

    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not isinstance(world, int) or world < 1:
        raise invalid("world", "execute.spawn", "a positive int (processes)", world)
    store = dist.TCPStore("127.0.0.1", 0, None, True, timeout=datetime.timedelta(seconds=TIMEOUT_S),
                          wait_for_workers=False)
    try:
        ctx = mp.start_processes(fn, args=(world, store.port) + tuple(args), nprocs=world, join=False,
                                 start_method="spawn")
        try:
            while not ctx.join():
                pass
        except BaseException:  # an interrupt (or a failed process) ends every process, none is orphaned
            for proc in ctx.processes:
                if proc.is_alive():
                    proc.terminate()
            for proc in ctx.processes:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
            raise
    finally:
        del store


def init_process(rank: int, world: int, store_port: int, threads: int = 1) -> None:
    """Join the gloo process group of :func:`spawn` as ``rank`` (torch on ``threads`` threads:
    one process is one CPU device)."""
    import datetime

    import torch
    import torch.distributed as dist

    torch.set_num_threads(threads)
    timeout = datetime.timedelta(seconds=TIMEOUT_S)
    store = dist.TCPStore("127.0.0.1", store_port, None, False, timeout=timeout)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world, timeout=timeout)


def end_process() -> None:
    """Leave the process group in step with the others: free what still holds the group (a
    ``DistributedDataParallel`` model and its reducer caught in a reference cycle would
    otherwise be destroyed at interpreter exit, after the group, where gloo's threads abort
    with "terminate called without an active exception"), a barrier, then destroy it."""
    import gc

    import torch.distributed as dist

    gc.collect()
    if dist.is_initialized():
        try:
            dist.barrier()
        finally:
            dist.destroy_process_group()


def _demo(rank, world, port, folder):
    import os

    import torch
    import torch.distributed as dist

    init_process(rank, world, port)
    try:
        x = torch.tensor([float(rank)])
        dist.all_reduce(x)
        torch.save(x, os.path.join(folder, str(rank)))
    finally:
        end_process()

_KINDS = ("input", "linear", "softmax")


def _box_overlap(a, b):
    """Intersection of two boxes (tuples of (lo, hi)), or None."""
    out = tuple((max(x0, y0), min(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b))
    return out if all(lo < hi for lo, hi in out) else None


def _rel(box, origin):
    """``box`` as slices relative to ``origin``'s corner."""
    return tuple(slice(lo - o[0], hi - o[0]) for (lo, hi), o in zip(box, origin))


class Plan:
    """Which piece reads what from where, for one strategy (the same on every process).

    Attributes
    ----------
    boxes : dict
        ``(op, piece) -> box`` of the op's output the piece computes.
    needs : dict
        ``(op, piece) -> box`` of the input the piece reads.
    parts : dict
        ``(op, piece) -> [(producer piece, overlap box, tag)]``: where the read box comes from;
        ``tag`` numbers the message when producer and consumer are on different devices.
    sync : list
        ``(op, slice rows (lo, hi), devices, owner)`` for every weight slice held by more than
        one device, in one global order.

    Examples
    --------
    ``fc0`` split by its outputs over two processes after a data-parallel input: each of its
    pieces receives the other process's half of the batch, and ``fc1`` (data parallel) reads
    the other half of ``fc0``'s outputs; ``fc1``'s weights are replicated, owned by process 1.

    >>> from dawnlab.flexflow import Machine, OpConfig, benchmarks
    >>> g, m = benchmarks.mlp(8, (6, 4, 2)), Machine.preset("cpu2")
    >>> p = Plan(Strategy.data_parallel(g, m).replace("fc0", OpConfig((1, 2), (0, 1))))
    >>> p.messages, p.sync
    (4, [(2, (0, 2), [0, 1], 1)])
    """

    def __init__(self, strategy: Strategy, sync: str = "ring"):
        g = strategy.graph
        self.graph, self.strategy, self.sync_mode = g, strategy, sync
        for op in g:
            if op.kind not in _KINDS or len(op.inputs) > 1:
                raise invalid("strategy", "execute.Plan", f"an MLP graph (operators {_KINDS})", op.kind,
                              cls=ConfigError)
        self.cfg = {i: strategy[op.name] for i, op in enumerate(g.ops)}
        self.boxes, self.needs, self.parts = {}, {}, {}
        tag = 0
        for i, op in enumerate(g.ops):
            for j, box in enumerate(piece_regions(op.shape, self.cfg[i].degrees)):
                self.boxes[i, j] = box
        for v, op in enumerate(g.ops):
            if not op.inputs:
                continue
            u = g.index[op.inputs[0]]
            ushape = g.ops[u].shape
            for j, box in enumerate(piece_regions(op.shape, self.cfg[v].degrees)):
                need = tuple(box[m] if m is not None else (0, ushape[t]) for t, m in enumerate(op.input_maps[0]))
                self.needs[v, j] = need
                parts = []
                for p in range(self.cfg[u].pieces):
                    ov = _box_overlap(need, self.boxes[u, p])
                    if ov is None:
                        continue
                    remote = self.cfg[u].devices[p] != self.cfg[v].devices[j]
                    parts.append((p, ov, tag if remote else None))
                    tag += int(remote)
                self.parts[v, j] = parts
        self.messages = tag
        # consumers of each producer piece: (consumer op, consumer piece, overlap, tag)
        self.consumers: dict = {}
        for (v, j), parts in self.parts.items():
            u = g.index[g.ops[v].inputs[0]]
            for p, ov, t in parts:
                self.consumers.setdefault((u, p), []).append((v, j, ov, t))
        # weight slices held by several devices, the owner as the simulator picks it
        gids = {name: k for k, name in enumerate(sorted(g.groups))}
        self.sync = []
        for i, op in enumerate(g.ops):
            if op.kind != "linear":
                continue
            holders: dict = {}
            for j, d in enumerate(self.cfg[i].devices):
                rows = self.boxes[i, j][1]
                holders.setdefault(rows, set()).add(d)
            for si, (rows, devs) in enumerate(sorted(holders.items())):
                devs = sorted(devs)
                if len(devs) > 1:
                    self.sync.append((i, rows, devs, devs[(gids[op.name] + si) % len(devs)]))


def run_steps(plan: Plan, rank: int, steps: int, warmup: int = 1, lr: float = 1e-3, seed: int = 0,
              return_weights: bool = False, timings: dict | None = None, spans: dict | None = None):
    """Train ``steps`` timed SGD steps of ``plan``'s strategy as process ``rank`` (after
    ``warmup`` untimed ones); returns each step's seconds (barrier to barrier), and with
    ``return_weights`` also this process's weight slices ``{(op, rows): (W, b)}``.  With a
    ``timings`` dict, the timed steps append there each local piece's compute seconds,
    ``{(op, degrees): [(forward, backward), ...]}``, one pair per piece and step (the operator
    costs of Section 5.1, timed on the device while it trains).  A piece's time is all the
    work the process does for it except waiting for messages: assembling its input region,
    the kernel, packing what it sends; in the backward pass also summing its output's
    gradient, packing and unpacking its weight sync and the SGD update.  With a ``spans`` dict
    (and ``timings``), each of those entries also gets its forward and backward work's
    interval on the clock every process shares (``time.perf_counter``, the system's monotonic
    clock), ``{(op, degrees): [(forward start, forward end, backward start, backward end)]}``,
    in the same order: what tells whether the other process computed at the same time.

    The process group must be initialised (gloo), one process per device of the strategy's
    machine."""
    import torch
    import torch.distributed as dist
    import torch.nn.functional as F

    g, cfg = plan.graph, plan.cfg
    gen = torch.Generator().manual_seed(seed)
    n = g.ops[0].shape[0]
    x_full = torch.randn(g.ops[0].shape, generator=gen)
    y_full = torch.randint(0, g.ops[-1].shape[1], (n,), generator=gen)
    weights = {}  # (op, rows) -> (W rows, b rows), leaves
    for i, op in enumerate(g.ops):
        if op.kind != "linear":
            continue
        w = torch.randn(op.shape[1], op.attrs["in_features"], generator=gen) * 0.05
        b = torch.zeros(op.shape[1])
        for j, d in enumerate(cfg[i].devices):
            rows = plan.boxes[i, j][1]
            if d == rank and (i, rows) not in weights:
                weights[i, rows] = (w[rows[0]:rows[1]].clone().requires_grad_(),
                                    b[rows[0]:rows[1]].clone().requires_grad_())
    last = len(g.ops) - 1
    m = plan.messages
    clock = time.perf_counter

    def step(record):
        # compute seconds per local piece (op, piece): everything the process does for it
        # besides waiting for messages (assembling its input, the kernel, packing what it
        # sends, summing gradients, packing and unpacking its weight sync, the SGD update)
        fw, bw = {}, {}
        outs, leaves, pending = {}, {}, []
        for i, op in enumerate(g.ops):  # forward
            for j, d in enumerate(cfg[i].devices):
                if d != rank:
                    continue
                box = plan.boxes[i, j]
                if op.kind == "input":
                    out = x_full[tuple(slice(*r) for r in box)]
                    t0 = clock()
                else:
                    need = plan.needs[i, j]
                    u = g.index[op.inputs[0]]
                    got = {}
                    for p, ov, tag in plan.parts[i, j]:  # wait for the remote parts (not compute)
                        if tag is not None:
                            got[p] = torch.empty(tuple(hi - lo for lo, hi in ov))
                            dist.recv(got[p], cfg[u].devices[p], tag=tag)
                    t0 = clock()
                    buf = torch.empty(tuple(hi - lo for lo, hi in need))
                    for p, ov, tag in plan.parts[i, j]:
                        buf[_rel(ov, need)] = got[p] if tag is not None else \
                            outs[u, p][_rel(ov, plan.boxes[u, p])].detach()
                    leaf = buf.requires_grad_(g.ops[u].kind != "input")
                    leaves[i, j] = leaf
                    if op.kind == "linear":
                        w, b = weights[i, box[1]]
                        out = F.linear(leaf, w, b)
                        out = F.relu(out) if op.attrs.get("relu") else out
                    else:
                        out = F.log_softmax(leaf, 1)
                outs[i, j] = out
                sends = []
                for v, jj, ov, tag in plan.consumers.get((i, j), []):
                    if tag is not None:
                        sends.append((out[_rel(ov, box)].detach().contiguous(), cfg[v].devices[jj], tag))
                if op.kind != "input":
                    fw[i, j] = (t0, clock())
                for data, dst, tag in sends:
                    pending.append((dist.isend(data, dst, tag=tag), data))
        for i in range(last, 0, -1):  # backward
            op = g.ops[i]
            for j, d in enumerate(cfg[i].devices):
                if d != rank:
                    continue
                box, out = plan.boxes[i, j], outs[i, j]
                if i == last:
                    rows = box[0]
                    t0 = clock()
                    F.nll_loss(out, y_full[rows[0]:rows[1]], reduction="sum").div(n).backward()
                else:
                    got = {}
                    for k, (v, jj, ov, tag) in enumerate(plan.consumers.get((i, j), [])):
                        if tag is not None:  # wait for the remote gradients (not compute)
                            got[k] = torch.empty(tuple(hi - lo for lo, hi in ov))
                            dist.recv(got[k], cfg[v].devices[jj], tag=m + tag)
                    t0 = clock()
                    grad = torch.zeros_like(out)
                    for k, (v, jj, ov, tag) in enumerate(plan.consumers.get((i, j), [])):
                        grad[_rel(ov, box)] += got[k] if tag is not None else \
                            leaves[v, jj].grad[_rel(ov, plan.needs[v, jj])]
                    out.backward(grad)
                u = g.index[op.inputs[0]]
                sends = []
                if g.ops[u].kind != "input":
                    leaf = leaves[i, j]
                    for p, ov, tag in plan.parts[i, j]:
                        if tag is not None:
                            sends.append((leaf.grad[_rel(ov, plan.needs[i, j])].contiguous(), cfg[u].devices[p],
                                          m + tag))
                bw[i, j] = (t0, clock())
                for data, dst, tag in sends:
                    pending.append((dist.isend(data, dst, tag=tag), data))
        for h, _ in pending:
            h.wait()
        local = {}  # op -> seconds of weight-sync packing and the SGD update on this process

        def charge(i, t):
            local[i] = local.get(i, 0.0) + t
        for i, rows, devs, owner in plan.sync:  # weight synchronisation, one global order
            if rank not in devs:
                continue
            w, b = weights[i, rows]
            t0 = clock()
            flat = torch.cat([w.grad.reshape(-1), b.grad])
            charge(i, clock() - t0)
            if plan.sync_mode == "ring":
                dist.all_reduce(flat)
            elif rank == owner:
                for d in devs:
                    if d != owner:
                        part = torch.empty_like(flat)
                        dist.recv(part, d, tag=2 * m + i)
                        t0 = clock()
                        flat += part
                        charge(i, clock() - t0)
            else:
                dist.send(flat, owner, tag=2 * m + i)
            t0 = clock()
            k = w.numel()
            w.grad.copy_(flat[:k].view_as(w))
            b.grad.copy_(flat[k:])
            charge(i, clock() - t0)
        with torch.no_grad():
            for (i, _), (w, b) in weights.items():
                t0 = clock()
                w -= lr * w.grad
                b -= lr * b.grad
                w.grad = b.grad = None
                charge(i, clock() - t0)
            if plan.sync_mode == "ps":  # the owner sends the updated weights back
                for i, rows, devs, owner in plan.sync:
                    if rank not in devs:
                        continue
                    w, b = weights[i, rows]
                    t0 = clock()
                    flat = torch.cat([w.reshape(-1), b])
                    charge(i, clock() - t0)
                    if rank == owner:
                        for d in devs:
                            if d != owner:
                                dist.send(flat, d, tag=3 * m + i)
                    else:
                        dist.recv(flat, owner, tag=3 * m + i)
                        t0 = clock()
                        k = w.numel()
                        w.copy_(flat[:k].view_as(w))
                        b.copy_(flat[k:])
                        charge(i, clock() - t0)
        if record is not None:
            mine: dict = {}
            for (i, j) in fw:
                mine.setdefault(i, []).append(j)
            for i, js in mine.items():
                # the op's local work beyond its kernels is shared by its pieces on this process
                extra = local.get(i, 0.0) / len(js)
                for j in js:
                    (f0, f1), (b0, b1) = fw[i, j], bw.get((i, j), (0.0, 0.0))
                    record.setdefault((i, cfg[i].degrees), []).append((f1 - f0, b1 - b0 + extra))
                    if spans is not None:
                        spans.setdefault((i, cfg[i].degrees), []).append((f0, f1, b0, b1))

    times = []
    for k in range(warmup + steps):
        dist.barrier()
        t0 = time.perf_counter()
        step(timings if k >= warmup else None)
        dist.barrier()
        if k >= warmup:
            times.append(time.perf_counter() - t0)
    if return_weights:
        return times, {k: (w.detach(), b.detach()) for k, (w, b) in weights.items()}
    return times


def reference_loss_gradients(graph: Graph, seed: int = 0):
    """The loss and weight gradients of one step of the whole MLP in one process (a check of
    :func:`run_steps`' arithmetic): ``(loss, {op: (dW, db)})``."""
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(seed)
    n = graph.ops[0].shape[0]
    x = torch.randn(graph.ops[0].shape, generator=gen)
    y = torch.randint(0, graph.ops[-1].shape[1], (n,), generator=gen)
    params = {}
    h = x
    for op in graph.ops[1:-1]:
        w = (torch.randn(op.shape[1], op.attrs["in_features"], generator=gen) * 0.05).requires_grad_()
        b = torch.zeros(op.shape[1], requires_grad=True)
        params[op.name] = (w, b)
        h = F.linear(h, w, b)
        h = F.relu(h) if op.attrs.get("relu") else h
    loss = F.nll_loss(F.log_softmax(h, 1), y, reduction="sum") / n
    loss.backward()
    return float(loss.detach()), {k: (w.grad, b.grad) for k, (w, b) in params.items()}
