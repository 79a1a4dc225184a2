"""The ILP lower bound: the optimal evaluation order as a 0/1 program
(Jain and Zaharia, arXiv 1909.09791, Section 6), in cvxpy, solved by HiGHS.

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

**Partitioned bound.**  For large graphs the vertices are split into parts of
at most ``part_size`` (METIS through ``pymetis`` on the undirected graph,
over-full parts split again along a topological order).  Each induced sub-DAG
``G[P]`` is solved alone and the optima are summed.  This is sound because
there is no recomputation: take an optimal schedule of ``G`` and keep only the
steps that compute vertices of ``P`` and the I/O of values of ``P``.  Fast
memory then holds a subset of its values (at most ``M``), each ``P`` vertex is
computed once with its ``P`` predecessors present, and a ``P`` value evicted
while ``G[P]`` still needs it must have been stored -- so this is a legal
schedule of ``G[P]`` whose I/O is at most the I/O that the schedule of ``G``
spends on values of ``P``.  The parts are disjoint, so the sum of the parts'
optima is at most the optimum of ``G``.  (With recomputation a vertex could be
computed twice and the restriction would not be a schedule of ``G[P]``.)  A
part that hits its time limit contributes HiGHS's proven dual bound (rounded
up, the objective being integral), which is still a lower bound on its
optimum; isomorphic parts are solved once.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import numpy as np

from dawnlab.errors import SolverError, invalid
from dawnlab.iobounds.model import check_graph, check_memory, compulsory_io

__all__ = ["ILPBound", "PartResult", "ilp_bound", "solve_exact", "partition", "butterfly_parts"]


@dataclass
class PartResult:
    """One part of a partitioned ILP bound.

    Attributes
    ----------
    size : int
        Vertices in the part.
    value : int
        Its optimum, or HiGHS's proven dual bound if not ``exact``.
    exact : bool
        Whether the part was solved to optimality.
    status : str
        cvxpy's status (``"optimal"``, ``"user_limit"``...) or ``"cached"``.
    seconds : float
        Solve time.
    order : list
        The part's best evaluation order found (empty if none).
    """

    size: int
    value: int
    exact: bool
    status: str
    seconds: float
    order: list = field(default_factory=list, repr=False)


@dataclass
class ILPBound:
    """The (partitioned) ILP lower bound.

    Attributes
    ----------
    value : int
        Lower bound on non-compulsory I/O (the exact optimum if ``exact`` and
        there is one part).
    exact : bool
        Every part solved to optimality.
    parts : list of PartResult
        Per-part results.
    compulsory : int
        ``#sources + #sinks``.
    order : list
        The optimal order when the whole graph was one part, else ``[]``.
    seconds : float
        Wall time.
    """

    value: int
    exact: bool
    parts: list
    compulsory: int
    order: list = field(default_factory=list, repr=False)
    seconds: float = 0.0


def solve_exact(G, M: int, time_limit: float | None = None) -> PartResult:
    """Solve the evaluation-order ILP of ``G`` (no validation, any size).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> [solve_exact(fft(2), M).value for M in (3, 4, 5)]
    [6, 4, 2]
    """
    import cvxpy as cp

    nodes = list(nx.topological_sort(G))
    n = len(nodes)
    idx = {v: i for i, v in enumerate(nodes)}
    start = time.perf_counter()
    if G.number_of_edges() == 0:
        return PartResult(n, 0, True, "optimal", 0.0, nodes)
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
    for u, v in G.edges:
        cons.append(c[idx[v], :] <= f[idx[u], :])
    # later[i, t] = sum_{t' >= t} c[i, t']  (computed at t or later)
    later = 1 - done
    for i, v in enumerate(nodes):
        succ = [idx[w] for w in G.successors(v)]
        if not succ:
            cons += [ld[i, :] == 0, s[i] == 0, f[i, :] <= c[i, :]]
        else:
            cons.append(ld[i, :] <= s[i])
            # tightening, valid for some optimal schedule: a value stays only while a
            # successor is still to be computed, and is loaded only at the step of a use
            cons.append(f[i, :] <= sum(later[j, :] for j in succ))
            cons.append(ld[i, :] <= sum(c[j, :] for j in succ))
    prob = cp.Problem(cp.Minimize(cp.sum(s) + cp.sum(ld)), cons)
    opts = {} if time_limit is None else {"time_limit": float(time_limit)}
    try:
        prob.solve(solver=cp.HIGHS, **opts)
    except cp.error.SolverError:
        prob_status = "solver_error"
    else:
        prob_status = prob.status
    seconds = time.perf_counter() - start
    info = (prob.solver_stats.extra_stats if prob.solver_stats is not None else None)
    dual = getattr(info, "mip_dual_bound", None)
    order = []
    if c.value is not None:
        order = [nodes[i] for i in np.argmax(c.value, axis=0)]
    if prob_status == "optimal":
        return PartResult(n, int(round(prob.value)), True, prob_status, seconds, order)
    if dual is not None and np.isfinite(dual):
        return PartResult(n, max(0, math.ceil(dual - 1e-6)), False, prob_status, seconds, order)
    if prob_status in ("user_limit", "optimal_inaccurate", "solver_error", "infeasible_inaccurate"):
        # no usable dual bound: 0 is always valid
        return PartResult(n, 0, False, prob_status, seconds, order)
    raise SolverError(f"HiGHS returned status {prob_status!r} on a part of {n} vertices; "
                      "the evaluation-order ILP is always feasible, so this is a solver failure.")


def partition(G, part_size: int, seed: int = 0) -> list[list]:
    """Split ``G`` into parts of at most ``part_size`` vertices (METIS, then
    over-full parts cut along a topological order).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> parts = partition(fft(3), 8)
    >>> sorted(len(p) for p in parts)[-1] <= 8, sum(map(len, parts))
    (True, 32)
    """
    nodes = list(nx.topological_sort(G))
    n = len(nodes)
    if n <= part_size:
        return [nodes]
    idx = {v: i for i, v in enumerate(nodes)}
    nparts = math.ceil(n / part_size)
    try:
        import pymetis
        adj = [[] for _ in range(n)]
        for u, v in G.edges:
            adj[idx[u]].append(idx[v])
            adj[idx[v]].append(idx[u])
        opts = pymetis.Options(seed=seed, contig=False)
        _, membership = pymetis.part_graph(nparts, adjacency=adj, options=opts)
    except ImportError:  # documented fallback: chunks of a topological order
        membership = [i // part_size for i in range(n)]
    groups: dict = {}
    for i, p in enumerate(membership):
        groups.setdefault(p, []).append(nodes[i])  # kept in topological order
    parts = []
    for g in groups.values():
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
    return (H.number_of_nodes(), H.number_of_edges(),
            nx.weisfeiler_lehman_graph_hash(H, iterations=3))


def ilp_bound(G, M: int, part_size: int | None = None, time_limit: float | None = None,
              *, parts: list | None = None, seed: int = 0,
              callback: Callable | None = None) -> ILPBound:
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
        Seconds per part; a part that hits it contributes its dual bound.
    parts : list of lists, optional
        An explicit partition of the vertices (e.g. :func:`butterfly_parts`),
        used instead of METIS; any partition gives a valid bound.
    seed : int
        METIS seed.
    callback : callable, optional
        ``callback(done, total, value_so_far)`` after each part.

    Returns
    -------
    ILPBound

    Raises
    ------
    GraphError, InvalidArgument
        On a bad graph, ``M``, ``part_size``, ``time_limit`` or ``parts``
        (which must cover every vertex exactly once).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> r = ilp_bound(fft(2), 3)
    >>> r.value, r.exact, r.compulsory
    (6, True, 8)
    """
    G = check_graph(G, "ilp_bound")
    M = check_memory(G, M, "ilp_bound")
    n = G.number_of_nodes()
    if part_size is not None and (isinstance(part_size, bool)
                                  or not isinstance(part_size, (int, np.integer)) or part_size < 1):
        raise invalid("part_size", "ilp_bound", "a positive int or None", part_size)
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise invalid("time_limit", "ilp_bound", "a positive number of seconds or None", time_limit)
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
    cache: dict = {}
    results = []
    total = 0
    for j, part in enumerate(parts):
        H = nx.convert_node_labels_to_integers(G.subgraph(part), ordering="sorted") \
            if len(parts) > 1 else G
        key = _key(H) if len(parts) > 1 else None
        hit = None
        for rep, res in cache.get(key, []):
            if res.exact and nx.is_isomorphic(rep, H):
                hit = res
                break
        if hit is not None:
            res = PartResult(hit.size, hit.value, True, "cached", 0.0)
        else:
            res = solve_exact(H, M, time_limit)
            if key is not None:
                cache.setdefault(key, []).append((H, res))
        results.append(res)
        total += res.value
        if callback is not None:
            callback(j + 1, len(parts), total)
    exact = all(r.exact for r in results)
    order = results[0].order if len(parts) == 1 else []
    return ILPBound(value=int(total), exact=exact, parts=results, compulsory=compulsory_io(G),
                    order=order, seconds=time.perf_counter() - start)
