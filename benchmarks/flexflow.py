"""FlexFlow benchmark: simulator speed, delta vs full simulation, search vs data parallelism
under both weight-sync models, and the simulator against measured CPU runs of many strategies
(arXiv 1807.05358, Sections 5, 6 and 8).

Usage::

    python benchmarks/flexflow.py            # everything in one run (the paper's shapes, 4 x 4 P100 model)
    python benchmarks/flexflow.py --quick    # small models and budgets, for CI

    # the same run in resumable pieces (each a few minutes), then the report:
    python benchmarks/flexflow.py --state S.json --part speed
    python benchmarks/flexflow.py --state S.json --part search --bench alexnet,inception_v3
    python benchmarks/flexflow.py --state S.json --part check
    python benchmarks/flexflow.py --state S.json --part strategies --rounds 4   # then --rounds 8: resumes
    python benchmarks/flexflow.py --state S.json --part report

Every figure uses the paper's simulator: ready-time FIFO queues per device and link,
cut-through transfers.  The search runs twice per benchmark, once timing every strategy
(data parallelism included) with ring all-reduce weight sync (the simulator's default, what
data-parallel training really runs) and once with parameter-server sync (FlexFlow's runtime,
the paper's baseline).  Both chains start from data parallelism, so no speed-up is below 1.0.

**Parts.**  ``--part`` runs one piece: ``speed`` (simulator throughput and delta vs full
simulation), ``search`` (the searches of the benchmarks in ``--bench``, each benchmark saved
when its two searches finish), ``check`` (the data-parallel MLP against measured 1- and
2-process runs), ``strategies`` (the measured rounds of the strategy check, kept in the raw
file ``--raw``, by default beside the state; a later call with a larger ``--rounds`` measures
only the rounds still missing, then the prediction is redone from all of them), ``report``
(print every table and the JSON from the state), ``all`` (every piece, then the report).
With ``--state FILE.json`` each finished piece is written to the file atomically
(:func:`dawnlab.results.save`), and the JSON always comes from the file, so an interrupted
piece loses only itself.  A state file made with other settings (``--quick``, ``--budget``,
``--seconds``, ``--chains``, ``--max-others``, ``--candidates``) is refused.

Prints tables, then one JSON object on the last line with the keys
``sim_tasks_per_second``, ``delta_speedup_inception16`` (seconds per MCMC step, full over
delta simulation), ``speedup_over_dp`` (parameter-server sync, per benchmark),
``speedup_over_dp_ring`` (ring sync, per benchmark), ``search_seconds`` (both searches, per
benchmark), ``sim_error_vs_measured`` (the data-parallel MLP check), ``sim_rank_kendall``,
``sim_rank_spearman`` and ``sim_max_error_validated`` (the check of many strategies on 2 CPU
processes), ``sim_errors_validated`` (per strategy), ``validation_others_cores`` (per measured
round, the cores' worth of CPU other programs took: the contention the measurement ran under),
``validation_rounds_used``, ``validation_without_contention`` (tau, rho and max error of the
same rounds predicted without the two cores' contention model), ``validation_offsets`` (tau and
the largest error with one per-step offset for every strategy, and with none, beside the headline's
per-strategy offsets, each measured on that strategy's tiny-layer twin), ``missing_parts`` (pieces
not in the state yet; empty for a complete run), ``loads`` (the load average before and after
each piece) and ``quick``.

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




PARTS = ("speed", "search", "check", "strategies")
SYNCS = ("ring", "ps")


def _settings(args) -> dict:
    """What a state file must have been made with to be extended or reported."""
    return {"quick": args.quick, "budget": args.budget, "seconds": args.seconds, "chains": args.chains,
            "max_others": args.max_others, "candidates": args.candidates}


class State:
    """The finished pieces of one benchmark run, in memory or in a JSON file written atomically."""

    def __init__(self, path, settings):
        from dawnlab.errors import invalid
        from dawnlab.results import load

        self.path = path
        self.data = {"settings": settings, "parts": {}}
        if path is not None and os.path.exists(path):
            old = load(path)
            if old.get("settings") != settings:
                raise invalid("state", "benchmarks/flexflow.py", "a state file made with the same settings",
                              path, f"it holds {old.get('settings')}, this run {settings}; pass another "
                              "--state or the same options")
            self.data = old

    @property
    def parts(self) -> dict:
        return self.data["parts"]

    def put(self, part: str, value) -> None:
        from dawnlab.results import save

        self.parts[part] = value
        if self.path is not None:
            save(self.path, self.data)


def _loads() -> list:
    return [round(x, 2) for x in os.getloadavg()]


def speed_part(args, machine, batch, state):
    """Simulator throughput and delta vs full (Inception-v3, 16 devices, ring sync)."""
    before = _loads()
    inc = benchmarks.inception_v3(batch)
    tps = tasks_per_second(inc, machine, 1 if args.quick else 3)
    speedup, t_delta, t_full = delta_vs_full(inc, machine, 8 if args.quick else 40)
    state.put("speed", {"tasks_per_second": tps, "delta_speedup": speedup, "t_delta": t_delta,
                        "t_full": t_full, "load": [before, _loads()]})


def search_part(args, machine, batch, names, state):
    """Search vs data parallelism, model parallelism and the expert strategy, both sync models;
    each benchmark is saved when its two searches are done."""
    rnn_kw = {"seq_len": 8, "hidden": 256, "vocab": 2000} if args.quick else {}
    done = dict(state.parts.get("search", {}))
    for name in names:
        before = _loads()
        kw = rnn_kw if name in ("rnntc", "rnnlm", "nmt") else {}
        g = benchmarks.build(name, batch, **kw)
        rows = {}
        for sync in SYNCS:
            sim = Simulator(g, machine, sync=sync)
            base = {k: sim.simulate(getattr(Strategy, k)(g, machine), record=False).iteration_time
                    for k in ("data_parallel", "model_parallel", "expert")}
            t0 = time.perf_counter()
            final = list(search(g, machine, budget=args.budget, chains=args.chains, seconds=args.seconds, rounds=5,
                                seed=0, sync=sync, progress=False))[-1]
            took = time.perf_counter() - t0
            rows[sync] = {"dp": base["data_parallel"], "mp": base["model_parallel"], "expert": base["expert"],
                          "found": final.best_time, "speedup": base["data_parallel"] / final.best_time,
                          "steps": final.steps, "seconds": took}
            print(f"{name} ({sync}): DP {base['data_parallel'] * 1e3:.1f} ms, found {final.best_time * 1e3:.1f} ms "
                  f"({rows[sync]['speedup']:.2f}x) in {final.steps} steps, {took:.1f} s", flush=True)
        done[name] = {**rows, "load": [before, _loads()]}
        state.put("search", done)


def check_part(args, state):
    """The data-parallel MLP against measured 1- and 2-process runs."""
    from dawnlab.flexflow.validation import check, others_load

    before = _loads()
    print(f"load average before the measured checks: {os.getloadavg()}; other programs use "
          f"{others_load(2.0):.2f} of {os.cpu_count()} cores", flush=True)
    quick = args.quick
    r = check(sizes=(256, 512, 10) if quick else (784, 1024, 1024, 10), batch_size=128 if quick else 256,
              steps=8 if quick else 20)
    state.put("check", {"table": r.table().to_dict("records"), "rounds": r.rounds,
                        "single_offset": r.single_offset, "ddp_offset": r.ddp_offset,
                        "link_latency": r.link_latency, "link_bandwidth": r.link_bandwidth,
                        "single_error": r.single_error, "ddp_error": r.ddp_error, "load": [before, _loads()]})


def strategies_part(args, raw_path, state):
    """The measured rounds of the strategy check (resumed from the raw file), then the prediction
    from every round measured so far."""
    from dawnlab.flexflow.validation import measure_strategies, predict_strategies

    before = _loads()
    quick = args.quick
    raw = measure_strategies(sizes=(256, 512, 512, 10) if quick else SUITE_SIZES,
                             batch_size=128 if quick else SUITE_BATCH, steps=3 if quick else 8,
                             rounds=args.rounds or (2 if quick else 8), random=5, path=raw_path,
                             wait_s=args.wait_quiet, candidates=args.candidates)
    v = predict_strategies(raw, max_others=args.max_others)
    plain = predict_strategies(raw, max_others=args.max_others, contention=False)
    old = state.parts.get("strategies", {})
    state.put("strategies", {
        "offsets": _offset_variants(v.table), "table": v.table.to_dict("records"), "kendall": v.kendall,
        "spearman": v.spearman,
        "max_error": v.max_error, "link_latency": v.link_latency, "link_bandwidth": v.link_bandwidth,
        "others": list(v.others), "used": list(v.used), "load_rounds": list(v.load),
        "rounds": len(raw["rounds"]), "raw": raw_path,
        "plain": {"kendall": plain.kendall, "spearman": plain.spearman, "max_error": plain.max_error},
        "load": old.get("load", []) + [[before, _loads()]]})


def _offset_variants(table) -> dict:
    """Each strategy's prediction includes a per-step offset measured on its own tiny-layer twin
    (the same pieces, transfers and sync messages at a tiny width): tau and the largest error as
    reported, with ONE offset for every strategy (data parallelism with ring sync's), and with none,
    so that what the per-strategy offsets contribute is visible."""
    from scipy import stats

    meas, sim, off = table.measured_s, table.simulated_s, table.offset_s
    one = float(off[(table.strategy == "data parallel") & (table.sync == "ring")].iloc[0])
    out = {"offset_share_max": float((off.abs() / meas).max())}
    for name, pred in (("one_offset", sim - off + one), ("no_offset", sim - off)):
        out[name] = {"kendall": float(stats.kendalltau(pred, meas).statistic),
                     "max_error": float(((pred - meas).abs() / meas).max())}
    return out


def report(state) -> dict:
    """Print every table from the state and return the JSON summary (None where a piece is missing)."""
    parts = state.parts
    sp = parts.get("speed")
    if sp:
        print(f"simulator: {sp['tasks_per_second']:,.0f} tasks/s (Inception-v3, 16 devices, ready-time queues)")
        print(f"MCMC step on Inception-v3 / 16 GPUs: delta {sp['t_delta'] * 1e3:.1f} ms, full "
              f"{sp['t_full'] * 1e3:.1f} ms, speedup {sp['delta_speedup']:.2f}x (paper: 2.2x-6.9x)")
    found = parts.get("search", {})
    speed, secs = {s: {} for s in SYNCS}, {}
    if found:
        print()
        print(f"{'benchmark':<13}{'sync':>5}{'DP ms':>9}{'MP ms':>9}{'expert ms':>11}{'found ms':>10}{'vs DP':>8}"
              f"{'steps':>8}{'search s':>10}")
    for name in benchmarks.BENCHMARKS:
        if name not in found:
            continue
        secs[name] = round(sum(found[name][s]["seconds"] for s in SYNCS), 1)
        for s in SYNCS:
            r = found[name][s]
            speed[s][name] = round(r["speedup"], 3)
            print(f"{name:<13}{s:>5}{r['dp'] * 1e3:>9.1f}{r['mp'] * 1e3:>9.1f}{r['expert'] * 1e3:>11.1f}"
                  f"{r['found'] * 1e3:>10.1f}{r['speedup']:>8.2f}{r['steps']:>8d}{r['seconds']:>10.1f}")
    if found:
        print("(paper, Section 8.2: FlexFlow up to 3.8x over data parallelism on real GPU clusters)")
    ck = parts.get("check")
    if ck:
        import pandas as pd

        print()
        print(pd.DataFrame(ck["table"]).to_string(index=False))
        print(f"{ck['rounds']} interleaved rounds; measured per-step offset {ck['single_offset'] * 1e3:+.2f} ms "
              f"(1 process), {ck['ddp_offset'] * 1e3:+.2f} ms (2 processes); fitted link "
              f"{ck['link_latency'] * 1e6:.0f} us + bytes / {ck['link_bandwidth'] / 1e9:.2f} GB/s")
    st = parts.get("strategies")
    if st:
        import pandas as pd

        table = pd.DataFrame(st["table"])
        print()
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
        pl = st["plain"]
        print(f"without the contention model (the same rounds): Kendall tau {pl['kendall']:.2f}, Spearman "
              f"{pl['spearman']:.2f}, max error {pl['max_error']:.1%}")
        print(f"{len(table)} runs on 2 CPU processes (gloo), rounds {st['used']} of {len(st['others'])}; Kendall "
              f"tau {st['kendall']:.2f}, Spearman {st['spearman']:.2f}, max error {st['max_error']:.1%} (paper, "
              f"Section 8.3: error under 30%, order preserved); link {st['link_latency'] * 1e6:.0f} us + bytes / "
              f"{st['link_bandwidth'] / 1e9:.2f} GB/s (host-driven: a message holds both processes)")
        o = st.get("offsets")
        if o:
            print(f"per-strategy offsets (each strategy's own tiny-layer twin) are at most "
                  f"{o['offset_share_max']:.1%} of a measured step; with one offset for all (data parallel, "
                  f"ring): Kendall tau "
                  f"{o['one_offset']['kendall']:.2f}, max error {o['one_offset']['max_error']:.1%}; with none: "
                  f"tau {o['no_offset']['kendall']:.2f}, max error {o['no_offset']['max_error']:.1%}")
        lr = st["load_rounds"]
        print("cores other programs took in each round: " + ", ".join(f"{o:.2f}" for o in st["others"])
              + f" (of {os.cpu_count()}); load average {lr[0]:.1f}-{lr[2]:.1f} over the rounds used")
    missing = [p for p in PARTS if p not in parts]
    missing += [f"search:{n}" for n in benchmarks.BENCHMARKS if found and n not in found]
    if missing:
        print(f"missing parts (their keys are null): {', '.join(missing)}")
    rnd = (lambda x, k=3: None if x is None else round(x, k))  # noqa: E731
    return {
        "sim_tasks_per_second": rnd(sp and sp["tasks_per_second"], 0),
        "delta_speedup_inception16": rnd(sp and sp["delta_speedup"], 2),
        "speedup_over_dp": speed["ps"], "speedup_over_dp_ring": speed["ring"], "search_seconds": secs,
        "sim_error_vs_measured": ck and {"1proc": rnd(ck["single_error"]), "2proc_gloo": rnd(ck["ddp_error"])},
        "sim_rank_kendall": rnd(st and st["kendall"]), "sim_rank_spearman": rnd(st and st["spearman"]),
        "sim_max_error_validated": rnd(st and st["max_error"]),
        "sim_errors_validated": st and {f"{r['strategy']} ({r['sync']})": rnd(r["error"]) for r in st["table"]},
        "validation_others_cores": st and [round(o, 2) for o in st["others"]],
        "validation_rounds_used": st and st["used"],
        "validation_without_contention": st and {k: rnd(v) for k, v in st["plain"].items()},
        "validation_offsets": st and st.get("offsets") and {
            "offset_share_max": rnd(st["offsets"]["offset_share_max"]),
            **{k: {m: rnd(x) for m, x in st["offsets"][k].items()} for k in ("one_offset", "no_offset")}},
        "missing_parts": missing,
        "loads": {k: (v["load"] if k != "search" else {n: x["load"] for n, x in v.items()})
                  for k, v in parts.items()},
        "quick": state.data["settings"]["quick"]}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small models and budgets (CI)")
    ap.add_argument("--part", choices=("all",) + PARTS + ("report",), default="all",
                    help="run one resumable piece (see the module docstring); 'all' runs every piece")
    ap.add_argument("--state", default=None, help="JSON file keeping every finished piece (resumable runs)")
    ap.add_argument("--bench", default=None,
                    help=f"comma-separated benchmarks for the search (default all: {','.join(benchmarks.BENCHMARKS)})")
    ap.add_argument("--budget", type=int, default=None, help="MCMC proposals per chain")
    ap.add_argument("--seconds", type=float, default=None, help="search time budget per benchmark and sync model")
    ap.add_argument("--chains", type=int, default=2)
    ap.add_argument("--skip-measured", action="store_true", help="with --part all: skip the CPU measurement checks")
    ap.add_argument("--validation-only", action="store_true",
                    help="with --part all: only the measured checks (no simulator timing, no search)")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved measurement rounds (default 8, quick 2)")
    ap.add_argument("--wait-quiet", type=float, default=0.0,
                    help="seconds to wait before each measured round for other programs to use <= 0.25 cores")
    ap.add_argument("--max-others", type=float, default=None,
                    help="predict from the rounds in which other programs took at most this many cores")
    ap.add_argument("--raw", default=None,
                    help="file (.pkl) for the raw timings of the strategy check (resumes); default beside --state")
    ap.add_argument("--candidates", type=int, default=8,
                    help="random draws per random strategy of the suite (the one farthest from the rest by the "
                         "uncalibrated roofline model is measured)")
    args = ap.parse_args(argv)
    from dawnlab.errors import invalid

    if args.state is not None and not args.state.endswith(".json"):
        raise invalid("state", "benchmarks/flexflow.py", "a path ending in .json", args.state)
    names = list(benchmarks.BENCHMARKS) if args.bench is None else [n for n in args.bench.split(",") if n]
    bad = [n for n in names if n not in benchmarks.BENCHMARKS]
    if bad or not names:
        raise invalid("bench", "benchmarks/flexflow.py", f"comma-separated names from {benchmarks.BENCHMARKS}",
                      args.bench)
    quick = args.quick
    args.budget = args.budget or (150 if quick else 2000)
    args.seconds = args.seconds or (2.0 if quick else 60.0)
    raw_path = args.raw or (args.state[:-len(".json")] + ".raw.pkl" if args.state else None)
    state = State(args.state, _settings(args))
    machine = Machine.preset("p100x16")
    batch = (8 if quick else 64) * machine.num_devices
    run = {p: args.part == p for p in PARTS}
    if args.part == "all":
        run = {"speed": not args.validation_only, "search": not args.validation_only,
               "check": not args.skip_measured, "strategies": not args.skip_measured}
    if run["speed"]:
        speed_part(args, machine, batch, state)
    if run["search"]:
        search_part(args, machine, batch, names, state)
    if run["check"]:
        check_part(args, state)
    if run["strategies"]:
        strategies_part(args, raw_path, state)
    summary = report(state)
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
