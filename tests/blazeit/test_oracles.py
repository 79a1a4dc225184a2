"""Oracles: one contract for every detector, HOG with NMS on the pedestrian video, blobs."""

import numpy as np
import pytest

from dawnlab.blazeit import BlobOracle, HOGPeopleOracle, synthetic
from dawnlab.blazeit.oracles import Detection, iou, nms


def _oracles(frames):
    src, syn = synthetic.scene(200, seed=2)
    blob = BlobOracle(min_area=20, cls="car").fit([src.frame(i) for i in range(0, 200, 10)])
    return [("hog", HOGPeopleOracle(), frames[0]), ("blob", blob, src.frame(100)),
            ("synthetic", syn, src.frame(100))]


def test_oracle_contract(vtest_clip):
    for name, oracle, img in _oracles(vtest_clip[1]):
        dets = oracle.detect(img, 0 if name == "hog" else 100)
        assert isinstance(dets, list) and dets, name
        h, w = img.shape[:2]
        for d in dets:
            assert isinstance(d, Detection) and d.cls in oracle.classes
            assert -3 <= d.xmin < d.xmax <= w + 3 and -3 <= d.ymin < d.ymax <= h + 3


def test_hog_finds_pedestrians_and_suppresses_overlaps(vtest_clip):
    _, frames = vtest_clip
    oracle = HOGPeopleOracle(nms_threshold=0.3)
    dets = oracle.detect(frames[0], 0)
    assert len(dets) >= 2
    boxes = [d.box for d in dets]
    assert all(iou(a, b) <= 0.3 for k, a in enumerate(boxes) for b in boxes[k + 1:])


def test_nms_brute_force():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, (30, 2))
    boxes = np.c_[xy, xy + 10]
    scores = rng.random(30)
    keep = nms(boxes, scores, 0.2)
    # kept boxes do not overlap much, and every dropped box overlaps a better kept one
    assert all(iou(boxes[a], boxes[b]) <= 0.2 for a in keep for b in keep if a != b)
    for j in set(range(30)) - set(keep):
        assert any(iou(boxes[j], boxes[k]) > 0.2 and scores[k] >= scores[j] for k in keep)


def test_blob_oracle_finds_the_synthetic_objects():
    src, _ = synthetic.scene(300, seed=2, rates={"car": 0.04, "bus": 0.0, "person": 0.0})
    blob = BlobOracle(min_area=30, cls="car").fit([src.frame(i) for i in range(0, 300, 7)])
    found = total = 0
    for i in range(100, 300, 5):
        truth = [d for d in src.truth(i) if d.xmin > 2 and d.xmax < src.width - 2]
        dets = blob.detect(src.frame(i), i)
        total += len(truth)
        found += sum(any(iou(t.box, d.box) > 0.5 for d in dets) for t in truth)
    assert total > 10 and found >= 0.9 * total


def test_synthetic_noise_model_rates():
    src, oracle = synthetic.scene(3000, seed=4, p_miss=0.1, jitter=0.0, fp_rate=0.2)
    true = det = fp = 0
    for i in range(0, 3000, 3):
        t = src.truth(i)
        d = oracle.detect(None, i)
        boxes = {x.box for x in t}
        true += len(t)
        det += sum(x.box in boxes for x in d)
        fp += sum(x.box not in boxes for x in d)
    miss = 1 - det / true
    assert abs(miss - 0.1) < 4 * np.sqrt(0.1 * 0.9 / true)
    assert abs(fp / 1000 - 0.2) < 4 * np.sqrt(0.2 / 1000)


def test_synthetic_is_deterministic():
    a, oa = synthetic.scene(100, seed=1)
    b, ob = synthetic.scene(100, seed=1)
    assert np.array_equal(a.frame(50), b.frame(50))
    assert [d.box for d in oa.detect(None, 50)] == [d.box for d in ob.detect(None, 50)]
