"""Benchmark: LIT against scratch, KD, FitNets and Born-Again on the same seeds and budget.

Koratana et al. (arXiv 1810.01937, Section 5) compress deep ResNets into
students of the same width with 3-5.5x fewer layers at no loss of accuracy,
ahead of KD and FitNets; with the teacher's own architecture LIT beats
Born-Again networks; and LIT compresses GAN generators.  Measured here, on a
2-core CPU, side by side:

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
   :mod:`dawnlab.svp.models` (26 and 8 layers), width 8 (8, 16 and 32
   channels).  The width was chosen on a validation split of the training
   digits (``--validation``: 3500 fit, 500 validate, the test rows unused):
   at width 4 the 8-layer student had too little capacity for distillation
   to help it (LIT below KD and the teacher there).  **Augmentation**: by
   default every digits model (the teacher and every method alike) trains on
   randomly shifted (up to 2 pixels) and rotated (up to 10 degrees) digits,
   ``RandomAffine`` of :mod:`dawnlab.lit.augment`, drawn per minibatch from
   the same seeds for every method, with the teacher's logits, hints and
   LIT's teacher-forced IRs computed on each augmented minibatch;
   ``--augment none`` turns it off.  Chosen on the validation split by the
   rule fixed before looking: keep it if it does not lower LIT's mean.
   Validation accuracy over seeds 0-2 (3500 fit / 500 validate), without ->
   with: LIT 97.07 -> 97.20, KD 97.60 -> 97.47, FitNets 97.40 -> 96.20,
   scratch 96.93 -> 96.87, teacher 97.80 -> 98.27 (``--validation --methods
   scratch,kd,fitnets,lit --augment none|affine``).  The library's default is
   no augmentation (it cannot know which transformations keep a user's labels).
3. **Block-parallel LIT** (the LIT phase with ``beta = 0``): the student's
   blocks trained jointly in this process (1 and 2 torch threads) against as
   one task per block on two worker processes through :mod:`dawnlab.parallel`
   (one thread each), interleaved, median of the repeats.  The speed-up is
   against the faster joint run; the report also gives each block task's own
   compute time, the best speed-up those block costs allow on two workers,
   and the rest (process start, pickling the IRs out and the weights back).
   Run it alone (``--parts parallel`` under ``/tmp/dl/quiet``): it is a timing.
4. **GAN generators** on the digits: teacher generator with 6 residual blocks,
   LIT student with 2 (the middle section in two LIT blocks, stem and
   up-sampling copied, then adversarial fine-tuning) and a 2-block student
   trained adversarially from scratch for the same number of epochs.  Frechet
   distance of 1000 samples to the test digits on the penultimate features of
   a digit CNN trained here (**not the Inception FID**), mean over the seeds.

Every (part, seed, method) is its own task (the teacher of a seed first, saved
and reused by that seed's methods), run one after the other with one torch
thread; with ``--out`` each finished task is saved atomically
(:mod:`dawnlab.results`) and a rerun resumes.  ``--budget S`` starts no new
task after S seconds, so a long run is split into several short calls of the
same command; the last call prints the tables.

Usage: ``python benchmarks/lit.py [--quick] [--seeds 3] [--out DIR] [--budget S] [--parts mnist1d,digits,gan,parallel]
[--augment affine|none] [--methods scratch,kd,...]``
(``--validation [--width W]`` scores on the validation split instead, for recipe choices).
The digits table's header and its JSON (``augment``, ``split``, ``epochs``) say which setting produced them.
The last line printed is one JSON object: the MNIST-1D figures at top level, the
digits' under ``digits`` (``"complete": false`` and the number of tasks left
while a budgeted run is unfinished).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from dawnlab import results
from dawnlab.data import load_mnist1d, load_opencv_digits
from dawnlab.lit import LIT, METHODS, make_model, resnet_spec
from dawnlab.lit.compare import score_row, train_method, train_teacher
from dawnlab.lit.augment import RandomAffine
from dawnlab.lit.gan import gan_experiment
from dawnlab.lit.training import as_tensors

FULL = {"mnist1d": {"width": 8, "teacher_epochs": 40, "lit_epochs": 20, "kd_epochs": 20, "n": 5000},
        "digits": {"width": 8, "teacher_epochs": 30, "lit_epochs": 15, "kd_epochs": 15, "augment": "affine"},
        "gan": {"width": 24, "gan_epochs": 20, "lit_epochs": 5, "finetune_epochs": 8, "classifier_epochs": 6},
        "parallel": {"student_depth": 14, "width": 16, "lit_epochs": 4, "repeats": 3, "n": 5000}}
QUICK = {"mnist1d": {"width": 8, "teacher_epochs": 3, "lit_epochs": 2, "kd_epochs": 2, "n": 1000},
         "digits": {"width": 4, "teacher_epochs": 2, "lit_epochs": 1, "kd_epochs": 1, "n": 600,
                    "augment": FULL["digits"]["augment"]},
         "gan": {"width": 16, "gan_epochs": 2, "lit_epochs": 1, "finetune_epochs": 1, "classifier_epochs": 2,
                 "n": 600},
         "parallel": {"student_depth": 8, "width": 8, "lit_epochs": 1, "repeats": 1, "n": 1000}}
ACC_KEYS = {"lit": "lit_student_acc", "teacher": "teacher_acc", "kd": "kd_acc", "fitnets": "fitnets_acc",
            "scratch": "scratch_acc", "lit_same_arch": "lit_same_arch_acc", "born_again": "born_again_acc"}
PARTS = ("mnist1d", "digits", "gan", "parallel")
# --augment for the digits (MNIST-1D is 1-D and the GAN part is left as it is): every method and the teacher
AUGMENTS = {"none": None, "affine": {"max_shift": 2.0, "max_rotation": 10.0, "max_scale": 0.0}}


def make_augment(name: str | None):
    """The augmentation named in a part's config (``"none"``, the default, or ``"affine"``: :class:`RandomAffine`)."""
    spec = AUGMENTS[name or "none"]
    return None if spec is None else RandomAffine(**spec)


def augment_label(cfg: dict) -> str:
    aug = make_augment(cfg.get("augment"))
    return "no augmentation" if aug is None else (f"augmentation {aug!r} on every method's minibatches "
                                                  "(teacher training too; teacher outputs on the augmented batch)")


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


FAMILY = {"mnist1d": "resnet1d", "digits": "resnet"}


def validation_split(train, seed: int = 123):
    """A fixed stratified validation split carved out of the training rows: ``(fit, validation)``.

    One eighth of every class (50 digits per class of the 4000 training digits,
    3500 left to train on).  ``--validation`` scores every method on it
    instead of the test split, so that recipe choices (the digits' width, the
    budgets) are made without looking at the test rows.
    """
    X, y = train
    labels = y.numpy()
    rng = np.random.default_rng(seed)
    val = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:int(np.sum(labels == c)) // 8]
                          for c in np.unique(labels)])
    fit = np.setdiff1d(np.arange(len(y)), val)
    return (X[fit], y[fit]), (X[val], y[val])


def _split(part: str, cfg: dict):
    train, test = mnist1d_split(cfg["n"]) if part == "mnist1d" else digits_split(cfg.get("n"))
    return validation_split(train) if cfg.get("validation") else (train, test)


def run_task(spec: dict, out_dir: Path):
    """One (part, seed, method) task, one torch thread; the teacher's weights are saved for its seed's methods."""
    torch.set_num_threads(1)
    part, seed, method, cfg = spec["part"], spec["seed"], spec["method"], spec["cfg"]
    if part == "gan":
        gcfg = {k: v for k, v in cfg.items() if k != "n"}
        work = out_dir / f"gan_{spec['recipe']}_seed{seed}_stages"
        return gan_experiment(*digits_split(cfg.get("n")), seed=seed, checkpoint_dir=work, **gcfg)
    train, val = _split(part, cfg)
    teacher_path = out_dir / f"{part}_{spec['recipe']}_seed{seed}_teacher_weights.pkl"
    t0 = time.perf_counter()
    augment = make_augment(cfg.get("augment"))
    if method == "teacher":
        teacher = train_teacher(FAMILY[part], train, depth=26, width=cfg["width"], seed=seed,
                                epochs=cfg["teacher_epochs"], augment=augment)
        row = score_row("teacher", teacher, val, seed, 26, t0)
        results.save(teacher_path, teacher.state_dict())
        return row
    teacher = make_model(FAMILY[part], 26, cfg["width"], seed)
    teacher.load_state_dict(results.load(teacher_path))
    model = train_method(method, FAMILY[part], teacher, train, student_depth=8, width=cfg["width"], seed=seed,
                         lit_epochs=cfg["lit_epochs"], kd_epochs=cfg["kd_epochs"], augment=augment)
    return score_row(method, model, val, seed, 26, t0)


def recipe_of(part: str, cfg: dict) -> str:
    # the library's recipe version is part of the key: results of an older recipe are not reused
    return hashlib.sha256(json.dumps([part, cfg[part], RECIPE_VERSION], sort_keys=True).encode()).hexdigest()[:8]


RECIPE_VERSION = 2  # 2: LIT loss beta KD + (1 - beta) IR, frozen stem/head in the LIT phase, BAN loss


def run_all(parts, cfg, seeds, out_dir: Path, budget: float | None, reverse: bool = False, methods=METHODS):
    """Every (part, seed, method) task in order, each saved as it finishes; stop starting tasks after ``budget`` s.

    ``reverse`` takes the tasks from the end (a second process on the same
    folder then works towards the first; a task another process has finished
    meanwhile is read, not rerun).
    """
    done, todo = {}, []
    for part in [p for p in PARTS if p in parts and p != "parallel"]:
        recipe = recipe_of(part, cfg)
        for m in (["all"] if part == "gan" else ["teacher", *methods]):  # every seed's teacher before any student, then method by method
            for s in seeds:
                path = out_dir / f"{part}_{recipe}_seed{s}_{m}.json"
                if path.is_file():
                    done[part, s, m] = results.load(path)
                else:
                    todo.append(({"part": part, "seed": s, "method": m, "cfg": cfg[part], "recipe": recipe}, path))
    t_start = time.perf_counter()
    left = len(todo)
    if reverse:  # keep each seed's teacher ahead of its methods: reverse within the teachers and within the rest
        todo = ([t for t in todo if t[0]["method"] == "teacher"][::-1]
                + [t for t in todo if t[0]["method"] != "teacher"][::-1])
    for spec, path in todo:
        if budget is not None and time.perf_counter() - t_start > budget:
            break
        if path.is_file():  # finished by another process on the same folder
            done[spec["part"], spec["seed"], spec["method"]] = results.load(path)
            left -= 1
            continue
        t0 = time.perf_counter()
        result = run_task(spec, out_dir)
        results.save(path, result)
        done[spec["part"], spec["seed"], spec["method"]] = result
        left -= 1
        print(f"  done {spec['part']} seed {spec['seed']} {spec['method']}: {time.perf_counter() - t0:.0f} s"
              + (f", accuracy {result['acc']:.4f}" if "acc" in result else ""), flush=True)
    return done, left


def summarize(rows, methods=METHODS):
    table = {}
    for method in ("teacher", *methods):
        accs = [r["acc"] for r in rows if r["method"] == method]
        depth = [r["depth"] for r in rows if r["method"] == method][0]
        table[method] = {"mean": float(np.mean(accs)), "std": float(np.std(accs, ddof=1)) if len(accs) > 1 else 0.0,
                         "depth": depth, "accs": accs,
                         "seconds": float(np.mean([r["seconds"] for r in rows if r["method"] == method]))}
    return table


def _rows_label(n: int, cfg: dict) -> str:
    train = int(0.8 * n)
    if cfg.get("validation"):
        return (f"VALIDATION split: {train - train // 8} of the {train} training rows fit, {train // 8} validate; "
                "the test rows unused")
    return f"{train} train / {n - train} test"


def print_table(name, table, seeds, cfg):
    split = "validation" if cfg.get("validation") else "test"
    print(f"\n{name}: {split} accuracy over seeds {list(seeds)} (mean +- sd); teacher {cfg['teacher_epochs']} epochs, "
          f"every other method {cfg['lit_epochs'] + cfg['kd_epochs']} ({cfg['lit_epochs']} LIT/hint + "
          f"{cfg['kd_epochs']} KD for LIT and FitNets); {augment_label(cfg)}")
    print(f"{'method':<16}{'layers':>7}{'accuracy':>18}{'vs teacher':>12}{'s/run':>8}   per seed")
    t = table["teacher"]["mean"]
    for m, r in table.items():
        print(f"{m:<16}{r['depth']:>7}{100 * r['mean']:>11.2f} +- {100 * r['std']:.2f}"
              f"{100 * (r['mean'] - t):>+12.2f}{r['seconds']:>8.1f}   {', '.join(f'{100 * a:.1f}' for a in r['accs'])}")
    mean = {m: r["mean"] for m, r in table.items()}
    checks = [("LIT within 0.5 points of the teacher", ("lit",), lambda: mean["lit"] >= t - 0.005),
              ("LIT at least as accurate as KD", ("lit", "kd"), lambda: mean["lit"] >= mean["kd"]),
              ("LIT at least as accurate as FitNets", ("lit", "fitnets"), lambda: mean["lit"] >= mean["fitnets"]),
              ("LIT same-arch at least as accurate as Born-Again", ("lit_same_arch", "born_again"),
               lambda: mean["lit_same_arch"] >= mean["born_again"])]
    for label, needs, ok in checks:
        if all(m in mean for m in needs):
            print(f"  {label}: {'met' if ok() else 'MISSED'}")


def headline(table, cfg):
    out = {ACC_KEYS[m]: table[m]["mean"] for m in ACC_KEYS if m in table}
    if "lit" in table:
        out["depth_ratio"] = table["teacher"]["depth"] / table["lit"]["depth"]
    out["sd"] = {ACC_KEYS[m]: table[m]["std"] for m in ACC_KEYS if m in table}
    out["split"] = "validation" if cfg.get("validation") else "test"
    out["augment"] = repr(make_augment(cfg.get("augment")))
    out["epochs"] = {k: cfg[k] for k in ("teacher_epochs", "lit_epochs", "kd_epochs")}
    return out


def _lpt_makespan(costs, workers=2):
    loads = [0.0] * workers
    for c in sorted(costs, reverse=True):
        loads[loads.index(min(loads))] += c
    return max(loads)


def parallel_speedup(cfg):
    """LIT phase (beta = 0): jointly in this process (2 threads, and 1) vs one task per block on 2 processes.

    Interleaved repeats, medians.  The speed-up is against the faster of the
    two joint runs, so a thread pool that loses under load does not flatter it.
    The teacher is untrained (its IRs only feed the timing).
    """
    from dawnlab.lit import trainer as trainer_module

    train, _ = mnist1d_split(cfg["n"])
    teacher = make_model("resnet1d", 26, cfg["width"], 0)
    student = make_model("resnet1d", cfg["student_depth"], cfg["width"], 1)
    kw = {"beta": 0.0, "lit_epochs": cfg["lit_epochs"], "kd_epochs": 0, "progress": False}
    times = {"joint, 2 threads": [], "joint, 1 thread": [], "parallel, 2 processes": []}
    models, block_seconds = {}, []
    for _ in range(cfg["repeats"]):
        for mode in times:
            torch.set_num_threads(2 if "2 threads" in mode else 1)
            lit = LIT(teacher, student, **resnet_spec(teacher, student), parallel=mode.startswith("parallel"),
                      processes=2, **kw)
            t0 = time.perf_counter()
            lit.train(train)
            times[mode].append(time.perf_counter() - t0)
            models[mode] = lit.student_
            if mode.startswith("parallel"):
                block_seconds.append(lit.block_seconds_)
    torch.set_num_threads(2)
    # the IR capture that every mode pays (teacher forward over the training set), timed alone
    t0 = time.perf_counter()
    trainer_module.teacher_irs(teacher, lit.teacher_blocks, as_tensors(train)[0])
    capture_s = time.perf_counter() - t0
    diff = max(float((a - b).abs().max()) for a, b in zip(models["joint, 1 thread"].state_dict().values(),
                                                           models["parallel, 2 processes"].state_dict().values())
               if a.is_floating_point())
    med = {k: float(np.median(v)) for k, v in times.items()}
    blocks = [float(np.median([b[k] for b in block_seconds])) for k in range(len(block_seconds[0]))]
    joint = min(med["joint, 2 threads"], med["joint, 1 thread"])
    par = med["parallel, 2 processes"]
    ideal = sum(blocks) / _lpt_makespan(blocks)
    print(f"\nblock-parallel LIT phase ({cfg['lit_epochs']} epochs, {len(blocks)} blocks, MNIST-1D 26 -> "
          f"{cfg['student_depth']} layers, width {cfg['width']}, {len(train[0])} rows, median of {cfg['repeats']} "
          "interleaved repeats):")
    for k, v in med.items():
        print(f"  {k:<24}{v:>8.2f} s")
    print(f"  teacher IR capture (in every mode)  {capture_s:.2f} s")
    print(f"  each block task's own compute (1 thread, in its worker): "
          f"{', '.join(f'{b:.2f}' for b in blocks)} s; their sum {sum(blocks):.2f} s")
    print(f"  best speed-up these block costs allow on 2 workers (longest-first): {ideal:.2f}x")
    overhead = par - capture_s - _lpt_makespan(blocks)
    print(f"  parallel wall time - capture - the busiest worker's compute = {overhead:.2f} s "
          "(process start, pickling IRs out and weights back, the shape check)")
    print(f"  speed-up over the faster joint run: {joint / par:.2f}x "
          f"(over joint with 1 thread: {med['joint, 1 thread'] / par:.2f}x); "
          f"largest weight difference from the joint run {diff:.1e}")
    return {"speedup": joint / par, "speedup_vs_1_thread": med["joint, 1 thread"] / par, "ideal": ideal,
            "median_seconds": med, "block_seconds": blocks, "capture_seconds": capture_s,
            "max_weight_diff": diff, "load_before": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny models, data and budgets (CI)")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--out", default=None, help="folder for the per-task result files (resumable)")
    ap.add_argument("--budget", type=float, default=None, help="start no new task after this many seconds")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--reverse", action="store_true", help="take the tasks from the end (a second process)")
    ap.add_argument("--no-digits", action="store_true", help="skip the MNIST digits comparison")
    ap.add_argument("--no-gan", action="store_true", help="skip the GAN part")
    ap.add_argument("--validation", action="store_true",
                    help="score on a validation split carved out of the training rows, never the test split "
                         "(for choosing a recipe); --width overrides the width of the digits and MNIST-1D models")
    ap.add_argument("--width", type=int, default=None, help="with --validation: the models' width")
    ap.add_argument("--augment", choices=sorted(AUGMENTS), default=None,
                    help="augmentation of the digits for every method and the teacher (default: the recipe's, "
                         f"{FULL['digits']['augment']!r}; 'affine' is {AUGMENTS['affine']})")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help=f"comma-separated subset of {','.join(METHODS)} (the teacher always runs)")
    args = ap.parse_args()
    cfg = QUICK if args.quick else FULL
    if args.augment is not None:
        cfg = {part: dict(c, augment=args.augment) if part == "digits" else c for part, c in cfg.items()}
    methods = tuple(m for m in METHODS if m in {x.strip() for x in args.methods.split(",")})
    unknown = sorted({x.strip() for x in args.methods.split(",") if x.strip()} - set(METHODS))
    if unknown or not methods:
        ap.error(f"--methods must be a non-empty subset of {','.join(METHODS)}; got {args.methods!r}")
    if args.width is not None and not args.validation:
        ap.error("--width is for recipe choices, so it needs --validation")
    if args.validation:
        cfg = {part: dict(c, validation=True, **({"width": args.width} if args.width and part in FAMILY else {}))
               if part in FAMILY else c for part, c in cfg.items()}
    seeds = list(range(args.seeds))
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = sorted(set(parts) - set(PARTS))
    if bad:
        ap.error(f"--parts must be a subset of {','.join(PARTS)}; got {bad}")
    parts = [p for p in parts if not (p == "digits" and args.no_digits) and not (p == "gan" and args.no_gan)]
    tmp = None
    if args.out:
        out_dir = Path(args.out)
    else:
        tmp = tempfile.TemporaryDirectory()
        out_dir = Path(tmp.name)
    print(f"LIT benchmark ({'quick' if args.quick else 'full'}), seeds {seeds}, parts {parts}; "
          f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
    t_all = time.perf_counter()
    done, left = run_all(parts, cfg, seeds, out_dir, args.budget, args.reverse, methods)
    head: dict = {}
    if "parallel" in parts and left == 0:
        path = out_dir / f"parallel_{recipe_of('parallel', cfg)}.json"
        if path.is_file():
            par = results.load(path)
            print(f"\nblock-parallel LIT phase: saved measurement {path} (load {par['load_before']:.1f} before): "
                  f"{par['speedup']:.2f}x over the faster joint run, best possible {par['ideal']:.2f}x")
        else:
            par = parallel_speedup(cfg["parallel"])
            results.save(path, par)
        head["parallel_block_speedup"] = par["speedup"]
        head["parallel_block_speedup_ideal"] = par["ideal"]
    if left:
        print(f"\n{left} tasks left: run the same command again to continue (finished tasks are kept in {out_dir})")
        print(json.dumps({"complete": False, "tasks_left": left}))
        return
    if "mnist1d" in parts:
        rows = [done["mnist1d", s, m] for s in seeds for m in ("teacher", *methods)]
        table = summarize(rows, methods)
        n = cfg["mnist1d"]["n"]
        print_table(f"MNIST-1D ({_rows_label(n, cfg['mnist1d'])})", table, seeds, cfg["mnist1d"])
        head.update(headline(table, cfg["mnist1d"]))
    if "gan" in parts:
        gan_rows = [done["gan", s, "all"] for s in seeds]
        g = cfg["gan"]
        print(f"\nGAN generators on the digits ({g['gan_epochs']} epochs teacher; LIT {g['lit_epochs']} IR + "
              f"{g['finetune_epochs']} adversarial; scratch {g['lit_epochs'] + g['finetune_epochs']} adversarial): "
              "Frechet distance of 1000 samples to the test digits on a digit CNN's features (not the Inception FID;"
              " lower is better)")
        print(f"  feature classifier test accuracy {np.mean([r['classifier_acc'] for r in gan_rows]):.3f}; "
              f"two halves of the real test digits: {np.mean([r['fd_real_halves'] for r in gan_rows]):.2f}")
        for key, label in [("fd_teacher", "teacher, 6 blocks"), ("fd_lit_before_finetune", "LIT 2 blocks, IR only"),
                           ("fd_lit", "LIT 2 blocks + adversarial"), ("fd_scratch", "scratch 2 blocks")]:
            v = [r[key] for r in gan_rows]
            print(f"  {label:<28}{np.mean(v):>9.2f} +- {np.std(v, ddof=1) if len(v) > 1 else 0:.2f}   "
                  f"({', '.join(f'{x:.2f}' for x in v)})")
        head.update({"gan_fd_lit": float(np.mean([r["fd_lit"] for r in gan_rows])),
                     "gan_fd_scratch": float(np.mean([r["fd_scratch"] for r in gan_rows])),
                     "gan_fd_teacher": float(np.mean([r["fd_teacher"] for r in gan_rows])),
                     "gan_fd_lit_ir_only": float(np.mean([r["fd_lit_before_finetune"] for r in gan_rows]))})
    if "digits" in parts:
        drows = [done["digits", s, m] for s in seeds for m in ("teacher", *methods)]
        dtable = summarize(drows, methods)
        n = len(load_opencv_digits().y) if cfg["digits"].get("n") is None else cfg["digits"]["n"]
        print_table(f"MNIST digits 20x20, width {cfg['digits']['width']} ({_rows_label(n, cfg['digits'])})",
                    dtable, seeds, cfg["digits"])
        head["digits"] = headline(dtable, cfg["digits"])
    head["seeds"] = seeds
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; load average {os.getloadavg()[0]:.1f} at the end")
    print(json.dumps(head))
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
