"""Benchmark: Selection via Proxy against target-driven and random selection, paired over seeds.

Runs, side by side and for several seeds, on a real offline data set
(``dawnlab.data``; the OpenCV digits by default, 5000 images of 20x20; the
same 5000 digits as ``mnist``, so ``--data letters`` (20,000 rows of 16
features, MLPs) or ``--data mnist1d`` is the second, independent benchmark):

1. Active learning from a random 2% to 50% of the pool (the paper's schedule,
   arXiv 1906.11829 Section 4.1), least-confidence sampling, with the selector
   being (a) the proxy (SVP), (b) the target itself, (c) random.  The target is
   then trained on each final selection.  Reported: the data-selection time
   ratio target / proxy, the final target accuracies, and the paired
   differences SVP - target and SVP - random with 95% t intervals.
2. Core-set selection as the paper measures it (Section 4.3): the proxy is
   trained once on the whole pool while forgetting events are counted at every
   presentation; for each kept fraction (0.3 to 0.9) the target is trained on
   the subset chosen by each proxy score (forgetting events, ties broken by
   misclassified presentations; entropy; greedy k-centers on the proxy's
   embedding) *and* on a random subset of the same size, with the same split,
   proxy and target seeds, in the same run.  The target on all of the pool is
   the reference.  Reported per kept fraction and score: the paired accuracy
   difference to random and to the full-data target (mean over seeds and 95%
   interval), and how many distinct forgetting counts the proxy produced.
3. Spearman correlation between the proxy's and the target's least-confidence
   rankings of the unlabelled pool, both trained on the same random 10%.

Each seed draws its own random train/test split (80/20), so a mean over seeds
averages over ``seeds x test size`` test predictions (5 x 1000 digits by
default: a 0.5-point paired difference is 25 test images, not 5).

Models (CPU-sized stand-ins for the paper's ResNet-164 / ResNet-20):
active learning uses a pre-activation ResNet-20 (width 16, 5 epochs, at least
20 minibatches per epoch) as target and a ResNet-8 of width 8 trained for 2
epochs (at least 50 minibatches each) as proxy; core-set selection trains its
target to convergence instead (a ResNet-8 of width 8 for 12 epochs: a subset
is only judged fairly against a target that has learnt what the data can teach
it; 16 subsets per seed on 2 shared cores rule out a deeper one) and its proxy
a ResNet-8 of width 4 for 10 epochs, long enough that forgetting events take
several values.  Letters uses MLPs in the same roles (target 3 x 256 units,
proxy 1 x 64, minibatches of 128).

Each seed runs as two parallel parts (active learning with rank agreement;
core-set selection).  Resumable: with ``--out`` every finished seed is written
as ``seed_<s>.json`` and, while a part runs, each finished unit (an
active-learning method, the full-data target, a core-set score) is added to
``seed_<s>.<part>.partial.json``; a rerun with the same recipe skips finished
seeds, and inside an unfinished seed skips the units its partial files already
hold (core-set rounds resume from their own checkpoints under
``work_seed_<s>_<recipe hash>``, so a changed recipe starts cleanly in new
folders and leaves the old ones as they were; delete those by hand).

Usage: ``python benchmarks/svp.py [--quick] [--seeds 5] [--processes 2] [--out DIR] [--data NAME]``.
The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from dawnlab import results
from dawnlab.parallel import imap
from dawnlab.svp import ActiveLearning, CoreSet, Learner, paired_difference, pool_scores, rank_agreement

CS_SCORES = ("forgetting", "entropy", "kcenters")
TABULAR = ("letters",)


def settings(quick: bool, data: str = "opencv_digits", n: int | None = None) -> dict:
    """The comparison's recipe: data size, budgets, kept fractions and the four learners."""
    arch = "mlp" if data in TABULAR else "resnet"
    if quick:
        if arch == "mlp":
            cfg = {"n": 1500, "target": Learner("mlp", 2, 64, 5, name="target"),
                   "proxy": Learner("mlp", 1, 16, 2, name="proxy"),
                   "cs_target": Learner("mlp", 2, 64, 5, name="cs_target"),
                   "cs_proxy": Learner("mlp", 1, 16, 3, name="cs_proxy")}
        else:
            cfg = {"n": 600, "target": Learner("resnet", 8, 8, 3, name="target"),
                   "proxy": Learner("resnet", 8, 4, 1, name="proxy"),
                   "cs_target": Learner("resnet", 8, 8, 3, name="cs_target"),
                   "cs_proxy": Learner("resnet", 8, 4, 2, name="cs_proxy")}
        cfg.update(budgets=[0.05, 0.2, 0.5], keep=[0.5, 0.9])
    elif arch == "mlp":
        cfg = {"n": None, "budgets": [0.02, 0.1, 0.2, 0.3, 0.4, 0.5], "keep": [0.3, 0.5, 0.7, 0.9],
               "target": Learner("mlp", 3, 256, 20, batch_size=128, min_batches=20, name="target"),
               "proxy": Learner("mlp", 1, 64, 5, batch_size=128, min_batches=20, name="proxy"),
               "cs_target": Learner("mlp", 3, 256, 30, batch_size=128, name="cs_target"),
               "cs_proxy": Learner("mlp", 1, 64, 15, batch_size=128, name="cs_proxy")}
    else:
        cfg = {"n": None, "budgets": [0.02, 0.1, 0.2, 0.3, 0.4, 0.5], "keep": [0.3, 0.5, 0.7, 0.9],
               "target": Learner("resnet", 20, 16, 5, min_batches=20, name="target"),
               "proxy": Learner("resnet", 8, 8, 2, min_batches=50, name="proxy"),
               "cs_target": Learner("resnet", 8, 8, 12, name="cs_target"),
               "cs_proxy": Learner("resnet", 8, 4, 10, name="cs_proxy")}
    if n:
        cfg["n"] = n
    return cfg


def load(name: str, n: int | None):
    from dawnlab import data

    ds = data.load(name)
    if n is not None and n < len(ds):
        ds = ds.subset(np.random.default_rng(0).permutation(len(ds))[:n])
    return ds


PARTS = ("al", "cs")
PART_SETTINGS = {"al": ("target", "proxy", "budgets"), "cs": ("cs_target", "cs_proxy", "keep")}


def part_recipe(recipe: dict, part: str) -> dict:
    """What a part's figures depend on: the data and that part's own learners and fractions."""
    return {"part": part, "data": recipe["data"], "n": recipe["n"], "quick": recipe["quick"],
            "version": recipe["version"], **{k: recipe["settings"][k] for k in PART_SETTINGS[part]}}


def recipe_key(recipe: dict) -> str:
    """A short, stable hash of a recipe, naming the checkpoint folders it owns.

    >>> recipe_key({"keep": [0.5], "n": 300}) == recipe_key({"n": 300, "keep": [0.5]}) != recipe_key({"n": 200})
    True
    """
    import hashlib

    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]


def _partial_path(task: dict) -> Path | None:
    if not task.get("out"):
        return None
    suffix = "_quick" if task["quick"] else ""
    return Path(task["out"]) / f"seed_{task['seed']}{suffix}.{task['part']}.partial.json"


def run_seed(task: dict) -> dict:
    """One part ("al": active learning and rank agreement, "cs": core-set) for one seed.

    A picklable task for :mod:`dawnlab.parallel`; the two parts of a seed run
    in parallel.  Resumes from the part's partial file when it holds the same
    recipe: a unit whose figures are there is not run again.
    """
    import torch

    torch.set_num_threads(1)
    from dawnlab.svp.learner import warm_up

    warm_up()
    seed, recipe = task["seed"], part_recipe(task["recipe"], task["part"])
    cfg = settings(task["quick"], task["data"], task.get("n"))
    ds = load(task["data"], cfg["n"])
    T, P = cfg["target"], cfg["proxy"]
    part = _partial_path(task)
    out = {"seed": seed, "recipe": recipe, "done": []}
    if part is not None and part.is_file():
        old = results.load(part)
        if old.get("recipe") == recipe:
            out = old
    # checkpoint folders keyed by the part's recipe: a changed recipe starts in folders of its own (CoreSet
    # refuses a checkpoint_dir holding another configuration), and an earlier recipe's are left as they were
    work = (Path(task["out"]) / f"work_seed_{seed}{'_quick' if task['quick'] else ''}_{recipe_key(recipe)}"
            if task.get("out") else None)

    def unit(name, fn):
        if name in out["done"]:
            return
        out.update(fn())
        out["done"].append(name)
        if part is not None:
            results.save(part, out)

    if task["part"] == "cs":
        _coreset_part(cfg, ds, seed, work, unit, out["done"])
        return out
    # 1. active learning: the three selectors on one split, one initial set
    al_scores = {}

    def al(name, kw):
        def fn():
            res = ActiveLearning(T, budgets=cfg["budgets"], seed=seed, **kw).fit(ds)
            got = {f"al_{name}_acc": res.final_accuracy, f"al_{name}_selection_s": res.selection_seconds,
                   f"al_{name}_target_s": res.target_seconds}
            if name != "random":
                got[f"al_{name}_round1_scores"] = res.records[1].scores.tolist()
            return got
        return fn

    for name, kw in [("svp", {"proxy": P, "method": "least_confidence"}),
                     ("target", {"method": "least_confidence"}),
                     ("random", {"method": "random"})]:
        unit(f"al_{name}", al(name, kw))
    for k in ("svp", "target"):
        al_scores[k] = np.array(out[f"al_{k}_round1_scores"], dtype=float)
    mask = np.isfinite(al_scores["svp"]) & np.isfinite(al_scores["target"])
    out["al_round1_spearman"] = rank_agreement(al_scores["svp"][mask], al_scores["target"][mask]).spearman

    # 3. rank agreement on a common 10% labelled set
    def agreement():
        ps = pool_scores({"target": T, "proxy": P}, ds, "least_confidence", labelled=0.1, seed=seed)
        ra = rank_agreement(ps["scores"]["proxy"], ps["scores"]["target"])
        return {"spearman": ra.spearman, "kendall": ra.kendall, "top10_overlap": ra.top_k_overlap,
                "proxy_acc10": ps["accuracy"]["proxy"], "target_acc10": ps["accuracy"]["target"]}

    unit("agreement", agreement)
    for k in ("svp", "target"):
        out.pop(f"al_{k}_round1_scores", None)
    return out


def _coreset_part(cfg, ds, seed, work, unit, done) -> None:
    """Core-set selection for one seed: the full-data target, then each score and the random control."""
    from dawnlab.svp.pool import as_tensors, split_pool

    CT, CP = cfg["cs_target"], cfg["cs_proxy"]
    X, y = as_tensors(ds, "benchmark")
    pool, test = split_pool(len(X), 0.2, seed)

    def full():
        t0 = time.perf_counter()
        fitted = CT.fit(X[pool], y[pool], int(y.max()) + 1, seed, track=True)
        # the target's own forgetting pass: training on everything, counting as it goes
        return {"cs_target_selection_s": time.perf_counter() - t0, "cs_full_acc": fitted.accuracy(X[test], y[test])}

    unit("cs_full", full)
    scored = {}

    def coreset(method):
        def fn():
            ckpt = work / f"coreset_{method}" if work is not None else None
            cs = CoreSet(CT, None if method == "random" else CP, method, keep=cfg["keep"], seed=seed,
                         checkpoint_dir=ckpt)
            res = cs.fit(ds, scored=None if method == "random" else scored.get("pass"))
            got = {}
            if method != "random":
                scored["pass"] = cs.scored_
                got["cs_proxy_acc"] = cs.scored_["proxy_accuracy"]
            if method == "forgetting":
                f, m = cs.scored_["forgetting"], cs.scored_["misclassified"]
                got["cs_forgetting_distinct"] = int(len(np.unique(f)))
                got["cs_forgetting_distinct_with_tiebreak"] = int(len({(a, b) for a, b in zip(f, m)}))
                got["cs_never_learned"] = int(np.isinf(f).sum())
            for rec in res.records:
                got[f"cs_{method}_keep{rec.keep:.2f}_acc"] = rec.target_accuracy
                got[f"cs_{method}_keep{rec.keep:.2f}_selection_s"] = rec.selection_seconds
            return got
        return fn

    for method in CS_SCORES + ("random",):
        if method != "random" and f"cs_{method}" not in done and work is not None and "pass" not in scored:
            done_pass = work / "coreset_forgetting" / "scores.pkl"
            if done_pass.is_file():  # a resumed seed: reuse the proxy pass already written
                scored["pass"] = results.load(done_pass)
        unit(f"cs_{method}", coreset(method))



def summarise(table: list[dict], cfg: dict) -> dict:
    """Print the tables and return the headline figures (means and paired intervals)."""
    def col(key):
        return np.array([r[key] for r in table], dtype=float)

    def stat(key):
        v = col(key)
        return float(v.mean()), float(v.std())

    def ci(a, b):
        return paired_difference(col(a), col(b)).to_dict()

    print(f"{'active learning (to 50%)':28s} {'target acc':>16s} {'selection s':>16s} {'target train s':>16s}")
    for name in ("svp", "target", "random"):
        a, sa = stat(f"al_{name}_acc")
        t, st = stat(f"al_{name}_selection_s")
        g, sg = stat(f"al_{name}_target_s")
        print(f"{name:28s} {a:8.4f} ± {sa:5.4f} {t:9.1f} ± {st:4.1f} {g:9.1f} ± {sg:4.1f}")
    speed = col("al_target_selection_s") / col("al_svp_selection_s")
    al_t, al_r = ci("al_svp_acc", "al_target_acc"), ci("al_svp_acc", "al_random_acc")
    print(f"selection speed-up target/proxy: {speed.mean():.2f} ± {speed.std():.2f}")
    print(f"paired SVP - target: {al_t['mean']:+.4f} [{al_t['low']:+.4f}, {al_t['high']:+.4f}];  "
          f"SVP - random: {al_r['mean']:+.4f} [{al_r['low']:+.4f}, {al_r['high']:+.4f}]  (95% t, n={al_t['n']})")
    print(f"every interval here: {al_t['method']}, assuming {al_t['assumption']}")

    full, sfull = stat("cs_full_acc")
    print(f"\ncore-set: target on all of the pool {full:.4f} ± {sfull:.4f}; proxy accuracy "
          f"{stat('cs_proxy_acc')[0]:.4f}; distinct forgetting counts {stat('cs_forgetting_distinct')[0]:.1f} "
          f"({stat('cs_forgetting_distinct_with_tiebreak')[0]:.1f} with the tie-break), never learned "
          f"{stat('cs_never_learned')[0]:.1f}")
    print(f"{'score':12s} {'kept':>5s} {'target acc':>16s} {'minus random [95%]':>28s} {'minus full [95%]':>28s}")
    vs_random, vs_full, met = {}, {}, []
    for k in sorted(cfg["keep"]):
        key = f"{k:.2f}"
        vs_random[key], vs_full[key] = {}, {}
        a, sa = stat(f"cs_random_keep{key}_acc")
        dfull = ci(f"cs_random_keep{key}_acc", "cs_full_acc")
        vs_full[key]["random"] = dfull
        print(f"{'random':12s} {k:5.2f} {a:8.4f} ± {sa:5.4f} {'':>28s} "
              f"{dfull['mean']:+.4f} [{dfull['low']:+.4f}, {dfull['high']:+.4f}]")
        for m in CS_SCORES:
            a, sa = stat(f"cs_{m}_keep{key}_acc")
            drand = ci(f"cs_{m}_keep{key}_acc", f"cs_random_keep{key}_acc")
            dfull = ci(f"cs_{m}_keep{key}_acc", "cs_full_acc")
            vs_random[key][m], vs_full[key][m] = drand, dfull
            print(f"{m:12s} {k:5.2f} {a:8.4f} ± {sa:5.4f} {drand['mean']:+.4f} [{drand['low']:+.4f}, "
                  f"{drand['high']:+.4f}]   {dfull['mean']:+.4f} [{dfull['low']:+.4f}, {dfull['high']:+.4f}]")
            if k <= 0.7 and drand["low"] > 0 and dfull["mean"] >= -0.005:
                met.append({"keep": k, "score": m, "minus_random": drand, "minus_full": dfull})
    # largest fraction removed: the smallest kept fraction at which some proxy score's mean paired drop
    # against the full-data target is at most 0.5 points
    best = None
    for k in sorted(cfg["keep"]):
        drops = {m: vs_full[f"{k:.2f}"][m]["mean"] for m in CS_SCORES}
        m = max(drops, key=drops.get)
        if drops[m] >= -0.005:
            best = (k, m, drops[m])
            break
    if best is None:
        k = max(cfg["keep"])
        m = max(CS_SCORES, key=lambda s: vs_full[f"{k:.2f}"][s]["mean"])
        best, removed = (k, m, vs_full[f"{k:.2f}"][m]["mean"]), 0.0
    else:
        removed = 1.0 - best[0]
    cost = col("cs_target_selection_s") / col(f"cs_forgetting_keep{best[0]:.2f}_selection_s")
    print(f"removed within 0.5 points (paired mean): {removed:.2f} ({best[1]} at keep {best[0]:.2f}, "
          f"{best[2]:+.4f}); forgetting selection cost ratio target/proxy {cost.mean():.2f} ± {cost.std():.2f}")
    print("core-set target (keep <= 0.7, a score above random with its 95% interval, within 0.5 points of full): "
          + (", ".join(f"{x['score']} at {x['keep']:.2f}" for x in met) if met else "not met on this data"))
    rho, srho = stat("spearman")
    r1, sr1 = stat("al_round1_spearman")
    print(f"\nproxy vs target least-confidence ranking (10% labelled): Spearman {rho:.3f} ± {srho:.3f}, "
          f"Kendall {stat('kendall')[0]:.3f}, top-10% overlap {stat('top10_overlap')[0]:.3f}; "
          f"AL round-1 Spearman {r1:.3f} ± {sr1:.3f}")
    return {"al_selection_speedup": round(float(speed.mean()), 3),
            "al_acc_svp": round(stat("al_svp_acc")[0], 4),
            "al_acc_target": round(stat("al_target_acc")[0], 4),
            "al_acc_random": round(stat("al_random_acc")[0], 4),
            "al_svp_minus_target_ci": al_t, "al_svp_minus_random_ci": al_r,
            "coreset_fraction_removed": round(removed, 3),
            "coreset_acc_drop": round(float(-best[2]), 4),
            "coreset_cost_ratio": round(float(cost.mean()), 3),
            "coreset_vs_random": vs_random, "coreset_vs_full": vs_full,
            "coreset_target_met": met,
            "coreset_forgetting_distinct": round(stat("cs_forgetting_distinct")[0], 1),
            "proxy_target_spearman": round(rho, 4),
            "seeds": len(table)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two seeds, 600 images, tiny models and budgets (CI)")
    ap.add_argument("--seeds", type=int, default=None, help="number of seeds (default 5, quick 2)")
    ap.add_argument("--data", default="opencv_digits",
                    help="dawnlab.data set name: opencv_digits (default), letters, mnist1d, sklearn_digits")
    ap.add_argument("--processes", type=int, default=None, help="parallel seeds (default 1 quick, 2 full)")
    ap.add_argument("--n", type=int, default=None, help="use a seeded subset of N examples")
    ap.add_argument("--out", default=None, help="folder for per-seed result files (resumable)")
    args = ap.parse_args(argv)
    seeds = args.seeds or (2 if args.quick else 5)
    if seeds < 2:
        ap.error("--seeds must be at least 2: a paired interval needs two pairs")
    procs = args.processes or (1 if args.quick else 2)
    cfg = settings(args.quick, args.data, args.n)
    out_dir = Path(args.out) if args.out else None
    recipe = {"settings": json.loads(json.dumps({k: v.to_dict() if isinstance(v, Learner) else v
                                                 for k, v in cfg.items()})),
              "quick": args.quick, "data": args.data, "n": args.n, "version": 2}
    rows: dict[int, dict] = {}
    todo = []
    suffix = "_quick" if args.quick else ""
    for s in range(seeds):
        f = out_dir / f"seed_{s}{suffix}.json" if out_dir else None
        old = results.load(f) if f is not None and f.is_file() else None
        if old is not None and old.get("recipe") == recipe:  # a finished seed of the same comparison
            rows[s] = old
        else:
            todo += [{"seed": s, "part": part, "out": args.out, "quick": args.quick, "data": args.data,
                      "n": args.n, "recipe": recipe} for part in PARTS]
    parts: dict[int, dict] = {}
    for i, row in imap(run_seed, todo, processes=procs, progress=True, desc="seed parts"):
        s = todo[i]["seed"]
        parts.setdefault(s, {})[todo[i]["part"]] = row
        if len(parts[s]) == len(PARTS):  # both parts of the seed: written as it finishes
            rows[s] = {k: v for p in PARTS for k, v in parts[s][p].items() if k not in ("recipe", "done")}
            rows[s]["recipe"] = recipe
            if out_dir is not None:
                results.save(out_dir / f"seed_{s}{suffix}.json", rows[s])
    table = [rows[s] for s in sorted(rows)]
    t, p = (dataclasses.replace(cfg[r], name=None) for r in ("target", "proxy"))
    ct, cp = (dataclasses.replace(cfg[r], name=None) for r in ("cs_target", "cs_proxy"))
    print(f"data={args.data}  seeds={seeds}  AL target={t.label} proxy={p.label}  core-set target={ct.label} "
          f"proxy={cp.label}  budgets={cfg['budgets']}  keep={cfg['keep']}")
    head = summarise(table, cfg)
    print(json.dumps(head))
    return head


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
