"""Stratified sampling by the NN's score (dawnlab.blazeit.stratified): validity and cost.

Each coverage test runs >= 100 seeded replications with a known truth and asserts that
the fraction of runs whose every interval held the truth, and whose answer is within the
error, is at least the confidence minus twice the simulation's standard error.  The
unfriendly inputs: a heavy tail the NN never predicts (the crowds sit in the stratum the
allocation undersamples), a NN whose score is anti-correlated with the truth, and the
session's own oracle counts and NN predictions.
"""

import numpy as np
import pytest

from dawnlab.blazeit import Session, Store
from dawnlab.blazeit.aggregate import estimate_mean
from dawnlab.blazeit.stratified import (StratifiedCS, allocate, estimate_mean_stratified,
                                        make_strata)
from dawnlab.errors import DataError, InvalidArgument

QUERY = "SELECT FCOUNT(*) FROM v WHERE class = '{}' ERROR WITHIN {} AT CONFIDENCE {}%"


def floor(conf, runs):
    return conf - 2 * np.sqrt(conf * (1 - conf) / runs)


def coverage(values, proxy, error, conf, runs, value_range, sd=None, bets="mixture", **kw):
    truth = values.mean()
    ok, calls = [], []
    for seed in range(runs):
        ests = list(estimate_mean_stratified(lambda f: values[f], np.arange(len(values)), proxy,
                                             error, conf, np.random.default_rng(seed),
                                             value_range=value_range, sd=sd, bets=bets, **kw))
        jointly = all(e.low - 1e-12 <= truth <= e.high + 1e-12 for e in ests)
        ok.append(jointly and abs(ests[-1].value - truth) <= error + 1e-12)
        calls.append(ests[-1].n)
    return float(np.mean(ok)), float(np.mean(calls))


def hidden_crowds(n, seed=0):
    """0.5% of frames hold 30 objects; the NN predicts 0 there and a count elsewhere."""
    rng = np.random.default_rng(seed)
    y = np.minimum(rng.poisson(1.0, n), 5).astype(float)
    crowd = rng.choice(n, n // 200, replace=False)
    y[crowd] = 30
    t = np.clip(y + rng.normal(0, 0.3, n), 0, None)
    t[crowd] = 0.0  # the NN is sure nothing is there: the lowest, most undersampled stratum
    sd = np.full(n, 0.3)
    sd[t < 0.5] = 0.01  # ... and claims to be certain of it
    return y, t, sd


def test_make_strata_keeps_ties_together_and_numbers_strata_densely():
    s = make_strata(np.r_[np.zeros(80), np.arange(20.0)], 4)
    assert set(s[:80]) == {0} and s.max() == len(np.unique(s)) - 1
    assert (np.diff(s[80:]) >= 0).all()


def test_allocation_sums_to_one_and_prefers_the_varied_stratum():
    strata = np.r_[np.zeros(500, int), np.ones(500, int)]
    t = np.r_[np.zeros(500), np.full(500, 2.0)]
    sd = np.r_[np.full(500, 0.05), np.full(500, 1.5)]
    q, beta = allocate(strata, t, sd, 4.0, 0.1, 0.95)
    assert q.sum() == pytest.approx(1.0) and q[1] > 0.5 and 0 <= beta <= 1
    q1, _ = allocate(strata, t, sd, 4.0, 0.1, 0.95, betas=(1.0,))
    assert q1 == pytest.approx([0.5, 0.5])  # beta = 1 is proportional allocation


def test_bad_arguments_name_the_argument():
    with pytest.raises(InvalidArgument, match="'q' argument"):
        StratifiedCS(np.array([0, 1, 1]), np.array([0.2, 0.2]), 3.0, 0.9)
    with pytest.raises(InvalidArgument, match="'strata' argument"):
        StratifiedCS(np.array([0, 2, 2]), np.array([0.5, 0.5]), 3.0, 0.9)
    with pytest.raises(InvalidArgument, match="'beta' argument"):
        next(estimate_mean_stratified(lambda f: f, np.arange(3), np.zeros(3), 0.1, 0.9,
                                      np.random.default_rng(0), value_range=2, beta=1.5))
    cs = StratifiedCS(np.array([0, 0, 1]), np.array([0.5, 0.5]), 3.0, 0.9)
    with pytest.raises(DataError, match=r"outside the range \[0, 3\]"):
        cs.update([4.0], [0])


def test_each_draw_has_the_population_mean_given_the_past():
    """Z's exact expectation over one draw (stratum, then frame) equals the mean, for any
    allocation and coefficient: the martingale the interval rests on."""
    rng = np.random.default_rng(5)
    y = rng.integers(0, 6, 200).astype(float)
    t = rng.uniform(0, 4, 200)
    strata = make_strata(t, 4)
    q = np.array([0.1, 0.2, 0.3, 0.4])
    cs = StratifiedCS(strata, q, 5.0, 0.9, proxy=t, c=0.7)
    expect = 0.0
    for h in range(4):
        members = np.flatnonzero(strata == h)
        z = cs.ratio[h] * (y[members] - 0.7 * t[members]) + 0.7 * t.mean()
        expect += q[h] * z.mean()
    assert expect == pytest.approx(y.mean())


def test_whole_population_labelled_is_exact():
    y = np.arange(40, dtype=float) % 5
    est = list(estimate_mean_stratified(lambda f: y[f], np.arange(40), y * 0.9, 1e-6, 0.95,
                                        np.random.default_rng(0), value_range=4))[-1]
    assert est.n == 40 and est.value == pytest.approx(y.mean()) and est.half_width == 0


@pytest.mark.parametrize("bets", ["adaptive", pytest.param("mixture", marks=pytest.mark.slow)])
def test_coverage_crowds_hidden_in_the_undersampled_stratum(bets):
    y, t, sd = hidden_crowds(1200)
    runs, conf = 100, 0.95
    cov, calls = coverage(y, t, 0.5, conf, runs, 30, sd=sd, bets=bets, beta=0.0)
    assert cov >= floor(conf, runs), cov


def test_coverage_anti_correlated_nn():
    rng = np.random.default_rng(6)
    y = np.minimum(rng.poisson(1.5, 3000), 8).astype(float)
    t = np.clip(8 - y + rng.normal(0, 0.5, len(y)), 0, None)  # wrong way round
    runs, conf = 100, 0.9
    cov, _ = coverage(y, t, 0.2, conf, runs, 8)
    assert cov >= floor(conf, runs), cov


def test_coverage_friendly_counts_and_fewer_calls_than_random():
    rng = np.random.default_rng(3)
    y = np.minimum(rng.poisson(2.0, 2000), 8).astype(float)
    t = np.clip(y + rng.normal(0, 0.4, len(y)), 0, None)
    runs, conf = 100, 0.9
    cov, calls = coverage(y, t, 0.1, conf, runs, 8, sd=np.full(len(y), 0.4))
    rs = [list(estimate_mean(lambda f: y[f], np.arange(len(y)), None, 0.1, conf,
                             np.random.default_rng(s), value_range=8))[-1].n for s in range(5)]
    assert cov >= floor(conf, runs), cov
    assert calls < 0.7 * np.mean(rs), (calls, np.mean(rs))


def test_session_stratified_path(small_session):
    s = small_session
    q = QUERY.format("car", 0.2, 95)
    truth = s.exact(q)
    full = s.store
    s.store = store = Store().attach(s.source, s.oracle)
    try:
        r = s.query(q, seed=3, sampler="stratified")
    finally:
        s.store = full
    assert r.method == "blazeit-strat" and "stratified" in r.info["path"]
    assert r.interval[0] <= truth <= r.interval[1] and abs(r.value - truth) <= 0.2
    assert r.oracle_calls == r.info["oracle_calls_made_now"]["query"] < s.n_frames
    # frames of this video labelled for calibration (by an earlier selection's FNR budget, on
    # a session trained on another recording) are charged as held-out calls, once
    calib = s.calib_ if s.calib_ is not None else []
    assert r.info["heldout_used"] == len(set(store.labelled()) & set(map(int, calib)))
    assert r.info["oracle_calls_by_purpose"]["query"] == r.oracle_calls - r.info["heldout_used"]
    with pytest.raises(InvalidArgument, match="'sampler' argument"):
        s.query(q, sampler="neyman")


@pytest.mark.slow
@pytest.mark.parametrize("cls", ["car", "bus", "person"])
def test_session_values_coverage_over_200_runs(small_session, cls):
    """The stratified estimator on the session's own counts and NN predictions."""
    s = small_session
    query = s.parse(QUERY.format(cls, 0.1, 90))
    frames = np.arange(s.n_frames)
    y = s.store.frame_counts(query, frames)[:, 0].astype(float)
    t = s._proxy(query, s.proba_)
    sd = s._proxy_sd(query, s.proba_)
    runs, conf = 200, 0.9
    cov, calls = coverage(y, t, 0.1, conf, runs, s.count_range(query), sd=sd, bets="adaptive")
    assert cov >= floor(conf, runs), cov


@pytest.mark.slow
def test_coverage_hidden_crowds_50000_frames():
    y, t, sd = hidden_crowds(50000, seed=1)
    runs, conf = 100, 0.95
    cov, _ = coverage(y, t, 0.3, conf, runs, 30, sd=sd, beta=0.5)
    assert cov >= floor(conf, runs), cov
