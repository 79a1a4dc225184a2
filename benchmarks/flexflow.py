"""FlexFlow benchmark: simulator speed, delta vs full simulation, search vs data parallelism,
and the simulator against measured CPU runs (arXiv 1807.05358, Sections 5, 6 and 8).

Usage::

    python benchmarks/flexflow.py            # the paper's shapes on the 4 x 4 P100 model
    python benchmarks/flexflow.py --quick    # small models and budgets, for CI

Weights are synchronised as in the paper's simulator, through a parameter-server
owner replica (``--sync ps``, the default); ``--sync ring`` times every strategy,
data parallelism included, with ring all-reduces instead.

Prints a table, then one JSON object on the last line with the keys
``sim_tasks_per_second``, ``delta_speedup_inception16``, ``speedup_over_dp``,
``search_seconds`` and ``sim_error_vs_measured``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from dawnlab.flexflow import Machine, Simulator, Strategy, benchmarks, search
from dawnlab.flexflow.soap import random_config


def tasks_per_second(graph, machine, repeats):
    sim = Simulator(graph, machine)
    strategies = [Strategy.data_parallel(graph, machine), Strategy.expert(graph, machine),
                  Strategy.random(graph, machine, 0)]
    t0, tasks = time.perf_counter(), 0
    for _ in range(repeats):
        for s in strategies:
            sim.simulate(s, record=False)
            tasks += sim.num_tasks()
    return tasks / (time.perf_counter() - t0)


def delta_vs_full(graph, machine, steps):
    """Seconds per MCMC step (one random proposal, evaluated then rejected) from data
    parallelism: delta simulation + undo against a full simulation of the proposed strategy.
    Both evaluate the same proposals and give the same times; setup is not counted."""
    rng = np.random.default_rng(11)
    base = Strategy.data_parallel(graph, machine)
    props = []
    while len(props) < steps:
        i = int(rng.integers(len(graph)))
        cfg = random_config(graph.ops[i], machine, rng)
        if cfg != base[graph.ops[i].name]:
            props.append((i, cfg))
    sim = Simulator(graph, machine)
    sim.simulate(base, record=False)
    t0 = time.perf_counter()
    got = []
    for i, cfg in props:
        got.append(sim.propose({i: cfg}))
        sim.undo()
    t_delta = (time.perf_counter() - t0) / steps
    t0 = time.perf_counter()
    ref = [Simulator(graph, machine).simulate(base.replace(graph.ops[i].name, cfg), record=False).iteration_time
           for i, cfg in props]
    t_full = (time.perf_counter() - t0) / steps
    assert got == ref  # delta simulation is exact
    return t_full / t_delta, t_delta, t_full


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small models and budgets (CI)")
    ap.add_argument("--budget", type=int, default=None, help="MCMC proposals per chain")
    ap.add_argument("--seconds", type=float, default=None, help="search time budget per benchmark")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--skip-measured", action="store_true", help="skip the CPU measurement check")
    ap.add_argument("--sync", choices=("ps", "ring"), default="ps",
                    help="weight synchronisation model: parameter server (the paper's) or ring all-reduce")
    args = ap.parse_args(argv)
    quick = args.quick
    machine = Machine.preset("p100x16")
    per_gpu = 8 if quick else 64
    batch = per_gpu * machine.num_devices
    rnn_kw = {"seq_len": 8, "hidden": 256, "vocab": 2000} if quick else {}
    budget = args.budget or (150 if quick else 2000)
    seconds = args.seconds or (3.0 if quick else 90.0)

    # 1. simulator throughput and delta vs full (Inception-v3, 16 devices)
    inc = benchmarks.inception_v3(batch)
    tps = tasks_per_second(inc, machine, 1 if quick else 3)
    speedup, t_delta, t_full = delta_vs_full(inc, machine, 8 if quick else 40)
    print(f"simulator: {tps:,.0f} tasks/s (Inception-v3, 16 devices)")
    print(f"MCMC step on Inception-v3 / 16 GPUs: delta {t_delta * 1e3:.1f} ms, full {t_full * 1e3:.1f} ms, "
          f"speedup {speedup:.2f}x (paper: 2.2x-6.9x)")

    # 2. search vs data parallelism, model parallelism and the expert strategy
    rows, speed, secs = [], {}, {}
    for name in benchmarks.BENCHMARKS:
        kw = rnn_kw if name in ("rnntc", "rnnlm", "nmt") else {}
        g = benchmarks.build(name, batch, **kw)
        sim = Simulator(g, machine, sync=args.sync)
        base = {k: sim.simulate(getattr(Strategy, k)(g, machine), record=False).iteration_time
                for k in ("data_parallel", "model_parallel", "expert")}
        t0 = time.perf_counter()
        final = list(search(g, machine, budget=budget, chains=args.chains, seconds=seconds, rounds=5,
                            seed=0, sync=args.sync))[-1]
        secs[name] = round(time.perf_counter() - t0, 1)
        speed[name] = round(base["data_parallel"] / final.best_time, 3)
        rows.append((name, base["data_parallel"], base["model_parallel"], base["expert"], final.best_time,
                     speed[name], final.steps, secs[name]))
    print()
    print(f"{'benchmark':<13}{'DP ms':>9}{'MP ms':>9}{'expert ms':>11}{'found ms':>10}{'vs DP':>8}"
          f"{'steps':>8}{'search s':>10}")
    for r in rows:
        print(f"{r[0]:<13}{r[1] * 1e3:>9.1f}{r[2] * 1e3:>9.1f}{r[3] * 1e3:>11.1f}{r[4] * 1e3:>10.1f}"
              f"{r[5]:>8.2f}{r[6]:>8d}{r[7]:>10.1f}")

    # 3. the simulator against measured CPU runs (1 process; 2 processes with gloo)
    err = None
    if not args.skip_measured:
        from dawnlab.flexflow.validate import check

        r = check(sizes=(256, 512, 10) if quick else (784, 1024, 1024, 10), batch_size=128 if quick else 256,
                  steps=8 if quick else 20)
        print()
        print(r.table().to_string(index=False))
        print(f"{r.rounds} interleaved rounds; measured per-step offset {r.single_offset * 1e3:+.2f} ms "
              f"(1 process), {r.ddp_offset * 1e3:+.2f} ms (2 processes); fitted link "
              f"{r.link_latency * 1e6:.0f} us + bytes / {r.link_bandwidth / 1e9:.2f} GB/s")
        err = {"1proc": round(r.single_error, 3), "2proc_gloo": round(r.ddp_error, 3)}
    print(json.dumps({"sim_tasks_per_second": round(tps), "delta_speedup_inception16": round(speedup, 2),
                      "speedup_over_dp": speed, "search_seconds": secs, "sim_error_vs_measured": err,
                      "sync": args.sync, "quick": quick}))


if __name__ == "__main__":
    main()
