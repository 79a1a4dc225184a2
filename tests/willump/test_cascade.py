"""Cascades: routing equals the small model or the full model row by row; the guarantee is reported and holds."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from dawnlab.willump import Willump, mcnemar_exact
from dawnlab.willump.datasets import synthetic, synthetic_pipeline
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
    assert (table.accepted == (table.pvalue >= 0.05)).all()
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


def test_max_drop_accepts_only_candidates_whose_simultaneous_bound_is_within_it():
    from scipy.stats import beta

    X, y = synthetic()
    w = Willump(synthetic_pipeline(), progress=False, max_drop=0.03).fit(X, y)
    t = w.cascade_.table
    m, n = len(t), 300  # candidates, held-out rows
    want = [beta.ppf(1 - 0.05 / m, b + 1, n - b) for b in t.b]  # Clopper-Pearson at alpha / m
    np.testing.assert_allclose(t.drop_bound, want)
    assert (t.accepted == ((t.pvalue >= 0.05) & (t.drop_bound <= 0.03))).all()
    assert w.cascade_.drop_bound <= 0.03 and w.cascade_.pvalue >= 0.05


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
    w = Willump(synthetic_pipeline(), progress=False, thresholds=[0.5, 0.55, 0.6]).fit(X, y)
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
