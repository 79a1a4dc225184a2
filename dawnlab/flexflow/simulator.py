"""The execution simulator: task graph, full simulation and delta simulation.

Section 5 of arXiv 1807.05358.  Given an operator graph, a machine and a
strategy, the simulator builds a *task graph* and times it.

**Tasks.**

- A forward and a backward **compute task** per piece of every operator, on the
  piece's device (Section 5.1).
- A **transfer task** wherever a consumer piece reads a region of a producer's
  output held on another device (one per consumer piece and source device,
  carrying the bytes of every region it reads there), and the gradient back the
  same way in the backward pass.  Convolutions and pooling split along the
  height or width read their window's **halo** (the rows and columns of the
  neighbouring pieces that the kernel reaches), so spatial splits pay for
  exchanging it.
- **Synchronisation tasks** for replicated weights (``sync=``).  A weight
  group's tensor is cut at every slice boundary of every member's
  configuration; each segment is synchronised among exactly the devices that
  computed a gradient for it, however the members are partitioned (steps 0-2
  of an LSTM layer whole on one device and steps 3-5 split over two others
  still synchronise).  Segments with the same device set travel together.

  - ``"ring"`` (**the default**): a ring all-reduce: each of the ``r`` devices
    sends ``2 (r - 1) / r`` of the segment to the next, in ``2 (r - 1)`` steps
    of ``1 / r`` each, and every step pays the link's latency: with copy
    engines the ``r`` sends run at once, so each carries ``2 (r - 1)``
    latencies; host-driven sends hold both their endpoints, so neighbouring
    sends take turns (two rounds on an even ring, three on an odd one, whose
    total this slightly under-counts) and each carries ``r - 1`` of them, which
    for two CPU processes is the two one-latency messages gloo measures.  It is the default
    because it is what data-parallel training really runs today (NCCL, gloo,
    ``DistributedDataParallel``, Horovod; it is what :mod:`~.validation` measures),
    and because it is the stronger baseline: a parameter server makes data
    parallelism look slower than it is, so gains over it would be inflated.
  - ``"ps"``: parameter-server style, as in FlexFlow's own runtime: the
    segment's *owner* (one of its devices, spread round-robin) receives every
    other device's gradient, then sends the updated weights back.

  Operators that share weights (the steps of an unrolled recurrent layer)
  synchronise once, after their last backward task on each device.

**Transfers over routes** are modelled as cut-through (pipelined) streaming, as
NVLink, PCIe switches and InfiniBand forward data: a message of ``b`` bytes
over links ``l_1 .. l_h`` takes ``sum(latency(l_k)) + b / min(bandwidth(l_k))``
(every hop's latency, the bottleneck link's bandwidth), and holds *every* link
of its route for that whole time, so transfers that share a link contend for
it (they queue, one at a time).  A single-hop transfer is latency + bytes /
bandwidth.

**Host-driven transfers.**  A device without a copy engine (``Device.copy_engine``
false: a CPU process sending over gloo's TCP pairs, which copies every byte
through its own core) is also *held* by every transfer and synchronisation task
it sends or receives, so its communication and its computation never overlap;
a GPU's DMA engines move data while its cores compute, so there transfers
hold only links.  A two-device ring all-reduce of ``b`` bytes is then two
transfers of ``b`` bytes that hold both devices, one after the other, which is
what gloo's all-reduce between two CPU processes measures (about twice a
one-way message of the same size).

**Contention between devices that share hardware.**  Devices with the same
``Device.share`` group (two CPU processes on one physical core's hyperthreads, or on
cores that share a memory bus and cache) slow each other down: this machine's two
cores each run a matmul 1.6-1.8x slower while the other runs one.  The paper measures
each task's time on the device (Section 5.1); here each compute task also has its
measured time with another member of its group busy, as a slowdown ``slow`` over its
time alone (``costs.slowdown``).  Its progress is modelled as a fluid: it advances at
rate ``1 / slow`` while another member of its group computes and at rate 1 otherwise,
so its duration is ``base + overlap * (1 - 1 / slow)``, where ``overlap`` is the time
during which another member computes.  Two equal tasks that start together on the
two devices therefore both take ``slow`` times their time alone, and a task that
overlaps another only in part is stretched only for that part.  Only compute tasks
count as busy (a host-driven transfer already holds both its endpoints).  The
durations depend on the schedule and the schedule on the durations, so the event
loop runs in time order: it steps from one instant at which tasks end to the next,
makes ready the tasks whose inputs are then all done, starts what the queues allow
(below), and re-derives the projected end of every running compute task of a group
whose set of computing devices changed.  This is exact, in one pass, and its
timeline is the model's only consistent one: what happens up to any instant depends
only on what happened before it.  (An earlier version iterated re-timings to a fixed
point; its residual error, a few 1e-11 s, decided which of two tasks ready at the
same instant ran first, by up to 10% of the makespan on tiny graphs.)  **Ties:**
tasks that end within 1e-12 (relative) of the same instant end at that instant, so
that float noise never orders tasks that the model makes ready together: they go by
rank.  With no share group, nothing changes.  With one, a delta simulation re-times
the whole task graph from every task's time alone (the contention couples the
devices' timings), so it stays identical to a full simulation but is no faster.

**Queues** (the paper's Section 5.2).  Every device and every link runs its
tasks one at a time in the order they become *ready* (all inputs done): a
first-in-first-out queue by ready time, ties broken by a fixed topological
rank.  The full simulation is the paper's event-driven loop: take the ready
task with the smallest (ready time, rank); it starts when it is ready and all
its resources (its device, or every link of its route) are free; its end makes
successors ready.  Tasks of zero duration (views, inputs) occupy no resource.
The loop takes tasks in non-decreasing (ready time, rank) order.  Equivalently,
which is how the loop runs under contention, where a task's end is known only when
it comes: a task starts at the first instant at which it is ready, its resources
are idle, and it is first, among the tasks waiting, in the queue of each of them
(a task waiting for one of its resources keeps the others for itself).

**Delta simulation** (Section 5.3).  When some operators' configurations change,
only their compute tasks, the transfers on their edges and their weight
groups' synchronisation are rebuilt.  Every task whose (ready time, rank) in
the previous timeline is below a *cut* ``C`` keeps its times: ``C`` is the
smallest of the old keys of the removed tasks and of the surviving tasks whose
inputs changed, and of the exact keys of the new tasks whose inputs all lie
before the cut.  By induction over the event loop, every task of the new task
graph that is not in that prefix has a key of at least ``C`` (its inputs are
either in the prefix, unchanged, or themselves at or after the cut), so the
new event loop first takes exactly the prefix, in the same order and at the
same times; the simulator then resumes the loop from the cut with the
resources' state at the cut.  The result is therefore identical to a full
simulation, bit for bit (tests check thousands of random changes).  Rejected
changes are undone from a log (old tasks, old times, old order).

Per-device memory counts each piece's output activations (kept for the
backward pass) and the weights and gradients of every weight segment the
device holds.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from dawnlab.errors import invalid
from dawnlab.flexflow.costs import AnalyticCosts, param_degree
from dawnlab.flexflow.graph import Graph, input_windows, window_rows
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.soap import ConfigError, OpConfig, Strategy, piece_regions, validate

__all__ = ["Simulator", "Timeline", "Task", "SYNC_MODES"]

#: Weight synchronisation models: ring all-reduce (the default), parameter-server owner replica.
SYNC_MODES = ("ring", "ps")

_RADIX = 1 << 20  # per digit of a task's rank (operators, pieces, devices, segments are fewer)


class Task:
    """One task of the task graph.

    ``res`` are the resources it holds (indices: compute devices, then links); ``key`` is
    ``(ready, rank)`` once timed, its place in the event loop's order."""

    __slots__ = ("res", "dur", "kind", "op", "nbytes", "rank", "preds", "succs", "start", "end", "ready",
                 "alive", "npend", "mark", "base", "slow", "left", "since", "pace", "ver")

    def __init__(self, res, dur, kind, op, nbytes, rank):
        self.res, self.dur, self.kind, self.op, self.nbytes, self.rank = res, dur, kind, op, nbytes, rank
        self.base, self.slow = dur, 1.0  # time alone; slowdown while its share group computes
        self.alive = True
        self.mark = 0
        self.npend = 0
        self.preds: list[Task] = []
        self.succs: list[Task] = []
        self.start = self.end = self.ready = None


@dataclass
class Timeline:
    """A simulated iteration.

    Attributes
    ----------
    iteration_time : float
        Seconds from the first task's start to the last task's end.
    memory : np.ndarray
        Bytes used on each compute device.
    tasks : pandas.DataFrame or None
        One row per task and resource it holds: ``kind`` (forward, backward, transfer, sync),
        ``op``, ``device`` (a device's or link's name; a transfer over several links has one row
        per link, all with the same span), ``start``, ``end``, ``bytes``; None when not recorded.
    """

    iteration_time: float
    memory: np.ndarray
    tasks: object = field(default=None, repr=False)

    @property
    def throughput_scale(self) -> float:
        """Iterations per second."""
        return 1.0 / self.iteration_time


@lru_cache(maxsize=65536)
def _overlaps(ushape, udeg, vshape, vdeg, imap, window, halo):
    """For each consumer piece j: list of (producer piece index, elements read).  ``window``
    gives, per input dimension, the range read where ``imap`` says ``None``; ``halo`` (a
    convolution's or pooling's sliding window on output dimensions 2 and 3, or None) widens the
    rows read along those dimensions by the kernel's reach."""
    ustrides = [math.prod(udeg[t + 1:]) for t in range(len(udeg))]
    out = []
    for reg in piece_regions(vshape, vdeg):
        per_dim = []
        for t, m in enumerate(imap):
            s, k = ushape[t], udeg[t]
            if m is None:
                lo, hi = window[t]
            elif halo is not None and m >= 2:
                lo, hi = window_rows(halo[m - 2], reg[m][0], reg[m][1], s)
            else:
                a, b = reg[m]
                lo, hi = a * s // vshape[m], -(-b * s // vshape[m])
            opts = []
            for idx in range(k):
                plo, phi = s * idx // k, s * (idx + 1) // k
                ov = min(hi, phi) - max(lo, plo)
                if ov > 0:
                    opts.append((idx * ustrides[t], ov))
            per_dim.append(opts)
        pairs = [(0, 1)]
        for opts in per_dim:
            pairs = [(p + q, v * w) for p, v in pairs for q, w in opts]
        out.append(pairs)
    return out


def _slice_index(dims, degrees, p):
    """Which weight slice piece ``p`` holds: its index along the parameter dimensions."""
    multi = []
    for k in reversed(degrees):
        multi.append(p % k)
        p //= k
    multi.reverse()
    idx = 0
    for t, d in enumerate(dims):
        if d == "parameter":
            idx = idx * degrees[t] + multi[t]
    return idx


#: Under contention, task ends closer than this (relative to the time) are one instant (float noise).
_SAME_INSTANT = 1e-12


def _union(spans):
    """Sorted (start, end) spans merged into disjoint ones."""
    out = []
    for a, b in spans:
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def _discard(tasks):
    """Break dropped tasks' reference cycles so that they are freed at once, not by the cyclic
    garbage collector (whose full passes over a large live task graph cost more than a step)."""
    for t in tasks:
        t.preds = t.succs = ()


def _key(t: Task) -> tuple:
    """A timed task's place in the event loop's order."""
    return (t.ready, t.rank)


def _rank(key) -> int:
    """A task key (a tuple of small ints) as one int; keys compare as their ranks do."""
    r = 0
    for x in key:
        r = r * _RADIX + x
    return r * _RADIX ** (8 - len(key))


class Simulator:
    """Simulate one training iteration of ``graph`` on ``machine`` (Section 5).

    Parameters
    ----------
    graph : Graph
    machine : Machine
    costs : AnalyticCosts or MeasuredCosts, optional
        Task-time model; the machine's roofline when omitted.
    sync : {"ring", "ps"}
        How replicated weights are synchronised: ring all-reduce (the default: what
        data-parallel training runs, and the stronger baseline) or through a
        parameter-server owner replica (FlexFlow's runtime); see the module docstring.

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine, Strategy
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    >>> sim = Simulator(g, m)
    >>> full = sim.simulate(Strategy.data_parallel(g, m))
    >>> new = sim.update("fc6", OpConfig((1, 4), (0, 1, 2, 3)))
    >>> new.iteration_time < full.iteration_time
    True
    >>> new.iteration_time == Simulator(g, m).simulate(sim.strategy).iteration_time
    True
    """

    def __init__(self, graph: Graph, machine: Machine, costs=None, sync: str = "ring"):
        if sync not in SYNC_MODES:
            raise invalid("sync", "Simulator", f"one of {SYNC_MODES}", sync, cls=ConfigError)
        self.graph, self.machine, self.sync = graph, machine, sync
        self.costs = costs if costs is not None else AnalyticCosts(machine)
        self.n = len(graph)
        self.ndev = machine.num_devices
        self.nres = self.ndev + len(machine.links)
        self.dev_names = [d.name for d in machine.devices] + [l.name for l in machine.links]
        self.capacity = np.array([d.memory for d in machine.devices], dtype=float)
        self._gid = {g: k for k, g in enumerate(sorted(graph.groups))}
        self._group_first = {g: min(m) for g, m in graph.groups.items()}
        self._routes: dict[tuple[int, int], tuple] = {}
        groups: dict[str, list[int]] = {}
        for k, d in enumerate(machine.devices):
            if d.share:
                groups.setdefault(d.share, []).append(k)
        #: devices that share a core or memory system (groups of two or more)
        self._share = [g for g in groups.values() if len(g) > 1]
        #: per device, the index of its share group in ``_share`` (None: shares nothing)
        self._group_of: list[int | None] = [None] * self.ndev
        for k, devs in enumerate(self._share):
            for d in devs:
                self._group_of[d] = k
        self.configs: dict[int, OpConfig] | None = None
        self.tasks_simulated = 0
        self._stamp = 0
        self._undo = None

    # -- public -----------------------------------------------------------------
    @property
    def strategy(self) -> Strategy:
        """The current strategy (after :meth:`simulate` and any :meth:`update`)."""
        self._require()
        return Strategy(self.graph, self.machine, {self.graph.ops[i].name: c for i, c in self.configs.items()})

    def simulate(self, strategy: Strategy, record: bool = True) -> Timeline:
        """Full simulation: build the whole task graph and time it.

        ``record=False`` skips the per-task table (faster, for searches).
        """
        if not isinstance(strategy, Strategy) or set(strategy.configs) != set(self.graph.index):
            raise invalid("strategy", "Simulator.simulate", f"a Strategy for graph {self.graph.name!r}",
                          strategy, cls=ConfigError)
        self.configs = {i: strategy.configs[op.name] for i, op in enumerate(self.graph.ops)}
        self._build_all()
        self._order, self._makespan = [], 0.0
        self._rtasks: list[list[Task]] = [[] for _ in range(self.nres)]
        fresh, self._fresh = self._fresh, []
        if self._share:
            self._fluid(fresh)
        else:
            self._replay(None, fresh)
        self._mem = self._memory()
        self._undo = None
        return self._timeline(record)

    def update(self, op: str | int, config: OpConfig, record: bool = True) -> Timeline:
        """Delta simulation: change one operator's configuration and re-time what it affects."""
        self._require()
        i = op if isinstance(op, int) else self.graph.index.get(op)
        if i is None or not 0 <= i < self.n:
            raise invalid("op", "Simulator.update", f"an operator of graph {self.graph.name!r}", op,
                          cls=ConfigError)
        validate(self.graph.ops[i], config, self.machine, "Simulator.update")
        self._delta({i: config})
        return self._timeline(record)

    def propose(self, changes: dict[int, OpConfig]) -> float:
        """Delta-simulate new configurations ``{op index: config}`` (assumed valid) and return
        the new iteration time; follow with :meth:`undo` to reject them (the search's step)."""
        self._require()
        self._delta(changes)
        return self.iteration_time

    @property
    def iteration_time(self) -> float:
        """Simulated time of the current strategy."""
        self._require()
        return self._makespan

    @property
    def memory(self) -> np.ndarray:
        """Bytes the current strategy uses on each compute device."""
        self._require()
        return self._mem.copy()

    def fits_memory(self) -> bool:
        """Whether the current strategy fits every device's memory (else it is invalid)."""
        self._require()
        return bool((self._mem <= self.capacity * (1 + 1e-12)).all())

    def num_tasks(self) -> int:
        """Tasks in the current task graph."""
        return len(self._order)

    # -- building the task graph --------------------------------------------------
    def _require(self):
        if self.configs is None:
            raise invalid("strategy", "Simulator", "simulated first", None,
                          "Call simulate(strategy) before update() or strategy.", cls=ConfigError)

    def _new(self, key, res, dur, kind, op, owner, nbytes=0.0):
        t = Task(res, dur, kind, op, nbytes, _rank(key))
        self._owned[owner].append(t)
        self._fresh.append(t)
        return t

    @staticmethod
    def _link(a: Task, b: Task):
        a.succs.append(b)
        b.preds.append(a)

    def _route(self, src, dst):
        """The resources a transfer from src to dst holds (the endpoints without a copy engine,
        then every link), the summed latency and the bottleneck bandwidth."""
        r = self._routes.get((src, dst))
        if r is None:
            links = [self.machine.links[k] for k in self.machine.route(src, dst)]
            hosts = tuple(d for d in (src, dst) if not self.machine.devices[d].copy_engine)
            r = (hosts + tuple(self.ndev + k for k in self.machine.route(src, dst)),
                 sum(l.latency for l in links), min(l.bandwidth for l in links))
            self._routes[src, dst] = r
        return r

    def _transfer(self, src, dst, nbytes, key, kind, op, owner, before, after, steps=1):
        """One cut-through transfer task from device src to dst, holding every link of the route;
        ``before`` -> transfer -> ``after``.  ``steps`` messages pay the route's latency in turn
        (a ring all-reduce's steps, see the module docstring); the bytes stream once."""
        res, lat, bw = self._route(src, dst)
        t = self._new(key, res, steps * lat + nbytes / bw, kind, op, owner, nbytes)
        for b in before:
            self._link(b, t)
        for a in after:
            self._link(t, a)
        return t

    def _build_op(self, i):
        op, cfg = self.graph.ops[i], self.configs[i]
        owner = ("op", i)
        self._owned[owner] = []
        f, b = [], []
        mem = np.zeros(self.ndev)
        act = 4.0 * op.numel / cfg.pieces
        for p, d in enumerate(cfg.devices):
            tf, tb = self.costs.compute(self.graph, i, cfg.degrees, self.machine.devices[d])
            ft = self._new((0, i, 1, p), (d,), tf, "forward", i, owner)
            bt = self._new((1, self.n - 1 - i, 1, p), (d,), tb, "backward", i, owner)
            dev = self.machine.devices[d]
            if self._share and dev.share:
                slow = getattr(self.costs, "slowdown", None)
                sf, sb = slow(self.graph, i, cfg.degrees, dev) if slow else (dev.contention,) * 2
                ft.slow, bt.slow = max(1.0, float(sf)), max(1.0, float(sb))
            self._link(ft, bt)
            f.append(ft)
            b.append(bt)
            mem[d] += act
        self._fwd[i], self._bwd[i] = f, b
        self._opmem[i] = mem

    def _build_edge(self, u, v, s):
        owner = ("edge", u, v, s)
        self._owned[owner] = []
        gu, gv = self.graph.ops[u], self.graph.ops[v]
        cu, cv = self.configs[u], self.configs[v]
        halo = gv.attrs.get("window") if gv.kind in ("conv2d", "pool2d") else None
        ov = _overlaps(gu.shape, cu.degrees, gv.shape, cv.degrees, gv.input_maps[s],
                       input_windows(gv, [gu.shape])[0], halo)
        grad = gu.kind != "input"
        for j, pairs in enumerate(ov):
            dst = cv.devices[j]
            by_src: dict[int, tuple[list, int]] = {}
            for p, elems in pairs:
                src = cu.devices[p]
                if src == dst:
                    self._link(self._fwd[u][p], self._fwd[v][j])
                    if grad:
                        self._link(self._bwd[v][j], self._bwd[u][p])
                else:
                    ps, e = by_src.get(src, ([], 0))
                    ps.append(p)
                    by_src[src] = (ps, e + elems)
            for src, (ps, elems) in by_src.items():
                nbytes = 4.0 * elems
                self._transfer(src, dst, nbytes, (0, v, 0, s, j, src), "transfer", v, owner,
                               [self._fwd[u][p] for p in ps], [self._fwd[v][j]])
                if grad:
                    self._transfer(dst, src, nbytes, (1, self.n - 1 - u, 0, v, s, j, src), "transfer", u,
                                   owner, [self._bwd[v][j]], [self._bwd[u][p] for p in ps])

    def _segments(self, g):
        """The weight group's segments: [(fraction of the weights, {device: backward tasks})], one
        per set of devices holding a gradient of it, cut at every member's slice boundaries."""
        pieces, kps = [], set()
        for i in self.graph.groups[g]:
            op, cfg = self.graph.ops[i], self.configs[i]
            kp = param_degree(op, cfg.degrees)
            kps.add(kp)
            for p, d in enumerate(cfg.devices):
                pieces.append((kp, _slice_index(op.dims, cfg.degrees, p), d, self._bwd[i][p]))
        lcm = math.lcm(*kps)
        bounds = sorted({idx * (lcm // kp) for kp in kps for idx in range(kp + 1)})
        held: list[dict[int, list]] = [{} for _ in range(len(bounds) - 1)]
        for kp, idx, d, t in pieces:
            w = lcm // kp
            for k in range(bisect_left(bounds, idx * w), bisect_left(bounds, (idx + 1) * w)):
                held[k].setdefault(d, []).append(t)
        by_set: dict[tuple, list] = {}
        for k, hd in enumerate(held):
            devs = tuple(sorted(hd))
            entry = by_set.setdefault(devs, [0, {d: {} for d in devs}])
            entry[0] += bounds[k + 1] - bounds[k]
            for d, ts in hd.items():
                entry[1][d].update(dict.fromkeys(ts))
        return [(n / lcm, {d: list(ts) for d, ts in tasks.items()}) for n, tasks in by_set.values()]

    def _build_sync(self, g):
        owner = ("sync", g)
        self._owned[owner] = []
        first = self._group_first[g]
        params = self.graph.ops[first].params
        gid, top = self._gid[g], self.n - 1 - first
        mem = np.zeros(self.ndev)
        for si, (frac, bydev) in enumerate(self._segments(g)):
            devs = sorted(bydev)
            seg_bytes = 4.0 * params * frac
            for d in devs:
                mem[d] += 2 * seg_bytes  # weights and their gradients
            r = len(devs)
            if r < 2:
                continue
            if self.sync == "ring":
                nbytes = 2.0 * (r - 1) / r * seg_bytes
                for k, d in enumerate(devs):
                    nxt = devs[(k + 1) % r]
                    dma = self.machine.devices[d].copy_engine and self.machine.devices[nxt].copy_engine
                    self._transfer(d, nxt, nbytes, (1, top, 2, gid, si, k), "sync", first,
                                   owner, bydev[d], [], steps=2 * (r - 1) if dma else r - 1)
                continue
            # parameter server: gradients to the owner (keys (1, top, 2, ...)), then the updated
            # weights back (keys (1, top, 3, ...), after all the gradients have arrived)
            o = devs[(gid + si) % r]
            arrived = list(bydev[o])
            for k, d in enumerate(devs):
                if d != o:
                    arrived.append(self._transfer(d, o, seg_bytes, (1, top, 2, gid, si, k), "sync", first,
                                                  owner, bydev[d], []))
            for k, d in enumerate(devs):
                if d != o:
                    self._transfer(o, d, seg_bytes, (1, top, 3, gid, si, k), "sync", first, owner, arrived, [])
        self._gmem[g] = mem

    def _build_all(self):
        self._owned: dict[tuple, list[Task]] = {}
        self._fwd: list = [None] * self.n
        self._bwd: list = [None] * self.n
        self._opmem: list = [None] * self.n
        self._gmem: dict[str, np.ndarray] = {}
        self._fresh: list[Task] = []
        for i in range(self.n):
            self._build_op(i)
        for v, op in enumerate(self.graph.ops):
            for s, src in enumerate(op.inputs):
                self._build_edge(self.graph.index[src], v, s)
        for g in self.graph.groups:
            self._build_sync(g)

    def _memory(self) -> np.ndarray:
        mem = np.zeros(self.ndev)
        for m in self._opmem:
            mem += m
        for m in self._gmem.values():
            mem += m
        return mem

    # -- timing -------------------------------------------------------------------------
    def _replay(self, cut: tuple | None, fresh: list):
        """The event loop (Section 5.2) from key ``cut`` on: the tasks of the current order whose
        (ready time, rank) is below ``cut`` keep their times; the surviving rest and the
        ``fresh`` tasks are timed by taking the ready task of smallest (ready time, rank) until
        none is left (``cut=None``: everything, a full simulation)."""
        order = self._order
        pos = 0 if cut is None else bisect_left(order, cut, key=_key)
        self._stamp += 1
        st = self._stamp
        tail = [t for t in order[pos:] if t.alive]
        tail += fresh
        for t in tail:
            t.mark = st
        free = [0.0] * self.nres
        rtasks = []
        m = 0.0
        for x, lst in enumerate(self._rtasks):
            k = bisect_left(lst, cut, key=_key) if cut is not None and lst else 0
            if k:
                free[x] = lst[k - 1].end
                if free[x] > m:
                    m = free[x]
            rtasks.append(lst[:k])
        heap = []
        for t in tail:
            r, n = 0.0, 0
            for p in t.preds:
                if p.mark == st:
                    n += 1
                elif p.end > r:
                    r = p.end
            t.ready, t.npend = r, n
            if not n:
                heap.append((r, t.rank, t))
        heapq.heapify(heap)
        new_order = order[:pos]
        append = new_order.append
        pop, push = heapq.heappop, heapq.heappush
        while heap:
            r, _, t = pop(heap)
            if t.dur > 0:
                s = r
                for x in t.res:
                    if free[x] > s:
                        s = free[x]
                e = s + t.dur
                for x in t.res:
                    free[x] = e
                    rtasks[x].append(t)
            else:
                s = e = r
            t.start, t.end = s, e
            append(t)
            if e > m:
                m = e
            for q in t.succs:
                if e > q.ready:
                    q.ready = e
                q.npend -= 1
                if not q.npend:
                    push(heap, (q.ready, q.rank, q))
        assert len(new_order) == pos + len(tail), "the task graph has a cycle"
        self._order, self._rtasks, self._makespan = new_order, rtasks, m
        self.tasks_simulated += len(tail)
        return pos

    def _fluid(self, fresh: list):
        """The event loop under contention (see the module docstring), timing every live task and
        the ``fresh`` ones from their times alone.  It steps from one instant (some tasks end) to
        the next.  At each, the tasks whose inputs are all done become ready (those of zero
        duration are done at once); then every idle resource starts the first task of its queue
        (by (ready time, rank)) if that task is also first in the queues of all its other
        resources and they are all idle; then each share group whose set of computing devices
        changed re-derives its running compute tasks' ends: a task runs at *pace* ``slow``
        (seconds per second of its time alone) while another device of its group computes, at
        pace 1 otherwise."""
        self._stamp += 1
        st = self._stamp
        tasks = [t for t in self._order if t.alive]
        tasks += fresh
        for t in tasks:
            t.mark = st
        group_of, share = self._group_of, self._share
        comp = ("forward", "backward")
        queues: list[list] = [[] for _ in range(self.nres)]
        busy: list[Task | None] = [None] * self.nres
        rtasks: list[list[Task]] = [[] for _ in range(self.nres)]
        computing: list[Task | None] = [None] * self.ndev  # the compute task on each shared device
        events: list = []  # (projected end, rank, version, task)
        pop, push = heapq.heappop, heapq.heappush
        order, now_ready = [], []
        for t in tasks:
            t.npend = sum(1 for p in t.preds if p.mark == st)
            if not t.npend:
                now_ready.append(t)
        now, touched, dirty = 0.0, set(), set()
        while True:
            while now_ready:  # ready now; zero duration: done now
                t = now_ready.pop()
                t.ready = now
                order.append(t)
                if t.base > 0:
                    for x in t.res:
                        push(queues[x], (now, t.rank, t))
                        touched.add(x)
                    if t.res:
                        continue
                    t.start, t.dur, t.pace, t.ver = now, t.base, 1.0, 0  # holds nothing
                    push(events, (now + t.base, t.rank, 0, t))
                    continue
                t.start = t.end = now
                t.dur = 0.0
                for q in t.succs:
                    q.npend -= 1
                    if not q.npend:
                        now_ready.append(q)
            for x in sorted(touched):  # idle resources start the first task of their queues
                if busy[x] is not None or not queues[x]:
                    continue
                t = queues[x][0][2]
                if any(busy[y] is not None or queues[y][0][2] is not t for y in t.res):
                    continue
                for y in t.res:
                    pop(queues[y])
                    busy[y] = t
                    rtasks[y].append(t)
                t.start, t.ver = now, 0
                g = group_of[t.res[0]] if t.kind in comp else None
                if g is None:
                    t.pace = 1.0
                    push(events, (now + t.base, t.rank, 0, t))
                else:
                    computing[t.res[0]] = t
                    t.left, t.since, t.pace = t.base, now, 0.0
                    dirty.add(g)
            for g in sorted(dirty):  # groups whose computing devices changed: new paces, new ends
                running = [computing[d] for d in share[g] if computing[d] is not None]
                for t in running:
                    pace = t.slow if len(running) > 1 else 1.0
                    if pace == t.pace:
                        continue
                    if t.pace:
                        t.left = max(0.0, t.left - (now - t.since) / t.pace)
                        t.since = now
                    t.pace = pace
                    t.ver += 1
                    push(events, (t.since + t.left * pace, t.rank, t.ver, t))
            touched, dirty = set(), set()
            while events and events[0][2] != events[0][3].ver:
                pop(events)  # superseded projections
            if not events:
                break
            # the next instant: every task that ends within float noise of the first ends then
            now = events[0][0]
            lim = now + now * _SAME_INSTANT
            while events and events[0][0] <= lim:
                _, _, ver, t = pop(events)
                if ver != t.ver:
                    continue
                t.ver = -1  # done: any older projection is stale
                t.end = now
                t.dur = t.base if now == t.start + t.base else now - t.start
                for y in t.res:
                    busy[y] = None
                    touched.add(y)
                g = group_of[t.res[0]] if t.res and t.kind in comp else None
                if g is not None:
                    computing[t.res[0]] = None
                    dirty.add(g)
                for q in t.succs:
                    q.npend -= 1
                    if not q.npend:
                        now_ready.append(q)
        assert len(order) == len(tasks), "the task graph has a cycle"
        order.sort(key=_key)
        self._order, self._rtasks = order, rtasks
        self._makespan = max((t.end for t in order), default=0.0)
        self.tasks_simulated += len(tasks)

    def _delta(self, changes: dict[int, OpConfig]):
        """Replace some operators' configurations, rebuild their tasks and resume the event loop
        from the cut (see the module docstring).  Keeps an undo log for :meth:`undo`."""
        if self._undo is not None:
            _discard(self._undo[4])  # the accepted change's replaced tasks
        graph = self.graph
        edges, groups = [], []
        for i in changes:
            edges += [(graph.index[src], i, s) for s, src in enumerate(graph.ops[i].inputs)]
            edges += [(i, v, s) for v, s in graph.consumers[i]]
            g = graph.group_of(i)
            if g:
                groups.append(g)
        edges = list(dict.fromkeys(edges))
        groups = list(dict.fromkeys(groups))
        owners = [("edge",) + e for e in edges] + [("sync", g) for g in groups] + [("op", i) for i in changes]
        dead_owned = {o: self._owned.pop(o) for o in owners}
        dead = [t for o in owners for t in dead_owned[o]]
        for t in dead:
            t.alive = False
        cut = None
        touched = []  # surviving tasks whose inputs change
        for t in dead:
            k = (t.ready, t.rank)
            if cut is None or k < cut:
                cut = k
            for q in t.succs:
                if q.alive:
                    q.preds.remove(t)
                    touched.append(q)
            for q in t.preds:
                if q.alive:
                    q.succs.remove(t)
        old = {i: (self.configs[i], self._fwd[i], self._bwd[i], self._opmem[i]) for i in changes}
        old_gmem = {g: self._gmem[g] for g in groups}
        self.configs.update(changes)
        self._fresh = []
        for i in changes:
            self._build_op(i)
        for e in edges:
            self._build_edge(*e)
        for g in groups:
            self._build_sync(g)
        fresh, self._fresh = self._fresh, []
        self._stamp += 1
        st = self._stamp
        for t in fresh:
            t.mark = st
        for t in fresh:
            touched += [q for q in t.succs if q.mark != st]
        for q in touched:
            k = (q.ready, q.rank)
            if k < cut:
                cut = k
        for t in fresh + touched:  # exact keys of those whose inputs all predate the change
            r = 0.0
            for p in t.preds:
                if p.mark == st:
                    break
                if p.end > r:
                    r = p.end
            else:
                if (r, t.rank) < cut:
                    cut = (r, t.rank)
        if self._share:  # contention couples every device's timing: re-time everything
            cut = None
        pos = bisect_left(self._order, cut, key=_key) if cut is not None else 0
        times = [(t, t.start, t.end, t.ready, t.dur) for t in self._order[pos:] if t.alive]
        self._undo = (old, old_gmem, owners, dead_owned, dead, fresh, times,
                      (self._order, self._rtasks, self._makespan, self._mem))
        if self._share:
            self._fluid(fresh)
        else:
            self._replay(cut, fresh)
        mem = self._mem.copy()
        for i in changes:
            mem += self._opmem[i] - old[i][3]
        for g in groups:
            mem += self._gmem[g] - old_gmem[g]
        self._mem = mem

    def undo(self) -> None:
        """Revert the last :meth:`update` or :meth:`propose` exactly (a rejected proposal)."""
        if self._undo is None:
            raise invalid("undo", "Simulator.undo", "called once after update()", None, cls=ConfigError)
        old, old_gmem, owners, dead_owned, dead, fresh, times, lists = self._undo
        self._undo = None
        for t in fresh:
            t.alive = False
        for t in fresh:
            for q in t.succs:
                if q.alive:
                    q.preds.remove(t)
            for q in t.preds:
                if q.alive:
                    q.succs.remove(t)
        _discard(fresh)
        for t in dead:
            t.alive = True
        dead_set = set(map(id, dead))
        for t in dead:
            for q in t.succs:
                if id(q) not in dead_set:
                    q.preds.append(t)
            for q in t.preds:
                if id(q) not in dead_set:
                    q.succs.append(t)
        for t, s, e, r, d in times:
            t.start, t.end, t.ready, t.dur = s, e, r, d
        self._order, self._rtasks, self._makespan, self._mem = lists
        for o in owners:
            self._owned[o] = dead_owned[o]
        for i, (cfg, f, b, mem) in old.items():
            self.configs[i], self._fwd[i], self._bwd[i], self._opmem[i] = cfg, f, b, mem
        self._gmem.update(old_gmem)

    def _timeline(self, record: bool) -> Timeline:
        if not record:
            return Timeline(self.iteration_time, None, None)
        import pandas as pd

        names, ops = self.dev_names, self.graph.ops
        rows = [(t.kind, ops[t.op].name, names[x], t.start, t.end, t.nbytes) for t in self._order for x in t.res]
        table = pd.DataFrame(rows, columns=["kind", "op", "device", "start", "end", "bytes"])
        return Timeline(self.iteration_time, self._memory(), table)
