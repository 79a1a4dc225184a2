"""Benchmark: LIT against scratch, KD, FitNets and Born-Again on the same seeds and budget.

Koratana et al. (arXiv 1810.01937, Section 5) compress deep ResNets into
students of the same width with 3-5.5x fewer layers at no loss of accuracy,
ahead of KD and FitNets; with the teacher's own architecture LIT beats
Born-Again networks; and LIT compresses GAN generators.  Measured here, on a
2-core CPU, side by side in one run:

1. **MNIST-1D** (``load_mnist1d(5000)``: the package's 4000 training and 1000
   test rows): a 1-D pre-activation ResNet teacher (26 layers) and a student of
   the same width (8 layers, 3.25x shallower).  Per seed: the teacher, then
   scratch, KD, FitNets, LIT, Born-Again (26 layers) and LIT with the teacher's
   architecture, every method with the same number of epochs
   (``lit_epochs + kd_epochs``), optimizer, schedule and seed (the students of
   one size start from identical weights).  Mean and standard deviation over
   the seeds, accuracy on the 1000 test rows.
2. **The 5000 MNIST digits** (``load_opencv_digits``, 20x20; a fixed stratified
   4000/1000 split): the same comparison with the pre-activation ResNets of
   :mod:`dawnlab.svp.models` (26 and 8 layers).
3. **Block-parallel LIT** (the LIT phase with ``beta = 0``, MNIST-1D models):
   the three blocks trained jointly in this process against as three tasks on
   two worker processes through :mod:`dawnlab.parallel`, interleaved, median
   of the repeats; the speed-up is their wall-time ratio (the final weights are
   checked to agree).
4. **GAN generators** on the digits: teacher generator with 6 residual blocks,
   LIT student with 2 (the middle section in two LIT blocks, stem and
   up-sampling copied, then adversarial fine-tuning) and a 2-block student
   trained adversarially from scratch for the same number of epochs.  Frechet
   distance of 1000 samples to the test digits on the penultimate features of
   a digit CNN trained here (**not the Inception FID**), mean over the seeds.

The (part, seed) tasks run on ``--processes`` worker processes (one torch
thread each); with ``--out`` every finished task is saved atomically and a
rerun resumes.

Usage: ``python benchmarks/lit.py [--quick] [--seeds 3] [--processes 2] [--out DIR] [--no-digits] [--no-gan]``.
The last line printed is one JSON object: the MNIST-1D figures at top level, the
digits' under ``digits``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch

from dawnlab import results
from dawnlab.data import load_mnist1d, load_opencv_digits
from dawnlab.lit import LIT, METHODS, make_model, resnet_spec, run_seed
from dawnlab.lit.gan import gan_experiment
from dawnlab.lit.training import as_tensors
from dawnlab.parallel import imap

FULL = {"mnist1d": {"width": 8, "teacher_epochs": 20, "lit_epochs": 10, "kd_epochs": 10, "n": 5000},
        "digits": {"width": 4, "teacher_epochs": 6, "lit_epochs": 3, "kd_epochs": 3},
        "gan": {"width": 24, "gan_epochs": 10, "lit_epochs": 3, "finetune_epochs": 4, "classifier_epochs": 4},
        "parallel": {"lit_epochs": 3, "repeats": 3}}
QUICK = {"mnist1d": {"width": 8, "teacher_epochs": 3, "lit_epochs": 2, "kd_epochs": 2, "n": 1000},
         "digits": {"width": 4, "teacher_epochs": 2, "lit_epochs": 1, "kd_epochs": 1, "n": 600},
         "gan": {"width": 16, "gan_epochs": 2, "lit_epochs": 1, "finetune_epochs": 1, "classifier_epochs": 2,
                 "n": 600},
         "parallel": {"lit_epochs": 1, "repeats": 1}}
ACC_KEYS = {"lit": "lit_student_acc", "teacher": "teacher_acc", "kd": "kd_acc", "fitnets": "fitnets_acc",
            "scratch": "scratch_acc", "lit_same_arch": "lit_same_arch_acc", "born_again": "born_again_acc"}


def mnist1d_split(n: int):
    d = load_mnist1d(n)
    X, y = as_tensors((d.X, d.y))
    cut = int(0.8 * n)  # the package's own train/test split: train rows first
    return (X[:cut], y[:cut]), (X[cut:], y[cut:])


def digits_split(n: int | None = None):
    d = load_opencv_digits()
    X, y = as_tensors(d)
    rng = np.random.default_rng(0)
    test = np.concatenate([rng.permutation(np.flatnonzero(d.y == c))[:100] for c in range(10)])
    train = np.setdiff1d(np.arange(len(y)), test)
    if n is not None:
        train, test = rng.permutation(train)[:int(0.8 * n)], rng.permutation(test)[:n - int(0.8 * n)]
    return (X[train], y[train]), (X[test], y[test])


def _task(spec: dict):
    """One (part, seed) task of the benchmark, run in a worker process with one torch thread."""
    torch.set_num_threads(1)
    part, seed, cfg = spec["part"], spec["seed"], spec["cfg"]
    if part == "gan":
        gcfg = {k: v for k, v in cfg.items() if k != "n"}
        return gan_experiment(*digits_split(cfg.get("n")), seed=seed, **gcfg)
    settings = {k: v for k, v in cfg.items() if k != "n"}
    if part == "mnist1d":
        train, val = mnist1d_split(cfg["n"])
        return run_seed({"family": "resnet1d", "train": train, "val": val, "seed": seed, **settings})
    train, val = digits_split(cfg.get("n"))
    return run_seed({"family": "resnet", "train": train, "val": val, "seed": seed, **settings})


def run_all(parts, cfg, seeds, processes, out_dir):
    """Every (part, seed) task on one pool; each result saved to ``out_dir`` as it finishes (resumable)."""
    done, todo = {}, []
    order = {"digits": 0, "gan": 1, "mnist1d": 2}  # the longest first
    for part in sorted(parts, key=order.get):
        recipe = hashlib.sha256(json.dumps([part, cfg[part]], sort_keys=True).encode()).hexdigest()[:8]
        for s in seeds:
            path = out_dir / f"{part}_{recipe}_seed{s}.json" if out_dir else None
            if path is not None and path.is_file():
                done[part, s] = results.load(path)
            else:
                todo.append(({"part": part, "seed": s, "cfg": cfg[part]}, path))
    for i, result in imap(_task, [t for t, _ in todo], processes=processes, desc="benchmark tasks"):
        spec, path = todo[i]
        done[spec["part"], spec["seed"]] = result
        if path is not None:
            results.save(path, result)
    return done


def summarize(rows):
    table = {}
    for method in ("teacher",) + METHODS:
        accs = [r["acc"] for r in rows if r["method"] == method]
        depth = [r["depth"] for r in rows if r["method"] == method][0]
        table[method] = {"mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                         "depth": depth, "accs": accs,
                         "seconds": float(np.mean([r["seconds"] for r in rows if r["method"] == method]))}
    return table


def print_table(name, table, seeds):
    print(f"\n{name}: test accuracy over seeds {list(seeds)} (mean +- sd; every method the same epochs)")
    print(f"{'method':<16}{'layers':>7}{'accuracy':>18}{'vs teacher':>12}{'s/run':>8}")
    t = table["teacher"]["mean"]
    for m, r in table.items():
        print(f"{m:<16}{r['depth']:>7}{100 * r['mean']:>11.2f} +- {100 * r['std']:.2f}"
              f"{100 * (r['mean'] - t):>+12.2f}{r['seconds']:>8.1f}")


def headline(table):
    out = {ACC_KEYS[m]: table[m]["mean"] for m in ACC_KEYS}
    out["depth_ratio"] = table["teacher"]["depth"] / table["lit"]["depth"]
    return out


def parallel_speedup(train, cfg, width):
    """LIT phase (beta = 0): jointly in this process (2 threads, and 1) vs block-parallel on 2 processes.

    Interleaved repeats, medians.  The speed-up is against the faster of the
    two joint runs, so a thread pool that loses under load does not flatter it.
    """
    teacher = make_model("resnet1d", 26, width, 0)
    student = make_model("resnet1d", 8, width, 1)
    kw = {"beta": 0.0, "lit_epochs": cfg["lit_epochs"], "kd_epochs": 0, "progress": False}
    times = {"joint, 2 threads": [], "joint, 1 thread": [], "parallel, 2 processes": []}
    models = {}
    for _ in range(cfg["repeats"]):
        for mode in times:
            torch.set_num_threads(2 if "2 threads" in mode else 1)
            lit = LIT(teacher, student, **resnet_spec(teacher, student), parallel=mode.startswith("parallel"),
                      processes=2, **kw)
            t0 = time.perf_counter()
            lit.train(train)
            times[mode].append(time.perf_counter() - t0)
            models[mode] = lit.student_
    torch.set_num_threads(2)
    diff = max(float((a - b).abs().max()) for a, b in zip(models["joint, 2 threads"].state_dict().values(),
                                                           models["parallel, 2 processes"].state_dict().values())
               if a.is_floating_point())
    med = {k: float(np.median(v)) for k, v in times.items()}
    joint = min(med["joint, 2 threads"], med["joint, 1 thread"])
    print(f"\nblock-parallel LIT phase ({cfg['lit_epochs']} epochs, 3 blocks, MNIST-1D 26 -> 8 layers, width {width},"
          f" median of {cfg['repeats']} interleaved repeats):")
    for k, v in med.items():
        print(f"  {k:<24}{v:>8.2f} s")
    print(f"  speed-up over the faster joint run: {joint / med['parallel, 2 processes']:.2f}x; "
          f"largest weight difference from the joint run {diff:.1e}")
    return joint / med["parallel, 2 processes"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models, data and budgets (CI)")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--processes", type=int, default=3, help="worker processes for the (part, seed) tasks")
    ap.add_argument("--out", default=None, help="folder for per-seed result files (resumable)")
    ap.add_argument("--no-digits", action="store_true", help="skip the MNIST digits comparison")
    ap.add_argument("--no-gan", action="store_true", help="skip the GAN part")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    seeds = list(range(args.seeds))
    out_dir = Path(args.out) if args.out else None
    print(f"LIT benchmark ({'quick' if args.quick else 'full'}), seeds {seeds}, {args.processes} processes; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    head = {}
    t_all = time.perf_counter()
    parts = ["mnist1d"] + ([] if args.no_digits else ["digits"]) + ([] if args.no_gan else ["gan"])
    done = run_all(parts, cfg, seeds, args.processes, out_dir)

    train, _ = mnist1d_split(cfg["mnist1d"]["n"])
    rows = [r for s in seeds for r in done["mnist1d", s]]
    table = summarize(rows)
    n = cfg["mnist1d"]["n"]
    print_table(f"MNIST-1D ({int(0.8 * n)} train / {n - int(0.8 * n)} test)", table, seeds)
    head.update(headline(table))

    head["parallel_block_speedup"] = parallel_speedup(train, cfg["parallel"], cfg["mnist1d"]["width"])

    gan = {"gan_fd_lit": None, "gan_fd_scratch": None, "gan_fd_teacher": None}
    if not args.no_gan:
        gan_rows = [done["gan", s] for s in seeds]
        print("\nGAN generators on the digits: Frechet distance of 1000 samples to the test digits on a digit CNN's"
              " features (not the Inception FID; lower is better)")
        print(f"  feature classifier test accuracy {np.mean([r['classifier_acc'] for r in gan_rows]):.3f}; "
              f"two halves of the real test digits: {np.mean([r['fd_real_halves'] for r in gan_rows]):.2f}")
        for key, label in [("fd_teacher", "teacher, 6 blocks"), ("fd_lit_before_finetune", "LIT 2 blocks, IR only"),
                           ("fd_lit", "LIT 2 blocks + adversarial"), ("fd_scratch", "scratch 2 blocks")]:
            v = [r[key] for r in gan_rows]
            print(f"  {label:<28}{np.mean(v):>9.2f} +- {np.std(v, ddof=1) if len(v) > 1 else 0:.2f}   "
                  f"({', '.join(f'{x:.2f}' for x in v)})")
        gan = {"gan_fd_lit": float(np.mean([r["fd_lit"] for r in gan_rows])),
               "gan_fd_scratch": float(np.mean([r["fd_scratch"] for r in gan_rows])),
               "gan_fd_teacher": float(np.mean([r["fd_teacher"] for r in gan_rows]))}
    head.update(gan)

    if not args.no_digits:
        drows = [r for s in seeds for r in done["digits", s]]
        dtable = summarize(drows)
        n = len(load_opencv_digits().y) if cfg["digits"].get("n") is None else cfg["digits"]["n"]
        print_table(f"MNIST digits 20x20 ({int(0.8 * n)} train / {n - int(0.8 * n)} test)", dtable, seeds)
        head["digits"] = headline(dtable)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")
    print(json.dumps(head))


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
