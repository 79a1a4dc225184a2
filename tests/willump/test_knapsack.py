"""The exact knapsack against enumeration of every subset."""

import itertools

import numpy as np
import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.willump import knapsack


def brute_force(values, costs, budget):
    best = 0.0
    for r in range(len(values) + 1):
        for s in itertools.combinations(range(len(values)), r):
            if sum(costs[i] for i in s) <= budget:
                best = max(best, sum(max(values[i], 0) for i in s))
    return best


@pytest.mark.parametrize("seed", range(300))
def test_knapsack_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    values = rng.normal(1.0, 1.0, n) * (rng.random(n) < 0.9)  # some negative, some zero
    costs = rng.exponential(1.0, n) * (rng.random(n) < 0.9)  # some free
    budget = float(rng.uniform(0, costs.sum() + 0.1))
    value, chosen = knapsack(values, costs, budget)
    assert value == pytest.approx(brute_force(values, costs, budget), abs=1e-9)
    assert sum(costs[i] for i in chosen) <= budget + 1e-12
    assert value == pytest.approx(sum(values[i] for i in chosen), abs=1e-9)


def test_knapsack_prefers_the_cheaper_of_equal_values_and_rejects_bad_input():
    assert knapsack([1.0, 1.0], [2.0, 1.0], 2.0) == (1.0, [1])
    assert knapsack([1.0], [3.0], 2.0) == (0.0, [])
    with pytest.raises(InvalidArgument, match="'costs'.*>= 0"):
        knapsack([1.0], [-1.0], 1.0)
    with pytest.raises(InvalidArgument, match="'budget'"):
        knapsack([1.0], [1.0], -1.0)
