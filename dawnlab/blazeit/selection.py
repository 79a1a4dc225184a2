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
- **spatial**: conjuncts on the box (``xmin > X``, ``xmax < X``, ``ymin``,
  ``ymax``, ``xcenter``, ``ycenter``) confine a qualifying box to a region of
  the frame (:func:`query_region`); a cheap background-subtraction check
  (:class:`Foreground`) counts the moving pixels inside that region, and a
  frame with too few is skipped.  The colour filter above also looks only
  inside the region a qualifying box must lie in (still exact);
- **area**: ``area(mask) > A`` (or ``>=``; ``width``/``height`` likewise) needs
  a large object: a frame whose largest foreground blob in the region is too
  small is skipped;
- **label**: the specialized NN's probability that the frame holds the
  queried class.

The spatial, area and label filters are learned, not exact, so they run
only when the query grants a recall budget: without ``FNR WITHIN`` the
answer is exact (temporal and colour filters only, then the oracle).  With
``FNR WITHIN f`` the budget is split evenly over the ``k`` learned filters in
use, and each filter's threshold is the largest whose one-sided
Clopper-Pearson upper bound (at confidence ``1 - (1 - 0.95) / k``) on its miss
rate over the calibration frames that qualify is within ``f / k``
(:func:`label_threshold`).  The calibration frames are drawn at random
across the queried video (its held-out frames, or a random sample of it when
the NN was trained on another recording), so the qualifying ones are a
uniform sample of the video's qualifying frames; the miss-rate bound at a
fixed threshold is valid, the chosen threshold is the largest the bound
allows (a monotone family, so the choice keeps the confidence), and the
union bound over the filters gives recall at least ``1 - f`` with 95%
confidence.  Calibration frames that qualify are returned as they are.

``FPR WITHIN p`` lets frames the NN is confident about be returned without
the oracle: :func:`accept_threshold` walks down a grid of NN scores fixed
from the candidates' scores before any label is seen, certifying each with
the 95% Clopper-Pearson upper bound of the fraction of held-out frames above
it that do not qualify, and stops at the first it cannot certify
(fixed-sequence testing, valid without assuming the rate is monotone);
frames that pass every filter and score at least the last certified one are
returned unconfirmed.  (``FPR`` is the fraction of the
frames returned unconfirmed that are false, as bounded on the held-out
frames; frames the oracle confirms are never false.)
"""

from __future__ import annotations

import numpy as np
from sqlglot import exp

from dawnlab.blazeit.frameql import Query

__all__ = ["colour_filters", "frame_max_score", "label_threshold", "query_region",
           "min_area", "Foreground", "accept_threshold"]

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


def frame_max_score(image: np.ndarray, udf: str, region=None) -> float:
    """The largest per-pixel colour score in the frame (an upper bound on any box's mean).

    ``region`` ``(x0, y0, x1, y1)`` restricts it to the pixels a qualifying
    box must lie within (see :func:`query_region`).

    Examples
    --------
    >>> img = np.zeros((4, 4, 3), np.uint8); img[1, 1] = (200, 40, 0)
    >>> frame_max_score(img, "redness"), frame_max_score(img, "redness", (2, 0, 4, 4))
    (180.0, 0.0)
    """
    a, b, c = _COLOUR[udf]
    if region is not None:
        image = _crop(image, region)
        if image.size == 0:
            return -np.inf
    img = image.astype(np.float32)
    return float((img[..., a] - (img[..., b] + img[..., c]) / 2.0).max())


def label_threshold(scores: np.ndarray, positive: np.ndarray, fnr: float, confidence: float = 0.95) -> float:
    """Largest score threshold whose miss rate on positive frames is surely within ``fnr``.

    With ``m`` held-out positive frames scoring below the threshold, the
    one-sided Clopper-Pearson upper bound (at ``confidence``) of the miss rate
    ``m / positives`` must be at most ``fnr``, so the bound holds for new
    frames like the held-out ones and not only for the held-out frames
    themselves.  When no ``m`` qualifies, not even 0 (too few positives to
    certify the rate, or ``fnr = 0``), the threshold is ``-inf``: the filter
    keeps every frame, since keeping only the held-out positives' range
    would promise a recall nothing supports.

    Examples
    --------
    >>> label_threshold(np.array([0.9, 0.8, 0.1, 0.05]), np.array([True, True, True, False]), 0.0)
    -inf
    >>> s = np.linspace(0, 1, 1000); pos = np.ones(1000, bool)
    >>> t = label_threshold(s, pos, 0.1)  # the 10% point estimate would be 0.1; the bound is stricter
    >>> 0.07 < t < 0.1
    True
    """
    from scipy.stats import beta

    pos = np.sort(np.asarray(scores)[np.asarray(positive, dtype=bool)])
    if len(pos) == 0:
        return -np.inf
    m = np.arange(len(pos))  # positives below a threshold at pos[m]
    upper = beta.ppf(confidence, m + 1, len(pos) - m)
    # a threshold must not split tied scores: at pos[m] exactly m positives lie below it
    first = np.r_[True, pos[1:] != pos[:-1]]
    ok = np.flatnonzero((upper <= fnr) & first)
    return float(pos[ok[-1]]) if len(ok) else -np.inf


_EDGES = {"xmin": ("x", "lo"), "ymin": ("y", "lo"), "xmax": ("x", "hi"), "ymax": ("y", "hi")}
_CENTRES = {"xcenter": "x", "ycenter": "y"}


def _conjuncts(query: Query):
    where = query.ast.args.get("where") if query.ast is not None else None
    if where is None:
        return []
    out = []
    for c in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        if isinstance(c, (exp.GTE, exp.GT)):
            out.append((c.this, ">", c.expression))
        elif isinstance(c, (exp.LTE, exp.LT)):
            out.append((c.this, "<", c.expression))
        else:
            continue
        left, op, right = out[-1]
        if isinstance(left, exp.Literal):  # 10 < xmin  ->  xmin > 10
            out[-1] = (right, ">" if op == "<" else "<", left)
        left, op, right = out[-1]
        if not (isinstance(right, exp.Literal) and not right.is_string):
            out.pop()
    return out


def _name(node) -> str | None:
    if isinstance(node, exp.Column):
        return node.name.lower()
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return None


def query_region(query: Query, width: int, height: int) -> tuple[tuple, tuple]:
    """The regions ``(x0, y0, x1, y1)`` a qualifying box lies within and overlaps.

    Returns ``(inside, touch)``: from ``xmin > X`` (or ``xmax < X``, ``ymin``,
    ``ymax``, at any comparison) every pixel of the box is within ``inside``;
    ``xcenter(mask) > X`` (or ``ycenter``) further says some pixel of it is
    within ``touch``.  Both are the whole frame when the query has no such
    conjunct.  Pixel bounds are rounded outwards, as the store rounds boxes.

    Examples
    --------
    >>> from dawnlab.blazeit.frameql import parse
    >>> q = parse("SELECT timestamp FROM v WHERE class = 'bus' AND xmin > 40.5 "
    ...           "AND ycenter(mask) < 30")
    >>> query_region(q, 128, 96)
    ((40, 0, 128, 96), (40, 0, 128, 31))
    """
    inside = {"x": [0, width], "y": [0, height]}
    touch = {"x": [0, width], "y": [0, height]}
    for left, op, right in _conjuncts(query):
        name, v = _name(left), float(right.this)
        if name in _EDGES:
            axis, end = _EDGES[name]
            # xmin > X: the box's pixels start at floor(xmin) >= floor(X); xmax < X: end <= ceil(X)
            if end == "lo" and op == ">":
                inside[axis][0] = max(inside[axis][0], int(np.floor(v)))
            elif end == "hi" and op == "<":
                inside[axis][1] = min(inside[axis][1], int(np.ceil(v)))
        elif name in _CENTRES and isinstance(left, exp.Anonymous):
            axis = _CENTRES[name]
            if op == ">":
                touch[axis][0] = max(touch[axis][0], int(np.floor(v)))
            else:
                touch[axis][1] = min(touch[axis][1], int(np.ceil(v)) + 1)
    for axis in ("x", "y"):
        touch[axis] = [max(touch[axis][0], inside[axis][0]), min(touch[axis][1], inside[axis][1])]
    box = lambda r: (r["x"][0], r["y"][0], r["x"][1], r["y"][1])  # noqa: E731
    return box(inside), box(touch)


def min_area(query: Query) -> float | None:
    """The smallest box area a qualifying detection can have, from ``area``/``width``/``height``.

    ``width(mask) > W`` and ``height(mask) > H`` together give ``W * H``; one
    of them alone gives nothing.

    Examples
    --------
    >>> from dawnlab.blazeit.frameql import parse
    >>> min_area(parse("SELECT timestamp FROM v WHERE class = 'bus' AND area(mask) >= 300"))
    300.0
    """
    bounds = {}
    for left, op, right in _conjuncts(query):
        name = _name(left)
        if isinstance(left, exp.Anonymous) and name in ("area", "width", "height") and op == ">":
            bounds[name] = max(bounds.get(name, 0.0), float(right.this))
    best = bounds.get("area", 0.0)
    if "width" in bounds and "height" in bounds:
        best = max(best, bounds["width"] * bounds["height"])
    return best if best > 0 else None


def _crop(image: np.ndarray, region) -> np.ndarray:
    x0, y0, x1, y1 = region
    return image[max(0, y0):max(0, y1), max(0, x0):max(0, x1)]


class Foreground:
    """Background subtraction for a fixed camera: moving pixels and blobs in a region.

    The background is the per-pixel median of ``n_frames`` frames spread over
    the video; a pixel is foreground when some channel differs from it by more
    than ``threshold``.

    Parameters
    ----------
    threshold : int
    n_frames : int

    Examples
    --------
    >>> from dawnlab.blazeit.synthetic import scene
    >>> src, _ = scene(300, seed=0)
    >>> fg = Foreground().fit(src)
    >>> fg.scores(src.frame(0), (0, 0, 128, 96))[0] >= 0
    True
    """

    def __init__(self, threshold: int = 30, n_frames: int = 60):
        self.threshold, self.n_frames = threshold, n_frames
        self.background_: np.ndarray | None = None

    def fit(self, source) -> Foreground:
        n = int(source.n_frames)
        idx = np.unique(np.linspace(0, n - 1, min(n, self.n_frames)).astype(np.int64))
        stack = np.stack([img for _, img in source.frames(idx)])
        self.background_ = np.median(stack, axis=0).astype(np.int16)
        return self

    def scores(self, image: np.ndarray, region) -> tuple[int, int]:
        """``(foreground pixels, largest foreground blob's area)`` inside ``region``."""
        import cv2

        diff = np.abs(_crop(image, region).astype(np.int16) - _crop(self.background_, region))
        mask = (diff.max(axis=-1) > self.threshold).astype(np.uint8) if diff.size else \
            np.zeros((0, 0), np.uint8)
        n_fg = int(mask.sum())
        if n_fg == 0:
            return 0, 0
        _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        return n_fg, int(stats[1:, cv2.CC_STAT_AREA].max())


def accept_threshold(scores: np.ndarray, positive: np.ndarray, fpr: float,
                     min_support: int = 20, confidence: float = 0.95,
                     population: np.ndarray | None = None) -> float | None:
    """Lowest score above which the false-positive rate is surely within ``fpr``.

    Fixed-sequence testing on thresholds fixed before any label is looked
    at: ``t_1 > t_2 > ...`` are the scores above which a growing fraction
    (by 25% a step) of ``population`` lies -- the NN's scores on every
    candidate frame, known without the oracle (default: ``scores``) --
    starting where the held-out frames above ``t_1`` could certify the
    rate at all.  Walking down, the hypothesis "the rate above ``t_k``
    exceeds ``fpr``" is rejected when the one-sided Clopper-Pearson upper
    bound (at ``confidence``) of the fraction of held-out frames scoring at
    least ``t_k`` that do not qualify is at most ``fpr``; the walk stops at
    the first hypothesis it cannot reject and returns the last rejected
    threshold.  A hypothesis is only tested once every one before it was
    rejected, so the chance of returning a threshold whose rate exceeds
    ``fpr`` is at most ``1 - confidence`` whatever the shape of the rate
    as a function of the threshold (no monotonicity is assumed; choosing
    the lowest of all thresholds whose bound passes would not keep it).
    ``None`` when the first threshold already fails.

    Examples
    --------
    >>> s = np.linspace(1, 0, 400)
    >>> pos = np.r_[np.ones(240, bool), np.zeros(160, bool)]
    >>> t = accept_threshold(s, pos, 0.05)
    >>> 0.4 < t < 0.7
    True
    >>> accept_threshold(s, np.zeros(400, bool), 0.05) is None
    True
    """
    from scipy.stats import beta

    scores = np.asarray(scores, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    pop = np.sort(np.asarray(scores if population is None else population, dtype=float))[::-1]
    if len(scores) == 0 or len(pop) == 0 or not 0 < fpr < 1:
        return None
    # the least support that can certify the rate with no false positive at all
    n0 = int(np.ceil(np.log(1 - confidence) / np.log(1 - fpr)))
    q = min(1.0, max(min_support, 1.5 * n0) / len(scores))
    grid = []
    while True:
        t = float(pop[min(len(pop), int(np.ceil(q * len(pop)))) - 1])
        if not grid or t < grid[-1]:
            grid.append(t)
        if q >= 1.0:
            break
        q = min(1.0, q * 1.25)
    best = None
    for t in grid:
        above = scores >= t
        n = int(above.sum())
        false = int((above & ~positive).sum())
        if n < min_support:
            break
        upper = 1.0 if false >= n else float(beta.ppf(confidence, false + 1, n - false))
        if upper > fpr:
            break
        best = t
    return best
