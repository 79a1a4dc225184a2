"""Split types: how a value is cut into pieces and put back together.

A split type (Palkar and Zaharia, arXiv 1810.12297, Section 3) is a small
object with three methods a library author writes once per data type:

``split(value, start, end)``
    the piece of ``value`` holding elements ``[start, end)``;
``merge(pieces)``
    the whole value from the list of pieces, in order;
``elements(value)``
    the number of elements ``split`` counts in.

Two split types are equal when they would cut values the same way (same class,
same parameters); the planner (:mod:`dawnlab.mozart.planner`) pipelines a value
from one call into the next only when the producer's and the consumer's split
types are equal and they cut the same index space.

Built-in split types:

- :class:`ArraySplit` - NumPy arrays along an axis (1-D, 2-D by rows or columns);
- :class:`RowSplit` - pandas ``DataFrame`` and ``Series`` by rows;
- :class:`Broadcast` - the whole value, given to every piece;
- reductions, whose per-piece results are combined by ``merge`` and which are
  never split again: :class:`SumReduce`, :class:`MinReduce`, :class:`MaxReduce`,
  :class:`ConcatReduce`, :class:`UniqueReduce`, :class:`GroupByReduce`,
  :class:`CountsReduce`, :class:`MeanReduce`;
- :class:`Generic` - a type variable, bound by unification to the split type of
  the values it meets;
- :func:`mut` - marks an argument that the function writes in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dawnlab.errors import InvalidArgument

__all__ = ["SplitType", "ArraySplit", "RowSplit", "Broadcast", "Reduce", "SumReduce", "MinReduce",
           "MaxReduce", "ConcatReduce", "UniqueReduce", "GroupByReduce", "CountsReduce", "MeanReduce",
           "MeanPartial", "Generic", "Mut", "mut", "SplitTypeError", "default_split_type"]


class SplitTypeError(InvalidArgument):
    """A split type was applied to a value it cannot split, or two split types do not unify."""


class SplitType:
    """Base class of every split type: subclass it and write the three methods.

    Subclasses that hold parameters should be dataclasses (``frozen=True``) so
    that equality and hashing follow the parameters.

    Examples
    --------
    A split type for Python lists, written by a user:

    >>> class ListSplit(SplitType):
    ...     def split(self, value, start, end):
    ...         return value[start:end]
    ...     def merge(self, pieces):
    ...         return [x for piece in pieces for x in piece]
    ...     def elements(self, value):
    ...         return len(value)
    >>> t = ListSplit()
    >>> t.merge([t.split([1, 2, 3, 4, 5], 0, 2), t.split([1, 2, 3, 4, 5], 2, 5)])
    [1, 2, 3, 4, 5]
    """

    #: whether pieces index elements (False for reductions and :class:`Broadcast`)
    splits = True
    #: whether a piece can be written into a preallocated output (``out=``)
    supports_out = False

    def split(self, value, start: int, end: int):
        """The piece of ``value`` holding elements ``[start, end)``."""
        raise NotImplementedError

    def merge(self, pieces: list):
        """The whole value from its pieces, in order."""
        raise NotImplementedError

    def elements(self, value) -> int:
        """The number of elements of ``value`` that :meth:`split` counts in."""
        raise NotImplementedError

    def bytes_per_element(self, value) -> float:
        """Bytes of ``value`` per element (the runtime sizes pieces with it)."""
        n = self.elements(value)
        nbytes = getattr(value, "nbytes", None)
        if nbytes is None and isinstance(value, (pd.Series, pd.DataFrame)):
            nbytes = int(np.sum(value.memory_usage(index=False, deep=False)))
        return float(nbytes) / n if n and nbytes else 8.0

    def check(self, value, owner: str, name: str) -> int:
        """``elements(value)``, or a :class:`SplitTypeError` naming ``owner`` and ``name``."""
        try:
            n = self.elements(value)
        except Exception as exc:  # noqa: BLE001 - reported with the value
            raise SplitTypeError(
                f"The {name!r} argument of {owner} must be a value that {self!r} can split. "
                f"Got {_short(value)} instead ({type(exc).__name__}: {exc}).") from exc
        return int(n)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))


def _short(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return f"a {type(value).__name__} of shape {value.shape}"
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


class ArraySplit(SplitType):
    """NumPy arrays cut along one axis: ``axis=0`` splits a 2-D array by rows, ``axis=1`` by columns.

    Pieces are views (no copy); a piece can be written into a preallocated
    output with ``out=``.

    Examples
    --------
    >>> t = ArraySplit(axis=1)
    >>> a = np.arange(6).reshape(2, 3)
    >>> t.elements(a), t.split(a, 1, 3).tolist()
    (3, [[1, 2], [4, 5]])
    >>> t.merge([t.split(a, 0, 1), t.split(a, 1, 3)]).tolist()
    [[0, 1, 2], [3, 4, 5]]
    """

    supports_out = True

    def __init__(self, axis: int = 0):
        if axis not in (0, 1):
            raise InvalidArgument(f"The 'axis' argument of ArraySplit must be 0 or 1. Got {axis!r} instead.")
        self.axis = axis

    def split(self, value, start, end):
        return value[start:end] if self.axis == 0 else value[:, start:end]

    def merge(self, pieces):
        return np.concatenate(pieces, axis=self.axis)

    def elements(self, value):
        if not isinstance(value, np.ndarray) or value.ndim <= self.axis:
            raise TypeError(f"needs a NumPy array with at least {self.axis + 1} dimension(s)")
        return value.shape[self.axis]

    def empty(self, piece, n: int):
        """An uninitialised array shaped like ``piece`` with ``n`` elements along the axis."""
        shape = list(piece.shape)
        shape[self.axis] = n
        return np.empty(shape, dtype=piece.dtype)

    def __repr__(self):
        return f"ArraySplit(axis={self.axis})"


class RowSplit(SplitType):
    """pandas ``DataFrame`` and ``Series`` cut by rows (``iloc``), merged with ``concat``.

    ``ignore_index=True`` merges onto a fresh ``RangeIndex`` (the split type of
    a merge's result, whose pieces each start at 0).

    Examples
    --------
    >>> t = RowSplit()
    >>> s = pd.Series([1.0, 2.0, 3.0], index=[10, 20, 30])
    >>> t.merge([t.split(s, 0, 1), t.split(s, 1, 3)]).equals(s)
    True
    """

    def __init__(self, ignore_index: bool = False):
        self.ignore_index = ignore_index

    def split(self, value, start, end):
        return value.iloc[start:end]

    def merge(self, pieces):
        return pd.concat(pieces, ignore_index=self.ignore_index) if len(pieces) > 1 else (
            pieces[0].reset_index(drop=True) if self.ignore_index else pieces[0])

    def elements(self, value):
        if not isinstance(value, (pd.Series, pd.DataFrame)):
            raise TypeError("needs a pandas Series or DataFrame")
        return len(value)

    def __repr__(self):
        return "RowSplit(ignore_index=True)" if self.ignore_index else "RowSplit()"


class Broadcast(SplitType):
    """The whole value, passed unchanged to every piece (a scalar, a lookup table)."""

    splits = False

    def split(self, value, start, end):
        return value

    def merge(self, pieces):
        return pieces[0]

    def elements(self, value):
        return 0


class Reduce(SplitType):
    """A result that each piece computes partially and ``merge`` combines; never split again."""

    splits = False

    def split(self, value, start, end):
        raise SplitTypeError(f"{self!r} is a reduction: its value cannot be split")

    def elements(self, value):
        return 1


class SumReduce(Reduce):
    """Partial sums (scalars, arrays, Series) added together.

    >>> SumReduce().merge([1.5, 2.0, 0.5])
    4.0
    """

    def merge(self, pieces):
        full = [p for p in pieces if not isinstance(p, EmptySum)]
        if not full:  # every piece empty: the sum of nothing, as the library gives it
            return pieces[0].value
        total = full[0]
        for p in full[1:]:
            total = total + p
        return total


@dataclass(frozen=True)
class EmptySum:
    """An empty piece's sum, left out of :class:`SumReduce`'s merge (an object column's empty sum is ``0``,
    which cannot be added to strings)."""

    value: object


class MinReduce(Reduce):
    """Partial minima combined with ``numpy.minimum``.

    >>> float(MinReduce().merge([3.0, 1.0, 2.0]))
    1.0
    """

    def merge(self, pieces):
        return np.minimum.reduce(pieces) if len(pieces) > 1 else pieces[0]


class MaxReduce(Reduce):
    """Partial maxima combined with ``numpy.maximum``."""

    def merge(self, pieces):
        return np.maximum.reduce(pieces) if len(pieces) > 1 else pieces[0]


class ConcatReduce(Reduce):
    """Pieces of different lengths (a filter's output) concatenated; pandas pieces with ``concat``.

    >>> ConcatReduce().merge([np.array([1, 2]), np.array([], dtype=int), np.array([3])]).tolist()
    [1, 2, 3]
    """

    def __init__(self, ignore_index: bool = False):
        self.ignore_index = ignore_index

    def merge(self, pieces):
        if isinstance(pieces[0], (pd.Series, pd.DataFrame)):
            return RowSplit(self.ignore_index).merge(pieces)
        return np.concatenate(pieces)


class UniqueReduce(Reduce):
    """Each piece's sorted unique values, merged into the sorted unique values of the whole.

    >>> UniqueReduce().merge([np.array([1, 3]), np.array([2, 3])]).tolist()
    [1, 2, 3]
    """

    def merge(self, pieces):
        return np.unique(np.concatenate(pieces)) if len(pieces) > 1 else pieces[0]


@dataclass(frozen=True)
class MeanPartial:
    """A piece's sum and count, which :class:`MeanReduce` merges into an exact mean (cast to ``dtype`` if set:
    a NumPy dtype, which a pandas Series of per-column sums is cast to as a whole)."""

    total: object
    count: int
    dtype: object = None


class MeanReduce(Reduce):
    """Merge :class:`MeanPartial` pieces into ``sum / count`` (the mean of the whole, not of the means).

    >>> MeanReduce().merge([MeanPartial(3.0, 2), MeanPartial(3.0, 1)])
    2.0
    """

    def merge(self, pieces):
        total = SumReduce().merge([p.total for p in pieces])
        count = sum(p.count for p in pieces)
        dtype = pieces[0].dtype if pieces else None
        if np.ndim(count) == 0 and count == 0:  # no elements: NaN, in the shape of the sums (an axis's mean)
            if np.ndim(total) and not isinstance(total, (pd.Series, pd.DataFrame)):
                mean = np.full(np.shape(total), np.nan)
            else:
                mean = np.float64("nan")
        else:
            mean = total / count  # a DataFrame's counts are a Series: column by column
        if dtype is not None:  # the library's result dtype (float16 sums run in float32 and are cast back)
            if isinstance(mean, (np.ndarray, pd.Series)):
                mean = mean.astype(dtype)
            else:
                mean = np.dtype(dtype).type(mean)
        return mean


class GroupByReduce(Reduce):
    """Partial group-by aggregates merged exactly.

    Each piece returns its groups' ``sum``, ``count``, ``min``, ``max``, or for
    ``mean`` a frame of sums and counts (columns suffixed ``__sum`` and
    ``__count``); ``merge`` groups the concatenated partials again by their
    index and combines them with the aggregate's own combine (counts are
    summed; a mean is the total sum over the total count).

    Examples
    --------
    >>> df = pd.DataFrame({"k": ["a", "b", "a"], "x": [1, 2, 3]})
    >>> parts = [df.iloc[:2].groupby("k").sum(), df.iloc[2:].groupby("k").sum()]
    >>> GroupByReduce("sum").merge(parts).x.tolist()
    [4, 2]
    """

    COMBINE = {"sum": "sum", "count": "sum", "size": "sum", "min": "min", "max": "max"}

    def __init__(self, agg: str):
        if agg not in (*self.COMBINE, "mean"):
            raise InvalidArgument(f"The 'agg' argument of GroupByReduce must be one of "
                                  f"{sorted((*self.COMBINE, 'mean'))}. Got {agg!r} instead.")
        self.agg = agg

    def merge(self, pieces):
        whole = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        level = list(range(whole.index.nlevels))
        if self.agg == "mean":
            summed = whole.groupby(level=level, sort=True).sum()
            cols = [c[:-5] for c in summed.columns if c.endswith("__sum")]
            out = pd.DataFrame({c: summed[c + "__sum"] / summed[c + "__count"] for c in cols},
                               index=summed.index)
            out.columns.name = None
            return out
        return getattr(whole.groupby(level=level, sort=True), self.COMBINE[self.agg])()

    def __repr__(self):
        return f"GroupByReduce({self.agg!r})"


class CountsReduce(Reduce):
    """Per-piece ``value_counts`` merged as pandas orders them: by count, ties in order of first appearance.

    Each piece counts with ``sort=False`` (its keys in order of first
    appearance); the pieces, in order, are summed per key (every level of a
    DataFrame's row combinations) keeping that order, then sorted by count
    with a stable sort, as ``value_counts`` does on the whole.  With
    ``normalize`` the counts become shares named ``proportion``.

    >>> s = pd.Series(["b", "a", "a", "c", "b", "c"])
    >>> parts = [s.iloc[:3].value_counts(sort=False), s.iloc[3:].value_counts(sort=False)]
    >>> CountsReduce().merge(parts).equals(s.value_counts())
    True
    """

    def __init__(self, normalize: bool = False):
        self.normalize = normalize

    def merge(self, pieces):
        whole = pd.concat(pieces) if len(pieces) > 1 else pieces[0]
        name = whole.name
        counts = whole.groupby(level=list(range(whole.index.nlevels)), sort=False).sum()
        counts = counts.sort_values(ascending=False, kind="stable")
        counts.name = name
        if self.normalize:
            counts = counts / counts.sum()
            counts.name = "proportion"
        return counts


class Generic(SplitType):
    """A split-type variable: every argument annotated with the same name in one call gets one split type.

    The planner binds it to the split type of the value it meets
    (:func:`default_split_type`) and checks the others agree.

    >>> Generic("S") == Generic("S"), Generic("S") == Generic("T")
    (True, False)
    """

    def __init__(self, name: str = "S"):
        self.name = name

    def __repr__(self):
        return f"Generic({self.name!r})"


class Mut(SplitType):
    """An argument the function writes in place, split by the wrapped split type."""

    def __init__(self, inner: SplitType):
        if not isinstance(inner, SplitType) or isinstance(inner, (Mut, Reduce, Broadcast)):
            raise InvalidArgument(f"The 'inner' argument of mut must be an ArraySplit, a Generic or a "
                                  f"user split type. Got {inner!r} instead.")
        self.inner = inner

    def __repr__(self):
        return f"mut({self.inner!r})"


def mut(inner: SplitType) -> Mut:
    """Mark an argument as written in place by the function (e.g. NumPy's ``out=``).

    >>> mut(ArraySplit())
    mut(ArraySplit(axis=0))
    """
    return Mut(inner)


def default_split_type(value) -> SplitType | None:
    """The split type a :class:`Generic` binds to for a plain value, ``None`` if it has none.

    Arrays of one or more dimensions split by their first axis, pandas objects
    by rows, scalars (and 0-d arrays) are broadcast.

    >>> default_split_type(np.zeros(3)), default_split_type(2.0), default_split_type([1, 2])
    (ArraySplit(axis=0), Broadcast(), None)
    """
    if isinstance(value, np.ndarray):
        return ArraySplit(0) if value.ndim >= 1 else Broadcast()
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return RowSplit()
    if value is None or np.isscalar(value) or isinstance(value, (np.generic, slice, type)):
        return Broadcast()
    return None
