"""A synthetic traffic scene with exact ground truth and a known detector noise model.

BlazeIt's evaluation (arXiv 1805.01046, Section 8) uses long fixed-camera
videos (taipei, night-street, ...) labelled by an object detector treated as
the oracle.  This module makes such videos on demand, of any length, so that
tests have exact answers and benchmarks can use 50,000+ frames:

- cars and buses drive along lanes and people walk along a sidewalk across a
  fixed view; each class arrives as a Poisson process (``rates``: arrivals per
  frame, thinned to keep a minimum headway) and moves at its lane's constant
  speed, so objects never overlap and which objects are in a frame is known
  exactly (:meth:`SyntheticSource.truth`);
- frames are rendered on demand (a static road plus coloured boxes plus
  sensor noise), deterministic in ``(seed, frame)``;
- the oracle (:class:`SyntheticOracle`) reports each visible object (at
  least half of its width in view) except that it misses it with probability
  ``p_miss``, jitters each box coordinate with Gaussian noise of s.d.
  ``jitter`` pixels and adds ``Poisson(fp_rate)`` false positives per frame
  (at most ``max_false_positives``).  Its ``max_objects`` declares the most
  detections of each class one frame can hold, from the scene's geometry
  (a lane holds at most ``floor(width / (w + 3)) + 1`` objects at least half
  in view, since objects keep a headway of ``w + 3`` pixels) plus the false
  positives: the range BlazeIt's confidence intervals rest on.
  The noise depends only on ``(seed, frame)``, so an oracle call is a pure
  function of the frame, as the paper assumes.

:func:`scene` returns the pair ``(source, oracle)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dawnlab.blazeit.oracles import Detection
from dawnlab.blazeit.sources import VideoSource
from dawnlab.errors import invalid

__all__ = ["scene", "SyntheticSource", "SyntheticOracle", "DEFAULT_RATES"]

#: Default arrivals per frame of each class.
DEFAULT_RATES = {"car": 0.03, "bus": 0.0006, "person": 0.008}
# class: (width, height, speed range px/frame, lanes (y of top, direction))
_SHAPES = {
    "car": (16, 8, (1.2, 2.6), ((40, 1), (54, -1))),
    "bus": (34, 14, (1.0, 1.6), ((66, 1),)),
    "person": (4, 9, (0.4, 0.8), ((14, 1), (24, -1))),
}
_CAR_COLOURS = np.array([[200, 30, 30], [30, 60, 200], [230, 230, 230], [30, 30, 30],
                         [160, 160, 170], [40, 150, 60]], dtype=np.uint8)
_BUS_COLOUR = np.array([230, 190, 20], dtype=np.uint8)
_PERSON_COLOUR = np.array([90, 40, 120], dtype=np.uint8)


@dataclass
class _Objects:
    cls: np.ndarray     # str
    start: np.ndarray   # frame when the box's left edge enters (moving right) / right edge
    x0: np.ndarray      # x of the left edge at ``start``
    v: np.ndarray       # px per frame (signed)
    y: np.ndarray
    w: np.ndarray
    h: np.ndarray
    colour: np.ndarray  # (n, 3)
    end: np.ndarray


class SyntheticSource(VideoSource):
    """A fixed-camera traffic video rendered on demand; see :func:`scene`."""

    def __init__(self, n_frames: int, seed: int = 0, width: int = 128, height: int = 96,
                 fps: float = 30.0, rates: dict | None = None):
        if not isinstance(n_frames, (int, np.integer)) or n_frames < 1:
            raise invalid("n_frames", "scene", "a positive int", n_frames)
        rates = dict(DEFAULT_RATES if rates is None else rates)
        for cls, rate in rates.items():
            if cls not in _SHAPES:
                raise invalid("rates", "scene", f"a dict with keys among {sorted(_SHAPES)}", rates)
            if not rate >= 0:
                raise invalid("rates", "scene", "a dict of non-negative arrival rates", rates)
        self.n_frames, self.seed, self.width, self.height = int(n_frames), seed, width, height
        self.fps, self.rates = float(fps), rates
        self.name = f"synthetic-{seed}"
        self.classes = tuple(c for c in _SHAPES if c in rates)
        self._objects = self._generate()
        self._background = self._road()
        self._noise = np.random.default_rng([seed, 7]).integers(
            -6, 7, size=(16, height, width, 1), dtype=np.int16)

    def _generate(self) -> _Objects:
        rng = np.random.default_rng([self.seed, 1])
        parts = []
        for cls in self.classes:
            w, h, (vlo, vhi), lanes = _SHAPES[cls]
            rate = self.rates[cls]
            span = self.width + w
            longest = int(np.ceil(span / vlo)) + 1
            if rate <= 0:
                continue
            n = rng.poisson(rate * (self.n_frames + longest))
            start = np.sort(rng.uniform(-longest, self.n_frames, n))
            lane = rng.integers(0, len(lanes), n)
            # one speed per lane and a minimum headway, so objects never overlap
            lane_speed = rng.uniform(vlo, vhi, len(lanes))
            speed = lane_speed[lane]
            for k in range(len(lanes)):
                idx = np.flatnonzero(lane == k)
                headway = (w + 3) / lane_speed[k]
                for a, b in zip(idx[:-1], idx[1:]):
                    start[b] = max(start[b], start[a] + headway)
            y = np.array([lanes[k][0] for k in lane], dtype=float) + rng.integers(-1, 2, n)
            direction = np.array([lanes[k][1] for k in lane])
            v = speed * direction
            x0 = np.where(direction > 0, -w, self.width).astype(float)
            if cls == "car":
                colour = _CAR_COLOURS[rng.integers(0, len(_CAR_COLOURS), n)]
            else:
                colour = np.tile(_BUS_COLOUR if cls == "bus" else _PERSON_COLOUR, (n, 1))
            end = start + span / speed
            parts.append((np.full(n, cls, dtype=object), start, x0, v, y,
                          np.full(n, float(w)), np.full(n, float(h)), colour, end))
        cols = [np.concatenate([p[k] for p in parts]) if parts else np.zeros(0)
                for k in range(9)]
        order = np.argsort(cols[1], kind="stable")
        cols = [c[order] for c in cols]
        objs = _Objects(*cols)
        objs.colour = objs.colour.reshape(-1, 3).astype(np.uint8) if len(order) else \
            np.zeros((0, 3), np.uint8)
        self._longest = float(np.max(objs.end - objs.start)) if len(order) else 0.0
        return objs

    def _road(self) -> np.ndarray:
        img = np.empty((self.height, self.width, 3), np.uint8)
        img[:] = (95, 120, 90)             # grass
        img[10:36] = (150, 150, 140)       # sidewalk
        img[36:84] = (70, 70, 75)          # road
        img[51:52, ::8] = (220, 220, 200)  # lane marks
        return img

    def truth(self, i: int) -> list[Detection]:
        """The objects visible in frame ``i`` (exactly; no detector noise), track id = object id.

        Examples
        --------
        >>> src, _ = scene(200, seed=1)
        >>> all(d.cls in src.classes for d in src.truth(100))
        True
        """
        i = self._check_index(i)
        o = self._objects
        lo = np.searchsorted(o.start, i - self._longest, side="left")
        hi = np.searchsorted(o.start, i, side="right")
        out = []
        for k in range(lo, hi):
            if not o.start[k] <= i < o.end[k]:
                continue
            x = o.x0[k] + o.v[k] * (i - o.start[k])
            xmin, xmax = max(0.0, x), min(float(self.width), x + o.w[k])
            if xmax - xmin < o.w[k] / 2:
                continue
            out.append(Detection(str(o.cls[k]), float(np.floor(xmin)), float(o.y[k]),
                                 float(np.ceil(xmax)), float(o.y[k] + o.h[k]), 1.0, int(k)))
        return out

    def frame(self, i: int) -> np.ndarray:
        i = self._check_index(i)
        img = self._background.copy()
        o = self._objects
        lo = np.searchsorted(o.start, i - self._longest, side="left")
        hi = np.searchsorted(o.start, i, side="right")
        for k in range(lo, hi):
            if not o.start[k] <= i < o.end[k]:
                continue
            x = o.x0[k] + o.v[k] * (i - o.start[k])
            a, b = int(max(0, np.floor(x))), int(min(self.width, np.ceil(x + o.w[k])))
            y = int(o.y[k])
            if b > a:
                img[y:y + int(o.h[k]), a:b] = o.colour[k]
                if o.cls[k] != "person":   # windows
                    img[y + 1:y + 3, a + 2:b - 2] = (180, 210, 230)
        noisy = img.astype(np.int16) + self._noise[(i * 7919 + self.seed) % len(self._noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)

    def info(self) -> dict:
        out = super().info()
        out.update(seed=self.seed, rates=self.rates)
        return out


class SyntheticOracle:
    """The synthetic scene's detector: exact truth passed through a known noise model.

    Parameters
    ----------
    source : SyntheticSource
    p_miss : float
        Probability that a visible object is missed.
    jitter : float
        Standard deviation (pixels) of the noise added to each box coordinate.
    fp_rate : float
        Mean number of false positives per frame (Poisson).
    max_false_positives : int
        Cap on the false positives of one frame.

    Examples
    --------
    >>> src, oracle = scene(100, seed=0, p_miss=0.0, jitter=0.0, fp_rate=0.0)
    >>> [d.box for d in oracle.detect(src.frame(50), 50)] == [d.box for d in src.truth(50)]
    True
    """

    name = "synthetic"

    def __init__(self, source: SyntheticSource, p_miss: float = 0.02, jitter: float = 0.5,
                 fp_rate: float = 0.01, max_false_positives: int = 2):
        if not 0 <= p_miss < 1:
            raise invalid("p_miss", "SyntheticOracle", "a probability in [0, 1)", p_miss)
        if not jitter >= 0 or not fp_rate >= 0:
            raise invalid("jitter, fp_rate", "SyntheticOracle", "non-negative",
                          (jitter, fp_rate))
        self.source, self.p_miss, self.jitter, self.fp_rate = source, p_miss, jitter, fp_rate
        self.classes = source.classes
        self.max_false_positives = int(max_false_positives)
        #: most detections of each class in one frame (geometry plus false positives)
        self.max_objects = {c: len(_SHAPES[c][3]) * (source.width // (_SHAPES[c][0] + 3) + 1)
                            + self.max_false_positives for c in self.classes}
        self.calls = 0

    def detect(self, image: np.ndarray | None, index: int) -> list[Detection]:
        """Detections of frame ``index`` (the image is not needed; the truth is known)."""
        self.calls += 1
        rng = np.random.default_rng([self.source.seed, 2, int(index)])
        out = []
        for d in self.source.truth(index):
            miss = rng.random() < self.p_miss
            noise = rng.normal(0.0, self.jitter, 4) if self.jitter > 0 else np.zeros(4)
            if not miss:
                out.append(Detection(d.cls, *(float(v) for v in np.add(d.box, noise)), score=1.0))
        for _ in range(min(self.max_false_positives, rng.poisson(self.fp_rate))):
            cls = self.classes[rng.integers(len(self.classes))]
            w, h = _SHAPES[cls][:2]
            x = rng.uniform(0, self.source.width - w)
            y = rng.uniform(0, self.source.height - h)
            out.append(Detection(cls, float(x), float(y), float(x + w), float(y + h), score=0.5))
        return out


def scene(n_frames: int, seed: int = 0, *, rates: dict | None = None, width: int = 128,
          height: int = 96, fps: float = 30.0, p_miss: float = 0.02, jitter: float = 0.5,
          fp_rate: float = 0.01) -> tuple[SyntheticSource, SyntheticOracle]:
    """A synthetic fixed-camera traffic video and its oracle with a known noise model.

    Parameters
    ----------
    n_frames : int
        Length of the video.
    seed : int
        Seed of the scene and of the detector noise.
    rates : dict, optional
        Arrivals per frame of ``"car"``, ``"bus"`` and ``"person"``
        (default :data:`DEFAULT_RATES`; about 2 cars per frame and a bus in
        about 3% of frames).
    width, height, fps
        Frame size and rate.
    p_miss, jitter, fp_rate
        The oracle's noise model (see :class:`SyntheticOracle`).

    Returns
    -------
    (SyntheticSource, SyntheticOracle)

    Examples
    --------
    >>> src, oracle = scene(300, seed=0)
    >>> src.n_frames, src.frame(0).shape, oracle.classes
    (300, (96, 128, 3), ('car', 'bus', 'person'))
    """
    src = SyntheticSource(n_frames, seed=seed, width=width, height=height, fps=fps, rates=rates)
    return src, SyntheticOracle(src, p_miss=p_miss, jitter=jitter, fp_rate=fp_rate)
