"""Contention between shared devices against a brute-force reference of the same model.

The reference re-times the simulator's own task graph (its tasks, the resources each holds,
their times alone, slowdowns and ranks: transfers and synchronisation exactly as the simulator
builds them) by an event-driven fluid simulation of the model in the simulator's module
docstring, in exact rational arithmetic, scanning every task at every instant:

- a compute task on a device of a share group advances at rate ``1 / slow`` while another
  device of its group runs a compute task, at rate 1 otherwise; every other task at rate 1;
- every device and link serves its tasks one at a time in (ready time, rank) order: a task
  starts when it is ready, all its resources are idle and no waiting task of a smaller
  (ready time, rank) holds one of them; tasks of zero duration take no resource.

Being exact, it has no near-ties: tasks ready at the same instant are ordered by rank.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from dawnlab.flexflow import GraphBuilder, Machine, OpConfig, Simulator, Strategy
from dawnlab.flexflow.soap import random_config
from tests.flexflow.test_simulator import SlowTableCosts, _shared, two_devices

COMPUTE = ("forward", "backward")


def fluid_reference(sim: Simulator) -> dict:
    """{task: (start, end)} (Fractions) of ``sim``'s current task graph, by the fluid model."""
    tasks = sorted(sim._order, key=lambda t: t.rank)
    group = {d: devs for devs in sim._share for d in devs}
    work = {t: Fraction(t.base) for t in tasks}
    ready, start, end, left = {}, {}, {}, {}
    running, done = set(), set()
    now = Fraction(0)
    while len(done) < len(tasks):
        changed = True
        while changed:  # every task whose inputs are done is ready; zero duration: done at once
            changed = False
            for t in tasks:
                if t not in ready and all(p in done for p in t.preds):
                    ready[t] = max((end[p] for p in t.preds), default=Fraction(0))
                    changed = True
                if t in ready and t not in start and work[t] == 0:
                    start[t] = end[t] = ready[t]
                    done.add(t)
                    changed = True
        busy = {x for t in running for x in t.res}
        claimed = set()  # resources of waiting tasks that come earlier in the queues
        for t in sorted((t for t in ready if t not in start), key=lambda t: (ready[t], t.rank)):
            if busy.isdisjoint(t.res) and claimed.isdisjoint(t.res):
                start[t], left[t] = now, work[t]
                running.add(t)
                busy.update(t.res)
            else:
                claimed.update(t.res)
        assert running, "nothing runs: the task graph is stuck"
        computing = {t.res[0] for t in running if t.kind in COMPUTE}

        def rate(t):
            d = t.res[0] if t.res else None
            if t.kind in COMPUTE and d in group and any(e != d and e in computing for e in group[d]):
                return 1 / Fraction(t.slow)
            return Fraction(1)

        rates = {t: rate(t) for t in running}
        step = min(left[t] / rates[t] for t in running)
        now += step
        for t in list(running):
            left[t] -= rates[t] * step
            if left[t] == 0:
                end[t] = now
                running.discard(t)
                done.add(t)
    return {t: (start[t], end[t]) for t in tasks}


def assert_matches_reference(sim: Simulator):
    ref = fluid_reference(sim)
    makespan = max(e for _, e in ref.values())
    tol = 1e-9 * float(makespan)
    assert abs(sim.iteration_time - float(makespan)) <= tol, (sim.iteration_time, float(makespan))
    for t, (s, e) in ref.items():
        assert abs(t.start - float(s)) <= tol and abs(t.end - float(e)) <= tol, (
            t.kind, sim.graph.ops[t.op].name, [sim.dev_names[x] for x in t.res], (t.start, t.end), (float(s), float(e)))


def test_tasks_ready_at_the_same_instant_go_by_rank_even_after_a_contended_end():
    # d0 and d1 share a core.  A (1 s alone) on d0 and D (1 s) on d1 start together, both 2x slower
    # while the other computes: both end at 2 s.  Q's input crosses the link d1->d0 (4000 B at
    # 2000 B/s): it is ready on d0 at 2 s too, the same instant as A's backward.  Q's forward comes
    # first in rank (forward before backward), so d0 runs it 2-3 s (1 s, never slowed) while D's
    # backward runs on d1 at half speed (0.5 s of work done); then A's backward (2 s alone) overlaps
    # D's last 0.5 s of work, 3-4 s at half speed each, and finishes its last 1.5 s alone: 5.5 s.
    # Review finding #1: the old fixed point put A's forward end a few 1e-11 s before 2 s, so its
    # backward went first, and the timeline ended at 6 s.
    b = GraphBuilder("tie")
    x0, x1 = b.input((4, 250), name="x0"), b.input((4, 250), name="x1")
    for name, src in (("A", x0), ("D", x1), ("Q", x1)):
        b.add("op", [src], (4, 250), ("sample", "parameter"), [(0, 1)], name=name)
    g = b.build()
    costs = SlowTableCosts({"x0": (0.0, 0.0), "x1": (0.0, 0.0), "A": (1.0, 2.0), "D": (1.0, 1.0), "Q": (1.0, 0.0)},
                           {"x0": (1.0, 1.0), "x1": (1.0, 1.0), "A": (2.0, 2.0), "D": (2.0, 2.0), "Q": (1.0, 1.0)})
    m = _shared(two_devices(0.0, 2000.0))
    one = lambda d: OpConfig((1, 1), (d,))  # noqa: E731
    sim = Simulator(g, m, costs)
    tl = sim.simulate(Strategy(g, m, {"x0": one(0), "x1": one(1), "A": one(0), "D": one(1), "Q": one(0)}))
    rows = tl.tasks[tl.tasks.kind.isin(COMPUTE) & (tl.tasks.end > tl.tasks.start)]
    got = {(k, op): (s, e) for k, op, s, e in zip(rows.kind, rows.op, rows.start, rows.end)}
    expected = {("forward", "A"): (0, 2), ("forward", "D"): (0, 2), ("forward", "Q"): (2, 3),
                ("backward", "D"): (2, 4), ("backward", "A"): (3, 5.5)}
    assert got.keys() == expected.keys()
    assert all(abs(got[k][0] - s) < 1e-12 and abs(got[k][1] - e) < 1e-12 for k, (s, e) in expected.items()), got
    assert abs(tl.iteration_time - 5.5) < 1e-12
    assert_matches_reference(sim)
    # one pass of the event loop, not a re-timing per round of a fixed point
    assert sim.tasks_simulated == sim.num_tasks()


def tiny_case(seed: int, continuous: bool = False):
    """A random tiny task graph on 2-3 devices, all or two of them one share group: (graph,
    machine, costs, strategy, sync).  Times alone and slowdowns come from a few round values
    (so that tasks often end at exactly the same instant), or ``continuous`` ones."""
    rng = np.random.default_rng(seed)
    nd = int(rng.integers(2, 4))
    names = [f"d{k}" for k in range(nd)]
    nshared = nd if rng.random() < 0.7 else 2
    m = Machine.from_dict({
        "name": "tiny",
        "device_types": {"d": {"flops": 1e9, "mem_bandwidth": 1e9, "memory": 1e9,
                               "copy_engine": bool(rng.random() < 0.5)}},
        "devices": [{"name": n, "type": "d", **({"share": "host"} if k < nshared else {})}
                    for k, n in enumerate(names)],
        "links": [{"a": names[a], "b": names[b], "bandwidth": float(rng.choice([2000.0, 4000.0, 8000.0])),
                   "latency": float(rng.choice([0.0, 0.25, 0.5]))} for a in range(nd) for b in range(a + 1, nd)]})
    b = GraphBuilder("tiny")
    ops = [b.input((4, 250), name="x")]
    for k in range(int(rng.integers(2, 6))):
        ins = list(rng.choice(ops, size=1 if len(ops) == 1 or rng.random() < 0.6 else 2, replace=False))
        ops.append(b.add("op", ins, (4, 250), ("sample", "parameter"), [(0, 1)] * len(ins),
                         params=int(rng.choice([0, 0, 500, 1000])), name=f"o{k}"))
    g = b.build()
    times = list(rng.uniform(0.2, 3.0, 40)) if continuous else [0.5, 1.0, 1.5, 2.0, 3.0]
    slows = [1.0, 1.5, 2.0, 3.0]
    table, slow = {"x": (0.0, 0.0)}, {"x": (1.0, 1.0)}
    for op in ops[1:]:
        table[op] = (float(rng.choice(times)), float(rng.choice(times)))
        slow[op] = (float(rng.choice(slows)), float(rng.choice(slows)))
    s = Strategy(g, m, {op.name: random_config(op, m, rng) for op in g.ops})
    return g, m, SlowTableCosts(table, slow), s, ("ring", "ps")[int(rng.integers(2))]


@pytest.mark.parametrize("continuous", [False, True])
def test_random_tiny_cases_match_the_fluid_reference(continuous):
    # 300 seeded cases each; with round values many tasks end at exactly the same instant (the old
    # fixed point got seeds 130 and 274 of these wrong by 0.7% and 7%, and 14 of 2,700 more by up
    # to 10%, each at such a tie), with continuous ones ties are rarer (it got 1 in 2,000 wrong).
    # Round-value seed 456 has two ends that differ by float noise alone: taken as two instants,
    # they order two tasks by that noise, not by rank, and the makespan is 1.7% off.
    for seed in list(range(300)) + ([] if continuous else [456]):
        g, m, costs, s, sync = tiny_case(seed, continuous)
        sim = Simulator(g, m, costs, sync)
        sim.simulate(s, record=False)
        assert_matches_reference(sim)


def test_delta_simulation_under_contention_matches_the_reference_and_undoes_exactly():
    # random changes by delta simulation, each checked against the reference and against a full
    # simulation of the strategy it gives; every other change undone and checked again
    rng = np.random.default_rng(7)
    for seed in range(40):
        g, m, costs, s, sync = tiny_case(1000 + seed)
        sim = Simulator(g, m, costs, sync)
        sim.simulate(s, record=False)
        before = sim.iteration_time
        for k in range(3):
            i = int(rng.integers(1, len(g)))
            t = sim.propose({i: random_config(g.ops[i], m, rng)})
            assert t == Simulator(g, m, costs, sync).simulate(sim.strategy, record=False).iteration_time
            assert_matches_reference(sim)
            if k % 2:
                sim.undo()
                assert sim.iteration_time == before
                assert_matches_reference(sim)
            else:
                before = t
