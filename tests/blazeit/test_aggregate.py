"""Aggregation (Section 6): control variates, empirical-Bernstein stopping, coverage."""

import numpy as np
import pytest

from dawnlab.blazeit import Store, bernstein_half_width, control_variate, estimate_mean

QUERY = "SELECT FCOUNT(*) FROM v WHERE class = '{}' ERROR WITHIN {} AT CONFIDENCE {}%"


def test_bernstein_half_width_closed_form():
    v, r, n, d = 0.7, 3.0, 500, 0.01
    expect = np.sqrt(2 * v * np.log(3 / d) / n) + 3 * r * np.log(3 / d) / n
    assert bernstein_half_width(v, r, n, d) == pytest.approx(expect)


def test_control_variate_is_unbiased_and_reduces_variance():
    rng = np.random.default_rng(0)
    x = rng.poisson(2.0, 20000).astype(float)
    y = x + rng.normal(0, 0.3, len(x))
    z, c = control_variate(y, x, tau=2.0)
    assert c == pytest.approx(1.0, abs=0.02)
    assert z.var() < 0.1 * y.var()
    assert z.mean() == pytest.approx(y.mean() - c * (x.mean() - 2.0))


def test_whole_population_is_exact():
    values = np.arange(50, dtype=float)
    est = list(estimate_mean(lambda f: values[f], np.arange(50), None, 1e-6, 0.95,
                             np.random.default_rng(0)))[-1]
    assert est.n == 50 and est.value == pytest.approx(values.mean()) and est.half_width == 0


def test_bad_arguments():
    from dawnlab.errors import InvalidArgument

    with pytest.raises(InvalidArgument, match="'error' argument"):
        next(estimate_mean(lambda f: f, np.arange(3), None, 0.0, 0.9, np.random.default_rng(0)))


def test_query_matches_exact_within_error(small_session):
    s = small_session
    for cls in ("car", "person"):
        q = QUERY.format(cls, 0.2, 95)
        truth = s.exact(q)
        for method in ("blazeit", "random"):
            r = s.query(q, method=method, seed=1, allow_nn_only=False)
            assert abs(r.value - truth) <= 0.2
            assert r.interval[0] <= r.value <= r.interval[1]
            assert r.interval[1] - r.interval[0] <= 0.4 + 1e-9
            assert 0 < r.oracle_calls <= s.n_frames
            if method == "blazeit":
                assert r.oracle_calls < s.n_frames
        scan = s.query(q, method="scan")
        assert scan.value == pytest.approx(truth) and scan.oracle_calls == s.n_frames


def test_coverage_over_100_runs(small_session):
    """Over 120 seeds the answers are within the error at least 95% of the time,
    and BlazeIt's control variate needs fewer oracle calls than random sampling."""
    s = small_session
    error, conf, runs = 0.35, 0.95, 120
    q = s.parse(QUERY.format("car", error, 95))
    truth = s.exact(q)
    frames = np.arange(s.n_frames)
    y = s.store.frame_counts(q, frames)[:, 0].astype(float)
    proxy = s._proxy(q, s.proba_)
    results = {}
    for name, px in (("blazeit", proxy), ("random", None)):
        ests = [list(estimate_mean(lambda f: y[f], frames, px, error, conf,
                                   np.random.default_rng(seed)))[-1] for seed in range(runs)]
        within = np.mean([abs(e.value - truth) <= error for e in ests])
        results[name] = (within, np.mean([e.n for e in ests]))
        assert within >= conf, (name, within)
    assert results["blazeit"][1] < 0.5 * s.n_frames          # the runs did stop early
    assert results["blazeit"][1] < results["random"][1]     # the control variate helps
    # the session's query runs the same estimator: same seed, same answer
    r = s.query(q, seed=3, allow_nn_only=False)
    e = list(estimate_mean(lambda f: y[f], frames, proxy, error, conf,
                           np.random.default_rng(3)))[-1]
    assert (r.value, r.oracle_calls) == (pytest.approx(e.value), e.n)


def test_nn_alone_when_heldout_error_is_small(small_session):
    s = small_session
    q = QUERY.format("car", 0.5, 95)
    r = s.query(q)
    truth = s.exact(q)
    if r.method == "blazeit-nn":
        assert r.oracle_calls == 0 and abs(r.value - truth) <= 0.5
    else:  # the held-out check refused; then it sampled
        assert abs(r.value - truth) <= 0.5 and r.oracle_calls > 0
    # an error far below the NN's held-out error is never answered by the NN alone
    tight = s.query(QUERY.format("car", 0.01, 95), allow_nn_only=True)
    assert tight.method == "blazeit"


def test_every_aggregate_says_which_path_answered(small_session):
    s = small_session
    count = "SELECT COUNT(*) FROM v WHERE class = 'car' ERROR WITHIN {} AT CONFIDENCE 95%"
    truth = s.exact(count.format(100))
    r = s.query(count.format(0.15 * truth), seed=0, allow_nn_only=False)
    assert abs(r.value - truth) <= 0.15 * truth and r.oracle_calls < s.n_frames
    assert r.info["path"].startswith("COUNT(*) =") and r.interval[0] <= r.value <= r.interval[1]
    tracks = "SELECT COUNT(DISTINCT trackid) FROM v WHERE class = 'car' ERROR WITHIN 1"
    r = s.query(tracks)
    assert r.value == s.exact(tracks) and r.method == "exact"
    assert "not sampled" in r.info["path"]
    exact = s.query("SELECT FCOUNT(*) FROM v WHERE class = 'car'")
    assert exact.method == "scan" and "no ERROR WITHIN" in exact.info["path"]
    fc = s.query(QUERY.format("car", 0.2, 95), allow_nn_only=False)
    assert "control variate" in fc.info["path"]


def test_exact_aggregate_over_a_time_range_labels_only_that_range(small_session):
    s = small_session
    q = "SELECT FCOUNT(*) FROM v WHERE class = 'car' AND timestamp < 300"
    truth = s.exact(q)
    full = s.store
    s.store = Store().attach(s.source, s.oracle)
    try:
        r = s.query(q)
    finally:
        s.store = full
    assert r.value == pytest.approx(truth) and r.oracle_calls == 300
