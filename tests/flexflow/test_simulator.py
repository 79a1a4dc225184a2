"""The simulator: a hand-computed timeline, delta simulation == full simulation, undo."""

import dataclasses

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
        ("backward", "A", "d0"): (19, 21), ("backward", "x", "d0"): (0, 0)}
    # the forward and the gradient transfer of edge A->B share the link d0->d1
    fwd_ab = tl.tasks[(tl.tasks.kind == "transfer") & (tl.tasks.device == "d0->d1")]
    assert sorted(zip(fwd_ab.start, fwd_ab.end)) == [(1, 2.5), (10, 11.5)]
    for key, span in expected.items():
        if key != ("transfer", "B", "d0->d1"):
            assert got[key] == span, key
    assert len(tl.tasks) == 12 and tl.iteration_time == 21
    # the input's (empty) backward task needs no gradient: it is ready, and done, at once
    # all on one device: no transfers, 1+3+1 forward + 2+6+2 backward = 15 s
    s0 = Strategy(g, m, {n: one(0) for n in "xABC"})
    assert Simulator(g, m, costs).simulate(s0).iteration_time == 15


def test_hand_computed_weight_synchronisation_and_memory():
    # x and A data parallel over d0, d1; A has 1000 weights = 4000 bytes; a ring all-reduce of
    # two devices sends the whole slice each way in two steps of one latency each:
    # 2 x 0.5 + 4000 / 4000 = 2 s after A's backward.
    b = GraphBuilder("sync")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], params=1000, name="A")
    g, m = b.build(), two_devices()
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0)})
    dp = Strategy.data_parallel(g, m)
    tl = Simulator(g, m, costs, sync="ring").simulate(dp)
    sync = tl.tasks[tl.tasks.kind == "sync"]
    assert sorted(sync.device) == ["d0->d1", "d1->d0"]
    assert set(sync.start) == {3.0} and set(sync.end) == {5.0} and tl.iteration_time == 5.0
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


def _random_walk(g, m, steps, seed, undo_every=3, sync="ring"):
    """Apply random changes by delta simulation (some undone; every fifth a whole weight group at
    once, as the search moves a recurrent layer) and compare each with a full run.

    Every change is compared with a full simulation of the strategy it gives (a whole new task
    graph, built and timed from nothing by a second simulator that only ever simulates in full);
    an undo is compared with the full simulation of the strategy it restores, the one before the
    change."""
    rng = np.random.default_rng(seed)
    sim = Simulator(g, m, sync=sync)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    full = Simulator(g, m, sync=sync)
    t_prev = full.simulate(sim.strategy, record=False).iteration_time
    assert sim.iteration_time == t_prev
    groups = [grp for grp in g.groups.values() if len(grp) > 1]
    checked = 0
    for k in range(steps):
        i = int(rng.integers(len(g)))
        cfg = random_config(g.ops[i], m, rng)
        unit = groups[k % len(groups)] if groups and k % 5 == 4 else [i]
        if len(unit) > 1:
            cfg = random_config(g.ops[unit[0]], m, rng)
        prev = {j: sim.configs[j] for j in unit}
        before = sim.strategy
        t_delta = sim.propose({j: cfg for j in unit})
        t_full = full.simulate(sim.strategy, record=False).iteration_time
        assert t_delta == t_full, (g.name, k, g.ops[i].name, cfg)
        assert np.allclose(sim.memory, full.memory, rtol=1e-9)
        checked += 1
        if k % undo_every == 1:
            sim.undo()
            assert all(sim.configs[j] == c for j, c in prev.items()) and sim.strategy == before
            assert sim.iteration_time == t_prev  # the full simulation of the restored strategy
        else:
            t_prev = t_full
    # the whole task table agrees too, not just the makespan
    cols = ["device", "start", "end", "op", "kind", "bytes"]
    a = sim._timeline(True).tasks.sort_values(cols).reset_index(drop=True)
    b = Simulator(g, m, sync=sync).simulate(sim.strategy).tasks.sort_values(cols).reset_index(drop=True)
    assert a[cols].equals(b[cols])
    return checked


SMALL = {"alexnet": {}, "inception_v3": {}, "resnet101": {},
         "rnntc": {"seq_len": 6, "hidden": 64, "vocab": 200}, "rnnlm": {"seq_len": 6, "hidden": 64, "vocab": 200},
         "nmt": {"seq_len": 5, "hidden": 64, "vocab": 200}}


@pytest.mark.parametrize("sync", ["ring", "ps"])
@pytest.mark.parametrize("name", sorted(SMALL))
def test_delta_equals_full_on_random_changes(name, sync):
    # 6 benchmarks x 2 sync models x 25 changes = 300 changes in the default suite
    g = benchmarks.build(name, 8, **SMALL[name])
    assert _random_walk(g, Machine.preset("p100x4"), 25, seed=1, sync=sync) == 25


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_delta_equals_full_on_thousands_of_random_changes(name):
    # 6 benchmarks x 3 machines x 2 sync models x 100 changes = 3600 changes, each checked
    # against a full run (p100x16 has multi-hop routes that share links)
    g = benchmarks.build(name, 16, **SMALL[name])
    total = sum(_random_walk(g, Machine.preset(m), 100, seed=7, sync=sync)
                for m in ("p100x4", "h100x8", "p100x16") for sync in ("ring", "ps"))
    assert total == 600


def test_delta_equals_full_on_the_k80_cluster_with_a_shared_pcie_switch():
    g = benchmarks.alexnet(64)
    assert _random_walk(g, Machine.preset("k80x64"), 10, seed=2, sync="ps") == 10


def test_whole_recurrent_layer_changes_are_exact_and_undone():
    # changing every time step of a layer at once is one delta; undo restores the timeline exactly
    g, m = benchmarks.rnnlm(16, seq_len=12, hidden=32, vocab=100), Machine.preset("p100x4")
    layer = g.groups["lstm0"]
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
    # Section 8: on 16 P100s with parameter-server synchronisation (the paper's runtime), data
    # parallelism spends AlexNet's time synchronising the FC weights; a ring all-reduce syncs
    # them about 10x faster, and then data parallelism beats the expert strategy's all-gathers
    g, m = benchmarks.alexnet(64 * 16), Machine.preset("p100x16")
    sim = Simulator(g, m, sync="ps")
    dp = sim.simulate(Strategy.data_parallel(g, m)).iteration_time
    ex = sim.simulate(Strategy.expert(g, m)).iteration_time
    assert ex < dp
    ring = Simulator(g, m, sync="ring")
    assert ring.simulate(Strategy.data_parallel(g, m)).iteration_time < dp / 5
    assert validate(g["fc6"], Strategy.expert(g, m)["fc6"], m).pieces == 16


def _check_event_order(sim):
    """The event loop's invariants: ``_order`` holds every live task once, in non-decreasing
    (ready time, rank); each task starts when ready and after its resources' previous tasks."""
    order = sim._order
    keys = [(t.ready, t.rank) for t in order]
    assert keys == sorted(keys) and len({t.rank for t in order}) == len(order)
    assert sim.iteration_time == max((t.end for t in order), default=0.0)
    free = {}
    for t in order:
        assert t.alive and all(p.end <= t.ready for p in t.preds) and t.ready == max(
            [p.end for p in t.preds], default=0.0)
        if t.dur > 0:
            assert t.start == max([t.ready] + [free.get(x, 0.0) for x in t.res])
            for x in t.res:
                free[x] = t.end
        assert t.end == t.start + t.dur


@pytest.mark.parametrize("name", ["inception_v3", "rnnlm"])
def test_event_order_survives_accepted_and_undone_changes(name):
    g, m = benchmarks.build(name, 8, **SMALL[name]), Machine.preset("p100x4")
    sim = Simulator(g, m)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    _check_event_order(sim)
    rng = np.random.default_rng(5)
    for k in range(12):
        i = int(rng.integers(len(g)))
        before = [(id(t), t.start, t.end) for t in sim._order]
        sim.update(i, random_config(g.ops[i], m, rng), record=False)
        _check_event_order(sim)
        if k % 2:
            sim.undo()
            _check_event_order(sim)
            assert [(id(t), t.start, t.end) for t in sim._order] == before


def test_delta_retimes_only_from_the_cut_onwards():
    # a change of the last operator re-times only the tasks from the cut on: everything before
    # it is the very same task objects with the same times
    g, m = benchmarks.alexnet(64), Machine.preset("p100x4")
    sim = Simulator(g, m)
    sim.simulate(Strategy.data_parallel(g, m), record=False)
    before = [(id(t), t.start, t.end) for t in sim._order]
    n0 = sim.tasks_simulated
    sim.update(len(g) - 1, OpConfig((1, 1), (2,)), record=False)
    redone = sim.tasks_simulated - n0
    kept = sim.num_tasks() - redone
    assert 0 < redone < sim.num_tasks() and kept > 0
    assert [(id(t), t.start, t.end) for t in sim._order[:kept]] == before[:kept]
    # the whole forward pass up to fc8 (the softmax's producer) is in the kept prefix
    assert {t.kind for t in sim._order[kept:] if t.op < len(g) - 2} <= {"backward", "sync", "transfer"}
    assert sim.iteration_time == Simulator(g, m).simulate(sim.strategy, record=False).iteration_time


def test_queues_run_tasks_in_ready_time_order_not_issue_order():
    # d0 holds B (which waits 5 s for A on d1 and a transfer) and C (ready at once).  B comes
    # first in topological order, but the paper's queue runs C first, as soon as it is ready.
    b = GraphBuilder("fifo")
    x = b.input((4, 250), name="x")
    a = b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A")
    b.add("op", [a], (4, 250), ("sample", "parameter"), [(0, 1)], name="B")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="C")
    g, m = b.build(), two_devices()
    costs = TableCosts({"x": (0.0, 0.0), "A": (5.0, 5.0), "B": (1.0, 1.0), "C": (1.0, 1.0)})
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    tl = Simulator(g, m, costs).simulate(Strategy(g, m, {"x": one(0), "A": one(1), "B": one(0), "C": one(0)}))
    fwd = tl.tasks[tl.tasks.kind == "forward"].set_index("op")
    assert (fwd.loc["C", "start"], fwd.loc["C", "end"]) == (0.0, 1.0)
    # x -> A: 1.5 s transfer, A 5 s, A -> B 1.5 s: B forward runs 8 .. 9
    assert (fwd.loc["B", "start"], fwd.loc["B", "end"]) == (8.0, 9.0)


def chain_machine():
    """d0 - s - d1 and d2 - s: two hops from d0 to d1, the link s->d1 shared with d2's traffic."""
    return Machine.from_dict({
        "name": "hops", "device_types": {"d": {"flops": 1e9, "mem_bandwidth": 1e9, "memory": 1e9}},
        "devices": [{"name": "d0", "type": "d"}, {"name": "d1", "type": "d"}, {"name": "d2", "type": "d"}],
        "links": [{"a": "d0", "b": "s", "bandwidth": 4000.0, "latency": 0.25},
                  {"a": "s", "b": "d1", "bandwidth": 2000.0, "latency": 0.5},
                  {"a": "d2", "b": "s", "bandwidth": 4000.0, "latency": 0.25}]})


def test_multi_hop_transfers_are_cut_through_and_contend_for_shared_links():
    # 4000 bytes over d0->s (4000 B/s, 0.25 s) and s->d1 (2000 B/s, 0.5 s): cut-through costs the
    # hops' latencies plus the bottleneck's bytes / bandwidth, 0.75 + 2 = 2.75 s (store-and-forward
    # would be 0.25 + 1 + 0.5 + 2 = 3.75 s).  A second message from d2 to d1 at the same moment
    # needs the shared link s->d1: it waits for the first to finish.
    b = GraphBuilder("hops")
    x = b.input((4, 250), name="x")
    a0 = b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A0")
    a2 = b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A2")
    b.add("op", [a0, a2], (4, 250), ("sample", "parameter"), [(0, 1), (0, 1)], name="B")
    g, m = b.build(), chain_machine()
    costs = TableCosts({"x": (0.0, 0.0), "A0": (1.0, 1.0), "A2": (1.0, 1.0), "B": (1.0, 1.0)})
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    s = Strategy(g, m, {"x": one(0), "A0": one(0), "A2": one(2), "B": one(1)})
    tl = Simulator(g, m, costs).simulate(s)
    into_b = tl.tasks[(tl.tasks.kind == "transfer") & (tl.tasks.op == "B")]
    spans = sorted(set(zip(into_b.start, into_b.end)))
    assert m.transfer_time(0, 1, 4000) == pytest.approx(2.75)
    first, second = spans[0], spans[1]
    assert first[1] - first[0] == pytest.approx(2.75)
    assert second[0] == pytest.approx(first[1]) and second[1] - second[0] == pytest.approx(2.75)
    # each transfer is one row per link it holds, all with the same span
    assert sorted(into_b.device) == ["d0->s", "d2->s", "s->d1", "s->d1"]


def test_weights_synchronise_however_their_replicas_are_partitioned():
    # an LSTM layer whose steps 0-2 are whole on gpu0 and steps 3-5 split P2 over gpu2, gpu3:
    # gpu0 holds the whole weight, gpu2 and gpu3 one half each, so each half is synchronised
    # between gpu0 and the device holding it (the old simulator skipped this)
    g, m = benchmarks.rnnlm(8, seq_len=6, hidden=32, vocab=50), Machine.preset("p100x4")
    layer = g.groups["lstm0"]
    s = Strategy.data_parallel(g, m)
    for k, i in enumerate(layer):
        s = s.replace(g.ops[i].name, OpConfig((1, 1), (0,)) if k < 3 else OpConfig((1, 2), (2, 3)))
    for sync in ("ring", "ps"):
        tl = Simulator(g, m, sync=sync).simulate(s)
        sy = tl.tasks[(tl.tasks.kind == "sync") & (tl.tasks.op == g.ops[layer[0]].name)]
        half = 4.0 * g.ops[layer[0]].params / 2
        pairs = {frozenset(d.split("->")) for d in sy.device}
        assert pairs == {frozenset({"gpu0", "gpu2"}), frozenset({"gpu0", "gpu3"})}
        # two devices per half: ring sends 2 (2 - 1) / 2 = the whole half each way, as does ps
        assert set(sy.bytes) == {half} and len(sy) == 4
        # memory: gpu0 the whole weight and gradient, gpu2 and gpu3 half each
        assert tl.memory[0] - tl.memory[2] > 0


def test_spatial_splits_of_convolutions_exchange_halos():
    # three 3x3 'same' convolutions on a 16x16 image split 4 ways along the height, piece k on
    # gpu k: each piece needs one row of each neighbour from the previous layer (the halo).
    b = GraphBuilder("halo")
    x = b.input((1, 2, 16, 16), name="x")
    for k in range(3):
        x = b.conv2d(x, 2, 3, 1, 1, name=f"c{k}")
    g, m = b.build(), Machine.preset("p100x4")
    split = OpConfig((1, 1, 4, 1), (0, 1, 2, 3))
    s = Strategy(g, m, {"x": split, "c0": split, "c1": split, "c2": split})
    tl = Simulator(g, m).simulate(s)
    fwd = tl.tasks[(tl.tasks.kind == "transfer") & (tl.tasks.op == "c1")]
    # 3 internal boundaries x 2 directions = 6 halo messages of one row (2 channels x 16 floats)
    assert len(fwd) / 2 == 6 and set(fwd.bytes) == {4.0 * 2 * 16}
    # every layer after the input's: 6 forward halos each (c0 reads x's halo too), and gradients back
    assert (tl.tasks.kind == "transfer").sum() == 3 * 6 + 2 * 6
    # the same split of pooling with a 3x3 window, stride 1, padding 1 also exchanges halos
    b = GraphBuilder("halo_pool")
    x = b.input((1, 2, 16, 16), name="x")
    p = b.pool2d(b.conv2d(x, 2, 1, name="c"), 3, 1, 1, name="p")
    g = b.build()
    tl = Simulator(g, m).simulate(Strategy(g, m, {"x": split, "c": split, "p": split}))
    assert ((tl.tasks.kind == "transfer") & (tl.tasks.op == "p")).sum() == 6


def test_memory_over_device_capacity_is_reported():
    # AlexNet whole on one device: every activation (4 bytes per element) and every weight with its
    # gradient (8 bytes per weight), the closed form; 1 GB devices cannot hold it, 4 GB can
    g = benchmarks.alexnet(8)
    small, big = two_devices(), Machine.preset("p100x4")
    small.devices[0] = dataclasses.replace(small.devices[0], memory=4e8)  # a 400 MB device
    for m, fits in ((small, False), (big, True)):
        whole = Strategy(g, m, {op.name: OpConfig((1,) * len(op.shape), (0,)) for op in g})
        sim = Simulator(g, m)
        tl = sim.simulate(whole)
        expected = 4.0 * sum(op.numel for op in g) + 8.0 * g.total_params
        assert tl.memory[0] == pytest.approx(expected) and tl.memory[1] == 0
        assert sim.fits_memory() is fits
    # delta keeps the memory figures of a full simulation
    sim.update("fc6", OpConfig((1, 4), (0, 1, 2, 3)), record=False)
    assert np.allclose(sim.memory, Simulator(g, big).simulate(sim.strategy).memory)
    assert sim.memory[1] == pytest.approx(4.0 * g["fc6"].numel / 4 + 8.0 * g["fc6"].params / 4)


def _host_driven(m):
    """``m`` with every device's transfers host-driven (no copy engine)."""
    spec = m.to_dict()
    for t in spec["device_types"].values():
        t["copy_engine"] = False
    return Machine.from_dict(spec)


def test_host_driven_transfers_occupy_both_ends():
    # Two independent branches: A (d0) feeds B (d1), and E runs on d0 right after A.  With a
    # copy engine, A's output (1.5 s transfer) moves while d0 computes E; without one (a CPU
    # process over gloo) the transfer holds d0 and d1, so E waits for it.
    b = GraphBuilder("branches")
    x = b.input((4, 250), name="x")
    a = b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A")
    b.add("op", [a], (4, 250), ("sample", "parameter"), [(0, 1)], name="B")
    b.add("op", [a], (4, 250), ("sample", "parameter"), [(0, 1)], name="E")
    g = b.build()
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 0.0), "B": (1.0, 0.0), "E": (1.0, 0.0)})
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    dma, host = two_devices(), _host_driven(two_devices())
    s = Strategy(g, dma, {"x": one(0), "A": one(0), "B": one(1), "E": one(0)})
    fwd = lambda tl, op: tuple(tl.tasks[(tl.tasks.kind == "forward") & (tl.tasks.op == op)][["start", "end"]].iloc[0])  # noqa: E731,E501
    t1 = Simulator(g, dma, costs).simulate(s)
    assert fwd(t1, "E") == (1.0, 2.0) and fwd(t1, "B") == (2.5, 3.5)
    t2 = Simulator(g, host, costs).simulate(Strategy(g, host, dict(s.configs)))
    # the transfer (ready at 1 s, key (0, B, ...)) comes before E's forward (key (0, E, ...)):
    # it holds d0 from 1 to 2.5 s, so E runs 2.5-3.5 s; B runs on d1 after the transfer
    xfer = t2.tasks[(t2.tasks.kind == "transfer") & (t2.tasks.op == "B")]
    assert set(xfer.device) == {"d0", "d1", "d0->d1"} and set(zip(xfer.start, xfer.end)) == {(1.0, 2.5)}
    assert fwd(t2, "E") == (2.5, 3.5) and fwd(t2, "B") == (2.5, 3.5)


def test_host_driven_ring_of_two_is_two_transfers_in_turn():
    # data-parallel A (1000 weights = 4000 B): the two ring transfers of 1.5 s each hold both
    # processes, so they run one after the other: 3 s of backward, then 3 s of sync
    b = GraphBuilder("sync")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], params=1000, name="A")
    g, m = b.build(), _host_driven(two_devices())
    costs = TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0)})
    tl = Simulator(g, m, costs, sync="ring").simulate(Strategy.data_parallel(g, m))
    spans = sorted(set(zip(tl.tasks[tl.tasks.kind == "sync"].start, tl.tasks[tl.tasks.kind == "sync"].end)))
    assert spans == [(3.0, 4.5), (4.5, 6.0)] and tl.iteration_time == 6.0


def test_ring_all_reduce_pays_a_latency_per_step():
    # a ring all-reduce over r devices with copy engines runs 2 (r - 1) steps, each paying the
    # link's latency (review finding: one latency in all flattered ring data parallelism; the
    # two-device case is in test_hand_computed_weight_synchronisation_and_memory)
    b = GraphBuilder("sync")
    b.add("op", [b.input((4, 250), name="x")], (4, 250), ("sample", "parameter"), [(0, 1)], params=1000, name="A")
    g, costs = b.build(), TableCosts({"x": (0.0, 0.0), "A": (1.0, 2.0)})
    # four devices in a ring of direct links: each send carries 2 (4 - 1) = 6 latencies and
    # 2 (4 - 1) / 4 of the 4000 B: 6 x 0.5 + 6000 / 4000 = 4.5 s
    names = ["d0", "d1", "d2", "d3"]
    m4 = Machine.from_dict({
        "name": "four", "device_types": {"d": {"flops": 1e9, "mem_bandwidth": 1e9, "memory": 1e9}},
        "devices": [{"name": n, "type": "d"} for n in names],
        "links": [{"a": names[k], "b": names[(k + 1) % 4], "bandwidth": 4000.0, "latency": 0.5} for k in range(4)]})
    tl4 = Simulator(g, m4, costs, sync="ring").simulate(Strategy.data_parallel(g, m4))
    sync4 = tl4.tasks[tl4.tasks.kind == "sync"]
    assert len(sync4) == 4 and all(abs(e - s - 4.5) < 1e-12 for s, e in zip(sync4.start, sync4.end))


@pytest.mark.parametrize("sync", ["ring", "ps"])
@pytest.mark.parametrize("name", ["alexnet", "rnnlm", "inception_v3"])
def test_delta_equals_full_with_host_driven_transfers(name, sync):
    # 3 benchmarks x 2 sync models x 20 changes on four CPU processes, transfers holding devices
    g = benchmarks.build(name, 8, **SMALL[name])
    assert _random_walk(g, _host_driven(Machine.preset("p100x4")), 20, seed=3, sync=sync) == 20


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_delta_equals_full_with_host_driven_transfers_thousands(name):
    # 6 benchmarks x 2 machines x 2 sync models x 100 changes = 2400 more changes
    g = benchmarks.build(name, 16, **SMALL[name])
    total = sum(_random_walk(g, _host_driven(Machine.preset(m)), 100, seed=5, sync=sync)
                for m in ("p100x4", "p100x16") for sync in ("ring", "ps"))
    assert total == 400


# -- contention between devices that share a core or memory system ---------------------------

class SlowTableCosts(TableCosts):
    """Fixed times alone and fixed slowdowns (with the other device busy) per operator name."""

    def __init__(self, table, slow):
        super().__init__(table)
        self.slow = slow

    def slowdown(self, graph, i, degrees, device):
        return self.slow[graph.ops[i].name]


def _shared(m, contention=1.0):
    """``m`` with all its devices in one ``share`` group."""
    spec = m.to_dict()
    for d in spec["devices"]:
        d["share"] = "host"
    for t in spec["device_types"].values():
        t["contention"] = contention
    return Machine.from_dict(spec)


def two_branches():
    """x -> A and x -> B, independent (A on d0, B on d1 in the tests)."""
    b = GraphBuilder("branches")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="B")
    return b.build()


def _spans(tl, kind="forward"):
    rows = tl.tasks[tl.tasks.kind == kind]
    return {(op, dev): (s, e) for op, dev, s, e in zip(rows.op, rows.device, rows.start, rows.end)}


def test_tasks_that_overlap_on_a_shared_core_cost_their_measured_slowdown():
    # data-parallel A: its two pieces (1 s alone, 1.7 s with the other core busy) start together on
    # the two devices and overlap all the way, so each takes its measured concurrent time, 1.7 s
    b = GraphBuilder("one")
    x = b.input((4, 250), name="x")
    b.add("op", [x], (4, 250), ("sample", "parameter"), [(0, 1)], name="A")
    g = b.build()
    costs = SlowTableCosts({"x": (0.0, 0.0), "A": (1.0, 0.5)}, {"x": (1.0, 1.0), "A": (1.7, 1.3)})
    free, shared = two_devices(), _shared(two_devices())
    assert Simulator(g, free, costs).simulate(Strategy.data_parallel(g, free)).iteration_time == 1.5
    tl = Simulator(g, shared, costs).simulate(Strategy.data_parallel(g, shared))
    fwd, bwd = _spans(tl), _spans(tl, "backward")
    assert all(abs(fwd["A", d][1] - fwd["A", d][0] - 1.7) < 1e-9 for d in ("d0", "d1"))
    assert all(abs(bwd["A", d][1] - bwd["A", d][0] - 0.5 * 1.3) < 1e-9 for d in ("d0", "d1"))
    assert abs(tl.iteration_time - (1.7 + 0.65)) < 1e-9


def _partial_overlap():
    """Two branches, A (1 s alone) on d0 and B (2 s alone) on d1, both 2x slower while the other
    runs, on two shared devices over an all but free link: graph, machine, costs, strategy."""
    g = two_branches()
    costs = SlowTableCosts({"x": (0.0, 0.0), "A": (1.0, 0.0), "B": (2.0, 0.0)},
                           {"x": (1.0, 1.0), "A": (2.0, 2.0), "B": (2.0, 2.0)})
    m = _shared(two_devices(0.0, 1e15))
    s = Strategy(g, m, {"x": OpConfig((1, 1), (0,)), "A": OpConfig((1, 1), (0,)), "B": OpConfig((1, 1), (1,))})
    return g, m, costs, s


def test_partial_overlap_is_stretched_only_while_the_other_core_computes():
    # A (1 s alone) on d0 and B (2 s alone) on d1, both 2x slower while the other runs.  As a fluid:
    # both advance at half speed until A's 1 s of work is done at t = 2; B has done 1 s of its 2 by
    # then and finishes the rest alone, at t = 3 (not 4, and not 2 as without contention); the
    # link is all but free (x reaches d1 after 4e-12 s)
    g, m, costs, s = _partial_overlap()
    tl = Simulator(g, m, costs).simulate(s)
    sp = _spans(tl)
    assert abs(sp["A", "d0"][1] - 2.0) < 1e-9 and abs(sp["B", "d1"][1] - 3.0) < 1e-9
    assert abs(tl.iteration_time - 3.0) < 1e-9
    # the same two tasks on one device run in turn, never together: no slowdown, 3 s of work
    one = Strategy(g, m, {"x": OpConfig((1, 1), (0,)), "A": OpConfig((1, 1), (0,)), "B": OpConfig((1, 1), (0,))})
    assert Simulator(g, m, costs).simulate(one).iteration_time == 3.0
    # and devices outside any share group never slow each other down
    free = two_devices(0.0, 1e15)
    assert abs(Simulator(g, free, costs).simulate(Strategy(g, free, dict(s.configs))).iteration_time - 2.0) < 1e-9


def test_a_chain_over_two_shared_devices_never_overlaps_so_is_not_stretched():
    g = three_ops()
    costs = SlowTableCosts({"x": (0.0, 0.0), "A": (1.0, 0.0), "B": (1.0, 0.0), "C": (1.0, 0.0)},
                           {k: (3.0, 3.0) for k in "xABC"})
    m = _shared(two_devices())
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    s = Strategy(g, m, {"x": one(0), "A": one(0), "B": one(1), "C": one(0)})
    # A 1 s, a transfer of 4000 B (0.5 + 4000 / 4000 = 1.5 s), B 1 s, a transfer, C 1 s, then the two
    # gradient transfers back: 9 s, as without contention (no two compute tasks ever overlap)
    assert Simulator(g, m, costs).simulate(s).iteration_time == Simulator(g, two_devices(), costs).simulate(
        Strategy(g, two_devices(), dict(s.configs))).iteration_time == 9.0


def test_analytic_costs_use_the_device_contention_factor():
    g, m = benchmarks.mlp(64, (64, 128, 10)), Machine.preset("cpu2")
    dp = Strategy.data_parallel(g, m)
    base = Simulator(g, m).simulate(dp, record=False).iteration_time
    assert Simulator(g, _shared(m, 1.0)).simulate(dp, record=False).iteration_time == base
    slowed = Simulator(g, _shared(m, 1.6)).simulate(dp, record=False).iteration_time
    # every compute task of data parallelism overlaps its twin on the other core: compute x 1.6
    tl = Simulator(g, m).simulate(dp)
    comp = tl.tasks[tl.tasks.kind.isin(["forward", "backward"]) & (tl.tasks.device == "core0")]
    assert abs(slowed - base - 0.6 * float((comp.end - comp.start).sum())) < 1e-9 * base


@pytest.mark.parametrize("name", ["alexnet", "rnnlm"])
def test_delta_equals_full_with_contention(name):
    g = benchmarks.build(name, 8, **SMALL[name])
    assert _random_walk(g, _shared(_host_driven(Machine.preset("p100x4")), 1.7), 8, seed=11) == 8
