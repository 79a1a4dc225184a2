"""Upper bounds from real schedules: simulate an evaluation order with
Belady's eviction and count its I/O.

The model is that of :mod:`dawnlab.iobounds.model` (arXiv 1909.09791,
Section 2).  For a fixed order, the simulator computes the vertices one by
one; a predecessor not in fast memory is loaded (1 I/O); when fast memory is
full the value whose next use is furthest in the future is evicted (Belady),
costing a store (1 I/O) the first time a still-needed value leaves.  Values
with no later use leave for free.  Every simulated schedule is a legal one, so
its I/O is an upper bound on the optimum; :func:`schedule_io` tries several
orders (topological, level-by-level, depth-first post-order from the outputs,
the locality orders of :mod:`dawnlab.iobounds.orders`, an optimal order of the
exact search on small graphs, or a given one) and keeps the best.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from dawnlab.errors import invalid
from dawnlab.iobounds.model import check_graph, check_memory, compulsory_io

__all__ = ["Schedule", "simulate", "schedule_io", "candidate_orders", "belady_best"]


@dataclass
class Schedule:
    """An evaluation order and its I/O under Belady's eviction.

    Attributes
    ----------
    io : int
        Stores + loads (non-compulsory).
    order : list
        The evaluation order.
    name : str
        Which order it is (``"topological"``, ``"dfs"``, ``"levels"``, ``"given"``...).
    compulsory : int
        ``#sources + #sinks``.
    tried : dict
        I/O of every order tried, by name.
    """

    io: int
    order: list
    name: str
    compulsory: int
    tried: dict = field(default_factory=dict)


def simulate(G, order, M: int) -> int:
    """I/O (stores + loads) of evaluating ``G`` in ``order`` with Belady's eviction.

    Examples
    --------
    >>> G = nx.DiGraph([(0, 2), (1, 2), (0, 3), (2, 3)])
    >>> simulate(G, [0, 1, 2, 3], 3), simulate(G, [0, 1, 2, 3], 4)
    (0, 0)
    >>> simulate(nx.path_graph(4, create_using=nx.DiGraph), [0, 1, 2, 3], 2)
    0
    """
    M = check_memory(G, M, "simulate")
    pos = {v: i for i, v in enumerate(order)}
    if len(pos) != G.number_of_nodes() or set(pos) != set(G.nodes):
        raise invalid("order", "simulate", "a permutation of the vertices of G",
                      f"a sequence of {len(order)} items")
    uses = {}
    for v in G.nodes:
        uses[v] = sorted(pos[s] for s in G.successors(v))
    nxt = {v: 0 for v in G.nodes}  # index into uses[v] of the next use
    INF = float("inf")

    def next_use(v):
        i = nxt[v]
        return uses[v][i] if i < len(uses[v]) else INF

    fast, stored = set(), set()
    io = 0

    def make_room(pinned):
        nonlocal io
        if len(fast) < M:
            return
        victim = max((u for u in fast if u not in pinned), key=next_use)
        if next_use(victim) < INF and victim not in stored:
            io += 1
            stored.add(victim)
        fast.discard(victim)

    for t, v in enumerate(order):
        preds = list(G.predecessors(v))
        for p in preds:
            if pos[p] >= t:
                raise invalid("order", "simulate", "a topological order of G",
                              f"{p!r} after its successor {v!r}")
        pinned = set(preds)
        for p in preds:
            if p not in fast:
                make_room(pinned)
                fast.add(p)
                io += 1  # a load; p was stored when it left
        make_room(pinned)
        fast.add(v)
        for p in preds:
            nxt[p] += 1
    return io


def _dfs_order(G):
    order, seen = [], set()
    sinks = [v for v in nx.topological_sort(G) if G.out_degree(v) == 0]
    for s in sinks:
        stack = [(s, iter(G.predecessors(s)))]
        if s in seen:
            continue
        seen.add(s)
        while stack:
            v, it = stack[-1]
            for p in it:
                if p not in seen:
                    seen.add(p)
                    stack.append((p, iter(G.predecessors(p))))
                    break
            else:
                stack.pop()
                order.append(v)
    return order


def candidate_orders(G, M: int | None = None) -> dict:
    """Evaluation orders tried by :func:`schedule_io`, by name.

    The topological, level-by-level and depth-first orders, the blocked orders
    of the graph's family and, given ``M``, the locality-greedy order
    (:mod:`dawnlab.iobounds.orders`).

    Examples
    --------
    >>> sorted(candidate_orders(nx.DiGraph([(0, 1)])))
    ['dfs', 'levels', 'topological']
    >>> from dawnlab.iobounds.graphs import fft
    >>> "band3" in candidate_orders(fft(3)), "greedy" in candidate_orders(fft(3), 4)
    (True, True)
    """
    from dawnlab.iobounds.orders import family_orders

    out = {"topological": list(nx.topological_sort(G)),
           "levels": [v for gen in nx.topological_generations(G) for v in gen],
           "dfs": _dfs_order(G)}
    out.update(family_orders(G, M))
    return out


def belady_best(G, M: int) -> tuple[int, list]:
    """The least Belady I/O over :func:`candidate_orders` and that order (no validation).

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> belady_best(fft(2), 4)[0]
    4
    """
    best = None
    for o in candidate_orders(G, M).values():
        io = simulate(G, o, M)
        if best is None or io < best[0]:
            best = (io, o)
    return best


#: Largest graph on which :func:`schedule_io` also tries an optimal order.
EXACT_ORDER_MAX = 16


def schedule_io(G, M: int, order=None, *, exact_order: bool | None = None,
                improve: float = 0.0, seed: int = 0,
                ilp_order: bool | None = None) -> Schedule:
    """The best schedule found for ``G`` with fast memory ``M`` (or ``order``'s).

    Parameters
    ----------
    G : networkx.DiGraph
        A computation graph.
    M : int
        Fast memory size, at least the largest in-degree + 1.
    order : sequence, optional
        Evaluate this order only; else try :func:`candidate_orders`.
    exact_order : bool, optional
        Also try an optimal order from the exact search of
        :mod:`dawnlab.iobounds.search` (default: when ``G`` has at most
        :data:`EXACT_ORDER_MAX` vertices; the search is given a state budget,
        and a search that runs out adds nothing).
    improve : float
        Seconds of :func:`~dawnlab.iobounds.orders.local_search` from the best
        order found (``"local"`` in ``tried``; default none).
    seed : int
        Seed of the local search.
    ilp_order : bool, optional
        Former name of ``exact_order``.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> s = schedule_io(fft(2), 4)
    >>> s.io, s.compulsory, s.tried["optimal"], s.tried["topological"]
    (4, 8, 4, 6)
    """
    G = check_graph(G, "schedule_io")
    M = check_memory(G, M, "schedule_io")
    if exact_order is None:
        exact_order = ilp_order
    if not (isinstance(improve, (int, float)) and not isinstance(improve, bool) and improve >= 0):
        raise invalid("improve", "schedule_io", "a number of seconds >= 0", improve)
    orders = {"given": list(order)} if order is not None else candidate_orders(G, M)
    if order is None and (exact_order if exact_order is not None
                          else G.number_of_nodes() <= EXACT_ORDER_MAX):
        from dawnlab.iobounds.search import search_io
        found = search_io(G, M, max_states=200_000)
        if found.exact and len(found.order) == G.number_of_nodes():
            orders["optimal"] = found.order
    tried = {name: simulate(G, o, M) for name, o in orders.items()}
    best = min(tried, key=tried.get)
    if improve > 0 and order is None and tried[best] > 0:
        from dawnlab.iobounds.orders import local_search
        tried["local"], orders["local"] = local_search(G, orders[best], M, improve, seed=seed)
        if tried["local"] < tried[best]:
            best = "local"
    return Schedule(io=tried[best], order=orders[best], name=best,
                    compulsory=compulsory_io(G), tried=tried)
