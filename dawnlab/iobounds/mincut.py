"""The convex min-cut lower bound of Elango, Rastello, Pouchet, Ramanujam and
Sadayappan ("On characterizing the data movement complexity of computational
DAGs for parallel execution", SPAA 2014), the baseline that Jain and Zaharia
compare against (arXiv 1909.09791, Section 7).

For a vertex ``x``, a *convex cut* splits the vertices into ``S`` (closed under
predecessors, containing ``x`` and so all its ancestors) and ``T`` (containing
all descendants of ``x``).  Its size is the number of vertices of ``S`` with a
successor in ``T``: the values that must be live when the schedule passes
from ``S`` to ``T``.  With ``w(x)`` the minimum size over convex cuts at
``x``, any schedule holds ``w(x)`` live values at some moment, at most ``M`` in
fast memory, so (Elango et al.) the non-compulsory I/O is at least
``2 (max_x w(x) - M)``.

``w(x)`` is a minimum s-t cut in a flow network with a unit-capacity arc
``u_in -> u_out`` per vertex, infinite arcs ``u_out -> v_in`` and
``v_in -> u_in`` per DAG edge ``u -> v`` (the second enforces convexity), the
source tied to ``x`` and the sink to ``x``'s descendants.  We solve it with
``scipy.sparse.csgraph.maximum_flow``.  Maximising over a subset of vertices
still gives a valid bound; large graphs use an evenly spaced subset.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import maximum_flow

from dawnlab.iobounds.model import check_graph, check_memory, compulsory_io

__all__ = ["MinCutBound", "convex_mincut_bound", "min_convex_cut"]


@dataclass
class MinCutBound:
    """The convex min-cut bound.

    Attributes
    ----------
    value : float
        ``max(0, 2 (max_x w(x) - M))``: lower bound on non-compulsory I/O.
    cut : int
        ``max_x w(x)``.
    vertex : object
        A maximising vertex ``x``.
    compulsory : int
        ``#sources + #sinks``.
    checked : int
        How many vertices ``x`` were tried.
    """

    value: float
    cut: int
    vertex: object
    compulsory: int
    checked: int


def _network(G, nodes, index):
    n = len(nodes)
    big = n + 1
    rows, cols, caps = [np.arange(n)], [np.arange(n) + n], [np.ones(n, dtype=np.int64)]
    u = np.array([index[a] for a, _ in G.edges], dtype=np.int64)
    v = np.array([index[b] for _, b in G.edges], dtype=np.int64)
    rows += [u + n, v]
    cols += [v, u]
    caps += [np.full(len(u), big), np.full(len(u), big)]
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(caps), big


def min_convex_cut(G, x, _cache=None) -> int:
    """``w(x)``: the smallest convex cut of ``G`` at vertex ``x``.

    Examples
    --------
    >>> G = nx.DiGraph([(0, 2), (1, 2), (2, 3)])
    >>> [min_convex_cut(G, v) for v in [0, 1, 2, 3]]
    [1, 1, 1, 0]
    """
    nodes, index, (r, c, cap, big) = _cache or _prepare(G)
    n = len(nodes)
    desc = [index[d] for d in nx.descendants(G, x)]
    if not desc:
        return 0
    s, t = 2 * n, 2 * n + 1
    rows = np.concatenate([r, [s], desc])
    cols = np.concatenate([c, [index[x]], np.full(len(desc), t)])
    caps = np.concatenate([cap, [big], np.full(len(desc), big)])
    A = sp.csr_matrix((caps.astype(np.int32), (rows, cols)), shape=(2 * n + 2, 2 * n + 2))
    return int(maximum_flow(A, s, t).flow_value)


def _prepare(G):
    nodes = list(G.nodes)
    index = {v: i for i, v in enumerate(nodes)}
    return nodes, index, _network(G, nodes, index)


def convex_mincut_bound(G, M: int, max_vertices: int | None = 400) -> MinCutBound:
    """Convex min-cut lower bound ``2 (max_x w(x) - M)`` on non-compulsory I/O.

    Parameters
    ----------
    G : networkx.DiGraph
        A computation graph.
    M : int
        Fast memory size, at least the largest in-degree + 1.
    max_vertices : int or None
        Try at most this many vertices ``x`` (evenly spaced along a topological
        order); ``None`` tries all.  Any subset gives a valid bound.

    Returns
    -------
    MinCutBound

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> r = convex_mincut_bound(fft(3), 3)
    >>> r.cut, r.value
    (2, 0.0)
    """
    G = check_graph(G, "convex_mincut_bound")
    M = check_memory(G, M, "convex_mincut_bound")
    order = list(nx.topological_sort(G))
    if max_vertices is not None and len(order) > max_vertices:
        pick = np.linspace(0, len(order) - 1, max_vertices).round().astype(int)
        order = [order[i] for i in np.unique(pick)]
    cache = _prepare(G)
    best, arg = -1, None
    for x in order:
        w = min_convex_cut(G, x, cache)
        if w > best:
            best, arg = w, x
    return MinCutBound(value=float(max(0, 2 * (best - M))), cut=best, vertex=arg,
                       compulsory=compulsory_io(G), checked=len(order))
