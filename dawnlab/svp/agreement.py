"""How alike two models rank examples: Spearman, Kendall and top-k overlap.

Selection via Proxy (Coleman et al., arXiv 1906.11829) rests on the observation
that a small proxy, though less accurate, orders examples much like the target
does (Section 4.4 and Figure 3: Spearman's rank correlation between the
uncertainty rankings of proxies and the target).  :func:`rank_agreement`
compares two score vectors; :func:`pool_scores` trains several learners on one
labelled subset and scores the rest of the pool; :func:`agreement_matrix`
gives the pairwise table that a heat map draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from dawnlab.errors import invalid
from dawnlab.svp.learner import Learner, warm_up
from dawnlab.svp.pool import SVPError, as_tensors, derive_seed, split_pool, torch_threads
from dawnlab.svp.scores import UNCERTAINTY_METHODS, priority

__all__ = ["RankAgreement", "rank_agreement", "top_k_overlap", "pool_scores", "agreement_matrix"]


@dataclass(frozen=True)
class RankAgreement:
    """Spearman's rho, Kendall's tau-b and the top-k overlap of two rankings."""

    spearman: float
    kendall: float
    top_k_overlap: float
    k: int


def _check_scores(a, b, owner: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise invalid("scores_b", owner, f"a 1-d array shaped like scores_a {a.shape}", b.shape, cls=SVPError)
    if len(a) < 2:
        raise invalid("scores_a", owner, "at least 2 scores", len(a), cls=SVPError)
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise invalid("scores_a", owner, "finite scores (no NaN or inf)", "NaN or inf present",
                      "Drop examples that one model did not score.", cls=SVPError)
    return a, b


def top_k_overlap(scores_a, scores_b, k: int) -> float:
    """Share of the ``k`` highest under ``scores_a`` that are also among the ``k`` highest under ``scores_b``.

    Ties at the cut are broken by index (a stable sort), the same way for both.

    Examples
    --------
    >>> top_k_overlap([4, 3, 2, 1], [4, 1, 3, 2], k=2)
    0.5
    """
    a, b = _check_scores(scores_a, scores_b, "top_k_overlap")
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= len(a):
        raise invalid("k", "top_k_overlap", f"an int in [1, {len(a)}]", k, cls=SVPError)
    top_a = np.argsort(-a, kind="stable")[:k]
    top_b = np.argsort(-b, kind="stable")[:k]
    return len(np.intersect1d(top_a, top_b)) / k


def rank_agreement(scores_a, scores_b, k: int | float = 0.1) -> RankAgreement:
    """Compare two per-example score vectors.

    Parameters
    ----------
    scores_a, scores_b : array_like of float, shape (n,)
        Scores of the same examples by two models (higher = ranked first).
    k : int or float
        Top-k size for the overlap: an int count, or a fraction of ``n``.

    Returns
    -------
    RankAgreement

    Raises
    ------
    SVPError
        If the vectors differ in shape, hold NaN or inf, either is constant
        (its rank correlation is undefined), or ``k`` is out of range.

    Examples
    --------
    >>> r = rank_agreement([1, 2, 3, 4, 5], [2, 1, 4, 3, 5], k=2)
    >>> round(r.spearman, 3), round(r.kendall, 3), r.top_k_overlap
    (0.8, 0.6, 0.5)
    """
    a, b = _check_scores(scores_a, scores_b, "rank_agreement")
    rule = f"an int in [1, {len(a)}] or a fraction in (0, 1]"
    if isinstance(k, bool) or not isinstance(k, (int, np.integer, float, np.floating)):
        raise invalid("k", "rank_agreement", rule, k, cls=SVPError)
    if isinstance(k, (float, np.floating)) and not 0 < k <= 1:
        raise invalid("k", "rank_agreement", rule, k, "Write a count as an int, e.g. k=5.", cls=SVPError)
    kk = int(k) if isinstance(k, (int, np.integer)) else max(1, int(round(k * len(a))))
    if not 1 <= kk <= len(a):
        raise invalid("k", "rank_agreement", rule, k, cls=SVPError)
    for arg, v in (("scores_a", a), ("scores_b", b)):
        if np.all(v == v[0]):
            raise invalid(arg, "rank_agreement", "scores that are not all equal (a rank correlation needs two "
                          "distinct values)", f"all {len(v)} scores equal to {v[0]:g}",
                          "A constant score ranks nothing: check that the model was trained.", cls=SVPError)
    rho = stats.spearmanr(a, b).statistic
    tau = stats.kendalltau(a, b).statistic
    return RankAgreement(float(rho), float(tau), top_k_overlap(a, b, int(kk)), int(kk))


def pool_scores(learners: dict[str, Learner], dataset, method: str = "least_confidence",
                labelled: float = 0.1, seed: int = 0, threads: int | None = 1,
                test_fraction: float = 0.2) -> dict:
    """Train each learner on the same random labelled subset and score the rest.

    Parameters
    ----------
    learners : dict of str to Learner
        Models to compare, by name (e.g. ``{"target": ..., "proxy": ...}``).
    dataset : LabelledArrays, torch Dataset or (X, y)
        The data; ``test_fraction`` of it is held out for accuracies.
    method : {"least_confidence", "entropy", "margin"}
        Uncertainty score (higher = more uncertain).
    labelled : float
        Fraction of the pool used for training.
    seed : int
        Seeds the split, the labelled subset and the training.

    Returns
    -------
    dict
        ``{"scores": {name: array over the unlabelled pool}, "accuracy": {name: float},
        "seconds": {name: float}, "unlabelled": data-set indices scored}``.
    """
    if not learners or not all(isinstance(v, Learner) for v in learners.values()):
        raise invalid("learners", "pool_scores", "a non-empty dict of name -> Learner", learners, cls=SVPError)
    if method not in UNCERTAINTY_METHODS:
        raise invalid("method", "pool_scores", f"one of {UNCERTAINTY_METHODS}", method, cls=SVPError)
    if not 0 < labelled < 1:
        raise invalid("labelled", "pool_scores", "a fraction in (0, 1)", labelled, cls=SVPError)
    import time

    X, y = as_tensors(dataset, "pool_scores")
    pool, test = split_pool(len(X), test_fraction, seed)
    rng = np.random.default_rng(derive_seed(seed, "labelled"))
    perm = rng.permutation(pool)
    n_lab = max(2, int(round(labelled * len(pool))))
    lab, unl = np.sort(perm[:n_lab]), np.sort(perm[n_lab:])
    num_classes = int(y.max()) + 1
    out = {"scores": {}, "accuracy": {}, "seconds": {}, "unlabelled": unl}
    warm_up()
    with torch_threads(threads):
        for name, learner in learners.items():
            start = time.perf_counter()
            fitted = learner.fit(X[lab], y[lab], num_classes, derive_seed(seed, "fit", name))
            out["seconds"][name] = time.perf_counter() - start
            out["scores"][name] = priority(method, fitted.predict_proba(X[unl]))
            out["accuracy"][name] = fitted.accuracy(X[test], y[test])
    return out


def agreement_matrix(scores: dict[str, np.ndarray], statistic: str = "spearman", k: int | float = 0.1):
    """Pairwise agreement of named score vectors as a square pandas DataFrame.

    Examples
    --------
    >>> m = agreement_matrix({"a": [1, 2, 3], "b": [1, 2, 3], "c": [3, 2, 1]})
    >>> float(m.loc["a", "b"]), float(m.loc["a", "c"])
    (1.0, -1.0)
    """
    import pandas as pd

    if statistic not in ("spearman", "kendall", "top_k_overlap"):
        raise invalid("statistic", "agreement_matrix", "'spearman', 'kendall' or 'top_k_overlap'", statistic,
                      cls=SVPError)
    names = list(scores)
    m = pd.DataFrame(np.eye(len(names)), index=names, columns=names)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            v = getattr(rank_agreement(scores[a], scores[b], k), statistic)
            m.loc[a, b] = m.loc[b, a] = round(float(v), 12)
    return m
