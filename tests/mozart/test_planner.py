"""Unification into stages on hand-built graphs, and explain()."""

import numpy as np
import pandas
import pytest

import dawnlab.mozart.numpy as mnp
import dawnlab.mozart.pandas as mpd
from dawnlab.mozart import ArraySplit, Broadcast, Generic, RowSplit, SumReduce, evaluate, explain, plan, sa

S = Generic("S")


@sa(ArraySplit(1), ret=ArraySplit(1))
def by_columns(a):
    return a * 10


@sa(ArraySplit(0), Broadcast(), ret=ArraySplit(0))
def scale_rows(a, factor):
    return a * factor


@sa(S, S, ret=S)
def plus(a, b):
    return a + b


@sa(ArraySplit(0), ret=ArraySplit(0), aligned=False)
def positives(a):
    return a[a > 0]


def names(stages):
    return [[n.name for n in s.nodes] for s in stages]


def test_an_element_wise_chain_is_one_stage_and_only_live_values_are_kept():
    x = np.linspace(-1, 1, 100)
    y = mnp.sqrt(mnp.exp(x) * 2.0) - 1.0
    total = mnp.sum(y)
    stages = plan([total._node, y._node])
    assert names(stages) == [["exp", "multiply", "sqrt", "subtract", "sum"]]
    assert [n.name for n in stages[0].outputs] == ["subtract", "sum"]   # the temporaries were dropped
    assert stages[0].key == 100


def test_generics_unify_to_the_arguments_split_type():
    a = np.ones((4, 6))
    z = plus(a, a)
    assert z._node.in_types == [ArraySplit(0), ArraySplit(0)] and z._node.out_type == ArraySplit(0)
    s = pandas.Series([1.0, 2.0])
    w = plus(s, 3.0)
    assert w._node.in_types == [RowSplit(), Broadcast()] and w._node.out_type == RowSplit()
    v = plus(a, np.arange(6.0))          # fewer dimensions: NumPy broadcasts it along rows, so it is passed whole
    assert v._node.in_types == [ArraySplit(0), Broadcast()]
    np.testing.assert_array_equal(evaluate(v, piece_size=1), a + np.arange(6.0))


def test_a_broadcast_use_of_a_split_value_ends_the_stage():
    x = np.arange(20.0)
    y = mnp.exp(x / 20)
    z = scale_rows(mnp.subtract.outer(y, y), 2.0)
    stages = plan([z._node])
    assert names(stages) == [["exp"], ["subtract.outer", "scale_rows"]]
    assert "takes 'B' whole" in stages[0].reason
    np.testing.assert_allclose(evaluate(z, piece_size=3), np.subtract.outer(np.exp(x / 20), np.exp(x / 20)) * 2)


def test_split_types_that_do_not_unify_end_the_stage():
    a = np.arange(12.0).reshape(3, 4)
    rows = mnp.exp(a)                     # ArraySplit(axis=0)
    cols = by_columns(rows)               # needs ArraySplit(axis=1): rows is evaluated first
    assert rows.evaluated and not cols.evaluated
    assert names(plan([cols._node])) == [["by_columns"]]
    np.testing.assert_allclose(evaluate(cols, piece_size=1), np.exp(a) * 10)


def test_a_reduction_used_by_a_later_call_is_merged_first():
    x = np.arange(10.0)
    centred = x - mnp.mean(x)
    assert names(plan([centred._node])) == [["subtract"]]
    np.testing.assert_allclose(evaluate(centred), x - x.mean())


def test_a_filtered_value_pipelines_with_its_own_pieces_but_not_with_the_unfiltered_input():
    x = np.linspace(-1, 1, 101)
    p = positives(x)
    q = mnp.exp(p) * 2
    assert names(plan([q._node])) == [["positives", "exp", "multiply"]]
    np.testing.assert_allclose(evaluate(q, piece_size=10), np.exp(x[x > 0]) * 2)
    p2 = positives(x)
    with pytest.raises(ValueError, match="same number of elements"):
        plus(mnp.exp(p2), x)  # p2 is evaluated (different index space) and then the lengths disagree


def test_pandas_filter_and_group_by_share_one_stage():
    raw = pandas.DataFrame({"k": list("abcab") * 20, "x": np.arange(100.0)})
    df = mpd.DataFrame(raw)
    g = df[df["x"] > 10].groupby("k")["x"].sum()
    assert names(plan([g._node])) == [["getitem", "gt", "filter", "groupby.sum"]]
    pandas.testing.assert_series_equal(evaluate(g, piece_size=7), raw[raw.x > 10].groupby("k")["x"].sum())
    # different lengths in pandas: it aligns them on the index, eagerly
    f = df[df["x"] > 50]["x"]
    pandas.testing.assert_series_equal(evaluate(f + df["x"]), raw[raw.x > 50]["x"] + raw["x"])


def test_an_unannotated_call_ends_the_stage():
    x = np.arange(8.0)
    y = mnp.exp(x)
    c = np.cumsum(y)                      # NumPy's own: evaluates y
    assert y.evaluated and isinstance(c, np.ndarray)
    z = mnp.log(c)
    assert names(plan([z._node])) == [["log"]]


def test_explain_shows_stages_split_types_piece_size_and_workers():
    x = np.ones(5000)
    y = mnp.exp(x) + 1.0
    text = explain(y, piece_size=512, workers=3)
    assert "1 stage(s), backend threads, 3 worker(s)" in text
    assert "5000 elements in 10 piece(s) of 512" in text
    assert "exp(x1: ArraySplit(axis=0)) -> ArraySplit(axis=0)" in text and "[kept]" in text
    auto = explain(y)
    assert "KiB L2 cache" in auto
    z = scale_rows(mnp.subtract.outer(y, y), 2.0)
    text = explain(z)
    assert "2 stage(s)" in text and "stage ends" in text


def test_sum_reduce_of_a_user_function():
    @sa(S, ret=SumReduce())
    def count_positive(a):
        return int((a > 0).sum())

    x = np.random.default_rng(0).normal(size=999)
    assert evaluate(count_positive(x), piece_size=10, workers=2) == int((x > 0).sum())
