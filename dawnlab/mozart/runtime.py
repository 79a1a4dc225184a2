"""The runtime: every stage runs whole on one cache-sized piece before the next (arXiv 1810.12297, Section 5).

A stage (:mod:`dawnlab.mozart.planner`) is compiled into a small program of
slots: its split inputs, its broadcast constants and one slot per call.  Each
worker takes the next piece ``[start, end)`` of the stage's index space, cuts
every split input to that piece (views for NumPy arrays), and runs every call
of the stage on it before it takes another piece, so a piece's intermediates
stay in the core's cache (pipelining) while the workers run pieces at the same
time (parallelism).

Costs are kept per stage, not per piece:

- the first piece (the *probe*: about 64 KiB of input and at most
  :data:`PROBE_ELEMENTS` elements, or the caller's piece size) runs without preallocated outputs and tells the
  runtime every result's dtype and shape;
- a kept result that a function can write with ``out=`` is then allocated
  once, whole, and every piece writes its part in place; an intermediate gets a
  per-worker scratch buffer of one piece, and buffers are reused once their
  last reader in the stage has run;
- other results are collected per piece and merged once with their split
  type's ``merge`` (pandas values, reductions);
- the pieces after the probe (and the timed pieces) start on multiples of
  the piece size, so the automatic size cuts the same pieces as that size
  fixed (:func:`_aligned_pieces`).  (Quiet, Black-Scholes, 2^24 doubles, 2
  threads: with pieces of 8,192 started 3,072 elements off those multiples
  the automatic run took 1.97 s, median of 9, against 0.47 s for 8,192
  fixed; aligned, 0.38 s against 0.49 s for the best fixed size, median of
  7.  Fixed sizes swing between about 0.4 and 2 s from round to round on this
  machine, so the cause is not settled.)
- an annotated call made while a piece runs (an annotated function whose
  body uses the annotated library) runs at once on that piece, eagerly.

Piece size.  Unless the caller sets ``piece_size``, it comes from the
machine's caches and the stage's live values (:func:`piece_size_for`):

- *cache rule* (the paper's): pieces of ``L2 / bytes_per_element`` elements,
  rounded down to a power of two, where ``bytes_per_element`` adds the bytes
  per element of every split input (each array once, however many calls read
  it), of every kept result and of every scratch buffer the stage needs at
  once after reuse, so one piece of everything live fits in one core's L2.
  ``L2`` is read from ``/sys/devices/system/cpu/cpu0/cache/index*/``
  (:func:`l2_cache_bytes`); where that cannot be read the default is
  :data:`DEFAULT_L2_BYTES` (256 KiB, the smallest L2 of current x86 and Arm
  server cores, so pieces err on the small side).
- *call-overhead rule* (a thread pool's, not in the paper, whose runtime used
  processes): the two pieces after the probe are timed, warm; where a call
  on a piece is so short that the GIL-held Python around it
  (:data:`GIL_CALL_SECONDS`) would exceed :data:`GIL_SHARE` of it with
  ``workers`` threads, pieces grow, up to one worker's share of the L3.  It
  matters where an element is wide (a row of a 2-D array): nBody's 2,048-wide
  rows get 32-64 rows instead of 16 (0.047 s against 0.066 s on 2 threads).
- *pandas*: a stage whose calls make pandas objects gets pieces of
  ``min(PANDAS_PIECE, n / workers)`` rows at least (:data:`PANDAS_PIECE` =
  2^20): a pandas call costs tens of microseconds whatever its size and
  allocates its result anyway, so such stages gain from parallelism, not from
  cache-sized pieces (measured on the crime index, 4 million rows, 2 workers:
  0.4x plain pandas at 2^16-row pieces, 0.64x at 2^18, 1.2x at 2^20).  A
  pandas stage on text or Python-object columns runs on one thread: its
  kernels hold the GIL (:func:`_holds_gil`).

Backends.  ``"threads"`` (default): a thread pool that lives as long as the
process (NumPy, SciPy's ufuncs and pandas' kernels release the GIL).
``"processes"`` and ``"dask"``: the index space is cut into one block per
worker (or per dask worker thread, times two); each block, with its slice of
every input, goes to a local process pool (a fresh one per evaluation through
:func:`dawnlab.parallel.imap`; with the option ``keep_pool=True`` one kept
across evaluations, see :func:`_imap_persistent`, which saves 50-90 ms each
but whose workers keep the module state they were forked with) or through
:func:`dawnlab.parallel.imap` to a ``dask.distributed`` ``Client``, where the
same piece loop runs on it;
the blocks' results are merged here.  Functions and broadcast values must
pickle for these two.

Failure.  An exception in any piece stops the other workers at their next
piece and is re-raised as :class:`PieceError`, naming the call and the piece
range; no value is committed (results of earlier stages of the same
evaluation are dropped too, and in-place writes go to a shadow copy that is
copied back only when the whole evaluation has succeeded), and the graph keeps
every node pending.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import math
import os
import time
import threading
import concurrent.futures
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from dawnlab.errors import DawnlabError, invalid
from dawnlab.mozart.graph import GRAPH, IN_PIECE, Node, check_unchanged
from dawnlab.mozart.planner import Stage, plan
from dawnlab.mozart.splittypes import ArraySplit, Mut, Reduce, RowSplit

__all__ = ["l2_cache_bytes", "l3_cache_bytes", "cache_bytes", "GIL_CALL_SECONDS", "GIL_SHARE", "options", "set_options", "get_options", "PieceError", "run",
           "DEFAULT_L2_BYTES", "PROBE_ELEMENTS", "piece_size_for"]

DEFAULT_L2_BYTES = 256 * 1024
PROBE_ELEMENTS = 1024
MIN_PIECE = 16
PANDAS_PIECE = 1 << 20
GIL_CALL_SECONDS = 2e-6
GIL_SHARE = 0.2
BACKENDS = ("threads", "processes", "dask")


class PieceError(DawnlabError, RuntimeError):
    """A call raised on one piece; the message names the call and the piece range."""

    def __init__(self, message, function=None, start=None, end=None):
        super().__init__(message)
        self.function, self.start, self.end = function, start, end


def l2_cache_bytes(path: str = "/sys/devices/system/cpu/cpu0/cache") -> int:
    """The level-2 cache size of CPU 0 in bytes, from the OS; :data:`DEFAULT_L2_BYTES` if unreadable.

    Examples
    --------
    >>> l2_cache_bytes() >= 64 * 1024
    True
    >>> l2_cache_bytes("/no/such/folder") == DEFAULT_L2_BYTES
    True
    """
    size = cache_bytes(2, path)
    return DEFAULT_L2_BYTES if size is None else size


def l3_cache_bytes(path: str = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """The level-3 cache size of CPU 0 in bytes (shared by its cores), from the OS; ``None`` if unreadable.

    >>> l3_cache_bytes("/no/such/folder") is None
    True
    """
    return cache_bytes(3, path)


def cache_bytes(level: int, path: str = "/sys/devices/system/cpu/cpu0/cache") -> int | None:
    """The size in bytes of CPU 0's unified or data cache at ``level``, read from sysfs; ``None`` if unreadable."""
    wanted = level
    for index in sorted(glob.glob(os.path.join(path, "index*"))):
        try:
            with open(os.path.join(index, "level")) as f:
                level = int(f.read().strip())
            with open(os.path.join(index, "type")) as f:
                kind = f.read().strip()
            with open(os.path.join(index, "size")) as f:
                size = f.read().strip()
        except (OSError, ValueError):
            continue
        if level != wanted or kind not in ("Unified", "Data"):
            continue
        unit = {"K": 1024, "M": 1024 ** 2, "G": 1024 ** 3}.get(size[-1:].upper(), 1)
        try:
            value = int(size.rstrip("KkMmGg")) * unit
        except ValueError:
            continue
        if value > 0:
            return value
    return None


def _default_workers() -> int:
    from dawnlab.parallel import default_workers

    return default_workers()


_OPTIONS = {"workers": None, "piece_size": None, "backend": "threads", "client": None, "keep_pool": False}


def get_options() -> dict:
    """The current defaults (``workers=None`` means the usable cores)."""
    return dict(_OPTIONS)


def set_options(**kwargs) -> None:
    """Set the defaults: ``workers``, ``piece_size``, ``backend``, ``client``, ``keep_pool``.

    >>> set_options(workers=2); get_options()["workers"]
    2
    >>> set_options(workers=None)
    """
    resolve_options(kwargs)
    _OPTIONS.update(kwargs)


@contextlib.contextmanager
def options(**kwargs):
    """The defaults changed inside a ``with`` block.

    >>> with options(piece_size=4096):
    ...     get_options()["piece_size"]
    4096
    """
    old = dict(_OPTIONS)
    set_options(**kwargs)
    try:
        yield
    finally:
        _OPTIONS.clear()
        _OPTIONS.update(old)


def resolve_options(overrides: dict) -> dict:
    """The defaults with ``overrides`` applied, checked."""
    unknown = sorted(set(overrides) - set(_OPTIONS))
    if unknown:
        raise invalid("options", "dawnlab.mozart", f"among {sorted(_OPTIONS)}", unknown)
    opts = {**_OPTIONS, **overrides}
    if opts["client"] is not None and "backend" not in overrides and opts["backend"] == "threads":
        opts["backend"] = "dask"
    if opts["backend"] not in BACKENDS:
        raise invalid("backend", "dawnlab.mozart", f"one of {list(BACKENDS)}", opts["backend"])
    if opts["backend"] == "dask" and opts["client"] is None:
        raise invalid("client", "dawnlab.mozart", "a dask.distributed Client when backend='dask'", None)
    w = opts["workers"]
    if w is not None and (isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1):
        raise invalid("workers", "dawnlab.mozart", "a positive int or None (the usable cores)", w)
    opts["workers"] = int(w) if w is not None else _default_workers()
    if not isinstance(opts["keep_pool"], bool):
        raise invalid("keep_pool", "dawnlab.mozart", "True or False (keep the process pool across evaluations)",
                      opts["keep_pool"])
    p = opts["piece_size"]
    if p is not None and (isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1):
        raise invalid("piece_size", "dawnlab.mozart", "a positive int or None (from the L2 cache size)", p)
    return opts


def piece_size_for(bytes_per_element: float, l2: int | None = None, *, seconds_per_element: float | None = None,
                   workers: int = 1, l3: int | None = None) -> int:
    """Elements per piece for a stage whose live values take ``bytes_per_element`` bytes per element.

    The cache rule (the paper's): the largest power of two ``p`` with
    ``p * bytes_per_element <= l2``, so that one piece of every live value of
    the stage fits in one core's L2 at once.

    The call-overhead rule (for a thread pool): every call on a piece holds
    the GIL for about :data:`GIL_CALL_SECONDS` in Python before and after its
    kernel; with ``workers`` threads those stretches run one at a time, so a
    call must carry at least ``workers * GIL_CALL_SECONDS / GIL_SHARE`` seconds
    of kernel work for the GIL-held share to stay under :data:`GIL_SHARE`.
    Given the measured ``seconds_per_element`` of one call (from the probe),
    the piece grows to that many elements (the nearest power of two), but
    never beyond the share of the L3 cache (``l3 / workers``) that one worker's
    live values may take; where the L3 size is unknown it does not grow.

    Examples
    --------
    >>> piece_size_for(64, l2=1024 * 1024)
    16384
    >>> piece_size_for(98304, l2=1 << 20, l3=32 << 20, workers=2, seconds_per_element=0.5e-6)
    32
    """
    l2 = l2_cache_bytes() if l2 is None else l2
    bpe = max(float(bytes_per_element), 1.0)
    n = max(1, int(l2 // bpe))
    size = max(MIN_PIECE, 1 << (n.bit_length() - 1))
    if seconds_per_element and seconds_per_element > 0:
        need = workers * GIL_CALL_SECONDS / (GIL_SHARE * seconds_per_element)
        if need > size:
            l3 = l3_cache_bytes() if l3 is None else l3
            cap = int(l3 / max(1, workers) / bpe) if l3 else size
            need = 1 << max(0, round(math.log2(need)))
            if cap > size:
                size = max(size, min(need, 1 << (cap.bit_length() - 1)))
    return size


# ---------------------------------------------------------------------------------------------------
# compiling a stage


class _Op:
    __slots__ = ("func", "name", "args", "kwargs", "out_kw", "slot", "out_type", "kept", "mut", "mode", "buf",
                 "index", "buf_split")

    def __init__(self, **kw):
        for k, v in kw.items():
            setattr(self, k, v)


class _FuncRef:
    """Pickles a function decorated with :func:`sa` through the annotated object its module holds."""

    def __init__(self, module, qualname):
        self.module, self.qualname = module, qualname

    def resolve(self):
        import importlib

        obj = importlib.import_module(self.module)
        for part in self.qualname.split("."):
            obj = getattr(obj, part)
        return obj.func


def _picklable(func):
    module, qualname = getattr(func, "__module__", None), getattr(func, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        import sys

        obj = sys.modules.get(module)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if obj is not func and getattr(obj, "func", None) is func:
            return _FuncRef(module, qualname)
    return func


class _Program:
    """A stage as slots: split inputs, constants, and one op per call.  Pickles (for processes and dask)."""

    def __getstate__(self):
        state = dict(self.__dict__)
        state["ops"] = [_Op(**{k: (_picklable(op.func) if k == "func" else getattr(op, k, None))
                               for k in _Op.__slots__}) for op in self.ops]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        for op in self.ops:
            if isinstance(op.func, _FuncRef):
                op.func = op.func.resolve()

    def __init__(self, stage: Stage, env: dict, shadows: dict):
        self.inputs = []     # (slot, split type) of values cut per piece
        self.consts = []     # (slot, value) given whole
        self.ops: list[_Op] = []
        self.input_values = []
        self.mut_slots: set[int] = set()   # input slots that are in-place targets (shadow copies)
        slot_of: dict[int, int] = {}
        const_of: dict[int, int] = {}
        split_of: dict[int, list] = {}
        nslots = 0
        kept_ids = {n.id for n in stage.outputs}
        for node in stage.nodes:
            mut_names = _mut_names(node)
            specs = []
            for name, v, t in node.inputs():
                if isinstance(v, Node) and v.id in slot_of:
                    specs.append((name, slot_of[v.id]))
                    continue
                value = _value_of(v, env)
                if name in mut_names and node.mut_root is not None and t.splits:
                    if value is node.mut_root:  # the first write: into a shadow copy, committed at the end
                        value = shadows.setdefault(id(value), (value, value.copy()))[1]
                    self.mut_slots.add(nslots)
                if t.splits:
                    # the same array read again (``t`` in three calls): one slot, one piece.  Split types are
                    # compared with ==, not hashed (a user's split type may hold unhashable parameters)
                    same = [slot for st, slot in split_of.get(id(value), []) if st == t]
                    if same:
                        specs.append((name, same[0]))
                        continue
                    split_of.setdefault(id(value), []).append((t, nslots))
                    self.inputs.append((nslots, t))
                    self.input_values.append(value)
                else:
                    ident = id(value)
                    if ident in const_of:
                        specs.append((name, const_of[ident]))
                        continue
                    const_of[ident] = nslots
                    self.consts.append((nslots, value))
                specs.append((name, nslots))
                nslots += 1
            npos = len(node.args)
            ann = node.annotated
            op = _Op(func=ann.func, name=node.name, args=[s for _, s in specs[:npos]],
                     kwargs=[(n, s) for n, s in specs[npos:]],
                     out_kw=ann.out if (ann.out and ann.out not in node.kwargs and node.mut_root is None) else None,
                     slot=nslots, out_type=node.out_type, kept=node.id in kept_ids,
                     mut=node.mut_root is not None, mode=0, buf=None, index=len(self.ops))
            slot_of[node.id] = nslots
            nslots += 1
            self.ops.append(op)
        if self.mut_slots:
            # a value read whole while this stage writes into it in place: every piece must see it as it was
            shadow_ids = {id(sh) for _, sh in shadows.values()}
            self.consts = [(slot, v.copy() if isinstance(v, np.ndarray) and id(v) in shadow_ids else v)
                           for slot, v in self.consts]
        self.nslots = nslots
        self.node_ids = [n.id for n in stage.nodes]
        self.last_use = {}
        for op in self.ops:
            for s in op.args + [s for _, s in op.kwargs]:
                self.last_use[s] = op.index


def _mut_names(node: Node) -> set:
    ann = node.annotated
    names = set()
    for i, name in enumerate(ann.arg_names(len(node.args))):
        t = ann.arg_types[i] if i < len(ann.arg_types) else (ann.arg_types[-1] if ann.arg_types else None)
        if isinstance(t, Mut):
            names.add(name)
    names |= {k for k in node.kwargs if isinstance(ann.kw_types.get(k), Mut)}
    return names


def _value_of(v, env):
    if isinstance(v, Node):
        if v.id in env:
            return env[v.id]
        assert v.done, f"{v} used before it was computed"
        return v.value
    return v


# ---------------------------------------------------------------------------------------------------
# running a program over pieces


class _Failure(Exception):
    pass


def _pieces(n: int, first: int, size: int) -> list[tuple[int, int]]:
    if n == 0:
        return [(0, 0)]
    first = min(first, n)
    return [(0, first)] + [(s, min(s + size, n)) for s in range(first, n, size)]


def _aligned_pieces(start: int, n: int, size: int) -> list[tuple[int, int]]:
    """Pieces of ``[start, n)`` whose edges are multiples of ``size`` (the first one may be shorter).

    The probe and the timed pieces end at an odd offset; the pieces after them
    start on the same multiples of ``size`` as with a fixed piece size.

    >>> _aligned_pieces(3, 20, 8)
    [(3, 8), (8, 16), (16, 20)]
    >>> _aligned_pieces(20, 20, 8)
    []
    """
    bounds = sorted({start, n, *range(-(-start // size) * size, n, size)})
    return list(zip(bounds[:-1], bounds[1:]))


_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    with _POOL_LOCK:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mozart")
        return _POOLS[workers]


class _Run:
    """One execution of a program over ``[0, n)``; ``partial`` keeps reductions' per-piece results unmerged."""

    def __init__(self, prog: _Program, values: list, piece_size: int | None, workers: int, offset: int = 0):
        self.prog, self.values, self.workers, self.offset = prog, values, workers, offset
        self.n = _length_of(prog, values)
        self.fixed = piece_size
        self.piece_size = piece_size
        self.bytes_per_element = None
        self.seconds_per_element = None
        self.pandas_stage = False
        self.gil_bound = False

    # -- the probe ----------------------------------------------------------------------------------
    def execute(self, pool_factory=_pool):
        prog = self.prog
        if self.fixed:
            first = self.fixed
        else:  # a probe of about 64 KiB of input, PROBE_ELEMENTS elements and 1/64 of the stage at most
            bpe = sum(t.bytes_per_element(v) for (_, t), v in zip(prog.inputs, self.values)) or 8.0
            first = int(max(min(MIN_PIECE, self.n), min(PROBE_ELEMENTS, (64 * 1024) // bpe, self.n // 64)))
        probe_end = min(first, self.n) if self.n else 0
        vals = self._fresh_vals()
        kept_pieces = {op.index: [] for op in prog.ops if op.kept}
        self._piece(0, probe_end, vals, None, kept_pieces, probe=True)
        self._setup(vals, probe_end, kept_pieces)
        done, timed = probe_end, 0
        if not self.fixed and probe_end and prog.ops and not self.pandas_stage:
            done, timed = self._timed_pieces(probe_end, kept_pieces)
        pieces = _aligned_pieces(done, self.n, self.piece_size)
        self.npieces = len(pieces) + 1 + timed
        slots = {i: [None] * len(pieces) for i in self.list_ops}
        if pieces:
            counter = itertools.count()
            stop = threading.Event()
            errors = []

            def work():
                wvals = self._fresh_vals()
                bufs = self._buffers()
                while not stop.is_set():
                    i = next(counter)
                    if i >= len(pieces):
                        return
                    s, e = pieces[i]
                    try:
                        self._piece(s, e, wvals, bufs, slots, index=i)
                    except _Failure as f:
                        errors.append(f.args[0])
                        stop.set()
                        return

            nw = min(self.workers, len(pieces))
            if nw <= 1:
                work()
            else:
                futures = [pool_factory(nw).submit(work) for _ in range(nw)]
                try:
                    for f in futures:
                        f.result()
                except BaseException:  # Ctrl-C (or any error here): the workers stop at their next piece
                    stop.set()
                    for f in futures:
                        f.cancel()
                    concurrent.futures.wait(futures)
                    raise
            if errors:
                errors.sort(key=lambda x: x[1])
                raise _Failure(errors[0])
        results = {}
        for op in prog.ops:
            if not op.kept:
                continue
            if op.mode == 1:
                results[op.index] = self.full[op.index]
            elif op.mut:
                results[op.index] = ("mut",)
            else:
                results[op.index] = kept_pieces[op.index] + slots.get(op.index, [])
        return results

    def _timed_pieces(self, probe_end, kept_pieces):
        """Run the next two pieces of the probe's size here, timed, and grow the piece size if calls are short.

        The probe's own time says little (it allocates every result, with page
        faults on first touch), so the two pieces after it run with the stage's
        buffers, touched beforehand, and the faster of them gives the seconds
        per element of one call (:func:`piece_size_for`'s call-overhead rule).
        They are real pieces: their results are kept like the probe's.
        Returns the end of the last timed piece and how many ran.
        """
        size, self.piece_size = self.piece_size, probe_end
        bufs = self._buffers()
        self.piece_size = size
        for b in bufs:  # first touch outside the timing
            b.fill(0)
        vals = self._fresh_vals()
        best, s, timed = math.inf, probe_end, 0
        while timed < 2 and s < self.n:
            e = min(s + probe_end, self.n)
            sink = {i: [None] for i in self.list_ops}
            t0 = time.perf_counter()
            self._piece(s, e, vals, bufs, sink, index=0)
            best = min(best, (time.perf_counter() - t0) / (len(self.prog.ops) * (e - s)))
            for i in self.list_ops:
                kept_pieces[i].append(sink[i][0])
            s, timed = e, timed + 1
        if timed:
            self.seconds_per_element = best
            self.piece_size = max(size, piece_size_for(self.bytes_per_element, seconds_per_element=best,
                                                       workers=self.workers))
        return s, timed

    def _fresh_vals(self):
        vals = [None] * self.prog.nslots
        for slot, value in self.prog.consts:
            vals[slot] = value
        return vals

    def _piece(self, s, e, vals, bufs, collect, probe=False, index=None):
        IN_PIECE.depth = getattr(IN_PIECE, "depth", 0) + 1
        try:
            self._piece_calls(s, e, vals, bufs, collect, probe, index)
        finally:
            IN_PIECE.depth -= 1

    def _piece_calls(self, s, e, vals, bufs, collect, probe, index):
        prog = self.prog
        n = e - s
        for (slot, t), value in zip(prog.inputs, self.values):
            vals[slot] = t.split(value, s, e)
        op = None
        try:
            for op in prog.ops:
                kwargs = {k: vals[i] for k, i in op.kwargs}
                mode = op.mode
                if mode == 1:
                    kwargs[op.out_kw] = self.full_split[op.index](self.full[op.index], s, e)
                elif mode == 2:
                    kwargs[op.out_kw] = op.buf_split(bufs[op.buf], 0, n)
                r = op.func(*[vals[i] for i in op.args], **kwargs)
                vals[op.slot] = r
                if op.kept and mode == 0 and not op.mut:
                    if probe:
                        collect[op.index].append(r)
                    else:
                        if isinstance(r, np.ndarray) and r.base is not None and self.has_scratch:
                            r = r.copy()
                        collect[op.index][index] = r
        except Exception as exc:  # noqa: BLE001 - re-raised with the call and piece named
            name = op.name if op is not None else "split"
            raise _Failure((name, s + self.offset, e + self.offset, exc)) from exc

    # -- buffers ----------------------------------------------------------------------------------------
    def _setup(self, vals, probe_end, kept_pieces):
        prog = self.prog
        self.full, self.full_split, self.list_ops = {}, {}, []
        self.buffer_specs = []
        self.has_scratch = False
        total_bpe = 0.0
        for (slot, t), value in zip(prog.inputs, self.values):
            if t.splits:
                total_bpe += t.bytes_per_element(value)
        free: dict[tuple, list[int]] = {}
        last_use = _last_use_through_views(prog, vals)
        for op in prog.ops:
            r = vals[op.slot]
            t = op.out_type
            can_out = (op.out_kw is not None and isinstance(t, ArraySplit) and isinstance(r, np.ndarray)
                       and probe_end > 0 and r.ndim > t.axis and r.shape[t.axis] == probe_end)
            if can_out and op.kept:
                full = t.empty(r, self.n)
                t.split(full, 0, probe_end)[...] = r
                self.full[op.index] = full
                self.full_split[op.index] = t.split
                kept_pieces[op.index] = None
                op.mode = 1
                total_bpe += r.nbytes / probe_end
            elif can_out:
                shape = list(r.shape)
                shape[t.axis] = -1
                spec = (tuple(shape), r.dtype.str, t.axis)
                if free.get(spec):
                    op.buf = free[spec].pop()
                else:
                    op.buf = len(self.buffer_specs)
                    self.buffer_specs.append(spec)
                    total_bpe += r.nbytes / probe_end
                op.buf_split = t.split
                op.mode = 2
                self.has_scratch = True
            else:
                op.mode = 0
                if op.kept and not op.mut:
                    self.list_ops.append(op.index)
                if probe_end and not isinstance(t, Reduce) and hasattr(r, "nbytes"):
                    total_bpe += getattr(r, "nbytes", 0) / probe_end
            # free the buffers whose last reader is this op (after its output was placed)
            for other in prog.ops[:op.index + 1]:
                if other.mode == 2 and last_use.get(other.slot, -1) == op.index and not other.kept:
                    free.setdefault(self.buffer_specs[other.buf], []).append(other.buf)
        self.bytes_per_element = total_bpe
        self.pandas_stage = any(isinstance(vals[op.slot], (pd.Series, pd.DataFrame)) for op in prog.ops)
        if self.pandas_stage and self.workers > 1 and _holds_gil(prog, vals, self.values):
            self.workers = 1
            self.gil_bound = True
        if not self.fixed:
            self.piece_size = piece_size_for(total_bpe)
            if self.pandas_stage:
                share = -(-self.n // max(1, self.workers))
                self.piece_size = max(self.piece_size, min(PANDAS_PIECE, share))

    def _buffers(self):
        bufs = []
        for shape, dtype, axis in self.buffer_specs:
            shape = list(shape)
            shape[axis] = self.piece_size
            bufs.append(np.empty(shape, dtype=np.dtype(dtype)))
        return bufs


def _last_use_through_views(prog, vals) -> dict:
    """The last op reading each slot, where a result that shares memory with an argument (a view, the argument
    itself: ``np.asarray(a)``, ``a.reshape(...)``) keeps that argument's buffer alive as long as it is read.

    Measured on the probe piece's values; without it a scratch buffer was reused by a later call while a view of
    it was still to be read.
    """
    last = dict(prog.last_use)
    aliases: dict[int, set] = {}
    for op in prog.ops:
        r = vals[op.slot]
        if isinstance(r, np.ndarray):
            for i in op.args + [k for _, k in op.kwargs]:
                v = vals[i]
                if isinstance(v, np.ndarray) and np.may_share_memory(r, v):
                    aliases.setdefault(op.slot, set()).add(i)
    for op in reversed(prog.ops):  # a view of a view: later ops first, so chains carry through
        for i in aliases.get(op.slot, ()):
            last[i] = max(last.get(i, -1), last.get(op.slot, -1))
    return last


def _text_dtype(dtype) -> bool:
    return pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)


def _holds_gil(prog, vals, inputs) -> bool:
    """Whether a pandas stage works on text or Python objects (kernels that hold the GIL most of the time).

    pandas' string methods, ``isin``, ``unique`` and group-bys on object or
    ``str`` columns run in Python-level loops or convert between Python
    strings and Arrow while holding the GIL, so two threads on such a stage run
    one at a time and fight over the GIL: data cleaning on 10^6 rows took 1.5x
    to 6x as long on two threads as on one.  Such stages run on one worker.
    """
    def text(v):
        if isinstance(v, pd.DataFrame):
            return any(_text_dtype(t) for t in v.dtypes)
        if isinstance(v, (pd.Series, pd.Index, np.ndarray)):
            return _text_dtype(v.dtype)
        return False

    return any(text(v) for v in inputs) or any(text(vals[op.slot]) for op in prog.ops)


def _length_of(prog, values):
    lengths = {t.elements(v) for (_, t), v in zip(prog.inputs, values)}
    if len(lengths) > 1:
        raise DawnlabError(f"the split inputs of a stage disagree in length: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


def _finish(prog: _Program, results: dict, partial: bool = False):
    out = {}
    for op in prog.ops:
        if not op.kept or op.mut:
            continue
        r = results[op.index]
        if isinstance(r, np.ndarray) and op.mode == 1:
            out[op.index] = r
        elif partial and isinstance(op.out_type, Reduce):
            out[op.index] = r
        else:
            out[op.index] = op.out_type.merge(r)
    return out


def _run_block(payload):
    """Run a program serially on one block (a process-pool or dask task)."""
    prog, values, piece_size, offset = payload
    run = _Run(prog, values, piece_size, 1, offset)
    try:
        results = run.execute()
    except _Failure as f:
        return ("error", f.args[0][:3] + (repr(f.args[0][3]),), f.args[0][3])
    merged = _finish(prog, results, partial=True)
    muts = [values[k] for k, (slot, t) in enumerate(prog.inputs) if _is_mut_input(prog, slot)]
    return ("ok", merged, muts, run.piece_size)


def _is_mut_input(prog, slot):
    return slot in prog.mut_slots


# ---------------------------------------------------------------------------------------------------
# evaluation


def run(targets: list[Node], **overrides):
    """Evaluate the pending nodes ``targets`` need, stage by stage; commit only if all succeed."""
    opts = resolve_options(overrides)
    with GRAPH.lock:
        stages = plan(targets)
        # a pending call that read an array as it was, before an in-place write this run commits, runs now too
        # (afterwards it would read the written array)
        for _ in range(len(GRAPH.pending) + 1):
            planned = {node.id for stage in stages for node in stage.nodes}
            roots = {id(node.mut_root): node.mut_root for stage in stages for node in stage.nodes
                     if node.mut_root is not None}
            # the same array, or another view of its memory (``a`` where ``a[2:]`` is written)
            readers = [node for node in GRAPH.pending.values() if node.id not in planned
                       and any(id(v) in roots or (isinstance(v, np.ndarray)
                                                  and any(np.may_share_memory(v, r) for r in roots.values()))
                               for _, v, _ in node.prints)] if roots else []
            if not readers:
                break
            targets = list(targets) + readers
            stages = plan(targets)
        check_unchanged([node for stage in stages for node in stage.nodes])
        env: dict[int, object] = {}
        shadows: dict[int, tuple] = {}
        info = []
        for stage in stages:
            prog = _Program(stage, env, shadows)
            values = prog.input_values
            if opts["backend"] == "threads":
                r = _Run(prog, values, opts["piece_size"], opts["workers"])
                try:
                    results = r.execute()
                except _Failure as f:
                    _raise(f.args[0])
                merged = _finish(prog, results)
                info.append({"elements": r.n, "piece_size": r.piece_size, "pieces": r.npieces, "workers": r.workers,
                             "gil_bound": r.gil_bound,
                             "bytes_per_element": r.bytes_per_element,
                             "seconds_per_element": r.seconds_per_element})
            else:
                merged = _run_blocks(prog, values, opts)
                info.append({"elements": _length_of(prog, values), "piece_size": opts["piece_size"]})
            for op, node in zip(prog.ops, stage.nodes):
                if op.kept:
                    if op.mut:
                        env[node.id] = shadows[id(node.mut_root)][1]
                    else:
                        env[node.id] = merged[op.index]
        # commit: copy in-place writes back, store every kept value, drop the evaluated nodes
        for original, shadow in shadows.values():
            np.copyto(original, shadow)
        for stage in stages:
            for node in stage.nodes:
                if node.id in env:
                    node.value = node.mut_root if node.mut_root is not None else env[node.id]
                node.done = True
                node.args, node.kwargs, node.prints = [], {}, ()
                GRAPH.pending.pop(node.id, None)
                if node.mut_root is not None and GRAPH.writers.get(id(node.mut_root), (None, None))[1] is node:
                    del GRAPH.writers[id(node.mut_root)]
        LAST_RUN[:] = info
    return info


LAST_RUN: list[dict] = []


def _raise(failure):
    name, start, end, exc = failure
    raise PieceError(f"{name} raised {type(exc).__name__} on the piece [{start}, {end}): {exc}. "
                     "Nothing was committed; the captured calls are still pending (dawnlab.mozart.discard() drops them).",
                     function=name, start=start, end=end) from (exc if isinstance(exc, BaseException) else None)


_PROCESS_POOLS: dict = {}


@atexit.register
def _close_process_pools() -> None:
    """Stop the kept process pools while the interpreter is whole (their finalisers fail later)."""
    while _PROCESS_POOLS:
        _, pool = _PROCESS_POOLS.popitem()
        pool.shutdown(wait=True, cancel_futures=True)


def _reusable(prog: _Program, payloads: list, pickled: bytes | None = None) -> bool:
    """Whether the blocks can go to a process pool started by an earlier evaluation.

    Its workers were forked then, so they lack whatever ``__main__`` defined
    since (a function or split type written in a notebook after the pool
    started); a program or a block value that refers to ``__main__`` gets a
    fresh pool, as every evaluation did before.  ``pickled`` is the program as
    :func:`_pickled` already pickled it (its broadcast values are not pickled twice).
    """
    if b"__main__" in (pickled if pickled is not None else _pickled(prog)):
        return False
    return not any(type(v).__module__ == "__main__" for payload in payloads for v in payload[1])


def _pickled(prog) -> bytes:
    """The program pickled, as the process backend sends it; refused with the rule named if it does not pickle."""
    import pickle

    try:
        return pickle.dumps(prog, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        names = ", ".join(op.name for op in prog.ops)
        raise invalid("backend", "dawnlab.mozart", "'processes' only for functions and broadcast values that pickle "
                      f"(defined at module level, not lambdas or nested functions; or use backend='threads'): "
                      f"a call among {names} does not ({exc})", "processes") from exc


def _imap_persistent(payloads: list, workers: int):
    """``(index, result)`` of :func:`_run_block` on every payload, from a pool kept across evaluations.

    Starting a pool of 2 processes and stopping it took 50-90 ms here, paid
    on every evaluation before (a Black-Scholes evaluation of 2^20 elements
    takes 0.5 s on this backend).  A pool whose worker died is replaced.
    Its workers keep the module state they were forked with: a module-level
    variable an annotated function reads, changed after the pool started, is
    not seen there (``_close_process_pools()`` starts afresh), so it is used
    only with the option ``keep_pool=True``.
    """
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with _POOL_LOCK:
        pool = _PROCESS_POOLS.get(workers)
        if pool is None or getattr(pool, "_broken", False):
            pool = _PROCESS_POOLS[workers] = ProcessPoolExecutor(max_workers=workers)
    futures = [pool.submit(_run_block, p) for p in payloads]
    try:
        for i, f in enumerate(futures):
            yield i, f.result()
    except BrokenProcessPool:
        with _POOL_LOCK:
            _PROCESS_POOLS.pop(workers, None)
        raise
    finally:
        for f in futures:
            f.cancel()


def _run_blocks(prog: _Program, values: list, opts: dict) -> dict:
    from dawnlab.parallel import imap

    n = _length_of(prog, values)
    if opts["backend"] == "dask":
        nthreads = sum(opts["client"].nthreads().values()) or 1
        nblocks = 2 * nthreads
    else:
        nblocks = opts["workers"]
    nblocks = max(1, min(nblocks, n // MIN_PIECE if n >= MIN_PIECE else 1))
    edges = np.linspace(0, n, nblocks + 1).astype(int)
    payloads = []
    for a, b in zip(edges[:-1], edges[1:]):
        block_values = [t.split(v, a, b) for (_, t), v in zip(prog.inputs, values)]
        payloads.append((prog, block_values, opts["piece_size"], int(a)))
    kwargs = {"client": opts["client"]} if opts["backend"] == "dask" else {"processes": opts["workers"]}
    outs = [None] * len(payloads)
    pickled = _pickled(prog) if opts["backend"] == "processes" else None
    if (opts["backend"] == "processes" and opts["keep_pool"] and opts["workers"] > 1 and len(payloads) > 1
            and _reusable(prog, payloads, pickled)):
        results = _imap_persistent(payloads, opts["workers"])
    else:
        results = imap(_run_block, payloads, progress=False, **kwargs)
    for i, out in results:
        if out[0] == "error":
            (name, start, end, _), exc = out[1], out[2]
            _raise((name, start, end, exc))
        outs[i] = out
    merged = {}
    for op in prog.ops:
        if not op.kept or op.mut:
            continue
        parts = [o[1][op.index] for o in outs]
        if isinstance(op.out_type, Reduce):
            merged[op.index] = op.out_type.merge([p for part in parts for p in part])
        else:
            merged[op.index] = op.out_type.merge(parts)
    mut_slots = [k for k, (slot, t) in enumerate(prog.inputs) if _is_mut_input(prog, slot)]
    for j, k in enumerate(mut_slots):
        t = prog.inputs[k][1]
        for (a, b), o in zip(zip(edges[:-1], edges[1:]), outs):
            t.split(values[k], a, b)[...] = o[2][j]
    return merged


def describe_piece_size(stage: Stage, opts: dict) -> str:
    """One line on a stage's elements and pieces, as :func:`dawnlab.mozart.explain` prints it.

    Before a run the bytes per element are estimated the way the runtime counts
    them after its probe: the split inputs' own, 8 per kept result, and 8 per
    scratch buffer the stage needs at once (buffers reused after their last
    reader); the probe then measures the real dtypes.
    """
    n = None
    bpe = 0.0
    seen = set()
    kept = {o.id for o in stage.outputs}
    last_use: dict[int, int] = {}
    for i, node in enumerate(stage.nodes):
        for _, v, t in node.inputs():
            if isinstance(v, Node) and stage.contains(v):
                last_use[v.id] = i
            elif t.splits and id(v) not in seen:
                seen.add(id(v))
                value = v.value if isinstance(v, Node) and v.done else (None if isinstance(v, Node) else v)
                if value is not None:
                    n = t.elements(value)
                    bpe += t.bytes_per_element(value)
                else:
                    bpe += 8.0
    live, peak = 0, 0
    for i, node in enumerate(stage.nodes):
        if isinstance(node.out_type, Reduce):
            pass
        elif node.id in kept:
            bpe += 8.0
        else:
            live += 1
            peak = max(peak, live)
        live -= sum(1 for nid, last in last_use.items() if last == i and nid not in kept
                    and not isinstance(next(x for x in stage.nodes if x.id == nid).out_type, Reduce))
    bpe += 8.0 * peak
    where = f"{n} elements" if n is not None else "elements known once the earlier stages have run"
    if opts["piece_size"]:
        size, why = opts["piece_size"], "piece size set by the caller"
    else:
        size = piece_size_for(bpe or 8.0)
        why = (f"from the {l2_cache_bytes() // 1024} KiB L2 cache and about {bpe:.0f} bytes per element "
               "after buffer reuse, assuming 8-byte results; the first piece measures them, and the next two "
               "are timed: pieces grow where calls are too short for the GIL-held share")
        pandas_stage = any(isinstance(t, RowSplit) for node in stage.nodes for _, _, t in node.inputs())
        if pandas_stage and n is not None:
            big = max(size, min(PANDAS_PIECE, -(-n // max(1, opts["workers"]))))
            if big != size:
                size, why = big, (f"pandas calls: min({PANDAS_PIECE}, elements / workers) rows, not the "
                                  f"{size} that the L2 cache alone would give")
    count = f" in {max(1, -(-n // size))} piece(s) of {size}" if n is not None else f", pieces of {size}"
    return f"{where}{count} ({why})"
