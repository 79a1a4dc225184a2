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
- reductions merged exactly: ``sum``, ``mean`` (float64 sums and counts, in the dtype pandas returns), ``min``,
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

import functools
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


def _narrow(dtype) -> bool:
    """A float dtype narrower than float64, whose sums pandas keeps in that dtype."""
    return dtype.kind == "f" and dtype.itemsize < 8


def _widen(x):
    """``x`` with its narrow float columns as float64, so that partial sums lose nothing before they merge."""
    if isinstance(x, _pd.Series):
        return x.astype(_np.float64) if _narrow(x.dtype) else x
    narrow = [c for c, d in x.dtypes.items() if _narrow(d)]
    if not narrow or not x.columns.is_unique:
        return x
    return x.astype(dict.fromkeys(narrow, _np.float64))


class _GroupMeanPiece:
    """One piece's group sums and counts (``frame``), and what decides pandas' result dtype for narrow floats.

    pandas (3.x) returns a float32 column's group means as float32 from its general kernel, but as float64
    when the group keys are sorted and the column has no missing value (its ``reduceat`` path); float16
    means are float32 there, or float16 where every mean fits float16 exactly.  pandas takes that path per
    internal block of columns; the merge decides per column (as if each column were its own block), so a
    frame whose float32 columns share one block, only some of them with missing values, can get float32
    where pandas gives float64 (the values agree).  A piece
    records its column dtypes, which columns have a missing value, whether its keys are sorted, and its
    first and last group, so that the merge can tell what pandas does on the whole.
    """

    __slots__ = ("frame", "dtypes", "missing", "sorted", "first", "last")

    def __init__(self, frame, dtypes, missing, sorted_, first, last):
        self.frame, self.dtypes, self.missing, self.sorted = frame, dtypes, missing, sorted_
        self.first, self.last = first, last

    def __reduce__(self):
        return (_GroupMeanPiece, (self.frame, self.dtypes, self.missing, self.sorted, self.first, self.last))


def _keys_sorted(pieces) -> bool:
    """Whether the group keys of the pieces, in order, are sorted over the whole (each piece's and across)."""
    filled = [p for p in pieces if len(p.frame)]
    if not all(p.sorted for p in filled):
        return False
    try:
        return all(not (b.first < a.last) for a, b in zip(filled, filled[1:]))
    except TypeError:  # keys that do not compare: pandas could not have sorted them either
        return False


def _result_dtypes(pieces, cols):
    """The dtype of each mean column as pandas returns it on the whole, found by running pandas' own
    group-by mean on a four-row column of the same dtype, key order and missing values."""
    dtypes, missing = pieces[0].dtypes, set().union(*(p.missing for p in pieces))
    keys_sorted = _keys_sorted(pieces)
    return {c: _probe_dtype(str(dtypes[c]), c in missing, keys_sorted) for c in cols}


@functools.lru_cache(maxsize=64)
def _probe_dtype(dtype: str, missing: bool, keys_sorted: bool):
    v = _np.arange(1, 5).astype(dtype)
    if missing:
        v[0] = _np.nan
    key = _np.array([0, 0, 1, 1] if keys_sorted else [1, 0, 1, 0])
    return _pd.Series(v).groupby(key).mean().dtype


class GroupMean(Reduce):
    """Per-piece group sums (in float64) and counts merged into the exact group means, in pandas' dtypes."""

    def __init__(self, series: bool = False):
        self.series = series

    def merge(self, pieces):
        frames = [p.frame for p in pieces]
        whole = _pd.concat(frames) if len(frames) > 1 else frames[0]
        summed = whole.groupby(level=list(range(whole.index.nlevels)), sort=True).sum()
        cols = [c[:-5] for c in summed.columns if c.endswith("__sum")]
        out = _pd.DataFrame({c: summed[c + "__sum"] / summed[c + "__count"] for c in cols}, index=summed.index)
        narrow = [c for c in cols if pieces[0].dtypes is not None and _narrow(pieces[0].dtypes[c])]
        if narrow:
            for c, dtype in _result_dtypes(pieces, narrow).items():
                col = out[c].astype(_np.float32) if dtype == _np.float16 else out[c]
                if dtype == _np.float16 and not col.astype(dtype).astype(_np.float32).equals(col):
                    dtype = _np.float32  # pandas keeps float16 only where the float32 means fit it exactly
                out[c] = col.astype(dtype)
        return out[cols[0]] if self.series else out


def _sum(x):
    return EmptySum(x.sum()) if len(x) == 0 else x.sum()


def _mean(x):
    # the sums in float64, the mean cast back to the dtype pandas' own mean gives this input (probed on one
    # row: float32 for float32, float64 for integers, float16 and mixed frames)
    dtype = None
    if len(x):
        probe = x.iloc[:1].mean()
        dtype = probe.dtype if isinstance(probe, _pd.Series) else _np.asarray(probe).dtype
    return MeanPartial(_widen(x).sum(), x.count(), dtype)


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
    counts = g.count()
    tally = counts.to_frame() if isinstance(counts, _pd.Series) else counts
    dtypes = _pd.Series({c: df[c].dtype for c in tally.columns}) if tally.columns.is_unique else None
    if dtypes is None or not any(_narrow(d) for d in dtypes):
        sums, dtypes, missing, sorted_, first, last = g.sum(), None, (), True, None, None
    else:  # narrow floats: sum in float64, and record what decides pandas' result dtype (_GroupMeanPiece)
        wg = df.astype({c: _np.float64 for c, d in dtypes.items() if _narrow(d)}).groupby(by, sort=True)
        sums = (wg[selection] if selection is not None else wg).sum()
        ids = g.ngroup().to_numpy(dtype=float)
        ids[_np.isnan(ids)] = -1.0
        sorted_ = bool(_np.all(ids[1:] >= ids[:-1]))
        sizes = g.size()
        missing = {c for c in tally.columns if (tally[c] != sizes).any()}
        order = sums.index.codes if isinstance(sums.index, _pd.CategoricalIndex) else sums.index  # pandas' order
        first, last = (order[0], order[-1]) if len(sums) else (None, None)
    if isinstance(sums, _pd.Series):
        sums, counts = sums.to_frame(), counts.to_frame()
    frame = _pd.concat([sums.add_suffix("__sum"), counts.add_suffix("__count")], axis=1)
    return _GroupMeanPiece(frame, dtypes, missing, sorted_, first, last)


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
