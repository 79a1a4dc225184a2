"""FlexFlow benchmark: simulator speed, delta vs full simulation, search vs data parallelism
under both weight-sync models, and the simulator against measured CPU runs of many strategies
(arXiv 1807.05358, Sections 5, 6 and 8).

Usage::

    python benchmarks/flexflow.py            # the paper's shapes on the 4 x 4 P100 model
    python benchmarks/flexflow.py --quick    # small models and budgets, for CI

Every figure uses the paper's simulator: ready-time FIFO queues per device and link,
cut-through transfers.  The search runs twice per benchmark, once timing every strategy
(data parallelism included) with ring all-reduce weight sync (the simulator's default, what
data-parallel training really runs) and once with parameter-server sync (FlexFlow's runtime,
the paper's baseline).  Both chains start from data parallelism, so no speed-up is below 1.0.

Prints tables, then one JSON object on the last line with the keys
``sim_tasks_per_second``, ``delta_speedup_inception16`` (seconds per MCMC step, full over
delta simulation), ``speedup_over_dp`` (parameter-server sync, per benchmark),
``speedup_over_dp_ring`` (ring sync, per benchmark), ``search_seconds`` (both searches, per
benchmark), ``sim_error_vs_measured`` (the data-parallel MLP check), ``sim_rank_kendall``,
``sim_rank_spearman`` and ``sim_max_error_validated`` (the check of many strategies on 2 CPU
processes), ``sim_errors_validated`` (per strategy), ``validation_others_cores`` (per measured
round, the cores' worth of CPU other programs took: the contention the measurement ran under),
``validation_rounds_used``, ``validation_without_contention`` (tau, rho and max error of the
same rounds predicted without the two cores' contention model) and ``quick``.

The measured checks run on this machine's CPUs, which other programs may share: each round
records how much CPU they took; ``--max-others`` predicts from the quiet rounds only (chosen by
that measured contention, never by the step times) and ``--wait-quiet`` waits up to that many
seconds before each round for the machine to become quiet.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from dawnlab.flexflow import Machine, Simulator, Strategy, benchmarks, search
from dawnlab.flexflow.soap import random_config

#: The MLP whose strategies are measured: wide layers at a small batch, so that weight sync,
#: activation transfers and compute differ enough between strategies to order them beyond noise.
SUITE_SIZES, SUITE_BATCH = (512, 4096, 4096, 10), 64


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


def simulated_part(args, machine, batch, rnn_kw, budget, seconds, rows, speed, secs):
    """Sections 1-2: simulator throughput, delta vs full, and the searches (fills rows, speed, secs)."""
    # 1. simulator throughput and delta vs full (Inception-v3, 16 devices, ring sync)
    quick = args.quick
    inc = benchmarks.inception_v3(batch)
    tps = tasks_per_second(inc, machine, 1 if quick else 3)
    speedup, t_delta, t_full = delta_vs_full(inc, machine, 8 if quick else 40)
    print(f"simulator: {tps:,.0f} tasks/s (Inception-v3, 16 devices, ready-time queues)")
    print(f"MCMC step on Inception-v3 / 16 GPUs: delta {t_delta * 1e3:.1f} ms, full {t_full * 1e3:.1f} ms, "
          f"speedup {speedup:.2f}x (paper: 2.2x-6.9x)")

    # 2. search vs data parallelism, model parallelism and the expert strategy, both sync models
    for name in benchmarks.BENCHMARKS:
        kw = rnn_kw if name in ("rnntc", "rnnlm", "nmt") else {}
        g = benchmarks.build(name, batch, **kw)
        secs[name] = 0.0
        for sync in ("ring", "ps"):
            sim = Simulator(g, machine, sync=sync)
            base = {k: sim.simulate(getattr(Strategy, k)(g, machine), record=False).iteration_time
                    for k in ("data_parallel", "model_parallel", "expert")}
            t0 = time.perf_counter()
            final = list(search(g, machine, budget=budget, chains=args.chains, seconds=seconds, rounds=5,
                                seed=0, sync=sync, progress=False))[-1]
            took = time.perf_counter() - t0
            secs[name] = round(secs[name] + took, 1)
            speed[sync][name] = round(base["data_parallel"] / final.best_time, 3)
            rows.append((name, sync, base["data_parallel"], base["model_parallel"], base["expert"],
                         final.best_time, speed[sync][name], final.steps, took))
    print()
    print(f"{'benchmark':<13}{'sync':>5}{'DP ms':>9}{'MP ms':>9}{'expert ms':>11}{'found ms':>10}{'vs DP':>8}"
          f"{'steps':>8}{'search s':>10}")
    for r in rows:
        print(f"{r[0]:<13}{r[1]:>5}{r[2] * 1e3:>9.1f}{r[3] * 1e3:>9.1f}{r[4] * 1e3:>11.1f}{r[5] * 1e3:>10.1f}"
              f"{r[6]:>8.2f}{r[7]:>8d}{r[8]:>10.1f}")
    print("(paper, Section 8.2: FlexFlow up to 3.8x over data parallelism on real GPU clusters)")
    return tps, speedup


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small models and budgets (CI)")
    ap.add_argument("--budget", type=int, default=None, help="MCMC proposals per chain")
    ap.add_argument("--seconds", type=float, default=None, help="search time budget per benchmark and sync model")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--skip-measured", action="store_true", help="skip the CPU measurement checks")
    ap.add_argument("--validation-only", action="store_true",
                    help="only the measured checks (no simulator timing, no search): their keys, the rest null")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved measurement rounds (default 8, quick 2)")
    ap.add_argument("--wait-quiet", type=float, default=0.0,
                    help="seconds to wait before each measured round for other programs to use <= 0.25 cores")
    ap.add_argument("--max-others", type=float, default=None,
                    help="predict from the rounds in which other programs took at most this many cores")
    ap.add_argument("--raw", default=None, help="file (.pkl) for the raw timings of the strategy check (resumes)")
    ap.add_argument("--candidates", type=int, default=8,
                    help="random draws per random strategy of the suite (the one farthest from the rest by the "
                         "uncalibrated roofline model is measured)")
    args = ap.parse_args(argv)
    quick = args.quick
    machine = Machine.preset("p100x16")
    per_gpu = 8 if quick else 64
    batch = per_gpu * machine.num_devices
    rnn_kw = {"seq_len": 8, "hidden": 256, "vocab": 2000} if quick else {}
    budget = args.budget or (150 if quick else 2000)
    seconds = args.seconds or (2.0 if quick else 60.0)

    tps = speedup = None
    rows, speed, secs = [], {"ps": {}, "ring": {}}, {}
    if not args.validation_only:
        tps, speedup = simulated_part(args, machine, batch, rnn_kw, budget, seconds, rows, speed, secs)

    # 3. the simulator against measured CPU runs: the data-parallel MLP, then many strategies
    err = kendall = spearman = max_err = errors = others = used = no_contention = None
    if not args.skip_measured:
        from dawnlab.flexflow.validation import check, measure_strategies, others_load, predict_strategies

        print(f"\nload average before the measured checks: {os.getloadavg()}; other programs use "
              f"{others_load(2.0):.2f} of {os.cpu_count()} cores")
        r = check(sizes=(256, 512, 10) if quick else (784, 1024, 1024, 10), batch_size=128 if quick else 256,
                  steps=8 if quick else 20)
        print()
        print(r.table().to_string(index=False))
        print(f"{r.rounds} interleaved rounds; measured per-step offset {r.single_offset * 1e3:+.2f} ms "
              f"(1 process), {r.ddp_offset * 1e3:+.2f} ms (2 processes); fitted link "
              f"{r.link_latency * 1e6:.0f} us + bytes / {r.link_bandwidth / 1e9:.2f} GB/s")
        err = {"1proc": round(r.single_error, 3), "2proc_gloo": round(r.ddp_error, 3)}
        raw = measure_strategies(sizes=(256, 512, 512, 10) if quick else SUITE_SIZES,
                                 batch_size=128 if quick else SUITE_BATCH, steps=3 if quick else 8,
                                 rounds=args.rounds or (2 if quick else 8), random=5, path=args.raw,
                                 wait_s=args.wait_quiet, candidates=args.candidates)
        v = predict_strategies(raw, max_others=args.max_others)
        plain = predict_strategies(raw, max_others=args.max_others, contention=False)
        print()
        print(v.table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        print(f"without the contention model (the same rounds): Kendall tau {plain.kendall:.2f}, Spearman "
              f"{plain.spearman:.2f}, max error {plain.max_error:.1%}")
        print(f"{len(v.table)} runs on 2 CPU processes (gloo), rounds {v.used} of {len(v.others)}; Kendall tau "
              f"{v.kendall:.2f}, Spearman {v.spearman:.2f}, max error {v.max_error:.1%} (paper, Section 8.3: "
              f"error under 30%, order preserved); link {v.link_latency * 1e6:.0f} us + bytes / "
              f"{v.link_bandwidth / 1e9:.2f} GB/s (host-driven: a message holds both processes)")
        print("cores other programs took in each round: " + ", ".join(f"{o:.2f}" for o in v.others)
              + f" (of {os.cpu_count()}); load average {v.load[0]:.1f}-{v.load[2]:.1f} over the rounds used")
        others, used = [round(o, 2) for o in v.others], v.used
        kendall, spearman, max_err = round(v.kendall, 3), round(v.spearman, 3), round(v.max_error, 3)
        errors = {f"{a} ({b})": round(e, 3) for a, b, e in zip(v.table.strategy, v.table.sync, v.table.error)}
        no_contention = {"kendall": round(plain.kendall, 3), "spearman": round(plain.spearman, 3),
                         "max_error": round(plain.max_error, 3)}
    print(json.dumps({"sim_tasks_per_second": None if tps is None else round(tps),
                      "delta_speedup_inception16": None if speedup is None else round(speedup, 2),
                      "speedup_over_dp": speed["ps"], "speedup_over_dp_ring": speed["ring"],
                      "search_seconds": secs, "sim_error_vs_measured": err, "sim_rank_kendall": kendall,
                      "sim_rank_spearman": spearman, "sim_max_error_validated": max_err,
                      "sim_errors_validated": errors, "validation_others_cores": others,
                      "validation_rounds_used": used, "validation_without_contention": no_contention,
                      "quick": quick}))


if __name__ == "__main__":
    main()
