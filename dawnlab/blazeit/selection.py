"""Content-based selection: filters inferred from a query that skip frames before the oracle.

The first version of BlazeIt ("Fast Exploratory Video Queries using Neural
Networks", arXiv 1805.01046v1, Section 5) answers selection queries such as
``SELECT timestamp FROM v WHERE class = 'bus' AND redness(content) >= 17.5``
by inferring cheap filters from the query and running the oracle only on the
frames that pass them.  The filters here:

- **temporal**: conjuncts on ``timestamp``/``seconds`` select frames exactly;
- **content (colour)**: ``redness(content) >= t`` (likewise greenness,
  blueness, or ``>``) is the mean over the box of a per-pixel linear score, so
  a frame none of whose pixels scores ``>= t`` cannot hold such a box: the
  filter skips it with no false negative (:func:`colour_filters`,
  :func:`frame_max_score`);
- **label**: the specialized NN's probability that the frame holds the
  queried class; applied only when the query allows misses with ``FNR WITHIN
  f``: the threshold is the largest that keeps at least ``1 - f`` of the
  held-out frames that do qualify (:func:`label_threshold`).

Without ``FNR WITHIN`` every filter is exact, so the answer equals the
exact one; with it, the answer's recall is at least ``1 - f`` on frames like
the held-out ones.
"""

from __future__ import annotations

import numpy as np
from sqlglot import exp

from dawnlab.blazeit.frameql import Query

__all__ = ["colour_filters", "frame_max_score", "label_threshold"]

_COLOUR = {"redness": (0, 1, 2), "greenness": (1, 0, 2), "blueness": (2, 0, 1)}


def colour_filters(query: Query) -> list[tuple[str, float]]:
    """``(udf, t)`` for each top-level conjunct ``udf(content) >= t`` (or ``>``) in WHERE.

    Examples
    --------
    >>> from dawnlab.blazeit.frameql import parse
    >>> colour_filters(parse("SELECT timestamp FROM v WHERE class = 'car' AND redness(content) >= 40"))
    [('redness', 40.0)]
    """
    where = query.ast.args.get("where") if query.ast is not None else None
    if where is None:
        return []
    conj = where.this.flatten() if isinstance(where.this, exp.And) else [where.this]
    out = []
    for c in conj:
        if isinstance(c, (exp.GTE, exp.GT)):
            left, right = c.this, c.expression
        elif isinstance(c, (exp.LTE, exp.LT)):
            left, right = c.expression, c.this
        else:
            continue
        if (isinstance(left, exp.Anonymous) and left.name.lower() in _COLOUR
                and isinstance(right, exp.Literal) and not right.is_string):
            out.append((left.name.lower(), float(right.this)))
    return out


def frame_max_score(image: np.ndarray, udf: str) -> float:
    """The largest per-pixel colour score in the frame (an upper bound on any box's mean).

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.uint8); img[1, 1] = (200, 40, 0)
    >>> frame_max_score(img, "redness")
    180.0
    """
    a, b, c = _COLOUR[udf]
    img = image.astype(np.float32)
    return float((img[..., a] - (img[..., b] + img[..., c]) / 2.0).max())


def label_threshold(scores: np.ndarray, positive: np.ndarray, fnr: float) -> float:
    """Largest score threshold that keeps at least ``1 - fnr`` of the positive frames.

    Examples
    --------
    >>> label_threshold(np.array([0.9, 0.8, 0.1, 0.05]), np.array([True, True, True, False]), 0.0)
    0.1
    """
    pos = np.sort(np.asarray(scores)[np.asarray(positive, dtype=bool)])
    if len(pos) == 0:
        return 0.0
    allowed = int(np.floor(fnr * len(pos)))
    return float(pos[allowed]) if allowed < len(pos) else float(pos[-1])
