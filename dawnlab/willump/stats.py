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
with probability ``>= 1 - alpha``.  :func:`paired_drop_upper_bound` is the
sharper bound the optimizer uses: the drop is exactly ``P(b-type) - P(c-type)``,
so the Clopper-Pearson upper bound on the first (level ``alpha / 2``) minus the
Clopper-Pearson lower bound on the second (level ``alpha / 2``) is an upper
bound on the drop with probability ``>= 1 - alpha`` (a union bound over the two
one-sided intervals).  It credits the rows the cascade gets right and the full
model wrong, which the ``b``-only bound ignores.

For a score that is not a per-row correctness (ROC-AUC, a user's function),
:func:`paired_bootstrap_pvalue` gives the one-sided paired bootstrap p-value of
"the cascade scores no lower than the full pipeline".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

from dawnlab.errors import invalid

__all__ = ["McNemar", "mcnemar_exact", "paired_bootstrap_pvalue", "drop_upper_bound", "paired_drop_upper_bound"]


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


def paired_drop_upper_bound(b: int, c: int, n: int, alpha: float) -> float:
    """Exact one-sided (1 - alpha) upper bound on the accuracy drop ``P(b-type) - P(c-type)`` from paired counts.

    ``b`` rows of ``n`` are right for the full model and wrong for the other,
    ``c`` the reverse.  The bound is the Clopper-Pearson upper bound on the
    rate of ``b``-type rows at level ``alpha / 2`` minus the Clopper-Pearson
    lower bound on the rate of ``c``-type rows at level ``alpha / 2``; each
    fails with probability at most ``alpha / 2``, so both hold, and the bound
    covers the true drop, with probability ``>= 1 - alpha``.

    Examples
    --------
    >>> round(paired_drop_upper_bound(0, 0, 3000, 0.05), 5)
    0.00123
    >>> paired_drop_upper_bound(4, 4, 7000, 0.05) < drop_upper_bound(4, 7000, 0.05 / 2)
    True
    """
    from scipy.stats import beta

    for name, v in (("b", b), ("c", c), ("n", n)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise invalid(name, "paired_drop_upper_bound", "an int >= 0", v)
    if b + c > n or n == 0:
        raise invalid("n", "paired_drop_upper_bound", f"at least b + c = {b + c} and positive", n)
    if not (0 < alpha < 1):
        raise invalid("alpha", "paired_drop_upper_bound", "in (0, 1)", alpha)
    upper_b = 1.0 if b >= n else float(beta.ppf(1 - alpha / 2, b + 1, n - b))
    lower_c = 0.0 if c == 0 else float(beta.ppf(alpha / 2, c, n - c + 1))
    return upper_b - lower_c
