"""Evaluation orders that respect locality, and a local search over orders.

Upper bounds on the I/O of Jain and Zaharia's model (arXiv 1909.09791,
Section 2) come from real schedules: an evaluation order simulated with
Belady's eviction (:func:`dawnlab.iobounds.schedule.simulate`).  A plain
topological order streams through the whole graph level by level and pays a
load and a store for nearly every edge.  The orders here keep data in fast
memory between uses:

* :func:`fft_band_orders`: the butterfly cut into bands of ``b`` levels and
  each band computed sub-butterfly by sub-butterfly (the blocked FFT; ``b=3``
  is the order that computes each 4-point butterfly in turn);
* :func:`stencil_tile_orders`: skewed (parallelogram) space-time tiles of a
  Jacobi stencil, each tile swept in time;
* :func:`matmul_tile_orders`: the products and sums of ``C = AB`` tile by tile
  over the outputs, inner products finished one at a time;
* :func:`greedy_order`: for any DAG, the next vertex is the ready one with the
  most inputs among the last ``M`` values touched (sources computed just in
  time);
* :func:`local_search`: moves of single vertices within their legal range,
  kept when Belady's I/O does not grow (time-limited, seeded).

Every order returned is a topological order, so every I/O printed is that of a
legal schedule.
"""

from __future__ import annotations

import heapq
import time
from collections import OrderedDict

import networkx as nx
import numpy as np

__all__ = ["fft_band_orders", "stencil_tile_orders", "matmul_tile_orders", "greedy_order",
           "family_orders", "local_search"]


def _dfs_within(G, part):
    """Post-order from the part's sinks over the part's own edges (part kept if trivial)."""
    H = G.subgraph(part)
    order, seen = [], set()
    rank = {v: i for i, v in enumerate(part)}
    for s in sorted((v for v in part if not any(w in rank for w in H.successors(v))),
                    key=rank.get):
        if s in seen:
            continue
        seen.add(s)
        stack = [(s, iter(sorted(H.predecessors(s), key=rank.get)))]
        while stack:
            v, it = stack[-1]
            for p in it:
                if p not in seen:
                    seen.add(p)
                    stack.append((p, iter(sorted(H.predecessors(p), key=rank.get))))
                    break
            else:
                stack.pop()
                order.append(v)
    return order


def fft_band_orders(G) -> dict:
    """Blocked orders of ``graphs.fft(l)`` (empty for other graphs).

    For each band height ``b`` in 2..6, the levels are cut into bands of ``b``
    (:func:`~dawnlab.iobounds.ilp.butterfly_parts`) and the sub-butterflies of
    each band are computed in turn, level by level (``"band{b}"``) or
    depth-first from their outputs (``"band{b}-dfs"``).

    Examples
    --------
    >>> from dawnlab.iobounds import graphs, simulate
    >>> orders = fft_band_orders(graphs.fft(4))
    >>> sorted(orders)[:3]
    ['band2', 'band2-dfs', 'band3']
    >>> all(sorted(o) == list(range(80)) for o in orders.values())
    True
    """
    from dawnlab.iobounds.ilp import butterfly_parts

    if G.graph.get("family") != "fft":
        return {}
    l = int(G.graph["l"])
    if G.number_of_nodes() != (l + 1) << l or G.number_of_edges() != l << (l + 1):
        return {}  # a subgraph that kept the attributes
    out = {}
    for b in range(2, min(l + 1, 6) + 1):
        parts = butterfly_parts(l, b)
        out[f"band{b}"] = [v for p in parts for v in p]
        out[f"band{b}-dfs"] = [v for p in parts for v in _dfs_within(G, p)]
    return out


def stencil_tile_orders(G) -> dict:
    """Skewed space-time tiles of ``graphs.stencil`` (empty for other graphs).

    Vertex ``(t, i)`` (or ``(t, i, j)``) goes to tile ``(i + t) // w`` (per
    axis); tiles are taken in order and each is swept in time.  A value reads
    ``t - 1`` at offsets -1, 0, +1, whose skewed coordinate is at most its own,
    so the order is topological.  Widths ``w`` are the powers of 2 up to ``n``.

    Examples
    --------
    >>> from dawnlab.iobounds import graphs
    >>> sorted(stencil_tile_orders(graphs.stencil(8, 4)))
    ['tile1', 'tile2', 'tile4', 'tile8']
    """
    if G.graph.get("family") != "stencil":
        return {}
    n = int(G.graph["n"])
    if G.number_of_nodes() != (G.graph["steps"] + 1) * n ** G.graph["dim"]:
        return {}  # a subgraph that kept the attributes
    out = {}
    w = 1
    while w <= n:
        def key(v, w=w):
            t, *c = v
            return (*((x + t) // w for x in c), t, *c)
        out[f"tile{w}"] = sorted(G.nodes, key=key)
        w *= 2
    return out


def matmul_tile_orders(G) -> dict:
    """Orders of ``graphs.matmul(n)`` over square tiles of outputs (empty for others).

    For a tile side ``b``, the outputs ``C[i, j]`` are taken tile by tile
    (row-major inside a tile); each output's inputs are computed just before
    its products ``P[i, j, k]`` (in ``k`` order), then ``C[i, j]``.

    Examples
    --------
    >>> from dawnlab.iobounds import graphs
    >>> G = graphs.matmul(4)
    >>> sorted(matmul_tile_orders(G))
    ['tile1', 'tile2', 'tile4']
    """
    if G.graph.get("family") != "matmul":
        return {}
    n = int(G.graph["n"])
    if G.number_of_nodes() != n ** 3 + 3 * n * n:
        return {}  # a subgraph that kept the attributes
    out = {}
    b = 1
    while b <= n:
        order, seen = [], set()
        for I in range(0, n, b):
            for J in range(0, n, b):
                for i in range(I, min(I + b, n)):
                    for j in range(J, min(J + b, n)):
                        for k in range(n):
                            for x in (("A", i, k), ("B", k, j)):
                                if x not in seen:
                                    seen.add(x)
                                    order.append(x)
                            order.append(("P", i, j, k))
                        order.append(("C", i, j))
        out[f"tile{b}"] = order
        b *= 2
    return out


def greedy_order(G, M: int) -> list:
    """A locality-greedy topological order of any DAG.

    Keeps the last ``M`` values touched (LRU, a stand-in for fast memory).  The
    next vertex is, among the ready ones (every non-source input computed)
    that read a remembered value, the one reading the most remembered values,
    then the one finishing the most values' last uses, then the earliest in a
    topological order; with no such vertex, the earliest ready one.  Its
    uncomputed source inputs are placed just before it.

    Examples
    --------
    >>> from dawnlab.iobounds import graphs
    >>> G = graphs.fft(3)
    >>> o = greedy_order(G, 4)
    >>> pos = {v: i for i, v in enumerate(o)}
    >>> len(o) == 32 and all(pos[u] < pos[v] for u, v in G.edges)
    True
    """
    topo = list(nx.topological_sort(G))
    rank = {v: i for i, v in enumerate(topo)}
    source = {v for v in topo if G.in_degree(v) == 0}
    need = {v: sum(1 for p in G.predecessors(v) if p not in source) for v in topo}
    uses = {v: G.out_degree(v) for v in topo}
    ready = [rank[v] for v in topo if v not in source and need[v] == 0]
    heapq.heapify(ready)
    done: set = set()
    cache: OrderedDict = OrderedDict()
    order = []

    def touch(v):
        cache[v] = True
        cache.move_to_end(v)
        while len(cache) > M:
            cache.popitem(last=False)

    def emit(v):
        order.append(v)
        done.add(v)
        touch(v)

    def is_ready(v):
        return v not in done and v not in source and need[v] == 0

    while len(done) < len(topo):
        best, best_key = None, None
        for u in cache:
            for v in G.successors(u):
                if is_ready(v):
                    preds = list(G.predecessors(v))
                    key = (-sum(p in cache for p in preds),
                           -sum(uses[p] == 1 for p in preds), rank[v])
                    if best_key is None or key < best_key:
                        best, best_key = v, key
        if best is None:
            while ready and topo[ready[0]] in done:
                heapq.heappop(ready)
            if ready:
                best = topo[heapq.heappop(ready)]
            else:  # only sources left (sinks among them)
                best = next(v for v in topo if v not in done)
        for p in sorted(G.predecessors(best), key=rank.get):
            if p not in done:
                emit(p)
        for p in G.predecessors(best):
            uses[p] -= 1
            touch(p)
        emit(best)
        for w in G.successors(best):
            if w not in source:
                need[w] -= 1
                if need[w] == 0:
                    heapq.heappush(ready, rank[w])
    return order


def family_orders(G, M: int | None = None) -> dict:
    """The locality orders that apply to ``G``: its family's blocked orders,
    and the greedy order if ``M`` is given.

    Examples
    --------
    >>> from dawnlab.iobounds import graphs
    >>> sorted(family_orders(graphs.stencil(4, 2), 4))
    ['greedy', 'tile1', 'tile2', 'tile4']
    """
    out = {}
    out.update(fft_band_orders(G))
    out.update(stencil_tile_orders(G))
    out.update(matmul_tile_orders(G))
    if M is not None:
        out["greedy"] = greedy_order(G, M)
    return out


def local_search(G, order, M: int, time_limit: float = 1.0, *, seed: int = 0,
                 window: int = 32) -> tuple[int, list]:
    """Improve ``order`` by moving single vertices, evaluated with Belady.

    Each move takes a random vertex and a random new position within
    ``window`` steps that keeps the order topological (after its last
    predecessor, before its first successor), and keeps it if the simulated
    I/O does not grow (sideways moves let the search drift across plateaus).
    Runs until ``time_limit`` seconds have passed.

    Returns
    -------
    (int, list)
        The best I/O found and its order (never worse than ``order``'s).

    Examples
    --------
    >>> from dawnlab.iobounds import graphs, simulate
    >>> G = graphs.fft(3)
    >>> o = list(nx.topological_sort(G))
    >>> io, better = local_search(G, o, 4, time_limit=0.5)
    >>> io == simulate(G, better, 4) <= simulate(G, o, 4)
    True
    """
    from dawnlab.iobounds.schedule import simulate

    rng = np.random.default_rng(seed)
    order = list(order)
    n = len(order)
    best = simulate(G, order, M)
    deadline = time.perf_counter() + float(time_limit)
    while time.perf_counter() < deadline and n > 1:
        i = int(rng.integers(n))
        v = order[i]
        pos = {u: k for k, u in enumerate(order[max(0, i - window): i + window + 1])}
        off = max(0, i - window)
        lo = max([pos[p] + off + 1 for p in G.predecessors(v) if p in pos] + [off])
        hi = min([pos[s] + off - 1 for s in G.successors(v) if s in pos]
                 + [min(n - 1, i + window)])
        if hi <= lo:
            continue
        j = int(rng.integers(lo, hi + 1))
        if j == i:
            continue
        cand = order[:i] + order[i + 1:]
        cand.insert(j, v)
        io = simulate(G, cand, M)
        if io <= best:
            best, order = io, cand
    return best, order
