"""NumPy with split annotations: ``import dawnlab.mozart.numpy as np`` (arXiv 1810.12297, Section 6.1).

NumPy itself is not changed.  This module annotates NumPy's functions with
split types and re-exports everything else unchanged (``np.pi``,
``np.random``, ``np.linalg`` ... come from NumPy, eagerly):

- element-wise math (one :class:`~dawnlab.mozart.splittypes.Generic` ``S`` for
  every array argument and the result, scalars broadcast): arithmetic,
  comparisons, ``exp``, ``log``, ``sqrt``, ``power``, the trigonometric and
  hyperbolic functions, ``maximum``, ``minimum``, ``clip``, ``where``, and
  ``erf`` from SciPy; each writes pieces in place through ``out=``, and a
  caller's own ``out=`` array is an in-place (``mut``) argument: the write is
  pending like any captured call, so the array itself holds its old values
  until an evaluation runs the write (``evaluate()``, or a captured call that
  reads the array or another view of its memory, which runs the write first);
  reading the plain array before that sees the old values, since nothing can
  intercept a read of a plain NumPy array;
- reductions: ``sum``, ``mean``, ``min``, ``max`` (whole array, or ``axis=0``
  of a 2-D array, merged exactly; ``axis=1`` of a 2-D array stays split by
  rows) and 1-D ``dot``;
- creation: ``zeros_like``, ``ones_like``, ``empty_like``, ``full_like`` made
  piece by piece, and ``subtract.outer`` (and the other binary ufuncs'
  ``outer``) split by the rows of the result;
- ``roll`` along the last axis of a 2-D array (pieces are rows); along any
  other axis it crosses pieces, so it runs eagerly and ends the stage.

Examples
--------
>>> import numpy
>>> import dawnlab.mozart.numpy as np
>>> from dawnlab.mozart import evaluate
>>> x = numpy.linspace(0.0, 1.0, 5)
>>> y = np.sqrt(np.exp(x) * 2.0) + np.erf(x)
>>> numpy.allclose(evaluate(y), numpy.sqrt(numpy.exp(x) * 2.0) + __import__("scipy").special.erf(x))
True
>>> float(np.sum(x * x))
1.875
"""

from __future__ import annotations

import numpy as _np
import scipy.special as _special

from dawnlab.mozart.graph import Annotated, Lazy, _materialize, source
from dawnlab.mozart.splittypes import (ArraySplit, Broadcast, Generic, MaxReduce, MeanPartial, MeanReduce,
                                       MinReduce, SumReduce, mut)

np = _np
S = Generic("S")

_BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "mod", "power",
           "float_power", "maximum", "minimum", "fmax", "fmin", "arctan2", "hypot", "less", "less_equal",
           "greater", "greater_equal", "equal", "not_equal", "logical_and", "logical_or", "logical_xor",
           "bitwise_and", "bitwise_or", "bitwise_xor", "copysign", "ldexp", "logaddexp"]
_UNARY = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt", "square", "reciprocal",
          "absolute", "abs", "fabs", "negative", "positive", "sign", "sin", "cos", "tan", "arcsin", "arccos",
          "arctan", "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "radians", "degrees", "floor",
          "ceil", "trunc", "rint", "isnan", "isinf", "isfinite", "logical_not", "invert", "signbit"]


def _ufunc(name, uf, nin):
    ann = Annotated(uf, [S] * nin, {"out": mut(S), "where": S}, S, name=name, out="out")  # where=: a mask cut like x
    if nin == 2:
        ann.outer = Annotated(uf.outer, [ArraySplit(0), Broadcast()], {"out": mut(ArraySplit(0))}, ArraySplit(0),
                              name=f"{name}.outer", out="out", ndim=2)  # a caller's out= is written in place
    return ann


_UFUNCS: dict[str, Annotated] = {}
for _name in _BINARY:
    _UFUNCS[_name] = _ufunc(_name, getattr(_np, _name), 2)
for _name in _UNARY:
    _UFUNCS[_name] = _ufunc(_name, getattr(_np, _name), 1)
_UFUNCS["erf"] = _ufunc("erf", _special.erf, 1)
_UFUNCS["erfc"] = _ufunc("erfc", _special.erfc, 1)
globals().update(_UFUNCS)
# __array_ufunc__ dispatches by the ufunc's own name
_BY_UFUNC_NAME = {getattr(_np, n).__name__: a for n, a in _UFUNCS.items() if hasattr(_np, n)}
_UFUNCS.update(_BY_UFUNC_NAME)


def _clip(a, a_min, a_max, out=None):
    return _np.clip(a, a_min, a_max, out=out)


clip = Annotated(_clip, [S, S, S], {"out": mut(S)}, S, name="clip", out="out")
_where3 = Annotated(_np.where, [S, S, S], {}, S, name="where")


def where(condition, *args, **kwargs):
    """``numpy.where``: the three-argument form is captured element-wise; ``where(condition)`` is NumPy's
    ``nonzero`` (indices of the whole array, not of a piece) and runs eagerly."""
    if len(args) == 2 and not kwargs:
        return _where3(condition, *args)
    return _np.where(_materialize(condition), *_materialize(args), **kwargs)


def _full_like(a, fill_value, dtype=None):
    return _np.full_like(a, fill_value, dtype=dtype)


zeros_like = Annotated(lambda a, dtype=None: _np.zeros_like(a, dtype=dtype), [S], {}, S, name="zeros_like")
ones_like = Annotated(lambda a, dtype=None: _np.ones_like(a, dtype=dtype), [S], {}, S, name="ones_like")
empty_like = Annotated(lambda a, dtype=None: _np.empty_like(a, dtype=dtype), [S], {}, S, name="empty_like")
full_like = Annotated(_full_like, [S, Broadcast()], {}, S, name="full_like")


def _roll_last(a, shift):
    return _np.roll(a, shift, axis=-1)


_roll_rows = Annotated(_roll_last, [ArraySplit(0), Broadcast()], {}, ArraySplit(0), name="roll(axis=-1)")


def roll(a, shift, axis=None):
    """``numpy.roll``; captured when it moves elements within the rows of a 2-D array, eager otherwise."""
    ndim = a._ndim if isinstance(a, Lazy) else _np.ndim(a)
    if ndim == 2 and axis in (1, -1) and _np.ndim(shift) == 0:
        return _roll_rows(a, shift)
    from dawnlab.mozart.graph import _materialize

    return _np.roll(_materialize(a), shift, axis=axis)


# -- reductions -------------------------------------------------------------------------------------

def _sum_all(a):
    return _np.sum(a)


def _sum_cols(a):
    return _np.sum(a, axis=0)


def _sum_rows(a, out=None):
    return _np.sum(a, axis=1, out=out)


def _acc(a):
    """The sum's dtype NumPy's mean uses: float64 for integers, float32 for float16 (else the input's)."""
    return _np.float64 if a.dtype.kind in "biu" else (_np.float32 if a.dtype == _np.float16 else None)


def _mean_dtype(a):
    return a.dtype if a.dtype.kind in "fc" else _np.dtype(_np.float64)


def _mean_all(a):
    return MeanPartial(_np.sum(a, dtype=_acc(a)), a.size, _mean_dtype(a))


def _mean_cols(a):
    return MeanPartial(_np.sum(a, axis=0, dtype=_acc(a)), a.shape[0], _mean_dtype(a))


def _mean_rows(a, out=None):
    return _np.mean(a, axis=1, out=out)


def _min_all(a):
    return _np.min(a)


def _min_cols(a):
    return _np.min(a, axis=0)


def _min_rows(a, out=None):
    return _np.min(a, axis=1, out=out)


def _max_all(a):
    return _np.max(a)


def _max_cols(a):
    return _np.max(a, axis=0)


def _max_rows(a, out=None):
    return _np.max(a, axis=1, out=out)


def _dot1(a, b):
    return _np.dot(a, b)


_ROWS = ArraySplit(0)
_REDUCE = {
    "sum": (Annotated(_sum_all, [_ROWS], {}, SumReduce(), name="sum"),
            Annotated(_sum_cols, [_ROWS], {}, SumReduce(), name="sum(axis=0)"),
            Annotated(_sum_rows, [_ROWS], {}, _ROWS, name="sum(axis=1)", out="out", ndim=1)),
    "mean": (Annotated(_mean_all, [_ROWS], {}, MeanReduce(), name="mean"),
             Annotated(_mean_cols, [_ROWS], {}, MeanReduce(), name="mean(axis=0)"),
             Annotated(_mean_rows, [_ROWS], {}, _ROWS, name="mean(axis=1)", out="out", ndim=1)),
    "min": (Annotated(_min_all, [_ROWS], {}, MinReduce(), name="min"),
            Annotated(_min_cols, [_ROWS], {}, MinReduce(), name="min(axis=0)"),
            Annotated(_min_rows, [_ROWS], {}, _ROWS, name="min(axis=1)", out="out", ndim=1)),
    "max": (Annotated(_max_all, [_ROWS], {}, MaxReduce(), name="max"),
            Annotated(_max_cols, [_ROWS], {}, MaxReduce(), name="max(axis=0)"),
            Annotated(_max_rows, [_ROWS], {}, _ROWS, name="max(axis=1)", out="out", ndim=1)),
}
_dot = Annotated(_dot1, [_ROWS, _ROWS], {}, SumReduce(), name="dot")


def _reducer(kind):
    eager = getattr(_np, kind)

    def reduce(a, axis=None, **kwargs):
        ndim = a._ndim if isinstance(a, Lazy) else _np.ndim(a)
        if not kwargs and isinstance(a, (Lazy, _np.ndarray)) and ndim in (1, 2) and axis in (None, 0, 1, -1):
            if axis is None or (ndim == 1 and axis in (0, -1)):
                return _REDUCE[kind][0](a)
            if ndim == 2:
                return _REDUCE[kind][1 if axis == 0 else 2](a)
        from dawnlab.mozart.graph import _materialize

        return eager(_materialize(a), axis=axis, **{k: _materialize(v) for k, v in kwargs.items()})

    reduce.__name__ = kind
    reduce.__doc__ = (f"``numpy.{kind}``: captured for 1-D and 2-D arrays (whole, ``axis=0``, ``axis=1``), "
                      "eager otherwise.")
    return reduce


sum = _reducer("sum")  # noqa: A001 - the NumPy name
mean = _reducer("mean")
min = _reducer("min")  # noqa: A001
max = _reducer("max")  # noqa: A001
amin, amax = min, max


def dot(a, b):
    """``numpy.dot``: captured for two 1-D arrays (partial dot products summed), eager otherwise."""
    nd = [x._ndim if isinstance(x, Lazy) else _np.ndim(x) for x in (a, b)]
    if nd == [1, 1]:
        return _dot(a, b)
    from dawnlab.mozart.graph import _materialize

    return _np.dot(_materialize(a), _materialize(b))


def asarray(a, dtype=None):
    """A lazy value stays lazy (so chains keep pipelining); anything else is ``numpy.asarray``."""
    if isinstance(a, Lazy) and dtype is None:
        return a
    from dawnlab.mozart.graph import _materialize

    return _np.asarray(_materialize(a), dtype=dtype)


def lazy_array(a) -> Lazy:
    """Wrap a plain array as a lazy value, so that its methods and operators capture calls."""
    return source(_np.asarray(a), "numpy")


_OPERATORS = {
    "add": _UFUNCS["add"], "sub": _UFUNCS["subtract"], "mul": _UFUNCS["multiply"],
    "truediv": _UFUNCS["true_divide"], "floordiv": _UFUNCS["floor_divide"], "mod": _UFUNCS["remainder"],
    "pow": _UFUNCS["power"], "and": _UFUNCS["bitwise_and"], "or": _UFUNCS["bitwise_or"],
    "xor": _UFUNCS["bitwise_xor"], "lt": _UFUNCS["less"], "le": _UFUNCS["less_equal"],
    "gt": _UFUNCS["greater"], "ge": _UFUNCS["greater_equal"], "eq": _UFUNCS["equal"],
    "ne": _UFUNCS["not_equal"], "neg": _UFUNCS["negative"], "pos": _UFUNCS["positive"],
    "abs": _UFUNCS["absolute"], "invert": _UFUNCS["invert"],
}

_FUNCTIONS = {"where": where, "clip": clip, "sum": sum, "mean": mean, "min": min, "max": max, "amin": min,
              "amax": max, "dot": dot, "zeros_like": zeros_like, "ones_like": ones_like,
              "empty_like": empty_like, "full_like": full_like, "roll": roll}

_METHODS = {"sum": sum, "mean": mean, "min": min, "max": max, "dot": dot, "clip": clip}


def _method(value, name):
    f = _METHODS.get(name)
    if f is None:
        return None
    return lambda *args, **kwargs: f(value, *args, **kwargs)


def __getattr__(name):
    """Everything not annotated here is NumPy's own, unchanged."""
    return getattr(_np, name)


def __dir__():
    return sorted(set(globals()) | set(dir(_np)))
