"""Bad input: errors that name the function, argument, rule and value, and lose nothing."""

import numpy as np
import pytest

import dawnlab.mozart as mz
import dawnlab.mozart.numpy as mnp
from dawnlab.errors import InvalidArgument
from dawnlab.mozart import AnnotationError, ArraySplit, Generic, PieceError, SplitTypeError, evaluate, sa

S = Generic("S")
CALLS = []


def test_annotation_arity_must_match_the_function():
    with pytest.raises(AnnotationError, match=r"annotation of two_args must give a split type for each of its 2 "
                                              r"required positional arguments \['a', 'b'\]\. Got 1"):
        @sa(S, ret=S)
        def two_args(a, b):
            return a + b
    with pytest.raises(AnnotationError, match=r"annotation of one_arg must give at most 1 positional .* Got 3"):
        @sa(S, S, S, ret=S)
        def one_arg(a):
            return a
    with pytest.raises(AnnotationError, match=r"keyword annotations of kw must name its parameters .*\['nope'\]"):
        @sa(S, ret=S, nope=S)
        def kw(a):
            return a
    with pytest.raises(AnnotationError, match="must hold split types only. Got 'S'"):
        sa("S", ret=S)(lambda a: a)
    with pytest.raises(AnnotationError, match=r"'ret' argument of sa must be a split type"):
        sa(S, ret=int)
    with pytest.raises(AnnotationError, match=r"arguments of add must be at most 2 positional values.*Got 3"):
        mnp.add(np.ones(2), np.ones(2), np.ones(2))


def test_lengths_that_disagree_are_refused_before_any_work():
    CALLS.clear()

    @sa(S, S, ret=S)
    def record(a, b):
        CALLS.append(len(a))
        return a + b

    before = len(mz.pending())
    y = mnp.exp(np.ones(10))
    with pytest.raises(InvalidArgument, match=r"split arguments of record must have the same number of elements "
                                              r".*'a' has 10, 'b' has 11"):
        record(y, np.ones(11))
    assert CALLS == [] and not y.evaluated and len(mz.pending()) == before + 1
    np.testing.assert_array_equal(evaluate(y), np.exp(np.ones(10)))


def test_a_split_type_applied_to_a_value_it_cannot_split():
    with pytest.raises(SplitTypeError, match=r"'x1' argument of exp must be a NumPy array, a pandas Series or "
                                             r"DataFrame, or a scalar .*Got dict"):
        mnp.exp({"a": 1.0})
    np.testing.assert_allclose(evaluate(mnp.exp([1.0, 2.0])), np.exp([1.0, 2.0]))   # a list, as NumPy takes it

    @sa(ArraySplit(1), ret=ArraySplit(1))
    def cols(a):
        return a

    with pytest.raises(SplitTypeError, match=r"'a' argument of cols must be a value that ArraySplit\(axis=1\) "
                                             r"can split. Got an array of shape \(4,\)"):
        cols(np.ones(4))


def test_bad_options_are_named():
    y = mnp.exp(np.ones(4))
    with pytest.raises(InvalidArgument, match=r"'workers' argument of dawnlab.mozart must be a positive int"):
        evaluate(y, workers=0)
    with pytest.raises(InvalidArgument, match=r"'piece_size' .* Got -5"):
        evaluate(y, piece_size=-5)
    with pytest.raises(InvalidArgument, match=r"'backend' .* Got 'gpu'"):
        evaluate(y, backend="gpu")
    with pytest.raises(InvalidArgument, match=r"'client' .*backend='dask'"):
        evaluate(y, backend="dask")
    assert not y.evaluated


FAIL_AT = {"value": None}


@sa(S, ret=S)
def fragile(a):
    if FAIL_AT["value"] is not None and (a == FAIL_AT["value"]).any():
        raise ZeroDivisionError("bad element")
    return a * 2


@pytest.mark.parametrize("workers", [1, 2])
def test_an_exception_in_one_piece_names_the_call_and_range_and_commits_nothing(workers):
    x = np.arange(1000.0)
    target = np.full(1000, -1.0)
    FAIL_AT["value"] = 537.0
    first = mnp.exp(x / 1000)                           # an earlier stage of the same evaluation
    outer = mnp.subtract.outer(first, first[:3])        # Broadcast use of first[:3] -> first is its own stage
    y = fragile(x + 1.0)
    mnp.multiply(y, 1.0, out=target)                    # an in-place write
    s = mnp.sum(y)
    with pytest.raises(PieceError, match=r"fragile raised ZeroDivisionError on the piece \[500, 600\): bad element. "
                                         r"Nothing was committed") as info:
        evaluate(piece_size=100, workers=workers)  # everything pending, the in-place write included
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert (info.value.function, info.value.start, info.value.end) == ("fragile", 500, 600)
    assert (target == -1.0).all()                       # no partial in-place write
    assert not y.evaluated and not s.evaluated and not outer.evaluated
    pending = {n.id for n in mz.pending()}
    assert {y._node.id, s._node.id, outer._node.id} <= pending
    FAIL_AT["value"] = None                             # the graph is consistent: fixing the cause is enough
    assert evaluate(s, piece_size=100, workers=workers) == pytest.approx(((x + 1.0) * 2).sum())
    evaluate(piece_size=100, workers=workers)
    np.testing.assert_array_equal(target, (x + 1.0) * 2)
    np.testing.assert_array_equal(outer.value, np.subtract.outer(np.exp(x / 1000), np.exp(x / 1000)[:3]))


def test_processes_report_the_failing_piece_too():
    from dawnlab.mozart import runtime

    runtime._close_process_pools()   # a kept pool was forked before FAIL_AT changed: its workers see the old one
    x = np.arange(5000.0)
    FAIL_AT["value"] = 4321.0
    try:
        with pytest.raises(PieceError, match=r"fragile raised ZeroDivisionError on the piece \[4292, 4548\)") as info:
            evaluate(fragile(x), backend="processes", workers=2, piece_size=256)  # blocks [0, 2500), [2500, 5000)
        assert info.value.start <= 4321 < info.value.end and info.value.end - info.value.start == 256
    finally:
        FAIL_AT["value"] = None


def test_a_write_into_a_captured_array_before_evaluation_is_refused_not_silently_read():
    import dawnlab.mozart.numpy as mnp
    from dawnlab.errors import InvalidArgument
    from dawnlab.mozart import evaluate, pending

    a = np.ones(10_000)
    y = mnp.exp(a) + 1.0
    a[5_000:] = 0.0                       # NumPy's y would be e + 1 everywhere
    with pytest.raises(InvalidArgument, match=r"'x1' argument of exp was written after the call was captured"):
        evaluate(y)
    assert y._node.id in {n.id for n in pending()}   # nothing run, nothing dropped
    a[5_000:] = 1.0                       # put back: the captured call now reads what it was given
    np.testing.assert_allclose(evaluate(y), np.exp(np.ones(10_000)) + 1.0)


def test_in_place_writes_through_mozart_are_not_mistaken_for_outside_writes():
    import dawnlab.mozart.numpy as mnp
    from dawnlab.mozart import evaluate

    a = np.arange(5_000.0)
    before = mnp.sqrt(a)                  # reads the old a
    mnp.add(a, 1.0, out=a)                # a pending in-place write through Mozart
    after = mnp.sqrt(a)                   # reads the new a
    got_before, got_after = evaluate(before), evaluate(after)
    np.testing.assert_allclose(got_before, np.sqrt(np.arange(5_000.0)))
    np.testing.assert_allclose(got_after, np.sqrt(np.arange(5_000.0) + 1.0))


def test_a_call_that_read_an_array_before_a_pending_in_place_write_runs_with_it():
    # evaluating the later reader commits the write; the earlier reader must still see the old values
    import dawnlab.mozart.numpy as mnp
    from dawnlab.mozart import evaluate, pending

    a = np.arange(5_000.0)
    before = mnp.sqrt(a)
    mnp.add(a, 1.0, out=a)
    after = mnp.sqrt(a)
    np.testing.assert_allclose(evaluate(after), np.sqrt(np.arange(5_000.0) + 1.0))
    # the earlier reader ran in the same evaluation (other tests may leave their own nodes pending)
    assert before._node.id not in {n.id for n in pending()}
    np.testing.assert_allclose(evaluate(before), np.sqrt(np.arange(5_000.0)))


# -- writes into captured pandas objects and lazy-wrapped arrays ---------------------------------------------

def test_a_write_into_a_wrapped_frame_leaves_the_captured_chain_as_plain_pandas_would():
    # mozart.pandas.DataFrame(df) behaves as pandas.DataFrame(df) under copy on write: later writes into df
    # (a cell, a whole column, a Series' rows) do not reach the wrapped frame, in pandas or here
    import pandas as pd

    import dawnlab.mozart.pandas as mpd

    for write in (lambda f: f.__setitem__("x", -1.0), lambda f: f.loc.__setitem__((0, "x"), 100.0),
                  lambda f: f.iloc.__setitem__((slice(10, 20), 0), 7.0)):
        df = pd.DataFrame({"x": np.arange(1_000.0), "k": np.arange(1_000) % 3})
        plain_df = pd.DataFrame(df)
        want = plain_df["x"] * 2 + plain_df["k"]
        y = (lambda f: f["x"] * 2 + f["k"])(mpd.DataFrame(df))
        write(df)
        assert not want.equals(df["x"] * 2 + df["k"])       # the write did change df
        pd.testing.assert_series_equal(evaluate(y), want)
    s = pd.Series(np.arange(1_000.0))
    y = mpd.Series(s) + 1
    s.iloc[:3] = 7.0
    pd.testing.assert_series_equal(evaluate(y), pd.Series(np.arange(1_000.0)) + 1)


def test_a_write_into_a_plain_series_a_pending_call_reads_is_refused_and_loses_nothing():
    import pandas as pd

    import dawnlab.mozart.pandas as mpd
    from dawnlab.mozart import pending

    s = pd.Series(np.arange(2_000.0))
    y = mpd.Series(pd.Series(np.ones(2_000))) + s       # s is read plain, when y is evaluated
    s.iloc[-1] = -5.0                                   # the last row is always sampled
    with pytest.raises(InvalidArgument, match=r"'b' argument of add was written after the call was captured.*"
                                              r"pandas the old ones.*a Series of shape \(2000,\)"):
        evaluate(y)
    assert y._node.id in {n.id for n in pending()}
    s.iloc[-1] = 1_999.0
    pd.testing.assert_series_equal(evaluate(y), pd.Series(np.arange(2_000.0)) + 1)


@pytest.mark.parametrize("change", ["cell", "dtype", "new column", "index", "rows"])
def test_a_frame_changed_after_capture_is_refused(change):
    import pandas as pd

    import dawnlab.mozart.pandas as mpd

    f = pd.DataFrame({"x": np.arange(500.0), "y": np.arange(500.0)})
    z = mpd.Series(pd.Series(np.ones(500))) + mpd.DataFrame(pd.DataFrame({"x": np.ones(500)}))["x"]
    w = mpd.fillna(f, 0.0)                              # a plain frame read by a captured call
    if change == "cell":
        f.loc[0, "y"] = -1.0
    elif change == "dtype":
        f["x"] = f["x"].astype("float32")
    elif change == "new column":
        f["z"] = 1.0
    elif change == "index":
        f.index = f.index + 1
    else:
        f.drop(index=[3], inplace=True)
    with pytest.raises(InvalidArgument, match=r"argument of fillna was written after the call was captured"):
        evaluate(w)
    np.testing.assert_allclose(evaluate(z), np.full(500, 2.0))    # the other chain is untouched


def test_a_write_through_the_numpy_array_a_frame_shares_is_refused():
    # built with copy=False, the frame shares the array: no copy on write protects it, the check does
    import pandas as pd

    import dawnlab.mozart.pandas as mpd

    a = np.arange(1_000.0)
    y = mpd.DataFrame(pd.DataFrame({"x": a}, copy=False))["x"] * 2
    a[0] = 50.0
    with pytest.raises(InvalidArgument, match=r"'df' argument of getitem was written after the call was captured"):
        evaluate(y)
    a[0] = 0.0
    np.testing.assert_allclose(evaluate(y), np.arange(1_000.0) * 2)


def test_a_write_into_a_lazy_wrapped_array_or_an_evaluated_result_is_refused():
    a = np.ones(10_000)
    y = mnp.exp(mnp.lazy_array(a)) + 1.0                # the workloads' way in: lazy_array
    a[-1] = 0.0
    with pytest.raises(InvalidArgument, match=r"argument of exp was written after the call was captured"):
        evaluate(y)
    a[-1] = 1.0
    np.testing.assert_allclose(evaluate(y), np.exp(np.ones(10_000)) + 1.0)
    r = evaluate(y)                                     # a result handed back, read by a later pending call
    z = y * 2.0
    r[0] = -3.0
    with pytest.raises(InvalidArgument, match=r"argument of multiply was written after the call was captured"):
        evaluate(z)


def test_a_lazy_wrapped_array_with_a_pending_in_place_write_is_read_after_it():
    a = np.arange(1_000.0) / 100.0
    b = np.zeros(1_000)
    mnp.exp(a, out=b)                                   # pending: b becomes exp(a) when it is evaluated
    c = mnp.lazy_array(b) + 1.0                         # NumPy would read the written b
    np.testing.assert_allclose(evaluate(c), np.exp(a) + 1.0)
    np.testing.assert_allclose(b, np.exp(a))


def test_a_pending_write_into_a_view_is_seen_by_a_later_reader_of_the_whole_array():
    a = np.zeros(6_000)
    v = a[2_000:]
    mnp.add(v, 1.0, out=v)                              # pending: a[2000:] becomes 1
    y = mnp.exp(a)                                      # NumPy reads a after the write
    want = np.exp(np.r_[np.zeros(2_000), np.ones(4_000)])
    np.testing.assert_allclose(evaluate(y, piece_size=512), want)
    # and a reader captured before a write through a view runs with the old values, in the same evaluation
    b = np.zeros(6_000)
    before = mnp.exp(b)
    w = b[:3_000]
    evaluate(mnp.add(w, 2.0, out=w))                    # commits the write: the earlier reader runs with it
    assert before.evaluated
    np.testing.assert_allclose(evaluate(before), np.ones(6_000))
    np.testing.assert_allclose(b, np.r_[np.full(3_000, 2.0), np.zeros(3_000)])


def test_a_call_that_does_not_fit_its_functions_signature_is_refused_at_capture():
    @sa(S, S, ret=S)
    def fma(a, b):
        return a * b + 1.0

    x = np.ones(3_000)
    for call in (lambda: fma(x), lambda: fma(x, x, c=1), lambda: fma(x, a=x)):
        with pytest.raises(AnnotationError, match=r"The call of fma must match its signature fma\(a, b\)"):
            call()

    @sa(ret=S)
    def first(*xs):
        return xs[0]

    assert first(x) is not None and np.array_equal(evaluate(first(x)), x)   # no split type: passed whole


def test_where_with_one_argument_is_numpys_nonzero_of_the_whole_array():
    x = np.array([1.0, -1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0])
    got = mnp.where(mnp.lazy_array(x) > 0)
    assert isinstance(got, tuple) and len(got) == 1
    np.testing.assert_array_equal(got[0], np.where(x > 0)[0])
    np.testing.assert_array_equal(evaluate(mnp.where(x > 0, x, 0.0), piece_size=2), np.where(x > 0, x, 0.0))


def test_discard_drops_a_failing_chain_so_later_evaluations_run_again():
    from dawnlab.mozart import discard, pending

    x = np.arange(10.0)
    out = np.zeros(10)
    FAIL_AT["value"] = 7.0
    try:
        f = fragile(x)
        mnp.multiply(f, 1.0, out=out)                   # a pending in-place write fed by a failing call
        other = mnp.sqrt(np.arange(9.0))                # an unrelated pending call
        with pytest.raises(PieceError, match=r"still pending \(dawnlab.mozart.discard\(\) drops them\)"):
            evaluate(piece_size=2)
        with pytest.raises(PieceError):                 # the failing chain is met again by every evaluation
            evaluate(mnp.add(out, 0.0), piece_size=2)
    finally:
        FAIL_AT["value"] = None
    failing = {f._node.id} | {n.id for n in pending() if n.mut_root is out}   # (earlier tests leave their own)
    assert len(failing) == 2 and failing <= {n.id for n in pending()}
    assert discard(f) >= 2                              # f, its reader the write, and the add that read out
    assert not failing & {n.id for n in pending()}
    np.testing.assert_array_equal(out, np.zeros(10))    # the dropped write never happened
    np.testing.assert_array_equal(evaluate(mnp.add(out, 1.0), piece_size=2), np.ones(10))
    assert not f.evaluated
    with pytest.raises(InvalidArgument, match="discarded"):
        evaluate(f)
    with pytest.raises(InvalidArgument, match=r"'x1' argument of add must be a value that was not discarded"):
        mnp.add(f, 1.0)
    np.testing.assert_allclose(evaluate(other), np.sqrt(np.arange(9.0)))   # not needed by the chain: kept


def test_a_lambda_on_the_process_backend_is_refused_naming_the_rule():
    f = sa(S, ret=S)(lambda a: a * 2.0)
    y = f(np.arange(2_000.0))
    with pytest.raises(InvalidArgument, match=r"backend.*'processes' only for functions and broadcast values that "
                                              r"pickle.*backend='threads'"):
        evaluate(y, backend="processes", workers=2, piece_size=256)
    np.testing.assert_allclose(evaluate(y), np.arange(2_000.0) * 2.0)   # still pending, runs on threads


def test_discard_keeps_what_other_live_values_still_need():
    from dawnlab.mozart import discard

    x = np.linspace(0.0, 1.0, 3_000)
    t = mnp.exp(x)
    y = t + 1.0
    z = t * 2.0
    w = y * 3.0                                         # reads y: dropped with it
    assert discard(y) == 2
    assert not y.evaluated and not w.evaluated
    np.testing.assert_allclose(evaluate(z), np.exp(x) * 2.0)   # z and the t it shares with y are kept
    np.testing.assert_allclose(evaluate(t), np.exp(x))
    with pytest.raises(InvalidArgument, match="discarded"):
        evaluate(w)
