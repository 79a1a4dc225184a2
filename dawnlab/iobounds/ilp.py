"""The ILP lower bound: the optimal evaluation order as a 0/1 program
(Jain and Zaharia, arXiv 1909.09791, Section 6), in cvxpy, solved by HiGHS,
with every value it reports certified.

With ``T = n`` steps (one vertex computed per step, no recomputation), the
binary variables are

* ``c[v, t]``: ``v`` is computed at step ``t`` (each vertex once, one per step);
* ``f[v, t]``: ``v`` is in fast memory at step ``t`` (at most ``M`` values);
* ``l[v, t]``: ``v`` is loaded into fast memory at step ``t`` (newly entered);
* ``s[v]``: ``v`` was ever stored to slow memory.

Constraints: computing ``v`` at ``t`` needs ``f[u, t]`` for every predecessor
``u`` and ``f[v, t]``; a value is in fast memory only if it was there at
``t - 1``, or is computed or loaded at ``t``; a load needs ``v`` computed
earlier and stored (``l[v, t] <= s[v]``; storing right after computing is
always possible and costs the same).  Objective: ``sum s + sum l``.  The
optimum is the exact non-compulsory I/O of the model on small graphs.

**Certified values.**  HiGHS with presolve on returned "optimal" values above
the true optimum on some 8-vertex graphs, and "infeasible" on a feasible one,
so the MIP is solved with presolve off, and a value is reported as exact only
when a proof stands behind it:

* the exact search of :mod:`dawnlab.iobounds.search` (a second, independent
  solver) completed, or
* HiGHS (presolve off) reported optimality and the optimal evaluation order it
  returned, given its best loads and evictions
  (:func:`~dawnlab.iobounds.search.order_io`), costs exactly the objective.
  The order shows the value is attained; that nothing lower exists rests on
  HiGHS's own optimality proof, which no independent solver re-checks on parts
  too large for the search.  ``PartResult.solver`` says which solver stands
  behind each exact value (``"search"`` or ``"ilp"``).

An "optimal" answer whose own order costs more than its objective contradicts
itself: it is recorded as ``"unverified"`` and contributes nothing.

An ILP value above the I/O of a real schedule of the same graph (its own order,
or the best Belady schedule) is rejected.  A part whose MIP is infeasible,
fails, or is rejected contributes its best proven bound from the other
solvers (0 at worst) with its status recorded; it never raises.  A part that
runs out of time contributes the best proven bound: HiGHS's dual bound (rounded
up, the objective being integral), the cost level the search had completed,
and the sum of exact optima (by the search) of a partition of the part into
pieces of at most 12 vertices, whichever is largest, whatever the solver.

**Partitioned bound.**  For large graphs the vertices are split into parts of
at most ``part_size`` (METIS through ``pymetis`` on the undirected graph,
contiguous parts as in the paper, over-full parts split again along a
topological order).  Each induced sub-DAG ``G[P]`` is solved alone and the
optima are summed.  This is sound because there is no recomputation: take an
optimal schedule of ``G`` and keep only the steps that compute vertices of
``P`` and the I/O of values of ``P``.  Fast memory then holds a subset of its
values (at most ``M``), each ``P`` vertex is computed once with its ``P``
predecessors present, and a ``P`` value evicted while ``G[P]`` still needs it
must have been stored -- so this is a legal schedule of ``G[P]`` whose I/O is
at most the I/O that the schedule of ``G`` spends on values of ``P``.  The
parts are disjoint, so the sum of the parts' lower bounds is at most the
optimum of ``G``.  (With recomputation a vertex could be computed twice and the
restriction would not be a schedule of ``G[P]``.)  Isomorphic parts are solved
once, and distinct parts run in parallel through :mod:`dawnlab.parallel`.  At
the end the sum is checked against the best Belady schedule of ``G``
(:class:`~dawnlab.iobounds.model.UnsoundBoundError` if it were above).
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import numpy as np

from dawnlab.errors import invalid
from dawnlab.iobounds.model import UnsoundBoundError, check_graph, check_memory, compulsory_io
from dawnlab.iobounds.search import search_io

__all__ = ["ILPBound", "PartResult", "ilp_bound", "solve_exact", "partition", "butterfly_parts",
           "SOLVERS"]

#: The part solvers: ``"auto"`` (exact search within a state budget, then the
#: MIP), ``"ilp"`` (the MIP alone, certified), ``"search"`` (the search alone).
SOLVERS = ("auto", "ilp", "search")

#: States the ``"auto"`` solver lets the exact search expand before the MIP.
SEARCH_STATES = 200_000

#: Parts of a time-limited part, for its fallback bound.
SUB_PART = 12


@dataclass
class PartResult:
    """One part of a partitioned ILP bound.

    Attributes
    ----------
    size : int
        Vertices in the part.
    value : int
        Its optimum if ``exact``, else its best proven lower bound (0 at worst).
    exact : bool
        Whether the value is a certified optimum.
    status : str
        ``"optimal"``; ``"time_limit"`` (a proven bound, not the optimum);
        ``"infeasible"`` or ``"solver_error"`` (HiGHS's answer, which is
        wrong: the problem is always feasible); ``"rejected"`` (HiGHS's value
        failed a check, see :mod:`dawnlab.iobounds.ilp`); ``"unverified"``
        (HiGHS's optimum is below the I/O of its own order: not used);
        ``"cached"`` (an isomorphic copy of an earlier part); or
        ``"interrupted"``.
    seconds : float
        Solve time.
    order : list
        The part's best evaluation order found (empty if none).
    solver : str
        What supplied ``value``: ``"search"``, ``"ilp"``, ``"subparts"``,
        ``"trivial"`` (no edges) or ``"none"`` (0).
    upper : int or None
        I/O of the best real schedule of the part found, which ``value`` never
        exceeds (for an exact part, the optimum itself).
    ilp_status : str
        HiGHS's own status (``""`` if the MIP was not run).
    """

    size: int
    value: int
    exact: bool
    status: str
    seconds: float
    order: list = field(default_factory=list, repr=False)
    solver: str = "ilp"
    upper: int | None = None
    ilp_status: str = ""


@dataclass
class ILPBound:
    """The (partitioned) ILP lower bound.

    Attributes
    ----------
    value : int
        Lower bound on non-compulsory I/O (the exact optimum if ``exact`` and
        there is one part).
    exact : bool
        Every part solved to a certified optimum.
    parts : list of PartResult
        Per-part results, in the order of the partition.
    compulsory : int
        ``#sources + #sinks``.
    order : list
        When the whole graph was one part: its optimal order if ``exact``,
        else the best order found; ``[]`` when partitioned.
    seconds : float
        Wall time.
    upper : int or None
        I/O of the best Belady schedule of the whole graph, checked to be at
        least ``value`` (``None`` if ``check=False``).
    """

    value: int
    exact: bool
    parts: list
    compulsory: int
    order: list = field(default_factory=list, repr=False)
    seconds: float = 0.0
    upper: int | None = None

    @property
    def statuses(self) -> dict:
        """How many parts ended with each status."""
        out: dict = {}
        for p in self.parts:
            out[p.status] = out.get(p.status, 0) + 1
        return out


def _twins(G, nodes):
    """Pairs of vertices with the same predecessors and the same successors, in
    ``nodes`` order: swapping two such vertices in a schedule gives a schedule of
    the same cost, so one may be computed before the other (symmetry breaking)."""
    groups: dict = {}
    for v in nodes:
        key = (frozenset(G.predecessors(v)), frozenset(G.successors(v)))
        groups.setdefault(key, []).append(v)
    return [(g[i], g[i + 1]) for g in groups.values() for i in range(len(g) - 1)]


def _milp(G, nodes, M: int, time_limit: float | None, lower: int = 0,
          upper: int | None = None, tighten: bool = True):
    """Solve the MIP with HiGHS, presolve off. Returns (status, value, dual, order).

    With ``tighten``: the objective is at least ``lower`` (a bound proven by
    the search), twins are ordered, and HiGHS is told that a schedule of cost
    ``upper`` exists (its ``objective_bound``, which prunes every node that
    cannot beat it).
    """
    import cvxpy as cp

    n = len(nodes)
    idx = {v: i for i, v in enumerate(nodes)}
    # earliest/latest possible step of each vertex (ancestors before, descendants after)
    anc = [len(nx.ancestors(G, v)) for v in nodes]
    desc = [len(nx.descendants(G, v)) for v in nodes]
    T = n
    allowed = np.zeros((n, T), dtype=bool)
    for i in range(n):
        allowed[i, anc[i]: T - desc[i]] = True
    c = cp.Variable((n, T), boolean=True)
    f = cp.Variable((n, T), boolean=True)
    ld = cp.Variable((n, T), boolean=True)
    s = cp.Variable(n, boolean=True)
    cons = [cp.sum(c, axis=1) == 1, cp.sum(c, axis=0) == 1, cp.sum(f, axis=0) <= M,
            c[~allowed] == 0, ld[:, 0] == 0]
    # done[i, t] = sum_{t' < t} c[i, t']  (computed strictly before t)
    done = cp.hstack([np.zeros((n, 1)), cp.cumsum(c, axis=1)[:, :-1]]) if T > 1 else np.zeros((n, 1))
    cons += [f[:, 0] <= c[:, 0], f[:, 1:] <= f[:, :-1] + c[:, 1:] + ld[:, 1:],
             ld <= done, f <= done + c, c <= f]
    # every constraint family is one matrix constraint: compiling n separate ones
    # took cvxpy longer than HiGHS's time limit on a few dozen vertices
    if G.number_of_edges():
        us = np.array([idx[u] for u, _ in G.edges])
        vs = np.array([idx[v] for _, v in G.edges])
        cons.append(c[vs, :] <= f[us, :])
    later = 1 - done  # computed at t or later
    A = np.zeros((n, n))
    for u, v in G.edges:
        A[idx[u], idx[v]] = 1.0
    sinks = np.array([i for i in range(n) if not A[i].any()], dtype=int)
    inner = np.array([i for i in range(n) if A[i].any()], dtype=int)
    if len(sinks):
        cons += [ld[sinks, :] == 0, s[sinks] == 0, f[sinks, :] <= c[sinks, :]]
    if len(inner):
        cons.append(ld[inner, :] <= cp.reshape(s[inner], (len(inner), 1), order="F")
                    @ np.ones((1, T)))
        # tightening, valid for some optimal schedule: a value stays only while a
        # successor is still to be computed, and is loaded only at the step of a use
        cons.append(f[inner, :] <= A[inner] @ later)
        cons.append(ld[inner, :] <= A[inner] @ c)
    objective = cp.sum(s) + cp.sum(ld)
    steps = np.arange(T)
    if tighten:
        if lower > 0:
            cons.append(objective >= lower)
        pairs = _twins(G, nodes)
        if pairs:
            first = np.array([idx[u] for u, _ in pairs])
            second = np.array([idx[v] for _, v in pairs])
            cons.append(c[first, :] @ steps <= c[second, :] @ steps)
    prob = cp.Problem(cp.Minimize(objective), cons)
    # presolve off: with it on, HiGHS 1.16 returned wrong optima and "infeasible"
    opts = {"presolve": "off"}
    if tighten and upper is not None:
        opts["objective_bound"] = float(upper) + 0.5
    if time_limit is not None:
        opts["time_limit"] = float(time_limit)
    try:
        with warnings.catch_warnings():  # "solution may be inaccurate": the status says it
            warnings.simplefilter("ignore", UserWarning)
            prob.solve(solver=cp.HIGHS, **opts)
    except Exception:  # noqa: BLE001 - any solver failure leaves the part at its other bounds
        return "solver_error", None, None, []
    info = prob.solver_stats.extra_stats if prob.solver_stats is not None else None
    dual = getattr(info, "mip_dual_bound", None)
    order = []
    if c.value is not None:
        order = [nodes[i] for i in np.argmax(c.value, axis=0)]
    value = None if prob.value is None or not np.isfinite(prob.value) else float(prob.value)
    return prob.status, value, dual, order


def _is_order(G, order) -> bool:
    pos = {v: i for i, v in enumerate(order)}
    return (len(order) == len(pos) == G.number_of_nodes() and set(pos) == set(G.nodes)
            and all(pos[u] < pos[v] for u, v in G.edges))


def _subparts_bound(G, M: int, deadline: float | None) -> int:
    """Sum of exact (or searched) bounds of a partition into pieces of <= SUB_PART."""
    total = 0
    for part in partition(G, SUB_PART):
        H = _relabelled(G, part)
        if H.number_of_edges() == 0:
            continue
        left = None if deadline is None else max(0.05, deadline - time.perf_counter())
        total += search_io(H, M, max_states=SEARCH_STATES // 4, time_limit=left).value
    return total


def solve_exact(G, M: int, time_limit: float | None = None, *, solver: str = "auto",
                max_states: int | None = None) -> PartResult:
    """The certified optimum of the I/O of ``G``, or its best proven lower bound
    (no validation of ``G`` and ``M``; see :func:`ilp_bound`).

    Parameters
    ----------
    G : networkx.DiGraph
    M : int
    time_limit : float, optional
        Seconds for the search (three quarters under ``"auto"``) and the MIP
        (the rest, at least half a second); the fallback bound of a part that
        runs out of time may take as long again, up to 5 s more.
    solver : {"auto", "ilp", "search"}
        See :data:`SOLVERS`.
    max_states : int, optional
        States the search may expand (default :data:`SEARCH_STATES` for
        ``"auto"`` without a time limit, else unlimited).

    Returns
    -------
    PartResult
        Never raises on a solver failure: the status says what happened.

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> [solve_exact(fft(2), M).value for M in (3, 4, 5)]
    [6, 4, 2]
    >>> r = solve_exact(fft(1), 3, solver="ilp")  # the MIP alone, certified
    >>> r.value, r.exact, r.solver, r.ilp_status
    (0, True, 'ilp', 'optimal')
    """
    from dawnlab.iobounds.schedule import belady_best

    if solver not in SOLVERS:
        raise invalid("solver", "solve_exact", f"one of {SOLVERS}", solver)
    start = time.perf_counter()
    deadline = None if time_limit is None else start + float(time_limit)
    nodes = list(nx.topological_sort(G))
    n = len(nodes)
    if G.number_of_edges() == 0:
        return PartResult(n, 0, True, "optimal", 0.0, nodes, "trivial", 0)
    upper, best_order = belady_best(G, M)
    lower, exact, status, used, order, ilp_status = 0, False, "time_limit", "none", [], ""
    if solver in ("auto", "search"):
        # under "auto" without a time limit the search gets a state budget, then
        # the MIP runs to optimality; with one, the search gets its time share
        budget = max_states if max_states is not None else (
            SEARCH_STATES if solver == "auto" and time_limit is None else None)
        share = None if time_limit is None else (
            0.75 * float(time_limit) if solver == "auto" else float(time_limit))
        r = search_io(G, M, time_limit=share, max_states=budget)
        if r.value > 0 or r.exact:
            lower, used = r.value, "search"
        if r.exact:
            exact, status, order = True, "optimal", r.order
    if not exact and solver in ("auto", "ilp"):
        left = None if deadline is None else max(0.5, deadline - time.perf_counter())
        ilp_status, value, dual, found = _milp(G, nodes, M, left, lower, upper)
        if ilp_status == "optimal" and value is not None and _is_order(G, found):
            value = int(round(value))
            own = search_io(G, M, order=found, max_states=SEARCH_STATES)
            own_cost = own.value if own.exact else None
            if value > upper or (own_cost is not None and value > own_cost) or value < lower:
                status = "rejected"  # a real schedule is cheaper, or the search proves more
            elif own_cost == value:
                lower, exact, status, used, order = value, True, "optimal", "ilp", found
            else:  # its own order costs more than it claims: the answer contradicts itself, so it is
                status = "unverified"  # evidence of a solver error and is not used as a bound
        elif ilp_status == "optimal":
            status = "rejected"
        elif ilp_status in ("infeasible", "infeasible_inaccurate", "solver_error",
                            "unbounded", "infeasible_or_unbounded"):
            status = "infeasible" if ilp_status.startswith("infeasible") else "solver_error"
        elif dual is not None and np.isfinite(dual):
            bound = max(0, math.ceil(dual - 1e-6))
            if bound > upper:
                status = "rejected"
            else:
                status = "time_limit"
                if bound > lower:
                    lower, used = bound, "ilp"
    if not exact and n > SUB_PART:
        sub = _subparts_bound(G, M, None if deadline is None
                              else time.perf_counter() + min(5.0, float(time_limit)))
        if sub > lower:
            lower, used = sub, "subparts"
    if not exact and status == "optimal":  # pragma: no cover - set only with exact
        status = "time_limit"
    if lower > upper:  # every bound above is proven; this would be a bug
        raise UnsoundBoundError(f"solve_exact: lower bound {lower} ({used}) above the I/O "
                                f"{upper} of a real schedule of a {n}-vertex part")
    if exact:
        upper = min(upper, lower)
    return PartResult(n, int(lower), exact, status, time.perf_counter() - start,
                      order or best_order, used, upper, ilp_status)


def _metis(G, nodes, nparts: int, seed: int, contiguous: bool) -> list:
    import pymetis

    idx = {v: i for i, v in enumerate(nodes)}
    adj = [[] for _ in nodes]
    for u, v in G.edges:
        adj[idx[u]].append(idx[v])
        adj[idx[v]].append(idx[u])
    opts = pymetis.Options(seed=seed, contig=bool(contiguous))
    _, membership = pymetis.part_graph(nparts, adjacency=adj, options=opts)
    return list(membership)


def partition(G, part_size: int, seed: int = 0, *, contiguous: bool = True) -> list[list]:
    """Split ``G`` into parts of at most ``part_size`` vertices.

    METIS (``pymetis``) on each weakly connected component of the undirected
    graph, with contiguous parts by default (each part connected, as in the
    paper; it matters: on the FFT ``l=11`` at ``M=4``, parts of 16 sum to 4263
    contiguous against 2410 not); over-full parts are then cut along a
    topological order.  Without ``pymetis``, chunks of a topological order.

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> parts = partition(fft(3), 8)
    >>> sorted(len(p) for p in parts)[-1] <= 8, sum(map(len, parts))
    (True, 32)
    """
    order = {v: i for i, v in enumerate(nx.topological_sort(G))}
    if len(order) <= part_size:
        return [sorted(G.nodes, key=order.get)]
    groups: list = []
    for comp in nx.weakly_connected_components(G):
        comp = sorted(comp, key=order.get)
        if len(comp) <= part_size:
            groups.append(comp)
            continue
        nparts = math.ceil(len(comp) / part_size)
        H = G.subgraph(comp)
        try:
            membership = _metis(H, comp, nparts, seed, contiguous)
        except ImportError:  # documented fallback: chunks of a topological order
            membership = [i // part_size for i in range(len(comp))]
        except Exception:  # noqa: BLE001 - METIS refused the contiguity request
            membership = _metis(H, comp, nparts, seed, False)
        byid: dict = {}
        for v, p in zip(comp, membership):
            byid.setdefault(p, []).append(v)  # kept in topological order
        groups.extend(byid.values())
    parts = []
    for g in groups:
        for a in range(0, len(g), part_size):
            parts.append(g[a:a + part_size])
    return parts


def butterfly_parts(l: int, levels: int = 3) -> list[list[int]]:
    """Split the FFT butterfly ``fft(l)`` into whole sub-butterflies.

    Levels are cut into bands of ``levels`` consecutive levels (the last band
    may be thinner); within the band starting at level ``a`` the edges flip
    bits ``a .. a + levels - 2``, so the indices that agree on every other bit
    span a ``2**(levels - 1)``-point butterfly of ``levels * 2**(levels - 1)``
    vertices.  All parts of a band are isomorphic (one ILP each band shape) and
    dense, so each forces more I/O than a min-cut part of the same size: with
    ``levels=3`` every part is ``fft(2)``, 12 vertices, 4 I/O at ``M = 4``.

    Examples
    --------
    >>> parts = butterfly_parts(2)
    >>> len(parts), sorted(parts[0])
    (1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    >>> [len(p) for p in butterfly_parts(3)]  # a band of 3 levels, then one of 1
    [12, 12, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    if isinstance(l, bool) or not isinstance(l, (int, np.integer)) or not 0 <= l <= 22:
        raise invalid("l", "butterfly_parts", "an int in [0, 22]", l)
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 1:
        raise invalid("levels", "butterfly_parts", "a positive int", levels)
    N = 2 ** l
    parts = []
    for a in range(0, l + 1, levels):
        w = min(levels, l + 1 - a)
        span = ((1 << (w - 1)) - 1) << a  # the bits flipped inside the band
        for base in range(N):
            if base & span:
                continue
            idx = [base | (x << a) for x in range(1 << (w - 1))]
            parts.append([j * N + i for j in range(a, a + w) for i in idx])
    return parts


def _key(H):
    with warnings.catch_warnings():  # networkx 3.5 notes that its hashes changed
        warnings.simplefilter("ignore", UserWarning)
        return (H.number_of_nodes(), H.number_of_edges(),
                nx.weisfeiler_lehman_graph_hash(H, iterations=3))


def _relabelled(G, part):
    """``G[part]`` on vertices ``0..len(part)-1`` (in the part's order), no graph attributes."""
    pos = {v: i for i, v in enumerate(part)}
    H = nx.DiGraph()
    H.add_nodes_from(range(len(part)))
    H.add_edges_from((pos[u], pos[v]) for u, v in G.subgraph(part).edges)
    return H


def _solve_task(task):
    """Worker of :func:`ilp_bound`: one distinct part, as plain data."""
    n, edges, M, time_limit, solver = task
    H = nx.DiGraph()
    H.add_nodes_from(range(n))
    H.add_edges_from(edges)
    return solve_exact(H, M, time_limit, solver=solver)


def ilp_bound(G, M: int, part_size: int | None = None, time_limit: float | None = None,
              *, parts: list | None = None, seed: int = 0, solver: str = "auto",
              processes: int | None = None, client=None, progress: bool = False,
              check: bool = True, callback: Callable | None = None) -> ILPBound:
    """ILP lower bound on the non-compulsory I/O of ``G`` (exact when unpartitioned).

    Parameters
    ----------
    G : networkx.DiGraph
        A computation graph.
    M : int
        Fast memory size, at least the largest in-degree + 1.
    part_size : int, optional
        Solve parts of at most this many vertices and sum them (default: the
        whole graph as one part).
    time_limit : float, optional
        Seconds per part; a part that hits it contributes its best proven bound.
    parts : list of lists, optional
        An explicit partition of the vertices (e.g. :func:`butterfly_parts`),
        used instead of METIS; any partition gives a valid bound.
    seed : int
        METIS seed.
    solver : {"auto", "ilp", "search"}
        How each part is solved (:data:`SOLVERS`); every one is certified.
    processes : int, optional
        Worker processes for the distinct parts (default: 1 when fewer than
        32 distinct parts, else the usable cores).
    client : dask.distributed.Client, optional
        Solve the parts on this cluster instead.
    progress : bool
        Show a ``tqdm`` bar over the distinct parts.
    check : bool
        Check the result against the best Belady schedule of ``G`` and raise
        :class:`~dawnlab.iobounds.model.UnsoundBoundError` if it were above.
    callback : callable, optional
        ``callback(done, total, value_so_far)`` as parts finish (isomorphic
        copies count with their representative).

    Returns
    -------
    ILPBound
        On ``KeyboardInterrupt`` the parts not finished contribute 0 (status
        ``"interrupted"``) and the finished ones are kept: still a lower bound.

    Raises
    ------
    GraphError, InvalidArgument
        On a bad graph, ``M``, ``part_size``, ``time_limit``, ``solver`` or
        ``parts`` (which must cover every vertex exactly once).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> r = ilp_bound(fft(2), 3)
    >>> r.value, r.exact, r.compulsory, r.value <= r.upper
    (6, True, 8, True)
    >>> r = ilp_bound(fft(3), 4, part_size=12)
    >>> r.value <= r.upper, r.statuses
    (True, {'optimal': 3})
    """
    G = check_graph(G, "ilp_bound")
    M = check_memory(G, M, "ilp_bound")
    n = G.number_of_nodes()
    if part_size is not None and (isinstance(part_size, bool)
                                  or not isinstance(part_size, (int, np.integer)) or part_size < 1):
        raise invalid("part_size", "ilp_bound", "a positive int or None", part_size)
    if time_limit is not None and (isinstance(time_limit, bool)
                                   or not isinstance(time_limit, (int, float)) or time_limit <= 0):
        raise invalid("time_limit", "ilp_bound", "a positive number of seconds or None", time_limit)
    if solver not in SOLVERS:
        raise invalid("solver", "ilp_bound", f"one of {SOLVERS}", solver)
    start = time.perf_counter()
    if parts is not None:
        parts = [list(p) for p in parts]
        flat = [v for p in parts for v in p]
        if len(flat) != n or set(flat) != set(G.nodes) or any(not p for p in parts):
            raise invalid("parts", "ilp_bound", "non-empty lists covering every vertex of G "
                          "exactly once", f"{len(parts)} parts with {len(flat)} vertices "
                          f"({len(set(flat))} distinct) for {n} vertices")
    elif part_size is None or part_size >= n:
        parts = [list(nx.topological_sort(G))]
    else:
        parts = partition(G, int(part_size), seed)
    # group isomorphic parts: each distinct one is solved once
    whole = len(parts) == 1
    reps: dict = {}
    tasks, task_of = [], []
    for part in parts:
        H = G if whole else _relabelled(G, part)
        key = _key(H)
        hit = next((t for t, rep in reps.get(key, []) if nx.is_isomorphic(rep, H)), None)
        if hit is None:
            hit = len(tasks)
            reps.setdefault(key, []).append((hit, H))
            tasks.append(H)
        task_of.append(hit)
    copies = [0] * len(tasks)
    for t in task_of:
        copies[t] += 1
    if processes is None:
        processes = 1 if len(tasks) < 32 else None
    solved: dict = {}
    done, total = 0, 0
    try:
        if whole:
            solved[0] = solve_exact(G, M, time_limit, solver=solver)
            done, total = 1, solved[0].value
            if callback is not None:
                callback(done, 1, total)
        else:
            from dawnlab.parallel import imap
            items = [(H.number_of_nodes(), list(H.edges), M, time_limit, solver) for H in tasks]
            for t, res in imap(_solve_task, items, client=client, processes=processes,
                               progress=progress, desc="ILP parts"):
                solved[t] = res
                done += copies[t]
                total += res.value * copies[t]
                if callback is not None:
                    callback(done, len(parts), total)
    except KeyboardInterrupt:
        pass  # keep what finished: the other parts contribute 0
    results, seen = [], set()
    for part, t in zip(parts, task_of):
        res = solved.get(t)
        if res is None:
            res = PartResult(len(part), 0, False, "interrupted", 0.0, [], "none")
        elif t in seen:
            res = PartResult(res.size, res.value, res.exact, "cached", 0.0, [], res.solver,
                             res.upper, res.ilp_status)
        seen.add(t)
        results.append(res)
    value = int(sum(r.value for r in results))
    exact = all(r.exact for r in results)
    order = results[0].order if whole else []
    upper = None
    if check:
        from dawnlab.iobounds.schedule import belady_best
        upper = belady_best(G, M)[0]
        if whole and results[0].upper is not None:
            upper = min(upper, results[0].upper)
        if value > upper:
            raise UnsoundBoundError(f"ilp_bound: the lower bound {value} is above the I/O {upper} "
                                    f"of a real schedule of the same {n}-vertex graph at M={M}; "
                                    f"part statuses {ILPBound(0, False, results, 0).statuses}")
    return ILPBound(value=value, exact=exact, parts=results, compulsory=compulsory_io(G),
                    order=order, seconds=time.perf_counter() - start, upper=upper)
