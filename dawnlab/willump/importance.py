"""Cost and importance of each feature group (Willump, arXiv 1906.01974, Section 4.1).

A group's *cost* is the measured wall time of computing it, per row, on the
held-out rows.  Its *importance* is the permutation importance of its columns
taken together: the drop in the full model's held-out score when the rows of
that group's block are shuffled (one permutation for all of its columns, so
the group's joint distribution is kept while its link to the label is
broken), averaged over ``n_repeats`` permutations.

Scores are functions ``score(y_true, proba)`` where ``proba`` has one column per
class in the model's ``classes_`` order; :func:`make_score` builds them from the
names ``"accuracy"`` and ``"roc_auc"`` (one-vs-rest for several classes) or wraps
a user's callable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import scipy.sparse as sp

from dawnlab.errors import invalid
from dawnlab.willump.pipeline import hstack

__all__ = ["SCORES", "make_score", "permutation_importance"]

SCORES = ("accuracy", "roc_auc")


def make_score(score, classes) -> Callable:
    """A function ``f(y_true, proba) -> float`` (higher is better) for a score name or callable.

    Examples
    --------
    >>> import numpy as np
    >>> f = make_score("accuracy", np.array([0, 1]))
    >>> f(np.array([0, 1, 1]), np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]))
    0.666...
    """
    classes = np.asarray(classes)
    if callable(score):
        return score
    if score == "accuracy":
        return lambda y, p: float(np.mean(classes[np.argmax(p, axis=1)] == np.asarray(y)))
    if score == "roc_auc":
        from sklearn.metrics import roc_auc_score

        if len(classes) == 2:
            return lambda y, p: float(roc_auc_score(np.asarray(y) == classes[1], p[:, 1]))
        return lambda y, p: float(roc_auc_score(y, p, multi_class="ovr", labels=classes))
    raise invalid("score", "Willump", f"one of {list(SCORES)} or a callable f(y_true, proba)", score)


def _permute_rows(block, perm):
    return block[perm] if not sp.issparse(block) else sp.csr_matrix(block)[perm]


def permutation_importance(model, blocks: Mapping[str, object], names: Sequence[str], y, score: Callable,
                           n_repeats: int = 3, seed: int = 0) -> dict[str, float]:
    """Drop in ``score`` when each group's block is row-permuted, averaged over ``n_repeats`` permutations.

    Parameters
    ----------
    model : fitted estimator with ``predict_proba``
        The full model, fitted on the groups ``names`` in this order.
    blocks : mapping of str to block
        Each group's held-out features.
    names : sequence of str
        The groups, in the model's column order.
    y : array
        Held-out labels.
    score : callable
        ``score(y, proba)``, higher is better (see :func:`make_score`).
    n_repeats : int
        Permutations per group.
    seed : int
        Seed of the permutations (``np.random.default_rng``).

    Returns
    -------
    dict of str to float
        The importance of each group (may be negative when shuffling helps by chance).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0); a, b = rng.normal(size=(200, 1)), rng.normal(size=(200, 1))
    >>> y = (a[:, 0] > 0).astype(int); m = LogisticRegression().fit(np.hstack([a, b]), y)
    >>> imp = permutation_importance(m, {"a": a, "b": b}, ["a", "b"], y, make_score("accuracy", m.classes_))
    >>> imp["a"] > 0.3 > abs(imp["b"])
    True
    """
    if not isinstance(n_repeats, (int, np.integer)) or n_repeats < 1:
        raise invalid("n_repeats", "permutation_importance", "a positive int", n_repeats)
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    base = score(y, model.predict_proba(hstack([blocks[n] for n in names])))
    n = len(y)
    out = {}
    for name in names:
        drops = []
        for _ in range(n_repeats):
            perm = rng.permutation(n)
            shuffled = [(_permute_rows(blocks[m], perm) if m == name else blocks[m]) for m in names]
            drops.append(base - score(y, model.predict_proba(hstack(shuffled))))
        out[name] = float(np.mean(drops))
    return out
