"""Stratified sampling by the specialized NN's score, with an anytime-valid betting interval.

BlazeIt (arXiv 1805.01046, Section 6) reduces the variance of sampled
aggregates with the specialized NN; Section 6.3 does it with the NN as a
control variate (:mod:`dawnlab.blazeit.aggregate`).  A second classical way
to use a score known for every frame is to *stratify* by it: split the
frames into strata of similar predicted count and sample more where the
oracle's count varies more (Neyman allocation, Cochran, *Sampling
Techniques*, Section 5.5).  This module makes that a second estimator path
with its own stated guarantee.

**Construction.**  The ``N`` frames are split into ``H`` strata by quantiles
of the NN's predicted count ``t`` (fixed before any oracle call); stratum
``h`` holds a share ``W_h`` of the frames.  Each draw picks stratum ``h``
with a probability ``q_h`` fixed before sampling, then one of its frames
uniformly *with replacement* (a frame drawn again costs no new oracle
call), and records

``Z = (W_h / q_h) (y - c t) + c tbar``

where ``y`` is the oracle's count, ``tbar`` the NN's mean over all frames
(known) and ``c`` a control-variate coefficient chosen before the draw
from earlier draws only.  Given the past, ``E[Z] = sum_h W_h (mu_h - c
tbar_h) + c tbar = mu`` exactly, whatever the NN predicts, and ``Z`` lies in
a range known before the draw (from the declared ``[0, M]`` of ``y`` and
the known ``t``): ``[c tbar - max_h (W_h/q_h) c tmax_h, c tbar + max_h
(W_h/q_h) (M - c tmin_h)]``.  So ``K_t(mu) = prod (1 + lambda_i (Z_i -
mu))`` with predictable, range-truncated bets is a nonnegative martingale
under the truth, and the betting confidence sequence of Waudby-Smith and
Ramdas (JRSS-B 2024, arXiv 2010.09686, Sections 3-4; the same bets and the
same mixture over truncation levels as :class:`~dawnlab.blazeit.aggregate.BettingCS`)
holds the mean with probability at least ``p`` jointly over all draws, so
stopping at the first narrow enough interval keeps the confidence.  The
deterministic limits of the frames labelled so far are intersected in
(exact once every frame is labelled).

**Allocation.**  ``q`` mixes Neyman allocation (``q_h`` proportional to
``W_h s_h``, ``s_h`` the NN's own predicted standard deviation of ``y - c t``
in the stratum) with proportional allocation (``q_h = W_h``): ``q = (1 -
beta) q_neyman + beta W``.  Undersampling a stratum widens the range of
``Z`` by ``W_h / q_h``, and a betting interval on a range-limited count pays
for range, not only for variance, so ``beta`` is chosen before sampling by
minimising the predicted sample size ``L (2 var(Z) / e^2 + R(Z) / e)``
(``L = log(2 / (1 - p))``) over a grid, from the NN's predictions alone;
``beta = 1`` is the control variate sampled with replacement.  The choice
only affects how many calls are needed, never the validity.

**What stratification cannot do.**  With only ``[0, M]`` declared, any
valid interval of half-width ``e`` needs about ``M log(1 / a) / (2 e)``
draws (a fraction ``2 e / M`` of frames holding ``M`` objects could hide in
any stratum); no allocation beats it.  Stratifying pays where the variance,
not the range, dominates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from dawnlab.blazeit.aggregate import BettingCS, Estimate, check_sampling_args
from dawnlab.errors import DataError, invalid

__all__ = ["StratifiedCS", "make_strata", "allocate", "estimate_mean_stratified"]


def make_strata(score: np.ndarray, n_strata: int = 4) -> np.ndarray:
    """Stratum of each frame: quantile bins of ``score`` (ties kept together).

    Examples
    --------
    >>> make_strata(np.array([0., 0., 0., 1., 2., 3.]), 3).tolist()
    [0, 0, 0, 0, 1, 1]
    """
    score = np.asarray(score, dtype=float)
    if not (isinstance(n_strata, (int, np.integer)) and n_strata >= 1):
        raise invalid("n_strata", "make_strata", "a positive int", n_strata)
    edges = np.unique(np.quantile(score, np.linspace(0, 1, n_strata + 1)[1:-1]))
    strata = np.searchsorted(edges, score, side="right")
    _, strata = np.unique(strata, return_inverse=True)  # drop empty strata
    return strata.astype(np.int64)


def allocate(strata: np.ndarray, proxy: np.ndarray, sd: np.ndarray, value_range: float,
             error: float, confidence: float, c: float = 1.0,
             betas=tuple(np.linspace(0, 1, 11)), min_share: float = 0.1
             ) -> tuple[np.ndarray, float]:
    """Draw probability of each stratum, from the NN's predictions alone (before sampling).

    Returns ``(q, beta)``: ``q = (1 - beta) q_neyman + beta W`` with the
    ``beta`` whose predicted sample size ``L (2 var(Z) / e^2 + R(Z) / e)``
    is smallest (see the module docstring).  ``sd`` is the predicted
    standard deviation of ``y - c t`` per frame.  The Neyman part gives
    each stratum at least ``min_share`` of its proportional share.

    Examples
    --------
    >>> strata = np.r_[np.zeros(90, int), np.ones(10, int)]
    >>> t = np.r_[np.zeros(90), np.full(10, 3.0)]
    >>> q, beta = allocate(strata, t, np.r_[np.full(90, .01), np.full(10, 1.)], 4, .1, .95)
    >>> bool(q[1] > 0.1), round(float(q.sum()), 6)
    (True, 1.0)
    """
    strata = np.asarray(strata)
    H = int(strata.max()) + 1
    N = len(strata)
    W = np.bincount(strata, minlength=H) / N
    s2 = np.bincount(strata, weights=np.asarray(sd, float) ** 2, minlength=H) / np.maximum(
        1, np.bincount(strata, minlength=H))
    s = np.sqrt(np.maximum(s2, 1e-6))
    qn = W * s / (W * s).sum()
    qn = np.maximum(qn, min_share * W)  # no stratum far below its share: W_h / q_h bounded
    qn /= qn.sum()
    log_thr = np.log(2.0 / (1.0 - confidence))
    tmin = np.array([proxy[strata == h].min() for h in range(H)])
    tmax = np.array([proxy[strata == h].max() for h in range(H)])
    best = None
    for beta in betas:
        q = (1 - beta) * qn + beta * W
        var = float((W ** 2 * s2 / q).sum())
        r = W / q
        # the larger of the two one-sided ranges of Z around its mean (see StratifiedCS)
        span = max(float(np.max(r * (value_range - c * tmin))), float(np.max(r * c * tmax)))
        n_pred = log_thr * (2 * var / error ** 2 + span / error)
        if best is None or n_pred < best[0] - 1e-9:
            best = (n_pred, q, float(beta))
    return best[1], best[2]


class StratifiedCS(BettingCS):
    """A betting confidence sequence for the mean from stratified draws with replacement.

    Stratum ``h`` is drawn with probability ``q[h]`` and a frame uniformly
    within it; :meth:`update` takes each draw's value and population index.
    After any number of draws :meth:`interval` holds the population mean,
    jointly over all times, with probability at least ``confidence`` (see
    the module docstring).

    Parameters
    ----------
    strata : array of int
        Stratum of each member (``0 .. H-1``), fixed before sampling.
    q : array of float
        Draw probability of each stratum (positive, summing to 1).
    value_range : float
        ``M``: every value lies in ``[0, M]``, declared before sampling.
    confidence : float
    proxy : array of float, optional
        The control variate ``t`` of every member; ``None`` for none.
    c, c_prior, error, c_max
        As in :class:`~dawnlab.blazeit.aggregate.BettingCS`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 4, 4000).astype(float)
    >>> strata = (y > 1).astype(int)  # a perfect stratifier
    >>> cs = StratifiedCS(strata, np.array([.5, .5]), 3.0, 0.95, error=0.1)
    >>> h = rng.integers(0, 2, 800)
    >>> idx = np.array([rng.choice(np.flatnonzero(strata == k)) for k in h])
    >>> cs.update(y[idx], idx)
    >>> lo, hi = cs.interval()
    >>> bool(lo <= y.mean() <= hi), bool(hi - lo < 0.5)
    (True, True)
    """

    def __init__(self, strata, q, value_range: float, confidence: float, *,
                 proxy: np.ndarray | None = None, c: float | None = None,
                 c_prior: float = 1.0, error: float | None = None, c_max: float = 2.0,
                 bets: str = "adaptive"):
        strata = np.asarray(strata)
        if strata.ndim != 1 or len(strata) == 0 or not np.issubdtype(strata.dtype, np.integer) \
                or strata.min() < 0:
            raise invalid("strata", "StratifiedCS", "a non-empty 1-d array of stratum numbers "
                          ">= 0", strata)
        H = int(strata.max()) + 1
        counts = np.bincount(strata, minlength=H)
        if (counts == 0).any():
            raise invalid("strata", "StratifiedCS", "strata numbered 0 .. H-1, none empty",
                          counts.tolist())
        q = np.asarray(q, dtype=float)
        if q.shape != (H,) or not (q > 0).all() or abs(q.sum() - 1) > 1e-9:
            raise invalid("q", "StratifiedCS", f"{H} positive draw probabilities summing to 1",
                          q)
        super().__init__(len(strata), value_range, confidence, proxy=None, c=c,
                         c_prior=c_prior if proxy is not None else 0.0, error=error,
                         c_max=c_max, bets=bets)
        self.strata, self.q = strata, q
        self.W = counts / len(strata)
        self.ratio = self.W / q  # W_h / q_h
        if proxy is not None:
            proxy = np.asarray(proxy, dtype=float)
            if len(proxy) != self.N:
                raise invalid("proxy", "StratifiedCS", f"one value per member ({self.N})",
                              len(proxy))
            self.tbar = float(proxy.mean())
            self.tmin_h = np.array([proxy[strata == h].min() for h in range(H)])
            self.tmax_h = np.array([proxy[strata == h].max() for h in range(H)])
        # the control variate (the parent's own proxy bookkeeping, for sampling without
        # replacement, is not used: BettingCS.update is overridden)
        self.proxy = proxy
        self._seen: dict[int, float] = {}
        self.draws = 0

    @property
    def distinct(self) -> int:
        """Distinct members drawn so far (the oracle calls)."""
        return len(self._seen)

    @property
    def _slope_count(self) -> int:
        """The slope of the control variate is fitted on the draws (repeats included)."""
        return self.draws

    def update(self, values, index=None) -> None:
        """Add draws (in drawing order) with their population positions ``index``."""
        if index is None:
            raise invalid("index", "StratifiedCS.update", "the population positions of the "
                          "draws", index)
        index = np.asarray(index).ravel()
        values = self._checked(values)
        self._add_levels(len(values))
        for y, f in zip(values, index):
            f = int(f)
            h = int(self.strata[f])
            if self.proxy is not None:
                ti = float(self.proxy[f])
                c = self.coefficient()
                w = self.ratio[h] * (y - c * ti) + c * self.tbar
                zlo = c * self.tbar - float(np.max(self.ratio * c * self.tmax_h))
                zhi = c * self.tbar + float(np.max(self.ratio * (self.M - c * self.tmin_h)))
                self._sums += (y, ti, y * ti, ti * ti)
            else:
                w = self.ratio[h] * y
                zlo, zhi = 0.0, float(np.max(self.ratio)) * self.M
            # m_i(mu) = mu (draws with replacement); w - mu >= -(mu + kp), <= (M - mu) + km
            kp, km = max(0.0, -zlo), max(0.0, zhi - self.M)
            self._record(w, 1.0, 0.0, kp, km)
            self._seen[f] = y
            self.draws += 1
        self._update_interval()

    def add_labels(self, values, index) -> None:
        """Record labels of members outside the draws (e.g. a final scan of the rest).

        They enter only the deterministic limits, which hold whatever the
        labels are; once every member is labelled the interval is the exact mean.
        """
        for y, f in zip(np.asarray(values, dtype=float).ravel(), np.asarray(index).ravel()):
            if not 0 <= y <= self.M:
                raise DataError(f"A value {y!r} lies outside the range [0, {self.M:g}] "
                                "declared before sampling.")
            self._seen[int(f)] = float(y)
        self._update_interval()

    def _update_interval(self) -> None:
        n_seen = len(self._seen)
        s_seen = float(sum(self._seen.values()))
        det_lo = s_seen / self.N
        det_hi = (s_seen + self.M * (self.N - n_seen)) / self.N
        lo, hi = max(self.low, det_lo), min(self.high, det_hi)
        if n_seen < self.N and hi > lo and self._w:
            lo = max(lo, self._root(lo, hi, 1))
            hi = min(hi, self._root(lo, hi, -1))
        if n_seen >= self.N:
            lo = hi = s_seen / self.N
        self.low, self.high = lo, max(lo, hi)


def estimate_mean_stratified(fetch: Callable[[np.ndarray], np.ndarray], population: np.ndarray,
                             proxy: np.ndarray, error: float, confidence: float,
                             rng: np.random.Generator, *, value_range: float,
                             sd: np.ndarray | None = None, n_strata: int = 4,
                             c: float | None = None, c_prior: float = 1.0,
                             min_samples: int = 32, growth: float = 1.05,
                             beta: float | None = None, bets: str = "adaptive",
                             max_draws: float = 1.0) -> Iterator[Estimate]:
    """Estimate the mean of ``fetch(frames)`` over ``population`` by stratified draws.

    Strata are quantile bins of ``proxy`` (:func:`make_strata`), the draw
    probabilities come from :func:`allocate` (or a fixed ``beta``), and the
    :class:`StratifiedCS` interval is checked at geometrically spaced numbers
    of draws; it stops at the first check whose half-width is at most
    ``error``.  ``Estimate.n`` is the number of distinct frames labelled
    (oracle calls), never more than the population.

    Parameters
    ----------
    fetch, population, error, confidence, rng, value_range, c, c_prior, min_samples, growth
        As in :func:`dawnlab.blazeit.aggregate.estimate_mean`.
    proxy : array of float
        The NN's predicted count of each frame of ``population`` (stratifies
        and serves as control variate).
    sd : array of float, optional
        The NN's predicted standard deviation of each frame's count (for the
        allocation; default ``sqrt(proxy)``, as for a Poisson count).
    n_strata : int
        Number of quantile strata.
    beta : float, optional
        Share of proportional allocation (``1`` = proportional); default:
        chosen by :func:`allocate`.
    bets : {"mixture", "adaptive"}
        How the bets are truncated (:class:`~dawnlab.blazeit.aggregate.BettingCS`).
    max_draws : float
        After ``max_draws * N`` draws without an answer, the frames never
        drawn are labelled and the answer is exact.

    Yields
    ------
    Estimate
        At each check; the last one has ``done=True``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> y = rng.poisson(2.0, 20000).clip(0, 10).astype(float)
    >>> t = y + rng.normal(0, 0.3, len(y))
    >>> est = list(estimate_mean_stratified(lambda f: y[f], np.arange(len(y)), t, 0.1, 0.95,
    ...                                     np.random.default_rng(0), value_range=10))[-1]
    >>> est.done, bool(abs(est.value - y.mean()) <= 0.1), est.n < 2000
    (True, True, True)
    """
    population = np.asarray(population)
    n_pop = len(population)
    check_sampling_args("estimate_mean_stratified", error, confidence, growth, value_range,
                        min_samples)
    if not (isinstance(max_draws, (int, float, np.number)) and max_draws > 0):
        raise invalid("max_draws", "estimate_mean_stratified", "a number > 0", max_draws)
    if beta is not None and not 0 <= beta <= 1:
        raise invalid("beta", "estimate_mean_stratified", "a number in [0, 1]", beta)
    if n_pop == 0:
        yield Estimate(0, 0.0, 0.0, True, low=0.0, high=0.0)
        return
    proxy = np.asarray(proxy, dtype=float)
    if len(proxy) != n_pop:
        raise invalid("proxy", "estimate_mean_stratified", f"one value per frame ({n_pop})",
                      len(proxy))
    if not np.isfinite(proxy).all():
        raise invalid("proxy", "estimate_mean_stratified", "finite predictions",
                      proxy[~np.isfinite(proxy)][0])
    if sd is None:
        sd = np.sqrt(np.maximum(proxy, 0.0))
    sd = np.asarray(sd, dtype=float)
    if sd.shape != (n_pop,) or not np.isfinite(sd).all() or (sd < 0).any():
        raise invalid("sd", "estimate_mean_stratified", f"{n_pop} finite values >= 0 (one "
                      "predicted standard deviation per frame)", sd.shape)
    strata = make_strata(proxy, n_strata)
    c0 = c if c is not None else c_prior
    if beta is None:
        q, beta = allocate(strata, proxy, sd, value_range, error, confidence, c=c0)
    else:
        q, _ = allocate(strata, proxy, sd, value_range, error, confidence, c=c0, betas=(beta,))
    cs = StratifiedCS(strata, q, value_range, confidence, proxy=proxy, c=c, c_prior=c_prior,
                      error=error, bets=bets)
    members = [np.flatnonzero(strata == h) for h in range(len(q))]
    labels: dict[int, float] = {}
    target = max(2, min_samples)
    while True:
        h = rng.choice(len(q), size=target - cs.draws, p=q)
        idx = np.array([members[k][rng.integers(len(members[k]))] for k in h], dtype=np.int64)
        new = np.unique(idx[[int(i) not in labels for i in idx]]) if len(idx) else idx
        if len(new):
            for i, v in zip(new, np.asarray(fetch(population[new]), dtype=float)):
                labels[int(i)] = float(v)
        coef = cs.coefficient()
        cs.update(np.array([labels[int(i)] for i in idx]), idx)
        if cs.draws >= max_draws * n_pop and cs.distinct < n_pop:
            # drawing with replacement this long collects the last frames slowly: label
            # the rest (the answer is then exact)
            rest = np.setdiff1d(np.arange(n_pop), np.fromiter(labels, np.int64))
            vals = np.asarray(fetch(population[rest]), dtype=float)
            labels.update(zip(map(int, rest), vals))
            cs.add_labels(vals, rest)
        lo, hi = cs.interval()
        half = (hi - lo) / 2
        done = half <= error or cs.distinct >= n_pop
        yield Estimate(cs.distinct, (lo + hi) / 2, half, done, coef, lo, hi)
        if done:
            return
        target = max(cs.draws + 1, int(np.ceil(cs.draws * growth)))
