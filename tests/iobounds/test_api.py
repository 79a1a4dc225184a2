"""Builders, tracing, validation errors, eigen-solvers, schedules."""

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp

from dawnlab.errors import InvalidArgument
from dawnlab.iobounds import (GraphError, graphs, hong_kung_fft, hypercube_spectrum, ilp_bound,
                              laplacian, schedule_io, simulate, smallest_eigenvalues,
                              spectral_bound, trace_function, trace_module, convex_mincut_bound)


@pytest.mark.parametrize("build,n,m", [
    (lambda: graphs.fft(3), 32, 48), (lambda: graphs.hypercube(4), 16, 32),
    (lambda: graphs.matmul(3), 54, 81), (lambda: graphs.dct(2), 24, 32),
    (lambda: graphs.stencil(5, 3), 20, 39), (lambda: graphs.stencil(3, 1, dim=2), 18, 33),
])
def test_builder_sizes(build, n, m):
    G = build()
    assert (G.number_of_nodes(), G.number_of_edges()) == (n, m)
    assert nx.is_directed_acyclic_graph(G)


def test_strassen_counts():
    G = graphs.strassen(4)
    ops = nx.get_node_attributes(G, "op")
    assert sum(o == "mul" for o in ops.values()) == 49  # 7 ** 2 scalar products
    assert sum(o == "input" for o in ops.values()) == 32
    assert sum(1 for v in G if G.out_degree(v) == 0) == 16


def test_trace_matches_matmul_shape():
    G = trace_function(lambda A, B: A @ B, (2, 3), (3, 2))
    ops = list(nx.get_node_attributes(G, "op").values())
    assert ops.count("input") == 12 and ops.count("mul") == 12
    assert sum(1 for v in G if G.out_degree(v) == 0) == 4


def test_trace_module():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    G = trace_module(net)
    assert G.number_of_nodes() == 4 and nx.is_directed_acyclic_graph(G)
    assert spectral_bound(G, 3).value >= 0


def test_errors_name_the_problem():
    with pytest.raises(GraphError, match="cycle"):
        spectral_bound(nx.DiGraph([(0, 1), (1, 2), (2, 0)]), 4)
    with pytest.raises(GraphError, match="self-loop"):
        ilp_bound(nx.DiGraph([(0, 0)]), 4)
    with pytest.raises(GraphError, match="empty"):
        schedule_io(nx.DiGraph(), 4)
    with pytest.raises(InvalidArgument, match=r"'M' argument of spectral_bound must be an int >= 3"):
        spectral_bound(graphs.fft(2), 2)
    with pytest.raises(InvalidArgument, match="k_max"):
        spectral_bound(graphs.fft(2), 3, k_max=0)
    with pytest.raises(InvalidArgument, match="topological"):
        simulate(nx.DiGraph([(0, 1)]), [1, 0], 2)


def test_lanczos_finds_multiplicities():
    L, _ = laplacian(graphs.hypercube(11))  # eigenvalues of multiplicity 10 and 44
    exact = hypercube_spectrum(11, 23)  # 23 = 2 l + 1 ends at a spectral gap
    r = smallest_eigenvalues(L, 23, method="lanczos")
    assert np.allclose(r.values, exact, rtol=1e-8, atol=1e-10)


def test_lanczos_against_dense_random():
    G = graphs.erdos_renyi_dag(600, 0.01, seed=3)
    L, _ = laplacian(G)
    dense = np.linalg.eigvalsh(L.toarray())[:12]
    r = smallest_eigenvalues(L, 12, method="lanczos")
    assert np.allclose(r.values, dense, atol=1e-8)


def test_lanczos_finds_copies_beyond_the_block():
    # hypercube(9) has a 27-fold eigenvalue among its 40 smallest: a block of 4
    # holds only 4 copies per search, so the solver must search the complement
    L, _ = laplacian(graphs.hypercube(9))
    dense = np.linalg.eigvalsh(L.toarray())[:40]
    r = smallest_eigenvalues(L, 40, method="lanczos", block=4, tol=1e-9)
    assert r.passes > 1 and r.converged
    assert np.allclose(r.values, dense, rtol=1e-7, atol=1e-10)


def test_lanczos_restarts_with_a_small_basis():
    G = graphs.erdos_renyi_dag(800, 0.01, seed=5)
    L, _ = laplacian(G)
    dense = np.linalg.eigvalsh(L.toarray())[:10]
    r = smallest_eigenvalues(L, 10, method="lanczos", max_basis=30, tol=1e-9)
    assert r.converged
    assert np.allclose(r.values, dense, rtol=1e-7, atol=1e-10)
    # each value is within its residual of an eigenvalue, and the estimates hold
    assert np.all(np.abs(r.values - dense) <= r.residuals + 1e-12)
    assert np.all(np.abs(r.values - dense) <= 10 * r.errors + 1e-12)


def test_lanczos_reports_when_maxiter_runs_out():
    L, _ = laplacian(graphs.hypercube(11))
    r = smallest_eigenvalues(L, 23, method="lanczos", maxiter=2)
    assert not r.converged
    exact = hypercube_spectrum(11, 23)
    assert np.all(r.values >= exact - 1e-9)  # Ritz values bound the eigenvalues from above


def test_lanczos_restores_torch_threads():
    # the sparse products run in one torch thread; the caller's setting comes back
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        L, _ = laplacian(graphs.hypercube(11))
        r = smallest_eigenvalues(L, 12, method="lanczos")
        assert torch.get_num_threads() == 2
        assert np.allclose(r.values, hypercube_spectrum(11, 12), rtol=1e-7, atol=1e-10)
    finally:
        torch.set_num_threads(before)


def test_lanczos_rejects_bad_settings():
    L, _ = laplacian(graphs.hypercube(4))
    for kw, name in ((dict(tol=0.0), "tol"), (dict(degree=0), "degree"), (dict(block=0), "block"),
                     (dict(maxiter=0), "maxiter"), (dict(max_basis=1), "max_basis")):
        with pytest.raises(InvalidArgument, match=name):
            smallest_eigenvalues(L, 3, method="lanczos", **kw)


def test_schedule_beats_or_matches_each_order_and_bounds():
    G = graphs.fft(4)
    s = schedule_io(G, 4)
    assert s.io == min(s.tried.values())
    assert s.io >= spectral_bound(G, 4).value
    assert s.io >= convex_mincut_bound(G, 4).value
    assert schedule_io(G, 4, order=s.order).io == s.io


def test_hong_kung_grows():
    assert hong_kung_fft(12, 4) > hong_kung_fft(12, 64) >= 0


def test_lanczos_matches_dense_on_repeated_eigenvalues():
    # hypercube(9): 512 vertices, eigenvalues of multiplicity 8 and 27 inside k
    L, _ = laplacian(graphs.hypercube(9))
    dense = np.linalg.eigvalsh(L.toarray())
    for k in (10, 19, 40):
        r = smallest_eigenvalues(L, k, method="lanczos", tol=1e-9)
        assert np.allclose(r.values, dense[:k], rtol=1e-7, atol=1e-10), k
        assert r.values[0] == 0.0  # the known null vector is deflated exactly


def test_lanczos_disconnected_graph_zeros():
    # two components: eigenvalue 0 twice, found exactly from the component indicators
    G = nx.disjoint_union(graphs.fft(4), graphs.hypercube(5))
    L, _ = laplacian(G)
    dense = np.linalg.eigvalsh(L.toarray())
    r = smallest_eigenvalues(L, 6, method="lanczos")
    assert list(r.values[:2]) == [0.0, 0.0]
    assert np.allclose(r.values, dense[:6], atol=1e-9)


def test_lanczos_non_laplacian_symmetric():
    # a shifted Laplacian has no known null space: the general path
    L, _ = laplacian(graphs.erdos_renyi_dag(400, 0.02, seed=1))
    A = L + sp.identity(400) * 0.5
    dense = np.linalg.eigvalsh(A.toarray())[:8]
    r = smallest_eigenvalues(A, 8, method="lanczos")
    assert np.allclose(r.values, dense, atol=1e-8)


def test_butterfly_parts_partition_and_bound():
    from dawnlab.iobounds import butterfly_parts
    G = graphs.fft(5)
    parts = butterfly_parts(5)
    assert sorted(v for p in parts for v in p) == sorted(G.nodes)
    r = ilp_bound(G, 4, parts=parts)
    # two bands of 3 levels, 8 copies of fft(2) each, 4 I/O apiece
    assert r.exact and r.value == 64
    assert r.value <= schedule_io(G, 4).io
    with pytest.raises(InvalidArgument, match="parts"):
        ilp_bound(G, 4, parts=parts[1:])


@pytest.mark.parametrize("G, M", [(graphs.fft(5), 4), (graphs.stencil(12, 6), 4),
                                  (graphs.stencil(5, 3, 2), 6), (graphs.matmul(3), 4),
                                  (graphs.hypercube(5), 6), (graphs.strassen(2), 3),
                                  (graphs.erdos_renyi_dag(40, 0.1, seed=3), 8)])
def test_locality_orders_are_legal_schedules(G, M):
    from dawnlab.iobounds import min_memory
    from dawnlab.iobounds.orders import family_orders, local_search
    M = max(M, min_memory(G))
    orders = family_orders(G, M)
    assert "greedy" in orders
    for name, o in orders.items():
        pos = {v: i for i, v in enumerate(o)}
        assert len(o) == len(pos) == G.number_of_nodes(), name
        assert all(pos[u] < pos[v] for u, v in G.edges), name
    s = schedule_io(G, M, improve=0.3)
    assert s.io == min(s.tried.values()) and s.io == simulate(G, s.order, M)
    io, o = local_search(G, s.order, M, time_limit=0.2, seed=1)
    assert io == simulate(G, o, M) <= s.io


def test_blocked_fft_orders_beat_streaming():
    """The issue's sandwich: the blocked and greedy orders undercut the topological order."""
    G = graphs.fft(7)
    s = schedule_io(G, 4)
    assert s.tried["band3"] < s.tried["topological"]
    assert s.io <= min(s.tried["band2"], s.tried["greedy"]) < s.tried["band3"]
