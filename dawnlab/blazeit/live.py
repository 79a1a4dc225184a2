"""Standing FrameQL queries over live video.

BlazeIt (arXiv 1805.01046) works on recorded video; here its two ideas run on a
stream.  The specialized NN (Section 5) sees every frame as it arrives; the
oracle sees a sample:

- an aggregate (``FCOUNT``) is estimated over the frames seen so far that
  pass the query's time filter (the NN's side and the oracle's side range
  over the same frames) with the NN as control variate (Section 6.3).  The
  oracle runs on a Bernoulli sample of rate ``sample``, so given its size the
  sample is a uniform random subset of the frames seen; each report is the
  betting confidence sequence for sampling without replacement
  (:class:`dawnlab.blazeit.aggregate.BettingCS`, Waudby-Smith and Ramdas)
  over that population, on the sample in a random order, at the level
  ``(1 - p) 6 / (pi^2 j^2)`` for the ``j``-th report: by the union bound the
  reports of a run are valid *jointly*, at confidence ``p``;
- a limit query (Section 7) runs the oracle on frames the NN scores at least
  ``threshold`` and reports each hit as soon as the oracle confirms it, at
  least ``GAP`` frames after the previous one.

Whether a frame joins an aggregate's oracle sample is a coin flip made when
it arrives, independent of everything else.  While the source's buffer is more
than half full, the drawn frames wait (up to the buffer's size of them, their
images kept) and the oracle runs on them once the reader has caught up, and on
all of them before every report, so each report's sample is exactly the drawn
frames among the frames seen.  Skipping drawn frames while behind would not
be unbiased: how far behind the reader is depends on how long the oracle took
on the frames just before, hence on their content, which neighbouring frames
share (a detector slowed by a crowded scene would leave crowded frames out).
If the oracle cannot keep up with ``sample`` times the frame rate, catching up
makes the source drop frames instead; a dropped frame is never seen, so it is
outside the population of both sides (the source's ``dropped`` counter says
how many).  The interval is for the mean over the frames *seen*: with drops,
which frames are seen depends on the oracle's speed, so it can differ from the
whole stream's mean.  A limit query skips candidates while behind (it only lists
confirmed hits; nothing is estimated from them).  Every oracle result is
kept in a store of the stream's own: the session's store only when the stream
is a replay of the session's own video, otherwise a private store attached to
the stream, so labels of one video never answer for another.  ``train=n``
labels the first ``n`` frames of the stream with the oracle, trains the NN on
them in a worker process beside the reader (the frames that arrive meanwhile,
and those the oracle cannot keep up with while labelling, wait and are
queried once it is ready, so training drops nothing) and then queries the
rest, in one call.  When the stream stalls, the source reconnects (see
:class:`dawnlab.blazeit.sources.StreamSource`) and this generator simply keeps
its state and goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from dawnlab.blazeit.aggregate import BettingCS
from dawnlab.blazeit.store import Store
from dawnlab.blazeit.frameql import Query
from dawnlab.blazeit.limit import frame_scores
from dawnlab.blazeit.sources import ReplaySource, open_source, thumbnail
from dawnlab.blazeit.specialized import SpecializedNN
from dawnlab.errors import invalid

__all__ = ["standing_query"]


def _fit(nn, thumbs, counts):
    """Train ``nn`` (in a worker process) and return it."""
    return nn.fit(thumbs, counts)


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


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
    if query.kind == "track":
        raise invalid("text", "Session.stream", "an FCOUNT aggregate, a limit or a selection "
                      "query (a track query needs the whole recorded video)", query.text)
    if query.kind == "aggregate" and query.aggregate != "FCOUNT":
        raise invalid("text", "Session.stream", "an FCOUNT aggregate, a limit or a selection "
                      "query", query.text)
    if not 0 < sample <= 1:
        raise invalid("sample", "Session.stream", "a probability in (0, 1]", sample)
    for name, value, least in (("report_every", report_every, 1), ("train", train, 0),
                               ("seed", seed, 0)):
        if not _is_int(value) or value < least:
            raise invalid(name, "Session.stream", f"an int >= {least}", value)
    if max_frames is not None and (not _is_int(max_frames) or max_frames < 1):
        raise invalid("max_frames", "Session.stream", "None or an int >= 1", max_frames)
    if threshold is not None and not (isinstance(threshold, (int, float, np.number))
                                      and 0 <= threshold <= 1):
        raise invalid("threshold", "Session.stream", "None or a probability in [0, 1]",
                      threshold)
    src = session.source if source is None else open_source(source)
    if not src.live:
        src = ReplaySource(src, speed=0)
    if session.nn_ is None and train <= 0:
        raise invalid("train", "Session.stream", "a positive number of frames to train on, "
                      "since the session's NN is not trained", train)
    rng = np.random.default_rng(seed)
    oracle, classes = session.oracle, list(session.oracle.classes)
    own = source is None or getattr(src, "source", None) is session.source
    store = session.store if own else Store().attach(src, oracle)
    value_range = session.count_range(query) if query.kind == "aggregate" else None
    conf = query.confidence or 0.95
    t0 = time.perf_counter()
    seen = calls = train_calls = 0
    in_pop = 0   # frames seen that pass the time filter: the population
    pop_x: list[float] = []   # the NN's value of each of them
    ys: list[float] = []
    xs: list[int] = []        # positions (in pop_x) of the sampled frames
    reports = 0
    hits: list[int] = []
    nn_seconds = 0.0
    nn_frames = 0
    train_thumbs, train_counts = [], []
    history = []

    def info():
        stats = src.stats() if hasattr(src, "stats") else {}
        return dict(stats, frames_seen=seen, oracle_calls=calls, train_oracle_calls=train_calls,
                    trained_in=trainer.get("where"),
                    nn_ms_per_frame=1000 * nn_seconds / max(1, nn_frames),
                    elapsed=time.perf_counter() - t0)

    def label(i, img, training=False):
        """Oracle counts per class of frame ``i``; the oracle runs only on a new frame."""
        nonlocal calls, train_calls
        if training:
            train_calls += 1
        else:
            calls += 1
        if int(i) not in store.labelled():
            dets = oracle.detect(img, i)
            store.add(i, img, dets)
            return np.array([sum(d.cls == c for d in dets) for c in classes])
        return session._class_counts([i], store)[0]

    def aggregate_result():
        nonlocal reports
        reports += 1
        level = 1 - (1 - conf) * 6 / (np.pi ** 2 * reports ** 2)
        if in_pop == 0:
            lo, hi = 0.0, 0.0
        elif not ys:
            lo, hi = 0.0, float(value_range)
        else:
            cs = BettingCS(in_pop, value_range, level, proxy=np.array(pop_x), c_prior=1.0,
                           error=query.error)
            perm = np.random.default_rng([seed, reports]).permutation(len(ys))
            cs.update(np.array(ys)[perm], np.array(xs)[perm])
            lo, hi = cs.interval()
        value = (lo + hi) / 2
        history.append((calls, value, lo, hi))
        out = Result(value, (lo, hi), calls, time.perf_counter() - t0,
                     "live", "aggregate", in_pop, calls, list(history), info())
        out.info.update(report=reports, report_confidence=level,
                        path="live: betting confidence sequence over the frames seen, "
                        "valid jointly over the reports (union bound)")
        return out

    if query.kind != "aggregate" and threshold is None:
        from dawnlab.blazeit.selection import label_threshold

        threshold = 0.5
        if getattr(session, "heldout_proba_", None) is not None:
            positive = session._heldout_positive(query)
            if positive.any():
                held = frame_scores(session.heldout_proba_, classes, query.terms,
                                    query.logic)
                threshold = label_threshold(held, positive, 0.05)
    stopped = False
    trainer: dict = {}    # the NN being trained beside the reader
    waiting: list = []    # frames that arrived while it trained, processed once it is ready
    deferred: list = []   # drawn frames whose oracle call waits while the reader is behind
    defer_cap = max(1, int(getattr(src, "buffer", 64)))

    def fit(thumbs, counts):
        # in a separate process, so that training holds no lock the reader and this loop need
        nn = SpecializedNN(classes, epochs=session.epochs, seed=session.seed, lr=session.lr,
                           batch_size=32, flip=getattr(session, "flip", False))
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        try:
            with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
                trainer["nn"] = pool.submit(_fit, nn, thumbs, counts).result()
                trainer["where"] = "process"
        except Exception:  # noqa: BLE001 - e.g. a script without a __main__ guard: train here
            trainer["nn"] = nn.fit(thumbs, counts)
            trainer["where"] = "thread"

    def behind() -> bool:
        return not (getattr(src, "speed", None) == 0 or not hasattr(src, "backlog")
                    or src.backlog() <= src.buffer // 2)

    def draw() -> bool:
        """The Bernoulli draw of an aggregate's oracle sample (independent of everything else)."""
        return bool(rng.random() < sample)

    def sampled(i, img, position):
        """Label a drawn frame (``position`` in the population) into the oracle sample."""
        label(i, img)
        ys.append(float(store.frame_counts(query, [i])[0, 0]))
        xs.append(position)

    def catch_up():
        """Run the oracle on every deferred drawn frame."""
        while deferred:
            sampled(*deferred.pop(0))

    def process(i, img, thumb=None, drawn=None):
        """Score one frame with the NN and run the oracle where the query needs it."""
        nonlocal seen, nn_seconds, nn_frames, in_pop, stopped
        t1 = time.perf_counter()
        thumb = thumbnail(img, session.thumb_size) if thumb is None else thumb
        proba = session.nn_.predict_proba(thumb[None])
        nn_seconds += time.perf_counter() - t1
        nn_frames += 1
        seen += 1
        free = not behind()
        if query.kind == "aggregate":
            if store.frame_filter(query, [i])[0]:
                pop_x.append(float(session._proxy(query, proba)[0]))
                in_pop += 1
                if (draw() if drawn is None else drawn):
                    if behind() and len(deferred) < defer_cap:
                        deferred.append((i, img, in_pop - 1))
                    else:
                        sampled(i, img, in_pop - 1)
            while deferred and not behind():   # one at a time: catching up must not put the reader behind
                sampled(*deferred.pop(0))
            if seen % report_every == 0:
                catch_up()   # a report's sample is every drawn frame seen so far
                yield aggregate_result()
        else:
            score = frame_scores(proba, classes, query.terms, query.logic)[0]
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

    def keep(i, img):
        """What a waiting frame needs later: its thumbnail, and its image only if the oracle
        may run on it (an aggregate draws its sample now)."""
        thumb = thumbnail(img, session.thumb_size)
        if query.kind == "aggregate":
            drawn = bool(rng.random() < sample)
            return (i, img if drawn else None, thumb, drawn)
        return (i, img, thumb, None)

    for i, img in src:
        if max_frames is not None and seen + len(train_counts) + len(waiting) >= max_frames:
            stopped = True
            break
        if session.nn_ is None:
            if "thread" not in trainer and behind():
                # the oracle cannot keep up with the stream: this frame waits for the NN
                # instead of being labelled, so the reader never drops
                waiting.append(keep(i, img))
                continue
            if "thread" not in trainer:
                train_thumbs.append(thumbnail(img, session.thumb_size))
                train_counts.append(label(i, img, training=True))
                if len(train_counts) >= train:
                    # train beside the reader: the stream keeps being consumed meanwhile
                    trainer["thread"] = threading.Thread(
                        target=fit, args=(np.stack(train_thumbs), np.array(train_counts)),
                        daemon=True)
                    trainer["thread"].start()
                continue
            if trainer["thread"].is_alive():
                waiting.append(keep(i, img))
                continue
            trainer["thread"].join()
            session.nn_ = trainer["nn"]
        if waiting:
            for item in waiting:
                yield from process(*item)
                if stopped:
                    break
            waiting = []
        if stopped:
            break
        yield from process(i, img)
        if stopped:
            break
    if "thread" in trainer and session.nn_ is None:  # the stream ended while training
        trainer["thread"].join()
        session.nn_ = trainer["nn"]
        for item in waiting:
            yield from process(*item)
            if stopped:
                break
    if stopped:
        src.close()
    if query.kind == "aggregate":
        catch_up()
        final = aggregate_result()
    else:
        final = Result(list(hits), None, calls, time.perf_counter() - t0, "live", query.kind,
                       seen, calls, list(history), info())
    final.info["finished"] = True
    yield final
