"""A BlazeIt session: a video, an oracle, a store, the specialized NN and the optimizer.

This ties the parts of arXiv 1805.01046 together (Figure 2, the system
overview): :meth:`Session.query` parses FrameQL (Section 3), trains the
specialized NN on oracle labels of a training part of the video if it has
not been trained (Section 5), and runs the query's optimized plan:

- aggregates with an ``ERROR WITHIN``: ``FCOUNT`` (and ``COUNT(*)``, which is
  the number of frames times ``FCOUNT``) by the NN alone when its held-out
  error is small enough (Section 6.1), otherwise by sampling with the NN as
  control variate and empirical-Bernstein stopping (Section 6,
  :mod:`dawnlab.blazeit.aggregate`); ``COUNT(DISTINCT trackid)`` and queries
  without ``ERROR WITHIN`` are answered exactly; ``Result.info["path"]``
  says which plan answered;
- limit queries: oracle in the NN's rank order with GAP (Section 7,
  :mod:`dawnlab.blazeit.limit`);
- selection queries: content-based filters (temporal, colour, spatial, area,
  label), with ``FNR WITHIN`` / ``FPR WITHIN`` budgets checked on held-out
  frames, then the oracle (the first version's Section 5,
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

from dawnlab.blazeit.aggregate import bernstein_half_width, estimate_mean
from dawnlab.blazeit.frameql import Query, parse
from dawnlab.blazeit.limit import frame_scores, scan
from dawnlab.blazeit.selection import (Foreground, accept_threshold, colour_filters,
                                       frame_max_score, label_threshold, min_area, query_region)
from dawnlab.blazeit.sources import VideoSource, open_source
from dawnlab.blazeit.specialized import SpecializedNN
from dawnlab.blazeit.store import Store, greedy_gap
from dawnlab.errors import invalid

__all__ = ["Session", "Result"]

_METHODS = ("blazeit", "random", "scan")


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
        Frames whose oracle labels the query used (labels already in the store
        count too: this is the cost on a fresh store).
    seconds : float
        Wall time.
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
        Frames whose oracle labels train the specialized NN (default: the
        first 10% of a recorded video, at least 200 frames and at most 3000).
        An int ``n`` means the first ``n`` frames.
    heldout_frames : int or sequence of int
        Frames held out to choose how the NN is used: an int ``n`` means the
        ``n`` frames after the training part.
    train_source : VideoSource, optional
        Train on another recording of the same camera (BlazeIt trains on a
        different day of video); labels of it are not stored.  Then an int
        ``train_frames`` spreads that many frames over its first two thirds
        and ``heldout_frames`` over its last third.
    train_oracle : object, optional
        The oracle for ``train_source`` when it differs (the synthetic scene's
        oracle belongs to its own video).
    epochs : int
    thumb_size : int
        Side of the NN's input (65 in the paper).
    seed : int

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
                 epochs: int = 6, thumb_size: int = 65, seed: int = 0, lr: float = 1e-2):
        self.source = open_source(source)
        if not hasattr(oracle, "detect") or not hasattr(oracle, "classes"):
            raise invalid("oracle", "Session", "an object with 'classes' and 'detect(image, "
                          "index)'", oracle)
        self.oracle = oracle
        self.store = store if isinstance(store, Store) else Store(store)
        self.store.attach(self.source, oracle)
        self.train_frames, self.heldout_frames, self.lr = train_frames, heldout_frames, lr
        self.train_source, self.epochs, self.thumb_size = train_source, epochs, thumb_size
        self.train_oracle = train_oracle or oracle
        self.seed = seed
        #: without FNR WITHIN, the label filter skips a frame only when the NN gives the
        #: query's predicate a probability below this (and below half of every held-out hit's)
        self.absent_below = 0.05
        self.heldout_store_: Store | None = None
        self._fg_cache: dict[int, tuple] = {}
        self.nn_: SpecializedNN | None = None
        self.proba_: np.ndarray | None = None
        self.heldout_: np.ndarray | None = None
        self.train_seconds_ = 0.0

    # -- helpers -----------------------------------------------------------------
    @property
    def n_frames(self) -> int:
        if self.source.n_frames is None:
            raise invalid("source", "Session.query", "a recorded video (use Session.stream for "
                          "live sources)", self.source.name)
        return int(self.source.n_frames)

    def parse(self, text: str) -> Query:
        """Parse ``text`` against this oracle's classes."""
        return parse(text, classes=self.oracle.classes)

    def label_all(self, progress: Callable | None = None) -> int:
        """Run the oracle on every frame not yet labelled (the full scan); return new calls."""
        new = self.store.label(self.source, self.oracle, range(self.n_frames), progress)
        return new

    def _class_counts(self, frames, source=None) -> np.ndarray:
        """Oracle counts per class of ``frames``, shape (n, n_classes)."""
        if source is None or source is self.source:
            self.store.label(self.source, self.oracle, frames)
            classes = list(self.oracle.classes)
            sums = ", ".join(f"COUNT(d.class) FILTER (WHERE d.class = '{c}')" for c in classes)
            rows = self.store.sql(
                f"SELECT f.frame, {sums} FROM (SELECT unnest(?::BIGINT[]) AS frame) f "
                "LEFT JOIN detections d ON d.frame = f.frame GROUP BY f.frame",
                [list(map(int, frames))]).fetchall()
            table = {int(r[0]): r[1:] for r in rows}
            return np.array([table[int(f)] for f in frames], dtype=np.int64)
        out = []
        for i, img in source.frames(frames):
            dets = self.train_oracle.detect(img, i)
            out.append([sum(d.cls == c for d in dets) for c in self.oracle.classes])
        return np.array(out, dtype=np.int64)

    def _thumbs(self, frames, source=None) -> np.ndarray:
        source = source or self.source
        batches = [t for _, t in source.thumbnails(frames, self.thumb_size)]
        return np.concatenate(batches) if batches else np.zeros((0, self.thumb_size,
                                                                 self.thumb_size, 3), np.uint8)

    def train(self, progress: Callable | None = None) -> Session:
        """Label the training and held-out frames, train the NN, predict every frame."""
        t0 = time.perf_counter()
        src = self.train_source or self.source
        n = int(src.n_frames)
        tf, hf = self.train_frames, self.heldout_frames
        if self.train_source is not None:
            # another recording: spread the training frames over its first two thirds and the
            # held-out frames over the last third (frames far apart are more diverse)
            split = (2 * n) // 3
            k = int(min(split, 3000 if tf is None else tf)) if np.isscalar(tf) or tf is None \
                else None
            train = (np.unique(np.linspace(0, split - 1, k).astype(np.int64)) if k is not None
                     else np.asarray(tf, dtype=np.int64))
            held = (np.unique(np.linspace(split, n - 1, int(hf)).astype(np.int64))
                    if np.isscalar(hf) else np.asarray(hf, dtype=np.int64))
        else:
            if tf is None:
                tf = int(min(3000, max(200, 0.1 * n)))
            train = (np.arange(min(int(tf), n)) if np.isscalar(tf)
                     else np.asarray(tf, dtype=np.int64))
            end = int(train.max()) + 1 if len(train) else 0
            held = (np.arange(end, min(n, end + int(hf))) if np.isscalar(hf)
                    else np.asarray(hf, dtype=np.int64))
        y = self._class_counts(train, src)
        self.nn_ = SpecializedNN(self.oracle.classes, epochs=self.epochs, seed=self.seed,
                                 lr=self.lr, batch_size=32)
        self.nn_.fit(self._thumbs(train, src), y, progress=progress)
        self.heldout_ = held
        self.heldout_counts_ = self._class_counts(held, src) if len(held) else None
        self.heldout_proba_ = self.nn_.predict_proba(self._thumbs(held, src)) if len(held) \
            else None
        self.heldout_source_ = src
        self.heldout_store_ = None  # the held-out labels follow the frames chosen here
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
        if self.nn_ is None:
            self.train()

    def _proxy(self, query: Query, proba: np.ndarray) -> np.ndarray:
        """The NN's expected value of the query's (first) per-frame count."""
        classes = list(self.oracle.classes)
        names = [c for c in query.terms[0].classes if c in classes] or classes
        exp_counts = SpecializedNN.expected(proba)
        return exp_counts[:, [classes.index(c) for c in names]].sum(axis=1)

    # -- public API --------------------------------------------------------------
    def exact(self, text: str | Query):
        """The exact answer from the fully labelled video (labels every frame first)."""
        query = text if isinstance(text, Query) else self.parse(text)
        self.label_all()
        return self.store.exact(query, self.n_frames)

    def query(self, text: str | Query, method: str = "blazeit", seed: int | None = None,
              callback: Callable | None = None, allow_nn_only: bool = True) -> Result:
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

        Returns
        -------
        Result
        """
        result = None
        for step in self.steps(text, method, seed, allow_nn_only, callback=callback):
            if result is not None and callback is not None:
                callback(result)
            result = step
        return result

    def steps(self, text: str | Query, method: str = "blazeit", seed: int | None = None,
              allow_nn_only: bool = True, callback: Callable | None = None) -> Iterator[Result]:
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
        query = text if isinstance(text, Query) else self.parse(text)
        rng = np.random.default_rng(self.seed if seed is None else seed)
        t0 = time.perf_counter()
        before = self.store.oracle_calls
        if query.kind == "aggregate":
            gen = self._aggregate(query, method, rng, allow_nn_only)
        elif query.kind == "limit":
            gen = iter([self._limit(query, method, rng, callback)])
        else:
            gen = iter([self._select(query, method, rng, callback)])
        for result in gen:
            result.seconds = time.perf_counter() - t0
            result.new_oracle_calls = self.store.oracle_calls - before
            result.info.setdefault("final", True)
            yield result

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
        counts = self.store.frame_counts(query, pop)[:, 0]
        if query.aggregate == "FCOUNT":
            return float(counts.mean()) if len(counts) else 0.0
        return int(counts.sum())

    def _aggregate(self, query, method, rng, allow_nn_only) -> Iterator[Result]:
        """FCOUNT, and COUNT(*) as frames x FCOUNT, are optimized; the rest is scanned.

        Yields the running estimates, then the answer; ``info["path"]`` says
        which plan answered.
        """
        pop = self._population(query)
        scale = 1.0 if query.aggregate == "FCOUNT" else float(max(1, len(pop)))
        if query.error is None or method == "scan" or query.aggregate == "COUNT_DISTINCT_TRACKS":
            value = self._exact_on(query, pop)
            if method == "scan":
                path = "full scan (baseline)"
            elif query.error is None:
                path = "exact scan: the query has no ERROR WITHIN"
            else:
                path = ("exact scan: COUNT(DISTINCT trackid) is not sampled (a track spans many "
                        "frames, so a sample of frames does not estimate it without bias; "
                        "BlazeIt optimizes per-frame counts)")
            m = "scan" if method == "scan" or query.error is None else "exact"
            yield Result(value, (value, value), len(pop), 0.0, m, "aggregate", len(pop),
                         info={"path": path})
            return
        error = query.error / scale
        unit = "" if scale == 1.0 else f"COUNT(*) = {len(pop)} frames x FCOUNT; "
        proxy = None
        if method == "blazeit":
            self._ensure_trained()
            proxy = self._proxy(query, self.proba_)[pop]
            nn_only = self._nn_alone(query, error) if allow_nn_only else None
            if nn_only is not None:
                tau = float(proxy.mean()) if len(proxy) else 0.0
                yield Result(tau * scale, ((tau - error) * scale, (tau + error) * scale), 0, 0.0,
                              "blazeit-nn", "aggregate", len(pop),
                              info={"heldout_bound": nn_only * scale,
                                    "path": unit + "specialized NN alone: its held-out error "
                                    f"bound {nn_only:.4g} is within half the error {error:.4g} "
                                    "(Section 6.1)"})
                return

        def fetch(frames):
            self.store.label(self.source, self.oracle, frames)
            return self.store.frame_counts(query, frames)[:, 0]

        history = []
        est = None
        for est in estimate_mean(fetch, pop, proxy, error, query.confidence, rng):
            lo, hi = est.interval
            history.append((est.n, est.value * scale, lo * scale, hi * scale))
            if not est.done:
                yield Result(est.value * scale, (lo * scale, hi * scale), est.n, 0.0, method,
                             "aggregate", len(pop), history=list(history),
                             info={"final": False})
        path = unit + ("sampling with the specialized NN as control variate and empirical "
                       "Bernstein stopping (Section 6)" if proxy is not None else
                       "random sampling with empirical Bernstein stopping")
        lo, hi = est.interval
        yield Result(est.value * scale, (lo * scale, hi * scale), est.n, 0.0, method,
                     "aggregate", len(pop), history=history, info={"c": est.c, "path": path})

    def _nn_alone(self, query: Query, error: float | None = None) -> float | None:
        """Held-out check (Section 6.1): may the NN's mean answer within the error alone?

        Returns the bound on its error when the empirical Bernstein bound on the
        held-out difference between oracle and NN counts is within half the
        requested error (``error``, default the query's), else None.
        """
        error = query.error if error is None else error
        if self.heldout_counts_ is None or len(self.heldout_) < 100:
            return None
        if query.frame_sql is not None or query.detection_sql != self._class_sql(query):
            return None  # the NN predicts class counts only
        classes = list(self.oracle.classes)
        idx = [classes.index(c) for c in query.terms[0].classes] or list(range(len(classes)))
        y = self.heldout_counts_[:, idx].sum(axis=1)
        x = self._proxy(query, self.heldout_proba_)
        d = y - x
        bound = abs(float(d.mean())) + bernstein_half_width(
            float(d.var()), float(d.max() - d.min()), len(d), 1 - query.confidence)
        return bound if bound <= error / 2 else None

    @staticmethod
    def _class_sql(query: Query) -> str:
        if len(query.terms[0].classes) == 1:
            return f"(\"class\" = '{query.terms[0].classes[0]}')"
        return "TRUE" if not query.terms[0].classes else "<multi>"

    def _qualifier(self, query: Query):
        def qualifies(frames) -> np.ndarray:
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
            scores = frame_scores(self.proba_[pop], self.oracle.classes, query.terms)
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
        return Result(sorted(hits), None, step.calls if step else 0, 0.0, method, "limit",
                      len(pop), history=history)

    def _heldout_positive(self, query: Query) -> np.ndarray:
        """Held-out frames whose oracle class counts satisfy every term."""
        classes = list(self.oracle.classes)
        ok = np.ones(len(self.heldout_counts_), dtype=bool)
        for term in query.terms:
            idx = [classes.index(c) for c in term.classes if c in classes] or \
                list(range(len(classes)))
            ok &= term.holds(self.heldout_counts_[:, idx].sum(axis=1))
        return ok

    def _heldout_store(self) -> Store:
        """A private store with the oracle's labels of the held-out frames (labelled once)."""
        if self.heldout_store_ is None:
            src = self.heldout_source_
            oracle = self.oracle if src is self.source else self.train_oracle
            self.heldout_store_ = Store().attach(src, oracle)
            self.heldout_store_.label(src, oracle, self.heldout_)
        return self.heldout_store_

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
            scores = self._cheap_scores(self.source, cand, colours, inside, touch,
                                        spatial or area is not None)
            held = self.heldout_
            hsrc = self.heldout_source_
            positive = self._heldout_store().qualifies(query, held, temporal=False)
            hscores = self._cheap_scores(hsrc, held, colours, inside, touch,
                                         spatial or area is not None)
            scores["label"] = frame_scores(self.proba_[cand], self.oracle.classes, query.terms)
            hscores["label"] = frame_scores(self.heldout_proba_, self.oracle.classes, query.terms)
            learned = [name for name, on in (("spatial", spatial), ("area", area is not None),
                                             ("label", True)) if on]
            fnr = None if query.fnr is None else query.fnr / len(learned)
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
                if fnr is not None:
                    thr = label_threshold(hscores[key], positive, fnr)
                elif name == "label":  # skip only where the NN is sure the class is absent
                    thr = min(0.5 * float(pos.min()), self.absent_below)
                else:
                    thr = 0.5 * float(pos.min())
                info["thresholds"][name] = thr
                ok = scores[key] >= thr
                skipped[name] += int((keep & ~ok).sum())
                keep &= ok
                hkeep &= hscores[key] >= thr
            cand = cand[keep]
            info["heldout_recall"] = float(hkeep[positive].mean()) if positive.any() else None
            if query.fpr is not None:
                t_acc = accept_threshold(hscores["label"][hkeep], positive[hkeep], query.fpr)
                info["thresholds"]["accept"] = t_acc
                if t_acc is not None:
                    sure = scores["label"][keep] >= t_acc
                    accepted, cand = cand[sure], cand[~sure]
                    info["accepted_without_oracle"] = int(len(accepted))
        elif method == "random":
            cand = rng.permutation(pop)
        self.store.label(self.source, self.oracle, cand)
        ok = self.store.qualifies(query, cand) if len(cand) else np.zeros(0, bool)
        hits = sorted(int(f) for f in np.r_[np.asarray(cand)[ok], accepted])
        if query.limit is not None:
            hits = greedy_gap(hits, query.gap, query.limit)
        return Result(hits, None, len(cand), 0.0, method, "select", len(pop), info=info)

    def stream(self, text: str | Query, source=None, **kwargs) -> Iterator[Result]:
        """Run a standing query on a live source; see :func:`dawnlab.blazeit.live.standing_query`."""
        from dawnlab.blazeit.live import standing_query

        return standing_query(self, text, source=source, **kwargs)
