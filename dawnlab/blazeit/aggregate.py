"""Approximate aggregation: control variates and empirical-Bernstein stopping.

BlazeIt (arXiv 1805.01046, Section 6) answers ``FCOUNT`` within ``ERROR WITHIN
e`` (absolute) ``AT CONFIDENCE p`` by sampling frames without replacement and
running the oracle only on the sample.  Two ingredients:

- **Control variate** (Section 6.3).  The specialized NN's expected count
  ``t_i`` is known for *every* frame, so its mean ``tau`` is exact.  With oracle
  counts ``m_i`` on the sample, ``m' = m + c (t - tau)`` with ``c = -Cov(m, t) /
  Var(t)`` estimated from the sample has the same mean as ``m`` and variance
  ``(1 - rho^2) Var(m)``; the sharper the NN, the fewer samples.  (We write
  ``Z_i = m_i - c (t_i - tau)`` with ``c = Cov / Var``, the same thing.)
- **Sequential stopping** (Section 6.2, after Mnih et al.'s empirical Bernstein
  stopping).  The empirical Bernstein bound (Audibert, Munos and Szepesvari
  2009; Maurer and Pontil 2009) says that the mean of ``t`` draws of a variable
  with range ``R`` and sample variance ``V`` is within
  ``sqrt(2 V log(3/d) / t) + 3 R log(3/d) / t`` of the true mean with
  probability ``1 - d``.  We check it at geometrically spaced sample sizes
  ``t_k`` (ratio ``growth``), with ``d_k = delta / (k (k + 1))`` so that the
  union over all checks has probability at most ``delta = 1 - p``, and stop at
  the first check whose half-width is ``<= e``.  Drawing without replacement
  only tightens such bounds (Hoeffding 1963, Section 6); when the sample is
  the whole population the answer is exact.

The range ``R`` is the sample range of ``Z`` (as in the reference
implementation, where the true range is not known in advance), floored at
``min_range`` (1 for counts) so that a sample that happens to be constant
cannot stop the sampling at once; the coverage
test in ``tests/blazeit`` checks over 100+ runs that the stated confidence
holds.  Plain random sampling is the same procedure with ``c = 0``.

:func:`estimate_mean` is the generator both :meth:`Session.query` and the
widget consume: it yields a :class:`Estimate` at every check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dawnlab.errors import invalid

__all__ = ["Estimate", "estimate_mean", "bernstein_half_width", "control_variate"]


@dataclass
class Estimate:
    """The running answer after ``n`` oracle samples."""

    n: int
    value: float
    half_width: float
    done: bool
    c: float = 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return (self.value - self.half_width, self.value + self.half_width)


def bernstein_half_width(var: float, value_range: float, n: int, delta: float) -> float:
    """Empirical Bernstein half-width ``sqrt(2 V log(3/d)/n) + 3 R log(3/d)/n``.

    Examples
    --------
    >>> round(bernstein_half_width(1.0, 2.0, 1000, 0.05), 4)
    0.1151
    """
    log_term = np.log(3.0 / delta)
    return float(np.sqrt(2.0 * max(var, 0.0) * log_term / n) + 3.0 * value_range * log_term / n)


def control_variate(y: np.ndarray, x: np.ndarray, tau: float) -> tuple[np.ndarray, float]:
    """``Z = y - c (x - tau)`` with the variance-minimising ``c = Cov(y, x) / Var(x)``.

    Examples
    --------
    >>> z, c = control_variate(np.array([1., 2., 3.]), np.array([1., 2., 3.]), 2.0)
    >>> z.tolist(), c
    ([2.0, 2.0, 2.0], 1.0)
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    vx = x.var()
    c = float(((y - y.mean()) * (x - x.mean())).mean() / vx) if vx > 1e-12 else 0.0
    return y - c * (x - tau), c


def estimate_mean(fetch: Callable[[np.ndarray], np.ndarray], population: np.ndarray,
                  proxy: np.ndarray | None, error: float, confidence: float,
                  rng: np.random.Generator, *, min_samples: int = 32,
                  growth: float = 1.05, min_range: float = 1.0) -> Iterator[Estimate]:
    """Estimate the mean of ``fetch(frames)`` over ``population`` within ``error``.

    Parameters
    ----------
    fetch : callable
        Returns the oracle's value (e.g. a count) of each frame it is given;
        each frame is asked for at most once.
    population : array of int
        The frames to average over.
    proxy : array of float or None
        The specialized NN's prediction for each frame of ``population`` (the
        control variate); ``None`` gives plain random sampling.
    error : float
        Absolute error allowed.
    confidence : float
        Probability that the final answer is within ``error`` of the truth.
    rng : numpy.random.Generator
        Draws the sampling order.
    min_samples : int
        Size of the first check.
    growth : float
        Ratio between the sample sizes of consecutive checks (> 1).
    min_range : float
        Floor on the range ``R`` (1 for counts: a sample that happens to be
        constant, e.g. all zeros of a rare class, must not stop at once).

    Yields
    ------
    Estimate
        At each check; the last one has ``done=True``.

    Examples
    --------
    >>> values = np.r_[np.zeros(5000), np.ones(5000)]
    >>> fetch = lambda f: values[f]
    >>> est = list(estimate_mean(fetch, np.arange(10000), None, 0.1, 0.95,
    ...                          np.random.default_rng(0)))[-1]
    >>> est.done, abs(est.value - 0.5) <= 0.1, est.n < 10000
    (True, True, True)
    """
    population = np.asarray(population)
    n_pop = len(population)
    if not error > 0:
        raise invalid("error", "estimate_mean", "a positive number", error)
    if not 0 < confidence < 1:
        raise invalid("confidence", "estimate_mean", "a probability in (0, 1)", confidence)
    if not growth > 1:
        raise invalid("growth", "estimate_mean", "a number > 1", growth)
    if n_pop == 0:
        yield Estimate(0, 0.0, 0.0, True)
        return
    delta = 1.0 - confidence
    order = rng.permutation(n_pop)
    tau = float(np.mean(proxy)) if proxy is not None else 0.0
    ys = np.empty(0)
    t, k = 0, 0
    target = min(n_pop, max(2, min_samples))
    while True:
        new = order[t:target]
        ys = np.concatenate([ys, np.asarray(fetch(population[new]), dtype=float)])
        t = target
        k += 1
        if t >= n_pop:
            yield Estimate(t, float(ys.mean()), 0.0, True)
            return
        if proxy is not None:
            z, c = control_variate(ys, proxy[order[:t]], tau)
        else:
            z, c = ys, 0.0
        half = bernstein_half_width(z.var(), max(min_range, float(z.max() - z.min())), t,
                                    delta / (k * (k + 1)))
        done = half <= error
        yield Estimate(t, float(z.mean()), half, done, c)
        if done:
            return
        target = min(n_pop, max(t + 1, int(np.ceil(t * growth))))
