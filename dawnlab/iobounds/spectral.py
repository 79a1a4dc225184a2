"""The spectral lower bound on I/O (Jain and Zaharia, arXiv 1909.09791, Section 4).

Weight each DAG edge ``u -> v`` by ``1 / outdeg(u)`` and take the Laplacian
``L`` of the undirected weighted graph.  Split any evaluation order into ``k``
consecutive segments of balanced sizes ``m_1 >= ... >= m_k`` (``n`` split as
evenly as possible).  A segment can start with at most ``M`` values in fast
memory, so the weighted edges that cross between segments force I/O; the
quadratic-form relaxation of the best such split is at least
``sum_i m_i lambda_i`` (larger parts paired with smaller eigenvalues, by the
rearrangement inequality), which gives (Theorem 4.4)

    Q >= max_k [ sum_{i=1..k} m_i lambda_i - 2 k M ].

The eigenvalues come from :mod:`dawnlab.iobounds.eigen` (dense for small
graphs, a Chebyshev-filtered block Krylov search for large ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import networkx as nx
import numpy as np
import scipy.sparse as sp

from dawnlab.errors import invalid
from dawnlab.iobounds.eigen import DENSE_LIMIT, smallest_eigenvalues
from dawnlab.iobounds.model import check_graph, check_memory, compulsory_io

__all__ = ["SpectralBound", "laplacian", "spectral_bound", "bound_curve"]


@dataclass
class SpectralBound:
    """The spectral bound and how it was obtained.

    Attributes
    ----------
    value : float
        Lower bound on the non-compulsory I/O (clipped at 0).
    k : int
        The maximising number of parts.
    eigenvalues : numpy.ndarray
        The ``k_max`` smallest Laplacian eigenvalues used.
    compulsory : int
        ``#sources + #sinks``, not included in ``value``.
    curve : numpy.ndarray
        ``curve[k-1]`` is the bound with ``k`` parts (before clipping).
    residuals : numpy.ndarray
        Residual norms of the eigenpairs (each eigenvalue is within its residual
        of a true eigenvalue).
    method : str
        Eigen-solver used.
    n, M : int
        Graph size and fast memory.
    """

    value: float
    k: int
    eigenvalues: np.ndarray
    compulsory: int
    curve: np.ndarray
    residuals: np.ndarray = field(repr=False)
    method: str = "dense"
    n: int = 0
    M: int = 0


def laplacian(G) -> tuple[sp.csr_matrix, list]:
    """The Laplacian of ``G`` with each edge ``u -> v`` weighted ``1/outdeg(u)``.

    Returns the matrix and the vertex order of its rows.

    Examples
    --------
    >>> L, nodes = laplacian(nx.DiGraph([(0, 1), (0, 2)]))
    >>> L.toarray()
    array([[ 1. , -0.5, -0.5],
           [-0.5,  0.5,  0. ],
           [-0.5,  0. ,  0.5]])
    """
    nodes = list(G.nodes)
    n = len(nodes)
    index = {v: i for i, v in enumerate(nodes)}
    m = G.number_of_edges()
    u = np.fromiter((index[a] for a, _ in G.edges), dtype=np.int64, count=m)
    v = np.fromiter((index[b] for _, b in G.edges), dtype=np.int64, count=m)
    outdeg = np.bincount(u, minlength=n).astype(float)
    w = 1.0 / outdeg[u] if m else np.zeros(0)
    W = sp.coo_matrix((w, (u, v)), shape=(n, n)).tocsr()
    W = W + W.T
    L = sp.diags(np.asarray(W.sum(axis=1)).ravel()) - W
    return sp.csr_matrix(L), nodes


def bound_curve(eigenvalues, n: int, M: int) -> np.ndarray:
    """``sum_i m_i lambda_i - 2 k M`` for ``k = 1..len(eigenvalues)``.

    Examples
    --------
    >>> bound_curve([0.0, 1.0, 3.0], 6, 1)
    array([-2., -1.,  2.])
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=float))
    ks = np.arange(1, len(lam) + 1)
    csum = np.concatenate([[0.0], np.cumsum(lam)])
    q, r = np.divmod(n, ks)
    # r parts of size q+1 take the r smallest eigenvalues, the rest size q
    return (q + 1) * csum[r] + q * (csum[ks] - csum[r]) - 2.0 * ks * M


def spectral_bound(G, M: int, k_max: int | None = None, *, method: str = "auto",
                   tol: float = 1e-9, callback: Callable | None = None) -> SpectralBound:
    """Spectral lower bound on the non-compulsory I/O of ``G`` with fast memory ``M``.

    Parameters
    ----------
    G : networkx.DiGraph
        A computation graph (a non-empty DAG).
    M : int
        Fast memory size, at least the largest in-degree + 1.
    k_max : int, optional
        Most parts tried (the number of eigenvalues computed).  Default: all
        ``n`` for graphs up to 1500 vertices, else 32.  Any ``k_max`` gives a
        valid bound; larger may be tighter.
    method : str
        Eigen-solver, see :func:`dawnlab.iobounds.eigen.smallest_eigenvalues`.
    tol : float
        Relative accuracy asked of the eigenvalues (see
        :func:`dawnlab.iobounds.eigen.smallest_eigenvalues`).
    callback : callable, optional
        Passed to the eigen-solver: ``callback(blocks, values, errors)``.

    Returns
    -------
    SpectralBound

    Raises
    ------
    GraphError
        If ``G`` is empty, cyclic or has a self-loop.
    InvalidArgument
        If ``M`` is below the largest in-degree + 1 or ``k_max`` is not in ``[1, n]``.

    Examples
    --------
    >>> from dawnlab.iobounds.graphs import fft
    >>> r = spectral_bound(fft(7), 4)
    >>> round(r.value, 9), r.k, r.compulsory
    (6.376856849, 2, 256)
    """
    G = check_graph(G, "spectral_bound")
    M = check_memory(G, M, "spectral_bound")
    n = G.number_of_nodes()
    if k_max is None:
        k_max = n if n <= DENSE_LIMIT else min(n, 32)
    if isinstance(k_max, bool) or not isinstance(k_max, (int, np.integer)) or not 1 <= k_max <= n:
        raise invalid("k_max", "spectral_bound", f"an int in [1, {n}] (the number of vertices)", k_max)
    L, _ = laplacian(G)
    eig = smallest_eigenvalues(L, int(k_max), method=method, tol=tol, callback=callback)
    lam = np.maximum(eig.values, 0.0)  # L is positive semidefinite
    curve = bound_curve(lam, n, M)
    best = int(np.argmax(curve))
    return SpectralBound(value=float(max(curve[best], 0.0)), k=best + 1, eigenvalues=lam,
                         compulsory=compulsory_io(G), curve=curve, residuals=eig.residuals,
                         method=eig.method, n=n, M=M)
