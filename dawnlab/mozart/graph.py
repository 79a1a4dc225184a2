"""Annotations, lazy values and the task graph (arXiv 1810.12297, Sections 3-4).

:func:`sa` annotates an unmodified function with one split type per argument and
one for its result.  Calling the annotated function does not run it: it
records a :class:`Node` in the task graph and returns a :class:`Lazy` value.
Split types are resolved when a call is captured: a :class:`Generic` binds to
the split type of the value it meets (a lazy argument's producer's result type,
or :func:`default_split_type` of a plain value), and the lengths of all split
arguments of one call must agree, which is checked before any work starts.

pandas aligns objects on their index labels while Mozart cuts them by
position, so the split pandas arguments of one call must carry the same
index (the same object or equal labels; a lazy value carries the index of
the plain value its rows come from); otherwise the call runs eagerly and
pandas aligns them.  Plain NumPy and pandas arguments are sampled at capture
(:func:`check_unchanged`), so a write into one before evaluation is refused.

Every split argument also carries an *index-space key*: a plain value's key is
its length; a result whose pieces keep their inputs' elements (``aligned``,
e.g. ``exp``) has its inputs' key; a result of different length (a boolean
filter) gets a fresh key.  The planner pipelines two values through one stage
only when their keys agree, so piece ``i`` of every value holds the same
elements.

A lazy value is evaluated when it is used: ``__array__``, indexing (of a NumPy
value), ``len``, ``repr``, ``float``/``int``/``bool``, iteration, or passing it
to a function that is not annotated; on :func:`evaluate`; and on leaving a
:func:`lazy` block.  A lazy value that nothing uses any more is dropped, never
computed (so an error NumPy would raise in an unused intermediate does not
appear).  Pending calls can be dropped on purpose with :func:`discard`.  The
graph keeps only the nodes that are pending; a node's
result is stored when its evaluation has fully succeeded (nothing is committed
if any piece fails).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import operator
import threading
import weakref

import numpy as np
import pandas as pd

from dawnlab.errors import InvalidArgument
from dawnlab.mozart.splittypes import (ArraySplit, Broadcast, RowSplit, Generic, Mut, Reduce, SplitType, SplitTypeError,
                                       default_split_type)

__all__ = ["sa", "Annotated", "Lazy", "Node", "AnnotationError", "evaluate", "lazy", "pending", "discard", "GRAPH"]


class AnnotationError(InvalidArgument):
    """An annotation does not fit its function (arity, unknown keyword, not a split type)."""


class Node:
    """One captured call: the function, its arguments (plain values or producer nodes) and split types."""

    __slots__ = ("id", "annotated", "args", "kwargs", "in_types", "out_type", "key", "lazy_ref",
                 "value", "done", "mut_root", "in_key", "prints", "row_index", "__weakref__")

    def __init__(self, annotated, args, kwargs, in_types, out_type, key, mut_root=None, in_key=None):
        self.id = next(GRAPH.ids)
        self.in_key = in_key        # index-space key shared by the split arguments
        self.prints = ()            # (argument name, object, fingerprint) of the arrays and frames it reads
        self.annotated = annotated
        self.args = args            # list: plain values or Node
        self.kwargs = kwargs        # dict: plain values or Node
        self.in_types = in_types    # list of resolved split types, positional then keyword order
        self.out_type = out_type
        self.key = key              # index-space key of the split arguments (int length or a token)
        self.lazy_ref = None
        self.value = None
        self.done = False
        self.mut_root = mut_root    # the array a mut argument writes into, if any
        self.row_index = None       # the pandas index of its rows, where they are a plain value's (aligned)

    @property
    def name(self) -> str:
        return self.annotated.name

    def inputs(self):
        """(argument name, value-or-Node, split type) for every argument, positional then keyword."""
        names = self.annotated.arg_names(len(self.args))
        items = list(zip(names, self.args)) + list(self.kwargs.items())
        return [(n, v, t) for (n, v), t in zip(items, self.in_types)]

    def __repr__(self):
        return f"<Node {self.id} {self.name} -> {self.out_type!r}{' done' if self.done else ''}>"


IN_PIECE = threading.local()   # depth > 0 while this thread runs a stage's calls on a piece (runtime)


class _Graph:
    """The pending nodes, in capture order (which is a topological order)."""

    def __init__(self):
        self.lock = threading.RLock()
        self.ids = itertools.count(1)
        # weak: a node no lazy value and no pending consumer can reach is dropped, never computed
        self.pending: weakref.WeakValueDictionary[int, Node] = weakref.WeakValueDictionary()
        self.writers: dict[int, tuple[np.ndarray, Node]] = {}  # id(array) -> (array, last pending writer)

    def add(self, node: Node) -> None:
        with self.lock:
            self.pending[node.id] = node


GRAPH = _Graph()


class Annotated:
    """A function with split annotations; calling it captures a lazy call.

    Build it with :func:`sa`.  ``out`` names the keyword through which the
    function can write its result into a given array (NumPy's ``out=``); the
    runtime then writes pieces straight into preallocated outputs.  ``aligned``
    says whether the result's pieces hold the same elements as the split
    inputs' (True for element-wise functions, False for a filter).
    """

    def __init__(self, func, arg_types, kw_types, ret, *, name=None, out=None, aligned=True, ops=None, ndim=None):
        self.func = func
        self.ndim = ndim
        self.arg_types = list(arg_types)
        self.kw_types = dict(kw_types)
        self.ret = ret
        self.name = name or getattr(func, "__name__", repr(func))
        self.out = out
        self.aligned = aligned
        self.ops = ops
        self._names, self._varargs = _signature(func, self.name, self.arg_types, self.kw_types)
        try:
            self._sig = None if isinstance(func, np.ufunc) else inspect.signature(func)
        except (TypeError, ValueError):
            self._sig = None
        functools.update_wrapper(self, func, assigned=("__doc__", "__module__"), updated=())

    def __getattr__(self, name):
        # what is not annotated is the function's own: a ufunc's reduce, accumulate, at, nin, identity ...
        if name.startswith("__") or name in ("func", "outer"):
            raise AttributeError(name)
        attr = getattr(self.__dict__.get("func"), name)
        if callable(attr):
            return lambda *args, **kwargs: attr(*_materialize(args), **{k: _materialize(v) for k, v in kwargs.items()})
        return attr

    def arg_names(self, n: int) -> list[str]:
        names = list(self._names[:n])
        return names + [f"args[{i}]" for i in range(len(names), n)]

    def __repr__(self):
        types = ", ".join(map(repr, self.arg_types))
        return f"<sa {self.name}({types}) -> {self.ret!r}>"

    def __call__(self, *args, **kwargs):
        if len(args) > len(self.arg_types) and not self._varargs:
            raise AnnotationError(
                f"The arguments of {self.name} must be at most {len(self.arg_types)} positional values "
                f"(one per annotated split type). Got {len(args)} instead.")
        if self._sig is not None:
            try:  # a call its function would refuse is refused now, where it is made, not inside a piece later
                self._sig.bind(*args, **kwargs)
            except TypeError as exc:
                raise AnnotationError(
                    f"The call of {self.name} must match its signature {self.name}{self._sig}. Got "
                    f"{len(args)} positional argument(s) and keyword(s) {sorted(kwargs)}: {exc}.") from None
        if getattr(IN_PIECE, "depth", 0):
            # called from inside a piece (an annotated function built on an annotated library): the piece is
            # already cut, so run on it now; capturing here would wait on the graph lock the evaluation holds
            return self.eager(*args, **kwargs)
        return capture(self, list(args), dict(kwargs))

    def eager(self, *args, **kwargs):
        """Call the function now on plain values (lazy arguments are evaluated first)."""
        args, kwargs = _materialize(args), {k: _materialize(v) for k, v in kwargs.items()}
        result = self.func(*args, **kwargs)
        ret = _base(self.ret)
        if isinstance(ret, Reduce):  # one partial (a mean's sum and count) is merged like the pieces' would be
            result = ret.merge([result])
        return result


def _signature(func, name, arg_types, kw_types):
    for t in [*arg_types, *kw_types.values()]:
        if not isinstance(t, SplitType):
            raise AnnotationError(f"The annotation of {name} must hold split types only. Got {t!r} instead.")
    if isinstance(func, np.ufunc):
        names, varargs, keywords = [f"x{i + 1}" for i in range(func.nin)], False, True
    else:
        try:
            sig = inspect.signature(func)
        except (TypeError, ValueError):
            return [f"args[{i}]" for i in range(len(arg_types))], True
        params = list(sig.parameters.values())
        names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        varargs = any(p.kind == p.VAR_POSITIONAL for p in params)
        keywords = any(p.kind == p.VAR_KEYWORD for p in params)
        required = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                    and p.default is p.empty]
        if len(arg_types) < len(required):
            raise AnnotationError(
                f"The annotation of {name} must give a split type for each of its {len(required)} required "
                f"positional arguments {required}. Got {len(arg_types)} split type(s) instead.")
        kw_names = {p.name for p in params if p.kind == p.KEYWORD_ONLY} | set(names)
        unknown = sorted(set(kw_types) - kw_names)
        if unknown and not keywords:
            raise AnnotationError(f"The keyword annotations of {name} must name its parameters {sorted(kw_names)}. "
                                  f"Got {unknown} instead.")
    if len(arg_types) > len(names) and not varargs:
        raise AnnotationError(
            f"The annotation of {name} must give at most {len(names)} positional split type(s), one per "
            f"positional argument {names}. Got {len(arg_types)} instead.")
    return names, varargs


def sa(*arg_types: SplitType, ret: SplitType, out: str | None = None, aligned: bool = True,
       name: str | None = None, **kw_types: SplitType):
    """Annotate a function with split types: one per positional argument, keywords by name, one for ``ret``.

    Parameters
    ----------
    *arg_types : SplitType
        One split type per positional argument, in order.
    ret : SplitType
        The result's split type (a :class:`~dawnlab.mozart.splittypes.Reduce` for a reduction).
    out : str, optional
        The keyword through which the function writes into a given output array.
    aligned : bool
        Whether piece ``i`` of the result holds the elements of piece ``i`` of the inputs.
    name : str, optional
        The name shown in errors and :func:`~dawnlab.mozart.planner.explain` (default: ``__name__``).
    **kw_types : SplitType
        Split types of keyword arguments; a keyword without one is broadcast.

    Returns
    -------
    callable
        A decorator returning an :class:`Annotated`.

    Raises
    ------
    AnnotationError
        If the number of split types does not match the function's positional
        arguments, a keyword names no parameter, or a type is not a split type.

    Examples
    --------
    >>> import numpy as np
    >>> from dawnlab.mozart import sa, Generic, evaluate
    >>> S = Generic("S")
    >>> @sa(S, S, ret=S)
    ... def fma(a, b):
    ...     return a * b + b
    >>> x = fma(np.arange(4.0), np.ones(4))
    >>> evaluate(x).tolist()
    [1.0, 2.0, 3.0, 4.0]
    >>> sa(S, ret=S)(lambda a, b: a + b)
    Traceback (most recent call last):
    ...
    dawnlab.mozart.graph.AnnotationError: The annotation of <lambda> must give a split type for each of its 2 required positional arguments ['a', 'b']. Got 1 split type(s) instead.
    """
    if not isinstance(ret, SplitType):
        raise AnnotationError(f"The 'ret' argument of sa must be a split type. Got {ret!r} instead.")

    def decorate(func):
        return Annotated(func, arg_types, kw_types, ret, name=name, out=out, aligned=aligned)

    return decorate


# ---------------------------------------------------------------------------------------------------
# capture


def _base(t: SplitType) -> SplitType:
    return t.inner if isinstance(t, Mut) else t


def capture(ann: Annotated, args: list, kwargs: dict):
    """Record one call of ``ann`` and return its :class:`Lazy` result (or the plain result if nothing splits)."""
    with GRAPH.lock:
        for attempt in range(2):
            try:
                return _capture(ann, args, kwargs)
            except _Conflict as conflict:
                # a lazy argument's split type or index space does not fit: evaluate it (ending its
                # stage) and capture again on the plain value
                for where in conflict.args[0]:
                    if isinstance(where, int):
                        args[where] = _materialize(args[where])
                    else:
                        kwargs[where] = _materialize(kwargs[where])
        raise AssertionError("capture did not settle")  # pragma: no cover


class _Conflict(Exception):
    pass


def _capture(ann, args, kwargs):
    names = ann.arg_names(len(args))
    slots = [(i, names[i], v, ann.arg_types[i] if i < len(ann.arg_types) else
              (ann.arg_types[-1] if ann.arg_types else Broadcast()))
             for i, v in enumerate(args)]
    slots += [(k, k, v, ann.kw_types.get(k, Broadcast())) for k, v in kwargs.items()]
    for where, nm, v, t in slots:
        if isinstance(v, Lazy):
            _refuse_discarded(v._node, f"{nm!r} argument of {ann.name}")
    # a list or tuple where NumPy takes an array-like: as NumPy would see it
    if ann.ops != "pandas":
        slots = [(where, nm, np.asarray(v) if isinstance(v, (list, tuple)) and isinstance(_base(t), Generic) else v, t)
                 for where, nm, v, t in slots]
    # a plain array sharing memory with the target of a pending in-place write, but not that array object
    # (``a`` where ``a[2:]`` is written): the write runs first, so the call reads what NumPy would
    for where, nm, v, t in slots:
        plain = _plain_input(v)
        if isinstance(plain, np.ndarray) and GRAPH.writers and not (
                id(plain) in GRAPH.writers and GRAPH.writers[id(plain)][0] is plain):
            overlapping = [node for root, node in list(GRAPH.writers.values())
                           if root is not plain and np.may_share_memory(root, plain)]
            if overlapping:
                evaluate_nodes(overlapping)
    # a plain array with a pending in-place writer is read through that writer
    values = []
    for where, nm, v, t in slots:
        plain = _plain_input(v)  # also an array wrapped by lazy_array
        if isinstance(plain, np.ndarray) and id(plain) in GRAPH.writers and GRAPH.writers[id(plain)][0] is plain:
            writer = GRAPH.writers[id(plain)][1]
            alive = writer.lazy_ref() if writer.lazy_ref is not None else None
            v = alive if alive is not None else _Writer(writer)
        values.append(v)
    # a reduction's result is needed whole by whoever uses it: evaluate it first
    forced = [where for (where, *_), v in zip(slots, values)
              if isinstance(v, (Lazy, _Writer)) and isinstance(_node_of(v).out_type, Reduce)]
    if forced:
        raise _Conflict(forced)
    # resolve generics
    bound: dict[str, list] = {}
    for (where, nm, v, t), value in zip(slots, values):
        if isinstance(_base(t), Generic):
            bound.setdefault(_base(t).name, []).append((where, nm, value))
    binding: dict[str, SplitType] = {}
    ndim_of = {}
    for gname, members in bound.items():
        found = []
        for where, nm, value in members:
            if isinstance(value, (Lazy, _Writer)):
                st = _node_of(value).out_type
                ndim_of[where] = getattr(value, "_ndim", None)
            else:
                st = default_split_type(value)
                if st is None:
                    raise SplitTypeError(
                        f"The {nm!r} argument of {ann.name} must be a NumPy array, a pandas Series or DataFrame, "
                        f"or a scalar (split type {Generic(gname)!r}). Got {type(value).__name__} {value!r:.60} "
                        "instead.")
                ndim_of[where] = np.ndim(value) if isinstance(value, np.ndarray) else None
            found.append((where, nm, st))
        splitting = [(w, nm, st) for w, nm, st in found if st.splits]
        # NumPy broadcasting: an array of fewer dimensions than the others meets them along trailing axes,
        # so it is passed whole to pieces cut along the first axis
        dims = [ndim_of.get(w) for w, _, _ in splitting if ndim_of.get(w) is not None]
        if dims and len(set(dims)) > 1:
            top = max(dims)
            splitting = [(w, nm, st) for w, nm, st in splitting
                         if ndim_of.get(w) is None or ndim_of.get(w) == top or getattr(st, "axis", 0) != 0]
        kinds = {st for _, _, st in splitting}
        if len(kinds) > 1:
            lazy_members = [w for (w, nm, st) in splitting
                            if isinstance(values[_pos(slots, w)], (Lazy, _Writer))]
            if lazy_members:
                raise _Conflict(lazy_members)
            # plain values of different kinds (a Series and an array): the library itself decides, eagerly
            return ann.eager(*values[:len(args)], **dict(zip(kwargs, values[len(args):])))
        binding[gname] = kinds.pop() if kinds else Broadcast()
        binding[(gname, "members")] = {w for w, _, _ in splitting}
    # resolved types, lengths and keys
    in_types, keys, mut_root = [], [], None
    for (where, nm, v, t), value in zip(slots, values):
        base = _base(t)
        if isinstance(base, Generic):
            rt = binding[base.name] if where in binding[(base.name, "members")] else Broadcast()
        else:
            rt = base
        if isinstance(value, (Lazy, _Writer)):
            node = _node_of(value)
            if rt.splits and node.out_type != rt:
                raise _Conflict([where])
            if rt.splits:
                keys.append((nm, node.key, value))
        elif rt.splits:
            n = rt.check(value, ann.name, nm)
            keys.append((nm, n, value))
        if isinstance(t, Mut):
            if isinstance(value, (Lazy, _Writer)) and _node_of(value).mut_root is not None:
                mut_root = _node_of(value).mut_root
            elif isinstance(value, np.ndarray):
                mut_root = value
            else:
                raise SplitTypeError(f"The {nm!r} argument of {ann.name} is written in place ({t!r}) and must be "
                                     f"a NumPy array. Got {type(value).__name__} instead.")
        in_types.append(rt)
    # pandas aligns objects on their index labels, Mozart cuts them by position: split pandas arguments of one
    # call must carry the same index (a permuted or other index: pandas aligns them, eagerly)
    indexes = []
    for (where, nm, v, t), value, rt in zip(slots, values, in_types):
        if isinstance(rt, RowSplit):
            idx = _node_of(value).row_index if isinstance(value, (Lazy, _Writer)) else value.index
            if idx is not None:
                indexes.append((where, value, idx))
    if any(idx is not indexes[0][2] and not idx.equals(indexes[0][2]) for _, _, idx in indexes[1:]):
        lazy_members = [where for where, value, _ in indexes if isinstance(value, (Lazy, _Writer))]
        if lazy_members:
            raise _Conflict(lazy_members)
        return ann.eager(*values[:len(args)], **dict(zip(kwargs, values[len(args):])))
    distinct = {k for _, k, _ in keys}
    if 1 in distinct and len(distinct) == 2 and all(isinstance(k, int) for k in distinct):
        # NumPy broadcasts an axis of length 1 against any length: such a plain array is passed whole (a lazy
        # one is computed first, then passed whole)
        short = [where for (where, nm, v, t), value, rt in zip(slots, values, in_types)
                 if isinstance(value, (Lazy, _Writer)) and rt.splits and _node_of(value).key == 1
                 and isinstance(rt, ArraySplit)]
        if short:
            raise _Conflict(short)
        for pos, ((where, nm, v, t), value) in enumerate(zip(slots, values)):
            rt = in_types[pos]
            if (isinstance(rt, ArraySplit) and isinstance(value, np.ndarray) and value is not mut_root
                    and value.ndim > rt.axis and value.shape[rt.axis] == 1):
                in_types[pos] = Broadcast()
        keys = [(nm, k, value) for nm, k, value in keys
                if not (k == 1 and isinstance(value, np.ndarray) and value is not mut_root)]
        distinct = {k for _, k, _ in keys}
    if len(distinct) > 1:
        if all(isinstance(k, int) for k in distinct) and any(isinstance(t, RowSplit) for t in in_types):
            # pandas aligns objects of different lengths on their index: let it, eagerly
            return ann.eager(*values[:len(args)], **dict(zip(kwargs, values[len(args):])))
        if all(isinstance(k, int) for k in distinct):
            desc = ", ".join(f"{nm!r} has {k}" for nm, k, _ in keys)
            raise InvalidArgument(f"The split arguments of {ann.name} must have the same number of elements "
                                  f"(they are cut into the same pieces). Got {desc} instead.")
        lazy_members = [w for (w, nm, v, t), value in zip(slots, values) if isinstance(value, (Lazy, _Writer))]
        raise _Conflict(lazy_members)
    if not keys:  # nothing to split: run it now
        return ann.eager(*[values[i] for i in range(len(args))],
                         **{k: values[len(args) + j] for j, k in enumerate(kwargs)})
    ret = _base(ann.ret)
    if isinstance(ret, Generic):
        ret = binding.get(ret.name, Broadcast())
    key = distinct.pop()
    if not ret.splits:
        out_key = None
    elif ann.aligned:
        out_key = key
    else:
        out_key = object()
    node_args = [_node_of(v) if isinstance(v, (Lazy, _Writer)) else v for v in values[:len(args)]]
    node_kwargs = {k: (_node_of(v) if isinstance(v, (Lazy, _Writer)) else v)
                   for k, v in zip(kwargs, values[len(args):])}
    node = Node(ann, node_args, node_kwargs, in_types, ret, out_key, mut_root, key)
    if indexes and ann.aligned and isinstance(ret, RowSplit):
        node.row_index = indexes[0][2]
    arg_names = ann.arg_names(len(args)) + list(kwargs)
    node.prints = tuple((nm, v, fingerprint(v)) for nm, v in ((nm, _plain_input(v)) for nm, v in zip(arg_names, values))
                        if _watched(v) and v is not mut_root)
    ops = ann.ops or _ops_of(values)
    result = Lazy(node, ops)
    if ann.ndim is not None:
        result._ndim = ann.ndim
    elif isinstance(ret, ArraySplit):
        ndims = [v._ndim if isinstance(v, Lazy) else np.ndim(v) for v in values
                 if isinstance(v, (Lazy, np.ndarray))]
        ndims = [d for d in ndims if d is not None]
        result._ndim = max(ndims) if ndims else None
    GRAPH.add(node)
    if mut_root is not None:
        GRAPH.writers[id(mut_root)] = (mut_root, node)
    return result


SAMPLE = 64


def _plain_input(v):
    """The plain object a captured call will read for argument ``v``: itself, or a computed lazy value's value.

    A lazy value that is already computed (a :func:`source` such as
    ``mozart.numpy.lazy_array(a)`` or ``mozart.pandas.DataFrame(df)``, or a
    result that :func:`evaluate` returned to the caller) is read through its
    node, so it is watched like a plain argument.
    """
    if isinstance(v, Lazy) and v._node.done:
        return v._node.value
    return v


def _watched(v) -> bool:
    return isinstance(v, (np.ndarray, pd.Series, pd.DataFrame)) and v.size > 0


def _sample_rows(n: int) -> np.ndarray:
    return np.linspace(0, n - 1, num=min(SAMPLE, n)).astype(np.intp)


def fingerprint(a):
    """A sample of ``a`` taken at capture: it changes if a later write touched one of the sampled elements.

    For a NumPy array, :data:`SAMPLE` (64) elements spaced evenly over the flat
    array, as bytes.  For a pandas Series or DataFrame, its shape, its column
    labels and a copy of :data:`SAMPLE` rows spaced evenly (every column, the
    index labels and the dtypes: ``DataFrame.take``), compared with
    ``equals`` (missing values in the same places are equal).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> df = pd.DataFrame({"x": np.arange(1000.0)})
    >>> fp = fingerprint(df)
    >>> unchanged(df, fp)
    True
    >>> df.loc[999, "x"] = -1.0    # the last row is always sampled
    >>> unchanged(df, fp)
    False
    """
    if isinstance(a, np.ndarray):
        return a.flat[_sample_rows(a.size)].tobytes()
    columns = list(a.columns) if isinstance(a, pd.DataFrame) else None
    return (a.shape, columns, a.take(_sample_rows(len(a))) if len(a) else None)


def unchanged(a, fp, now=None) -> bool:
    """Whether ``a`` still matches the :func:`fingerprint` ``fp`` taken earlier (``now``: its fingerprint now)."""
    now = fingerprint(a) if now is None else now
    if isinstance(a, np.ndarray):
        return now == fp
    if now[0] != fp[0] or now[1] != fp[1]:
        return False
    return fp[2] is None or now[2].equals(fp[2])


def check_unchanged(nodes) -> None:
    """Raise if a NumPy or pandas argument of a pending call was written after the call was captured.

    A captured call reads its arguments when it runs, not when it was made, so
    ``y = mnp.exp(a); a[:] = 0`` would give ``exp(0)`` where NumPy gives the
    exponential of the old ``a``.  Every array, Series or DataFrame a call
    reads (passed plain, or a computed lazy value such as ``lazy_array(a)`` or
    a result :func:`evaluate` returned) has a :func:`fingerprint` taken at
    capture, compared here before any work starts: 64 elements of an array, 64
    rows of a frame (with its shape, columns, index labels and dtypes).  A
    write that changes none of the sampled elements goes unnoticed, so
    evaluate before writing into an object a pending call reads.

    ``mozart.pandas.DataFrame(df)`` and ``.Series(s)`` hold a shallow copy of
    ``df`` / ``s``, as ``pandas.DataFrame(df)`` does: with pandas' copy on
    write, a later write into ``df`` through pandas (``df.loc[...] = ...``,
    ``df["x"] = ...``) copies ``df``'s data and leaves the wrapped frame as it
    was, exactly as with plain pandas; only a write that bypasses pandas (into
    a NumPy array the frame was built on with ``copy=False``) reaches it, and
    that one is refused here.
    """
    now: dict[int, object] = {}  # one fresh sample per object, however many calls read it
    for node in nodes:
        for nm, v, fp in node.prints:
            if id(v) not in now:
                now[id(v)] = fingerprint(v)
            if not unchanged(v, fp, now[id(v)]):
                kind = "an array" if isinstance(v, np.ndarray) else f"a {type(v).__name__}"
                lib = "NumPy" if isinstance(v, np.ndarray) else "pandas"
                raise InvalidArgument(
                    f"The {nm!r} argument of {node.name} was written after the call was captured (the captured "
                    f"call would read the new values, {lib} the old ones). Rule: evaluate pending calls before "
                    f"writing into an array or frame they read (dawnlab.mozart.evaluate()). Got {kind} of shape "
                    f"{v.shape} whose sampled elements changed.")


def _pos(slots, where):
    return next(i for i, s in enumerate(slots) if s[0] == where)


def _ops_of(values) -> str:
    for v in values:
        if isinstance(v, (pd.Series, pd.DataFrame)) or (isinstance(v, Lazy) and v._ops == "pandas"):
            return "pandas"
    return "numpy"


class _Writer:
    """Stands in for a pending in-place writer whose lazy value was dropped."""

    def __init__(self, node):
        self.node = node


def _node_of(v) -> Node:
    return v._node if isinstance(v, Lazy) else v.node


def _materialize(v):
    if isinstance(v, Lazy):
        return v.value
    if isinstance(v, _Writer):
        evaluate_nodes([v.node])
        return v.node.value
    if isinstance(v, list):
        return [_materialize(x) for x in v]
    if isinstance(v, tuple):
        return tuple(_materialize(x) for x in v)
    if isinstance(v, dict):
        return {k: _materialize(x) for k, x in v.items()}
    return v


# ---------------------------------------------------------------------------------------------------
# lazy values


def _binop(name, reflected=False):
    def op(self, other):
        lib = _library(self._ops)
        return lib._OPERATORS[name](other, self) if reflected else lib._OPERATORS[name](self, other)
    op.__name__ = f"__{'r' if reflected else ''}{name}__"
    return op


def _unop(name):
    def op(self):
        return _library(self._ops)._OPERATORS[name](self)
    op.__name__ = f"__{name}__"
    return op


def _library(ops: str):
    if ops == "pandas":
        from dawnlab.mozart import pandas as lib
    else:
        from dawnlab.mozart import numpy as lib
    return lib


class Lazy:
    """A value that an annotated call will produce: evaluated when used.

    Arithmetic, comparison and unary operators, and NumPy's ``__array_ufunc__``
    and ``__array_function__`` protocols, capture further annotated calls; any
    other use evaluates the value (and everything it depends on) and acts on
    the plain result.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> x = mnp.exp(np.zeros(3)) * 2 + 1
    >>> type(x).__name__, x.tolist()
    ('Lazy', [3.0, 3.0, 3.0])
    """

    __array_priority__ = 1000
    _ndim = None

    def __init__(self, node: Node, ops: str = "numpy"):
        self._node = node
        self._ops = ops
        node.lazy_ref = weakref.ref(self)

    # -- evaluation -------------------------------------------------------------------------------
    @property
    def value(self):
        """The plain value (evaluating it and its inputs if pending)."""
        if not self._node.done:
            evaluate_nodes([self._node])
        _refuse_discarded(self._node, "lazy value used")
        return self._node.value

    @property
    def evaluated(self) -> bool:
        """Whether the value has been computed (False for a discarded one)."""
        return self._node.done and self._node.value is not DISCARDED

    def __array__(self, dtype=None, copy=None):
        v = np.asarray(self.value)
        return v.astype(dtype) if dtype is not None else v

    def __len__(self):
        return len(self.value)

    def __iter__(self):
        return iter(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)

    def __index__(self):
        return operator.index(self.value)  # as NumPy: a float is no index

    def __bool__(self):
        return bool(self.value)

    def __repr__(self):
        return repr(self.value)

    def __str__(self):
        return str(self.value)

    def _repr_html_(self):
        v = self.value
        return v._repr_html_() if hasattr(v, "_repr_html_") else None

    def __getitem__(self, key):
        lib = _library(self._ops)
        if hasattr(lib, "_getitem"):
            return lib._getitem(self, key)
        return self.value[_materialize(key)]

    def __setitem__(self, key, value):
        lib = _library(self._ops)
        if not hasattr(lib, "_setitem"):
            raise TypeError("a lazy NumPy value is read-only: write into a plain array with out= instead")
        lib._setitem(self, key, value)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        lib = _library(self._ops)
        method = lib._method(self, name)
        if method is not None:
            return method
        return getattr(self.value, name)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        lib = _library("numpy")
        out = kwargs.get("out")
        if isinstance(out, tuple) and len(out) == 1:  # NumPy hands ``out=`` over as a tuple, one per output
            kwargs = dict(kwargs)
            if out[0] is None:
                del kwargs["out"]
            else:
                kwargs["out"] = out[0]
        if method == "__call__" and ufunc.__name__ in lib._UFUNCS:
            return lib._UFUNCS[ufunc.__name__](*inputs, **kwargs)
        inputs = _materialize(inputs)
        kwargs = {k: _materialize(v) for k, v in kwargs.items()}
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        lib = _library("numpy")
        annotated = lib._FUNCTIONS.get(func.__name__)
        if annotated is not None and getattr(lib.np, func.__name__, None) is func:
            return annotated(*args, **kwargs)
        return func(*_materialize(args), **{k: _materialize(v) for k, v in kwargs.items()})

    def tolist(self):
        return self.value.tolist()


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor"):
    setattr(Lazy, f"__{_name}__", _binop(_name))
    setattr(Lazy, f"__r{_name}__", _binop(_name, reflected=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(Lazy, f"__{_name}__", _binop(_name))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(Lazy, f"__{_name}__", _unop(_name))
Lazy.__hash__ = object.__hash__


def source(value, ops: str | None = None) -> Lazy:
    """A lazy value standing for a plain one (the start of a captured method chain)."""
    if isinstance(value, (pd.Series, pd.DataFrame)):
        # as pandas.DataFrame(df) does: with copy on write, later writes into ``value`` leave this one as it was
        value = value.copy(deep=False)
    node = Node(_SOURCE, [], {}, [], default_split_type(value) or Broadcast(), None)
    node.value, node.done = value, True
    if isinstance(value, (pd.Series, pd.DataFrame)):
        node.row_index = value.index
    node.key = len(value) if hasattr(value, "__len__") and np.ndim(value) > 0 else None
    lz = Lazy(node, ops or _ops_of([value]))
    lz._ndim = np.ndim(value) if isinstance(value, np.ndarray) else None
    return lz


class _SourceFunction:
    name = "source"


_SOURCE = _SourceFunction()


# ---------------------------------------------------------------------------------------------------
# evaluation entry points


def _lazy_nodes(value) -> list[Node]:
    """The nodes of the lazy values in ``value``, walking lists, tuples and dict values, in order."""
    if isinstance(value, Lazy):
        return [value._node]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _lazy_nodes(v)]
    return []


def evaluate_nodes(nodes, **options):
    from dawnlab.mozart.runtime import run

    return run(nodes, **options)


class _Discarded:
    def __repr__(self):
        return "<discarded>"


DISCARDED = _Discarded()   # the value of a node dropped by :func:`discard`


def discard(value=None) -> int:
    """Drop pending captured calls without running them; returns how many were dropped.

    With no argument every pending call is dropped.  With a lazy value (or a
    list, tuple or dict of them), its pending call is dropped together with
    every pending call that reads it (directly or not) and the pending calls
    it needs that no other live value needs.  A dropped in-place write never happens (its array keeps the
    values it has), and using a dropped value raises.  This is the way out
    after a :class:`~dawnlab.mozart.runtime.PieceError`, which leaves the
    failing calls pending (nothing committed) so that every later evaluation
    would meet them again.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> y = mnp.exp(np.zeros(3))
    >>> discard(y)
    1
    >>> y.evaluated
    False
    """
    with GRAPH.lock:
        pend = list(GRAPH.pending.values())
        if value is None:
            drop = {n.id for n in pend}
        else:
            stack, drop = _lazy_nodes(value), set()

            def inputs(n):
                return [v for v in [*n.args, *n.kwargs.values()] if isinstance(v, Node) and not v.done]

            def upstream(nodes):
                seen, todo = {}, list(nodes)
                while todo:
                    n = todo.pop()
                    if n.done or n.id in seen:
                        continue
                    seen[n.id] = n
                    todo.extend(inputs(n))
                return seen

            down = {n.id for n in stack if not n.done}
            for n in pend:  # capture order is a topological order: readers come after what they read
                if any(v.id in down for v in inputs(n)):
                    down.add(n.id)
            # what another live value (or a pending in-place write) not downstream of these still needs is kept
            live = [n for n in pend if n.id not in down and (n.mut_root is not None or
                                                               (n.lazy_ref is not None and n.lazy_ref() is not None))]
            keep = upstream(live)
            drop = {i for i in upstream(stack) if i not in keep} | down
        for n in pend:
            if n.id not in drop:
                continue
            n.done, n.value = True, DISCARDED
            n.args, n.kwargs, n.prints = [], {}, ()
            GRAPH.pending.pop(n.id, None)
            if n.mut_root is not None and GRAPH.writers.get(id(n.mut_root), (None, None))[1] is n:
                del GRAPH.writers[id(n.mut_root)]
        return len(drop)


def _refuse_discarded(node, what):
    if node.value is DISCARDED:
        raise InvalidArgument(f"The {what} must be a value that was not discarded (dawnlab.mozart.discard dropped "
                              f"the pending call {node.name} that would make it). Got a discarded value instead.")


def pending() -> list[Node]:
    """The pending nodes, in capture order."""
    with GRAPH.lock:
        return list(GRAPH.pending.values())


def evaluate(value=None, **options):
    """Evaluate one lazy value (returned plain) or, with no argument, everything pending.

    Parameters
    ----------
    value : Lazy or object, optional
        The value to compute; a plain value is returned as it is.  Containers
        (list, tuple, dict) of lazy values are evaluated together, in one plan.
    **options
        ``workers``, ``piece_size``, ``backend`` (``"threads"``, ``"processes"``,
        ``"dask"``) and ``client``, overriding :func:`dawnlab.mozart.options` for this call.

    Returns
    -------
    object
        The plain value (``None`` when evaluating everything).

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> y = mnp.sqrt(np.array([1.0, 4.0, 9.0]))
    >>> evaluate(y, piece_size=2, workers=2)
    array([1., 2., 3.])
    """
    if value is None:
        with GRAPH.lock:
            nodes = [n for n in GRAPH.pending.values() if n.lazy_ref is not None and n.lazy_ref() is not None
                     or n.mut_root is not None]
        if nodes:
            evaluate_nodes(nodes, **options)
        return None
    todo = [n for n in _lazy_nodes(value) if not n.done]
    if todo:
        evaluate_nodes(todo, **options)
    return _materialize(value)


@contextlib.contextmanager
def lazy(**options):
    """A block whose captured calls are all evaluated, together, when it ends without an error.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> with lazy():
    ...     y = mnp.log(mnp.exp(np.arange(3.0)))
    >>> y.evaluated
    True
    """
    yield
    evaluate(**options)
