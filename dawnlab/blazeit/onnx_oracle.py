"""An oracle that runs a user-supplied ONNX object detector (YOLO-style output).

BlazeIt (arXiv 1805.01046, Section 2) treats an expensive object detector
(Mask R-CNN, YOLO) as the oracle whose output defines the FrameQL relation.
:class:`ONNXDetector` runs any exported YOLO-style detector with
``onnxruntime`` on the CPU, so users can query their own video with their
own model:

- **input**: the frame is letterboxed to the model's square input (aspect
  kept, padded with grey 114 as YOLO does), scaled to ``[0, 1]``, NCHW
  float32;
- **output**: ``(1, N, 5 + C)`` rows ``cx, cy, w, h, objectness, class
  scores`` (YOLOv5 layout; score = objectness x class score) or
  ``(1, 4 + C, N)`` columns ``cx, cy, w, h, class scores`` (YOLOv8 layout),
  in the model's input pixels;
- boxes scoring at least ``score_threshold`` are mapped back through the
  letterbox to the frame, suppressed per class by greedy NMS
  (:func:`dawnlab.blazeit.oracles.nms`), and at most ``max_objects`` of the
  highest-scoring ones are returned: that declared maximum is the range
  BlazeIt's confidence intervals rest on.
"""

from __future__ import annotations

import numpy as np

from dawnlab.blazeit.oracles import Detection, nms
from dawnlab.errors import DataError, invalid

__all__ = ["ONNXDetector", "letterbox"]


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio and pad to ``size x size``; return ``(img, r, dx, dy)``.

    A point ``(x, y)`` of the frame is at ``(x r + dx, y r + dy)`` in the result.

    Examples
    --------
    >>> out, r, dx, dy = letterbox(np.zeros((50, 100, 3), np.uint8), 64)
    >>> out.shape, r, dx, dy
    ((64, 64, 3), 0.64, 0.0, 16.0)
    """
    import cv2

    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out = np.full((size, size, 3), 114, dtype=np.uint8)
    dx, dy = (size - nw) // 2, (size - nh) // 2
    out[dy:dy + nh, dx:dx + nw] = resized
    return out, r, float(dx), float(dy)


class ONNXDetector:
    """A YOLO-style ONNX detector as a BlazeIt oracle, run with ``onnxruntime``.

    Parameters
    ----------
    model : str, path-like or bytes
        The ``.onnx`` file (or its bytes).
    classes : sequence of str
        The class names, in the order of the model's class scores.
    score_threshold : float
        Smallest score reported.
    nms_threshold : float
        IoU above which the weaker of two same-class boxes is suppressed.
    max_objects : int
        The most detections returned for one frame (the highest-scoring).
    layout : {"auto", "yolov5", "yolov8"}
        The output layout (``"auto"`` tells them apart by shape).
    name : str
        The oracle's name (stored with the labels).
    threads : int
        ``onnxruntime`` intra-op threads.

    Examples
    --------
    >>> ONNXDetector(b"not a model", ["car"])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    dawnlab.errors.DataError: Cannot load the ONNX model ...
    """

    def __init__(self, model, classes, score_threshold: float = 0.25,
                 nms_threshold: float = 0.45, max_objects: int = 100, layout: str = "auto",
                 name: str = "onnx", threads: int = 1):
        if not classes or not all(isinstance(c, str) for c in classes):
            raise invalid("classes", "ONNXDetector", "a non-empty sequence of class names",
                          classes)
        if not 0 <= score_threshold < 1:
            raise invalid("score_threshold", "ONNXDetector", "a number in [0, 1)",
                          score_threshold)
        if not isinstance(max_objects, int) or max_objects < 1:
            raise invalid("max_objects", "ONNXDetector", "a positive int", max_objects)
        if layout not in ("auto", "yolov5", "yolov8"):
            raise invalid("layout", "ONNXDetector", "'auto', 'yolov5' or 'yolov8'", layout)
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.log_severity_level = 3
        data = model if isinstance(model, (bytes, bytearray)) else str(model)
        try:
            self._session = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several kinds
            shown = "<bytes>" if isinstance(model, (bytes, bytearray)) else repr(str(model))
            raise DataError(f"Cannot load the ONNX model {shown}: "
                            f"{str(exc).splitlines()[0]}") from None
        inp = self._session.get_inputs()[0]
        shape = inp.shape
        side = shape[-1] if isinstance(shape[-1], int) else 640
        if isinstance(shape[-2], int) and shape[-2] != side:
            raise invalid("model", "ONNXDetector", "a model with a square input", shape)
        self.input_name, self.size = inp.name, int(side)
        self.classes, self.name = tuple(classes), name
        self.score_threshold, self.nms_threshold = float(score_threshold), float(nms_threshold)
        self.max_objects, self.layout = max_objects, layout

    def _rows(self, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(boxes cx cy w h, per-class scores)`` from the raw output."""
        out = np.asarray(out, dtype=np.float32)
        if out.ndim == 3:
            out = out[0]
        c = len(self.classes)
        layout = self.layout
        if layout == "auto":
            layout = ("yolov5" if out.shape[-1] == 5 + c else
                      "yolov8" if out.shape[0] == 4 + c else None)
            if layout is None:
                raise DataError(f"The ONNX model's output shape {out.shape} is neither "
                                f"(N, 5 + {c}) (YOLOv5) nor ({4 + c}, N) (YOLOv8) for the "
                                f"{c} classes given.")
        if layout == "yolov8":
            out = out.T
            return out[:, :4], out[:, 4:4 + c]
        return out[:, :4], out[:, 4:5] * out[:, 5:5 + c]

    def detect(self, image: np.ndarray, index: int) -> list[Detection]:
        """Detections of one RGB frame, in the frame's pixels."""
        img, r, dx, dy = letterbox(image, self.size)
        x = (img.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
        out = self._session.run(None, {self.input_name: np.ascontiguousarray(x)})[0]
        boxes, scores = self._rows(out)
        cls = scores.argmax(axis=1)
        best = scores[np.arange(len(scores)), cls]
        keep = best >= self.score_threshold
        boxes, cls, best = boxes[keep], cls[keep], best[keep]
        h, w = image.shape[:2]
        xy = np.column_stack([boxes[:, 0] - boxes[:, 2] / 2, boxes[:, 1] - boxes[:, 3] / 2,
                              boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2])
        xy = (xy - [dx, dy, dx, dy]) / r
        xy = np.clip(xy, 0, [w, h, w, h])
        out_dets = []
        for k in np.unique(cls):
            idx = np.flatnonzero(cls == k)
            for j in nms(xy[idx], best[idx], self.nms_threshold):
                i = idx[j]
                out_dets.append(Detection(self.classes[int(k)], *map(float, xy[i]),
                                          score=float(best[i])))
        out_dets.sort(key=lambda d: -d.score)
        return out_dets[:self.max_objects]
