"""The ONNX detector oracle on a tiny YOLO-style model exported in the test with torch.onnx."""

import io

import numpy as np
import pytest
import torch

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")  # torch.onnx.export needs it

from dawnlab.blazeit import Session, Store, synthetic  # noqa: E402
from dawnlab.blazeit.onnx_oracle import ONNXDetector, letterbox  # noqa: E402
from dawnlab.errors import DataError  # noqa: E402

SIZE = 64


class BrightSquares(torch.nn.Module):
    """A 'detector' with YOLOv5 output: one candidate box per 16x16 cell of the input; a
    cell is a 'car' (class 0) when its red channel is bright, a 'bus' when its green is."""

    def forward(self, x):
        cells = torch.nn.functional.avg_pool2d(x, 16)              # (1, 3, 4, 4)
        red, green = cells[:, 0].flatten(1), cells[:, 1].flatten(1)  # (1, 16)
        ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(4.0), indexing="ij")
        cx, cy = (xs.flatten() * 16 + 8)[None], (ys.flatten() * 16 + 8)[None]
        wh = torch.full_like(cx, 16.0)
        obj = torch.clamp(torch.maximum(red, green) * 2 - 1, 0, 1)
        car = (red > green).float()
        return torch.stack([cx, cy, wh, wh, obj, car, 1 - car], dim=-1)  # (1, 16, 7)


@pytest.fixture(scope="module")
def model_bytes():
    buf = io.BytesIO()
    torch.onnx.export(BrightSquares(), torch.zeros(1, 3, SIZE, SIZE), buf, dynamo=False,
                      input_names=["images"], output_names=["output"])
    return buf.getvalue()


def test_letterbox_maps_points_back():
    img = np.zeros((60, 120, 3), np.uint8)
    out, r, dx, dy = letterbox(img, SIZE)
    assert out.shape == (SIZE, SIZE, 3) and (r, dx, dy) == (SIZE / 120, 0.0, 16.0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_detections_land_on_the_objects_in_frame_pixels(model_bytes):
    det = ONNXDetector(model_bytes, ["car", "bus"], score_threshold=0.5)
    img = np.zeros((128, 128, 3), np.uint8)
    img[32:64, 0:32] = (255, 0, 0)      # a red square: 'car'
    img[96:128, 96:128] = (0, 255, 0)   # a green one: 'bus'
    dets = det.detect(img, 0)
    cars = [d for d in dets if d.cls == "car"]
    buses = [d for d in dets if d.cls == "bus"]
    # one model cell is 16 model px = 32 frame px: each square is exactly one cell's box
    assert [d.box for d in cars] == [(0.0, 32.0, 32.0, 64.0)]
    assert [d.box for d in buses] == [(96.0, 96.0, 128.0, 128.0)]
    wide = np.zeros((64, 128, 3), np.uint8)  # letterboxed: 16 model px of padding above, below
    wide[0:32, 32:64] = (255, 0, 0)
    assert [d.box for d in det.detect(wide, 0) if d.cls == "car"] == [(32.0, 0.0, 64.0, 32.0)]
    assert det.detect(np.zeros((128, 128, 3), np.uint8), 0) == []


def test_max_objects_caps_and_bad_models_are_clear_errors(model_bytes):
    det = ONNXDetector(model_bytes, ["car", "bus"], score_threshold=0.5, max_objects=3)
    img = np.full((64, 64, 3), (255, 0, 0), np.uint8)
    assert len(det.detect(img, 0)) == 3
    with pytest.raises(DataError, match="Cannot load the ONNX model"):
        ONNXDetector(b"garbage", ["car"])
    wrong = ONNXDetector(model_bytes, ["car", "bus", "person"])
    with pytest.raises(DataError, match="neither"):
        wrong.detect(img, 0)


def test_a_session_runs_on_the_onnx_oracle(model_bytes):
    """The oracle plugs into a Session: a sampled FCOUNT holds the exact answer."""
    src, _ = synthetic.scene(300, seed=2, rates={"car": 0.05, "bus": 0.0, "person": 0.0})
    det = ONNXDetector(model_bytes, ["car", "bus"], score_threshold=0.3, max_objects=16)
    s = Session(src, det, train_frames=60, heldout_frames=30, epochs=1)
    q = "SELECT FCOUNT(*) FROM v WHERE class = 'car' ERROR WITHIN 1.0 AT CONFIDENCE 90%"
    truth = s.exact(q)
    full, s.store = s.store, Store().attach(src, det)
    try:
        r = s.query(q, method="random", seed=0)
    finally:
        s.store = full
    assert r.interval[0] <= truth <= r.interval[1] and r.info["range"] == 16
