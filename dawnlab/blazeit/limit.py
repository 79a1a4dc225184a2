"""Limit (scrubbing) queries: rank frames by the specialized NN, confirm with the oracle.

BlazeIt (arXiv 1805.01046, Section 7) answers ``... LIMIT n GAP g`` queries,
which look for ``n`` frames with a rare event at least ``g`` frames apart, by
running the oracle on frames in the order of the specialized NN's confidence
that the predicate holds (highest first), skipping any frame within ``g`` of a
confirmed hit, and stopping at the ``n``-th hit; every oracle run is charged.
Every reported frame is confirmed by the oracle, so the answer has no false positive; a frame the NN
ranks low is still reached if the earlier ones do not suffice, so the answer
is complete as well.  The baselines scan frames in order or in random order
with the same loop.

:func:`frame_scores` turns count distributions into the probability that a
frame qualifies; :func:`scan` is the loop (a generator, so the widget and the
live query can report each hit as soon as it is confirmed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

__all__ = ["LimitStep", "frame_scores", "scan"]


@dataclass
class LimitStep:
    """One frame of a limit query: whether it qualified, the hits so far.

    ``calls`` counts the oracle runs so far, every frame of every chunk
    handed to the oracle included (a frame the loop then skips, because the
    limit was reached or it is within ``GAP`` of a hit found earlier in the
    same chunk, was still run and is charged).
    """

    frame: int
    hit: bool
    calls: int
    hits: list[int]


def frame_scores(proba: np.ndarray, classes, terms, logic=None) -> np.ndarray:
    """The NN's probability that each frame satisfies the terms (treated as independent).

    ``proba`` has shape ``(n, n_classes, K + 1)``.  A term naming one class uses
    that class's count distribution; a term naming several classes (or none)
    uses the distribution of the largest expected count among them; a
    ``COUNT(DISTINCT class)`` term the number of those classes present
    (each present with the NN's probability of a count >= 1).  ``logic`` (a
    query's :attr:`~dawnlab.blazeit.frameql.Query.logic`) combines the terms
    with and / or / not; ``None`` means every term must hold.

    Examples
    --------
    >>> from dawnlab.blazeit.frameql import parse
    >>> q = parse("SELECT timestamp FROM v WHERE class = 'bus' LIMIT 1")
    >>> p = np.array([[[0.9, 0.1]], [[0.2, 0.8]]])
    >>> frame_scores(p, ["bus"], q.terms).round(2).tolist()
    [0.1, 0.8]
    """
    from dawnlab.blazeit.specialized import SpecializedNN

    from dawnlab.blazeit.frameql import Query

    classes = list(classes)
    per_term = []
    for term in terms:
        names = [c for c in term.classes if c in classes] or classes
        if term.distinct == "class":
            # Poisson-binomial distribution of the number of classes present
            dist = np.zeros((len(proba), len(names) + 1))
            dist[:, 0] = 1.0
            for c in names:
                p = 1.0 - proba[:, classes.index(c), 0]
                dist[:, 1:] = dist[:, 1:] * (1 - p[:, None]) + dist[:, :-1] * p[:, None]
                dist[:, 0] *= 1 - p
            k = np.arange(dist.shape[1])  # exact counts 0 .. len(names): no open last bin
            per_term.append((dist * term.holds(k)).sum(axis=1))
            continue
        per = np.stack([SpecializedNN.prob(proba[:, classes.index(c)], term.op, term.threshold)
                        for c in names], axis=1)
        per_term.append(per.max(axis=1))
    if not per_term:
        return np.ones(len(proba))
    q = Query("", "select", "", None, tuple(terms), None, (), (), logic=logic)
    return np.asarray(q.combine([np.asarray(p, dtype=float) for p in per_term]), dtype=float)


def _close(f: int, frames: list[int], gap: int) -> bool:
    return gap > 0 and any(abs(f - g) < gap for g in frames)


def scan(order: np.ndarray, qualifies: Callable[[list[int]], np.ndarray], limit: int | None,
         gap: int, max_chunk: int = 16) -> Iterator[LimitStep]:
    """Run the oracle (through ``qualifies``) on frames in ``order`` until ``limit`` hits.

    Frames within ``gap`` of a confirmed hit are skipped without an oracle call.
    ``qualifies`` takes a list of frames and returns whether each qualifies;
    frames are handed to it in chunks that double from 1 up to ``max_chunk``
    (one database round trip per chunk).  Every frame handed to it counts as
    an oracle call (``calls``), also those of the last chunk after the
    stopping point: they were run.

    Examples
    --------
    >>> ok = lambda fs: np.isin(fs, [7, 8, 20])
    >>> steps = list(scan(np.array([7, 8, 2, 20]), ok, limit=2, gap=5))
    >>> [s.frame for s in steps], steps[-1].hits, steps[-1].calls
    ([7, 2, 20], [7, 20], 3)
    """
    hits: list[int] = []
    calls = 0
    chunk = 1
    i = 0
    order = np.asarray(order)

    def near(f):
        return gap > 0 and any(abs(f - h) < gap for h in hits)

    while i < len(order):
        # a chunk is a run of the order whose frames are at least GAP apart: it ends before
        # a frame near one already in it (if that one is a hit, the near frame is skipped,
        # never run for nothing), so the frames are tried exactly in the given order
        cand = []
        while i < len(order) and len(cand) < chunk:
            f = int(order[i])
            if near(f):
                i += 1
                continue
            if _close(f, cand, gap):
                break
            cand.append(f)
            i += 1
        chunk = min(max_chunk, 2 * chunk)
        if not cand:
            continue
        ok = np.asarray(qualifies(cand), dtype=bool)
        calls += len(cand)
        for f, good in zip(cand, ok):
            if near(f):
                continue
            if good:
                hits.append(f)
            yield LimitStep(f, bool(good), calls, list(hits))
            if limit is not None and len(hits) >= limit:
                return
