"""pandas with split annotations: ``import dawnlab.mozart.pandas as pd`` (arXiv 1810.12297, Section 6.2).

pandas itself is not changed.  ``pd.DataFrame(df)`` and ``pd.Series(s)`` wrap
existing objects (or build new ones from the same arguments pandas takes) as
lazy values whose method chains are captured:

- arithmetic, comparisons and ``& | ~`` between Series/DataFrames and scalars;
- column selection ``df["x"]``, column assignment ``df["y"] = expr`` and
  boolean filtering ``df[mask]`` (a filter's result has its own length, so the
  planner never pairs it with its unfiltered inputs);
- ``fillna``, ``isin``, ``isna``/``notna``, ``abs``, ``round``, ``astype``,
  ``clip``, every ``.str`` method (``.str.lower().str.len()``), ``dropna``;
- reductions merged exactly: ``sum``, ``mean`` (sums and counts), ``min``,
  ``max``, ``count``, ``unique`` (in order of first appearance) and
  ``value_counts`` (counts summed; in pandas' order: by count, ties by first appearance);
- ``groupby(keys)[cols].sum() / mean() / min() / max() / count() / size()``,
  each piece's partial aggregate merged exactly;
- ``merge`` with a small table passed whole (``how`` ``"inner"`` or
  ``"left"``, which keep the left rows' order).

Anything else (a method or a module function not listed) is pandas' own and
runs eagerly on the evaluated value.  :func:`dawnlab.mozart.evaluate` returns
the plain pandas object.

Examples
--------
>>> import pandas
>>> import dawnlab.mozart.pandas as pd
>>> from dawnlab.mozart import evaluate
>>> df = pd.DataFrame(pandas.DataFrame({"k": ["a", "b", "a"], "x": [1.0, None, 3.0]}))
>>> y = df["x"].fillna(0) * 2
>>> evaluate(y).tolist()
[2.0, 0.0, 6.0]
>>> evaluate(df.groupby("k")["x"].sum()).to_dict()
{'a': 4.0, 'b': 0.0}
"""

from __future__ import annotations

import operator
import weakref

import numpy as _np
import pandas as _pd

from dawnlab.mozart.graph import Annotated, Lazy, _materialize, source
from dawnlab.mozart.splittypes import (Broadcast, CountsReduce, EmptySum, Generic, GroupByReduce, MeanPartial, MeanReduce,
                                       Reduce, RowSplit, SumReduce)

pd = _pd
S = Generic("S")
_B = Broadcast()


def DataFrame(data=None, *args, **kwargs) -> Lazy:  # noqa: N802 - pandas' name
    """A lazy DataFrame: wraps a ``pandas.DataFrame`` (or builds one from pandas' arguments)."""
    df = data if isinstance(data, _pd.DataFrame) and not args and not kwargs else _pd.DataFrame(data, *args, **kwargs)
    return source(df, "pandas")


def Series(data=None, *args, **kwargs) -> Lazy:  # noqa: N802 - pandas' name
    """A lazy Series: wraps a ``pandas.Series`` (or builds one from pandas' arguments)."""
    s = data if isinstance(data, _pd.Series) and not args and not kwargs else _pd.Series(data, *args, **kwargs)
    return source(s, "pandas")


def _ann(func, types, ret, name, **kw):
    return Annotated(func, types, {}, ret, name=name, ops="pandas", **kw)


# -- element-wise ------------------------------------------------------------------------------------

_OPERATORS = {}
for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
              "lt", "le", "gt", "ge", "eq", "ne"):
    _OPERATORS[_name.rstrip("_")] = _ann(getattr(operator, _name), [S, S], S, _name.rstrip("_"))
for _name in ("neg", "pos", "abs", "invert"):
    _OPERATORS[_name] = _ann(getattr(operator, _name), [S], S, _name)


def _fillna(x, value):
    return x.fillna(value)


def _isin(x, values):
    return x.isin(values)


def _isna(x):
    return x.isna()


def _notna(x):
    return x.notna()


def _round(x, decimals=0):
    return x.round(decimals)


def _astype(x, dtype):
    return x.astype(dtype)


def _clip(x, lower=None, upper=None):
    return x.clip(lower, upper)


def _str(x, method, args, kwargs):
    return getattr(x.str, method)(*args, **kwargs)


def _column(df, key):
    return df[key]


def _assign(df, key, value):
    out = df.copy(deep=False)
    out[key] = value
    return out


def _filter(df, mask):
    return df[mask]


def _mask(x, cond, other):
    return x.mask(cond, other)


def _where(x, cond, other):
    return x.where(cond, other)


def _dropna(x, kwargs):
    return x.dropna(**kwargs)


fillna = _ann(_fillna, [S, _B], S, "fillna")
isin = _ann(_isin, [S, _B], S, "isin")
isna = _ann(_isna, [S], S, "isna")
notna = _ann(_notna, [S], S, "notna")
round_ = _ann(_round, [S, _B], S, "round")
astype = _ann(_astype, [S, _B], S, "astype")
clip = _ann(_clip, [S, _B, _B], S, "clip")
mask = _ann(_mask, [S, S, S], S, "mask")
where = _ann(_where, [S, S, S], S, "where")
str_method = _ann(_str, [S, _B, _B, _B], S, "str")
column = _ann(_column, [RowSplit(), _B], RowSplit(), "getitem")
assign = _ann(_assign, [S, _B, S], S, "setitem")
filter_rows = _ann(_filter, [S, S], RowSplit(), "filter", aligned=False)
dropna = _ann(_dropna, [S, _B], RowSplit(), "dropna", aligned=False)


def _merge(left, right, kwargs):
    return left.merge(right, **kwargs)


merge_broadcast = _ann(_merge, [RowSplit(), _B, _B], RowSplit(ignore_index=True), "merge", aligned=False)


# -- reductions -------------------------------------------------------------------------------------

class SkipNaMin(Reduce):
    """Partial minima of pandas objects merged as pandas does (missing values skipped)."""

    def merge(self, pieces):
        return _combine(pieces, "min")


class SkipNaMax(Reduce):
    """Partial maxima of pandas objects merged as pandas does (missing values skipped)."""

    def merge(self, pieces):
        return _combine(pieces, "max")


def _combine(pieces, how):
    if isinstance(pieces[0], _pd.Series):  # a DataFrame's per-column results
        return getattr(_pd.concat(pieces, axis=1), how)(axis=1)
    return getattr(_pd.Series(pieces, dtype=object if isinstance(pieces[0], str) else None), how)()


class OrderedUnique(Reduce):
    """Each piece's unique values (in order of appearance) merged into the whole's, in the same order."""

    def merge(self, pieces):
        if len(pieces) == 1:
            return pieces[0]
        return _pd.concat([_pd.Series(p, dtype=getattr(p, "dtype", None)) for p in pieces]).unique()


class GroupMean(Reduce):
    """Per-piece group sums and counts merged into the exact group means."""

    def __init__(self, series: bool = False):
        self.series = series

    def merge(self, pieces):
        whole = _pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        summed = whole.groupby(level=list(range(whole.index.nlevels)), sort=True).sum()
        cols = [c[:-5] for c in summed.columns if c.endswith("__sum")]
        out = _pd.DataFrame({c: summed[c + "__sum"] / summed[c + "__count"] for c in cols}, index=summed.index)
        return out[cols[0]] if self.series else out


def _sum(x):
    return EmptySum(x.sum()) if len(x) == 0 else x.sum()


def _mean(x):
    return MeanPartial(x.sum(), x.count())


def _min(x):
    return x.min()


def _max(x):
    return x.max()


def _count(x):
    return x.count()


def _unique(x):
    return x.unique()


def _value_counts(x, normalize):
    return x.value_counts(sort=False)


def _groupby(df, by, selection, agg):
    g = df.groupby(by, sort=True)
    if selection is not None:
        g = g[selection]
    if agg != "mean":
        return getattr(g, agg)()
    sums, counts = g.sum(), g.count()
    if isinstance(sums, _pd.Series):
        sums, counts = sums.to_frame(), counts.to_frame()
    return _pd.concat([sums.add_suffix("__sum"), counts.add_suffix("__count")], axis=1)


_REDUCTIONS = {
    "sum": _ann(_sum, [RowSplit()], SumReduce(), "sum"),
    "mean": _ann(_mean, [RowSplit()], MeanReduce(), "mean"),
    "min": _ann(_min, [RowSplit()], SkipNaMin(), "min"),
    "max": _ann(_max, [RowSplit()], SkipNaMax(), "max"),
    "count": _ann(_count, [RowSplit()], SumReduce(), "count"),
    "unique": _ann(_unique, [RowSplit()], OrderedUnique(), "unique"),
}
_COUNTS = {norm: _ann(_value_counts, [RowSplit(), _B], CountsReduce(norm), "value_counts") for norm in (False, True)}
_GROUPBY = {agg: _ann(_groupby, [RowSplit(), _B, _B, _B], GroupByReduce(agg), f"groupby.{agg}")
            for agg in ("sum", "min", "max", "count", "size")}
_GROUPBY_MEAN = {series: _ann(_groupby, [RowSplit(), _B, _B, _B], GroupMean(series), "groupby.mean")
                 for series in (False, True)}
_GROUPBY_KEY = {agg: _ann(_groupby, [RowSplit(), RowSplit(), _B, _B], GroupByReduce(agg), f"groupby.{agg}")
                for agg in ("sum", "min", "max", "count", "size")}
_GROUPBY_MEAN_KEY = {series: _ann(_groupby, [RowSplit(), RowSplit(), _B, _B], GroupMean(series), "groupby.mean")
                     for series in (False, True)}


class _GroupBy:
    """``lazy_df.groupby(by)``: an aggregation method captures one split-and-merge group-by."""

    def __init__(self, frame, by, selection=None):
        self._frame, self._by, self._selection = frame, by, selection

    def __getitem__(self, selection):
        return _GroupBy(self._frame, self._by, selection)

    def _agg(self, agg):
        # a key Series (``df.groupby(df["k"].str.upper())``) is cut with the frame, not passed whole to every
        # piece (which realigned it per piece, and failed on a duplicated index); a different index runs eagerly
        split_key = isinstance(self._by, _pd.Series) or (isinstance(self._by, Lazy) and self._by._ops == "pandas")
        if agg == "mean":
            table = _GROUPBY_MEAN_KEY if split_key else _GROUPBY_MEAN
            return table[isinstance(self._selection, str)](self._frame, self._by, self._selection, agg)
        return (_GROUPBY_KEY if split_key else _GROUPBY)[agg](self._frame, self._by, self._selection, agg)

    def sum(self):
        return self._agg("sum")

    def mean(self):
        return self._agg("mean")

    def min(self):
        return self._agg("min")

    def max(self):
        return self._agg("max")

    def count(self):
        return self._agg("count")

    def size(self):
        return self._agg("size")

    def __getattr__(self, name):
        g = _materialize(self._frame).groupby(self._by)
        if self._selection is not None:
            g = g[self._selection]
        return getattr(g, name)


class _StrAccessor:
    """``lazy.str``: every string method captures one element-wise call."""

    def __init__(self, value):
        self._value = value

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        if not callable(getattr(_pd.Series([], dtype=object).str, name, None)):
            raise AttributeError(f"pandas' .str has no method {name!r}")
        def call(*args, **kwargs):
            # split(expand=True) without n makes as many columns as the longest row of the whole column has parts
            if name in _STR_EAGER or (name in ("split", "rsplit") and kwargs.get("expand") and kwargs.get("n", -1) in
                                      (-1, 0, None)):
                return getattr(_materialize(self._value).str, name)(*args, **kwargs)
            return str_method(self._value, name, args, kwargs)

        return call


def _data_dependent_dtype(dtype) -> bool:
    """A dtype whose meaning each piece would infer from its own rows (categories), so that pieces disagree."""
    if isinstance(dtype, dict):
        return any(_data_dependent_dtype(d) for d in dtype.values())
    if isinstance(dtype, str):
        return dtype == "category"
    return isinstance(dtype, _pd.CategoricalDtype) and dtype.categories is None


def _astype_method(value, dtype):
    if _data_dependent_dtype(dtype):  # astype("category"): the categories come from every row, so eagerly
        return _materialize(value).astype(dtype)
    return astype(value, dtype)


# .str methods whose output for a row depends on other rows (or that reduce): pandas' own, eagerly
_STR_EAGER = {"cat", "get_dummies"}


def _merge_method(value, right, how="inner", **kwargs):
    if isinstance(right, Lazy):
        right = right.value
    if how in ("inner", "left") and isinstance(right, _pd.DataFrame) and not (kwargs.get("left_index")
                                                                           or kwargs.get("right_index")):
        # (an index merge takes its result's index from the tables: pandas' own, eagerly)
        return merge_broadcast(value, right, {"how": how, **kwargs})
    return _materialize(value).merge(right, how=how, **kwargs)


def _value_counts_method(value, normalize=False, **kwargs):
    if kwargs:
        return _materialize(value).value_counts(normalize=normalize, **kwargs)
    return _COUNTS[bool(normalize)](value, bool(normalize))


def _reduction(kind):
    def method(value, *args, **kwargs):
        if args or kwargs:
            return getattr(_materialize(value), kind)(*args, **kwargs)
        return _REDUCTIONS[kind](value)
    return method


_METHODS = {
    "fillna": lambda v, value: fillna(v, value),
    "isin": lambda v, values: isin(v, list(values) if not isinstance(values, (set, dict)) else values),
    "isna": lambda v: isna(v), "isnull": lambda v: isna(v), "notna": lambda v: notna(v),
    "notnull": lambda v: notna(v), "abs": lambda v: _OPERATORS["abs"](v),
    "round": lambda v, decimals=0: round_(v, decimals), "astype": lambda v, dtype: _astype_method(v, dtype),
    "clip": lambda v, lower=None, upper=None: clip(v, lower, upper),
    "dropna": lambda v, **kw: (_materialize(v).dropna(**kw) if kw.get("axis", 0) in (1, "columns")
                               else dropna(v, kw)),  # dropping columns depends on every row: eagerly
    "mask": lambda v, cond, other=_np.nan: mask(v, cond, other),
    "where": lambda v, cond, other=_np.nan: where(v, cond, other),
    "merge": _merge_method, "value_counts": _value_counts_method,
    **{k: _reduction(k) for k in _REDUCTIONS},
}


def _method(value, name):
    if name == "str":
        return _StrAccessor(value)
    if name == "groupby":
        return lambda by, **kwargs: _GroupBy(value, by) if not kwargs else _materialize(value).groupby(by, **kwargs)
    f = _METHODS.get(name)
    if f is None:
        return None
    return lambda *args, **kwargs: f(value, *args, **kwargs)


def _getitem(value, key):
    if isinstance(key, Lazy):
        return filter_rows(value, key)
    if isinstance(key, (_pd.Series, _np.ndarray)) and getattr(key, "dtype", None) == bool:
        return filter_rows(value, key if isinstance(key, _pd.Series) else _pd.Series(key, index=value.value.index))
    if isinstance(key, (str, list, tuple)) or _np.isscalar(key):
        return column(value, list(key) if isinstance(key, list) else key)
    return _materialize(value)[key]


def _setitem(value, key, new):
    if not isinstance(key, str):
        raise TypeError("a lazy DataFrame takes one column label in `df[label] = value`")
    result = assign(value, key, new)
    if not isinstance(result, Lazy):  # run eagerly (pandas aligned a differently indexed value): wrap it again
        result = source(result, "pandas")
    old = value._node
    if old.lazy_ref is not None and old.lazy_ref() is value:
        old.lazy_ref = None
    value._node = result._node
    value._node.lazy_ref = weakref.ref(value)


def __getattr__(name):
    """Everything not annotated here is pandas' own, unchanged."""
    return getattr(_pd, name)
