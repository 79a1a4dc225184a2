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
                                             r"DataFrame, or a scalar .*Got list"):
        mnp.exp([1.0, 2.0])

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
