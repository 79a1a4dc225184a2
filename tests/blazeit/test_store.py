"""The DuckDB store: no frame labelled twice, and exact SQL answers equal brute force."""

import numpy as np
import pytest

from dawnlab.blazeit import Session, Store, StoreMismatch, link_tracks, parse, synthetic
from dawnlab.blazeit.store import greedy_gap


class CountingOracle:
    """Wraps an oracle and records every frame it is run on."""

    def __init__(self, inner):
        self.inner, self.classes, self.name = inner, inner.classes, inner.name
        self.max_objects = inner.max_objects
        self.seen = []

    def detect(self, image, index):
        self.seen.append(index)
        return self.inner.detect(image, index)


def brute_force(src, oracle, n, pred):
    """Per-frame counts computed in Python straight from the oracle's detections."""
    out = []
    for i in range(n):
        img = src.frame(i)
        out.append(sum(pred(d, img) for d in oracle.inner.detect(img, i)))
    return np.array(out)


@pytest.fixture(scope="module")
def labelled():
    src, oracle = synthetic.scene(300, seed=5)
    oracle = CountingOracle(oracle)
    s = Session(src, oracle)
    return s, src, oracle


def test_no_frame_is_run_twice(labelled):
    s, src, oracle = labelled
    s.store.label(src, oracle, range(0, 300, 3))
    s.store.label(src, oracle, range(0, 300, 2))
    s.label_all()
    s.exact("SELECT FCOUNT(*) FROM v WHERE class = 'car'")
    assert sorted(oracle.seen) == list(range(300))
    assert s.store.oracle_calls == 300


def test_exact_aggregates_equal_brute_force(labelled):
    s, src, oracle = labelled
    s.label_all()
    cars = brute_force(src, oracle, 300, lambda d, img: d.cls == "car")
    assert s.exact("SELECT FCOUNT(*) FROM v WHERE class = 'car'") == pytest.approx(cars.mean())
    assert s.exact("SELECT COUNT(*) FROM v WHERE class = 'car'") == cars.sum()
    big = brute_force(src, oracle, 300, lambda d, img: d.cls == "car"
                      and (d.xmax - d.xmin) * (d.ymax - d.ymin) > 120)
    assert s.exact("SELECT FCOUNT(*) FROM v WHERE class = 'car' AND area(mask) > 120") == \
        pytest.approx(big.mean())
    early = s.exact("SELECT FCOUNT(*) FROM v WHERE class = 'car' AND timestamp < 100")
    assert early == pytest.approx(cars[:100].mean())


def test_exact_colour_udf_equals_brute_force(labelled):
    s, src, oracle = labelled

    def red(d, img):
        h, w = img.shape[:2]
        x0, x1 = int(max(0, np.floor(d.xmin))), int(min(w, np.ceil(d.xmax)))
        y0, y1 = int(max(0, np.floor(d.ymin))), int(min(h, np.ceil(d.ymax)))
        m = img[y0:y1, x0:x1].reshape(-1, 3).mean(0)
        return d.cls == "car" and m[0] - (m[1] + m[2]) / 2 >= 60

    s.label_all()
    counts = brute_force(src, oracle, 300, red)
    q = "SELECT timestamp FROM v WHERE class = 'car' AND redness(content) >= 60"
    assert s.exact(q) == np.flatnonzero(counts >= 1).tolist()
    assert len(s.exact(q)) > 0


def test_exact_limit_is_greedy_in_order(labelled):
    s, src, oracle = labelled
    s.label_all()
    cars = brute_force(src, oracle, 300, lambda d, img: d.cls == "car")
    hits = np.flatnonzero(cars >= 3).tolist()
    q = "SELECT timestamp FROM v GROUP BY timestamp HAVING SUM(class = 'car') >= 3 LIMIT 4 GAP 20"
    assert s.exact(q) == greedy_gap(hits, 20, 4)


def test_greedy_gap():
    assert greedy_gap([0, 1, 2, 10, 11, 30], 10) == [0, 10, 30]
    assert greedy_gap([0, 1, 2], 0, limit=2) == [0, 1]


def test_store_refuses_another_video(tmp_path):
    path = tmp_path / "labels.duckdb"
    src, oracle = synthetic.scene(50, seed=1)
    store = Store(path).attach(src, oracle)
    store.label(src, oracle, range(5))
    store.close()
    again = Store(path).attach(src, oracle)  # same video: the labels are reused
    assert again.n_labelled() == 5
    other, oracle2 = synthetic.scene(50, seed=2)
    with pytest.raises(StoreMismatch, match="another store file"):
        again.attach(other, oracle2)


def test_exact_needs_full_labels():
    src, oracle = synthetic.scene(40, seed=1)
    store = Store().attach(src, oracle)
    store.label(src, oracle, range(10))
    from dawnlab.errors import DataError

    with pytest.raises(DataError, match="Only 10 of the 40"):
        store.exact(parse("SELECT FCOUNT(*) FROM v"), 40)


def test_link_tracks_recovers_synthetic_objects():
    src, oracle = synthetic.scene(400, seed=4, p_miss=0.0, jitter=0.0, fp_rate=0.0)
    store = Store().attach(src, oracle)
    store.label(src, oracle, range(400))
    n_tracks = store.link_tracks(threshold=0.3, max_gap=1)
    truth = {d.trackid for i in range(400) for d in src.truth(i)}
    assert n_tracks == len(truth)
    # every stored track is one true object
    rows = store.sql("SELECT frame, xmin, ymin, xmax, ymax, trackid FROM detections").fetchall()
    by_track = {}
    for f, *box, t in rows:
        match = [d.trackid for d in src.truth(f) if list(d.box) == box]
        by_track.setdefault(t, set()).update(match)
    assert all(len(v) == 1 for v in by_track.values())


def test_link_tracks_small():
    ids = link_tracks(np.array([0, 0, 1, 1]), np.array(["a", "b", "a", "b"]),
                      np.array([[0, 0, 4, 4], [0, 0, 4, 4], [0, 0, 4, 4], [9, 9, 12, 12]]))
    assert ids.tolist() == [0, 1, 0, 2]


def test_session_links_tracks_automatically():
    """Track ids are filled in as detections are stored, without calling link_tracks()."""
    src, oracle = synthetic.scene(600, seed=4, p_miss=0.0, jitter=0.0, fp_rate=0.0)
    s = Session(src, oracle)
    for cls in ("car", "bus", "person"):
        truth = {d.trackid for i in range(600) for d in src.truth(i) if d.cls == cls}
        q = f"SELECT COUNT(DISTINCT trackid) FROM v WHERE class = '{cls}'"
        assert s.exact(q) == len(truth)
    assert s.store.sql("SELECT COUNT(*) FROM detections WHERE trackid < 0").fetchone()[0] == 0
    # each linked track is one true object, and each true object one track
    rows = s.store.sql("SELECT frame, xmin, ymin, xmax, ymax, trackid FROM detections").fetchall()
    pairs = set()
    for f, *box, t in rows:
        pairs.update((t, d.trackid) for d in src.truth(f) if list(d.box) == box)
    assert len(pairs) == len({p[0] for p in pairs}) == len({p[1] for p in pairs})
    # labelling more frames re-links: the count follows the labels
    s2 = Session(src, oracle)
    s2.store.label(src, oracle, range(100))
    early = {d.trackid for i in range(100) for d in src.truth(i)}
    assert s2.store.sql("SELECT COUNT(DISTINCT trackid) FROM detections").fetchone()[0] == \
        len(early)


def test_noisy_tracks_are_close_to_the_true_objects():
    src, oracle = synthetic.scene(1000, seed=6)   # misses, jitter and false positives
    s = Session(src, oracle)
    truth = {d.trackid for i in range(1000) for d in src.truth(i) if d.cls == "car"}
    got = s.exact("SELECT COUNT(DISTINCT trackid) FROM v WHERE class = 'car'")
    assert abs(got - len(truth)) <= 0.1 * len(truth)


def test_features_are_stored_and_queryable(labelled):
    from dawnlab.blazeit.store import box_features

    s, src, oracle = labelled
    s.label_all()
    feats = s.store.sql("SELECT features FROM detections WHERE class = 'car' LIMIT 5").fetchall()
    assert all(len(f[0]) == 12 and abs(sum(f[0][:4]) - 1) < 1e-4 for f in feats)

    def bright_red(d, img):
        h, w = img.shape[:2]
        x0, x1 = int(max(0, np.floor(d.xmin))), int(min(w, np.ceil(d.xmax)))
        y0, y1 = int(max(0, np.floor(d.ymin))), int(min(h, np.ceil(d.ymax)))
        return d.cls == "car" and box_features(img[y0:y1, x0:x1])[3] > 0.5

    counts = brute_force(src, oracle, 300, bright_red)
    q = "SELECT timestamp FROM v WHERE class = 'car' AND feature(features, 3) > 0.5"
    assert s.exact(q) == np.flatnonzero(counts >= 1).tolist()
    assert 0 < len(s.exact(q)) < 300


def test_truncated_video_is_a_clear_error(tmp_path):
    """Issue item 10: a truncated AVI stops decoding; the error says so where it happens."""
    from dawnlab.blazeit import FileSource, HOGPeopleOracle
    from dawnlab.data import video_path
    from dawnlab.errors import DataError

    data = video_path().read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 3])
    src = FileSource(cut)
    s = Session(src, HOGPeopleOracle(), train_frames=4, heldout_frames=2, epochs=1)
    s.oracle.detect = lambda image, index: []  # the decoding is what matters here
    with pytest.raises(DataError, match="truncated"):
        s.store.label(src, s.oracle, range(src.n_frames))
    assert 0 < s.store.n_labelled() < src.n_frames  # what was decoded is kept


@pytest.mark.parametrize("kw, name", [({"train_frames": -5}, "train_frames"),
                                      ({"heldout_frames": "abc"}, "heldout_frames"),
                                      ({"epochs": 0}, "epochs")])
def test_bad_session_arguments_name_the_argument(kw, name):
    from dawnlab.errors import InvalidArgument

    src, oracle = synthetic.scene(50, seed=0)
    with pytest.raises(InvalidArgument, match=f"'{name}' argument"):
        Session(src, oracle, **kw)
