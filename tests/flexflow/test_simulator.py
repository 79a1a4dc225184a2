"""The simulator: a hand-computed timeline, delta simulation == full simulation, undo."""

import numpy as np
import pytest

from dawnlab.flexflow import (ConfigError, GraphBuilder, Machine, OpConfig, Simulator, Strategy, benchmarks,
                              validate)
from dawnlab.flexflow.soap import random_config


class TableCosts:
    """Fixed (forward, backward) seconds per operator name."""

    def __init__(self, table):
        self.table = table

    def compute(self, graph, i, degrees, device):
        return self.table[graph.ops[i].name]


def two_devices(latency=0.5, bandwidth=4000.0):
    return Machine.from_dict({
        "name": "two", "device_types": {"d": {"flops": 1e9, "mem_bandwidth": 1e9, "memory": 1e9}},
        "devices": [{"name": "d0", "type": "d"}, {"name": "d1", "type": "d"}],
        "links": [{"a": "d0", "b": "d1", "bandwidth": bandwidth, "latency": latency}]})


def three_ops(params=0):
    b = GraphBuilder("three")
    x = b.input((4, 250), name="x")
    a = b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], params=params, name="A")
    bb = b.add("op", [a], (4, 250), ("sample", "parameter"), [(0, 1)], name="B")
    b.add("op", [bb], (4, 250), ("sample", "parameter"), [(0, 1)], name="C")
    return b.build()


def test_hand_computed_timeline_of_three_operators_on_two_devices():
    # A and C on d0, B on d1; each tensor is 4 x 250 floats = 4000 bytes, so a transfer takes
    # 0.5 s latency + 4000 B / 4000 B/s = 1.5 s.
    g, m = three_ops(), two_devices()
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0), "B": (3.0, 6.0), "C": (1.0, 2.0)})
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    s = Strategy(g, m, {"x": one(0), "A": one(0), "B": one(1), "C": one(0)})
    tl = Simulator(g, m, costs).simulate(s)
    got = {(r.kind, r.op, r.device): (r.start, r.end) for r in tl.tasks.itertuples()}
    expected = {
        ("forward", "x", "d0"): (0, 0), ("forward", "A", "d0"): (0, 1),
        ("transfer", "B", "d0->d1"): (1, 2.5), ("forward", "B", "d1"): (2.5, 5.5),
        ("transfer", "C", "d1->d0"): (5.5, 7), ("forward", "C", "d0"): (7, 8),
        ("backward", "C", "d0"): (8, 10), ("transfer", "B", "d0->d1"): (10, 11.5),
        ("backward", "B", "d1"): (11.5, 17.5), ("transfer", "A", "d1->d0"): (17.5, 19),
        ("backward", "A", "d0"): (19, 21), ("backward", "x", "d0"): (21, 21)}
    # the forward and the gradient transfer of edge A->B share the link d0->d1
    fwd_ab = tl.tasks[(tl.tasks.kind == "transfer") & (tl.tasks.device == "d0->d1")]
    assert sorted(zip(fwd_ab.start, fwd_ab.end)) == [(1, 2.5), (10, 11.5)]
    for key, span in expected.items():
        if key != ("transfer", "B", "d0->d1"):
            assert got[key] == span, key
    assert len(tl.tasks) == 12 and tl.iteration_time == 21
    # all on one device: no transfers, 1+3+1 forward + 2+6+2 backward = 15 s
    s0 = Strategy(g, m, {n: one(0) for n in "xABC"})
    assert Simulator(g, m, costs).simulate(s0).iteration_time == 15


def test_hand_computed_weight_synchronisation_and_memory():
    # x and A data parallel over d0, d1; A has 1000 weights = 4000 bytes; a ring all-reduce of
    # two devices sends the whole slice each way: 0.5 + 4000 / 4000 = 1.5 s after A's backward.
    b = GraphBuilder("sync")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], params=1000, name="A")
    g, m = b.build(), two_devices()
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0)})
    dp = Strategy.data_parallel(g, m)
    tl = Simulator(g, m, costs, sync="ring").simulate(dp)
    sync = tl.tasks[tl.tasks.kind == "sync"]
    assert sorted(sync.device) == ["d0->d1", "d1->d0"]
    assert set(sync.start) == {3.0} and set(sync.end) == {4.5} and tl.iteration_time == 4.5
    # memory: x and A activations (2000 B each per piece) + A weights and gradients (2 x 4000 B)
    assert list(tl.memory) == [12000.0, 12000.0]
    # model parallel along the parameter dimension: no replicas, no synchronisation
    mp = dp.replace("A", OpConfig((1, 2), (0, 1)))
    assert (Simulator(g, m, costs).simulate(mp).tasks.kind != "sync").all()


def test_hand_computed_parameter_server_synchronisation():
    # The paper's model: the owner replica (d0 for the only weight group) receives d1's gradient
    # (0.5 + 4000 / 4000 = 1.5 s after A's backward ends at 3 s), then sends the updated weights
    # back (another 1.5 s): the iteration ends at 6 s.
    b = GraphBuilder("sync")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], params=1000, name="A")
    g, m = b.build(), two_devices()
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0)})
    tl = Simulator(g, m, costs, sync="ps").simulate(Strategy.data_parallel(g, m))
    sync = tl.tasks[tl.tasks.kind == "sync"].sort_values("start")
    assert list(zip(sync.device, sync.start, sync.end)) == [("d1->d0", 3.0, 4.5), ("d0->d1", 4.5, 6.0)]
    assert tl.iteration_time == 6.0
    with pytest.raises(ConfigError, match="sync"):
        Simulator(g, m, costs, sync="nccl")


def test_parameter_parallel_embedding_beats_data_parallel_when_sync_dominates():
    # One big embedding (1000 x 1000 weights = 4 MB) feeding a cheap weightless op, on two
    # devices joined by a 1 MB/s link, 8 samples x 1000 outputs (32 kB of activations).
    # Data parallel: each device's half batch (0.006 s of compute), then the sync of the whole
    # 4 MB table: parameter server d1 -> d0 (4 s), then d0 -> d1 (4 s); ring: 4 MB each way at once.
    # The embedding whole on d0: no replicas, no sync; the consumer's half on d1 reads 16 kB
    # (0.016 s) forward and sends its gradient back (0.016 s).
    b = GraphBuilder("emb")
    ids = b.input((8, 1), name="ids")
    e = b.embedding(ids, 1000, 1000, name="embed")
    b.relu(e, name="act")
    g, m = b.build(), two_devices(latency=0.0, bandwidth=1e6)
    costs = TableCosts({"ids": (0.0, 0.0), "embed": (0.001, 0.002), "act": (0.001, 0.002)})
    for sync in ("ps", "ring"):
        sim = Simulator(g, m, costs, sync=sync)
        dp = sim.simulate(Strategy.data_parallel(g, m), record=False).iteration_time
        one = Strategy.data_parallel(g, m).replace("embed", OpConfig((1, 1, 1), (0,))).replace(
            "ids", OpConfig((1, 1), (0,)))
        t = sim.simulate(one, record=False).iteration_time
        assert dp == pytest.approx(0.006 + (8.0 if sync == "ps" else 4.0))
        assert t == pytest.approx(0.001 + 0.016 + 0.001 + 0.002 + 0.016 + 0.002)
        assert dp / t > 100


def test_select_reads_only_its_time_step():
    # x_t0 reads one of 40 time steps of the embedding: 1/40 of it, not the whole tensor
    g, m = benchmarks.rnnlm(16, seq_len=40, hidden=32, vocab=100), Machine.preset("p100x4")
    s = Strategy.data_parallel(g, m).replace("embed", OpConfig((1, 1, 1), (0,)))
    tl = Simulator(g, m).simulate(s)
    fwd = tl.tasks[(tl.tasks.kind == "transfer") & (tl.tasks.op == "x_t0") & (tl.tasks.device == "gpu0->gpu1")]
    assert list(fwd.bytes) == [4.0 * 4 * 32]  # 4 samples x 32 features of step 0


def _random_walk(g, m, steps, seed, undo_every=3, sync="ps"):
    """Apply random changes by delta simulation (some undone) and compare each with a full run."""
    rng = np.random.default_rng(seed)
    sim = Simulator(g, m, sync=sync)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    checked = 0
    for k in range(steps):
        i = int(rng.integers(len(g)))
        cfg = random_config(g.ops[i], m, rng)
        prev_cfg = sim.configs[i]
        t_delta = sim.update(i, cfg, record=False).iteration_time
        t_full = Simulator(g, m, sync=sync).simulate(sim.strategy, record=False).iteration_time
        assert t_delta == t_full, (g.name, k, g.ops[i].name, cfg)
        checked += 1
        if k % undo_every == 1:
            sim.undo()
            assert sim.configs[i] == prev_cfg
            assert sim.iteration_time == Simulator(g, m, sync=sync).simulate(sim.strategy, record=False).iteration_time
    # the whole task table agrees too, not just the makespan
    a = sim._timeline(True).tasks.sort_values(["device", "start", "end", "op", "kind"]).reset_index(drop=True)
    b = Simulator(g, m, sync=sync).simulate(sim.strategy).tasks.sort_values(
        ["device", "start", "end", "op", "kind"]).reset_index(drop=True)
    assert a[["device", "start", "end", "op", "kind"]].equals(b[["device", "start", "end", "op", "kind"]])
    return checked


SMALL = {"alexnet": {}, "inception_v3": {}, "resnet101": {},
         "rnntc": {"seq_len": 6, "hidden": 64, "vocab": 200}, "rnnlm": {"seq_len": 6, "hidden": 64, "vocab": 200},
         "nmt": {"seq_len": 5, "hidden": 64, "vocab": 200}}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_delta_equals_full_on_random_changes(name):
    g = benchmarks.build(name, 8, **SMALL[name])
    assert _random_walk(g, Machine.preset("p100x4"), 25, seed=1) == 25


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_delta_equals_full_on_thousands_of_random_changes(name):
    # 6 benchmarks x 2 machines x 250 changes = 3000 changes, each checked against a full run
    g = benchmarks.build(name, 16, **SMALL[name])
    total = sum(_random_walk(g, Machine.preset(m), 250, seed=7) for m in ("p100x4", "h100x8"))
    assert total == 500


def test_delta_equals_full_with_ring_all_reduce():
    g = benchmarks.build("rnnlm", 8, **SMALL["rnnlm"])
    assert _random_walk(g, Machine.preset("p100x4"), 20, seed=2, sync="ring") == 20


def test_whole_recurrent_layer_changes_are_exact_and_undone():
    # changing every time step of a layer (more than REBUILD_AT operators) is simulated in full;
    # undo must restore the previous timeline exactly
    g, m = benchmarks.rnnlm(16, seq_len=12, hidden=32, vocab=100), Machine.preset("p100x4")
    layer = g.groups["lstm0"]
    assert len(layer) > Simulator.REBUILD_AT
    sim = Simulator(g, m)
    base = sim.simulate(Strategy.data_parallel(g, m), record=False).iteration_time
    rng = np.random.default_rng(4)
    for _ in range(4):
        cfg = random_config(g.ops[layer[0]], m, rng)
        t = sim.propose({i: cfg for i in layer})
        assert t == Simulator(g, m).simulate(sim.strategy, record=False).iteration_time
        sim.undo()
        assert sim.iteration_time == base and sim.strategy == Strategy.data_parallel(g, m)
        # a single-operator delta after the undo still agrees with a full simulation
        t = sim.update("proj", OpConfig((1, 1, 4), (0, 1, 2, 3)), record=False).iteration_time
        assert t == Simulator(g, m).simulate(sim.strategy, record=False).iteration_time
        sim.undo()


def test_delta_with_the_paper_cluster_and_batch():
    g, m = benchmarks.alexnet(1024), Machine.preset("p100x16")
    assert _random_walk(g, m, 15, seed=3) == 15


def test_update_errors():
    g, m = benchmarks.alexnet(8), Machine.preset("p100x4")
    sim = Simulator(g, m)
    with pytest.raises(ConfigError, match="simulate"):
        sim.update("fc6", OpConfig((1, 4), (0, 1, 2, 3)))
    sim.simulate(Strategy.data_parallel(g, m))
    with pytest.raises(ConfigError, match="divide"):
        sim.update("fc6", OpConfig((3, 1), (0, 1, 2)))
    with pytest.raises(ConfigError, match="an operator of graph"):
        sim.update("fc9", OpConfig((1, 4), (0, 1, 2, 3)))


def test_analytic_costs_reward_model_parallel_fully_connected_layers():
    # Section 8: on 16 P100s, data parallelism spends AlexNet's time synchronising the FC weights
    g, m = benchmarks.alexnet(64 * 16), Machine.preset("p100x16")
    sim = Simulator(g, m)
    dp = sim.simulate(Strategy.data_parallel(g, m)).iteration_time
    ex = sim.simulate(Strategy.expert(g, m)).iteration_time
    assert ex < dp
    assert validate(g["fc6"], Strategy.expert(g, m)["fc6"], m).pieces == 16


def _check_issue_order(sim):
    """The delta sweep's invariants: ``_order`` holds every live task once, sorted by rank, and
    rank is a topological order of the task graph (each successor after its predecessors)."""
    order = sim._order
    live = [t for lst in sim._dtasks for t in lst]
    assert len(order) == len(live) == sim.num_tasks() and {id(t) for t in order} == {id(t) for t in live}
    ranks = [t.rank for t in order]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks)
    for t in order:
        assert t.alive
        assert all(q.rank > t.rank and q.alive for q in t.succs)
        assert t.dnext is None or t.dnext.rank > t.rank


@pytest.mark.parametrize("name", ["inception_v3", "rnnlm"])
def test_issue_order_survives_accepted_and_undone_changes(name):
    g, m = benchmarks.build(name, 8, **SMALL[name]), Machine.preset("p100x4")
    sim = Simulator(g, m)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    _check_issue_order(sim)
    rng = np.random.default_rng(5)
    for k in range(12):
        i = int(rng.integers(len(g)))
        before = [(t.start, t.end) for t in sim._order]
        sim.update(i, random_config(g.ops[i], m, rng), record=False)
        _check_issue_order(sim)
        if k % 2:
            sim.undo()
            _check_issue_order(sim)
            assert [(t.start, t.end) for t in sim._order] == before


def test_delta_retimes_only_from_the_change_onwards():
    # a change re-times at most the tasks issued at or after the changed operator's first task;
    # everything issued before it keeps its times
    g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    sim = Simulator(g, m)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    i = len(g) - 1
    before = {id(t): (t.start, t.end) for t in sim._order}
    n0 = sim.tasks_simulated
    sim.update(i, OpConfig((1, 1), (2,)), record=False)
    lo = min(t.rank for t in sim._order if t.op == i)
    assert 0 < sim.tasks_simulated - n0 <= sum(t.rank >= lo for t in sim._order) < sim.num_tasks()
    assert all(before[id(t)] == (t.start, t.end) for t in sim._order if t.rank < lo)
    assert sim.iteration_time == Simulator(g, m).simulate(sim.strategy, record=False).iteration_time
