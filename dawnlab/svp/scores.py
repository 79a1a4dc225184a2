"""Per-example selection scores: uncertainty, forgetting events, greedy k-centers.

These are the selection methods of Selection via Proxy (Coleman et al., arXiv
1906.11829, Section 3.1 "Data selection methods"):

- **Least confidence** ``1 - max_c p(c | x)``, **entropy**
  ``-sum_c p(c | x) log p(c | x)`` and **margin** ``p(c1 | x) - p(c2 | x)``
  (the top two classes) rank examples by the model's uncertainty.  For active
  learning the most uncertain unlabelled examples are labelled next; for core-set
  selection the most uncertain training examples are kept.
- **Forgetting events** (Toneva et al., 2019): an example is *forgotten* when it
  goes from correctly to wrongly classified between two consecutive times it is
  seen in training.  Core-set selection keeps the most forgotten examples;
  examples that are never learned rank first (their count is ``inf``).  Counts
  are small integers, so many examples tie; :func:`rank_order` breaks ties by a
  secondary score (for forgetting: how many presentations the example was
  misclassified at, more first) and only then by a seeded shuffle.
- **Greedy k-centers** (Sener and Savarese, 2018): repeatedly add the point
  farthest from everything chosen so far, in the penultimate-layer embedding; a
  2-approximation of the minimum covering radius.

:func:`priority` turns any of the uncertainty scores into "higher means select
first", the convention of the selection loops.
"""

from __future__ import annotations

import numpy as np

from dawnlab.errors import invalid

__all__ = ["least_confidence", "entropy", "margin", "priority", "forgetting_events", "rank_order",
           "k_center_greedy", "covering_radius", "UNCERTAINTY_METHODS"]

UNCERTAINTY_METHODS = ("least_confidence", "entropy", "margin")


def _check_probs(probs, owner: str) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] < 2:
        raise invalid("probs", owner, "a 2-d array (examples, classes) with at least 2 classes",
                      getattr(p, "shape", p))
    if not np.isfinite(p).all() or (p < 0).any():
        raise invalid("probs", owner, "finite and non-negative", "an array with NaN, inf or negative entries")
    return p


def least_confidence(probs) -> np.ndarray:
    """``1 - max_c p(c | x)`` per row; higher is more uncertain.

    Examples
    --------
    >>> least_confidence([[0.7, 0.2, 0.1], [1/3, 1/3, 1/3]]).round(4)
    array([0.3   , 0.6667])
    """
    return 1.0 - _check_probs(probs, "least_confidence").max(axis=1)


def entropy(probs) -> np.ndarray:
    """Shannon entropy in nats per row (``0 log 0 = 0``); higher is more uncertain.

    Examples
    --------
    >>> entropy([[0.5, 0.5], [1.0, 0.0]]).round(6)
    array([0.693147, 0.      ])
    """
    p = _check_probs(probs, "entropy")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)
    return 0.0 - terms.sum(axis=1) + 0.0  # + 0.0 turns -0.0 into 0.0


def margin(probs) -> np.ndarray:
    """Top-1 minus top-2 probability per row; *lower* is more uncertain.

    Examples
    --------
    >>> margin([[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]).round(4)
    array([0.5, 0. ])
    """
    p = np.sort(_check_probs(probs, "margin"), axis=1)
    return p[:, -1] - p[:, -2]


def priority(method: str, probs) -> np.ndarray:
    """Uncertainty as "higher means select first" for ``method``.

    Least confidence and entropy as they are; margin negated.

    Examples
    --------
    >>> priority("margin", [[0.7, 0.2, 0.1], [0.4, 0.4, 0.2]]).round(4)
    array([-0.5, -0. ])
    """
    if method == "least_confidence":
        return least_confidence(probs)
    if method == "entropy":
        return entropy(probs)
    if method == "margin":
        return -margin(probs)
    raise invalid("method", "priority", f"one of {UNCERTAINTY_METHODS}", method)


def forgetting_events(history) -> np.ndarray:
    """Count forgetting events per example from a correctness history.

    Parameters
    ----------
    history : array_like of bool, shape (presentations, examples)
        ``history[t, i]`` is whether example ``i`` was classified correctly the
        ``t``-th time it was seen in training (e.g. once per epoch).

    Returns
    -------
    numpy.ndarray of float
        Number of correct-to-wrong transitions per example; ``inf`` for an
        example never classified correctly (never learned), so that it ranks first.

    Examples
    --------
    >>> forgetting_events([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 1, 0]])
    array([ 2.,  0., inf])
    """
    h = np.asarray(history)
    if h.ndim != 2 or h.shape[0] < 1:
        raise invalid("history", "forgetting_events", "a 2-d array (presentations, examples) with >= 1 row",
                      getattr(h, "shape", h))
    h = h.astype(bool)
    counts = (h[:-1] & ~h[1:]).sum(axis=0).astype(np.float64)
    counts[~h.any(axis=0)] = np.inf
    return counts


def rank_order(primary, secondary=None, seed: int = 0) -> np.ndarray:
    """Indices from highest to lowest ``primary``; ties by ``secondary`` (higher first), then a seeded shuffle.

    Parameters
    ----------
    primary : array_like of float, shape (n,)
        The score ranked on (``inf`` allowed, NaN not).
    secondary : array_like of float, shape (n,), optional
        Breaks ties of ``primary``.
    seed : int
        Seeds the shuffle that breaks ties of both.

    Examples
    --------
    >>> rank_order([1, 3, 1, np.inf], secondary=[5, 0, 7, 0]).tolist()
    [3, 1, 2, 0]
    """
    a = np.asarray(primary, dtype=np.float64)
    if a.ndim != 1 or np.isnan(a).any():
        raise invalid("primary", "rank_order", "a 1-d array without NaN", getattr(a, "shape", a))
    b = np.zeros_like(a) if secondary is None else np.asarray(secondary, dtype=np.float64)
    if b.shape != a.shape or np.isnan(b).any():
        raise invalid("secondary", "rank_order", f"a 1-d array without NaN shaped like primary {a.shape}",
                      getattr(b, "shape", b))
    tie = np.random.default_rng(seed).permutation(len(a))
    return np.lexsort((tie, -b, -a))


def _check_features(features, owner: str) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise invalid("features", owner, "a non-empty 2-d array (points, dimensions)", getattr(x, "shape", x))
    if not np.isfinite(x).all():
        raise invalid("features", owner, "finite (no NaN or inf)", "an array with NaN or inf",
                      "Check the model's embeddings or the input data.")
    return x


def k_center_greedy(features, k: int, selected=(), seed: int = 0) -> np.ndarray:
    """Greedily pick ``k`` new centers, each the point farthest from all chosen.

    Parameters
    ----------
    features : array_like, shape (n, d)
        Embeddings of all points (labelled and unlabelled).
    k : int
        Number of new points to choose.
    selected : sequence of int
        Points already chosen (e.g. the labelled set).  When empty, the first
        center is drawn at random with ``seed``.
    seed : int
        Seed of that first draw.

    Returns
    -------
    numpy.ndarray of int
        The ``k`` new points in the order chosen.

    Raises
    ------
    InvalidArgument
        If ``k`` is negative or more than the unchosen points.

    Examples
    --------
    >>> x = [[0.0], [1.0], [10.0], [4.0]]
    >>> k_center_greedy(x, 2, selected=[0])
    array([2, 3])
    """
    x = _check_features(features, "k_center_greedy")
    n = len(x)
    chosen = np.unique(np.asarray(selected, dtype=np.int64))
    if chosen.size and (chosen.min() < 0 or chosen.max() >= n):
        raise invalid("selected", "k_center_greedy", f"indices in [0, {n})", chosen.tolist())
    if not isinstance(k, (int, np.integer)) or k < 0 or k > n - chosen.size:
        raise invalid("k", "k_center_greedy", f"an int in [0, {n - chosen.size}] (the unchosen points)", k)
    picks: list[int] = []
    if k == 0:
        return np.array(picks, dtype=np.int64)
    if chosen.size == 0:
        first = int(np.random.default_rng(seed).integers(n))
        picks.append(first)
        dist = np.linalg.norm(x - x[first], axis=1)
    else:
        dist = np.full(n, np.inf)
        sq = (x ** 2).sum(axis=1)
        for start in range(0, chosen.size, 256):
            block = chosen[start:start + 256]
            d2 = sq[:, None] + sq[block][None, :] - 2.0 * x @ x[block].T
            dist = np.minimum(dist, np.sqrt(np.maximum(d2, 0.0)).min(axis=1))
    # chosen points get -inf so that duplicates (distance 0) never re-pick one of them
    dist[chosen] = -np.inf
    if picks:
        dist[picks[0]] = -np.inf
    while len(picks) < k:
        nxt = int(np.argmax(dist))
        picks.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(x - x[nxt], axis=1))
        dist[nxt] = -np.inf
    return np.array(picks, dtype=np.int64)


def covering_radius(features, centers) -> float:
    """Largest distance from any point to its nearest center.

    Examples
    --------
    >>> covering_radius([[0.0], [1.0], [10.0], [4.0]], [0, 2])
    4.0
    """
    x = _check_features(features, "covering_radius")
    c = np.asarray(centers, dtype=np.int64)
    if c.size == 0:
        raise invalid("centers", "covering_radius", "a non-empty list of indices", list(c))
    d = np.linalg.norm(x[:, None, :] - x[c][None], axis=-1)
    return float(d.min(axis=1).max())
