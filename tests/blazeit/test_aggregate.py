"""Aggregation (Section 6): the betting confidence sequence, control variates, coverage.

Every coverage test runs >= 100 seeded replications where the truth is known and
asserts that the fraction of runs whose answer is within the error (and whose
every interval along the way held the truth) is at least the confidence minus
twice the simulation's own standard error.
"""

import numpy as np
import pytest

from dawnlab.blazeit import BettingCS, Session, Store, control_variate, estimate_mean, synthetic
from dawnlab.blazeit.aggregate import low_share
from dawnlab.errors import DataError, InvalidArgument

QUERY = "SELECT FCOUNT(*) FROM v WHERE class = '{}' ERROR WITHIN {} AT CONFIDENCE {}%"


def floor(conf, runs):
    """The confidence minus twice the binomial standard error of a coverage estimate."""
    return conf - 2 * np.sqrt(conf * (1 - conf) / runs)


def run_all(values, proxy, error, conf, seed, value_range, first=None, share=0.5):
    """Every estimate of one run; True when each interval held the truth."""
    ests = list(estimate_mean(lambda f: values[f], np.arange(len(values)), proxy, error, conf,
                              np.random.default_rng(seed), value_range=value_range,
                              c_prior=1.0 if proxy is not None else 0.0, first=first,
                              low_share=share))
    truth = values.mean()
    jointly = all(e.low - 1e-12 <= truth <= e.high + 1e-12 for e in ests)
    return ests[-1], jointly


def coverage(values, proxy, error, conf, runs, value_range, first=None, share=0.5):
    out, calls = [], []
    truth = values.mean()
    for seed in range(runs):
        fst = None if first is None else first(seed)
        last, jointly = run_all(values, proxy, error, conf, seed, value_range, fst, share)
        out.append(jointly and abs(last.value - truth) <= error + 1e-12)
        calls.append(last.n)
    return float(np.mean(out)), float(np.mean(calls))


def heavy_tail(n, seed=0):
    """0.5% of the frames hold 30 objects, the rest none (the issue's example)."""
    y = np.zeros(n)
    y[np.random.default_rng(seed).choice(n, n // 200, replace=False)] = 30
    return y


def test_control_variate_is_unbiased_and_reduces_variance():
    rng = np.random.default_rng(0)
    x = rng.poisson(2.0, 20000).astype(float)
    y = x + rng.normal(0, 0.3, len(x))
    z, c = control_variate(y, x, tau=2.0)
    assert c == pytest.approx(1.0, abs=0.02)
    assert z.var() < 0.1 * y.var()
    assert z.mean() == pytest.approx(y.mean() - c * (x.mean() - 2.0))


def test_whole_population_is_exact():
    values = np.arange(50, dtype=float) % 7
    est = list(estimate_mean(lambda f: values[f], np.arange(50), None, 1e-6, 0.95,
                             np.random.default_rng(0), value_range=6))[-1]
    assert est.n == 50 and est.value == pytest.approx(values.mean()) and est.half_width == 0


def test_deterministic_limits_alone_are_respected():
    """After t samples the interval is inside [S/N, (S + M (N - t))/N]."""
    y = np.random.default_rng(1).integers(0, 5, 300).astype(float)
    cs = BettingCS(300, 4.0, 0.9)
    cs.update(y[:100])
    lo, hi = cs.interval()
    assert lo >= y[:100].sum() / 300 - 1e-12
    assert hi <= (y[:100].sum() + 4 * 200) / 300 + 1e-12


def test_value_outside_the_declared_range_is_an_error():
    cs = BettingCS(100, 3.0, 0.95)
    with pytest.raises(DataError, match=r"outside the range \[0, 3\]"):
        cs.update([1.0, 4.0])


def test_bad_arguments():
    with pytest.raises(InvalidArgument, match="'error' argument"):
        next(estimate_mean(lambda f: f, np.arange(3), None, 0.0, 0.9, np.random.default_rng(0),
                           value_range=1))
    with pytest.raises(InvalidArgument, match="'value_range' argument"):
        next(estimate_mean(lambda f: f, np.arange(3), None, 0.1, 0.9, np.random.default_rng(0),
                           value_range=float("nan")))


def test_coverage_heavy_tail_without_a_proxy():
    """The issue's heavy tail (0.5% of frames with 30 objects): coverage holds, jointly
    over every interval of each run, and runs do not stop at 0 after seeing no crowd."""
    y = heavy_tail(3000)
    runs, conf = 100, 0.95
    cov, calls = coverage(y, None, 0.3, conf, runs, 30)
    assert cov >= floor(conf, runs), cov
    assert calls < len(y)  # it did stop early


def test_coverage_heavy_tail_with_an_uninformative_proxy():
    """A control variate that knows nothing of the crowds must not break the interval."""
    y = heavy_tail(4000, seed=1)
    proxy = np.random.default_rng(2).uniform(0, 2, len(y))
    runs, conf = 100, 0.95
    cov, _ = coverage(y, proxy, 0.3, conf, runs, 30)
    assert cov >= floor(conf, runs), cov


@pytest.mark.parametrize("share", [0.05, 0.95])
def test_coverage_with_the_miscoverage_split_unevenly(share):
    """Nearly all of 1 - p on one end (low_share 0.05: the upper end, where the hidden
    crowds are; 0.95: the lower end): each end still holds, jointly over every interval,
    on the heavy tail with an uninformative control variate."""
    y = heavy_tail(3000, seed=5)
    proxy = np.random.default_rng(6).uniform(0, 2, len(y))
    runs, conf = 100, 0.9
    cov, calls = coverage(y, proxy, 0.3, conf, runs, 30, share=share)
    assert cov >= floor(conf, runs), cov
    assert calls < len(y)


def test_uneven_split_is_chosen_from_the_nn_and_spends_less_on_a_rare_class():
    """low_share gives the range-limited upper end of a rare class most of 1 - p; with the
    same samples the split interval is narrower than the even one, which it must not be
    for a count mid-range; a share outside (0, 1) is refused."""
    rng = np.random.default_rng(7)
    y = (rng.random(20000) < 0.05).astype(float)
    proxy = np.clip(y + rng.normal(0, 0.1, len(y)), 0, None)
    s = low_share(proxy, 6.0)
    assert 0.05 <= s < 0.25
    assert low_share(np.full(50, 3.0), 6.0) == 0.5
    order = rng.permutation(len(y))[:400]
    width = {}
    for share in (0.5, s):
        cs = BettingCS(len(y), 6.0, 0.95, proxy=proxy, error=0.05, low_share=share)
        cs.update(y[order], order)
        lo, hi = cs.interval()
        width[share] = hi - lo
    assert width[s] < width[0.5], width
    for bad in (0, 1, 1.5, "a"):
        with pytest.raises(InvalidArgument, match="'low_share' argument"):
            BettingCS(10, 1.0, 0.9, low_share=bad)


def test_coverage_friendly_counts_and_the_control_variate_helps():
    rng = np.random.default_rng(3)
    y = np.minimum(rng.poisson(2.0, 2000), 16).astype(float)
    proxy = np.clip(y + rng.normal(0, 0.4, len(y)), 0, None)
    runs, conf = 100, 0.9
    cov_cv, calls_cv = coverage(y, proxy, 0.1, conf, runs, 16)
    # random sampling's coverage has its own 100-run tests (heavy tail); here it is the
    # yardstick for the calls, so 10 runs
    cov_rs, calls_rs = coverage(y, None, 0.1, conf, 10, 16)
    assert cov_cv >= floor(conf, runs) and cov_rs >= floor(conf, 10), (cov_cv, cov_rs)
    assert calls_cv < 0.7 * calls_rs, (calls_cv, calls_rs)


@pytest.mark.parametrize("value_range", [2.0, 6.0])
def test_coverage_of_answers_from_held_out_frames_alone(value_range):
    """The NN-alone path: the first check uses only held-out frames drawn at random; it
    answers when their difference estimate proves the error, and the answer holds; with a
    declared range above the NN's (6), under the uneven split the session would use."""
    rng = np.random.default_rng(4)
    n = 3000
    y = (rng.random(n) < 0.1).astype(float) * rng.integers(1, 3, n)
    proxy = np.where(rng.random(n) < 0.97, y, 0.0)  # a good NN that misses 3%
    proxy[:600] = 0.0  # ... and that never saw what happens early in the video
    runs, conf = 100, 0.95
    alone = []

    def first(seed):
        return np.random.default_rng([seed, 99]).permutation(n)[:500]

    truth = y.mean()
    within = []
    share = low_share(proxy, value_range)  # the split the session's NN-alone path uses
    assert (share < 0.5) == (value_range > 2)
    for seed in range(runs):
        last, jointly = run_all(y, proxy, 0.1, conf, seed, value_range, first(seed), share)
        alone.append(last.n <= 500)
        within.append(jointly and abs(last.value - truth) <= 0.1)
    assert np.mean(within) >= floor(conf, runs)
    assert np.mean(alone) > 0.5  # the path is exercised, not just the sampler


@pytest.fixture(scope="module")
def bus_session():
    """The issue's example: no bus in the first 600 frames."""
    src, oracle = synthetic.scene(3000, seed=21, rates={"car": .03, "bus": .004, "person": .008},
                                  fp_rate=0)
    s = Session(src, oracle, epochs=10, seed=0)
    s.train()
    return s


def test_nn_alone_regression_bus_absent_from_the_first_frames(bus_session):
    s = bus_session
    q = QUERY.format("bus", 0.2, 95)
    assert s.train_.min() < 600 and s.train_.max() > 2400  # training spans the whole video
    r = s.query(q)
    truth = float(np.mean([sum(d.cls == "bus" for d in s.oracle.detect(None, i))
                           for i in range(s.n_frames)]))
    assert truth > 0.3
    assert r.interval[0] <= truth <= r.interval[1] and abs(r.value - truth) <= 0.2
    if r.method == "blazeit-nn":
        assert r.info["oracle_calls_made_now"]["query"] == 0
    by = r.info["oracle_calls_by_purpose"]
    assert by["training"] == len(s.train_) and by["heldout"] == len(s.heldout_)


def test_coverage_on_the_sessions_own_values(small_session):
    """The estimator the session runs, on its video's oracle counts and NN predictions."""
    s = small_session
    q = s.parse(QUERY.format("car", 0.15, 95))
    frames = np.arange(s.n_frames)
    y = s.store.frame_counts(q, frames)[:, 0].astype(float)
    proxy = s._proxy(q, s.proba_)
    runs = 100
    cov_cv, calls_cv = coverage(y, proxy, 0.15, 0.95, runs, s.count_range(q))
    # random sampling on the session's values over 100 runs: the slow session test
    cov_rs, calls_rs = coverage(y, None, 0.15, 0.95, 20, s.count_range(q))
    assert cov_cv >= floor(0.95, runs) and cov_rs >= floor(0.95, 20), (cov_cv, cov_rs)
    assert calls_cv < calls_rs < s.n_frames
    # the session's query runs the same estimator: same seed, same answer
    r = s.query(q, seed=3, allow_nn_only=False)
    share = low_share(proxy, s.count_range(q))
    assert r.info["low_share"] == share
    est, _ = run_all(y, proxy, 0.15, 0.95, 3, s.count_range(q), share=share)
    assert r.value == pytest.approx(est.value) and r.oracle_calls == est.n


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["car", "person", "bus"])
def test_session_coverage_over_100_runs(small_session, cls):
    """The session's own queries, on the fully labelled store, over 100 seeds; person is
    range-limited (declared maximum 40 per frame), car variance-limited, bus rare (the
    NN's split of 1 - p gives its upper end most of it)."""
    s = small_session
    error, conf, runs = 0.15, 0.95, 100
    q = s.parse(QUERY.format(cls, error, 95))
    truth = s.exact(q)
    calls = {}
    for method in ("blazeit", "random"):
        within, n = [], []
        for seed in range(runs):
            r = s.query(q, method=method, seed=seed, allow_nn_only=False)
            within.append(abs(r.value - truth) <= error and r.interval[0] <= truth <= r.interval[1]
                          and all(lo <= truth <= hi for _, _, lo, hi in r.history))
            n.append(r.oracle_calls)
        assert np.mean(within) >= floor(conf, runs), (method, np.mean(within))
        calls[method] = np.mean(n)
    assert calls["random"] < s.n_frames
    if cls != "bus":  # a rare class's cost is its range's, with or without the NN
        assert calls["blazeit"] < calls["random"]


def test_query_matches_exact_within_error(small_session):
    s = small_session
    for cls in ("car", "person"):
        q = QUERY.format(cls, 0.2, 95)
        truth = s.exact(q)
        for method in ("blazeit", "random"):
            r = s.query(q, method=method, seed=1, allow_nn_only=False)
            assert r.interval[0] <= truth <= r.interval[1]
            assert r.interval[1] - r.interval[0] <= 0.4 + 1e-9
            assert 0 < r.oracle_calls < s.n_frames
        scan = s.query(q, method="scan")
        assert scan.value == pytest.approx(truth) and scan.oracle_calls == s.n_frames


def test_range_comes_from_the_oracle_not_the_sample(small_session):
    s = small_session
    q = s.parse(QUERY.format("bus", 0.1, 95))
    r = s.query(q, allow_nn_only=False)
    assert r.info["range"] == s.oracle.max_objects["bus"] == s.count_range(q)
    # the declared geometric bound really bounds the scene
    src, oracle = synthetic.scene(3000, seed=5, rates={"car": 0.3, "bus": 0.05, "person": 0.3})
    worst = {c: 0 for c in src.classes}
    for i in range(0, 3000, 3):
        for c in src.classes:
            worst[c] = max(worst[c], sum(d.cls == c for d in oracle.detect(None, i)))
    assert all(worst[c] <= oracle.max_objects[c] for c in src.classes), worst


def test_impossible_error_is_a_full_scan_said_as_such(small_session):
    s = small_session
    r = s.query(QUERY.format("car", 1e-6, 95), method="random", seed=0)
    assert r.oracle_calls == s.n_frames and r.interval[0] == r.interval[1] == r.value
    assert "whole population" in r.info["path"]


def test_every_aggregate_says_which_path_answered(small_session):
    s = small_session
    count = "SELECT COUNT(*) FROM v WHERE class = 'car' ERROR WITHIN {} AT CONFIDENCE 95%"
    truth = s.exact(count.format(100))
    r = s.query(count.format(0.15 * truth), seed=0, allow_nn_only=False)
    assert abs(r.value - truth) <= 0.15 * truth and r.oracle_calls < s.n_frames
    assert r.info["path"].startswith("COUNT(*) =") and r.interval[0] <= truth <= r.interval[1]
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


@pytest.mark.slow
def test_coverage_time_filtered_query(small_session):
    """A time filter restricts the NN's side (tau over the same frames) and the oracle's."""
    s = small_session
    q = s.parse("SELECT FCOUNT(*) FROM v WHERE class = 'car' AND timestamp < 600 "
                "ERROR WITHIN 0.2 AT CONFIDENCE 95%")
    truth = s.exact(q)
    runs = 100
    within = []
    for seed in range(runs):
        r = s.query(q, seed=seed, allow_nn_only=False)
        within.append(abs(r.value - truth) <= 0.2 and r.interval[0] <= truth <= r.interval[1])
        assert r.n_frames == 600
    assert np.mean(within) >= floor(0.95, runs)


def test_time_filter_applies_to_the_nn_side_too(small_session):
    s = small_session
    q = s.parse("SELECT FCOUNT(*) FROM v WHERE class = 'car' AND timestamp < 600 "
                "ERROR WITHIN 0.2 AT CONFIDENCE 95%")
    truth = s.exact(q)
    for seed in range(5):
        r = s.query(q, seed=seed, allow_nn_only=False)
        assert r.n_frames == 600 and r.interval[0] <= truth <= r.interval[1]


@pytest.mark.slow
def test_coverage_heavy_tail_50000_frames():
    """The issue's figure: 50,000 frames, 0.5% with 30 objects, error 0.1 at 95%."""
    y = heavy_tail(50000)
    runs, conf = 100, 0.95
    cov, calls = coverage(y, None, 0.1, conf, runs, 30)
    assert cov >= floor(conf, runs), cov
    assert calls < 0.5 * len(y)


def test_held_out_frames_the_user_chose_are_not_taken_for_a_random_sample():
    """Review finding 6: held out the first 600 frames (no bus in them); the NN-alone path
    answered 0.059 [0.043, 0.076] for a truth of 0.324 by treating them as random."""
    from dawnlab.blazeit import Session, synthetic

    src, oracle = synthetic.scene(3000, seed=21, fp_rate=0,
                                  rates={"car": .03, "bus": .004, "person": .008})
    train = np.random.default_rng(1).choice(np.arange(600, 3000), 300, replace=False)
    s = Session(src, oracle, train_frames=train, heldout_frames=np.arange(600), epochs=1)
    q = "SELECT FCOUNT(*) FROM v WHERE class = 'bus' ERROR WITHIN 0.2"
    r = s.query(q)
    truth = s.exact(q)
    assert r.method != "blazeit-nn" and r.interval[0] <= truth <= r.interval[1], r.interval
    assert "held-out" not in r.info["path"]
    # each label charged once: the user's held-out frames sampled again are not query calls
    by = r.info["oracle_calls_by_purpose"]
    assert by["training"] == 300 and by["heldout"] == 600
    assert by["query"] == r.oracle_calls - 300 - r.info["heldout_used"]
    # the selection budgets are set on frames drawn at random, not on the user's choice
    calib = s._calibration()
    assert len(calib) >= 300 and not np.isin(calib, train).any()
    assert 0.1 < np.isin(calib, np.arange(600)).mean() < 0.35  # ~600 / 2700 of them


def test_fcount_over_no_frame_is_undefined_on_every_path():
    """Review finding 7: a time filter no frame passes gave 0.0 (0, 0) where exact says NaN."""
    from dawnlab.blazeit import Session, synthetic

    src, oracle = synthetic.scene(400, seed=0)
    s = Session(src, oracle, train_frames=100, heldout_frames=50, epochs=1)
    q = "SELECT FCOUNT(*) FROM v WHERE class = 'bus' AND timestamp > 1000 ERROR WITHIN 0.1"
    assert np.isnan(s.exact(q))
    for method in ("blazeit", "random", "scan"):
        r = s.query(q, method=method)
        assert np.isnan(r.value) and all(np.isnan(r.interval)), method
    assert s.query(q.replace("FCOUNT", "COUNT").replace("0.1", "1"), method="random").value == 0
