"""Lazy capture: what is captured, what triggers evaluation, and that results equal the eager ones."""

import numpy as np
import pandas
import pytest
import scipy.special

import dawnlab.mozart as mz
import dawnlab.mozart.numpy as mnp
import dawnlab.mozart.pandas as mpd
from dawnlab.mozart import Lazy, evaluate, lazy


@pytest.fixture
def x():
    return np.random.default_rng(0).uniform(0.5, 2.0, 5000)


def pending_ids():
    return {n.id for n in mz.pending()}


def test_calls_are_captured_not_run(x):
    y = mnp.exp(x) + 1
    assert isinstance(y, Lazy) and not y.evaluated and y._node.id in pending_ids()
    np.testing.assert_array_equal(evaluate(y), np.exp(x) + 1)
    assert y.evaluated and y._node.id not in pending_ids()


@pytest.mark.parametrize("trigger", ["array", "len", "repr", "float", "iter", "index", "unannotated", "bool"])
def test_each_use_triggers_evaluation(x, trigger):
    y = mnp.sqrt(x)
    s = mnp.sum(y)
    if trigger == "array":
        np.testing.assert_array_equal(np.asarray(y), np.sqrt(x))
    elif trigger == "len":
        assert len(y) == len(x)
    elif trigger == "repr":
        assert repr(y) == repr(np.sqrt(x))
    elif trigger == "float":
        assert float(s) == pytest.approx(np.sqrt(x).sum(), rel=1e-12)
    elif trigger == "iter":
        assert list(y)[:3] == list(np.sqrt(x))[:3]
    elif trigger == "index":
        assert y[7] == np.sqrt(x)[7]
    elif trigger == "unannotated":
        np.testing.assert_array_equal(np.cumsum(y), np.cumsum(np.sqrt(x)))  # not annotated: eager
    elif trigger == "bool":
        assert bool(s > 0)
    assert y.evaluated


def test_operators_and_numpy_protocols_capture(x):
    y = -(2.0 ** mnp.lazy_array(x)) / 3 % 5 + abs(mnp.sin(x)) - (x * mnp.cos(x) >= 0.1)
    assert isinstance(y, Lazy)
    np.testing.assert_allclose(evaluate(y), -(2.0 ** x) / 3 % 5 + abs(np.sin(x)) - (x * np.cos(x) >= 0.1),
                               rtol=1e-14)
    z = np.exp(mnp.lazy_array(x))          # __array_ufunc__ of plain numpy on a lazy value
    w = np.where(z > 2, z, np.clip(z, 1.8, 1.9))  # __array_function__
    assert isinstance(z, Lazy) and isinstance(w, Lazy)
    np.testing.assert_array_equal(evaluate(w), np.where(np.exp(x) > 2, np.exp(x), np.clip(np.exp(x), 1.8, 1.9)))
    np.testing.assert_array_equal(evaluate(mnp.erf(x)), scipy.special.erf(x))


def test_reductions_and_rows(x):
    m = x.reshape(50, 100)
    for f in ("sum", "mean", "min", "max"):
        for axis in (None, 0, 1):
            got = evaluate(getattr(mnp, f)(m * 2.0, axis=axis), piece_size=7)
            np.testing.assert_allclose(got, getattr(np, f)(m * 2.0, axis=axis), rtol=1e-12)
    assert float(mnp.dot(x, x + 1)) == pytest.approx(np.dot(x, x + 1), rel=1e-12)
    assert float(mnp.mean(np.arange(10))) == 4.5


def test_evaluate_everything_and_lazy_block(x):
    a, b = mnp.log(x), mnp.exp(x) * 2
    evaluate()
    assert a.evaluated and b.evaluated
    with lazy(piece_size=100):
        c = mnp.tanh(x)
        assert not c.evaluated
    assert c.evaluated
    np.testing.assert_array_equal(c.value, np.tanh(x))


def test_lazy_block_does_not_evaluate_after_an_error(x):
    with pytest.raises(KeyError):
        with lazy():
            c = mnp.tanh(x)
            raise KeyError("boom")
    assert not c.evaluated
    evaluate(c)


@pytest.mark.parametrize("piece_size", [64, 1000, None])
def test_in_place_out_writes_the_given_array(x, piece_size):
    out = np.zeros_like(x)
    r = mnp.multiply(x, 3.0, out=out)
    mnp.add(out, 1.0, out=out)           # reads `out` through its pending writer
    assert out.sum() == 0                # nothing written before evaluation
    evaluate(piece_size=piece_size)
    np.testing.assert_allclose(out, x * 3.0 + 1.0, rtol=1e-15)
    assert r.value is out


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_in_place_writes_across_stages_and_backends(x, backend):
    out = np.zeros_like(x)
    mnp.multiply(x, 2.0, out=out)
    y = mnp.subtract.outer(mnp.exp(x[:50]), x[:3])   # an unrelated stage in between
    mnp.add(out, mnp.sum(out), out=out)             # sum(out) is merged first: a second stage writes out again
    evaluate(backend=backend, workers=2, piece_size=700)
    np.testing.assert_allclose(out, x * 2.0 + (x * 2.0).sum(), rtol=1e-12)
    np.testing.assert_allclose(y.value, np.subtract.outer(np.exp(x[:50]), x[:3]))


@mz.sa(mz.ArraySplit(0), mz.Broadcast(), ret=mz.ArraySplit(0), dest=mz.mut(mz.ArraySplit(0)))
def add_mean_into(a, whole, dest=None):
    np.add(a, whole.mean(), out=dest)
    return dest


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_a_second_in_place_write_in_a_later_stage_of_the_same_evaluation(x, backend):
    out = np.zeros_like(x)
    mnp.multiply(x, 2.0, out=out)               # stage 1 writes out
    add_mean_into(x, out, dest=out)             # needs all of out (Broadcast): stage 2 writes out again
    evaluate(backend=backend, workers=2, piece_size=700)
    np.testing.assert_allclose(out, x + (x * 2.0).mean(), rtol=1e-12)


def test_creation_functions(x):
    np.testing.assert_array_equal(evaluate(mnp.full_like(x, 2.5) + mnp.ones_like(x)), np.full_like(x, 3.5))
    np.testing.assert_array_equal(evaluate(mnp.zeros_like(x)), np.zeros_like(x))
    np.testing.assert_array_equal(evaluate(mnp.subtract.outer(x[:40], x[:30]), piece_size=7),
                                  np.subtract.outer(x[:40], x[:30]))


def test_unannotated_names_fall_through_to_numpy_and_pandas():
    assert mnp.pi == np.pi and mnp.cumsum is np.cumsum and mpd.read_csv is pandas.read_csv


def test_pandas_chains_are_captured_and_equal_the_eager_ones():
    rng = np.random.default_rng(3)
    raw = pandas.DataFrame({"k": rng.choice(list("abcd"), 3000), "x": rng.normal(size=3000),
                            "s": pandas.Series(rng.choice(["Foo", "BAR", "baz", None], 3000)).astype("str")})
    raw.loc[::5, "x"] = np.nan
    df = mpd.DataFrame(raw)
    y = df["x"].fillna(0) * 2
    n = df["s"].str.lower().str.len()
    g = df[["k", "x"]].groupby("k").sum()
    assert all(isinstance(v, Lazy) for v in (y, n, g))
    for ps in (100, 999, None):
        pandas.testing.assert_series_equal(evaluate(df["x"].fillna(0) * 2, piece_size=ps), raw["x"].fillna(0) * 2)
    pandas.testing.assert_series_equal(evaluate(n), raw["s"].str.lower().str.len())
    pandas.testing.assert_frame_equal(evaluate(g), raw[["k", "x"]].groupby("k").sum())
    pandas.testing.assert_series_equal(evaluate(df.groupby("k")["x"].mean(), piece_size=333),
                                       raw.groupby("k")["x"].mean())
    pandas.testing.assert_series_equal(evaluate(df["k"].isin(["a", "b"]) & (df["x"] > 0)),
                                       raw["k"].isin(["a", "b"]) & (raw["x"] > 0))
    f = df[df["x"] > 0]
    f["y"] = f["x"] * 3
    expected = raw[raw.x > 0].copy()
    expected["y"] = expected["x"] * 3
    pandas.testing.assert_frame_equal(evaluate(f, piece_size=256), expected)
    pandas.testing.assert_series_equal(evaluate(df["k"].value_counts(), piece_size=256), raw["k"].value_counts())
    small = pandas.DataFrame({"k": list("abc"), "w": [1, 2, 3]})
    pandas.testing.assert_frame_equal(evaluate(df.merge(small, on="k"), piece_size=256), raw.merge(small, on="k"))
    assert float(df["x"].max()) == raw.x.max() and float(df["x"].mean()) == pytest.approx(raw.x.mean(), rel=1e-12)
    assert df.shape == raw.shape   # anything else is pandas' own, on the evaluated value


def test_value_counts_equal_pandas_in_order_and_for_row_combinations():
    rng = np.random.default_rng(11)
    for trial in range(10):                      # many ties: pandas orders them by first appearance
        s = pandas.Series(rng.integers(0, 30, 600))
        for ps in (64, 100, 1000):
            pandas.testing.assert_series_equal(evaluate(mpd.Series(s).value_counts(), piece_size=ps), s.value_counts())
    raw = pandas.DataFrame({"k": rng.choice(["a", "b"], 500), "i": rng.integers(0, 5, 500)})
    pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw)[["k", "i"]].value_counts(), piece_size=64),
                                       raw[["k", "i"]].value_counts())     # a MultiIndex of (k, i), not k alone
    pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw)["k"].value_counts(normalize=True), piece_size=64),
                                       raw["k"].value_counts(normalize=True))   # named "proportion"


def _narrow_float_frames():
    """A frame with float32, float16 and integer columns, unsorted keys; the same sorted; with a missing value;
    and float16 values whose group means fit float16 exactly."""
    rng = np.random.default_rng(13)
    n = 6_001
    raw = pandas.DataFrame({"a": rng.random(n).astype(np.float32), "b": rng.random(n).astype(np.float32),
                            "h": rng.random(n).astype(np.float16), "i": rng.integers(0, 5, n),
                            "k": rng.integers(0, 7, n)})
    ordered = raw.sort_values("k", kind="stable").reset_index(drop=True)
    return {"unsorted": raw, "sorted": ordered, "missing": raw.assign(a=raw.a.where(raw.index != 5)),
            "sorted, missing": ordered.assign(a=ordered.a.where(ordered.index != 7)),
            "exact float16": raw.assign(h=rng.integers(0, 3, n).astype(np.float16), k=rng.integers(0, 2, n))}


@pytest.mark.parametrize("case", list(_narrow_float_frames()))
def test_float32_and_float16_means_keep_the_dtype_plain_pandas_gives(case):
    raw = _narrow_float_frames()[case]
    queries = {"Series.mean": lambda d: d["a"].mean(), "float16 Series.mean": lambda d: d["h"].mean(),
               "float32 DataFrame.mean": lambda d: d[["a", "b"]].mean(), "mixed DataFrame.mean": lambda d: d.mean(),
               "groupby.mean": lambda d: d.groupby("k").mean(),
               "groupby[col].mean": lambda d: d.groupby("k")["a"].mean(),
               "groupby[float16].mean": lambda d: d.groupby("k")["h"].mean(),
               "groupby(key Series).mean": lambda d: d.groupby(d["k"])["a"].mean()}
    for name, query in queries.items():
        want = query(raw)
        for piece_size in (700, 2_500, 50_000):
            got = evaluate(query(mpd.DataFrame(raw)), piece_size=piece_size)
            if isinstance(want, pandas.DataFrame):   # dtypes exactly; values to float32 precision
                pandas.testing.assert_frame_equal(got, want, check_exact=False, rtol=2e-6, obj=name)
            elif isinstance(want, pandas.Series):
                pandas.testing.assert_series_equal(got, want, check_exact=False, rtol=2e-6, obj=name)
            else:
                assert type(got) is type(want), (name, piece_size, type(got), type(want))
                np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=name)


def test_a_dataframe_mean_and_empty_or_float16_means_equal_numpy_and_pandas():
    rng = np.random.default_rng(12)
    raw = pandas.DataFrame({"i": rng.integers(0, 9, 400), "x": rng.normal(size=400)})
    pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw)[["i", "x"]].mean(), piece_size=64),
                                       raw[["i", "x"]].mean())
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        want = np.mean(np.zeros((0, 7)), axis=0)
    np.testing.assert_array_equal(evaluate(mnp.mean(np.zeros((0, 7)), axis=0)), want)   # 7 NaN, not one
    h = np.ones(200_000, dtype=np.float16)                  # a float16 sum overflows; NumPy sums in float32
    got = evaluate(mnp.mean(h), piece_size=50_000)
    assert float(got) == float(np.mean(h)) == 1.0 and got.dtype == np.mean(h).dtype == np.float16
    with np.errstate(invalid="ignore", divide="ignore"), pytest.warns(RuntimeWarning):
        empty = np.mean(np.zeros(0, np.float32))
    assert np.isnan(evaluate(mnp.mean(np.zeros(0, np.float32)))) and empty.dtype == np.float32
    assert evaluate(mnp.mean(np.zeros(0, np.float32))).dtype == np.float32
    x32 = rng.random((3_001, 3)).astype(np.float32)
    for got, want in ((evaluate(mnp.mean(x32[:, 0]), piece_size=500), np.mean(x32[:, 0])),
                      (evaluate(mnp.mean(x32, axis=0), piece_size=500), np.mean(x32, axis=0))):
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-6)
    assert evaluate(mnp.mean(np.arange(10_000))).dtype == np.float64


@pytest.mark.parametrize("index", ["reversed", "shifted", "duplicated"])
def test_pandas_objects_with_different_indexes_align_as_pandas_does(index):
    n = 3_000
    a = pandas.Series(np.arange(float(n)))
    labels = {"reversed": np.arange(n)[::-1], "shifted": np.arange(n) + n // 2,
              "duplicated": np.repeat(np.arange(n // 2), 2)}[index]
    b = pandas.Series(np.arange(float(n)) * 10, index=labels)
    for ps in (256, None):
        pandas.testing.assert_series_equal(evaluate(mpd.Series(a) + b, piece_size=ps), a + b)
        pandas.testing.assert_series_equal(evaluate(mpd.Series(a) * 2 + mpd.Series(b), piece_size=ps), a * 2 + b)
        if index != "duplicated":               # pandas cannot assign a column with duplicate labels
            df = mpd.DataFrame(pandas.DataFrame({"x": a}))
            df["y"] = b
            ref = pandas.DataFrame({"x": a})
            ref["y"] = b
            pandas.testing.assert_frame_equal(evaluate(df, piece_size=ps), ref)
        if index == "reversed":                 # pandas refuses a mask whose labels it cannot align one to one
            mask = b > n * 5
            pandas.testing.assert_series_equal(evaluate(mpd.Series(a)[mask], piece_size=ps), a[mask])
            pandas.testing.assert_series_equal(evaluate(mpd.Series(a).where(mask, -1.0), piece_size=ps),
                                               a.where(mask, -1.0))
    # the same index (another object, equal labels) is still cut into pieces, not run eagerly
    c = pandas.Series(np.ones(n), index=pandas.Index(np.arange(n)))
    y = mpd.Series(pandas.Series(np.ones(n), index=pandas.Index(np.arange(n)))) + c
    assert isinstance(y, Lazy)
    pandas.testing.assert_series_equal(evaluate(y, piece_size=256), pandas.Series(np.full(n, 2.0)))


@pytest.mark.parametrize("workers", [1, 2])
def test_an_annotated_function_built_on_the_annotated_library_runs_on_each_piece(workers):
    # its body's calls run on the piece, eagerly: before, with 2 workers, they waited on the graph lock forever
    import concurrent.futures

    from dawnlab.mozart import Generic, sa

    @sa(Generic("S"), ret=Generic("S"))
    def softplus(a):
        return mnp.log1p(mnp.exp(a))

    x = np.linspace(-3, 3, 100_000)
    with concurrent.futures.ThreadPoolExecutor(1) as ex:
        got = ex.submit(evaluate, softplus(x), workers=workers, piece_size=4096).result(timeout=60)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, np.log1p(np.exp(x)), rtol=1e-14)


def test_numpys_own_ufunc_with_out_on_a_lazy_value_writes_the_out_array():
    x = np.linspace(0.0, 1.0, 10_000)
    buf = np.empty(10_000)
    r = np.exp(mnp.lazy_array(x) * 2.0, out=buf)        # NumPy passes out=(buf,) to __array_ufunc__
    evaluate()
    np.testing.assert_allclose(buf, np.exp(x * 2.0))
    assert np.asarray(r) is buf or np.shares_memory(np.asarray(r), buf)


def test_length_one_axes_broadcast_and_lists_are_taken_as_numpy_takes_them():
    x = np.linspace(-1.0, 1.0, 5_000)
    np.testing.assert_allclose(evaluate(mnp.add(x, np.array([2.0])), piece_size=512), x + 2.0)
    d = mnp.subtract(x[:300, None], x[None, :300])      # nBody's outer difference written with broadcasting
    np.testing.assert_allclose(evaluate(d, piece_size=64), x[:300, None] - x[None, :300])
    np.testing.assert_allclose(evaluate(mnp.add([1.0, 2.0], [3.0, 4.0])), [4.0, 6.0])
    from dawnlab.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="must have the same number of elements"):
        mnp.add(x, np.ones(7))                           # neither length 1: refused before any work


def test_a_ufuncs_where_mask_is_cut_into_the_same_pieces_as_its_inputs():
    x = np.arange(10_000.0)
    out = np.zeros(10_000)
    mnp.add(x, 1.0, where=x > 4_000, out=out)
    evaluate(piece_size=512)
    want = np.zeros(10_000)
    np.add(x, 1.0, where=x > 4_000, out=want)
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(evaluate(mnp.add(x, 1.0, where=True), piece_size=512), x + 1.0)


def test_a_lazy_float_is_no_index_and_a_0d_array_can_be_wrapped():
    with pytest.raises(TypeError):
        range(mnp.sum(np.array([0.6, 0.7])))            # NumPy refuses a float index; int() truncated it to 1
    assert [10, 20, 30][mnp.sum(np.array([1, 1]))] == 30
    assert float(mnp.lazy_array(3.0) * 2) == 6.0


@pytest.mark.parametrize("index", ["range", "duplicated", "other"])
def test_groupby_a_key_series_is_cut_with_the_frame(index):
    rng = np.random.default_rng(21)
    n = 2_000
    raw = pandas.DataFrame({"k": rng.choice(list("abc"), n), "x": rng.normal(size=n)})
    if index == "duplicated":
        raw.index = rng.integers(0, 50, n)             # broadcast whole, each piece failed to realign it
    key = raw["k"].str.upper()
    if index == "other":                               # another index: pandas aligns it, eagerly
        key = key.sample(frac=1.0, random_state=1)
    for ps in (64, None):
        pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw).groupby(key)["x"].sum(), piece_size=ps),
                                           raw.groupby(key)["x"].sum())
        pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw).groupby(key)["x"].mean(), piece_size=ps),
                                           raw.groupby(key)["x"].mean())
    lazy_key = mpd.DataFrame(raw)["k"].str.upper()     # a lazy key from the same frame
    pandas.testing.assert_series_equal(evaluate(mpd.DataFrame(raw).groupby(lazy_key)["x"].sum(), piece_size=64),
                                       raw.groupby(raw["k"].str.upper())["x"].sum())


def test_pandas_methods_that_depend_on_other_rows_run_eagerly_and_equal_pandas():
    s = pandas.Series(["a|b", "c", "a", "b|c", "d", "a"] * 3)
    pandas.testing.assert_frame_equal(evaluate(mpd.Series(s).str.get_dummies("|"), piece_size=4), s.str.get_dummies("|"))
    assert evaluate(mpd.Series(s).str.cat(sep=",")) == s.str.cat(sep=",")
    t = pandas.Series(["a b c", "d", "e f"] * 4)
    pandas.testing.assert_frame_equal(evaluate(mpd.Series(t).str.split(expand=True), piece_size=2),
                                      t.str.split(expand=True))
    raw = pandas.DataFrame({"a": [1.0, np.nan, 3.0, 4.0, 5.0, 6.0], "b": [1.0, 2.0, 3.0, 4.0, np.nan, 6.0],
                            "c": np.arange(6.0)})
    pandas.testing.assert_frame_equal(evaluate(mpd.DataFrame(raw).dropna(axis=1), piece_size=2), raw.dropna(axis=1))
    pandas.testing.assert_frame_equal(evaluate(mpd.DataFrame(raw).dropna(), piece_size=2), raw.dropna())
    k = pandas.Series(list("edcbaabcde"))
    got = evaluate(mpd.Series(k).astype("category"), piece_size=3)
    pandas.testing.assert_series_equal(got, k.astype("category"))


def test_outer_with_out_writes_the_out_array_and_ufunc_methods_fall_through():
    x, y = np.arange(6.0), np.arange(6.0) * 2
    o = np.zeros((6, 6))
    mnp.subtract.outer(x, y, out=o)                     # the result dropped: the write must still happen
    evaluate(piece_size=2)
    np.testing.assert_array_equal(o, np.subtract.outer(x, y))
    assert mnp.add.reduce(x) == np.add.reduce(x) and mnp.exp.nin == 1 and mnp.add.identity == 0
    np.testing.assert_array_equal(mnp.maximum.accumulate(mnp.lazy_array(x[::-1])), np.maximum.accumulate(x[::-1]))


def test_a_lazy_value_of_length_one_broadcasts_too():
    x = np.arange(1.0, 2_001.0) / 1_000.0
    one = np.array([0.5])
    np.testing.assert_allclose(evaluate(mnp.add(x, mnp.exp(one)), piece_size=256), x + np.exp(one))
    np.testing.assert_allclose(evaluate(mnp.exp(x) + mnp.exp(one), piece_size=256), np.exp(x) + np.exp(one))
    got = evaluate(mnp.exp(x[:200, None]) - mnp.exp(x[None, :200]), piece_size=32)
    np.testing.assert_allclose(got, np.exp(x[:200, None]) - np.exp(x[None, :200]))


def test_a_sum_of_text_with_empty_pieces_equals_pandas():
    s = pandas.Series(["a", "b", "x", "y", "z", "w", "g", "h"], dtype=object)
    keep = pandas.Series([True, True, False, False, False, False, True, True])
    assert evaluate(mpd.Series(s)[keep].sum(), piece_size=2) == s[keep].sum() == "abgh"
    assert evaluate(mpd.Series(s)[keep & False].sum(), piece_size=2) == s[keep & False].sum()


def test_a_merge_on_the_index_keeps_pandas_result_index():
    left = pandas.DataFrame({"x": np.arange(6.0)})
    right = pandas.DataFrame({"k": [0, 2, 4], "w": [1.0, 2.0, 3.0]})
    got = evaluate(mpd.DataFrame(left).merge(right, left_index=True, right_on="k", how="left"), piece_size=2)
    pandas.testing.assert_frame_equal(got, left.merge(right, left_index=True, right_on="k", how="left"))
