"""Rank agreement against scipy and hand-computed values."""

import numpy as np
import pytest
from scipy import stats

from dawnlab.svp import SVPError, agreement_matrix, rank_agreement, top_k_overlap


def test_identical_and_reversed_rankings():
    a = np.arange(20.0)
    same = rank_agreement(a, 2 * a + 1)
    assert same.spearman == pytest.approx(1) and same.kendall == pytest.approx(1) and same.top_k_overlap == 1
    rev = rank_agreement(a, -a, k=5)
    assert rev.spearman == pytest.approx(-1) and rev.kendall == pytest.approx(-1) and rev.top_k_overlap == 0


def test_hand_computed_small_case():
    # one adjacent swap among 5: rho = 1 - 6*2/(5*24) = 0.9; tau = (9 - 1)/10 = 0.8
    r = rank_agreement([1, 2, 3, 4, 5], [1, 2, 3, 5, 4], k=2)
    assert r.spearman == pytest.approx(0.9) and r.kendall == pytest.approx(0.8)
    assert r.top_k_overlap == 1.0 and r.k == 2


def test_matches_scipy_on_random_scores():
    rng = np.random.default_rng(0)
    a = rng.normal(size=200)
    b = a + rng.normal(size=200)
    r = rank_agreement(a, b, k=0.1)
    assert r.spearman == pytest.approx(stats.spearmanr(a, b).statistic)
    assert r.kendall == pytest.approx(stats.kendalltau(a, b).statistic)
    top_a, top_b = set(np.argsort(-a)[:20]), set(np.argsort(-b)[:20])
    assert r.k == 20 and r.top_k_overlap == pytest.approx(len(top_a & top_b) / 20)


def test_top_k_overlap_and_errors():
    assert top_k_overlap([4, 3, 2, 1], [4, 1, 3, 2], 2) == 0.5
    with pytest.raises(SVPError, match="'k'"):
        top_k_overlap([1, 2], [1, 2], 3)
    with pytest.raises(SVPError, match="shaped like"):
        rank_agreement([1, 2, 3], [1, 2])
    with pytest.raises(SVPError, match="finite"):
        rank_agreement([1, 2, np.nan], [1, 2, 3])


def test_agreement_matrix_is_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(1)
    s = {n: rng.normal(size=50) for n in "abc"}
    m = agreement_matrix(s, "kendall")
    np.testing.assert_allclose(m.values, m.values.T)
    np.testing.assert_allclose(np.diag(m.values), 1.0)
    assert m.loc["a", "c"] == pytest.approx(stats.kendalltau(s["a"], s["c"]).statistic)


def test_constant_scores_and_bad_k_are_refused():
    with pytest.raises(SVPError, match="'scores_b'.*not all equal.*all 4 scores equal to 0.5"):
        rank_agreement([1, 2, 3, 4], [0.5] * 4)
    with pytest.raises(SVPError, match="'scores_a'.*not all equal"):
        agreement_matrix({"a": [1, 1, 1], "b": [1, 2, 3]})
    for k in (0.0, -0.1, 1.5, True, "5"):
        with pytest.raises(SVPError, match="'k'"):
            rank_agreement([1, 2, 3, 4], [1, 3, 2, 4], k=k)
    assert rank_agreement([1, 2, 3, 4], [1, 3, 2, 4], k=1.0).k == 4
    assert rank_agreement([1, 2, 3, 4], [1, 3, 2, 4], k=2).k == 2
