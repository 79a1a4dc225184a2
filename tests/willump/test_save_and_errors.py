"""Saving and loading in a fresh process, and every documented bad input."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from dawnlab.errors import InvalidArgument
from dawnlab.willump import FeatureGroup, FeatureGroupError, NotFittedError, Pipeline, Willump
from dawnlab.willump.datasets import synthetic, synthetic_pipeline

FRESH = """
import sys, numpy as np
from dawnlab.willump import Willump
def no_tuning(*a, **k):
    raise SystemExit("fit was called after load")
Willump.fit = no_tuning
w = Willump.load(sys.argv[1])
X = np.load(sys.argv[2])
np.save(sys.argv[3], w.predict_proba(X))
np.save(sys.argv[4], w.top_k(X, 5).indices)
"""


def test_a_saved_optimizer_predicts_identically_in_a_fresh_process(fitted, tmp_path):
    w, _, _ = fitted
    X, _ = synthetic(300, seed=3)
    w.save(tmp_path / "w.joblib")
    np.save(tmp_path / "X.npy", X)
    subprocess.run([sys.executable, "-c", FRESH, str(tmp_path / "w.joblib"), str(tmp_path / "X.npy"),
                    str(tmp_path / "p.npy"), str(tmp_path / "k.npy")], check=True, timeout=300)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), w.predict_proba(X))
    np.testing.assert_array_equal(np.load(tmp_path / "k.npy"), w.top_k(X, 5).indices)


def test_unfitted_optimizer():
    w = Willump(synthetic_pipeline(), progress=False)
    for call in (lambda: w.predict(np.zeros((1, 4))), lambda: w.top_k(np.zeros((3, 4)), 1), lambda: w.stats_):
        with pytest.raises(NotFittedError, match="not fitted: call fit"):
            call()


@pytest.mark.parametrize("X, y, match", [
    (np.zeros((0, 4)), np.zeros(0), "'X'.*non-empty.*0 rows"),
    (np.zeros((10, 4)), np.zeros(9), "'y'.*as long as X \\(10 rows\\).*9 labels"),
    (np.zeros((10, 4)), np.zeros(10), "'y'.*at least two classes"),
    (np.r_[np.zeros((9, 4)), [[np.nan, 0, 0, 0]]], np.arange(10) % 2, "'X'.*NaN and infinite.*1 such"),
    (np.r_[np.zeros((9, 4)), [[np.inf, 0, 0, 0]]], np.arange(10) % 2, "'X'.*NaN and infinite"),
    (np.zeros((10, 4)), np.array([None] + [0, 1] * 4 + [1], dtype=object), "'y'.*missing \\(None\\).*1 such"),
])
def test_bad_X_and_y(X, y, match):
    with pytest.raises(InvalidArgument, match=match):
        Willump(synthetic_pipeline(), progress=False).fit(X, y)


def test_nan_or_infinite_features_name_the_group():
    def makes_nan(X):
        out = np.asarray(X, dtype=float).copy()
        out[0, 0] = np.nan
        return out

    def makes_inf(X):
        return np.full((len(X), 1), np.inf)

    X, y = synthetic(200)
    for fn, kind in ((makes_nan, "1 NaN values"), (makes_inf, "NaN or infinite")):
        p = Pipeline({"ok": FeatureGroup("ok", "passthrough", [0]), "bad": FeatureGroup("bad", fn, [1])},
                     LogisticRegression())
        with pytest.raises(FeatureGroupError, match=f"'bad' produced .*{kind}"):
            Willump(p, progress=False).fit(X, y)


def test_a_raising_group_is_named_and_a_fitted_optimizer_survives_it(fitted):
    def explodes(X):
        raise ZeroDivisionError("boom")

    X, y = synthetic(200)
    p = Pipeline({"ok": FeatureGroup("ok", "passthrough", [0]), "kaboom": FeatureGroup("kaboom", explodes, [1])},
                 LogisticRegression())
    with pytest.raises(FeatureGroupError, match="'kaboom' raised on .*ZeroDivisionError: boom"):
        Willump(p, progress=False).fit(X, y)
    w, X, _ = fitted  # a bad call loses nothing: the fitted optimizer and its caches still answer
    before = w.predict_proba(X[:20])
    with pytest.raises(InvalidArgument):
        w.predict_proba(np.full((2, 4), np.nan))
    with pytest.raises(FeatureGroupError, match="'cheap' raised .*IndexError"):
        w.predict_proba(np.zeros((3, 1)))  # too few columns
    np.testing.assert_array_equal(w.predict_proba(X[:20]), before)


def test_a_model_without_predict_proba():
    from sklearn.svm import LinearSVC

    with pytest.raises(InvalidArgument, match="'model'.*fit and predict_proba.*LinearSVC"):
        Pipeline({"a": "passthrough"}, LinearSVC())


@pytest.mark.parametrize("k", [0, -1, 301, 2.5, True])
def test_bad_k(fitted, k):
    w, _, _ = fitted
    X, _ = synthetic(300, seed=1)
    with pytest.raises(InvalidArgument, match=r"'k'.*Willump.top_k.*an int in \[1, 300\]"):
        w.top_k(X, k)


def test_unknown_score_and_other_settings():
    with pytest.raises(InvalidArgument, match="'score'.*'accuracy', 'roc_auc'.*'f1'"):
        Willump(synthetic_pipeline(), score="f1")
    with pytest.raises(InvalidArgument, match="'alpha'"):
        Willump(synthetic_pipeline(), alpha=1.5)
    with pytest.raises(InvalidArgument, match="'pipeline'"):
        Willump(LogisticRegression())
    with pytest.raises(InvalidArgument, match="'max_entries'.*positive int"):
        Willump(synthetic_pipeline(), cache_entries=0)


def test_dataframe_with_nan_names_the_column():
    df = pd.DataFrame({"a": [1.0, np.nan], "b": [0.0, 1.0]})
    with pytest.raises(InvalidArgument, match="'X'.*columns \\['a'\\]"):
        Willump(synthetic_pipeline(), progress=False).fit(df, [0, 1])
