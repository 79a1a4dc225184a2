"""The DAWNBench analysis of time-to-accuracy runs, and MLPerf's variance criterion.

Coleman et al., "Analysis of DAWNBench" (arXiv 1806.01427): time-to-accuracy varies
little across runs (Section 4.1, its coefficient of variation), the threshold matters
(Section 4.3: the last points of accuracy cost most of the time, so rankings can change
with it), TTA-tuned models generalize (Section 4.2), and cost and inference latency belong
beside time (Sections 5-6).  Mattson et al. (arXiv 1910.01500, Section 4.2) pick the
number of runs per result so that the olympic mean lands within 5% of the long-run mean
90% of the time.

Functions
---------
:func:`coefficient_of_variation`, :func:`cov_interval`
    CoV of run times with an interval exact under normal run times (noncentral t), whose
    measured coverage on log-normal and heavy-tailed times it states; :func:`bootstrap_cov`
    keeps the older BCa bootstrap interval, which undercovers (82.5% at 10 runs).
:func:`runs_for_precision`
    The smallest number of runs whose olympic mean meets MLPerf's criterion, by resampling.
:func:`threshold_curve`, :func:`rankings`
    TTA of each entry at each threshold, from the logged evaluations; the entries' ranks.
:func:`cost`, :func:`latency_stats`
    Dollars at an hourly price; median and 99th-percentile latency.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from dawnlab.errors import invalid

__all__ = ["common_target", "throughput", "harness_fraction", "coefficient_of_variation", "bootstrap_cov", "cov_interval", "cov_interval_coverage", "CovInterval",
           "COV_GUARANTEE", "runs_for_precision", "olympic_mean_array",
           "threshold_curve", "rankings", "cost", "latency_stats", "PRICE_PER_HOUR", "PRICE_SOURCE"]

PRICE_PER_HOUR = 0.085
"""The stated hourly price: an AWS c5.large (2 vCPUs) on demand in us-east-1, list price (USD)."""
PRICE_SOURCE = "AWS EC2 c5.large (2 vCPU) on-demand, us-east-1 list price, USD 0.085 per hour"


def _times(times, owner, minimum=2):
    arr = np.asarray([t for t in times], dtype=float)
    if arr.ndim != 1 or len(arr) < minimum or not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise invalid("times", owner, f"at least {minimum} finite, positive run times", list(times))
    return arr


def coefficient_of_variation(times: Sequence[float]) -> float:
    """Sample standard deviation over the mean.

    Examples
    --------
    >>> round(coefficient_of_variation([9.0, 10.0, 11.0]), 4)
    0.1
    """
    arr = _times(times, "coefficient_of_variation")
    return float(arr.std(ddof=1) / arr.mean())


def bootstrap_cov(times: Sequence[float], confidence: float = 0.95, n_resamples: int = 2000,
                  seed: int = 0) -> tuple[float, float, float]:
    """The coefficient of variation and its bootstrap (BCa) interval (``scipy.stats.bootstrap``).

    The interval undercovers on few runs, as bootstrap intervals of a ratio do: in
    simulation with log-normal run times (sigma 0.1, 200 replications) a nominal 95%
    interval covered the true CoV 82.5% of the time at 10 runs and 90% at 30
    (``tests/tta/test_analysis.py`` checks the 30-run case).  Read it as a rough range.

    Returns
    -------
    (cov, low, high)

    Examples
    --------
    >>> cov, lo, hi = bootstrap_cov([9.0, 10.5, 10.0, 11.0, 9.5, 10.2, 9.8, 10.9, 10.1, 9.7])
    >>> lo <= cov <= hi
    True
    """
    from scipy.stats import bootstrap

    arr = _times(times, "bootstrap_cov", minimum=3)
    if not 0 < confidence < 1:
        raise invalid("confidence", "bootstrap_cov", "a number in (0, 1)", confidence)

    def stat(x, axis=-1):
        return np.std(x, ddof=1, axis=axis) / np.mean(x, axis=axis)

    res = bootstrap((arr,), stat, confidence_level=confidence, n_resamples=n_resamples, method="BCa",
                    rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(lo) and math.isfinite(hi)):  # BCa degenerates on ties; fall back to percentiles
        res = bootstrap((arr,), stat, confidence_level=confidence, n_resamples=n_resamples, method="percentile",
                        rng=np.random.default_rng(seed))
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return float(stat(arr)), lo, hi


COVERAGE_LAWS = ("normal", "lognormal", "shifted_pareto")
"""The laws :func:`cov_interval_coverage` simulates (see :func:`cov_interval`)."""

COV_GUARANTEE = ("exact (coverage equals the confidence) when the run times are i.i.d. normal; "
                 "measured 93.6-95.7% for log-normal times (sigma 0.05-0.3, 10 and 30 runs); "
                 "NO guarantee under heavy tails: a shifted Pareto (Lomax, shape 4.5, finite variance) "
                 "measured 61% at 10 runs and 47% at 30, shape 3 measured 45% and 32%")
"""What the default (``method='normal'``) interval of :func:`cov_interval` is guaranteed for."""


class CovInterval(tuple):
    """``(cov, low, high)``, a plain 3-tuple for unpacking, carrying what the interval promises.

    Attributes
    ----------
    method : str
        ``'normal'`` (noncentral t, the default), ``'lognormal'`` (chi-square on log-times).
    confidence : float
        The nominal confidence.
    guarantee : str
        The laws under which the coverage holds, and where it measured lower.
    """

    method: str
    confidence: float
    guarantee: str

    def __new__(cls, cov, low, high, method, confidence, guarantee):
        self = super().__new__(cls, (float(cov), float(low), float(high)))
        self.method, self.confidence, self.guarantee = method, float(confidence), guarantee
        return self

    def __getnewargs__(self):  # pickling through the process pool
        return (*self, self.method, self.confidence, self.guarantee)


def _nct_rows(x: np.ndarray, confidence: float, iters: int = 45):
    """CoV bounds of each row of ``x`` by inverting the noncentral t (vectorised bisection)."""
    from scipy import stats

    n = x.shape[1]
    df = n - 1
    t = math.sqrt(n) * x.mean(axis=1) / x.std(axis=1, ddof=1)
    a = (1 - confidence) / 2
    # t = (Z + delta) / sqrt(chi2_df / df): delta lies within t * sqrt(chi2_df / df) +- 9 but for 1e-9 tails
    qa, qb = math.sqrt(stats.chi2.ppf(1e-9, df) / df), math.sqrt(stats.chi2.ppf(1 - 1e-9, df) / df)

    def solve(p):  # the noncentrality at which P(T <= t) = p; the cdf falls as the noncentrality rises
        lo = np.minimum(t * qa, t * qb) - 9.0
        hi = np.maximum(t * qa, t * qb) + 9.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            above = stats.nct.cdf(t, df, mid) > p
            lo, hi = np.where(above, mid, lo), np.where(above, hi, mid)
        return 0.5 * (lo + hi)

    d_low, d_high = solve(1 - a), solve(a)
    rn = math.sqrt(n)
    low = np.where(d_high > 0, rn / np.where(d_high > 0, d_high, 1.0), np.inf)
    high = np.where(d_low > 0, rn / np.where(d_low > 0, d_low, 1.0), np.inf)
    return low, high


def _lognormal_rows(x: np.ndarray, confidence: float):
    """CoV bounds of each row, sqrt(exp(s^2) - 1) with the chi-square interval for s^2 of log-times."""
    from scipy import stats

    y = np.log(x)
    df = x.shape[1] - 1
    s2 = y.var(axis=1, ddof=1)
    a = (1 - confidence) / 2
    return (np.sqrt(np.expm1(df * s2 / stats.chi2.ppf(1 - a, df))),
            np.sqrt(np.expm1(df * s2 / stats.chi2.ppf(a, df))))


_METHODS = {"normal": _nct_rows, "lognormal": _lognormal_rows}


def cov_interval(times: Sequence[float], confidence: float = 0.95, method: str = "normal") -> CovInterval:
    """The coefficient of variation of run times and an exact-under-normality confidence interval.

    ``method='normal'`` (the default): ``sqrt(n) * mean / sd`` follows a noncentral t with
    ``n - 1`` degrees of freedom and noncentrality ``sqrt(n) * mu / sigma``; the interval
    inverts that law for the noncentrality and maps it to ``sigma / mu``.  Its coverage
    equals ``confidence`` exactly when the times are i.i.d. normal.  ``method='lognormal'``
    takes the chi-square interval for the variance ``s^2`` of the log-times and maps it
    through a log-normal law's CoV, ``sqrt(exp(s^2) - 1)``; exact when the times are
    log-normal.

    Coverage of a nominal 95% interval, 2000 draws per cell, seed 0, columns method and
    runs (``cov_interval_coverage(law, n, method, spread=...)``; Monte Carlo standard error
    0.5 points; ``tests/tta/test_analysis.py`` checks the cells at spread 0.15 and 0.3):

    ======================================  ==========  ==========  ==========  ==========
    law of the run times                    normal n10  normal n30  lognorm n10 lognorm n30
    ======================================  ==========  ==========  ==========  ==========
    normal, CoV 0.05                        95.0%       95.2%       94.5%       95.3%
    normal, CoV 0.3                         95.0%       94.5%       81.5%       67.4%
    log-normal, sigma 0.05                  94.9%       95.4%       94.9%       95.4%
    log-normal, sigma 0.3                   95.7%       93.6%       94.9%       95.4%
    shifted Pareto (Lomax shape 4.5, +3)    60.7%       47.4%       60.2%       45.3%
    shifted Pareto (Lomax shape 3, +3)      44.9%       32.1%       41.7%       24.0%
    ======================================  ==========  ==========  ==========  ==========

    The default is ``'normal'``: it holds on both the normal and the log-normal laws,
    while the log-normal method fails on normal times with a large CoV.  **Neither holds
    under heavy tails**: with a finite-variance Pareto tail the sample standard deviation
    is usually far below the true one, and no interval built from the sample moments
    covers at 95%; do not read the interval as 95% there.  (No finite-sample interval can
    promise coverage for every law with a finite variance.)  The point estimate ``cov`` is
    the sample CoV, which may fall outside the interval of a skewed sample.

    Returns
    -------
    CovInterval
        ``(cov, low, high)``; ``high`` is ``inf`` when the data cannot bound the CoV.
        ``.method``, ``.confidence`` and ``.guarantee`` say what the interval promises.

    Examples
    --------
    >>> cov, lo, hi = cov_interval([9.0, 10.5, 10.0, 11.0, 9.5, 10.2, 9.8, 10.9, 10.1, 9.7])
    >>> round(cov, 4), round(lo, 4), round(hi, 4)
    (0.0614, 0.0422, 0.1125)
    """
    arr = _times(times, "cov_interval", minimum=3)
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise invalid("confidence", "cov_interval", "a number in (0, 1)", confidence)
    if method not in _METHODS:
        raise invalid("method", "cov_interval", f"one of {sorted(_METHODS)}", method)
    if np.ptp(arr) == 0:
        raise invalid("times", "cov_interval", "not all equal (the interval needs a spread)", list(times))
    low, high = _METHODS[method](arr[None, :], confidence)
    guarantee = COV_GUARANTEE if method == "normal" else (
        "exact when the run times are i.i.d. log-normal; measured 67-82% for normal times with CoV 0.3 "
        "(10 and 30 runs); NO guarantee under heavy tails (shifted Pareto measured 24-60%)")
    return CovInterval(arr.std(ddof=1) / arr.mean(), low[0], high[0], method, confidence, guarantee)


def cov_interval_coverage(law: str = "normal", n: int = 10, method: str = "normal", reps: int = 2000,
                          spread: float = 0.15, confidence: float = 0.95, seed: int = 0) -> float:
    """Share of ``reps`` seeded samples of ``n`` run times whose interval covers the law's true CoV.

    ``law``: ``'normal'`` (CoV ``spread``), ``'lognormal'`` (log-sd ``spread``) or
    ``'shifted_pareto'`` (3 plus a Lomax variable of shape ``1 / spread``, which needs
    ``spread < 0.5`` for a finite variance).  Runs the same row-wise code as :func:`cov_interval`.

    Examples
    --------
    >>> 0.9 < cov_interval_coverage("normal", n=10, reps=200, seed=1) <= 1.0
    True
    """
    if law not in COVERAGE_LAWS:
        raise invalid("law", "cov_interval_coverage", f"one of {COVERAGE_LAWS}", law)
    if method not in _METHODS:
        raise invalid("method", "cov_interval_coverage", f"one of {sorted(_METHODS)}", method)
    rng = np.random.default_rng(seed)
    if law == "normal":
        x, truth = 10.0 * (1 + spread * rng.standard_normal((reps, n))), spread
        x = np.abs(x)  # a negative time is impossible; at spread <= 0.3 this touches ~1e-4 of draws
    elif law == "lognormal":
        x, truth = 10.0 * np.exp(spread * rng.standard_normal((reps, n))), math.sqrt(math.expm1(spread ** 2))
    else:
        shape = 1.0 / spread
        if shape <= 2:
            raise invalid("spread", "cov_interval_coverage", "below 0.5 for a finite variance", spread)
        mean, var = 1 / (shape - 1), shape / ((shape - 1) ** 2 * (shape - 2))
        x, truth = 3.0 + rng.pareto(shape, (reps, n)), math.sqrt(var) / (3.0 + mean)
    low, high = _METHODS[method](x, confidence)
    return float(np.mean((low <= truth) & (truth <= high)))


def olympic_mean_array(samples: np.ndarray) -> np.ndarray:
    """Olympic mean of each row (drop one minimum and one maximum); rows need at least 3 entries."""
    s = np.sort(samples, axis=-1)
    return s[..., 1:-1].mean(axis=-1)


def runs_for_precision(times: Sequence[float | None], tolerance: float = 0.05, probability: float = 0.9,
                       max_runs: int = 50, n_sim: int = 4000, seed: int = 0) -> int | None:
    """Fewest runs whose olympic score is within ``tolerance`` of the long-run mean with ``probability``.

    Runs are drawn with replacement from the measured ``times``, ``None`` marking a run
    that did not reach the threshold (MLPerf's criterion, Mattson et al. Section 4.2).
    A draw is scored as MLPerf scores a result: drop the fastest and the slowest, one
    non-converging run counting as the slowest; a draw with two or more non-converging
    runs has no score and counts as a miss.  The long-run mean is the mean of the
    converged times (the population: every measured run, the non-converging ones
    included as such, none silently dropped).

    Returns
    -------
    int or None
        The smallest ``k`` in ``3..max_runs`` that meets the criterion, None if none does.

    Raises
    ------
    InvalidArgument
        If fewer than 3 runs converged, or a time is not finite and positive.

    Examples
    --------
    >>> runs_for_precision([10.0] * 10)
    3
    >>> runs_for_precision([10.0] * 9 + [None])  # one run in ten fails: 3 runs miss 2.8% of the time
    3
    >>> runs_for_precision([10.0] * 5 + [None] * 5) is None  # half the draws of any size have >= 2 failures
    True
    """
    times = list(times)
    arr = _times([t for t in times if t is not None], "runs_for_precision", minimum=3)
    full = np.array([np.inf if t is None else float(t) for t in times])
    rng = np.random.default_rng(seed)
    mean = arr.mean()
    for k in range(3, max_runs + 1):
        draws = np.sort(full[rng.integers(0, len(full), size=(n_sim, k))], axis=-1)
        failed = np.isinf(draws).sum(axis=-1)
        # with one non-converging run (sorted last), dropping the fastest and the slowest drops it
        score = np.where(failed <= 1, np.where(np.isinf(draws), 0.0, draws)[:, 1:-1].sum(axis=-1) / (k - 2), np.nan)
        within = (failed <= 1) & (np.abs(score - mean) <= tolerance * mean)
        if within.mean() >= probability:
            return k
    return None


def threshold_curve(entries: Mapping[str, Sequence], thresholds: Sequence[float]):
    """Time to each threshold for each entry, from its runs' logged evaluations.

    Parameters
    ----------
    entries : mapping name -> list of RunRecord
        Each entry's runs (records from :class:`dawnlab.tta.Runner`).
    thresholds : list of float

    Returns
    -------
    pandas.DataFrame
        ``entry, threshold, reached`` (runs whose evaluations met it), ``median_s`` (over those
        runs only, so where few runs reach a threshold it can sit below the median at a lower
        one: read it with ``reached``) and ``olympic_s`` (MLPerf's score at that threshold, which
        counts the runs that missed it and is NaN when more than one did).  Runs stop at their
        entry's target, so thresholds above it are never reached.
    """
    import pandas as pd

    from dawnlab.tta.runner import olympic_score

    rows = []
    for name, runs in entries.items():
        for th in thresholds:
            times = [r.time_to(th) for r in runs]
            got = [t for t in times if t is not None]
            score = olympic_score(times)[0] if len(times) >= 3 else None
            rows.append({"entry": name, "threshold": float(th), "reached": len(got), "runs": len(times),
                         "median_s": float(np.median(got)) if got else float("nan"),
                         "olympic_s": float("nan") if score is None else score})
    return pd.DataFrame(rows)


def rankings(curve, by: str = "olympic_s"):
    """Rank the entries at each threshold (1 = fastest; entries without a score rank last, as NaN).

    Returns
    -------
    pandas.DataFrame
        Index: threshold; columns: entries; values: ranks.
    """
    table = curve.pivot(index="threshold", columns="entry", values=by)
    return table.rank(axis=1, method="min")


def cost(seconds: float, cpu_seconds: float | None = None, price_per_hour: float = PRICE_PER_HOUR,
         vcpus: int = 2) -> dict[str, float]:
    """Dollars for a run at an hourly instance price, by wall time and by CPU time.

    Examples
    --------
    >>> cost(3600.0)["dollars"]
    0.085
    """
    out = {"seconds": float(seconds), "dollars": float(seconds) * price_per_hour / 3600.0}
    if cpu_seconds is not None:
        out["cpu_seconds"] = float(cpu_seconds)
        out["cpu_dollars"] = float(cpu_seconds) * price_per_hour / vcpus / 3600.0
    return out


def latency_stats(latencies_ms: Sequence[float]) -> dict[str, float]:
    """Median and 99th percentile of one-at-a-time latencies.

    Examples
    --------
    >>> latency_stats(list(range(1, 101)))["median_ms"]
    50.5
    """
    arr = np.asarray(latencies_ms, dtype=float)
    if arr.size == 0:
        raise invalid("latencies_ms", "latency_stats", "a non-empty list of latencies", list(latencies_ms))
    return {"median_ms": float(np.median(arr)), "p99_ms": float(np.percentile(arr, 99)), "n": int(arr.size)}


def common_target(entries: Mapping[str, Sequence], preferred: float, grid: Sequence[float],
                  share: float = 0.9) -> tuple[float | None, bool]:
    """The target to compare entries at: ``preferred`` if every entry reaches it on ``share`` of its runs.

    Otherwise the highest threshold of ``grid`` (below ``preferred``) that every entry
    reaches on that share of runs (the issue's rule: 9 of 10 seeds).

    Returns
    -------
    (threshold or None, bool)
        The threshold and whether it is ``preferred``.

    Examples
    --------
    >>> from dawnlab.tta.runner import RunRecord
    >>> run = lambda accs: RunRecord(0, 0, "aborted", 1.0, 0.0, [(i + 1, float(i + 1), a) for i, a in enumerate(accs)])
    >>> common_target({"a": [run([0.9, 0.99])] * 3, "b": [run([0.9, 0.95])] * 3}, 0.98, [0.9, 0.95, 0.97])
    (0.95, False)
    """
    def ok(th):
        return all(sum(r.time_to(th) is not None for r in runs) >= math.ceil(share * len(runs) - 1e-9)
                   for runs in entries.values())

    if ok(preferred):
        return float(preferred), True
    for th in sorted((g for g in grid if g < preferred), reverse=True):
        if ok(th):
            return float(th), False
    return None, False


def throughput(run, samples_per_epoch: int) -> float:
    """Training samples per second of a run: epochs x samples over the time inside ``train_epoch``."""
    epochs = run.evals[-1][0] if run.evals else 0
    seconds = float(run.extras.get("train_seconds", float("nan")))
    return epochs * samples_per_epoch / seconds if seconds > 0 else float("nan")


def harness_fraction(run) -> float:
    """Share of a run's clocked time spent outside the benchmark's own methods (the harness's cost)."""
    inside = float(run.extras.get("benchmark_seconds", float("nan")))
    return (run.tta_s - inside) / run.tta_s if run.tta_s > 0 else float("nan")
