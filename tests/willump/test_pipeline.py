"""Pipelines: scikit-learn conversion against scikit-learn itself, DuckDB lookups against pandas, concurrency."""

import threading
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline, make_union
from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures, StandardScaler

from dawnlab.willump import DuckDBLookup, FeatureGroup, Pipeline, make_lookup_tables


def test_from_feature_union_predicts_like_sklearn():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    sk = make_pipeline(make_union(StandardScaler(), PolynomialFeatures(2)), StandardScaler(), LogisticRegression())
    ours = Pipeline.from_sklearn(sk).fit(X, y)
    sk.fit(X, y)
    assert ours.names == ["standardscaler", "polynomialfeatures"]
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-10)


def test_from_column_transformer_predicts_like_sklearn_with_sparse_groups():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=400), "b": rng.normal(size=400), "city": rng.choice(list("xyzw"), 400)})
    y = ((df.a + (df.city == "x")) > 0.5).astype(int).to_numpy()
    ct = ColumnTransformer([("num", StandardScaler(), ["a", "b"]), ("cat", OneHotEncoder(), ["city"])])
    sk = make_pipeline(ct, LogisticRegression())
    ours = Pipeline.from_sklearn(sk, cacheable=["cat"]).fit(df, y)
    sk.fit(df, y)
    assert ours.names == ["num", "cat"] and ours.group("cat").cacheable
    np.testing.assert_allclose(ours.predict_proba(df), sk.predict_proba(df), atol=1e-10)


def test_from_sklearn_rejects_other_first_steps():
    from dawnlab.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="'pipe'.*FeatureUnion or ColumnTransformer.*StandardScaler"):
        Pipeline.from_sklearn(make_pipeline(StandardScaler(), LogisticRegression()))


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    path = tmp_path_factory.mktemp("lookup") / "t.duckdb"
    X, y = make_lookup_tables(path, n_users=300, n_items=100, n_rows=500)
    return path, X, y


def test_duckdb_lookup_equals_a_pandas_join(tables):
    import duckdb

    path, X, _ = tables
    con = duckdb.connect(str(path), read_only=True)
    users = con.execute("SELECT * FROM users").df()
    con.close()
    got = DuckDBLookup(path, "users", "user_id", ["u0", "u3"]).transform(X.user_id.to_numpy())
    want = X[["user_id"]].merge(users, on="user_id", how="left")[["u0", "u3"]].to_numpy()
    np.testing.assert_array_equal(got, want)


def test_missing_key_names_the_group(tables):
    from dawnlab.willump import FeatureGroupError

    path, X, y = tables
    g = FeatureGroup("user", DuckDBLookup(path, "users", "user_id", ["u0"]), "user_id").fit(X)
    with pytest.raises(FeatureGroupError, match="'user'.*1 keys not found.*99999"):
        g.transform(pd.DataFrame({"user_id": [1, 99999]}))


class SlowLookup(DuckDBLookup):
    """A lookup that records when it ran (and waits like a remote store would)."""

    def __init__(self, *a, log, **kw):
        super().__init__(*a, **kw)
        self.log = log

    def transform(self, keys):
        start = time.perf_counter()
        time.sleep(0.3)
        out = super().transform(keys)
        self.log.append((start, time.perf_counter(), threading.get_ident()))
        return out


def test_independent_lookups_run_concurrently(tables):
    path, X, y = tables
    log = []
    p = Pipeline({"user": FeatureGroup("user", SlowLookup(path, "users", "user_id", ["u0"], log=log), "user_id"),
                  "item": FeatureGroup("item", SlowLookup(path, "items", "item_id", ["i0"], log=log), "item_id")},
                 LogisticRegression()).fit(X, y)
    log.clear()
    p.predict_proba(X.iloc[:20])
    (s1, e1, t1), (s2, e2, t2) = log
    assert t1 != t2 and max(s1, s2) < min(e1, e2)  # the two lookups overlapped in time


def test_lookup_pipeline_fits_and_predicts(tables):
    from dawnlab.willump import lookup_pipeline

    path, X, y = tables
    p = lookup_pipeline(path).fit(X, y)
    assert p.predict(X.iloc[:5]).shape == (5,)
    assert ((p.predict(X) == y).mean()) > 0.6
