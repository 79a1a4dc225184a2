"""Standing FrameQL queries over live video.

BlazeIt (arXiv 1805.01046) works on recorded video; here its two ideas run on a
stream.  The specialized NN (Section 5) sees every frame as it arrives; the
oracle sees a sample:

- an aggregate (``FCOUNT``) is estimated over the frames seen so far with the
  NN as control variate (Section 6.3): ``tau`` is the exact mean of the NN's
  predictions over every frame seen, the oracle runs on a Bernoulli sample of
  rate ``sample``, and each report carries the empirical Bernstein interval at
  the query's confidence (Section 6.2), narrowing as samples accrue;
- a limit query (Section 7) runs the oracle on frames the NN scores at least
  ``threshold`` and reports each hit as soon as the oracle confirms it, at
  least ``GAP`` frames after the previous one.

The oracle is skipped while the source's buffer is more than half full, so a
slow oracle never makes the reader drop frames; that decision does not depend
on the frame's content, so the sample stays unbiased.  Every oracle result is
kept in the session's store.  ``train=n`` labels the first ``n`` frames of the
stream with the oracle, trains the NN on them and then queries the rest, in
one call.  When the stream stalls, the source reconnects (see
:class:`dawnlab.blazeit.sources.StreamSource`) and this generator simply keeps
its state and goes on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np

from dawnlab.blazeit.aggregate import bernstein_half_width, control_variate
from dawnlab.blazeit.frameql import Query
from dawnlab.blazeit.limit import frame_scores
from dawnlab.blazeit.sources import ReplaySource, open_source, thumbnail
from dawnlab.blazeit.specialized import SpecializedNN
from dawnlab.errors import invalid

__all__ = ["standing_query"]


def standing_query(session, text: str | Query, source=None, *, sample: float = 0.1,
                   report_every: int = 10, train: int = 0, threshold: float | None = None,
                   max_frames: int | None = None, seed: int = 0) -> Iterator:
    """Yield updated :class:`~dawnlab.blazeit.session.Result` objects for a standing query.

    Parameters
    ----------
    session : Session
    text : str or Query
    source : live source, optional
        Default: the session's source (a recorded one is replayed as fast as
        possible, without drops).
    sample : float
        Probability that the oracle labels a frame (aggregates).
    report_every : int
        Frames between aggregate reports.
    train : int
        Label the first ``train`` frames with the oracle and train the NN on
        them first (needed when the session has no trained NN).
    threshold : float, optional
        NN score above which a limit query asks the oracle; by default the
        largest that keeps 95% of the held-out frames that qualify (0.5 when
        there are no held-out frames).
    max_frames : int, optional
        Stop after this many frames.
    seed : int

    Yields
    ------
    Result
        ``method="live"``; ``info`` holds the frames seen, the oracle calls, the
        source's dropped/undecodable/reconnect counters and the NN's ms per
        frame.
    """
    from dawnlab.blazeit.session import Result

    query = text if isinstance(text, Query) else session.parse(text)
    if query.kind == "aggregate" and query.aggregate != "FCOUNT":
        raise invalid("text", "Session.stream", "an FCOUNT aggregate, a limit or a selection "
                      "query", query.text)
    if not 0 < sample <= 1:
        raise invalid("sample", "Session.stream", "a probability in (0, 1]", sample)
    src = session.source if source is None else open_source(source)
    if not src.live:
        src = ReplaySource(src, speed=0)
    if session.nn_ is None and train <= 0:
        raise invalid("train", "Session.stream", "a positive number of frames to train on, "
                      "since the session's NN is not trained", train)
    rng = np.random.default_rng(seed)
    store, oracle, classes = session.store, session.oracle, list(session.oracle.classes)
    conf = query.confidence or 0.95
    t0 = time.perf_counter()
    seen = calls = train_calls = 0
    sum_x = 0.0
    ys: list[float] = []
    xs: list[float] = []
    hits: list[int] = []
    nn_seconds = 0.0
    nn_frames = 0
    train_thumbs, train_counts = [], []
    history = []

    def info():
        stats = src.stats() if hasattr(src, "stats") else {}
        return dict(stats, frames_seen=seen, oracle_calls=calls, train_oracle_calls=train_calls,
                    nn_ms_per_frame=1000 * nn_seconds / max(1, nn_frames),
                    elapsed=time.perf_counter() - t0)

    def label(i, img, training=False):
        nonlocal calls, train_calls
        dets = oracle.detect(img, i)
        if training:
            train_calls += 1
        else:
            calls += 1
        store.add(i, img, dets)
        return dets

    def aggregate_result():
        if len(ys) >= 2:
            y, x = np.array(ys), np.array(xs)
            z, _ = control_variate(y, x, sum_x / seen)
            half = bernstein_half_width(float(z.var()), float(z.max() - z.min()), len(z), 1 - conf)
            value = float(z.mean())
        else:
            value, half = sum_x / max(seen, 1), float("inf")
        history.append((calls, value, value - half, value + half))
        return Result(value, (value - half, value + half), calls, time.perf_counter() - t0,
                      "live", "aggregate", seen, calls, list(history), info())

    if query.kind != "aggregate" and threshold is None:
        from dawnlab.blazeit.selection import label_threshold

        threshold = 0.5
        if getattr(session, "heldout_proba_", None) is not None:
            positive = session._heldout_positive(query)
            if positive.any():
                held = frame_scores(session.heldout_proba_, classes, query.terms)
                threshold = label_threshold(held, positive, 0.05)
    stopped = False
    for i, img in src:
        if max_frames is not None and seen + len(train_counts) >= max_frames:
            stopped = True
            break
        if session.nn_ is None:
            dets = label(i, img, training=True)
            train_thumbs.append(thumbnail(img, session.thumb_size))
            train_counts.append([sum(d.cls == c for d in dets) for c in classes])
            if len(train_counts) >= train:
                session.nn_ = SpecializedNN(classes, epochs=session.epochs, seed=session.seed,
                                            lr=session.lr, batch_size=32)
                session.nn_.fit(np.stack(train_thumbs), np.array(train_counts))
            continue
        t1 = time.perf_counter()
        proba = session.nn_.predict_proba(thumbnail(img, session.thumb_size)[None])
        nn_seconds += time.perf_counter() - t1
        nn_frames += 1
        seen += 1
        free = (getattr(src, "speed", None) == 0 or not hasattr(src, "backlog")
                or src.backlog() <= src.buffer // 2)
        if query.kind == "aggregate":
            x = float(session._proxy(query, proba)[0])
            sum_x += x
            frame_ok = store.frame_filter(query, [i])[0]
            if frame_ok and free and rng.random() < sample:
                label(i, img)
                ys.append(float(store.frame_counts(query, [i])[0, 0]))
                xs.append(x)
            if seen % report_every == 0:
                yield aggregate_result()
        else:
            score = frame_scores(proba, classes, query.terms)[0]
            far = query.gap <= 0 or all(abs(i - h) >= query.gap for h in hits)
            if far and score >= threshold and free:
                label(i, img)
                if store.qualifies(query, [i])[0]:
                    hits.append(int(i))
                    history.append((calls, int(i)))
                    yield Result(list(hits), None, calls, time.perf_counter() - t0, "live",
                                 query.kind, seen, calls, list(history), info())
                    if query.limit is not None and len(hits) >= query.limit:
                        stopped = True
                        break
    if stopped:
        src.close()
    if query.kind == "aggregate":
        final = aggregate_result()
    else:
        final = Result(list(hits), None, calls, time.perf_counter() - t0, "live", query.kind,
                       seen, calls, list(history), info())
    final.info["finished"] = True
    yield final
