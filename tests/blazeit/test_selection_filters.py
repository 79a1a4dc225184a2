"""Content-based selection (first version, Section 5): every filter against the exact answers.

The scene's oracle has no false positives here (``fp_rate=0``): a detection
with no pixels behind it cannot be predicted by any filter that looks at the
frame, so the learned filters are checked on an oracle that sees what is there.
Buses are commoner than by default so that the held-out frames hold some.
"""

import numpy as np
import pytest

from dawnlab.blazeit import Session, Store, synthetic
from dawnlab.blazeit.selection import accept_threshold, min_area, query_region

RATES = {"car": 0.03, "bus": 0.002, "person": 0.008}


@pytest.fixture(scope="module")
def sel_session():
    src, oracle = synthetic.scene(3000, seed=3, fp_rate=0.0, rates=RATES)
    train_src, train_oracle = synthetic.scene(8000, seed=103, fp_rate=0.0, rates=RATES)
    s = Session(src, oracle, train_source=train_src, train_oracle=train_oracle,
                train_frames=1200, heldout_frames=400, epochs=5, seed=0)
    s.train()
    s.label_all()
    return s


def fresh_query(s, q, **kw):
    full = s.store
    s.store = Store().attach(s.source, s.oracle)
    try:
        return s.query(q, **kw)
    finally:
        s.store = full


@pytest.mark.parametrize("where, filt", [
    ("class = 'bus'", "label"),
    ("class = 'bus' AND area(mask) > 300", "area"),
    ("class = 'bus' AND xmin > 64", "spatial"),
    ("class = 'car' AND xmin > 80 AND redness(content) >= 80", "colour"),
    ("class = 'person' AND xcenter(mask) < 30 AND timestamp >= 500", "spatial"),
])
def test_filters_skip_frames_and_answers_equal_exact(sel_session, where, filt):
    s = sel_session
    q = f"SELECT timestamp FROM v WHERE {where}"
    exact = s.exact(q)
    r = fresh_query(s, q)
    assert r.value == exact and len(exact) > 0
    skipped = r.info["skipped"]
    assert skipped[filt] > 0
    # the oracle ran exactly on the frames no filter removed
    assert r.oracle_calls == r.info["oracle_calls_scan"] - sum(skipped.values())
    assert r.oracle_calls < 0.7 * s.n_frames
    if "timestamp" in where:
        assert skipped["temporal"] == 500


def test_fnr_trades_recall_for_oracle_calls(sel_session):
    s = sel_session
    base = "SELECT timestamp FROM v WHERE class = 'bus'"
    exact = set(s.exact(base))
    sure = fresh_query(s, base)
    loose = fresh_query(s, base + " FNR WITHIN 0.1")
    assert set(loose.value) <= exact                        # the oracle confirms all: no FP
    assert loose.info["heldout_recall"] >= 0.9               # the bound, on held-out frames
    assert len(set(loose.value) & exact) >= 0.9 * len(exact)  # the bound holds on this video too
    assert loose.oracle_calls < sure.oracle_calls
    assert loose.info["skipped"]["label"] > sure.info["skipped"]["label"]


def test_fpr_returns_confident_frames_without_the_oracle(sel_session):
    s = sel_session
    base = "SELECT timestamp FROM v WHERE class = 'bus'"
    exact = set(s.exact(base))
    sure = fresh_query(s, base)
    r = fresh_query(s, base + " FPR WITHIN 0.05")
    got = set(r.value)
    assert r.info["accepted_without_oracle"] > 0
    assert r.oracle_calls < sure.oracle_calls
    assert got >= exact                                 # nothing is lost
    assert len(got - exact) <= 0.05 * len(got)          # false positives within the bound
    assert r.oracle_calls + r.info["accepted_without_oracle"] == sure.oracle_calls


def test_region_and_area_inference():
    from dawnlab.blazeit import parse

    q = parse("SELECT timestamp FROM v WHERE class = 'car' AND xmax < 50.5 AND 20 < ymin "
              "AND xcenter(mask) > 10 AND width(mask) > 5 AND height(mask) >= 4")
    inside, touch = query_region(q, 128, 96)
    assert inside == (0, 20, 51, 96) and touch == (10, 20, 51, 96)
    assert min_area(q) == 20.0
    assert min_area(parse("SELECT timestamp FROM v WHERE width(mask) > 5")) is None


def test_accept_threshold_bounds_the_false_positive_rate():
    rng = np.random.default_rng(0)
    scores = rng.random(2000)
    positive = rng.random(2000) < scores ** 0.2    # higher score, more often positive
    t = accept_threshold(scores, positive, 0.1)
    above = scores >= t
    assert above.sum() >= 20 and (~positive[above]).mean() <= 0.1
