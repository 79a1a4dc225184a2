"""Approximate aggregation: anytime-valid betting confidence sequences with a control variate.

BlazeIt (arXiv 1805.01046, Section 6) answers ``FCOUNT`` within ``ERROR WITHIN
e`` (absolute) ``AT CONFIDENCE p`` by sampling frames without replacement,
running the oracle only on the sample, using the specialized NN's prediction
as a control variate (Section 6.3) and stopping as soon as the interval is
narrow enough (Section 6.2).  The paper's stopping rule (empirical Bernstein
with the range taken from the sample) does not hold its confidence on
heavy-tailed counts, so the interval here is a different, provably valid one:

- **Betting confidence sequence, sampling without replacement.**  Following
  Waudby-Smith and Ramdas, "Estimating means of bounded random variables by
  betting" (JRSS-B 2024; arXiv 2010.09686, Sections 4 and 6, and their
  NeurIPS 2020 "Confidence sequences for sampling without replacement"): for
  a candidate mean ``mu`` of the ``N`` frame values ``y`` (each in ``[0, M]``)
  the mean of the frames not sampled yet is known once ``mu`` is fixed,
  ``m_i(mu) = (N mu - S_{i-1}) / (N - i + 1)``, so
  ``K_t(mu) = prod_{i <= t} (1 + lambda_i (w_i - m_i(mu)))`` is a
  nonnegative martingale when ``mu`` is the truth.  By Ville's inequality it
  ever exceeds ``1 / a`` with probability at most ``a``, jointly over all
  sample sizes, so every interval the sampler yields (and the one it stops
  at, at a data-dependent time) holds the truth with the stated confidence.
  Two one-sided capital processes (a bet that the mean is larger, ``K+``,
  and smaller, ``K-``), at ``a_low = s (1 - p)`` and ``a_high = (1 - s) (1
  - p)`` (a union bound; ``s = 1/2`` unless a share ``s`` is fixed before
  sampling, see below), give the two ends.  The
  bets ``lambda_i`` are predictable (from earlier samples only): the
  variance-adapted ``e / sigma_hat^2`` (log-optimal for rejecting a mean at
  distance ``e``), truncated so that no factor can fall below ``1 - 0.5``
  (or ``1 - 0.9``, or ``1 - 0.99``: the capital is the equal mixture of the
  three, itself a martingale; the mixture costs nothing while no truncation
  binds, and the 0.99 level is what a range-limited count needs: on the
  50,000-frame benchmark it lowered the calls of random sampling and of the
  control variate alike);
  the truncation depends on ``mu`` only through ``m_i(mu)`` in a way that
  keeps ``K+`` decreasing and ``K-`` increasing in ``mu``, so each end is a
  root found by bisection and the running intersection is an interval.
  Deterministic limits (the sampled total over ``N``, and that total plus
  ``M`` for every frame not sampled) make the answer exact when the sample
  is the whole population.
- **The range ``[0, M]`` is declared before sampling**, from the query and
  the oracle's declared maximum number of detections per frame
  (:func:`dawnlab.blazeit.session.Session.count_range`); a value outside it
  is an error, never a silent widening.
- **Control variate without invalidating the bound.**  With the NN's value
  ``t_i`` known for every frame, ``w_i = y_i - c_i (t_i - r_i)``, where
  ``r_i`` is the exact mean of ``t`` over the frames not sampled yet, has the
  conditional mean ``m_i(mu)``; the coefficient ``c_i`` is either fixed
  before sampling (e.g. from held-out frames) or the least-squares slope of
  the *earlier* samples only (predictable), so the martingale argument
  above is untouched.  ``c_i`` is kept in ``[0, c_max]`` and the range of
  ``w_i`` grows by ``c_i`` times the known range of ``t``, which the bets'
  truncation accounts for.

- **Where to spend the miscoverage.**  On a count whose declared range ``M``
  is large against its values, the upper end is the expensive one: ``K-``
  can only bet about ``1 / M`` (a frame could hold ``M`` objects), while
  ``K+`` loses at most ``m + c (max t - r)``.  With the NN's predictions
  known before sampling, :func:`low_share` sets ``s`` from these two loss
  bounds at the NN's predicted mean, so the range-limited end gets more of
  ``1 - p``; ``s`` is fixed before any oracle call, so the union bound above
  is untouched (a poor NN only costs calls).

Plain random sampling is the same procedure with no control variate and
``s = 1/2`` (it has no prediction of the mean before sampling).
:func:`estimate_mean` is the generator :meth:`Session.query` and the widget
consume: it yields an :class:`Estimate` at every check.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from dawnlab.errors import DataError, invalid

__all__ = ["Estimate", "estimate_mean", "BettingCS", "control_variate", "low_share"]


@dataclass
class Estimate:
    """The running answer after ``n`` oracle samples.

    ``value`` is the midpoint of the confidence interval ``(low, high)``;
    ``half_width`` is half its width; ``c`` the control-variate coefficient
    the next sample would use.
    """

    n: int
    value: float
    half_width: float
    done: bool
    c: float = 0.0
    low: float | None = None
    high: float | None = None

    @property
    def interval(self) -> tuple[float, float]:
        if self.low is not None and self.high is not None:
            return (self.low, self.high)
        return (self.value - self.half_width, self.value + self.half_width)


def control_variate(y: np.ndarray, x: np.ndarray, tau: float) -> tuple[np.ndarray, float]:
    """``Z = y - c (x - tau)`` with the variance-minimising ``c = Cov(y, x) / Var(x)``.

    A descriptive helper (for plots and diagnostics); the stated intervals
    use :class:`BettingCS`, whose coefficient is never fitted on the values
    it is applied to.

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


class BettingCS:
    """A confidence sequence for the mean of ``N`` values in ``[0, M]`` sampled without replacement.

    Feed it the sampled values in sampling order with :meth:`update`; after
    any number of updates :meth:`interval` holds the population mean, jointly
    over all times, with probability at least ``confidence`` (see the module
    docstring for the construction and the paper it follows).

    Parameters
    ----------
    n_pop : int
        Population size ``N``.
    value_range : float
        ``M``: every value lies in ``[0, M]``, declared before sampling.
    confidence : float
    proxy : array of float, optional
        A control variate known for every member of the population (in the
        population's order); :meth:`update` then takes each sample's index.
    c : float, optional
        A fixed control-variate coefficient; ``None`` uses the slope of the
        earlier samples (predictable), starting from ``c_prior``.
    error : float, optional
        The half-width the sampler aims for; tunes the bets.
    c_max : float
        Largest coefficient used.
    bets : {"mixture", "adaptive"}
        ``"mixture"``: the capital is the equal mixture of the processes
        whose bets are truncated at each level of ``truncs``; ``"adaptive"``:
        one process whose level, per side, is chosen before each batch of
        samples from the earlier samples only (see :meth:`_add_levels`).
        Both are valid; they differ in how many samples they need.
    low_share : float
        Share ``s`` of the miscoverage ``1 - confidence`` spent on the lower
        end (the upper end gets ``1 - s``); fixed before sampling, in (0, 1).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 4, 5000).astype(float)
    >>> cs = BettingCS(5000, 3.0, 0.95, error=0.1)
    >>> order = rng.permutation(5000)
    >>> cs.update(y[order[:1500]])
    >>> lo, hi = cs.interval()
    >>> bool(lo <= y.mean() <= hi), bool(hi - lo < 0.4)
    (True, True)
    >>> cs.update(y[order[1500:]])
    >>> cs.interval() == (y.mean(), y.mean())
    True
    """

    #: each bet is truncated so that no factor falls below 1 - trunc; the capital mixes these
    truncs = (0.5, 0.9, 0.99)
    min_slope_samples = 16

    def __init__(self, n_pop: int, value_range: float, confidence: float, *,
                 proxy: np.ndarray | None = None, c: float | None = None,
                 c_prior: float = 0.0, error: float | None = None, c_max: float = 2.0,
                 bets: str = "adaptive", low_share: float = 0.5):
        if bets not in ("mixture", "adaptive"):
            raise invalid("bets", "BettingCS", "'mixture' or 'adaptive'", bets)
        if not (_is_number(low_share) and 0 < low_share < 1):
            raise invalid("low_share", "BettingCS", "a number in (0, 1) (the share of "
                          "1 - confidence spent on the lower end)", low_share)
        self.bets = bets
        if not (isinstance(n_pop, (int, np.integer)) and n_pop >= 1):
            raise invalid("n_pop", "BettingCS", "a positive int", n_pop)
        if not (_is_number(value_range) and np.isfinite(value_range) and value_range > 0):
            raise invalid("value_range", "BettingCS", "a positive finite number (the largest "
                          "value any member can take, declared before sampling)", value_range)
        if not (_is_number(c_max) and c_max >= 0):
            raise invalid("c_max", "BettingCS", "a number >= 0", c_max)
        if not 0 < confidence < 1:
            raise invalid("confidence", "BettingCS", "a probability in (0, 1)", confidence)
        self.N, self.M, self.confidence = int(n_pop), float(value_range), float(confidence)
        self.low_share = float(low_share)
        # side +1 (the lower end) at s (1 - p), side -1 (the upper end) at (1 - s) (1 - p)
        self.log_thrs = {1: float(-np.log(self.low_share * (1.0 - confidence))),
                         -1: float(-np.log((1.0 - self.low_share) * (1.0 - confidence)))}
        self.error = error
        self.fixed_c = c
        self.c_prior, self.c_max = float(c_prior), float(c_max)
        if proxy is not None:
            proxy = np.asarray(proxy, dtype=float)
            if len(proxy) != self.N:
                raise invalid("proxy", "BettingCS", f"one value per member ({self.N})", len(proxy))
            if not np.isfinite(proxy).all():
                raise invalid("proxy", "BettingCS", "finite values (a control variate known "
                              "for every member)", proxy[~np.isfinite(proxy)][0])
            self.tmin, self.tmax = float(proxy.min()), float(proxy.max())
            self.t_rem = float(proxy.sum())
        self.proxy = proxy
        self.t = 0
        self.S = 0.0
        # per-sample terms of the capital processes (see _log_capital)
        self._w, self._a, self._b, self._lam, self._kp, self._km = ([] for _ in range(6))
        self._tr_p, self._tr_m = [], []  # truncation level of each sample, per side (adaptive)
        self._sums = np.zeros(4)  # sum y, sum t, sum y t, sum t^2 of the samples so far
        self._var_sum, self._w_sum = 0.0, 0.0
        self._arrays = None
        self.low, self.high = 0.0, self.M

    # -- sampling -----------------------------------------------------------------
    @property
    def _slope_count(self) -> int:
        """Samples the predictable slope is fitted on (the draws, for samplers that redraw)."""
        return self.t

    def coefficient(self) -> float:
        """The control-variate coefficient the next sample will use (predictable)."""
        if self.proxy is None:
            return 0.0
        if self.fixed_c is not None:
            return float(np.clip(self.fixed_c, 0.0, self.c_max))
        n = self._slope_count
        if n < self.min_slope_samples:
            return float(np.clip(self.c_prior, 0.0, self.c_max))
        sy, st, syt, stt = self._sums
        vt = stt / n - (st / n) ** 2
        if vt <= 1e-12:
            return float(np.clip(self.c_prior, 0.0, self.c_max))
        cov = syt / n - (sy / n) * (st / n)
        return float(np.clip(cov / vt, 0.0, self.c_max))

    def _checked(self, values) -> np.ndarray:
        """``values`` as a flat float array, each checked to lie in the declared ``[0, M]``."""
        values = np.asarray(values, dtype=float).ravel()
        if len(values) and (values.min() < 0 or values.max() > self.M or
                            not np.isfinite(values).all()):
            bad = values[(values < 0) | (values > self.M) | ~np.isfinite(values)][0]
            raise DataError(f"A sampled value {bad!r} lies outside the range [0, {self.M:g}] "
                            "declared before sampling; the interval would not hold.  Declare "
                            "a larger range (e.g. the oracle's max_objects).")
        return values

    def _record(self, w: float, a: float, b: float, kp: float, km: float) -> None:
        """Append one sample's terms of the capital processes, with its predictable bet.

        ``w`` is the sample's value (after the control variate), ``a mu - b``
        its conditional mean under a candidate mean ``mu``, and ``kp``/``km``
        how far ``w`` may fall below / rise above ``[0, M]``.
        """
        n_prev = len(self._w)
        var = (0.25 + self._var_sum) / (n_prev + 1)
        lam = (self.error if self.error is not None else 0.1 * self.M) / max(var, 1e-6)
        mean_prev = self._w_sum / n_prev if n_prev else w
        self._var_sum += (w - mean_prev) ** 2
        self._w_sum += w
        for lst, v in ((self._w, w), (self._a, a), (self._b, b), (self._lam, lam),
                       (self._kp, kp), (self._km, km)):
            lst.append(v)

    def update(self, values, index=None) -> None:
        """Add sampled values (in sampling order); ``index`` gives their population positions."""
        values = self._checked(values)
        if self.proxy is not None:
            if index is None:
                raise invalid("index", "BettingCS.update", "the population positions of the "
                              "values (a proxy was given)", index)
            index = np.asarray(index).ravel()
        if self.t + len(values) > self.N:
            raise invalid("values", "BettingCS.update", f"at most N = {self.N} samples in all",
                          self.t + len(values))
        self._add_levels(len(values))
        for k, y in enumerate(values):
            i = self.t + 1
            left = self.N - i + 1  # frames not sampled before this one
            a, b = self.N / left, self.S / left     # m_i(mu) = a mu - b
            if self.proxy is not None:
                ti = float(self.proxy[index[k]])
                c = self.coefficient()
                r = self.t_rem / left
                w = y - c * (ti - r)
                kp, km = c * (self.tmax - r), c * (r - self.tmin)
                self.t_rem -= ti
                self._sums += (y, ti, y * ti, ti * ti)
            else:
                w, kp, km = y, 0.0, 0.0
            self._record(w, a, b, kp, km)
            self.S += y
            self.t = i
        self._update_interval()

    def _add_levels(self, k: int) -> None:
        """Truncation levels of the next ``k`` samples, chosen from the earlier ones only.

        With ``bets="adaptive"`` each side bets at the level of ``truncs``
        whose capital over the earlier samples is largest at the current end
        of the interval (follow the leader; the first samples use the
        middle level).  A predictable choice keeps each capital process a
        martingale and, unlike the mixture, pays no ``log(len(truncs))``.
        """
        if self.bets != "adaptive":
            return
        levels = []
        for side, m in ((1, self.low), (-1, self.high)):
            if len(self._w) < self.min_slope_samples:
                levels.append(self.truncs[len(self.truncs) // 2])
                continue
            caps = [self._log_capital(np.array([m]), side, level=tr)[0] for tr in self.truncs]
            levels.append(self.truncs[int(np.argmax(caps))])
        self._tr_p.extend([levels[0]] * k)
        self._tr_m.extend([levels[1]] * k)

    # -- the interval ---------------------------------------------------------------
    def _log_capital(self, mu: np.ndarray, side: int, level: float | None = None) -> np.ndarray:
        """``log K+`` (side +1) or ``log K-`` (side -1) at each candidate mean ``mu``.

        The capital is the equal-weight mixture of the processes whose bets are
        truncated at each level of ``truncs`` (a mixture of martingales is one).
        """
        if self._arrays is None or len(self._arrays[0]) != len(self._w):
            self._arrays = tuple(np.asarray(v, dtype=float)[:, None] for v in
                                 (self._w, self._a, self._b, self._lam, self._kp, self._km))
            self._tr_arrays = (np.asarray(self._tr_p, dtype=float)[:, None],
                               np.asarray(self._tr_m, dtype=float)[:, None])
        w, a, b, lam, kp, km = self._arrays
        m = a * mu[None, :] - b
        if side > 0:
            loss = m + kp          # w - m >= -(m + k+)
            gain = w - m
        else:
            loss = (self.M - m) + km  # w - m <= (M - m) + k-
            gain = m - w
        loss = np.maximum(loss, 1e-12)
        if level is not None:  # one level alone, for choosing the next bets
            return np.log1p(np.minimum(lam, level / loss) * gain).sum(axis=0)
        if self.bets == "adaptive":
            tr = self._tr_arrays[0 if side > 0 else 1]
            return np.log1p(np.minimum(lam, tr / loss) * gain).sum(axis=0)
        logs = [np.log1p(np.minimum(lam, tr / loss) * gain).sum(axis=0) for tr in self.truncs]
        return np.logaddexp.reduce(logs, axis=0) - np.log(len(self.truncs))

    def _root(self, lo: float, hi: float, side: int) -> float:
        """The end of the rejected region in ``[lo, hi]``: K+ is decreasing, K- increasing."""
        thr = self.log_thrs[side]
        if side > 0:   # largest mu with log K+ >= thr (rejected from below)
            if self._log_capital(np.array([lo]), 1)[0] < thr:
                return lo
            if self._log_capital(np.array([hi]), 1)[0] >= thr:
                return hi
        else:          # smallest mu with log K- >= thr
            if self._log_capital(np.array([hi]), -1)[0] < thr:
                return hi
            if self._log_capital(np.array([lo]), -1)[0] >= thr:
                return lo
        for _ in range(3):  # 3 rounds of 32-section: width / 32^3
            grid = np.linspace(lo, hi, 33)
            rej = self._log_capital(grid, side) >= thr
            if side > 0:
                k = int(np.flatnonzero(rej)[-1]) if rej.any() else 0
                lo, hi = grid[k], grid[min(k + 1, 32)]
            else:
                k = int(np.flatnonzero(rej)[0]) if rej.any() else 32
                lo, hi = grid[max(k - 1, 0)], grid[k]
        return lo if side > 0 else hi  # rounded outwards

    def _update_interval(self) -> None:
        det_lo = self.S / self.N
        det_hi = (self.S + self.M * (self.N - self.t)) / self.N
        lo, hi = max(self.low, det_lo), min(self.high, det_hi)
        if self.t < self.N and hi > lo:
            lo = max(lo, self._root(lo, hi, 1))
            hi = min(hi, self._root(lo, hi, -1))
        if self.t >= self.N:
            lo = hi = self.S / self.N
        self.low, self.high = lo, max(lo, hi)

    def interval(self) -> tuple[float, float]:
        """The running intersection of the intervals so far."""
        return (float(self.low), float(self.high))


def low_share(proxy: np.ndarray, value_range: float, c: float = 1.0,
              bounds: tuple[float, float] = (0.05, 0.95)) -> float:
    """The share of ``1 - p`` for the lower end, from the NN's predictions alone.

    At the NN's predicted mean ``r``, the lower end's bets lose at most
    ``r + c (max t - r)`` per sample and the upper end's at most ``M - r + c
    (r - min t)`` (see :class:`BettingCS`); each end's cost in samples grows
    with its loss bound, so the miscoverage is split in proportion to them,
    within ``bounds``.  It depends on no label of the sampled population (only
    on the NN, fitted on the training frames, and the declared range), so any
    value keeps the stated confidence; it only moves calls between the two ends.

    Examples
    --------
    >>> round(low_share(np.r_[np.zeros(990), np.ones(10)], 6.0), 3)  # rare class, M = 6
    0.143
    >>> low_share(np.full(100, 3.0), 6.0)  # a mean mid-range: the two ends alike
    0.5
    """
    t = np.asarray(proxy, dtype=float)
    if t.ndim != 1 or len(t) == 0 or not np.isfinite(t).all():
        raise invalid("proxy", "low_share", "a non-empty 1-d array of finite predictions",
                      getattr(t, "shape", t))
    if not (_is_number(value_range) and value_range > 0):
        raise invalid("value_range", "low_share", "a positive number", value_range)
    r = float(np.clip(t.mean(), 0.0, value_range))
    c = float(max(c, 0.0))
    lose_low = r + c * max(0.0, float(t.max()) - r)
    lose_high = value_range - r + c * max(0.0, r - float(t.min()))
    share = lose_low / max(lose_low + lose_high, 1e-12)
    return float(np.clip(share, *bounds))


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def check_sampling_args(func: str, error, confidence, growth, value_range,
                        min_samples: int = 1) -> None:
    """The checks every sampler of an FCOUNT runs on its arguments (``func`` names it)."""
    for name, value in (("error", error), ("confidence", confidence), ("growth", growth),
                        ("value_range", value_range)):
        if not _is_number(value):
            raise invalid(name, func, "a number", value)
    if isinstance(min_samples, (bool, np.bool_)) or not isinstance(
            min_samples, (int, np.integer)) or min_samples < 1:
        raise invalid("min_samples", func, "an int >= 1", min_samples)
    if not error > 0:
        raise invalid("error", func, "a positive number", error)
    if not 0 < confidence < 1:
        raise invalid("confidence", func, "a probability in (0, 1)", confidence)
    if not growth > 1:
        raise invalid("growth", func, "a number > 1", growth)
    if not (np.isfinite(value_range) and value_range > 0):
        raise invalid("value_range", func, "a positive finite number declared "
                      "before sampling", value_range)


def estimate_mean(fetch: Callable[[np.ndarray], np.ndarray], population: np.ndarray,
                  proxy: np.ndarray | None, error: float, confidence: float,
                  rng: np.random.Generator, *, value_range: float, c: float | None = None,
                  c_prior: float = 0.0, min_samples: int = 32,
                  growth: float = 1.05, first=None, bets: str = "adaptive",
                  low_share: float = 0.5) -> Iterator[Estimate]:
    """Estimate the mean of ``fetch(frames)`` over ``population`` within ``error``.

    Samples without replacement in a random order and checks the
    :class:`BettingCS` interval at geometrically spaced sample sizes; stops
    at the first check whose half-width is at most ``error``.  Because the
    interval is a confidence sequence, stopping at a data-dependent time
    keeps the stated confidence.

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
    value_range : float
        ``M``: every value is in ``[0, M]`` (declared before sampling).
    c : float, optional
        A fixed control-variate coefficient (else predictable, see :class:`BettingCS`).
    c_prior : float
        Coefficient used before enough samples (e.g. from held-out frames).
    min_samples : int
        Size of the first check.
    growth : float
        Ratio between the sample sizes of consecutive checks (> 1).
    first : array of int, optional
        Positions in ``population`` to sample first, in this order; they must
        be a uniform random sample of it in random order (e.g. held-out frames
        drawn at random across the video).  The first check is made right
        after them, so labels already paid for can answer on their own.
    bets, low_share
        As in :class:`BettingCS` (``low_share`` fixed before sampling, e.g.
        from the NN by :func:`low_share`).

    Yields
    ------
    Estimate
        At each check; the last one has ``done=True``.

    Examples
    --------
    >>> values = np.r_[np.zeros(5000), np.ones(5000)]
    >>> fetch = lambda f: values[f]
    >>> est = list(estimate_mean(fetch, np.arange(10000), None, 0.1, 0.95,
    ...                          np.random.default_rng(0), value_range=1.0))[-1]
    >>> est.done, abs(est.value - 0.5) <= 0.1, est.n < 10000
    (True, True, True)
    """
    population = np.asarray(population)
    n_pop = len(population)
    check_sampling_args("estimate_mean", error, confidence, growth, value_range, min_samples)
    if n_pop == 0:
        yield Estimate(0, 0.0, 0.0, True, low=0.0, high=0.0)
        return
    cs = BettingCS(n_pop, value_range, confidence, proxy=proxy, c=c, c_prior=c_prior,
                   error=error, bets=bets, low_share=low_share)
    order = rng.permutation(n_pop)
    target = min(n_pop, max(2, min_samples))
    if first is not None and len(first):
        first = np.asarray(first)
        if not np.issubdtype(first.dtype, np.integer) or first.ndim != 1 or first.min() < 0 \
                or first.max() >= n_pop or len(np.unique(first)) != len(first):
            raise invalid("first", "estimate_mean", f"distinct positions in [0, {n_pop}) (each "
                          "member is sampled at most once)", first)
        first = first.astype(np.int64)
        rest = order[~np.isin(order, first)]
        order = np.r_[first, rest]
        target = len(first)
    t = 0
    while True:
        new = order[t:target]
        coef = cs.coefficient()
        cs.update(np.asarray(fetch(population[new]), dtype=float), new)
        t = target
        lo, hi = cs.interval()
        half = (hi - lo) / 2
        done = half <= error or t >= n_pop
        yield Estimate(t, (lo + hi) / 2, half, done, coef, lo, hi)
        if done:
            return
        target = min(n_pop, max(t + 1, int(np.ceil(t * growth))))
