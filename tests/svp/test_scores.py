"""Selection scores against hand-checked values and brute force."""

from itertools import combinations

import numpy as np
import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.svp import (covering_radius, entropy, forgetting_events, k_center_greedy, least_confidence,
                         margin, priority, rank_order)

PROBS = np.array([[0.7, 0.2, 0.1], [1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.45, 0.45, 0.1]])


def test_uncertainty_on_known_probabilities():
    np.testing.assert_allclose(least_confidence(PROBS), [0.3, 2 / 3, 0.0, 0.55])
    h = -(0.7 * np.log(0.7) + 0.2 * np.log(0.2) + 0.1 * np.log(0.1))
    np.testing.assert_allclose(entropy(PROBS), [h, np.log(3), 0.0, -(2 * 0.45 * np.log(0.45) + 0.1 * np.log(0.1))])
    np.testing.assert_allclose(margin(PROBS), [0.5, 0.0, 1.0, 0.0], atol=1e-12)


def test_priority_orders_most_uncertain_first():
    # the uniform row is the most uncertain under every method; the one-hot row the least
    for method in ("least_confidence", "entropy", "margin"):
        p = priority(method, PROBS)
        assert np.argmax(p) in (1, 3) and np.argmin(p) == 2
    assert np.argmax(priority("entropy", PROBS)) == 1  # entropy separates them
    with pytest.raises(InvalidArgument, match="'method'"):
        priority("variance", PROBS)


def test_bad_probabilities_are_refused():
    with pytest.raises(InvalidArgument, match="finite"):
        entropy([[np.nan, 1.0]])
    with pytest.raises(InvalidArgument, match="2-d"):
        margin([0.5, 0.5])


def test_forgetting_counts_on_a_scripted_history():
    # columns: learned then forgotten twice; learned and kept; never learned;
    # learned only at the end; forgotten once then relearned
    history = np.array([[1, 0, 0, 0, 1],
                        [0, 1, 0, 0, 0],
                        [1, 1, 0, 0, 1],
                        [0, 1, 0, 1, 1]], dtype=bool)
    np.testing.assert_array_equal(forgetting_events(history), [2, 0, np.inf, 0, 1])


def test_forgetting_matches_a_loop_reference():
    rng = np.random.default_rng(3)
    h = rng.random((12, 40)) < 0.6
    ref = []
    for col in h.T:
        if not col.any():
            ref.append(np.inf)
        else:
            ref.append(sum(1 for a, b in zip(col, col[1:]) if a and not b))
    np.testing.assert_array_equal(forgetting_events(h), ref)


def _greedy_reference(x, k, selected):
    """Textbook greedy k-centers with explicit loops."""
    chosen = list(selected)
    picks = []
    for _ in range(k):
        best, best_d = None, -1.0
        for i in range(len(x)):
            if i in chosen:
                continue
            d = min(np.linalg.norm(x[i] - x[j]) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
        picks.append(best)
    return picks


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_k_center_greedy_matches_loop_reference(seed):
    x = np.random.default_rng(seed).normal(size=(30, 3))
    got = k_center_greedy(x, 6, selected=[0, 5])
    assert got.tolist() == _greedy_reference(x, 6, [0, 5])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_k_center_greedy_radius_within_twice_the_optimum(seed):
    x = np.random.default_rng(seed).normal(size=(12, 2))
    k = 3
    greedy = k_center_greedy(x, k, seed=seed)
    assert len(set(greedy.tolist())) == k
    r_greedy = covering_radius(x, greedy)
    r_opt = min(covering_radius(x, list(c)) for c in combinations(range(len(x)), k))
    assert r_opt <= r_greedy <= 2 * r_opt + 1e-12


def test_k_center_greedy_radius_is_the_next_pick_distance():
    # the greedy radius equals the distance of the point the greedy step would pick next
    x = np.random.default_rng(7).normal(size=(25, 4))
    picks = k_center_greedy(x, 5, selected=[3])
    nxt = k_center_greedy(x, 1, selected=[3, *picks])[0]
    d_next = min(np.linalg.norm(x[nxt] - x[c]) for c in [3, *picks])
    assert covering_radius(x, [3, *picks]) == pytest.approx(d_next)


def test_k_center_greedy_never_repicks_with_duplicate_points():
    x = np.zeros((6, 2))
    x[3] = 1.0
    picks = k_center_greedy(x, 4, selected=[0])
    assert picks[0] == 3 and len(set(picks.tolist()) | {0}) == 5


def test_k_center_greedy_bad_input():
    x = np.zeros((4, 2))
    with pytest.raises(InvalidArgument, match="'k'"):
        k_center_greedy(x, 4, selected=[0])
    with pytest.raises(InvalidArgument, match="finite"):
        k_center_greedy([[0.0, np.nan], [1.0, 1.0]], 1)
    with pytest.raises(InvalidArgument, match="non-empty"):
        k_center_greedy(np.zeros((0, 2)), 0)
    assert k_center_greedy(x, 0).size == 0


def test_rank_order_breaks_ties_by_the_secondary_score_then_a_seeded_shuffle():
    rng = np.random.default_rng(0)
    primary = rng.integers(0, 3, 200).astype(float)
    primary[:7] = np.inf
    secondary = rng.integers(0, 5, 200).astype(float)
    order = rank_order(primary, secondary, seed=3)
    assert sorted(order.tolist()) == list(range(200))
    keys = [(-primary[i], -secondary[i]) for i in order]
    assert keys == sorted(keys)  # brute force: lexicographic by (primary, secondary), both descending
    assert set(order[:7].tolist()) == set(range(7))  # never learned (inf) first
    assert order.tolist() == rank_order(primary, secondary, seed=3).tolist()
    assert order.tolist() != rank_order(primary, secondary, seed=4).tolist()  # full ties fall to the shuffle
    with pytest.raises(InvalidArgument, match="'secondary'"):
        rank_order([1.0, 2.0], [1.0])
    with pytest.raises(InvalidArgument, match="'primary'"):
        rank_order([1.0, np.nan])
