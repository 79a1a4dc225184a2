"""Exact 0/1 knapsack over feature groups (Willump, arXiv 1906.01974, Section 4.1).

Willump picks the cheap groups of a cascade by maximising their total
importance under a cost budget: a 0/1 knapsack.  Costs are measured seconds
(floats), so the usual dynamic program over integer weights would round them;
:func:`knapsack` is exact instead: a depth-first branch and bound, items in
decreasing importance-per-cost order, pruned by the fractional (Dantzig) bound.
Pipelines have a handful of groups, so this is instant; the tests check it
against enumeration of every subset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dawnlab.errors import invalid

__all__ = ["knapsack"]


def knapsack(values: Sequence[float], costs: Sequence[float], budget: float) -> tuple[float, list[int]]:
    """The subset of items with the largest total value whose total cost is at most ``budget``.

    Parameters
    ----------
    values : sequence of float
        Item values (importances); negative values are never worth taking.
    costs : sequence of float
        Item costs, ``>= 0``.
    budget : float
        The cost limit, ``>= 0``.

    Returns
    -------
    (float, list of int)
        The optimal total value and the chosen item indices (sorted).  Among
        optimal subsets, one of least total cost is returned.

    Raises
    ------
    InvalidArgument
        If lengths differ, a cost is negative or not finite, or the budget is negative.

    Examples
    --------
    >>> knapsack([6.0, 10.0, 12.0], [1.0, 2.0, 3.0], 5.0)
    (22.0, [1, 2])
    """
    v = np.asarray(values, dtype=float)
    c = np.asarray(costs, dtype=float)
    if v.shape != c.shape or v.ndim != 1:
        raise invalid("costs", "knapsack", f"as long as values ({v.size})", f"{c.size} costs")
    if not (np.isfinite(c).all() and (c >= 0).all()) or not np.isfinite(v).all():
        raise invalid("costs", "knapsack", "finite and >= 0 (and values finite)", c.tolist())
    if not np.isfinite(budget) or budget < 0:
        raise invalid("budget", "knapsack", "a finite number >= 0", budget)
    items = [i for i in range(len(v)) if v[i] > 0 and c[i] <= budget]
    free = [i for i in items if c[i] == 0]
    paid = sorted((i for i in items if c[i] > 0), key=lambda i: -v[i] / c[i])
    best = [sum(v[i] for i in free), 0.0, []]  # value, cost, chosen among paid
    base = best[0]

    def bound(k, cap, val):
        for i in paid[k:]:
            if c[i] <= cap:
                cap -= c[i]
                val += v[i]
            else:
                return val + v[i] * cap / c[i]
        return val

    def search(k, cap, val, cost, chosen):
        if val > best[0] + 1e-12 or (abs(val - best[0]) <= 1e-12 and cost < best[1]):
            best[:] = [val, cost, list(chosen)]
        if k == len(paid) or bound(k, cap, val) < best[0] - 1e-12:
            return
        i = paid[k]
        if c[i] <= cap:
            chosen.append(i)
            search(k + 1, cap - c[i], val + v[i], cost + c[i], chosen)
            chosen.pop()
        search(k + 1, cap, val, cost, chosen)

    search(0, float(budget), base, 0.0, [])
    return float(best[0]), sorted(free + best[2])
