"""The statistical test behind a cascade's accuracy guarantee (Willump, arXiv 1906.01974, Section 4.1).

Willump accepts a cascade only "without statistically significant accuracy
loss".  The test here is McNemar's exact test on *paired* held-out predictions:
each held-out row is scored by the full pipeline and by the cascade; only the
discordant rows carry information, ``b`` (full right, cascade wrong) and ``c``
(full wrong, cascade right).  Under the null hypothesis that both are equally
accurate, ``b ~ Binomial(b + c, 1/2)``; the one-sided p-value is
``P(Binomial(b + c, 1/2) >= b)`` (small when the cascade is worse).

:func:`drop_upper_bound` turns the same counts into a non-inferiority
statement: the accuracy drop ``P(full right) - P(cascade right)`` equals
``P(b-type row) - P(c-type row) <= P(b-type row)``, and the exact
Clopper-Pearson upper bound on ``P(b-type row)`` from ``b`` of ``n`` rows holds
with probability ``>= 1 - alpha``.

For a score that is not a per-row correctness (ROC-AUC, a user's function),
:func:`paired_bootstrap_pvalue` gives the one-sided paired bootstrap p-value of
"the cascade scores no lower than the full pipeline".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

__all__ = ["McNemar", "mcnemar_exact", "paired_bootstrap_pvalue", "drop_upper_bound"]


@dataclass(frozen=True)
class McNemar:
    """Result of McNemar's exact one-sided test: discordant counts and the p-value."""

    b: int  # full right, cascade wrong
    c: int  # full wrong, cascade right
    pvalue: float


def mcnemar_exact(y_true, pred_full, pred_other) -> McNemar:
    """One-sided McNemar exact test that ``pred_other`` is less accurate than ``pred_full``.

    Examples
    --------
    >>> r = mcnemar_exact([1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0])
    >>> r.b, r.c, round(r.pvalue, 4)
    (2, 0, 0.25)
    """
    y, f, o = (np.asarray(a) for a in (y_true, pred_full, pred_other))
    fr, orr = f == y, o == y
    b = int(np.sum(fr & ~orr))
    c = int(np.sum(~fr & orr))
    p = 1.0 if b == 0 else float(binom.sf(b - 1, b + c, 0.5))
    return McNemar(b, c, min(1.0, p))


def paired_bootstrap_pvalue(score: Callable, y_true, proba_full, proba_other, n_boot: int = 200,
                            seed: int = 0) -> float:
    """One-sided paired bootstrap p-value of H0 "``proba_other`` scores no lower than ``proba_full``".

    Rows are resampled with replacement, the same rows for both; the p-value is
    ``(1 + #{resamples where the difference full - other, recentred at its
    observed value, reaches the observed difference}) / (n_boot + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.metrics import roc_auc_score
    >>> y = np.array([0, 1] * 50); p = np.where(y == 1, 0.8, 0.2)
    >>> paired_bootstrap_pvalue(lambda t, q: roc_auc_score(t, q[:, 1]), y, np.c_[1 - p, p], np.c_[1 - p, p])
    1.0
    """
    y = np.asarray(y_true)
    pf, po = np.asarray(proba_full), np.asarray(proba_other)
    observed = score(y, pf) - score(y, po)
    if observed <= 0:
        return 1.0
    rng = np.random.default_rng(seed)
    diffs = []
    n = len(y)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if len(np.unique(y[idx])) < 2:
            continue
        diffs.append(score(y[idx], pf[idx]) - score(y[idx], po[idx]))
    diffs = np.asarray(diffs)
    # null distribution: the bootstrap differences shifted to mean zero
    return float((1 + np.sum(diffs - observed >= observed)) / (len(diffs) + 1))


def drop_upper_bound(b: int, n: int, alpha: float) -> float:
    """Exact one-sided (1 - alpha) upper bound on the accuracy drop from ``b`` full-right/other-wrong rows of ``n``.

    The Clopper-Pearson bound on the rate of such rows, which is at least the
    accuracy drop (see the module docstring).

    Examples
    --------
    >>> round(drop_upper_bound(0, 3000, 0.05), 5)  # about 3 / n, the "rule of three"
    0.001
    """
    from scipy.stats import beta

    if b >= n:
        return 1.0
    return float(beta.ppf(1 - alpha, b + 1, n - b))
