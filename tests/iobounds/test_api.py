"""Builders, tracing, validation errors, eigen-solvers, schedules."""

import networkx as nx
import numpy as np
import pytest

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


def test_chebyshev_finds_multiplicities():
    L, _ = laplacian(graphs.hypercube(11))  # eigenvalues of multiplicity 10 and 44
    exact = hypercube_spectrum(11, 23)  # 23 = 2 l + 1 ends at a spectral gap
    r = smallest_eigenvalues(L, 23, method="chebyshev")
    assert np.allclose(r.values, exact, rtol=1e-8, atol=1e-10)


def test_chebyshev_against_dense_random():
    G = graphs.erdos_renyi_dag(600, 0.01, seed=3)
    L, _ = laplacian(G)
    dense = np.linalg.eigvalsh(L.toarray())[:12]
    r = smallest_eigenvalues(L, 12, method="chebyshev")
    assert np.allclose(r.values, dense, atol=1e-8)


def test_schedule_beats_or_matches_each_order_and_bounds():
    G = graphs.fft(4)
    s = schedule_io(G, 4)
    assert s.io == min(s.tried.values())
    assert s.io >= spectral_bound(G, 4).value
    assert s.io >= convex_mincut_bound(G, 4).value
    assert schedule_io(G, 4, order=s.order).io == s.io


def test_hong_kung_grows():
    assert hong_kung_fft(12, 4) > hong_kung_fft(12, 64) >= 0
