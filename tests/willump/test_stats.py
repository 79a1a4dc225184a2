"""McNemar's exact test against scipy's binomial test, and its level under the null by simulation."""

import numpy as np
import pytest
from scipy.stats import binomtest

from dawnlab.willump import mcnemar_exact, paired_bootstrap_pvalue


@pytest.mark.parametrize("seed", range(20))
def test_mcnemar_matches_a_one_sided_binomial_test(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, 300)
    full = np.where(rng.random(300) < 0.8, y, (y + 1) % 3)
    other = np.where(rng.random(300) < 0.75, y, (y + 2) % 3)
    r = mcnemar_exact(y, full, other)
    assert r.b == np.sum((full == y) & (other != y)) and r.c == np.sum((full != y) & (other == y))
    assert r.pvalue == pytest.approx(binomtest(r.b, r.b + r.c, 0.5, alternative="greater").pvalue)


def test_mcnemar_keeps_its_level_when_both_are_equally_accurate():
    # 4000 null replications (both 85% accurate, errors independent): the rejection rate at alpha = 0.05
    # must not exceed alpha by more than 3 simulation standard errors (exact tests are conservative)
    rng = np.random.default_rng(0)
    n, reps, alpha = 200, 4000, 0.05
    rejections = 0
    for _ in range(reps):
        y = np.zeros(n, int)
        a = (rng.random(n) > 0.85).astype(int)
        b = (rng.random(n) > 0.85).astype(int)
        rejections += mcnemar_exact(y, a, b).pvalue < alpha
    assert rejections / reps <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)


def test_mcnemar_detects_a_real_loss():
    rng = np.random.default_rng(1)
    y = np.zeros(1000, int)
    full = (rng.random(1000) > 0.9).astype(int)
    worse = np.where(rng.random(1000) < 0.1, 1, full)
    assert mcnemar_exact(y, full, worse).pvalue < 1e-4


def test_paired_bootstrap_finds_a_real_auc_loss_and_not_a_tie():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    good = np.clip(y * 0.4 + rng.random(400) * 0.6, 0, 1)
    bad = np.clip(y * 0.1 + rng.random(400) * 0.9, 0, 1)
    auc = lambda t, p: roc_auc_score(t, p[:, 1])  # noqa: E731
    P = lambda q: np.c_[1 - q, q]  # noqa: E731
    assert paired_bootstrap_pvalue(auc, y, P(good), P(bad), 100) < 0.02
    assert paired_bootstrap_pvalue(auc, y, P(good), P(good), 200) == 1.0
