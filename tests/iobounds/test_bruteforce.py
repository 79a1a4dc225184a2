"""Brute force on tiny DAGs: lower bounds <= exhaustive optimum <= schedules,
and the whole-graph ILP equals the optimum."""

import heapq

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


def test_time_limit_returns_dual_bound():
    G = graphs.fft(4)
    r = ilp_bound(G, 4, time_limit=0.2)
    assert not r.exact
    assert r.parts[0].status != "optimal"
    assert 0 <= r.value <= schedule_io(G, 4).io
