"""Split and merge of every built-in split type round-trip, ragged last pieces and empty inputs included."""

import numpy as np
import pandas as pd
import pytest

from dawnlab.mozart import (ArraySplit, Broadcast, ConcatReduce, CountsReduce, GroupByReduce, MaxReduce,
                            MeanPartial, MeanReduce, MinReduce, RowSplit, SplitType, SplitTypeError, SumReduce,
                            UniqueReduce, default_split_type, evaluate, mut, sa, Generic)
from dawnlab.mozart.pandas import OrderedUnique, SkipNaMax, SkipNaMin


def ranges(n, size):
    return [(s, min(s + size, n)) for s in range(0, n, size)] or [(0, 0)]


def values():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=37), "b": rng.choice(["x", "y"], 37)}, index=rng.permutation(37) + 100)
    return [
        (ArraySplit(0), rng.normal(size=37)),
        (ArraySplit(0), rng.normal(size=(37, 3))),
        (ArraySplit(1), rng.normal(size=(3, 37))),
        (ArraySplit(0), np.arange(37, dtype=np.int32)),
        (RowSplit(), df),
        (RowSplit(), df["a"]),
    ]


def assert_same(a, b):
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b)
    else:
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("size", [1, 5, 10, 36, 37, 100])
@pytest.mark.parametrize("case", range(6))
def test_split_merge_round_trip_with_ragged_pieces(case, size):
    t, v = values()[case]
    n = t.elements(v)
    assert n == 37
    pieces = [t.split(v, s, e) for s, e in ranges(n, size)]
    assert sum(t.elements(p) for p in pieces) == n
    assert_same(t.merge(pieces), v)


@pytest.mark.parametrize("case", range(6))
def test_empty_inputs_round_trip(case):
    t, v = values()[case]
    empty = t.split(v, 0, 0)
    assert t.elements(empty) == 0
    assert_same(t.merge([empty]), empty)
    assert_same(t.merge([t.split(v, 0, 0), t.split(v, 0, 37), t.split(v, 37, 37)]), v)


def test_array_pieces_are_views_and_empty_makes_the_whole_shape():
    a = np.arange(12.0).reshape(4, 3)
    assert np.shares_memory(ArraySplit(0).split(a, 1, 3), a)
    assert ArraySplit(1).empty(a[:, :2], 9).shape == (4, 9)


def test_broadcast_passes_the_whole_value():
    t, table = Broadcast(), {"k": 1}
    assert t.split(table, 3, 9) is table and t.merge([table, table]) is table and not t.splits


@pytest.mark.parametrize("size", [1, 4, 7, 50])
def test_reductions_merge_to_the_whole_answer(size):
    rng = np.random.default_rng(1)
    x = rng.normal(size=50)
    parts = [x[s:e] for s, e in ranges(50, size)]
    assert SumReduce().merge([p.sum() for p in parts]) == pytest.approx(x.sum(), rel=1e-12)
    assert MinReduce().merge([p.min() for p in parts]) == x.min()
    assert MaxReduce().merge([p.max() for p in parts]) == x.max()
    assert MeanReduce().merge([MeanPartial(p.sum(), p.size) for p in parts]) == pytest.approx(x.mean(), rel=1e-12)
    ints = rng.integers(0, 9, 50)
    np.testing.assert_array_equal(UniqueReduce().merge([np.unique(ints[s:e]) for s, e in ranges(50, size)]),
                                  np.unique(ints))
    np.testing.assert_array_equal(ConcatReduce().merge([p[p > 0] for p in parts]), x[x > 0])
    s = pd.Series(rng.choice(list("pqrs"), 50))
    chunks = [s.iloc[a:b] for a, b in ranges(50, size)]
    # pandas' own order: by count, ties in order of first appearance (each piece counts with sort=False)
    pd.testing.assert_series_equal(CountsReduce().merge([c.value_counts(sort=False) for c in chunks]),
                                   s.value_counts())
    np.testing.assert_array_equal(OrderedUnique().merge([c.unique() for c in chunks]), s.unique())
    y = pd.Series(x)
    y[::3] = np.nan
    ys = [y.iloc[a:b] for a, b in ranges(50, size)]
    assert SkipNaMin().merge([c.min() for c in ys]) == y.min()
    assert SkipNaMax().merge([c.max() for c in ys]) == y.max()


@pytest.mark.parametrize("agg", ["sum", "count", "size", "min", "max"])
@pytest.mark.parametrize("size", [3, 17])
def test_groupby_partials_merge_exactly(agg, size):
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"k": rng.choice(list("abcdef"), 60), "j": rng.integers(0, 3, 60),
                       "x": rng.integers(-50, 50, 60)})
    for keys in ("k", ["k", "j"]):
        parts = [getattr(df.iloc[a:b].groupby(keys), agg)() for a, b in ranges(60, size)]
        whole = getattr(df.groupby(keys), agg)()
        got = GroupByReduce(agg).merge(parts)
        if isinstance(whole, pd.Series):
            pd.testing.assert_series_equal(got, whole)
        else:
            pd.testing.assert_frame_equal(got, whole)


def test_split_type_applied_to_a_value_it_cannot_split_names_everything():
    with pytest.raises(SplitTypeError, match=r"'x' argument of f .*ArraySplit\(axis=1\).*shape \(5,\)"):
        ArraySplit(1).check(np.zeros(5), "f", "x")

    @sa(ArraySplit(0), ret=ArraySplit(0))
    def double(a):
        return a * 2

    with pytest.raises(SplitTypeError, match="'a' argument of double"):
        double([1, 2, 3])
    with pytest.raises(SplitTypeError, match="'a' argument of double"):
        double(np.float64(3.0))


def test_default_split_types():
    assert default_split_type(np.zeros((2, 2))) == ArraySplit(0)
    assert default_split_type(pd.Series([1])) == RowSplit()
    assert default_split_type(3) == Broadcast() and default_split_type(np.array(2.0)) == Broadcast()
    assert default_split_type({"a": 1}) is None
    assert ArraySplit(0) != ArraySplit(1) and RowSplit() != RowSplit(ignore_index=True)
    assert repr(mut(Generic("S"))) == "mut(Generic('S'))"


class ListSplit(SplitType):
    """A user's split type for Python lists."""

    def split(self, value, start, end):
        return value[start:end]

    def merge(self, pieces):
        return [x for p in pieces for x in p]

    def elements(self, value):
        if not isinstance(value, list):
            raise TypeError("needs a list")
        return len(value)


@sa(ListSplit(), ListSplit(), ret=ListSplit())
def pairwise_max(a, b):
    return [max(x, y) for x, y in zip(a, b)]


@sa(ListSplit(), ret=SumReduce())
def total(a):
    return sum(a)


@pytest.mark.parametrize("piece_size", [1, 3, 100])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_user_defined_split_type_works_end_to_end(piece_size, workers):
    a = list(range(0, 40, 2))
    b = list(range(40, 0, -2))
    m = pairwise_max(a, b)
    s = total(m)
    assert evaluate(s, piece_size=piece_size, workers=workers) == sum(max(x, y) for x, y in zip(a, b))
    assert evaluate(m) == [max(x, y) for x, y in zip(a, b)]
    assert evaluate(total(pairwise_max([], []))) == 0


def test_a_user_split_type_with_unhashable_parameters_works_when_one_input_is_read_twice():
    from dawnlab.mozart import SplitType, evaluate, sa

    class Tagged(SplitType):
        def __init__(self, tags):
            self.tags = list(tags)          # a list: the split type cannot be hashed

        def split(self, value, start, end):
            return value[start:end]

        def merge(self, pieces):
            return [x for p in pieces for x in p]

        def elements(self, value):
            return len(value)

    t = Tagged(["a"])

    @sa(t, t, ret=t)
    def pairsum(a, b):
        return [x + y for x, y in zip(a, b)]

    values = list(range(5_000))
    assert evaluate(pairsum(values, values)) == [2 * x for x in values]
