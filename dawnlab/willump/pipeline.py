"""Inference pipelines as groups of features feeding one model (Willump, arXiv 1906.01974, Section 3).

Willump sees a pipeline as a set of *feature groups* (each a transformation of
the raw input into some columns) whose outputs are concatenated and handed to a
cheap model.  Here a group is a :class:`FeatureGroup`: a scikit-learn
transformer (dense or sparse output), a plain function, or a lookup of rows in
a DuckDB table (:class:`DuckDBLookup`, the paper's "remote" features of its
music and credit pipelines).  :class:`Pipeline` holds the groups and the model;
:meth:`Pipeline.from_sklearn` takes a scikit-learn ``Pipeline`` whose first step
is a ``FeatureUnion`` or a ``ColumnTransformer``.

Lookups of independent groups run concurrently (Section 4.3: Willump issues the
feature lookups of independent groups in parallel): every lookup group is
submitted to a thread pool before the CPU-bound groups are computed in the
calling thread.  Every group's output is checked: rows must match the input, and
NaN or infinite values raise :class:`~dawnlab.willump.errors.FeatureGroupError`
naming the group, as does any exception the group raises.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone

from dawnlab.errors import invalid
from dawnlab.willump.errors import FeatureGroupError, NotFittedError

__all__ = ["FeatureGroup", "DuckDBLookup", "Pipeline", "n_rows", "take_rows"]


def n_rows(X) -> int:
    """Number of rows of an input (array, sparse matrix, data frame, series or list)."""
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def take_rows(X, idx):
    """Rows ``idx`` (integer positions) of an input, keeping its type."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(X, (pd.DataFrame, pd.Series)):
        return X.iloc[idx]
    if sp.issparse(X):
        return X[idx]
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]


def _select(X, columns):
    if columns is None:
        return X
    if isinstance(X, pd.DataFrame):
        return X[columns]
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return X[:, columns]
    raise TypeError(f"columns={columns!r} needs a DataFrame or a 2-d array, got {type(X).__name__}")


class DuckDBLookup:
    """Features looked up in a DuckDB table (a file on disk), joined on a key.

    Parameters
    ----------
    path : str or path-like
        The DuckDB database file; opened read-only, one connection per thread.
    table : str
        The table holding the features.
    key : str
        The table's key column; the group's input is a 1-d sequence of keys.
    columns : list of str
        The feature columns returned, in this order.

    Examples
    --------
    >>> import duckdb, tempfile, pathlib
    >>> path = str(pathlib.Path(tempfile.mkdtemp()) / "f.duckdb")
    >>> con = duckdb.connect(path)
    >>> _ = con.execute("CREATE TABLE users AS SELECT range AS id, range * 2.0 AS a FROM range(5)")
    >>> con.close()
    >>> DuckDBLookup(path, "users", "id", ["a"]).transform([3, 0])
    array([[6.],
           [0.]])
    """

    def __init__(self, path, table: str, key: str, columns: Sequence[str]):
        for name, value in (("table", table), ("key", key)):
            if not isinstance(value, str) or not value.isidentifier():
                raise invalid(name, "DuckDBLookup", "a plain SQL identifier", value)
        if not columns or not all(isinstance(c, str) and c.isidentifier() for c in columns):
            raise invalid("columns", "DuckDBLookup", "a non-empty list of plain SQL identifiers", columns)
        self.path, self.table, self.key, self.columns = str(path), table, key, list(columns)
        self._local = threading.local()

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_local", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._local = threading.local()

    def _connection(self):
        con = getattr(self._local, "con", None)
        if con is None:
            import duckdb

            con = self._local.con = duckdb.connect(self.path, read_only=True)
        return con

    def fit(self, X=None, y=None):
        return self

    def transform(self, keys) -> np.ndarray:
        keys = np.asarray(keys).ravel()
        uniq, inverse = np.unique(keys, return_inverse=True)
        cols = ", ".join(f'"{c}"' for c in self.columns)
        found = self._connection().execute(
            f'SELECT "{self.key}" AS k, {cols} FROM "{self.table}" WHERE "{self.key}" IN (SELECT UNNEST(?)) '
            'ORDER BY k', [uniq.tolist()]).fetchnumpy()
        got = np.asarray(found["k"])
        if len(np.unique(got)) != len(got):
            raise ValueError(f"key column {self.key!r} of table {self.table!r} is not unique")
        if len(got) < len(uniq):
            missing = np.setdiff1d(uniq, got)
            raise KeyError(f"{len(missing)} keys not found in {self.table}.{self.key}, e.g. {missing[:3].tolist()}")
        table = np.column_stack([np.asarray(found[c], dtype=float) for c in self.columns])
        return table[inverse]  # got is sorted like uniq and holds every key

    def __repr__(self):
        return f"DuckDBLookup({self.path!r}, {self.table!r}, {self.key!r}, {self.columns!r})"


@dataclass
class FeatureGroup:
    """One feature group: what it reads from the input and how it turns it into columns.

    Attributes
    ----------
    name : str
        The group's name (the key of ``Pipeline.features``).
    transformer : object
        A scikit-learn transformer (``fit``/``transform``; cloned on fit),
        a :class:`DuckDBLookup`, the string ``"passthrough"``, or a callable
        mapping the selected input to a 2-d array (stateless; must pickle
        for a saved optimizer: a module-level function, not a lambda).
    columns : str, list or None
        What the group reads: ``None`` for the whole input, a column name for a
        1-d column (text), a list of names or positions for a sub-table.
    cacheable : bool
        Whether point queries may cache this group's rows (LRU, by input value).
    """

    name: str
    transformer: Any
    columns: Any = None
    cacheable: bool = False
    fitted_: Any = field(default=None, repr=False)

    @property
    def is_lookup(self) -> bool:
        return isinstance(self.transformer, DuckDBLookup)

    def _kind(self) -> str:
        t = self.transformer
        if isinstance(t, str):
            if t != "passthrough":
                raise invalid("transformer", f"FeatureGroup {self.name!r}",
                              "a transformer, a callable, a DuckDBLookup or 'passthrough'", t)
            return "passthrough"
        if hasattr(t, "transform"):
            return "transformer"
        if callable(t):
            return "function"
        raise invalid("transformer", f"FeatureGroup {self.name!r}",
                      "a transformer, a callable, a DuckDBLookup or 'passthrough'", t)

    def fit(self, X, y=None) -> "FeatureGroup":
        """Fit a copy of the transformer on ``X`` (functions and passthrough need no fit)."""
        kind = self._kind()
        try:
            if kind == "transformer" and not self.is_lookup:
                self.fitted_ = clone(self.transformer).fit(_select(X, self.columns), y)
            else:
                self.fitted_ = self.transformer
        except Exception as exc:
            raise FeatureGroupError(f"Feature group {self.name!r} raised while fitting: "
                                    f"{type(exc).__name__}: {exc}") from exc
        return self

    def transform(self, X):
        """The group's features for the rows of ``X``: a 2-d float array or CSR matrix, checked."""
        if self.fitted_ is None:
            raise NotFittedError(f"Feature group {self.name!r} is not fitted: call fit first.")
        rows = n_rows(X)
        try:
            Xs = _select(X, self.columns)
            t = self.fitted_
            if isinstance(t, str):
                out = Xs
            elif hasattr(t, "transform"):
                out = t.transform(Xs)
            else:
                out = t(Xs)
        except Exception as exc:
            raise FeatureGroupError(f"Feature group {self.name!r} raised on {rows} rows: "
                                    f"{type(exc).__name__}: {exc}") from exc
        return check_block(self.name, out, rows)


def check_block(name: str, out, rows: int):
    """A group's output as a 2-d float array or CSR matrix, or a FeatureGroupError naming the group."""
    if sp.issparse(out):
        out = sp.csr_matrix(out, dtype=np.float64)
        values = out.data
    else:
        try:
            out = np.asarray(out, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise FeatureGroupError(f"Feature group {name!r} returned values that are not numbers: {exc}") from exc
        if out.ndim == 1:
            out = out[:, None]
        if out.ndim != 2:
            raise FeatureGroupError(f"Feature group {name!r} must return a 2-d array; got shape {out.shape}.")
        values = out
    if out.shape[0] != rows:
        raise FeatureGroupError(f"Feature group {name!r} returned {out.shape[0]} rows for {rows} input rows.")
    bad = ~np.isfinite(values)
    if bad.any():
        kinds = "NaN" if np.isnan(values[bad]).all() else "NaN or infinite"
        raise FeatureGroupError(f"Feature group {name!r} produced {int(bad.sum())} {kinds} values; features must "
                                "be finite. Impute or clip them inside the group.")
    return out


def hstack(blocks: Sequence) -> Any:
    """Concatenate group blocks column-wise (CSR if any block is sparse)."""
    if any(sp.issparse(b) for b in blocks):
        return sp.hstack([sp.csr_matrix(b) for b in blocks], format="csr")
    return np.hstack(blocks)


def vstack(blocks: Sequence) -> Any:
    """Concatenate blocks row-wise (CSR if any is sparse)."""
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack([sp.csr_matrix(b) for b in blocks], format="csr")
    return np.vstack(blocks)


class Pipeline:
    """Feature groups feeding one model: the unoptimized inference pipeline.

    Parameters
    ----------
    features : mapping of str to transformer, callable, DuckDBLookup or FeatureGroup
        The feature groups, in the order their columns are concatenated.
    model : estimator
        Anything with ``fit(X, y)`` and ``predict_proba(X)`` (cloned on fit).
    max_lookup_threads : int
        Threads for concurrent lookup groups.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> X = np.random.default_rng(0).normal(size=(100, 3)); y = (X[:, 0] > 0).astype(int)
    >>> p = Pipeline({"scaled": FeatureGroup("scaled", StandardScaler(), [0, 1]),
    ...               "raw": FeatureGroup("raw", "passthrough", [2])}, LogisticRegression()).fit(X, y)
    >>> p.predict_proba(X[:2]).shape
    (2, 2)
    >>> [g.name for g in p.groups]
    ['scaled', 'raw']
    """

    def __init__(self, features: Mapping[str, Any], model, max_lookup_threads: int = 8):
        if not isinstance(features, Mapping) or not features:
            raise invalid("features", "Pipeline", "a non-empty mapping of group name to transformer", features)
        if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
            raise invalid("model", "Pipeline", "an estimator with fit and predict_proba", model,
                          "Use a classifier such as LogisticRegression; for SVC pass probability=True.")
        self.groups: list[FeatureGroup] = []
        for name, g in features.items():
            if not isinstance(name, str) or not name:
                raise invalid("features", "Pipeline", "keyed by non-empty group names", name)
            if isinstance(g, FeatureGroup):
                if g.name != name:
                    raise invalid("features", "Pipeline", f"keyed by each group's own name ({g.name!r})", name)
                g = FeatureGroup(g.name, g.transformer, g.columns, g.cacheable)
            else:
                g = FeatureGroup(name, g)
            g._kind()
            self.groups.append(g)
        self.model = model
        self.max_lookup_threads = max_lookup_threads
        self.model_ = None

    # -- construction ------------------------------------------------------
    @classmethod
    def from_sklearn(cls, pipe, cacheable: Sequence[str] = ()) -> "Pipeline":
        """Feature groups from a scikit-learn ``Pipeline`` whose first step is a FeatureUnion or ColumnTransformer.

        Each transformer of the first step becomes a group (``"drop"`` ones are
        left out); the remaining steps become the model (a scikit-learn
        ``Pipeline`` when there are several, e.g. a scaler and a classifier).

        Examples
        --------
        >>> from sklearn.pipeline import make_pipeline, make_union
        >>> from sklearn.preprocessing import StandardScaler, PolynomialFeatures
        >>> from sklearn.linear_model import LogisticRegression
        >>> p = Pipeline.from_sklearn(make_pipeline(make_union(StandardScaler(), PolynomialFeatures(2)),
        ...                                         LogisticRegression()))
        >>> [g.name for g in p.groups]
        ['standardscaler', 'polynomialfeatures']
        """
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import FeatureUnion
        from sklearn.pipeline import Pipeline as SkPipeline

        if not isinstance(pipe, SkPipeline) or len(pipe.steps) < 2:
            raise invalid("pipe", "Pipeline.from_sklearn", "a scikit-learn Pipeline of at least two steps", pipe)
        first = pipe.steps[0][1]
        groups = {}
        if isinstance(first, FeatureUnion):
            for name, t in first.transformer_list:
                if t != "drop":
                    groups[name] = FeatureGroup(name, t, None, name in cacheable)
        elif isinstance(first, ColumnTransformer):
            if first.remainder != "drop":
                raise invalid("pipe", "Pipeline.from_sklearn", "a ColumnTransformer with remainder='drop'",
                              first.remainder, "Name the remaining columns in their own transformer.")
            for name, t, cols in first.transformers:
                if t != "drop":
                    groups[name] = FeatureGroup(name, t, cols, name in cacheable)
        else:
            raise invalid("pipe", "Pipeline.from_sklearn", "a Pipeline whose first step is a FeatureUnion or "
                          "ColumnTransformer", type(first).__name__)
        rest = pipe.steps[1:]
        model = rest[0][1] if len(rest) == 1 else SkPipeline(rest)
        return cls(groups, model)

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.groups]

    def group(self, name: str) -> FeatureGroup:
        for g in self.groups:
            if g.name == name:
                return g
        raise invalid("name", "Pipeline.group", f"one of {self.names}", name)

    def clone(self) -> "Pipeline":
        """An unfitted copy with the same groups and model."""
        return Pipeline({g.name: FeatureGroup(g.name, g.transformer, g.columns, g.cacheable) for g in self.groups},
                        self.model, self.max_lookup_threads)

    # -- features ----------------------------------------------------------
    def fit_groups(self, X, y=None) -> "Pipeline":
        """Fit every group's transformer on ``X``."""
        for g in self.groups:
            g.fit(X, y)
        return self

    def features(self, X, names: Sequence[str] | None = None, timings: dict | None = None) -> dict:
        """Blocks of the named groups (default all) for the rows of ``X``, as a dict name -> block.

        Lookup groups run concurrently in threads while the other groups are
        computed here.  With ``timings`` (a dict), each group's wall time in
        seconds is stored under its name.
        """
        names = self.names if names is None else list(names)
        groups = [self.group(n) for n in names]
        lookups = [g for g in groups if g.is_lookup]
        out = {}

        def timed(g):
            t0 = time.perf_counter()
            block = g.transform(X)
            return block, time.perf_counter() - t0

        futures = {}
        if len(lookups) > 1 or (lookups and len(groups) > 1):
            pool = self._lookup_pool()
            futures = {g.name: pool.submit(timed, g) for g in lookups}
        try:
            for g in groups:
                if g.name not in futures:
                    out[g.name], dt = timed(g)
                    if timings is not None:
                        timings[g.name] = dt
        finally:  # wait for the lookups even when a local group raised
            results = {}
            for name, fut in futures.items():
                try:
                    results[name] = fut.result()
                except Exception as exc:
                    results[name] = exc
        for name, r in results.items():
            if isinstance(r, Exception):
                raise r
            out[name], dt = r
            if timings is not None:
                timings[name] = dt
        return {n: out[n] for n in names}

    def _lookup_pool(self) -> ThreadPoolExecutor:
        """The threads that run lookups; kept between calls so that each keeps its DuckDB connection."""
        pool = self.__dict__.get("_pool")
        if pool is None:
            pool = self._pool = ThreadPoolExecutor(max_workers=self.max_lookup_threads,
                                                   thread_name_prefix="willump-lookup")
        return pool

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_pool", None)
        return state

    def matrix(self, blocks: Mapping[str, Any], names: Sequence[str] | None = None):
        """The model's input: the named groups' blocks side by side, in pipeline order."""
        names = self.names if names is None else [n for n in self.names if n in set(names)]
        return hstack([blocks[n] for n in names])

    # -- the unoptimized pipeline -------------------------------------------
    def fit(self, X, y) -> "Pipeline":
        """Fit every group and the model on all of ``X`` (the unoptimized baseline)."""
        X, y = check_Xy(X, y, "Pipeline.fit")
        self.fit_groups(X, y)
        self.model_ = clone(self.model).fit(self.matrix(self.features(X)), y)
        return self

    @property
    def classes_(self):
        self._check_fitted()
        return self.model_.classes_

    def _check_fitted(self):
        if self.model_ is None:
            raise NotFittedError("This Pipeline is not fitted: call fit(X, y) first.")

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities with every group computed for every row."""
        self._check_fitted()
        check_X(X, "Pipeline.predict_proba")
        return self.model_.predict_proba(self.matrix(self.features(X)))

    def predict(self, X) -> np.ndarray:
        """Predicted labels with every group computed for every row."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __repr__(self):
        return f"Pipeline(groups={self.names}, model={self.model!r})"


def check_X(X, owner: str) -> int:
    """Rows of ``X``, or an error naming ``X`` when it is empty or not a table of rows."""
    if X is None or isinstance(X, (str, bytes)):
        raise invalid("X", owner, "an array, data frame or list of rows", X)
    try:
        rows = n_rows(X)
    except TypeError as exc:
        raise invalid("X", owner, "an array, data frame or list of rows", type(X).__name__) from exc
    if rows == 0:
        raise invalid("X", owner, "non-empty (at least one row)", "0 rows")
    if isinstance(X, np.ndarray) and X.dtype.kind in "fc" and not np.isfinite(X).all():
        raise invalid("X", owner, "free of NaN and infinite values", f"{int((~np.isfinite(X)).sum())} such values")
    if isinstance(X, pd.DataFrame):
        num = X.select_dtypes("number")
        if num.shape[1] and not np.isfinite(num.to_numpy(dtype=float)).all():
            bad = [c for c in num.columns if not np.isfinite(num[c].to_numpy(dtype=float)).all()]
            raise invalid("X", owner, "free of NaN and infinite values", f"such values in columns {bad}")
    return rows


def check_Xy(X, y, owner: str):
    """``(X, y)`` checked: non-empty, as many labels as rows, at least two classes, finite."""
    rows = check_X(X, owner)
    if y is None:
        raise invalid("y", owner, "the labels, one per row of X", None)
    y = np.asarray(y)
    if y.ndim != 1:
        raise invalid("y", owner, "1-d (one label per row)", f"shape {y.shape}")
    if len(y) != rows:
        raise invalid("y", owner, f"as long as X ({rows} rows)", f"{len(y)} labels")
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise invalid("y", owner, "free of NaN and infinite labels", f"{int((~np.isfinite(y)).sum())} such labels")
    if y.dtype.kind == "O" and any(v is None for v in y):
        raise invalid("y", owner, "free of missing (None) labels", f"{sum(v is None for v in y)} such labels")
    if len(np.unique(y)) < 2:
        raise invalid("y", owner, "labels of at least two classes", f"only {np.unique(y).tolist()}")
    return X, y
