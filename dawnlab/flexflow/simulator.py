"""The execution simulator: task graph, full simulation and delta simulation.

Section 5 of arXiv 1807.05358.  Given an operator graph, a machine and a
strategy, the simulator builds a *task graph*:

- a forward and a backward **compute task** per piece of every operator, on the
  piece's device (Section 5.1);
- **communication tasks** on link "devices": when a consumer piece reads a
  region of a producer's output that lives on another device, the bytes of
  that region travel along the route, one task per link (and the gradient
  travels back the same way in the backward pass);
- **synchronization tasks** for replicated weights, in one of two models
  (``sync=``):

  - ``"ps"`` (the default, the paper's model): parameter-server style, as in
    FlexFlow's own simulator and Legion runtime.  Each weight slice has an
    *owner*, one of the devices holding a replica (spread round-robin over the
    replicas by weight group and slice, like TensorFlow's round-robin placement
    of variables on sharded parameter servers); every
    other replica sends its whole gradient slice to the owner, and once all
    have arrived (and the owner's own backward tasks are done) the owner sends
    the updated slice back to each replica.  The update itself is free.
  - ``"ring"``: a ring all-reduce (NCCL/gloo style): each of the ``r``
    replicas sends ``2 (r - 1) / r`` of the slice to the next along its route.

  Operators that share weights (the steps of an unrolled recurrent layer)
  synchronise once, after the last backward task of the group on each device.

The paper's assumptions hold: task times are predictable (a cost model), links
run at full bandwidth, each device runs its tasks one at a time in FIFO order,
and there is no runtime overhead.

**Queue order.**  Each device runs its tasks in a fixed *issue order*, the
order in which a framework would enqueue them on a stream: forward tasks by
operator in topological order, then backward tasks in reverse order, each
operator's incoming transfers just before its compute tasks and its weight
synchronisation just after its backward tasks.  A task starts when its inputs
are done and the task before it on its device has finished.  (The paper's full
simulation orders each device's queue by ready time; a fixed issue order makes
the timeline the longest path through one DAG, which is what makes delta
simulation provably exact here.)

**Full simulation** (Section 5.2) builds every task and times them in one pass
in issue order.  **Delta simulation** (Section 5.3): when one operator's
configuration changes, only its compute tasks, the transfers on its incoming
and outgoing edges and its weight group's synchronisation are rebuilt; the
fresh tasks are merged into the issue order (one list of all tasks by rank),
which is swept once from the earliest changed task: a task is re-timed only if
a predecessor or its device predecessor changed, so the propagation stops
wherever a task's start and end do not change.  Rejected changes are undone
from a log (old tasks, old times, the old order), not re-simulated.  Because the
timeline is the unique solution of the same recurrences over the same task
graph, the result equals a full simulation's exactly (tests check this
bit-for-bit).

Per-device memory counts each piece's output activations (kept for the
backward pass) and its weights and gradients.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from operator import attrgetter

import numpy as np

from dawnlab.errors import invalid
from dawnlab.flexflow.costs import AnalyticCosts, param_degree
from dawnlab.flexflow.graph import Graph, input_windows
from dawnlab.flexflow.machine import Machine
from dawnlab.flexflow.soap import ConfigError, OpConfig, Strategy, piece_regions, validate

__all__ = ["Simulator", "Timeline", "Task", "SYNC_MODES"]

#: Weight synchronisation models: parameter-server owner replica (the paper's), ring all-reduce.
SYNC_MODES = ("ps", "ring")


class Task:
    """One task of the task graph; ``dev`` indexes compute devices, then links."""

    __slots__ = ("key", "dev", "dur", "preds", "succs", "start", "end", "dprev", "dnext",
                 "kind", "op", "nbytes", "rank", "seq", "alive", "queued", "s0", "e0")

    def __init__(self, key, dev, dur, kind, op, nbytes=0.0, rank=0, seq=0):
        self.key, self.dev, self.dur, self.kind, self.op, self.nbytes = key, dev, dur, kind, op, nbytes
        self.rank, self.seq = rank, seq
        self.alive = True
        self.queued = 0
        self.preds: list[Task] = []
        self.succs: list[Task] = []
        self.start = self.end = None
        self.dprev = self.dnext = None


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
        One row per task: ``kind`` (forward, backward, transfer, sync), ``op``,
        ``device`` (name), ``start``, ``end``, ``bytes``; None when not recorded.
    """

    iteration_time: float
    memory: np.ndarray
    tasks: object = field(default=None, repr=False)

    @property
    def throughput_scale(self) -> float:
        """Iterations per second."""
        return 1.0 / self.iteration_time


@lru_cache(maxsize=65536)
def _overlaps(ushape, udeg, vshape, vdeg, imap, window):
    """For each consumer piece j: list of (producer piece index, elements read).  ``window``
    gives, per input dimension, the range read where ``imap`` says ``None``."""
    ustrides = [math.prod(udeg[t + 1:]) for t in range(len(udeg))]
    out = []
    for reg in piece_regions(vshape, vdeg):
        per_dim = []
        for t, m in enumerate(imap):
            s, k = ushape[t], udeg[t]
            if m is None:
                lo, hi = window[t]
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


_rank = attrgetter("rank")


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


def _discard(tasks):
    """Break dropped tasks' reference cycles so that they are freed at once, not by the cyclic
    garbage collector (whose full passes over a large live task graph cost more than a step)."""
    for t in tasks:
        t.preds = t.succs = ()
        t.dprev = t.dnext = None


class Simulator:
    """Simulate one training iteration of ``graph`` on ``machine`` (Section 5).

    Parameters
    ----------
    graph : Graph
    machine : Machine
    costs : AnalyticCosts or MeasuredCosts, optional
        Task-time model; the machine's roofline when omitted.
    sync : {"ps", "ring"}
        How replicated weights are synchronised: through a parameter-server owner
        replica (the paper's model) or by a ring all-reduce (see the module docstring).

    Examples
    --------
    >>> from dawnlab.flexflow import benchmarks, Machine, Strategy
    >>> g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    >>> sim = Simulator(g, m)
    >>> full = sim.simulate(Strategy.data_parallel(g, m))
    >>> new = sim.update("fc6", OpConfig((1, 4), (0, 1, 2, 3)))
    >>> new.iteration_time < full.iteration_time
    True
    >>> new.iteration_time == sim.simulate(sim.strategy).iteration_time
    True
    """

    #: Changes of more operators than this are simulated in full (see :meth:`propose`).
    REBUILD_AT = 8

    def __init__(self, graph: Graph, machine: Machine, costs=None, sync: str = "ps"):
        if sync not in SYNC_MODES:
            raise invalid("sync", "Simulator", f"one of {SYNC_MODES}", sync, cls=ConfigError)
        self.graph, self.machine, self.sync = graph, machine, sync
        self.costs = costs if costs is not None else AnalyticCosts(machine)
        self.n = len(graph)
        self.ndev = machine.num_devices
        self.dev_names = [d.name for d in machine.devices] + [l.name for l in machine.links]
        self._gid = {g: k for k, g in enumerate(sorted(graph.groups))}
        self._group_first = {g: min(m) for g, m in graph.groups.items()}
        self.configs: dict[int, OpConfig] | None = None
        self.tasks_simulated = 0
        self._seq = 0
        self._mark = 0
        self._radix = max(self.n, self.ndev, 16, max((len(o.inputs) for o in graph.ops), default=0)) + 2
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
        self._time_all()
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
        self._delta(changes)
        return self.iteration_time

    @property
    def iteration_time(self) -> float:
        """Simulated time of the current strategy."""
        self._require()
        return max((lst.end for lst in self._last if lst is not None), default=0.0)

    # -- internals ----------------------------------------------------------------
    def _require(self):
        if self.configs is None:
            raise invalid("strategy", "Simulator", "simulated first", None,
                          "Call simulate(strategy) before update() or strategy.", cls=ConfigError)

    def _new(self, key, dev, dur, kind, op, owner, nbytes=0.0):
        # rank: the key as one mixed-radix int (keys of one kind have the same length, so this
        # preserves their lexicographic order); heap comparisons are then int comparisons.
        r = self._radix
        rank = 0
        for x in key:
            rank = rank * r + x
        rank *= r ** (8 - len(key))
        self._seq += 1
        t = Task(key, dev, dur, kind, op, nbytes, rank, self._seq)
        self._owned[owner].append(t)
        self._fresh.append(t)
        return t

    @staticmethod
    def _link(a: Task, b: Task):
        a.succs.append(b)
        b.preds.append(a)

    def _chain(self, src, dst, nbytes, key, kind, op, owner, before, after):
        """Transfer tasks from device src to dst, one per link; ``before`` -> chain -> ``after``.
        Returns the last transfer task."""
        prev = None
        for h, k in enumerate(self.machine.route(src, dst)):
            link = self.machine.links[k]
            t = self._new(key + (h,), self.ndev + k, link.latency + nbytes / link.bandwidth, kind, op,
                          owner, nbytes)
            if prev is None:
                for b in before:
                    self._link(b, t)
            else:
                self._link(prev, t)
            prev = t
        for a in after:
            self._link(prev, a)
        return prev

    def _build_op(self, i):
        op, cfg = self.graph.ops[i], self.configs[i]
        owner = ("op", i)
        self._owned[owner] = []
        f, b = [], []
        for p, d in enumerate(cfg.devices):
            tf, tb = self.costs.compute(self.graph, i, cfg.degrees, self.machine.devices[d])
            ft = self._new((0, i, 1, p), d, tf, "forward", i, owner)
            bt = self._new((1, self.n - 1 - i, 1, p), d, tb, "backward", i, owner)
            self._link(ft, bt)
            f.append(ft)
            b.append(bt)
        self._fwd[i], self._bwd[i] = f, b

    def _build_edge(self, u, v, s):
        owner = ("edge", u, v, s)
        self._owned[owner] = []
        links = []
        gu, gv = self.graph.ops[u], self.graph.ops[v]
        cu, cv = self.configs[u], self.configs[v]
        ov = _overlaps(gu.shape, cu.degrees, gv.shape, cv.degrees, gv.input_maps[s],
                       input_windows(gv, [gu.shape])[0])
        grad = gu.kind != "input"
        for j, pairs in enumerate(ov):
            dst = cv.devices[j]
            by_src: dict[int, tuple[list, int]] = {}
            for p, elems in pairs:
                src = cu.devices[p]
                if src == dst:
                    self._link(self._fwd[u][p], self._fwd[v][j])
                    links.append((self._fwd[u][p], self._fwd[v][j]))
                    if grad:
                        self._link(self._bwd[v][j], self._bwd[u][p])
                        links.append((self._bwd[v][j], self._bwd[u][p]))
                else:
                    ps, e = by_src.get(src, ([], 0))
                    ps.append(p)
                    by_src[src] = (ps, e + elems)
            for src, (ps, elems) in by_src.items():
                nbytes = 4.0 * elems
                self._chain(src, dst, nbytes, (0, v, 0, s, j, src), "transfer", v, owner,
                            [self._fwd[u][p] for p in ps], [self._fwd[v][j]])
                if grad:
                    self._chain(dst, src, nbytes, (1, self.n - 1 - u, 0, v, s, j, src), "transfer", u,
                                owner, [self._bwd[v][j]], [self._bwd[u][p] for p in ps])
        self._links[owner] = links

    def _build_sync(self, g):
        owner = ("sync", g)
        self._owned[owner] = []
        first = self._group_first[g]
        members = self.graph.groups[g]
        params = self.graph.ops[first].params
        slices: dict[tuple[int, int], dict[int, list[Task]]] = {}
        for i in members:
            op, cfg = self.graph.ops[i], self.configs[i]
            kp = param_degree(op, cfg.degrees)
            for p, d in enumerate(cfg.devices):
                idx = _slice_index(op.dims, cfg.degrees, p)
                slices.setdefault((kp, idx), {}).setdefault(d, []).append(self._bwd[i][p])
        gid = self._gid[g]
        top = self.n - 1 - first
        for (kp, idx), bydev in sorted(slices.items()):
            devs = sorted(bydev)
            r = len(devs)
            if r < 2:
                continue
            if self.sync == "ring":
                nbytes = 2.0 * (r - 1) / r * 4.0 * params / kp
                for k, d in enumerate(devs):
                    self._chain(d, devs[(k + 1) % r], nbytes, (1, top, 2, gid, kp, idx, k), "sync", first,
                                owner, bydev[d], [])
                continue
            # parameter server: gradients to the owner replica (keys (1, top, 2, ...)), then the
            # updated weights back (keys (1, top, 3, ...), issued after all the gradients)
            nbytes = 4.0 * params / kp
            o = devs[(gid + idx) % r]
            arrived = list(bydev[o])
            for k, d in enumerate(devs):
                if d != o:
                    arrived.append(self._chain(d, o, nbytes, (1, top, 2, gid, kp, idx, k), "sync", first,
                                               owner, bydev[d], []))
            for k, d in enumerate(devs):
                if d != o:
                    self._chain(o, d, nbytes, (1, top, 3, gid, kp, idx, k), "sync", first, owner, arrived, [])

    def _build_all(self):
        self._owned: dict[tuple, list[Task]] = {}
        self._links: dict[tuple, list] = {}
        self._fwd: list = [None] * self.n
        self._bwd: list = [None] * self.n
        self._fresh: list[Task] = []
        for i in range(self.n):
            self._build_op(i)
        for v, op in enumerate(self.graph.ops):
            for s, src in enumerate(op.inputs):
                self._build_edge(self.graph.index[src], v, s)
        for g in self.graph.groups:
            self._build_sync(g)

    def _time_all(self):
        tasks = self._fresh
        self._fresh = []
        tasks.sort(key=_rank)
        nd = self.ndev + len(self.machine.links)
        last: list[Task | None] = [None] * nd
        self._dkeys: list[list] = [[] for _ in range(nd)]
        self._dtasks: list[list] = [[] for _ in range(nd)]
        for t in tasks:
            prev = last[t.dev]
            t.dprev, t.dnext = prev, None
            start = prev.end if prev is not None else 0.0
            for p in t.preds:
                if p.end > start:
                    start = p.end
            if prev is not None:
                prev.dnext = t
            t.start, t.end = start, start + t.dur
            last[t.dev] = t
            self._dkeys[t.dev].append(t.rank)
            self._dtasks[t.dev].append(t)
        self._last = last
        self._order = tasks
        self.tasks_simulated += len(tasks)

    def _delta(self, changes: dict[int, OpConfig]):
        """Replace some operators' configurations; rebuild their tasks; re-time in issue order.

        Keeps an undo log so that :meth:`undo` restores the previous state exactly.  A change of
        more than :attr:`REBUILD_AT` operators at once (a whole unrolled recurrent layer) touches
        most of the task graph, so it is simulated in full instead, keeping the old task graph
        for :meth:`undo`.
        """
        if self._undo is not None and self._undo[0] == "delta":
            _discard(self._undo[1][4])  # the accepted change's replaced tasks
        if len(changes) > self.REBUILD_AT:
            snap = (dict(self.configs), self._owned, self._links, self._fwd, self._bwd, self._dkeys,
                    self._dtasks, self._last, self._order)
            self.configs.update(changes)
            self._build_all()
            self._time_all()
            self._undo = ("full", snap)
            return
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
        dead_links = {o: self._links.pop(o, []) for o in owners}
        dead = [t for o in owners for t in dead_owned[o]]
        for t in dead:
            t.alive = False
        dirty: list[Task] = []
        changed: list[Task] = []  # re-timed tasks; their old times are in s0, e0
        for t in dead:
            self._unlist(t, dirty)
            for q in t.succs:
                if q.alive:
                    q.preds.remove(t)
                    dirty.append(q)
            for q in t.preds:
                if q.alive:
                    q.succs.remove(t)
        old = {i: (self.configs[i], self._fwd[i], self._bwd[i]) for i in changes}
        self.configs.update(changes)
        self._fresh = []
        for i in changes:
            self._build_op(i)
        for e in edges:
            self._build_edge(*e)
        for g in groups:
            self._build_sync(g)
        fresh = self._fresh
        self._fresh = []
        for t in fresh:
            self._enlist(t)
            dirty.append(t)
        # the new issue order: the surviving tasks and the fresh ones, merged by rank
        order = self._order
        kept = [t for t in order if t.alive]
        kept += fresh
        kept.sort(key=_rank)
        self._order = kept
        self._undo = ("delta", (old, owners, dead_owned, dead_links, dead, fresh, changed, order))
        self._propagate(dirty, changed)

    def _unlist(self, t, dirty):
        keys, lst = self._dkeys[t.dev], self._dtasks[t.dev]
        pos = bisect_left(keys, t.rank)
        del keys[pos]
        del lst[pos]
        if t.dprev is not None:
            t.dprev.dnext = t.dnext
        if t.dnext is not None:
            t.dnext.dprev = t.dprev
            dirty.append(t.dnext)
        else:
            self._last[t.dev] = t.dprev

    def _enlist(self, t):
        keys, lst = self._dkeys[t.dev], self._dtasks[t.dev]
        pos = bisect_left(keys, t.rank)
        keys.insert(pos, t.rank)
        lst.insert(pos, t)
        t.dprev = lst[pos - 1] if pos > 0 else None
        t.dnext = lst[pos + 1] if pos + 1 < len(lst) else None
        if t.dprev is not None:
            t.dprev.dnext = t
        if t.dnext is not None:
            t.dnext.dprev = t
        else:
            self._last[t.dev] = t

    def _propagate(self, dirty, changed):
        """Re-time the dirty tasks, and whatever they delay, in issue order.

        One sweep over :attr:`_order` (all tasks by rank, a topological order) from the
        earliest dirty task: a task is re-timed only if it is marked, and marks its successors
        and the next task on its device only if its start or end changed, so the propagation
        stops wherever a task's times do not change.  Old times go to ``s0``/``e0`` and the
        task to ``changed``, for :meth:`undo`."""
        mark = self._mark = self._mark + 1
        lo = None
        for t in dirty:
            if t.alive:
                t.queued = mark
                if lo is None or t.rank < lo:
                    lo = t.rank
        if lo is None:
            return
        order = self._order
        count = 0
        for t in islice(order, bisect_left(order, lo, key=_rank), None):
            if t.queued != mark:
                continue
            count += 1
            prev = t.dprev
            start = prev.end if prev is not None else 0.0
            for p in t.preds:
                if p.end > start:
                    start = p.end
            end = start + t.dur
            if start == t.start and end == t.end:
                continue
            if t.start is not None:
                t.s0 = t.start
                t.e0 = t.end
                changed.append(t)
            t.start = start
            t.end = end
            for q in t.succs:
                q.queued = mark
            q = t.dnext
            if q is not None:
                q.queued = mark
        self.tasks_simulated += count

    def undo(self) -> None:
        """Revert the last :meth:`update` exactly (used by the search for rejected proposals)."""
        if self._undo is None:
            raise invalid("undo", "Simulator.undo", "called once after update()", None, cls=ConfigError)
        how, log = self._undo
        self._undo = None
        if how == "full":
            (self.configs, self._owned, self._links, self._fwd, self._bwd, self._dkeys, self._dtasks,
             self._last, self._order) = log
            return
        old, owners, dead_owned, dead_links, dead, fresh, changed, order = log
        for t in fresh:
            t.alive = False
        sink: list = []
        for t in fresh:
            self._unlist(t, sink)
            for q in t.succs:
                if q.alive:
                    q.preds.remove(t)
            for q in t.preds:
                if q.alive:
                    q.succs.remove(t)
        _discard(fresh)
        for t in dead:
            t.alive = True
        for t in dead:
            self._enlist(t)
        dead_set = set(map(id, dead))
        for t in dead:
            for q in t.succs:
                if id(q) not in dead_set:
                    q.preds.append(t)
            for q in t.preds:
                if id(q) not in dead_set:
                    q.succs.append(t)
        for t in changed:
            t.start, t.end = t.s0, t.e0
        self._order = order
        for o in owners:
            self._owned[o] = dead_owned[o]
            if dead_links[o]:
                self._links[o] = dead_links[o]
            elif o in self._links:
                del self._links[o]
        for i, (cfg, f, b) in old.items():
            self.configs[i], self._fwd[i], self._bwd[i] = cfg, f, b

    def _memory(self) -> np.ndarray:
        mem = np.zeros(self.ndev)
        seen = set()
        for i, op in enumerate(self.graph.ops):
            cfg = self.configs[i]
            n = cfg.pieces
            kp = param_degree(op, cfg.degrees)
            g = self.graph.group_of(i)
            for p, d in enumerate(cfg.devices):
                mem[d] += 4.0 * op.numel / n
                if g:
                    key = (g, kp, d, _slice_index(op.dims, cfg.degrees, p))
                    if key not in seen:
                        seen.add(key)
                        mem[d] += 2 * 4.0 * self.graph.ops[self._group_first[g]].params / kp
        return mem

    def _timeline(self, record: bool) -> Timeline:
        table = None
        if record:
            import pandas as pd

            rows = [(t.kind, self.graph.ops[t.op].name, self.dev_names[t.dev], t.start, t.end, t.nbytes)
                    for lst in self._dtasks for t in lst]
            table = pd.DataFrame(rows, columns=["kind", "op", "device", "start", "end", "bytes"])
            return Timeline(self.iteration_time, self._memory(), table)
        return Timeline(self.iteration_time, None, None)

    def num_tasks(self) -> int:
        """Tasks in the current task graph."""
        return sum(len(lst) for lst in self._dtasks)
