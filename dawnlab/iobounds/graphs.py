"""Builders of computation graphs (DAGs) used by Jain and Zaharia, arXiv
1909.09791, Sections 5 and 7: FFT butterfly, hypercube / Bellman-Held-Karp DP,
naive matrix multiply, Strassen, the DCT, stencils over time, and random DAGs.

Every builder returns a ``networkx.DiGraph`` whose edge ``u -> v`` means "``v``
reads ``u``"; ``G.graph`` records the family and its size.  Conventions:

* ``fft(l)``: ``l + 1`` levels of ``2**l`` values; vertex ``j * 2**l + i``
  (level ``j``, index ``i``) reads ``(j-1, i)`` and ``(j-1, i xor 2**(j-1))``.
* ``hypercube(l)``: vertex ``S`` (a bitmask of a subset of ``{0..l-1}``) feeds
  every ``S | 2**b`` (the Held-Karp DP over subsets).
* ``matmul(n)``: inputs ``("A", i, k)``, ``("B", k, j)``, products
  ``("P", i, j, k)``, and one output ``("C", i, j)`` reading its ``n``
  products (the convention that reproduces the paper's number).
* ``strassen(n)``, ``dct(l)``: traced from straightforward Python code with
  :func:`dawnlab.iobounds.trace.trace_function` (one vertex per arithmetic
  result).
"""

from __future__ import annotations


import networkx as nx
import numpy as np

from dawnlab.errors import invalid

__all__ = ["fft", "hypercube", "matmul", "strassen", "dct", "stencil",
           "erdos_renyi_dag", "FAMILIES", "build"]


def _int(value, name, owner, lo, hi):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not lo <= value <= hi:
        raise invalid(name, owner, f"an int in [{lo}, {hi}]", value)
    return int(value)


def fft(l: int) -> nx.DiGraph:
    """The FFT butterfly on ``2**l`` points: ``(l + 1) 2**l`` vertices.

    Examples
    --------
    >>> G = fft(2)
    >>> G.number_of_nodes(), G.number_of_edges()
    (12, 16)
    """
    l = _int(l, "l", "fft", 0, 22)
    N = 2 ** l
    G = nx.DiGraph(family="fft", l=l)
    G.add_nodes_from(range((l + 1) * N))
    j = np.repeat(np.arange(l), N)
    i = np.tile(np.arange(N), l)
    src = np.concatenate([j * N + i, j * N + i]).tolist()
    dst = np.concatenate([(j + 1) * N + i, (j + 1) * N + (i ^ (1 << j))]).tolist()
    G.add_edges_from(zip(src, dst))
    return G


def hypercube(l: int) -> nx.DiGraph:
    """The hypercube / Bellman-Held-Karp DAG on the ``2**l`` subsets of ``l`` items.

    Examples
    --------
    >>> G = hypercube(3)
    >>> G.number_of_nodes(), G.number_of_edges()
    (8, 12)
    """
    l = _int(l, "l", "hypercube", 1, 22)
    n = 2 ** l
    G = nx.DiGraph(family="hypercube", l=l)
    G.add_nodes_from(range(n))
    s = np.arange(n)
    for b in range(l):
        m = (s >> b) & 1 == 0
        G.add_edges_from(zip(s[m].tolist(), (s[m] | (1 << b)).tolist()))
    return G


def matmul(n: int) -> nx.DiGraph:
    """Naive ``n x n`` matrix multiply: ``2 n**2`` inputs, ``n**3`` products,
    ``n**2`` outputs each reading its ``n`` products.

    Examples
    --------
    >>> G = matmul(2)
    >>> G.number_of_nodes(), max(d for _, d in G.in_degree())
    (20, 2)
    """
    n = _int(n, "n", "matmul", 1, 64)
    G = nx.DiGraph(family="matmul", n=n)
    for i in range(n):
        for j in range(n):
            for k in range(n):
                p = ("P", i, j, k)
                G.add_edge(("A", i, k), p)
                G.add_edge(("B", k, j), p)
                G.add_edge(p, ("C", i, j))
    return G


def _strassen(A, B):
    n = A.shape[0]
    if n == 1:
        return A * B
    h = n // 2
    A11, A12, A21, A22 = A[:h, :h], A[:h, h:], A[h:, :h], A[h:, h:]
    B11, B12, B21, B22 = B[:h, :h], B[:h, h:], B[h:, :h], B[h:, h:]
    M1 = _strassen(A11 + A22, B11 + B22)
    M2 = _strassen(A21 + A22, B11)
    M3 = _strassen(A11, B12 - B22)
    M4 = _strassen(A22, B21 - B11)
    M5 = _strassen(A11 + A12, B22)
    M6 = _strassen(A21 - A11, B11 + B12)
    M7 = _strassen(A12 - A22, B21 + B22)
    top = np.hstack([M1 + M4 - M5 + M7, M3 + M5])
    bottom = np.hstack([M2 + M4, M1 - M2 + M3 + M6])
    return np.vstack([top, bottom])


def strassen(n: int) -> nx.DiGraph:
    """Strassen's multiply of two ``n x n`` matrices (``n`` a power of 2),
    recursing down to scalars, traced one vertex per arithmetic result.

    Examples
    --------
    >>> G = strassen(2)
    >>> G.number_of_nodes()  # 8 inputs, 10 pre-adds, 7 products, 8 post-adds
    33
    """
    n = _int(n, "n", "strassen", 1, 64)
    if n & (n - 1):
        raise invalid("n", "strassen", "a power of 2", n)
    from dawnlab.iobounds.trace import trace_function
    G = trace_function(lambda A, B: _strassen(A, B), (n, n), (n, n))
    G.graph.update(family="strassen", n=n)
    return G


def dct(l: int) -> nx.DiGraph:
    """The DCT-II of ``N = 2**l`` points computed directly: ``N`` inputs, one
    product ``c_ki x_i`` per pair, and each output reading its ``N`` products.

    Examples
    --------
    >>> G = dct(1)
    >>> G.number_of_nodes()
    8
    """
    l = _int(l, "l", "dct", 0, 7)
    N = 2 ** l
    G = nx.DiGraph(family="dct", l=l)
    for k in range(N):
        for i in range(N):
            G.add_edge(("x", i), ("p", k, i))
            G.add_edge(("p", k, i), ("y", k))
    return G


def stencil(n: int, steps: int, dim: int = 1) -> nx.DiGraph:
    """A Jacobi stencil over time: ``steps + 1`` copies of an ``n``-point line
    (``dim=1``, 3-point) or ``n x n`` grid (``dim=2``, 5-point); each value at
    time ``t`` reads its neighbourhood at ``t - 1`` (clipped at the border).

    Examples
    --------
    >>> G = stencil(4, 2)
    >>> G.number_of_nodes(), G.number_of_edges()
    (12, 20)
    """
    n = _int(n, "n", "stencil", 1, 4096)
    steps = _int(steps, "steps", "stencil", 0, 4096)
    if dim not in (1, 2):
        raise invalid("dim", "stencil", "1 or 2", dim)
    G = nx.DiGraph(family="stencil", n=n, steps=steps, dim=dim)
    cells = [(i,) for i in range(n)] if dim == 1 else [(i, j) for i in range(n) for j in range(n)]
    for t in range(steps + 1):
        for c in cells:
            G.add_node((t, *c))
            if t == 0:
                continue
            for d in [(0,) * dim] + [tuple((s if a == b else 0) for b in range(dim))
                                     for a in range(dim) for s in (-1, 1)]:
                nb = tuple(x + y for x, y in zip(c, d))
                if all(0 <= x < n for x in nb):
                    G.add_edge((t - 1, *nb), (t, *c))
    return G


def erdos_renyi_dag(n: int, p: float, seed: int | None = 0) -> nx.DiGraph:
    """A random DAG: each pair ``i < j`` is an edge ``i -> j`` with probability ``p``.

    Examples
    --------
    >>> erdos_renyi_dag(5, 1.0).number_of_edges()
    10
    """
    n = _int(n, "n", "erdos_renyi_dag", 1, 100000)
    if not 0.0 <= p <= 1.0:
        raise invalid("p", "erdos_renyi_dag", "a probability in [0, 1]", p)
    rng = np.random.default_rng(seed)
    G = nx.DiGraph(family="erdos_renyi", n=n, p=p, seed=seed)
    G.add_nodes_from(range(n))
    iu, ju = np.triu_indices(n, 1)
    keep = rng.random(len(iu)) < p
    G.add_edges_from(zip(iu[keep].tolist(), ju[keep].tolist()))
    return G


#: Graph families by name with the name of their size argument, for widgets.
FAMILIES = {"fft": (fft, "l"), "hypercube": (hypercube, "l"), "matmul": (matmul, "n"),
            "strassen": (strassen, "n"), "dct": (dct, "l"),
            "stencil-1d": (lambda s: stencil(s, s), "n"),
            "stencil-2d": (lambda s: stencil(s, s, dim=2), "n"),
            "erdos-renyi": (lambda s: erdos_renyi_dag(s, 0.3, 0), "n")}


def build(family: str, size: int) -> nx.DiGraph:
    """Build a graph of a named family (see ``FAMILIES``).

    Examples
    --------
    >>> build("fft", 2).number_of_nodes()
    12
    """
    if family not in FAMILIES:
        raise invalid("family", "build", f"one of {sorted(FAMILIES)}", family)
    return FAMILIES[family][0](size)
