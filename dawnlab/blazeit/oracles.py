"""Object-detector oracles and IoU track linking.

BlazeIt (arXiv 1805.01046, Section 2 and Section 4) treats an expensive object
detector as the *oracle*: its output defines the FrameQL relation, and every
optimization is measured in how few frames it must run on.  An oracle here is
any object with a ``classes`` tuple, a ``name`` and
``detect(image, index) -> list[Detection]`` (an RGB ``uint8`` image).  Two
defaults need no download:

- :class:`HOGPeopleOracle`: OpenCV's HOG + linear SVM people detector with
  non-maximum suppression (the pedestrian video's detector);
- :class:`BlobOracle`: background subtraction against a median background, for
  a fixed camera; connected foreground blobs become boxes.

:func:`link_tracks` gives track ids the way the paper does (Section 4): a box
continues the track of the same-class box in a nearby earlier frame with which
it has the highest IoU above a threshold.  :func:`nms` is greedy non-maximum
suppression.  The synthetic oracle with an exact noise model lives in
:mod:`dawnlab.blazeit.synthetic`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from dawnlab.errors import invalid

__all__ = ["Detection", "Oracle", "HOGPeopleOracle", "BlobOracle", "nms", "iou",
           "link_tracks"]


@dataclass
class Detection:
    """One detected object: its class, its box ``(xmin, ymin, xmax, ymax)`` in pixels and score."""

    cls: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    score: float = 1.0
    trackid: int | None = None

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmax, self.ymax)


@runtime_checkable
class Oracle(Protocol):
    """The interface every oracle follows."""

    classes: tuple[str, ...]
    name: str
    #: the most detections ``detect`` returns for one frame (an int, or a dict per class):
    #: the range BlazeIt's confidence intervals rest on, declared before any sampling
    max_objects: int | dict

    def detect(self, image: np.ndarray, index: int) -> list[Detection]:
        """Detect objects in one RGB frame (``index`` is its frame number)."""


def iou(a, b) -> float:
    """Intersection over union of two boxes ``(xmin, ymin, xmax, ymax)``.

    Examples
    --------
    >>> iou((0, 0, 2, 2), (1, 0, 3, 2))
    0.3333333333333333
    """
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float = 0.45) -> list[int]:
    """Greedy non-maximum suppression; returns the kept indices, best first.

    Examples
    --------
    >>> nms(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.8, 0.7]))
    [0, 2]
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    order = list(np.argsort(-np.asarray(scores, dtype=float), kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        order = [j for j in order if iou(boxes[i], boxes[j]) <= threshold]
    return keep


class HOGPeopleOracle:
    """OpenCV's HOG people detector with non-maximum suppression.

    Parameters
    ----------
    win_stride : int
        Stride of the detection window in pixels.
    scale : float
        Scale step of the image pyramid (> 1).
    min_score : float
        SVM score below which a window is dropped.
    nms_threshold : float
        IoU above which the weaker of two overlapping boxes is suppressed.
    upscale : float
        Resize factor applied before detection (people smaller than the 64x128
        window need > 1); boxes are mapped back to the frame.
    max_objects : int
        The most detections returned for one frame (the highest-scoring ones).

    Examples
    --------
    >>> oracle = HOGPeopleOracle()
    >>> oracle.detect(np.zeros((128, 96, 3), np.uint8), 0)
    []
    """

    classes = ("person",)
    name = "hog"

    def __init__(self, win_stride: int = 8, scale: float = 1.05, min_score: float = 0.5,
                 nms_threshold: float = 0.45, upscale: float = 1.0, max_objects: int = 40):
        if not isinstance(max_objects, int) or max_objects < 1:
            raise invalid("max_objects", "HOGPeopleOracle", "a positive int", max_objects)
        self.max_objects = max_objects
        if not isinstance(win_stride, int) or win_stride < 1:
            raise invalid("win_stride", "HOGPeopleOracle", "a positive int", win_stride)
        if not scale > 1:
            raise invalid("scale", "HOGPeopleOracle", "a float > 1", scale)
        if not upscale > 0:
            raise invalid("upscale", "HOGPeopleOracle", "a float > 0", upscale)
        self.win_stride, self.scale, self.min_score = win_stride, scale, min_score
        self.nms_threshold, self.upscale = nms_threshold, upscale
        self._hog = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_hog"] = None
        return state

    def detect(self, image: np.ndarray, index: int) -> list[Detection]:
        import cv2

        if self._hog is None:
            self._hog = cv2.HOGDescriptor()
            self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        if self.upscale != 1.0:
            gray = cv2.resize(gray, None, fx=self.upscale, fy=self.upscale)
        if gray.shape[0] < 128 or gray.shape[1] < 64:
            return []
        rects, weights = self._hog.detectMultiScale(
            gray, winStride=(self.win_stride, self.win_stride), padding=(8, 8), scale=self.scale)
        if len(rects) == 0:
            return []
        rects = np.asarray(rects, dtype=float) / self.upscale
        weights = np.asarray(weights, dtype=float).ravel()
        boxes = np.column_stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2],
                                 rects[:, 1] + rects[:, 3]])
        good = weights >= self.min_score
        boxes, weights = boxes[good], weights[good]
        return [Detection("person", *map(float, boxes[i]), score=float(weights[i]))
                for i in nms(boxes, weights, self.nms_threshold)[:self.max_objects]]


class BlobOracle:
    """Background subtraction for a fixed camera: foreground blobs become boxes.

    The background is the per-pixel median of ``n_background`` frames spread
    over the video (given with :meth:`fit`), so any single frame can be
    labelled on its own, in any order, as BlazeIt's sampling requires.

    Parameters
    ----------
    threshold : int
        Difference from the background (largest over R, G, B) that makes a
        pixel foreground.
    min_area : int
        Smallest blob (pixels) reported.
    cls : str
        The class every blob is given.
    max_objects : int
        The most blobs returned for one frame (the largest ones).

    Examples
    --------
    >>> bg = np.zeros((40, 40, 3), np.uint8)
    >>> oracle = BlobOracle(min_area=4).fit([bg, bg, bg])
    >>> frame = bg.copy(); frame[10:20, 5:15] = 200
    >>> [(d.cls, d.box) for d in oracle.detect(frame, 0)]
    [('object', (5.0, 10.0, 15.0, 20.0))]
    """

    name = "blob"

    def __init__(self, threshold: int = 30, min_area: int = 150, cls: str = "object",
                 max_objects: int = 40):
        if not isinstance(max_objects, int) or max_objects < 1:
            raise invalid("max_objects", "BlobOracle", "a positive int", max_objects)
        self.max_objects = max_objects
        if not isinstance(min_area, int) or min_area < 1:
            raise invalid("min_area", "BlobOracle", "a positive int", min_area)
        self.threshold, self.min_area, self.cls = threshold, min_area, cls
        self.classes = (cls,)
        self.background_: np.ndarray | None = None

    def fit(self, frames) -> BlobOracle:
        """Estimate the background as the median of ``frames`` (RGB images)."""
        frames = [np.asarray(f) for f in frames]
        if not frames:
            raise invalid("frames", "BlobOracle.fit", "a non-empty list of frames", frames)
        self.background_ = np.median(np.stack(frames), axis=0).astype(np.uint8)
        return self

    def detect(self, image: np.ndarray, index: int) -> list[Detection]:
        import cv2

        if self.background_ is None:
            raise RuntimeError("BlobOracle.fit(frames) must be called before detect")
        # largest difference over the colour channels (a blue car on grey road has the
        # road's brightness)
        diff = cv2.absdiff(image, self.background_).max(axis=2)
        mask = (diff > self.threshold).astype(np.uint8)
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        out = []
        for x, y, w, h, area in stats[1:]:
            if area >= self.min_area:
                out.append(Detection(self.cls, float(x), float(y), float(x + w), float(y + h),
                                     score=float(area)))
        out.sort(key=lambda d: -d.score)
        return out[:self.max_objects]


def link_tracks(frames: np.ndarray, classes: np.ndarray, boxes: np.ndarray,
                threshold: float = 0.3, max_gap: int = 2) -> np.ndarray:
    """Give track ids by linking same-class boxes across nearby frames by IoU.

    Rows are detections; a box in frame ``f`` joins the track of the
    best-overlapping same-class box (IoU > ``threshold``) seen in frames
    ``f - max_gap .. f - 1`` that no other box of frame ``f`` took; otherwise
    it starts a new track (arXiv 1805.01046, Section 4).

    Parameters
    ----------
    frames : array of int, shape (n,)
    classes : array of str, shape (n,)
    boxes : array, shape (n, 4)
    threshold : float
    max_gap : int

    Returns
    -------
    numpy.ndarray of int64, shape (n,)

    Examples
    --------
    >>> link_tracks(np.array([0, 1, 1, 5]), np.array(["car"] * 4),
    ...             np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60], [1, 0, 11, 10]]))
    array([0, 0, 1, 2])
    """
    frames = np.asarray(frames)
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    classes = np.asarray(classes)
    ids = np.full(len(frames), -1, dtype=np.int64)
    order = np.argsort(frames, kind="stable")
    recent: list[tuple[int, str, np.ndarray, int]] = []  # (frame, class, box, track)
    next_id = 0
    i = 0
    while i < len(order):
        f = frames[order[i]]
        j = i
        while j < len(order) and frames[order[j]] == f:
            j += 1
        recent = [r for r in recent if f - r[0] <= max_gap]
        taken: set[int] = set()
        current = []
        for k in order[i:j]:
            best, best_iou = None, threshold
            for r in recent:
                if r[1] == classes[k] and r[3] not in taken:
                    o = iou(boxes[k], r[2])
                    if o > best_iou:
                        best, best_iou = r[3], o
            if best is None:
                best = next_id
                next_id += 1
            taken.add(best)
            ids[k] = best
            current.append((int(f), classes[k], boxes[k], best))
        keep = [r for r in recent if r[3] not in taken]
        recent = keep + current
        i = j
    return ids
