"""select_settings: cross-validated choice of holdout and max_drop, checked against real fits routed by predict."""

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from dawnlab.errors import InvalidArgument
from dawnlab.willump import Willump, mcnemar_exact, select_settings
from dawnlab.willump.datasets import synthetic, synthetic_pipeline


@pytest.fixture(scope="module")
def chosen():
    X, y = synthetic(1200, seed=3)
    return select_settings(synthetic_pipeline(), X, y, holdouts=(0.3, 0.5), max_drops=(0.01, 0.05, None), folds=2,
                           seed=1, progress=False), X, y


def test_pooled_counts_equal_real_fits_routed_through_predict(chosen):
    # one setting by hand: the same folds, a real fit with that margin, its own predict on the left-out fold
    s, X, y = chosen
    b = c = 0
    for inner, left in StratifiedKFold(2, shuffle=True, random_state=1).split(X, y):
        w = Willump(synthetic_pipeline(), holdout=0.5, max_drop=0.05, seed=1, progress=False).fit(X[inner], y[inner])
        r = mcnemar_exact(y[left], w.classes_[w.predict_proba_full(X[left]).argmax(1)], w.predict(X[left]))
        b, c = b + r.b, c + r.c
    row = s.table[(s.table.holdout == 0.5) & (s.table.max_drop == 0.05)].iloc[0]
    assert (row.b, row.c) == (b, c)


def test_the_choice_follows_the_stated_rule(chosen):
    s, _, _ = chosen
    t = s.table
    assert len(t) == 6 and t.chosen.sum() == 1
    assert (t.passed == (t.pvalue >= 0.2)).all()
    pick = t[t.chosen].iloc[0]
    assert (pick.holdout, None if pick.max_drop is None or np.isnan(pick.max_drop) else pick.max_drop) == (
        s.holdout, s.max_drop)
    for h, part in t.groupby("holdout"):
        part = part.assign(m=part.max_drop.fillna(np.inf)).sort_values("m")
        first_fail = np.flatnonzero(~part.passed.to_numpy())
        stop = first_fail[0] if len(first_fail) else len(part)
        assert part.kept.tolist() == [True] * stop + [False] * (len(part) - stop)
    if s.chosen_by_rule:
        assert pick.kept and pick.expected_speedup == t[t.kept].expected_speedup.max()
        assert s.cascade and s.kwargs()["cascade"]
    else:
        assert not t.kept.any() and s.max_drop == 0.01 and s.holdout == 0.5 and not s.cascade
    assert Willump(synthetic_pipeline(), progress=False, **s.kwargs()).holdout == s.holdout


def test_bad_settings_are_refused():
    X, y = synthetic(200)
    with pytest.raises(InvalidArgument, match="folds"):
        select_settings(synthetic_pipeline(), X, y, folds=1)
    with pytest.raises(InvalidArgument, match="max_drops"):
        select_settings(synthetic_pipeline(), X, y, max_drops=(0.0,))
    with pytest.raises(InvalidArgument, match="holdout"):
        select_settings(synthetic_pipeline(), X, y, holdout=0.3)
    with pytest.raises(InvalidArgument, match="min_pvalue"):
        select_settings(synthetic_pipeline(), X, y, min_pvalue=0)
    with pytest.raises(InvalidArgument, match="score"):
        select_settings(synthetic_pipeline(), X, y, score="roc_auc")


def test_cross_fitted_inner_fits_choose_only_the_margin():
    X, y = synthetic(900, seed=4)
    s = select_settings(synthetic_pipeline(), X, y, max_drops=(0.02, None), folds=2, cv=2, seed=0, progress=False)
    assert s.holdout is None and s.cv == 2 and len(s.table) == 2
    assert set(s.kwargs()) == {"cv", "refit", "max_drop", "cascade"} and s.kwargs()["refit"]
    w = Willump(synthetic_pipeline(), progress=False, **s.kwargs())
    assert w.cv == 2 and w.refit


def test_when_no_setting_passes_no_cascade_is_deployed():
    # min_pvalue=1 passes a setting only if its pooled out-of-fold cascade never lost a row to the full model
    X, y = synthetic(1200, seed=3)
    s = select_settings(synthetic_pipeline(), X, y, holdouts=(0.5,), max_drops=(0.05, None), folds=2,
                        min_pvalue=1.0, seed=1, progress=False)
    t = s.table
    assert (t.b > 0).all() and not t.passed.any() and not t.kept.any()
    assert not s.chosen_by_rule and not s.cascade and s.kwargs()["cascade"] is False
    assert t.chosen.sum() == 1 and s.max_drop == 0.05  # the most conservative setting, for the rest of the fit
    w = Willump(synthetic_pipeline(), progress=False, seed=1, **s.kwargs()).fit(X, y)
    on = Willump(synthetic_pipeline(), progress=False, seed=1, **(s.kwargs() | {"cascade": True})).fit(X, y)
    assert on.cascade_.active  # the held-out table alone would have deployed one: the outcome is select_settings'
    cas = w.cascade_
    assert not cas.active and cas.reason == "disabled" and cas.groups == () and cas.expected_speedup == 1.0
    assert not w.cascade_for(None).active  # no other margin turns it back on
    Xt, _ = synthetic(300, seed=8)
    np.testing.assert_array_equal(w.predict_proba(Xt), w.predict_proba_full(Xt))
    np.testing.assert_array_equal(w.last_sent_to_full_, np.arange(len(Xt)))  # every row went to the full model
    np.testing.assert_array_equal(w.predict_proba_full(Xt), on.predict_proba_full(Xt))  # the same full model
    assert len(w.cascade_.table) == len(on.cascade_.table)  # the candidates are still reported
    assert w.top_k(Xt, 5).indices.tolist() == on.top_k(Xt, 5).indices.tolist()  # top-K is still tuned
