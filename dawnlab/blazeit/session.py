"""A BlazeIt session: a video, an oracle, a store, the specialized NN and the optimizer.

This ties the parts of arXiv 1805.01046 together (Figure 2, the system
overview): :meth:`Session.query` parses FrameQL (Section 3), trains the
specialized NN on oracle labels of a training part of the video if it has
not been trained (Section 5), and runs the query's optimized plan:

- aggregates with an ``ERROR WITHIN``: ``FCOUNT`` (and ``COUNT(*)``, which is
  the number of frames times ``FCOUNT``) by sampling without replacement
  with the NN as control variate and a betting confidence sequence on a
  range declared before sampling (Section 6,
  :mod:`dawnlab.blazeit.aggregate`), starting from the held-out frames (a
  random sample of the video): when they alone prove the error, the NN's
  mean corrected by their difference estimate answers (Section 6.1); ``COUNT(DISTINCT trackid)`` and queries
  without ``ERROR WITHIN`` are answered exactly; ``Result.info["path"]``
  says which plan answered;
- limit queries: oracle in the NN's rank order with GAP (Section 7,
  :mod:`dawnlab.blazeit.limit`);
- selection queries: exact content-based filters (temporal, colour), and
  with an ``FNR WITHIN`` budget learned ones (spatial, area, label)
  calibrated on random frames of the video; ``FPR WITHIN`` lets confident
  frames through unconfirmed; then the oracle (the first version's Section 5,
  :mod:`dawnlab.blazeit.selection`); ``Result.info`` reports the frames each
  filter removed and the oracle calls of the full scan.

``method="random"`` and ``method="scan"`` run the baselines.  :meth:`Session.steps`
yields the running answer (a widget consumes it one step at a time);
:meth:`Session.exact` answers from the fully labelled video in DuckDB, whose
track ids the store links automatically; :meth:`Session.stream` runs a
standing query on a live source (:mod:`dawnlab.blazeit.live`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from dawnlab.blazeit.aggregate import estimate_mean, low_share
from dawnlab.blazeit.frameql import Query, parse
from dawnlab.blazeit.limit import frame_scores, scan
from dawnlab.blazeit.selection import (Foreground, accept_threshold, colour_filters,
                                       frame_max_score, label_threshold, min_area, query_region)
from dawnlab.blazeit.sources import VideoSource, open_source
from dawnlab.blazeit.specialized import SpecializedNN
from dawnlab.blazeit.stratified import estimate_mean_stratified
from dawnlab.blazeit.store import Store, ordered_frames
from dawnlab.errors import DataError, invalid

__all__ = ["Session", "Result"]

_METHODS = ("blazeit", "random", "scan")
_SAMPLERS = ("cv", "stratified")


@dataclass
class Result:
    """The answer to a FrameQL query.

    Attributes
    ----------
    value : float or list of int
        A number for aggregates; frame indices (timestamps) for limit and
        selection queries.
    interval : (float, float) or None
        For aggregates, the interval that holds the true value with the
        requested confidence (a point when exact).
    oracle_calls : int
        Frames whose oracle labels the query's answer used (labels already in
        the store count too: the cost on a fresh store, every chunk overrun
        included).  ``info["oracle_calls_by_purpose"]`` splits the cost into
        ``training``, ``heldout`` and ``query`` (each frame once) and
        ``info["oracle_calls_all_purposes"]`` is their sum.
    seconds : float
        Time spent computing the answer (a consumer's pauses between steps
        are not counted; a live query reports its wall time, pacing
        included, as ``info["elapsed"]``).
    method : str
        ``"blazeit"``, ``"blazeit-nn"`` (the NN alone), ``"random"``, ``"scan"``,
        ``"exact"`` or ``"live"``.
    kind : str
    n_frames : int
        Frames the query ranges over.
    new_oracle_calls : int
        Oracle runs this query actually made (frames not yet in the store).
    history : list of tuple
        ``(oracle_calls, value, low, high)`` after each step, for plots.
    info : dict
        Extra figures (skipped frames, live counters, ...).
    rows : pandas.DataFrame or None
        For limit and selection queries that select more than ``timestamp``
        (``SELECT *`` or columns): those columns of the detections behind the
        answer's frames.
    """

    value: object
    interval: tuple[float, float] | None
    oracle_calls: int
    seconds: float
    method: str
    kind: str
    n_frames: int
    new_oracle_calls: int = 0
    history: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    rows: object = None


def _int_sequence(value) -> bool:
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001
        return False
    return arr.ndim == 1 and (len(arr) == 0 or np.issubdtype(arr.dtype, np.integer))


def _conjunct_classes(query: Query):
    """Classes named by a top-level ``class = 'c'`` / ``class IN (...)`` conjunct, else None."""
    from sqlglot import exp

    where = query.ast.args.get("where") if query.ast is not None else None
    if where is None:
        return None
    conj = where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
    found = None
    for c in conj:
        names = None
        if isinstance(c, exp.EQ):
            col, lit = (c.this, c.expression) if isinstance(c.this, exp.Column) else \
                (c.expression, c.this)
            if isinstance(col, exp.Column) and col.name.lower() == "class" and \
                    isinstance(lit, exp.Literal) and lit.is_string:
                names = {lit.name}
        elif isinstance(c, exp.In) and isinstance(c.this, exp.Column) and \
                c.this.name.lower() == "class" and all(
                    isinstance(e, exp.Literal) and e.is_string for e in c.expressions):
            names = {e.name for e in c.expressions}
        if names is not None:
            found = names if found is None else found & names
    return None if found is None else sorted(found)


def _sort_rows(rows, query: Query):
    """Rows in the query's ``ORDER BY`` (stable, so ties keep their time order)."""
    keys = [] if rows is None else [(c, d) for c, d in query.order if c in rows.columns]
    if not keys:
        return rows
    return rows.sort_values([c for c, _ in keys], ascending=[not d for _, d in keys],
                            kind="stable").reset_index(drop=True)


class Session:
    """FrameQL over one video with one oracle, labels kept in a DuckDB store.

    Parameters
    ----------
    source : VideoSource, path, folder, camera index or URL
        The video (see :func:`dawnlab.blazeit.sources.open_source`).
    oracle : object
        The detector (``classes``, ``name``, ``detect(image, index)``).
    store : Store, path or None
        Where labels live; a path opens a DuckDB file; in memory by default.
    train_frames : int or sequence of int, optional
        Frames whose oracle labels train the specialized NN (default: 10% of
        a recorded video, at least 200 frames and at most 3000).  An int
        ``n`` means ``n`` frames drawn at random across the whole video
        (never just its first frames, which need not look like the rest).
    heldout_frames : int or sequence of int
        Frames held out from training: an int ``n`` means ``n`` further
        frames drawn at random across the video.  Their oracle labels are a
        uniform random sample of the video, so an aggregate starts from them
        (and is answered without new oracle calls when they already prove
        the requested error: the NN plus a difference estimate, Section 6.1)
        and selection filters are checked on them.  A sequence (frames the
        user chose) is not assumed to be random: its labels are kept, but no
        interval starts from them and the selection budgets are set on a
        random sample drawn apart.
    train_source : VideoSource, optional
        Train on another recording of the same camera (BlazeIt trains on a
        different day of video); its labels live in a private store.  Its
        held-out frames say nothing about the queried video, so no answer
        comes from the NN and them alone.
    train_oracle : object, optional
        The oracle for ``train_source`` when it differs (the synthetic scene's
        oracle belongs to its own video).
    epochs : int
    thumb_size : int
        Side of the NN's input (65 in the paper).
    flip : bool
        Train the NN on mirrored thumbnails too and average its predictions
        over both (:class:`~dawnlab.blazeit.specialized.SpecializedNN`).
    seed : int
    max_objects : int or dict, optional
        The most detections the oracle returns for one frame (a dict: per
        class), declared before any sampling; it is the range an aggregate's
        confidence interval rests on.  Default: the oracle's own
        ``max_objects`` attribute; an oracle without one needs it here.  A
        frame with more detections is an error, never a silently wider range.
    table : str or tuple of str, optional
        The name(s) queries use for this video in ``FROM``; when given, a
        query naming another video is an error (:class:`FrameQLError`).  By
        default any name is accepted.

    Examples
    --------
    >>> from dawnlab.blazeit import synthetic
    >>> src, oracle = synthetic.scene(400, seed=0)
    >>> s = Session(src, oracle, train_frames=150, heldout_frames=50, epochs=1)
    >>> s.exact("SELECT COUNT(*) FROM v WHERE class = 'bus'") >= 0
    True
    """

    def __init__(self, source, oracle, store=None, *, train_frames=None,
                 heldout_frames=300, train_source: VideoSource | None = None,
                 train_oracle=None,
                 epochs: int = 6, thumb_size: int = 65, seed: int = 0, lr: float = 1e-2,
                 max_objects=None, table: str | tuple[str, ...] | None = None,
                 flip: bool = False):
        for name, value, least in (("train_frames", train_frames, 2),
                                   ("heldout_frames", heldout_frames, 0)):
            if value is None and name == "train_frames":
                continue
            if isinstance(value, (bool, np.bool_)) or not (
                    isinstance(value, (int, np.integer)) or _int_sequence(value)):
                raise invalid(name, "Session", f"an int >= {least} or a sequence of frame "
                              "indices", value)
            if isinstance(value, (int, np.integer)) and value < least:
                raise invalid(name, "Session", f"an int >= {least} or a sequence of frame "
                              "indices", value)
        if not isinstance(epochs, (int, np.integer)) or isinstance(epochs, bool) or epochs < 1:
            raise invalid("epochs", "Session", "a positive int", epochs)
        if not isinstance(thumb_size, (int, np.integer)) or thumb_size < 16:
            raise invalid("thumb_size", "Session", "an int >= 16", thumb_size)
        if not isinstance(flip, (bool, np.bool_)):
            raise invalid("flip", "Session", "True or False", flip)
        self.flip = bool(flip)
        names = (table,) if isinstance(table, str) else table
        if names is not None and (not isinstance(names, (tuple, list)) or not names or
                                  not all(isinstance(n, str) and n for n in names)):
            raise invalid("table", "Session", "a non-empty name or tuple of names", table)
        self.table = None if names is None else tuple(names)
        self.source = open_source(source)
        if not hasattr(oracle, "detect") or not hasattr(oracle, "classes"):
            raise invalid("oracle", "Session", "an object with 'classes' and 'detect(image, "
                          "index)'", oracle)
        self.oracle = oracle
        mo = max_objects if max_objects is not None else getattr(oracle, "max_objects", None)
        ok = (isinstance(mo, (int, np.integer)) and mo >= 1) or (
            isinstance(mo, dict) and set(mo) >= set(oracle.classes)
            and all(isinstance(v, (int, np.integer)) and v >= 0 for v in mo.values()))
        if not ok:
            raise invalid("max_objects", "Session", "a positive int (the most detections the "
                          "oracle returns per frame) or a dict of them for every class "
                          f"{list(oracle.classes)}, given here or as the oracle's attribute "
                          "'max_objects'", mo)
        self.max_objects = mo
        self.store = store if isinstance(store, Store) else Store(store)
        self.store.attach(self.source, oracle)
        self.train_frames, self.heldout_frames, self.lr = train_frames, heldout_frames, lr
        self.train_source, self.epochs, self.thumb_size = train_source, epochs, thumb_size
        self.train_oracle = train_oracle or oracle
        self.seed = seed
        #: confidence at which FNR WITHIN / FPR WITHIN budgets hold (split over the filters)
        self.budget_confidence = 0.95
        self.calib_: np.ndarray | None = None
        self.train_store_: Store | None = None
        self.train_calls_ = {"training": 0, "heldout": 0}
        self._fg_cache: dict[int, tuple] = {}
        self.nn_: SpecializedNN | None = None
        self.proba_: np.ndarray | None = None
        self.heldout_: np.ndarray | None = None
        self.heldout_random_ = True
        self.heldout_counts_: np.ndarray | None = None
        self.heldout_proba_: np.ndarray | None = None
        self.train_: np.ndarray | None = None
        self.train_seconds_ = 0.0

    # -- helpers -----------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        if self.source.n_frames is None:
            raise invalid("source", "Session.query", "a recorded video (use Session.stream for "
                          "live sources)", self.source.name)
        return int(self.source.n_frames)

    def parse(self, text: str) -> Query:
        """Parse ``text`` against this oracle's classes (and this video's name, if set)."""
        return parse(text, classes=self.oracle.classes, table=self.table)

    def _as_query(self, text) -> Query:
        if not isinstance(text, Query):
            return self.parse(text)
        if self.table is not None:
            parse(text.text, classes=self.oracle.classes, table=self.table)  # same checks
        return text

    def label_all(self, progress: Callable | None = None) -> int:
        """Run the oracle on every frame not yet labelled (the full scan); return new calls."""
        new = self.store.label(self.source, self.oracle, range(self.n_frames), progress)
        return new

    def _class_counts(self, frames, store: Store) -> np.ndarray:
        """Oracle counts per class of (labelled) ``frames`` in ``store``, shape (n, n_classes)."""
        classes = list(self.oracle.classes)
        if len(frames) == 0:
            return np.zeros((0, len(classes)), dtype=np.int64)
        sums = ", ".join(f"COUNT(d.class) FILTER (WHERE d.class = '{c}')" for c in classes)
        rows = store.sql(
            f"SELECT f.frame, {sums} FROM (SELECT unnest(?::BIGINT[]) AS frame) f "
            "LEFT JOIN detections d ON d.frame = f.frame GROUP BY f.frame",
            [list(map(int, frames))]).fetchall()
        table = {int(r[0]): r[1:] for r in rows}
        return np.array([table[int(f)] for f in frames], dtype=np.int64)

    def count_range(self, query: Query) -> int:
        """The largest per-frame count the query's first term can take, known before sampling.

        The oracle's declared maximum detections per frame (``max_objects``);
        with a per-class declaration and a top-level conjunct ``class = 'c'``
        (or ``class IN (...)``), the sum over those classes only.

        Examples
        --------
        >>> from dawnlab.blazeit import synthetic
        >>> src, oracle = synthetic.scene(100, seed=0)
        >>> s = Session(src, oracle)
        >>> s.count_range(s.parse("SELECT FCOUNT(*) FROM v WHERE class = 'bus' ERROR WITHIN 1"))
        6
        """
        mo = self.max_objects
        if isinstance(mo, dict):
            names = _conjunct_classes(query)
            if names is None:
                return int(sum(mo.values()))
            return int(sum(mo.get(c, 0) for c in names))
        return int(mo)

    def _thumbs(self, frames, source=None) -> np.ndarray:
        """Thumbnails of ``frames`` in the order given (sources decode in ascending order)."""
        source = source or self.source
        frames = np.asarray(frames, dtype=np.int64)
        out = np.zeros((len(frames), self.thumb_size, self.thumb_size, 3), np.uint8)
        if len(frames) == 0:
            return out
        where = {int(f): k for k, f in enumerate(frames)}
        got = 0
        for idx, t in source.thumbnails(frames, self.thumb_size):
            for i, thumb in zip(idx, t):
                out[where[int(i)]] = thumb
                got += 1
        if got < len(set(where)):
            raise DataError(f"Only {got} of {len(set(where))} requested frames of "
                            f"{source.name!r} could be decoded (a truncated video?).")
        return out

    def _split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Training and held-out frames: random, disjoint, across the whole recording."""
        tf, hf = self.train_frames, self.heldout_frames
        rng = np.random.default_rng([int(self.seed), 11])
        if tf is None:
            tf = int(min(3000, max(200, 0.1 * n)))
        explicit_t = not isinstance(tf, (int, np.integer))
        explicit_h = not isinstance(hf, (int, np.integer))
        train = np.asarray(tf, dtype=np.int64) if explicit_t else None
        held = np.asarray(hf, dtype=np.int64) if explicit_h else None
        for name, arr in (("train_frames", train), ("heldout_frames", held)):
            if arr is not None and len(arr) and (arr.min() < 0 or arr.max() >= n):
                raise invalid(name, "Session.train", f"frame indices in [0, {n})", arr)
            if arr is not None and len(np.unique(arr)) != len(arr):
                raise invalid(name, "Session.train", "distinct frame indices (each frame is "
                              "labelled and sampled once)", f"{len(arr)} indices of which "
                              f"{len(arr) - len(np.unique(arr))} repeat earlier ones")
        if train is not None and held is not None and np.isin(held, train).any():
            raise invalid("heldout_frames", "Session.train", "frames not among the training "
                          "frames (held-out frames check the NN on frames it did not see)",
                          held[np.isin(held, train)][:5])
        order = rng.permutation(n)  # a random order of the recording's frames
        if train is None:
            pool = order if held is None else order[~np.isin(order, held)]
            train = pool[:min(int(tf), len(pool))]
        if held is None:
            pool = order[~np.isin(order, train)]
            held = pool[:min(int(hf), len(pool))]  # in random order: a uniform sample
        if len(train) < 2:
            raise invalid("train_frames", "Session.train", "at least 2 frames to train on "
                          f"(the recording has {n})", self.train_frames)
        return train, held

    def train(self, progress: Callable | None = None) -> Session:
        """Label the training and held-out frames, train the NN, predict every frame.

        Each frame is labelled once: on the queried video into the session's
        store (later queries reuse the labels), on a ``train_source`` into a
        private store.  ``train_calls_`` says how many oracle calls each
        purpose took.
        """
        t0 = time.perf_counter()
        src = self.train_source or self.source
        n = int(src.n_frames)
        train, held = self._split(n)
        if src is self.source:
            store, oracle = self.store, self.oracle
        else:
            oracle = self.train_oracle
            store = Store().attach(src, oracle)
        self.train_store_ = store
        c0 = store.oracle_calls
        store.label(src, oracle, train)
        c1 = store.oracle_calls
        store.label(src, oracle, held)
        self.train_calls_ = {"training": c1 - c0, "heldout": store.oracle_calls - c1}
        y = self._class_counts(train, store)
        self.nn_ = SpecializedNN(self.oracle.classes, epochs=self.epochs, seed=self.seed,
                                 lr=self.lr, batch_size=32, flip=self.flip)
        self.nn_.fit(self._thumbs(train, src), y, progress=progress)
        self.train_ = train
        self.heldout_ = held
        # an int drew them at random; a sequence the user chose is labelled data, never
        # assumed to be a uniform sample (no interval starts from it, no budget is set on it)
        self.heldout_random_ = isinstance(self.heldout_frames, (int, np.integer))
        self.heldout_counts_ = self._class_counts(held, store) if len(held) else None
        self.heldout_proba_ = self.nn_.predict_proba(self._thumbs(held, src)) if len(held) \
            else None
        self.heldout_source_ = src
        self.train_seconds_ = time.perf_counter() - t0
        t1 = time.perf_counter()
        if not self.source.live:
            parts = [self.nn_.predict_proba(t) for _, t in
                     self.source.thumbnails(range(self.n_frames), self.thumb_size, batch=1024)]
            self.proba_ = np.concatenate(parts)
        self.predict_seconds_ = time.perf_counter() - t1
        self.train_oracle_calls_ = len(train) + len(held)
        return self

    def _ensure_trained(self):
        # an NN trained on a stream (Session.stream(train=n)) has no predictions for this
        # recording: train on the recording itself
        if self.nn_ is None or (not self.source.live and self.proba_ is None):
            self.train()

    def _proxy(self, query: Query, proba: np.ndarray) -> np.ndarray:
        """The NN's expected value of the query's (first) per-frame count."""
        classes = list(self.oracle.classes)
        names = [c for c in query.terms[0].classes if c in classes] or classes
        exp_counts = SpecializedNN.expected(proba)
        return exp_counts[:, [classes.index(c) for c in names]].sum(axis=1)

    def _proxy_sd(self, query: Query, proba: np.ndarray) -> np.ndarray:
        """The NN's predicted standard deviation of the query's per-frame count.

        From its count distribution per class (classes summed as independent);
        used only to allocate stratified draws, never in an interval.
        """
        classes = list(self.oracle.classes)
        names = [c for c in query.terms[0].classes if c in classes] or classes
        idx = [classes.index(c) for c in names]
        bins = np.arange(proba.shape[-1])
        p = proba[:, idx, :]
        mean = (p * bins).sum(-1)
        var = np.maximum((p * bins ** 2).sum(-1) - mean ** 2, 0.0)
        return np.sqrt(var.sum(axis=1))

    # -- public API --------------------------------------------------------------
    def exact(self, text: str | Query):
        """The exact answer from the fully labelled video (labels every frame first)."""
        query = self._as_query(text)
        self.label_all()
        return self.store.exact(query, self.n_frames)

    def query(self, text: str | Query, method: str = "blazeit", seed: int | None = None,
              callback: Callable | None = None, allow_nn_only: bool = True,
              sampler: str = "cv", bets: str = "adaptive") -> Result:
        """Run a FrameQL query with BlazeIt's optimizations (or a baseline).

        Parameters
        ----------
        text : str or Query
        method : {"blazeit", "random", "scan"}
            ``"random"`` samples (aggregates) or scans (limit/selection) in
            random order; ``"scan"`` looks at every frame in order.
        seed : int, optional
            Seed of the sampling order (default: the session's seed).
        callback : callable, optional
            Called with each intermediate :class:`Result` (live progress).
        allow_nn_only : bool
            Let an aggregate be answered by the NN alone when its held-out
            error allows (Section 6.1).
        sampler : {"cv", "stratified"}
            How BlazeIt samples an aggregate: ``"cv"`` without replacement
            with the NN as control variate (Section 6.3,
            :mod:`dawnlab.blazeit.aggregate`); ``"stratified"`` by strata of
            the NN's score with an allocation chosen before sampling and the
            NN as control variate inside the strata
            (:mod:`dawnlab.blazeit.stratified`; it does not answer from the
            NN alone).  Both intervals hold at the stated confidence.
        bets : {"adaptive", "mixture"}
            How the betting confidence sequence truncates its bets
            (:class:`~dawnlab.blazeit.aggregate.BettingCS`); both are valid.

        Returns
        -------
        Result
        """
        result = None
        for step in self.steps(text, method, seed, allow_nn_only, callback=callback,
                               sampler=sampler, bets=bets):
            if result is not None and callback is not None:
                callback(result)
            result = step
        return result

    def steps(self, text: str | Query, method: str = "blazeit", seed: int | None = None,
              allow_nn_only: bool = True, callback: Callable | None = None,
              sampler: str = "cv", bets: str = "adaptive") -> Iterator[Result]:
        """Run a query step by step: yield the running answer, the final one last.

        An aggregate yields its estimate and interval after each check of the
        stopping rule (the interval narrows as oracle calls accrue); limit and
        selection queries yield their answer once.  A widget consumes one step
        per tick; :meth:`query` consumes them all.  The arguments are those of
        :meth:`query` (``callback`` reports each hit of a limit query).

        Examples
        --------
        >>> from dawnlab.blazeit import synthetic
        >>> src, oracle = synthetic.scene(300, seed=0)
        >>> s = Session(src, oracle)
        >>> steps = list(s.steps("SELECT FCOUNT(*) FROM v WHERE class = 'car' "
        ...                      "ERROR WITHIN 0.3", method="random"))
        >>> steps[-1].info["final"], steps[0].oracle_calls <= steps[-1].oracle_calls
        (True, True)
        """
        if method not in _METHODS:
            raise invalid("method", "Session.query", f"one of {_METHODS}", method)
        if sampler not in _SAMPLERS:
            raise invalid("sampler", "Session.query", f"one of {_SAMPLERS}", sampler)
        if bets not in ("adaptive", "mixture"):
            raise invalid("bets", "Session.query", "'adaptive' or 'mixture'", bets)
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(
                seed, (int, np.integer)) or seed < 0):
            raise invalid("seed", "Session.query", "None or an int >= 0", seed)
        if not isinstance(allow_nn_only, (bool, np.bool_)):
            raise invalid("allow_nn_only", "Session.query", "True or False", allow_nn_only)
        query = self._as_query(text)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        t0 = time.perf_counter()
        before = self._all_calls()
        trained_before = self.nn_ is not None
        if query.kind == "aggregate":
            gen = self._aggregate(query, method, rng, allow_nn_only, sampler, bets)
        elif query.kind == "limit":
            gen = iter([self._limit(query, method, rng, callback)])
        elif query.kind == "track":
            gen = iter([self._track(query)])
        else:
            gen = iter([self._select(query, method, rng, callback)])
        busy = 0.0  # time spent computing, not waiting for the consumer between steps
        while True:
            try:
                result = next(gen)
            except StopIteration:
                return
            busy += time.perf_counter() - t0
            result.seconds = busy
            new = self._all_calls() - before
            train_now = 0 if trained_before or self.nn_ is None else \
                sum(self.train_calls_.values())
            result.new_oracle_calls = new
            uses_nn = method == "blazeit" and result.method != "exact" and \
                result.method != "scan"
            purpose = {"training": self.train_calls_["training"] if uses_nn else 0,
                       "heldout": self.train_calls_["heldout"] if uses_nn else 0}
            own = result.oracle_calls
            if uses_nn and self.train_ is not None:
                # frames of the answer that were labelled for training / held out (or, with
                # a train_source, for calibration on this video) are charged there, once
                own = max(0, own - result.info.get("known_frames", 0)
                          - result.info.get("heldout_used", 0))
            purpose["query"] = own
            result.info["oracle_calls_by_purpose"] = purpose
            result.info["oracle_calls_all_purposes"] = int(sum(purpose.values()))
            result.info["oracle_calls_made_now"] = {"training_and_heldout": train_now,
                                                    "query": new - train_now}
            result.info.setdefault("final", True)
            if query.kind in ("select", "limit") and query.projection != ["timestamp"] and \
                    result.info["final"] and isinstance(result.value, list):
                # frames accepted unconfirmed (FPR WITHIN) have no labels to show
                shown = [f for f in result.value if f in self.store.labelled()]
                result.rows = _sort_rows(self.store.rows(query, shown), query)
            yield result
            t0 = time.perf_counter()

    def _all_calls(self) -> int:
        """Oracle invocations made by this session so far, over every store it labels."""
        calls = self.store.oracle_calls
        if self.train_store_ is not None and self.train_store_ is not self.store:
            calls += self.train_store_.oracle_calls
        return calls

    def _population(self, query: Query) -> np.ndarray:
        frames = np.arange(self.n_frames)
        return frames[self.store.frame_filter(query, frames)]

    def _exact_on(self, query: Query, pop: np.ndarray):
        """The exact aggregate over the frames ``pop`` (labelling them)."""
        self.store.label(self.source, self.oracle, pop)
        if len(pop) == self.n_frames:
            return self.store.exact(query, self.n_frames)
        if query.aggregate == "COUNT_DISTINCT_TRACKS":
            return self.store.distinct_tracks(query, pop)
        if query.aggregate in ("AVG", "MIN", "MAX"):
            return self.store.detection_value(query, pop)
        counts = self.store.frame_counts(query, pop)[:, 0]
        if query.aggregate == "FCOUNT":
            return float(counts.mean()) if len(counts) else float("nan")  # as exact()
        return int(counts.sum())

    def _aggregate(self, query, method, rng, allow_nn_only, sampler="cv",
                   bets="adaptive") -> Iterator[Result]:
        """FCOUNT, and COUNT(*) as frames x FCOUNT, are optimized; the rest is scanned.

        Yields the running estimates, then the answer; ``info["path"]`` says
        which plan answered.  BlazeIt's plan: the training frames of this
        video are known exactly; the rest is sampled without replacement
        starting with the held-out frames (a uniform random sample), with the
        NN as control variate and a betting confidence sequence
        (:mod:`dawnlab.blazeit.aggregate`) on the range :meth:`count_range`
        declared before sampling.  When the held-out frames alone already
        prove the error, the answer is the NN's mean corrected by their
        difference estimate, with no new oracle call (Section 6.1).
        """
        pop = self._population(query)
        scale = 1.0 if query.aggregate == "FCOUNT" else float(max(1, len(pop)))
        value_agg = query.aggregate in ("AVG", "MIN", "MAX")
        if query.error is None or method == "scan" or query.aggregate == "COUNT_DISTINCT_TRACKS" \
                or value_agg:
            value = self._exact_on(query, pop)
            if method == "scan":
                path = "full scan (baseline)"
            elif query.error is None:
                path = "exact scan: the query has no ERROR WITHIN"
            elif value_agg:
                path = (f"exact scan: {query.aggregate} over the matching detections is "
                        "answered exactly (BlazeIt samples per-frame counts; a mean per "
                        "detection is a ratio whose range is not declared)")
            else:
                path = ("exact scan: COUNT(DISTINCT trackid) is not sampled (a track spans many "
                        "frames, so a sample of frames does not estimate it without bias; "
                        "BlazeIt optimizes per-frame counts)")
            m = "scan" if method == "scan" or query.error is None else "exact"
            yield Result(value, None if value is None else (value, value), len(pop), 0.0, m,
                         "aggregate", len(pop),
                         info={"path": path, "oracle_calls_by_purpose": {"query": len(pop)}})
            return
        if len(pop) == 0 and query.aggregate == "FCOUNT":
            # a mean over no frame is undefined: NaN, as :meth:`exact` says
            yield Result(float("nan"), (float("nan"), float("nan")), 0, 0.0, "exact",
                         "aggregate", 0, info={"path": "no frame passes the query's frame "
                                               "filters: FCOUNT (a mean per frame) is "
                                               "undefined", "oracle_calls_by_purpose":
                                               {"query": 0}})
            return
        error = query.error / scale
        unit = "" if scale == 1.0 else f"COUNT(*) = {len(pop)} frames x FCOUNT; "
        value_range = self.count_range(query)
        if value_range < 1:
            raise invalid("max_objects", "Session", "a declared maximum of at least one "
                          "detection per frame for the queried classes (the range of the "
                          "sampled counts)", self.max_objects)
        n_pop = len(pop)
        proxy, first = None, None
        known = np.zeros(0, dtype=np.int64)
        known_sum = 0.0
        rest = pop
        if method == "blazeit":
            self._ensure_trained()
            if self.train_store_ is self.store:  # training labels of this video: known exactly
                known = pop[np.isin(pop, self.train_)]
                rest = pop[~np.isin(pop, self.train_)]
                if len(known):
                    known_sum = float(self.store.frame_counts(query, known)[:, 0].sum())
                pos = {int(f): k for k, f in enumerate(rest)}
                held = self.heldout_ if self.heldout_random_ else []
                first = np.array([pos[int(f)] for f in held if int(f) in pos],
                                 dtype=np.int64)
            proxy = self._proxy(query, self.proba_)[rest]
        if not allow_nn_only:
            first = None
        n_rest = len(rest)
        share = n_rest / max(1, n_pop)  # the sampled part's weight in the mean

        drawn = []  # the frames whose labels the answer used, for the calls by purpose

        def fetch(frames):
            drawn.extend(map(int, frames))
            self.store.label(self.source, self.oracle, frames)
            return self.store.frame_counts(query, frames)[:, 0]

        def scaled(lo, hi):
            base = known_sum / max(1, n_pop)
            return ((base + share * lo) * scale, (base + share * hi) * scale)

        history = []
        est = None
        n_first = 0 if first is None else len(first)
        if n_rest == 0:
            value = known_sum / max(1, n_pop) * scale
            yield Result(value, (value, value), len(known), 0.0, method, "aggregate", n_pop,
                         info={"path": unit + "every frame is a training frame: exact",
                               "range": value_range})
            return
        stratified = proxy is not None and sampler == "stratified"
        if stratified:
            sd = self._proxy_sd(query, self.proba_)[rest]
            ests = estimate_mean_stratified(fetch, rest, proxy, error / share,
                                            query.confidence, rng, value_range=value_range,
                                            sd=sd, c_prior=1.0, bets=bets)
        else:
            # with the NN, the miscoverage is split between the two ends from its
            # predictions (fixed before sampling); random sampling splits it evenly
            s_low = 0.5 if proxy is None else low_share(proxy, value_range, c=1.0)
            ests = estimate_mean(fetch, rest, proxy, error / share, query.confidence, rng,
                                 value_range=value_range, c_prior=1.0 if proxy is not None
                                 else 0.0, first=first, bets=bets, low_share=s_low)
        for est in ests:
            lo, hi = scaled(*est.interval)
            history.append((est.n + len(known), (lo + hi) / 2, lo, hi))
            if not est.done:
                yield Result((lo + hi) / 2, (lo, hi), est.n + len(known), 0.0, method,
                             "aggregate", n_pop, history=list(history), info={"final": False})
        if proxy is None:
            path = "random sampling with a betting confidence sequence"
            m = method
        elif stratified:
            path = ("stratified sampling by the specialized NN's score (quantile strata, "
                    "allocation chosen from the NN before sampling), the NN as control "
                    "variate, and a betting confidence sequence on draws with replacement")
            m = "blazeit-strat"
        elif est.n <= n_first:
            path = ("specialized NN alone, corrected by the difference estimate of the "
                    f"{est.n} held-out frames drawn at random across the video: their "
                    "interval is within the error (Section 6.1), no new oracle call")
            m = "blazeit-nn"
        else:
            path = ("sampling with the specialized NN as control variate and a betting "
                    "confidence sequence (Section 6)")
            m = method
        if est.n >= n_rest:
            path += ("; it sampled the whole population, so the answer is exact (the error "
                     "asked for is below what sampling could prove sooner)")
        lo, hi = scaled(*est.interval)
        # held-out (and calibration) frames among those sampled were charged there
        held_used = self._overlap(np.unique(drawn))["heldout_used"]
        info = {"c": est.c, "path": unit + path, "range": value_range,
                "low_share": None if stratified else s_low,
                "known_frames": int(len(known)), "heldout_used": held_used}
        yield Result((lo + hi) / 2, (lo, hi), est.n + len(known), 0.0, m,
                     "aggregate", n_pop, history=history, info=info)

    @staticmethod
    def _class_sql(query: Query) -> str:
        if len(query.terms[0].classes) == 1:
            return f"(\"class\" = '{query.terms[0].classes[0]}')"
        return "TRUE" if not query.terms[0].classes else "<multi>"

    def _overlap(self, frames) -> dict:
        """How many of ``frames`` were labelled for training / held out (charged there)."""
        if self.train_ is None or frames is None:
            return {"known_frames": 0, "heldout_used": 0}
        frames = np.asarray(list(frames), dtype=np.int64)
        same = self.train_store_ is self.store
        calib = self.calib_ if self.calib_ is not None else np.zeros(0, np.int64)
        held = np.union1d(self.heldout_, calib) if same else calib
        return {"known_frames": int(np.isin(frames, self.train_).sum()) if same else 0,
                "heldout_used": int(np.isin(frames, held).sum())}

    def _qualifier(self, query: Query):
        self._last_frames = []

        def qualifies(frames) -> np.ndarray:
            self._last_frames.extend(frames)
            self.store.label(self.source, self.oracle, frames)
            return self.store.qualifies(query, frames)
        return qualifies

    def _limit(self, query, method, rng, callback) -> Result:
        pop = self._population(query)
        if method == "scan":
            order = pop
        elif method == "random":
            order = rng.permutation(pop)
        else:
            self._ensure_trained()
            scores = frame_scores(self.proba_[pop], self.oracle.classes, query.terms, query.logic)
            order = pop[np.lexsort((pop, -scores))]
        step = None
        history = []
        for step in scan(order, self._qualifier(query), query.limit, query.gap):
            if step.hit:
                history.append((step.calls, step.frame))
                if callback is not None:
                    callback(Result(list(step.hits), None, step.calls, 0.0, method, "limit",
                                    len(pop), history=list(history)))
        hits = step.hits if step else []
        calls = step.calls if step else 0
        return Result(sorted(hits), None, calls, 0.0, method, "limit",
                      len(pop), history=history, info=self._overlap(self._last_frames))

    def _track(self, query: Query) -> Result:
        """A track query (``GROUP BY trackid HAVING ...``), answered exactly.

        Tracks span many frames, so a sample of frames does not say which
        tracks qualify; the answer comes from the labelled video (every frame
        labelled, each once): the qualifying track ids, and their detections
        in ``Result.rows``.
        """
        self.label_all()
        st = self.store
        st._fresh_tracks()
        where = query.detection_sql + (f" AND ({query.frame_sql})" if query.frame_sql else "")
        having = f" HAVING {query.having_sql}" if query.having_sql else ""
        inner = f'(SELECT *, "timestamp" / {st.fps!r} AS seconds FROM rel)'
        desc = [d for c, d in query.order if c == "trackid"]
        ids = [int(r[0]) for r in st.con.execute(
            f"SELECT trackid FROM {inner} WHERE {where} GROUP BY trackid{having} "
            f"ORDER BY trackid{' DESC' if desc and desc[0] else ''}").fetchall()]
        if query.limit is not None:
            ids = ids[:query.limit]
        cols = query.projection
        names = (["timestamp", "seconds", "class", "xmin", "ymin", "xmax", "ymax", "score",
                  "trackid"] if "*" in cols else cols)
        rows = st.con.execute(
            f"SELECT {', '.join(chr(34) + c + chr(34) for c in names)} FROM {inner} "
            f"WHERE {where} AND trackid IN (SELECT unnest(?::BIGINT[])) "
            'ORDER BY trackid, "timestamp"', [ids]).df()
        rows = _sort_rows(rows, query)
        n = self.n_frames
        return Result(ids, None, n, 0.0, "exact", "track", n, rows=rows,
                      info={"path": "exact: a track query is answered over the fully labelled "
                                    "video (a sample of frames does not say which tracks "
                                    "qualify)"})

    def _heldout_positive(self, query: Query) -> np.ndarray:
        """Held-out frames whose oracle class counts satisfy every term."""
        classes = list(self.oracle.classes)
        holds = []
        for term in query.terms:
            idx = [classes.index(c) for c in term.classes if c in classes] or \
                list(range(len(classes)))
            part = self.heldout_counts_[:, idx]
            n = (part > 0).sum(axis=1) if term.distinct == "class" else part.sum(axis=1)
            holds.append(np.asarray(term.holds(n), dtype=bool))
        return query.combine(holds)

    def _calibration(self) -> np.ndarray:
        """Labelled frames drawn at random across the queried video (selection budgets).

        The held-out frames when they are of this video and were drawn at
        random (``heldout_frames`` an int); with a ``train_source`` or
        held-out frames the user chose, a random sample of this video of the
        same size (at least 300), labelled once and charged as held-out calls.
        """
        same = self.train_store_ is self.store or self.train_source is None
        if same and self.heldout_random_:
            frames = self.heldout_  # charged as held-out calls by train()
        else:
            if self.calib_ is None:
                n = self.n_frames
                order = np.random.default_rng([int(self.seed), 13]).permutation(n)
                if same:  # frames the NN was not trained on, as random held-out ones are
                    order = order[~np.isin(order, self.train_)]
                k = min(len(order), max(300, len(self.heldout_)))
                self.calib_ = order[:k]
                # charged once, like the held-out frames (the cost on a fresh store); those
                # among the user's held-out frames were charged there
                charged = self.heldout_ if same else []
                self.train_calls_["heldout"] += int((~np.isin(self.calib_, charged)).sum())
            frames = self.calib_
        self.store.label(self.source, self.oracle, frames)  # (a no-op unless a new store)
        return frames

    def _heldout_store(self) -> Store:
        """The store holding the held-out frames' labels (labelled once, in :meth:`train`)."""
        return self.train_store_

    def _foreground(self, source) -> Foreground:
        """The background model of ``source`` (fitted once; the source is kept so its id stays its own)."""
        if id(source) not in self._fg_cache:
            self._fg_cache[id(source)] = (source, Foreground().fit(source))
        return self._fg_cache[id(source)][1]

    def _cheap_scores(self, source, frames, colours, inside, touch, need_fg) -> dict:
        """Per-frame scores of the content filters, decoding each frame once."""
        out = {udf: np.empty(len(frames)) for udf, _ in colours}
        out["fg"], out["blob"] = np.zeros(len(frames)), np.zeros(len(frames))
        fg = self._foreground(source) if need_fg else None
        for k, (_, img) in enumerate(source.frames(frames)):
            for udf, _ in colours:
                out[udf][k] = frame_max_score(img, udf, inside)
            if fg is not None:
                out["fg"][k], out["blob"][k] = fg.scores(img, touch)
        return out

    @staticmethod
    def _holds_without_detections(query: Query) -> bool:
        """Whether a frame with no detection matching the WHERE clause satisfies the query."""
        return bool(query.combine([np.atleast_1d(np.asarray(t.holds(0), dtype=bool))
                                   for t in query.terms])[0])

    def _select(self, query, method, rng, callback) -> Result:
        """Content-based selection (the first version's Section 5); see :mod:`.selection`."""
        pop = self._population(query)
        n = self.n_frames
        skipped = {"temporal": n - len(pop), "colour": 0, "spatial": 0, "area": 0, "label": 0}
        info = {"skipped": skipped, "oracle_calls_scan": n, "thresholds": {},
                "accepted_without_oracle": 0}
        cand = pop
        accepted = np.zeros(0, dtype=np.int64)
        if method == "blazeit" and len(cand):
            self._ensure_trained()
            h, w = self.source.frame(int(cand[0])).shape[:2]
            inside, touch = query_region(query, w, h)
            spatial = touch != (0, 0, w, h)
            area = min_area(query)
            colours = colour_filters(query)
            if self._holds_without_detections(query):
                # a frame with no matching detection qualifies (e.g. HAVING COUNT(*) < 1):
                # the content filters skip exactly such frames, so none may be used
                spatial, area, colours = False, None, []
                info["content_filters"] = ("off: the query holds for a frame with no "
                                           "matching detection")
            scores = self._cheap_scores(self.source, cand, colours, inside, touch,
                                        spatial or area is not None)
            budgets = query.fnr is not None or query.fpr is not None
            held = self._calibration() if budgets else np.zeros(0, dtype=np.int64)
            held = held[np.isin(held, pop)]  # a uniform random sample of the population
            positive = self.store.qualifies(query, held) if len(held) else np.zeros(0, bool)
            hscores = self._cheap_scores(self.source, held, colours, inside, touch,
                                         budgets and (spatial or area is not None))
            scores["label"] = frame_scores(self.proba_[cand], self.oracle.classes, query.terms,
                                           query.logic)
            hscores["label"] = frame_scores(self.proba_[held], self.oracle.classes, query.terms,
                                            query.logic)
            # learned (inexact) filters only with an FNR budget: without one the answer is exact
            learned = [name for name, on in (("spatial", spatial), ("area", area is not None),
                                             ("label", True)) if on] if query.fnr else []
            fnr = None if query.fnr is None else query.fnr / max(1, len(learned))
            conf_each = 1 - (1 - self.budget_confidence) / max(1, len(learned))
            info["budget_confidence"] = self.budget_confidence
            keep = np.ones(len(cand), dtype=bool)
            hkeep = np.ones(len(held), dtype=bool)
            for udf, t in colours:  # exact: no box in the region can reach the colour score
                ok = scores[udf] >= t
                skipped["colour"] += int((keep & ~ok).sum())
                keep &= ok
                hkeep &= hscores[udf] >= t
            for name in learned:
                key = {"spatial": "fg", "area": "blob", "label": "label"}[name]
                pos = hscores[key][positive]
                if len(pos) == 0:
                    info["thresholds"][name] = None  # nothing to check it on: not used
                    continue
                thr = label_threshold(hscores[key], positive, fnr, conf_each)
                info["thresholds"][name] = thr
                ok = scores[key] >= thr
                skipped[name] += int((keep & ~ok).sum())
                keep &= ok
                hkeep &= hscores[key] >= thr
            # calibration frames are labelled already: their hits are returned as they are
            keep |= np.isin(cand, held)
            cand = cand[keep]
            info["heldout_recall"] = float(hkeep[positive].mean()) if positive.any() else None
            if query.fpr is not None:
                t_acc = accept_threshold(hscores["label"][hkeep], positive[hkeep], query.fpr,
                                         confidence=self.budget_confidence,
                                         population=scores["label"][keep])
                info["thresholds"]["accept"] = t_acc
                if t_acc is not None:
                    sure = (scores["label"][keep] >= t_acc) & ~np.isin(cand, held)
                    accepted, cand = cand[sure], cand[~sure]
                    info["accepted_without_oracle"] = int(len(accepted))
        elif method == "random":
            cand = rng.permutation(pop)
        self.store.label(self.source, self.oracle, cand)
        ok = self.store.qualifies(query, cand) if len(cand) else np.zeros(0, bool)
        hits = ordered_frames(query, np.r_[np.asarray(cand)[ok], accepted])
        info.update(self._overlap(cand))
        return Result(hits, None, len(cand), 0.0, method, "select", len(pop), info=info)

    def stream(self, text: str | Query, source=None, **kwargs) -> Iterator[Result]:
        """Run a standing query on a live source; see :func:`dawnlab.blazeit.live.standing_query`."""
        from dawnlab.blazeit.live import standing_query

        return standing_query(self, text, source=source, **kwargs)
