"""Cascades: routing equals the small model or the full model row by row; the guarantee is reported and holds."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dawnlab.willump import FeatureGroup, Pipeline, Willump, mcnemar_exact
from dawnlab.willump.datasets import slow_square, synthetic, synthetic_pipeline
from dawnlab.willump.pipeline import hstack


def small_and_full(w, X):
    pipe = w.pipeline_
    blocks = pipe.features(X)
    full = pipe.model_.predict_proba(pipe.matrix(blocks))
    small = w.small_models_[w.cascade_.groups].predict_proba(pipe.matrix(blocks, w.cascade_.groups))
    return small, full


@pytest.mark.parametrize("classes", [2, 3])
def test_cascade_answers_with_the_full_model_exactly_where_the_small_one_is_unsure(classes):
    X, y = synthetic(classes=classes)
    w = Willump(synthetic_pipeline(), progress=False).fit(X, y)
    cas = w.cascade_
    assert cas.active and cas.groups == ("cheap",) and cas.rest == ("costly",)
    Xt, _ = synthetic(600, classes, seed=5)
    got = w.predict_proba(Xt)
    small, full = small_and_full(w, Xt)
    sent = w.last_sent_to_full_
    np.testing.assert_array_equal(sent, np.flatnonzero(small.max(axis=1) < cas.threshold))
    assert 0 < len(sent) < len(Xt)
    np.testing.assert_allclose(got[sent], full[sent], atol=1e-12)
    kept = np.setdiff1d(np.arange(len(Xt)), sent)
    np.testing.assert_allclose(got[kept], small[kept], atol=1e-12)
    np.testing.assert_array_equal(w.predict(Xt), w.classes_[got.argmax(1)])


def test_the_reported_test_is_mcnemar_on_the_held_out_rows_and_the_choice_obeys_it():
    X, y = synthetic()
    w = Willump(synthetic_pipeline(), progress=False, refit=False).fit(X, y)
    cas, table = w.cascade_, w.cascade_.table
    assert cas.test.startswith("McNemar") and cas.pvalue >= cas.alpha
    assert (table.accepted == (table.pvalue >= 0.05)).all() and table.noninferior.all()
    accepted = table[table.accepted]
    assert cas.expected_cost == pytest.approx(accepted.expected_cost.min())
    # recompute the chosen row's test from scratch on the same held-out split
    from sklearn.model_selection import train_test_split

    tr, ho = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    small, full = small_and_full(w, X[ho])
    cascade = np.where((small.max(1) >= cas.threshold)[:, None], small, full)
    r = mcnemar_exact(y[ho], full.argmax(1), cascade.argmax(1))
    assert (r.b, r.c) == cas.discordant and r.pvalue == pytest.approx(cas.pvalue)
    assert cas.score_cascade == pytest.approx((cascade.argmax(1) == y[ho]).mean())
    f = (small.max(1) >= cas.threshold).mean()
    assert cas.frac_confident == pytest.approx(f)
    c_cheap, c_costly = w.groups_.cost_per_row_s
    m_small, m_full = w.model_costs_["cheap"], w.model_costs_["(full model)"]
    assert cas.full_cost == pytest.approx(c_cheap + c_costly + m_full)
    assert cas.expected_cost == pytest.approx(c_cheap + m_small + (1 - f) * (c_costly + m_full))
    # every accepted candidate's expected cost follows the formula; rejected ones are significant losses
    assert (table.expected_cost <= table.subset_cost.max() + cas.full_cost).all()
    assert (table[~table.accepted].pvalue < 0.05).all()


def test_max_drop_accepts_only_a_fixed_sequence_of_bounds_within_it():
    from scipy.stats import beta

    X, y = synthetic()
    w = Willump(synthetic_pipeline(), progress=False, max_drop=0.03).fit(X, y)
    t = w.cascade_.table
    n, family = 300, 2 ** 2 - 2  # held-out rows; Bonferroni over every proper subset of the two groups
    assert w.cascade_.family_size == family
    a = 0.05 / family
    want = [beta.ppf(1 - a / 2, b + 1, n - b) - (beta.ppf(a / 2, c, n - c + 1) if c else 0.0)
            for b, c in zip(t.b, t.c)]
    np.testing.assert_allclose(t.drop_bound, want)
    for _, part in t.groupby(t.groups.map(str)):
        part = part.sort_values("threshold", ascending=False)
        first_fail = np.flatnonzero(part.drop_bound.to_numpy() > 0.03)
        stop = first_fail[0] if len(first_fail) else len(part)
        assert part.noninferior.tolist() == [True] * stop + [False] * (len(part) - stop)
    assert (t.accepted == ((t.pvalue >= 0.05) & t.noninferior)).all()
    assert w.cascade_.drop_bound <= 0.03 and w.cascade_.pvalue >= 0.05
    # cascade_for re-reads the same table: no margin gives the McNemar-only choice, a tiny one no cascade
    loose = w.cascade_for(None)
    assert loose.expected_cost <= w.cascade_.expected_cost
    assert (loose.table.accepted == (loose.table.pvalue >= 0.05)).all()
    assert not w.cascade_for(1e-6).active
    assert w.cascade_for(0.03).threshold == w.cascade_.threshold


def three_groups():
    """Two cheap one-column groups and the slow one: six proper subsets, of which the knapsack picks few."""
    return Pipeline({"x0": FeatureGroup("x0", "passthrough", [0]), "x2": FeatureGroup("x2", "passthrough", [2]),
                     "costly": FeatureGroup("costly", slow_square, [1, 3])}, LogisticRegression(max_iter=500))


@pytest.mark.parametrize("cv", [None, 3])
def test_drop_bounds_divide_alpha_by_every_proper_subset_not_by_the_knapsacks_picks(cv):
    # the knapsack picks subsets by importances measured on the very rows the bounds use (with cv, the pooled
    # out-of-fold rows), so the Bonferroni divisor must count the family fixed before those rows: all 2**3 - 2
    # proper subsets.  Counting only the picks (as before) gives each bound the level alpha / len(picks).
    from dawnlab.willump.stats import paired_drop_upper_bound

    X, y = synthetic(1200, seed=4)
    kw = {"cv": cv, "refit": True} if cv else {}
    w = Willump(three_groups(), progress=False, max_drop=0.03, topk_bootstrap=10, n_repeats=1, **kw).fit(X, y)
    t = w.cascade_.table
    picked = set(map(tuple, t.groups))
    assert 1 <= len(picked) < 6  # only some of the family are tested
    assert w.cascade_.family_size == 6 and w.cascade_for(None).family_size == 6
    n = 1200 if cv else 300  # the tuning rows: every row by cross-fitting, else the 25% held out
    want = [paired_drop_upper_bound(int(b), int(c), n, 0.05 / 6) for b, c in zip(t.b, t.c)]
    np.testing.assert_allclose(t.drop_bound, want)
    looser = [paired_drop_upper_bound(int(b), int(c), n, 0.05 / len(picked)) for b, c in zip(t.b, t.c)]
    assert (t.drop_bound > np.asarray(looser)).all()  # the old divisor's bounds are smaller: it fails this test


def test_paired_drop_bound_covers_the_true_drop_over_seeds():
    # trinomial rows: b-type, c-type, concordant; the bound must cover p_b - p_c in >= 95% of replications
    # (minus 3 simulation standard errors), including the hard cases where c-type rows are rare or absent
    from dawnlab.willump.stats import paired_drop_upper_bound

    rng = np.random.default_rng(1)
    reps = 1500
    for n, pb, pc in [(2000, 0.004, 0.002), (3000, 0.001, 0.0), (500, 0.05, 0.04), (7000, 0.0005, 0.0005)]:
        counts = rng.multinomial(n, [pb, pc, 1 - pb - pc], size=reps)
        covered = sum(paired_drop_upper_bound(int(b), int(c), n, 0.05) >= pb - pc for b, c, _ in counts)
        assert covered / reps >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps), (n, pb, pc, covered)


def test_fixed_sequence_keeps_the_family_wise_error_at_alpha():
    # nested cascades: lowering the threshold adds a bin of rows; the true drop climbs to just above max_drop and
    # stays there while discordant rows keep coming.  The chance that any accepted threshold truly loses more than
    # max_drop must be <= alpha (plus simulation error), although 10 thresholds are tested each at the full alpha
    import functools

    import pandas as pd

    from dawnlab.willump.optimizer import fixed_sequence
    from dawnlab.willump.stats import paired_drop_upper_bound

    bound = functools.lru_cache(None)(lambda b, c: paired_drop_upper_bound(b, c, 2000, 0.05))
    rng = np.random.default_rng(2)
    n, bins, reps, max_drop = 2000, 10, 1500, 0.01
    true_drop = np.array([0, 0.004, 0.008] + [0.0105] * 7)
    pc = np.r_[0, 0, 0, np.full(7, 0.002)]  # c-type mass per bin (bin 0 most confident)
    pb = np.diff(np.r_[0, true_drop]) + pc
    probs = np.r_[pb, pc, 1 - pb.sum() - pc.sum()]
    thresholds = np.linspace(0.95, 0.5, bins)
    errors, passed = 0, []
    for _ in range(reps):
        draw = rng.multinomial(n, probs)
        b, c = np.cumsum(draw[:bins]), np.cumsum(draw[bins:2 * bins])
        table = pd.DataFrame({"groups": [("cheap",)] * bins, "threshold": thresholds,
                              "drop_bound": [bound(int(x), int(z)) for x, z in zip(b, c)]})
        ok = fixed_sequence(table.iloc[::-1].reset_index(drop=True), max_drop)[::-1]  # any row order works
        errors += bool((ok & (true_drop > max_drop)).any())
        passed.append(ok.sum())
    assert errors / reps <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / reps)
    assert np.mean(passed) >= 1.5  # not vacuous: the safe high thresholds do pass


def test_drop_bound_covers_the_true_drop_over_seeds():
    # b-type rows occur at rate 0.004 (>= the accuracy drop); the 95% bound from 2000 rows must cover it in
    # at least 95% of 2000 replications, minus 3 simulation standard errors
    from dawnlab.willump.stats import drop_upper_bound

    rng = np.random.default_rng(0)
    reps, covered = 2000, 0
    for _ in range(reps):
        b = rng.binomial(2000, 0.004)
        covered += drop_upper_bound(b, 2000, 0.05) >= 0.004
    assert covered / reps >= 0.95 - 3 * np.sqrt(0.95 * 0.05 / reps)


def test_a_strict_alpha_never_accepts_a_significant_loss():
    # with alpha = 0.5 only candidates whose held-out p-value is >= 0.5 survive
    X, y = synthetic()
    w = Willump(synthetic_pipeline(), progress=False, alpha=0.5).fit(X, y)
    assert not w.cascade_.active or w.cascade_.pvalue >= 0.5


def test_no_cascade_when_every_cheap_model_is_significantly_worse():
    # the cheap group carries no signal at all: every confident small-model answer is a coin flip
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1500, 4))
    y = (X[:, 1] ** 2 + X[:, 3] ** 2 > 1.4).astype(int)
    # cutoffs of at most 20%: the costly group (1000x the passthrough's time on a quiet machine) then never fits
    # the budget, even when a loaded machine inflates the passthrough's measured time (at 60% it once did)
    w = Willump(synthetic_pipeline(), progress=False, thresholds=[0.5, 0.55, 0.6], cost_cutoffs=[0.1, 0.2]).fit(X, y)
    assert set(w.cascade_.table.groups) <= {("cheap",)}  # empty when the cheap group's importance is <= 0
    assert not w.cascade_.active and w.cascade_.groups == ()
    full = w.predict_proba_full(X[:50])
    np.testing.assert_allclose(w.predict_proba(X[:50]), full)
    assert len(w.last_sent_to_full_) == 50


@pytest.mark.parametrize("score", ["roc_auc", "callable"])
def test_other_scores_use_the_paired_bootstrap(score):
    from sklearn.metrics import log_loss

    X, y = synthetic()
    s = (lambda t, p: -log_loss(t, p, labels=[0, 1])) if score == "callable" else score
    w = Willump(synthetic_pipeline(), score=s, n_boot=40, thresholds=[0.7, 0.8, 0.9, 0.95], progress=False).fit(X, y)
    assert w.cascade_.test.startswith("paired bootstrap") and w.cascade_.discordant is None
    assert (w.cascade_.table.accepted == (w.cascade_.table.pvalue >= 0.05)).all()


def test_groups_table_and_point_queries_with_the_cache(fitted):
    w, X, y = fitted
    g = w.groups_.set_index("group")
    assert g.loc["costly", "cost_per_row_s"] > 10 * g.loc["cheap", "cost_per_row_s"]
    assert g.cost_share.sum() == pytest.approx(1.0) and g.loc["cheap", "selected"] and not g.loc["costly", "selected"]
    assert g.importance.min() > 0
    w.reset_stats()
    rows = np.random.default_rng(0).integers(0, 20, 200)
    answers = np.array([w.predict_proba(X[i:i + 1])[0] for i in rows])
    s = w.stats_
    assert s["point_queries"] == 200 and s["latency_ms_p50"] <= s["latency_ms_p99"]
    distinct = len(set(rows.tolist()))
    assert s["hit_rate_by_group"]["cheap"] == pytest.approx(1 - distinct / 200)
    assert s["cache_entries"]["cheap"] == distinct
    caches, w.caches_ = w.caches_, {}
    try:  # cached answers equal uncached ones
        np.testing.assert_allclose(answers, w.predict_proba(X[rows]), atol=1e-12)
    finally:
        w.caches_ = caches


def test_cross_fitting_tunes_on_every_row_with_out_of_fold_models():
    # by hand: the same stratified folds, each fold's groups and models fitted on the other folds
    from sklearn.base import clone
    from sklearn.model_selection import StratifiedKFold

    X, y = synthetic(900, seed=6)
    w = Willump(synthetic_pipeline(), progress=False, cv=3, refit=True, seed=2).fit(X, y)
    assert not w.cascade_.deployed_as_tested
    t = w.cascade_.table
    ys, pfs, pss = [], [], []
    for tr, ho in StratifiedKFold(3, shuffle=True, random_state=2).split(X, y):
        pipe = synthetic_pipeline().clone().fit_groups(X[tr], y[tr])
        btr, bho = pipe.features(X[tr]), pipe.features(X[ho])
        pfs.append(clone(pipe.model).fit(pipe.matrix(btr), y[tr]).predict_proba(pipe.matrix(bho)))
        pss.append(clone(pipe.model).fit(pipe.matrix(btr, ["cheap"]), y[tr]).predict_proba(pipe.matrix(bho, ["cheap"])))
        ys.append(y[ho])
    yh, pf, ps = np.concatenate(ys), np.vstack(pfs), np.vstack(pss)
    for _, row in t.iterrows():
        mask = ps.max(1) >= row.threshold
        r = mcnemar_exact(yh, pf.argmax(1), np.where(mask[:, None], ps, pf).argmax(1))
        assert (row.b, row.c) == (r.b, r.c) and row.frac_confident == pytest.approx(mask.mean())
    assert t.score_full.iloc[0] == pytest.approx((pf.argmax(1) == yh).mean())
    # the deployed models are refitted on every row
    full = clone(synthetic_pipeline().model).fit(w.pipeline_.matrix(w.pipeline_.features(X)), y)
    np.testing.assert_allclose(w.predict_proba_full(X[:50]), full.predict_proba(
        w.pipeline_.matrix(w.pipeline_.features(X[:50]))), atol=1e-12)


def test_cv_needs_refit_and_enough_rows_per_class():
    from dawnlab.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="cv"):
        Willump(synthetic_pipeline(), cv=3, refit=False)
    with pytest.raises(InvalidArgument, match="cv"):
        Willump(synthetic_pipeline(), cv=1, refit=True)
    with pytest.raises(InvalidArgument, match="cv"):
        Willump(synthetic_pipeline(), cv=3)  # refit is off by default, and cv has no single tested model to keep
    X, y = synthetic(200)
    y = y.copy()
    y[:] = 0
    y[:2] = 1
    with pytest.raises(InvalidArgument, match="cv = 3"):
        Willump(synthetic_pipeline(), cv=3, refit=True, progress=False).fit(X, y)


def test_the_deployed_models_are_the_tested_ones_by_default():
    # refit=False by default: the deployed full and small models are those fitted on the training part
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    X, y = synthetic(seed=4)
    w = Willump(synthetic_pipeline(), progress=False).fit(X, y)
    assert not w.refit and w.cascade_.deployed_as_tested and w.cascade_.reason == "chosen"
    tr, _ = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    pipe = synthetic_pipeline().clone().fit_groups(X[tr], y[tr])
    blocks = pipe.features(X[tr])
    full = clone(pipe.model).fit(pipe.matrix(blocks), y[tr])
    small = clone(pipe.model).fit(pipe.matrix(blocks, ["cheap"]), y[tr])
    Xt, _ = synthetic(200, seed=7)
    bt = pipe.features(Xt)
    np.testing.assert_allclose(w.predict_proba_full(Xt), full.predict_proba(pipe.matrix(bt)), atol=1e-12)
    s, f = small_and_full(w, Xt)
    np.testing.assert_allclose(s, small.predict_proba(pipe.matrix(bt, ["cheap"])), atol=1e-12)
    refitted = Willump(synthetic_pipeline(), progress=False, refit=True).fit(X, y)
    assert not refitted.cascade_.deployed_as_tested


def test_no_accepted_candidate_or_cascade_false_deploys_none_and_says_why():
    from dawnlab.errors import InvalidArgument

    X, y = synthetic()
    w = Willump(synthetic_pipeline(), progress=False, thresholds=(0.6,), max_drop=1e-4).fit(X, y)
    assert not w.cascade_.table.accepted.any()
    assert not w.cascade_.active and w.cascade_.reason == "none accepted"
    off = Willump(synthetic_pipeline(), progress=False, cascade=False).fit(X, y)
    assert not off.cascade_.active and off.cascade_.reason == "disabled" and off.cascade_.table.accepted.any()
    Xt, _ = synthetic(100, seed=3)
    np.testing.assert_array_equal(off.predict_proba(Xt), off.predict_proba_full(Xt))
    with pytest.raises(InvalidArgument, match="cascade"):
        Willump(synthetic_pipeline(), cascade="no")
