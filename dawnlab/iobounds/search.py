"""The exact optimum of the I/O model by shortest-path search over pebble states.

A second, independent solver of the problem the ILP of :mod:`dawnlab.iobounds.ilp`
states (Jain and Zaharia, arXiv 1909.09791, Section 6: the optimal evaluation
order without recomputation, in the model of Section 2).  It certifies the
ILP's values on small graphs and solves the small parts of the partitioned
bound, where it is much faster than a MIP solver.

A state is ``(C, F, U)``: the computed vertices ``C`` (closed under
predecessors), the *live* values in fast memory ``F`` (computed, with a
successor still to compute), and ``U``, the values of ``F`` never stored.  A
live value outside ``F`` has been stored (it left fast memory while still
needed).  Dead values are dropped at once, for free.  Three dominance facts
keep the search small, each valid because it turns any schedule into one that
is no worse:

* loads happen only at the step that uses the value (loading earlier only
  fills fast memory sooner);
* evictions happen only when a computation needs room (keeping a value longer
  costs nothing), and a never-stored live value pays its store when evicted;
* a dead value is never kept.

So a move computes one vertex ``v`` whose predecessors are computed: its
missing predecessors are loaded (1 I/O each), and if fast memory would hold
more than ``M`` values, some values of ``F`` that ``v`` does not read are
evicted (1 I/O each for those never stored).  Dijkstra's algorithm over these
moves returns the optimum; it runs as A* with the number of live values
outside fast memory as its heuristic (each must be loaded at least once more;
the heuristic is consistent: a load lowers it by one at a cost of one, an
eviction raises it by one at a cost of at least zero), over a bucket queue.
If it stops early (time or state budget), the bucket it was working on is
still a proven lower bound: every state of smaller cost-plus-heuristic has
been expanded and none completed the graph.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field

import networkx as nx

from dawnlab.errors import invalid
from dawnlab.iobounds.model import check_graph, check_memory

__all__ = ["SearchResult", "optimal_io", "order_io", "search_io"]


@dataclass
class SearchResult:
    """Outcome of :func:`search_io`.

    Attributes
    ----------
    value : int
        The optimal non-compulsory I/O if ``exact``, else a proven lower bound
        on it.
    exact : bool
        The search completed.
    order : list
        An optimal evaluation order if ``exact``, else ``[]``.
    states : int
        States expanded.
    seconds : float
        Wall time.
    status : str
        ``"optimal"``, ``"time_limit"`` or ``"state_limit"``.
    """

    value: int
    exact: bool
    order: list = field(default_factory=list, repr=False)
    states: int = 0
    seconds: float = 0.0
    status: str = "optimal"


def search_io(G, M: int, *, time_limit: float | None = None,
              max_states: int | None = None, order=None) -> SearchResult:
    """Optimal non-compulsory I/O of ``G`` (no validation; see :func:`optimal_io`).

    With ``order`` (a topological order of ``G``), the vertices are computed in
    that order and only the loads, stores and evictions are chosen: the
    optimal I/O of that order.

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> [search_io(fft(2), M).value for M in (3, 4, 5)]
    [6, 4, 2]
    """
    start = time.perf_counter()
    nodes = list(nx.topological_sort(G))
    n = len(nodes)
    idx = {v: i for i, v in enumerate(nodes)}
    pred = [0] * n
    succ = [0] * n
    for u, v in G.edges:
        pred[idx[v]] |= 1 << idx[u]
        succ[idx[u]] |= 1 << idx[v]
    preds_list = [[j for j in range(n) if pred[i] >> j & 1] for i in range(n)]
    seq = None if order is None else [idx[v] for v in order]
    everything = range(n)
    full = (1 << n) - 1
    popcount = int.bit_count
    start_state = (0, 0, 0)
    dist = {start_state: 0}
    live_of = {0: 0}  # the live values (computed, a successor left) of each computed set
    parent: dict = {start_state: None}
    buckets: list[list] = [[start_state]]
    cost = 0  # the bucket: cost so far + the heuristic (live values outside fast memory)
    expanded = 0
    status = "optimal"
    goal = None
    deadline = None if time_limit is None else start + float(time_limit)
    while cost < len(buckets):
        bucket = buckets[cost]
        while bucket:
            state = bucket.pop()
            C, F, U = state
            g = dist[state]
            live = live_of[C]
            if g + popcount(live & ~F) != cost:
                continue  # reached later at a lower cost
            if C == full:
                goal = state
                break
            expanded += 1
            if (expanded & 1023) == 0:
                if deadline is not None and time.perf_counter() > deadline:
                    status = "time_limit"
                    break
                if max_states is not None and expanded > max_states:
                    status = "state_limit"
                    break
            size = popcount(F)
            rest = ~C
            for v in (everything if seq is None else (seq[popcount(C)],)):
                bv = 1 << v
                if C & bv or pred[v] & rest:
                    continue
                pv = pred[v]
                missing = pv & ~F
                base = popcount(missing)
                excess = size + base + 1 - M
                C2 = C | bv
                rest2 = ~C2
                # values that die when v is computed: v's predecessors with no
                # successor left, and v itself if it is a sink
                dead = 0
                for j in preds_list[v]:
                    if not succ[j] & rest2:
                        dead |= 1 << j
                if not succ[v]:
                    dead |= bv
                live2 = (live | bv) & ~dead
                live_of[C2] = live2
                if excess <= 0:
                    choices = (0,)
                else:
                    others = F & ~pv
                    cand = []
                    while others:
                        low = others & -others
                        cand.append(low)
                        others ^= low
                    choices = [sum(c) for c in itertools.combinations(cand, excess)]
                for victims in choices:
                    step = base + popcount(victims & U)
                    F2 = ((F & ~victims) | missing | bv) & ~dead
                    U2 = ((U & ~victims) | bv) & ~dead
                    nxt = (C2, F2, U2)
                    d = g + step
                    if d < dist.get(nxt, 1 << 60):
                        dist[nxt] = d
                        parent[nxt] = (state, v)
                        key = d + popcount(live2 & ~F2)
                        while len(buckets) <= key:
                            buckets.append([])
                        buckets[key].append(nxt)
        if goal is not None or status != "optimal":
            break
        cost += 1
    seconds = time.perf_counter() - start
    if goal is None:
        if status == "optimal":  # pragma: no cover - every DAG has a schedule
            raise AssertionError("search exhausted without completing the graph")
        return SearchResult(cost, False, [], expanded, seconds, status)
    order = []
    s = goal
    while parent[s] is not None:
        s, v = parent[s]
        order.append(nodes[v])
    order.reverse()
    return SearchResult(cost, True, order, expanded, seconds, "optimal")


def optimal_io(G, M: int, *, time_limit: float | None = None,
               max_states: int | None = None) -> SearchResult:
    """The exact optimal non-compulsory I/O of ``G`` by state-space search.

    Parameters
    ----------
    G : networkx.DiGraph
        A computation graph.  Practical up to a few tens of vertices (the
        number of states grows with the graph's width).
    M : int
        Fast memory size, at least the largest in-degree + 1.
    time_limit : float, optional
        Stop after this many seconds; the result is then a proven lower bound.
    max_states : int, optional
        Stop after expanding this many states (same).

    Returns
    -------
    SearchResult

    Raises
    ------
    GraphError, InvalidArgument
        On a bad graph, ``M``, ``time_limit`` or ``max_states``.

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> r = optimal_io(fft(2), 4)
    >>> r.value, r.exact, len(r.order)
    (4, True, 12)
    """
    G = check_graph(G, "optimal_io")
    M = check_memory(G, M, "optimal_io")
    if time_limit is not None and (isinstance(time_limit, bool)
                                   or not isinstance(time_limit, (int, float)) or time_limit <= 0):
        raise invalid("time_limit", "optimal_io", "a positive number of seconds or None",
                      time_limit)
    if max_states is not None and (isinstance(max_states, bool)
                                   or not isinstance(max_states, int) or max_states < 1):
        raise invalid("max_states", "optimal_io", "a positive int or None", max_states)
    return search_io(G, M, time_limit=time_limit, max_states=max_states)


def order_io(G, order, M: int) -> int:
    """The least I/O of evaluating ``G`` in ``order``, with the best choice of
    evictions (exact, unlike Belady's rule, which ignores that evicting a value
    already stored costs one load less).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> import networkx as nx
    >>> G = fft(2)
    >>> order_io(G, list(nx.topological_sort(G)), 4) >= optimal_io(G, 4).value
    True
    """
    G = check_graph(G, "order_io")
    M = check_memory(G, M, "order_io")
    order = list(order)
    pos = {v: i for i, v in enumerate(order)}
    if len(pos) != G.number_of_nodes() or len(order) != len(pos) or set(pos) != set(G.nodes):
        raise invalid("order", "order_io", "a permutation of the vertices of G",
                      f"a sequence of {len(order)} items")
    bad = next(((u, v) for u, v in G.edges if pos[u] > pos[v]), None)
    if bad is not None:
        raise invalid("order", "order_io", "a topological order of G",
                      f"{bad[0]!r} after its successor {bad[1]!r}")
    return search_io(G, M, order=order).value
