"""Paired differences: the t interval against scipy, its coverage by simulation, the stated figures."""

import numpy as np
import pytest
from scipy import stats

from dawnlab.svp import SVPError, paired_difference
from dawnlab.svp.stats import ASSUMPTION, METHOD, T_INTERVAL_COVERAGE


def test_matches_scipys_paired_t_interval():
    rng = np.random.default_rng(0)
    a = rng.normal(0.9, 0.01, 7)
    b = a - rng.normal(0.003, 0.004, 7)
    d = paired_difference(a, b)
    ref = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert d.mean == pytest.approx(np.mean(a - b))
    assert (d.low, d.high) == (pytest.approx(ref.low), pytest.approx(ref.high))
    assert d.n == 7 and d.to_dict()["n"] == 7


# per-seed noise of mean zero, by shape: the t interval's coverage depends on the shape only
NOISE = {"normal": lambda rng, n: rng.normal(0, 0.01, n),
         "t3": lambda rng, n: 0.01 * rng.standard_t(3, n),
         "uniform": lambda rng, n: rng.uniform(-0.02, 0.02, n),
         "exponential": lambda rng, n: 0.01 * (rng.exponential(1.0, n) - 1.0),
         "lognormal": lambda rng, n: 0.01 * (rng.lognormal(0.0, 1.0, n) - np.exp(0.5))}


def coverage(n, dist, reps, seed):
    """Share of seeded runs in which paired_difference's 95% interval holds the true mean difference."""
    rng = np.random.default_rng(seed)
    truth, hits = 0.004, 0
    for _ in range(reps):
        base = rng.uniform(0.8, 0.95, n)  # per-seed accuracy varies a lot; the pairing removes it
        d = paired_difference(base + truth + NOISE[dist](rng, n), base)
        assert d.method == "student-t" and d.note is None
        hits += d.low <= truth <= d.high
    return hits / reps


@pytest.mark.parametrize("n,dist", [(5, "normal"), (5, "t3"), (10, "normal"), (30, "uniform")])
def test_interval_covers_the_true_mean_at_its_level(n, dist):
    # the guarantee as stated: approximately normal or symmetric (even heavy-tailed) per-seed differences
    reps = 4000
    se = np.sqrt(0.95 * 0.05 / reps)
    assert coverage(n, dist, reps, seed=n) >= 0.95 - 3 * se


@pytest.mark.parametrize("n,dist", [(n, d) for n, row in T_INTERVAL_COVERAGE.items() for d in row])
def test_stated_coverage_figures_are_true(n, dist):
    # the figures the docstring gives, including the skewed shapes' shortfall, agree with a fresh simulation
    stated = T_INTERVAL_COVERAGE[n][dist]
    assert f"{100 * stated:.1f}%" in paired_difference.__doc__
    reps = 6000
    se = np.sqrt(stated * (1 - stated) / reps)
    assert abs(coverage(n, dist, reps, seed=1000 + n) - stated) <= 3 * se + 0.0005  # + the rounding to 3 digits
    if dist in ("exponential", "lognormal"):
        assert stated < 0.95 - 3 * se  # a real shortfall, which the result's assumption names
        assert dist in ASSUMPTION or n != 5


def test_the_result_names_its_method_and_assumption():
    d = paired_difference([0.9, 0.92, 0.91], [0.88, 0.91, 0.89])
    assert d.to_dict()["method"] == "student-t" and d.method == METHOD
    assert d.to_dict()["assumption"] == ASSUMPTION and "normal" in ASSUMPTION and "skewed" in ASSUMPTION
    for name in ("exponential", "lognormal"):
        assert f"{name} {round(100 * T_INTERVAL_COVERAGE[5][name])}%" in ASSUMPTION


def test_one_pair_gives_an_infinite_interval_and_bad_input_is_refused():
    d = paired_difference([0.9], [0.8])
    assert d.low == -np.inf and d.high == np.inf and not d.excludes_zero
    assert paired_difference([0.9, 0.92, 0.91], [0.8, 0.81, 0.79]).excludes_zero
    with pytest.raises(SVPError, match="shaped like a"):
        paired_difference([1, 2], [1])
    with pytest.raises(SVPError, match="NaN"):
        paired_difference([1, np.nan], [1, 2])
    with pytest.raises(SVPError, match="'confidence'"):
        paired_difference([1, 2], [1, 2], confidence=95)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("side", ["a", "b"])
def test_inf_and_nan_are_refused_naming_the_argument(bad, side):
    good, broken = [0.9, 0.91, 0.92], [0.9, bad, 0.92]
    a, b = (broken, good) if side == "a" else (good, broken)
    with pytest.raises(SVPError, match=rf"'{side}' argument.*finite results \(no NaN or inf\).*{bad}.*position 1"):
        paired_difference(a, b)


def test_a_two_dimensional_a_is_blamed_on_a_not_b():
    with pytest.raises(SVPError, match=r"'a' argument.*non-empty 1-d array.*shape \(2, 2\)"):
        paired_difference([[0.9, 0.8], [0.7, 0.6]], [0.9, 0.8])
    with pytest.raises(SVPError, match=r"'a' argument.*non-empty 1-d array.*shape \(0,\)"):
        paired_difference([], [])
    with pytest.raises(SVPError, match=r"'b' argument.*shaped like a, \(2,\).*shape \(2, 1\)"):
        paired_difference([0.9, 0.8], [[0.9], [0.8]])
    with pytest.raises(SVPError, match=r"'b' argument.*array of floats"):
        paired_difference([0.9, 0.8], ["x", "y"])
    with pytest.raises(SVPError, match="'confidence'"):
        paired_difference([1, 2], [1, 3], confidence=True)


@pytest.mark.parametrize("a,b", [([0.9, 0.8, 0.7, 0.85, 0.75], [0.89, 0.79, 0.69, 0.84, 0.74]),  # +0.01 each
                                 ([0.9, 0.8, 0.7], [0.9, 0.8, 0.7]),  # a tie on every seed
                                 ([0.9, 0.8, 0.7], [0.8, 0.7, 0.6])])  # 0.1 up to rounding of a - b (ptp 1e-16)
def test_equal_differences_on_every_seed_claim_no_significance(a, b):
    d = paired_difference(a, b)
    assert d.mean == pytest.approx(np.mean(np.subtract(a, b)))
    assert d.low == -np.inf and d.high == np.inf and not d.excludes_zero
    assert d.note.startswith("zero spread") and f"all {len(a)} seeds" in d.note
    assert paired_difference([0.9], [0.8]).note.startswith("one pair")
    # a real, if tiny, spread still gets its t interval
    tiny = paired_difference([0.9, 0.8, 0.7], [0.889, 0.79, 0.69])
    assert tiny.note is None and 0 < tiny.low < tiny.high < np.inf and tiny.excludes_zero
