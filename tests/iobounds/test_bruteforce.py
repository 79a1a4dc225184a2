"""Brute force on tiny DAGs: lower bounds <= exhaustive optimum <= schedules,
and the whole-graph ILP equals the optimum."""

import heapq

import networkx as nx

import numpy as np
import pytest

from dawnlab.iobounds import (convex_mincut_bound, graphs, ilp_bound, min_memory, schedule_io,
                              simulate, spectral_bound)


def exhaustive_optimum(G, M):
    """Dijkstra over (computed, fast, stored) bitmasks; each move is compute (0),
    store (1), load (1), or drop a value that is stored or no longer needed (0)."""
    nodes = list(G.nodes)
    idx = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    pred = [sum(1 << idx[u] for u in G.predecessors(v)) for v in nodes]
    succ = [sum(1 << idx[w] for w in G.successors(v)) for v in nodes]
    full = (1 << n) - 1
    start = (0, 0, 0)
    dist = {start: 0}
    heap = [(0, start)]
    while heap:
        d, state = heapq.heappop(heap)
        if dist.get(state, 1 << 30) < d:
            continue
        comp, fast, stored = state
        if comp == full:
            return d
        moves = []
        size = bin(fast).count("1")
        for i in range(n):
            bit = 1 << i
            if not comp & bit and pred[i] & fast == pred[i] and size < M:
                moves.append((0, (comp | bit, fast | bit, stored)))
            if fast & bit:
                needed = succ[i] & ~comp
                if not stored & bit and needed:
                    moves.append((1, (comp, fast, stored | bit)))
                if stored & bit or not needed:
                    moves.append((0, (comp, fast & ~bit, stored)))
            elif stored & bit and size < M and succ[i] & ~comp:
                moves.append((1, (comp, fast | bit, stored)))
        for cost, nxt in moves:
            if d + cost < dist.get(nxt, 1 << 30):
                dist[nxt] = d + cost
                heapq.heappush(heap, (d + cost, nxt))
    raise AssertionError("unreachable")


def tiny_dags(count=240, seed=7):
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(2, 8))
        p = float(rng.uniform(0.2, 0.8))
        G = graphs.erdos_renyi_dag(n, p, seed=int(rng.integers(1 << 30)))
        M = min_memory(G) + int(rng.integers(0, 3))
        yield G, M


def test_exhaustive_search_on_known_graph():
    assert [exhaustive_optimum(graphs.fft(2), M) for M in (3, 4, 5)] == [6, 4, 2]


@pytest.mark.parametrize("chunk", range(4))
def test_sandwich_on_random_dags(chunk):
    for j, (G, M) in enumerate(tiny_dags()):
        if j % 4 != chunk:
            continue
        opt = exhaustive_optimum(G, M)
        spectral = spectral_bound(G, M)
        mincut = convex_mincut_bound(G, M)
        ilp = ilp_bound(G, M)
        sched = schedule_io(G, M)
        assert spectral.value <= opt + 1e-9, (j, spectral.value, opt)
        assert mincut.value <= opt, (j, mincut.value, opt)
        assert ilp.exact and ilp.value == opt, (j, ilp.value, opt)
        assert sched.io >= opt
        # the ILP's own order, simulated with Belady, is a legal schedule
        assert simulate(G, ilp.order, M) >= opt


def test_partitioned_ilp_is_a_lower_bound():
    for seed in range(6):
        G = graphs.erdos_renyi_dag(9, 0.35, seed=seed)
        M = min_memory(G)
        opt = ilp_bound(G, M)
        part = ilp_bound(G, M, part_size=4)
        assert part.value <= opt.value
        assert len(part.parts) >= 3 and all(p.size <= 4 for p in part.parts)


# ---------------------------------------------------------------- certified ILP values

#: Graphs on which HiGHS with presolve on gave wrong answers (issue 12):
#: (edges, vertices, M).  The first read 4 (optimum 0) and was not monotone in M,
#: the second 4 (optimum 3), the third "infeasible".
ISSUE_GRAPHS = [
    ([(0, 5), (1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (6, 7)], 8, 4),
    ([(0, 5), (1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (6, 7)], 8, 3),
    ([(0, 5), (1, 2), (2, 3), (3, 4), (4, 5), (5, 7), (6, 7)], 8, 5),
    ([(0, 3), (0, 4), (0, 6), (1, 5), (2, 3), (2, 5), (2, 7), (3, 4), (3, 7), (5, 6)], 8, 3),
    ([(0, 2), (0, 3), (1, 2), (1, 3), (1, 4), (2, 5), (3, 4), (3, 5)], 6, 4),
]


def _graph(edges, n):
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(edges)
    return G


def check_certified(G, M, r, opt):
    """The contract of a part result against the exhaustive optimum."""
    sched = schedule_io(G, M)
    assert r.value <= opt <= sched.io, (r, opt, sched.io)
    if r.exact:
        assert r.value == opt, (r, opt)
        assert simulate(G, r.order, M) >= opt
    assert r.upper is None or r.value <= r.upper


@pytest.mark.parametrize("edges, n, M", ISSUE_GRAPHS)
@pytest.mark.parametrize("solver", ["auto", "ilp", "search"])
def test_issue_graphs_are_certified(edges, n, M, solver):
    G = _graph(edges, n)
    opt = exhaustive_optimum(G, M)
    r = ilp_bound(G, M, solver=solver)
    check_certified(G, M, r, opt)
    assert r.exact and r.value == opt  # presolve off solves all of them
    assert r.value <= r.upper
    if solver == "ilp":
        assert r.parts[0].solver == "ilp" and r.parts[0].ilp_status == "optimal"


def test_issue_graph_is_monotone_in_memory():
    G = _graph(*ISSUE_GRAPHS[0][:2])
    values = [ilp_bound(G, M, solver="ilp").value for M in (3, 4, 5, 6)]
    assert values == sorted(values, reverse=True) == [exhaustive_optimum(G, M) for M in (3, 4, 5, 6)]


def test_schedule_io_never_runs_the_mip():
    G = _graph(*ISSUE_GRAPHS[4][:2])
    s = schedule_io(G, 4)
    assert s.io == exhaustive_optimum(G, 4) == 0 and s.tried["optimal"] == 0


@pytest.mark.parametrize("answer", [("infeasible", None, None), ("solver_error", None, None),
                                    ("user_limit", None, float("nan")),
                                    ("user_limit", None, 99.0)])
def test_solver_failures_contribute_zero_with_status(monkeypatch, answer):
    """HiGHS's failures (and a dual bound above a real schedule) never crash and never count."""
    monkeypatch.setitem(ilp_bound.__globals__, "_milp", lambda G, nodes, M, limit, *hints: (*answer, []))
    G = _graph(*ISSUE_GRAPHS[4][:2])
    r = ilp_bound(G, 4, solver="ilp")
    p = r.parts[0]
    assert r.value == 0 and not r.exact and p.solver == "none"
    assert p.status == {"infeasible": "infeasible", "solver_error": "solver_error"}.get(
        answer[0], "time_limit" if answer[2] != 99.0 else "rejected")
    assert p.ilp_status == answer[0]
    # the exhaustive search still solves it under the default solver
    assert ilp_bound(G, 4).exact


def test_wrong_optimum_is_rejected(monkeypatch):
    """An "optimal" value above a real schedule (what presolve produced) is rejected."""
    G = _graph(*ISSUE_GRAPHS[0][:2])
    order = list(nx.topological_sort(G))
    # the module's own namespace (pytest may import the module twice for its doctests)
    monkeypatch.setitem(ilp_bound.__globals__, "_milp",
                        lambda G, nodes, M, limit, *hints: ("optimal", 4.0, 4.0, order))
    r = ilp_bound(G, 4, solver="ilp")
    assert r.value == 0 and not r.exact and r.parts[0].status == "rejected"
    # an optimum below what its own order costs contradicts itself: recorded, and not used as a bound
    G2 = graphs.fft(2)
    order2 = list(nx.topological_sort(G2))
    monkeypatch.setitem(ilp_bound.__globals__, "_milp",
                        lambda G, nodes, M, limit, *hints: ("optimal", 1.0, 1.0, order2))
    r2 = ilp_bound(G2, 4, solver="ilp")
    assert not r2.exact and r2.parts[0].status == "unverified" and r2.value == 0


def test_run_time_check_raises_loudly(monkeypatch):
    """A lower bound above a real schedule raises (the check every ilp_bound runs)."""
    from dawnlab.iobounds import UnsoundBoundError
    real = ilp_bound.__globals__["solve_exact"]

    def inflated(G, M, time_limit=None, **kw):
        r = real(G, M, time_limit, **kw)
        r.value += 1000
        return r
    monkeypatch.setitem(ilp_bound.__globals__, "solve_exact", inflated)
    with pytest.raises(UnsoundBoundError, match="above the I/O"):
        ilp_bound(graphs.fft(2), 4)
    with pytest.raises(UnsoundBoundError):
        ilp_bound(graphs.fft(3), 4, part_size=12, processes=1)


def test_time_limited_fft4_is_a_positive_proven_bound():
    G = graphs.fft(4)
    r = ilp_bound(G, 4, time_limit=3)
    p = r.parts[0]
    assert not r.exact and p.status == "time_limit" and p.ilp_status != "optimal"
    assert 0 < r.value <= schedule_io(G, 4).io
    # the fallback alone: contiguous pieces of <= 12, each solved exactly
    assert r.value >= ilp_bound(G, 4, part_size=12).value


def random_dags(count, seed, lo=6, hi=9):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(lo, hi + 1))
        p = float(rng.uniform(0.15, 0.6))
        G = graphs.erdos_renyi_dag(n, p, seed=int(rng.integers(1 << 30)))
        yield G, min_memory(G) + int(rng.integers(0, 3))


def _soundness(count, seed):
    exact = 0
    for j, (G, M) in enumerate(random_dags(count, seed)):
        opt = exhaustive_optimum(G, M)
        for solver in ("ilp", "search"):
            r = ilp_bound(G, M, solver=solver)
            check_certified(G, M, r.parts[0], opt)
            assert r.value <= opt, (j, solver, list(G.edges), M, r.value, opt)
            exact += r.exact
    return exact


def test_ilp_soundness_quick():
    assert _soundness(15, seed=12) == 30


@pytest.mark.slow
def test_ilp_soundness_500_random_dags():
    """The issue's check: 500 random DAGs of 6-9 vertices, MIP and search vs the optimum."""
    assert _soundness(500, seed=2026) == 1000


def test_metis_parts_are_contiguous_and_parallel_matches_serial():
    from dawnlab.iobounds import partition
    G = graphs.fft(5)
    parts = partition(G, 16)
    assert sorted(v for p in parts for v in p) == sorted(G.nodes)
    assert all(len(p) <= 16 and nx.is_weakly_connected(G.subgraph(p)) for p in parts)
    serial = ilp_bound(G, 4, part_size=16, processes=1)
    parallel = ilp_bound(G, 4, part_size=16, processes=2)
    assert serial.value == parallel.value and serial.exact and parallel.exact
    assert [p.value for p in serial.parts] == [p.value for p in parallel.parts]
    assert serial.value <= serial.upper == schedule_io(G, 4, exact_order=False).io


@pytest.mark.slow
def test_paper_partitioned_bound_fft11():
    """The paper's 4219: METIS parts of at most 16 vertices, FFT l=11, M=4."""
    r = ilp_bound(graphs.fft(11), 4, part_size=16, processes=2)
    assert r.exact and all(p.size <= 16 for p in r.parts)
    assert 4219 <= r.value <= r.upper
