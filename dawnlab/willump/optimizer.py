"""The Willump optimizer: cascades, top-K plans and cached point queries (arXiv 1906.01974, Sections 4-5).

:class:`Willump` is configured once and tuned by :meth:`Willump.fit`:

1. The data are split (stratified) into a training part and a held-out part
   (``holdout``).  Every group is fitted on the training part; its cost is the
   measured wall time per held-out row; its importance is the permutation
   importance of its columns for the full model on the held-out rows
   (:mod:`dawnlab.willump.importance`).  With ``cv=K`` the tuning rows are
   instead *every* row, by ``K``-fold cross-fitting: each fold's groups and
   models are fitted on the other folds and score that fold, and the steps
   below run on the pooled out-of-fold predictions (costs and importances
   pooled over folds).  This is not in the paper; it gives the tests all the
   rows instead of a fraction, and tunes on models trained on ``(K-1)/K`` of
   the rows, closer to the refitted ones: on one seed's fitting half of the
   tweets, small models refitted on 2.5 times the rows of the held-out
   split's were confident on 1.5-9 points more new rows at thresholds of
   0.675 and above, and there disagreed with the full model on rows where
   the tuned ones had not.
2. For each cost cutoff (10%..60% of the full cost by default) the exact 0/1
   knapsack (:func:`~dawnlab.willump.knapsack.knapsack`) picks the groups of
   largest total importance within it; a *small model* is trained on each such
   subset.  The costs are wall times of computing the groups on the held-out
   features, so no held-out label enters them; the importances are computed
   from the held-out labels, so the subsets tried are chosen from the very
   rows that then test them (why the test of 4 still holds is said there).
3. For each confidence threshold ``t`` (0.6..1.0) a held-out row is confident
   when the small model's largest class probability is ``>= t``; the cascade
   answers those rows with the small model and sends the rest to the full
   model.  Expected cost per row is ``cost(subset) + small + (1 - f) *
   (cost(rest) + full)`` with ``f`` the confident fraction and ``small``,
   ``full`` the measured per-row prediction times of the two models (the
   reference's ``f * cost(subset) + (1 - f) * cost(all)`` plus model time).
4. **The accuracy guarantee.**  A (subset, threshold) is accepted only if a
   one-sided test at level ``alpha`` (default 0.05) does *not* find the cascade
   worse than the full model on the paired held-out predictions: McNemar's
   exact test for ``score="accuracy"``, the paired bootstrap test of
   :func:`~dawnlab.willump.stats.paired_bootstrap_pvalue` for other scores.
   Not rejecting is not a proof of no loss, so with ``max_drop`` set (accuracy
   only) a candidate must also pass a non-inferiority test, and this is the
   stated guarantee: **with probability at least** ``1 - alpha`` **over the
   held-out rows, every accepted candidate, the chosen one included, has a
   true accuracy drop against the full model of at most** ``max_drop``.  The
   drop ``P(full right, cascade wrong) - P(full wrong, cascade right)`` is
   bounded by :func:`~dawnlab.willump.stats.paired_drop_upper_bound` (exact
   Clopper-Pearson bounds on both discordant rates).  Within one subset the
   thresholds are tested in a fixed order, from the highest (the cascade
   closest to the full model) down, each at level ``alpha / S``, and the
   sequence stops at the first bound above ``max_drop`` (fixed-sequence
   testing, which controls the family-wise error at ``alpha / S`` without
   splitting it over thresholds).

   **S counts every subset that could be tested, not the ones that are.**
   ``S = 2**G - 2`` for ``G`` groups: every proper non-empty subset, which is
   every cheap subset a cascade can have (``cascade_.family_size``; 2 for the
   tweets' two groups, 6 for the letters' three), although only the
   knapsack's picks get a small model and a test.  The picks depend on the
   importances, which are measured on the same held-out rows (with ``cv``,
   on the same pooled out-of-fold rows) that the tests then use, so a divisor
   counting only the picks would rest on a family chosen from the data that
   test it, which the argument below does not cover.  The family of all
   ``S`` subsets is fixed by the pipeline before any row is seen, and a
   union bound over it needs nothing about how the tested members were
   picked: for each of the ``S`` subsets, tested or not (its small model
   would be fitted on the training part alone, so it is fixed given that
   part), the chance over the held-out rows that its fixed sequence accepts
   a threshold truly losing more than ``max_drop`` is at most ``alpha / S``,
   so with probability at least ``1 - alpha`` this happens for none of them,
   the tested ones included, whatever importances, costs or labels chose
   them.  The other way out, importance from rows the tests do not use,
   would keep ``S`` at the number of picks (one on the tweets, where the
   chars group alone costs 96%) but take rows from the fitting or the
   testing; the divisor costs little here: on the tweets benchmark (seed 0,
   ``benchmarks/willump.py --no-letters``) ``S = 2`` chose the same settings
   (60% held out, margin 0.001) and threshold (0.775) as ``S = 1`` had;
   over its 7 fits (6 in the settings search, the final one) and 5 margins,
   the cheapest accepted threshold moved in 7 of the 35, each by one step
   of 0.025.  McNemar's non-rejection stays at level ``alpha`` for every
   candidate: it only refuses candidates, so it is no part of the guarantee.

   **What is deployed is what was tested.**  The guarantee is about fixed
   models and new rows drawn like the held-out ones, so by default
   (``refit=False``) ``fit`` deploys exactly the groups, small models and
   full model that were fitted on the training part and tested on the
   held-out part, which they never saw (``cascade_.deployed_as_tested`` is
   True).  Conditional on the training part those models are fixed and the
   held-out rows are independent draws, which is all each subset's exact
   bounds need; the choice of which subsets are tested is covered by the
   union bound over all ``S`` above.
   The unoptimized pipeline of :meth:`predict_proba_full` is that same full
   model, so a comparison of the cascade against it is on equal terms; the
   price of the design is that both are fitted on ``1 - holdout`` of the
   rows (``benchmarks/willump.py`` reports the accuracy of a full pipeline
   fitted on every fitting row beside them).  A seeded test runs ``fit``
   over 150 draws per case, binary, three-class and an adversarial law whose
   cheap features are confidently wrong on a slice, and checks that the
   true drop of every accepted candidate, measured on 200,000 new rows,
   exceeds ``max_drop`` in at most ``alpha`` of the draws (plus simulation
   slack).  ``refit=True`` (the paper's way, and needed by ``cv``) refits
   groups and models on all rows after tuning, and **the guarantee does not
   cover that cascade** (``deployed_as_tested`` is False; with ``cv`` the
   bounds use the same ``S`` and levels, but the pooled rows are scored by
   fold models that were fitted on the other folds' rows, so they are not
   independent draws for one fixed model either): models fitted on
   more rows are more confident, so at the tuned threshold the refitted
   cascade answers more rows itself and disagrees with its full model on
   more of them.  Measured on the binary tweets (fitting half 11,570 rows,
   final split 11,570): tuned on 50% held out, the refitted cascades
   answered 1.3-2.6 points more rows themselves and had up to 3.5x the
   full-right/cascade-wrong rows of the tested ones at the same thresholds,
   on four seeds; tuned by 3-fold cross-fitting (``cv``, where every row
   tunes but each fold's rows are scored by different models, and no single
   tested model exists to deploy) on seed 3, the fold models had about 7
   full-right/cascade-wrong rows each on the final split, the refitted pair
   17.  Note that the guarantee bounds the drop by ``max_drop``; it does not
   promise that a later McNemar test finds no loss: a cascade that is wrong
   where the full model is right on 0.0005 of rows, and never the other
   way, is significant at 0.05 on a final split of 10,000 rows in 56% of
   draws (5 such rows and none the other way give ``p = 1/32``).
   The accepted candidate of least expected cost is chosen; when none is
   accepted and cheaper than the full pipeline, or with ``cascade=False``
   (what :func:`~dawnlab.willump.tuning.select_settings` returns when no
   setting passes its check), there is no cascade: every row gets all
   features and the full model, and ``cascade_.reason`` says why.
   :meth:`Willump.cascade_for` re-reads the same table for another margin, and :func:`dawnlab.willump.tuning.select_settings` chooses
   ``holdout`` and ``max_drop`` by cross-validation on the fitting rows.  The
   rule of the authors' code (held-out accuracy within ``reference_tolerance``
   of the full model, no test) is computed too and reported in
   ``cascade_.reference``.
5. **Top-K.**  For each candidate subset, ``c`` is the smallest ratio in a grid
   such that, in at least ``topk_quantile`` (99%) of ``topk_bootstrap`` (100)
   bootstrap resamples of the held-out rows, the full model's top-K lies in the
   small model's top ``c*K`` with precision ``>= topk_precision`` (0.95); ``K`` is
   ``topk_fraction`` of the held-out rows.  The subset of least expected cost
   ``cost(subset) + min(1, c*K/n) * cost(rest)`` is the plan.
6. Only with ``refit=True`` are the groups and both models refitted on all
   rows (thresholds, ``c`` and the subsets stay as tuned; not covered by the
   guarantee, see 4).

Inference (:meth:`Willump.predict_proba`) computes the cheap groups for every
row and the other groups only for the rows the small model is unsure of.  A
one-row call is a point query: it exits after the cheap groups when the small
model is confident.  Groups marked ``cacheable`` keep their rows in a per-group
:class:`~dawnlab.willump.cache.LRUCache` keyed by the group's input value.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.base import clone
from tqdm.auto import tqdm

from dawnlab.errors import invalid
from dawnlab.willump.cache import LRUCache
from dawnlab.willump.errors import FeatureGroupError, NotFittedError
from dawnlab.willump.importance import SCORES, make_score, permutation_importance
from dawnlab.willump.knapsack import knapsack
from dawnlab.willump.pipeline import Pipeline, _select, check_X, check_Xy, n_rows, take_rows, vstack
from dawnlab.willump.stats import mcnemar_exact, paired_bootstrap_pvalue, paired_drop_upper_bound

__all__ = ["Willump", "fixed_sequence", "family_size", "Cascade", "TopKPlan", "TopK", "DEFAULT_THRESHOLDS", "DEFAULT_CUTOFFS", "C_GRID"]

DEFAULT_CUTOFFS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
DEFAULT_THRESHOLDS = tuple(round(t, 3) for t in np.arange(0.6, 1.0001, 0.025))
C_GRID = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0,
          75.0, 100.0)



# Costs are measured wall times.  A feature pass on the held-out rows that takes under RETIME_BELOW_S is
# repeated RETIMES more times and each group keeps its fastest pass; model predictions are timed RETIMES + 1
# times, fastest kept.  One context switch would otherwise outweigh a short timing and flip the plan.
RETIME_BELOW_S = 0.2
RETIMES = 2

TABLE_COLUMNS = ["groups", "subset_cost", "threshold", "frac_confident", "score", "score_full", "pvalue", "b", "c",
                 "drop_bound", "expected_cost", "noninferior", "accepted", "reference_accepted"]


def _fastest_predict(model, M):
    """``model.predict_proba(M)`` and its fastest wall time over ``RETIMES + 1`` runs."""
    best, out = float("inf"), None
    for _ in range(RETIMES + 1):
        t0 = time.perf_counter()
        out = model.predict_proba(M)
        best = min(best, time.perf_counter() - t0)
    return out, best


@dataclass
class Cascade:
    """The chosen cascade (``groups`` empty when there is none) and the evidence for it.

    ``reason`` is ``"chosen"`` (the accepted candidate of least expected
    cost), ``"none accepted"`` (no accepted candidate is cheaper than the full
    pipeline) or ``"disabled"`` (``Willump(cascade=False)``).
    ``deployed_as_tested`` is True when the deployed models are the tested ones
    (``refit=False``), the only case the ``max_drop`` guarantee covers.
    ``family_size`` is ``S``, the Bonferroni divisor of the drop bounds: every
    proper non-empty subset of the groups, tested or not (see the module
    docstring, step 4).
    """

    groups: tuple[str, ...]
    rest: tuple[str, ...]
    threshold: float
    test: str
    alpha: float
    pvalue: float
    discordant: tuple[int, int] | None  # McNemar's (b, c): full right/cascade wrong, full wrong/cascade right
    score_full: float
    score_cascade: float
    frac_confident: float
    drop_bound: float  # (1 - alpha / S) upper bound on the accuracy drop, S = family_size (NaN for other scores)
    expected_cost: float
    full_cost: float
    reference: dict
    table: pd.DataFrame = field(repr=False)
    deployed_as_tested: bool = False  # True when refit=False: the stated guarantee is about the deployed cascade
    reason: str = ""  # why this cascade, or why none: "chosen", "none accepted", "disabled"
    family_size: int = 0  # S = 2**G - 2: every proper non-empty subset of the G groups, tested or not

    @property
    def expected_speedup(self) -> float:
        return self.full_cost / self.expected_cost if self.expected_cost > 0 else float("inf")

    @property
    def active(self) -> bool:
        return bool(self.groups)


@dataclass
class TopKPlan:
    """The top-K plan: the small model's groups, the tuned ratio ``c`` and the precision curve."""

    groups: tuple[str, ...]
    c: float
    k_tuned: int
    rows_tuned: int
    expected_cost: float
    curve: pd.DataFrame = field(repr=False)


class TopK(NamedTuple):
    """Result of :meth:`Willump.top_k`: row positions, best first, their full-model scores, rows fully scored."""

    indices: np.ndarray
    scores: np.ndarray
    rows_scored_full: int


def family_size(n_groups: int) -> int:
    """``S``, the number of cheap subsets the drop bounds are Bonferroni-corrected for: ``2**G - 2`` for ``G`` groups.

    Every proper non-empty subset of the groups counts, whether or not the
    knapsack picks it, because the picks are made from importances measured
    on the held-out rows that the tests use (module docstring, step 4).  At
    least 1, so that a one-group pipeline (no cheap subset) divides by 1.

    Examples
    --------
    >>> family_size(2), family_size(3)
    (2, 6)
    """
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or n_groups < 1:
        raise invalid("n_groups", "family_size", "an int >= 1", n_groups)
    return max(1, 2 ** int(n_groups) - 2)


def fixed_sequence(table: pd.DataFrame, max_drop: float | None) -> np.ndarray:
    """Which candidates the fixed-sequence non-inferiority test accepts, in the order of ``table``'s rows.

    Within each subset (``table.groups``) the thresholds are taken from the
    highest down; a threshold passes when its ``drop_bound`` and that of
    every higher threshold of the subset are ``<= max_drop``: the first
    failure ends the subset's sequence.  Each bound being a valid upper bound
    at some level ``a``, the chance that any passing candidate of a subset
    truly loses more than ``max_drop`` is at most ``a``.  With ``max_drop``
    None every candidate passes.

    Examples
    --------
    >>> t = pd.DataFrame({"groups": [("a",)] * 3, "threshold": [0.9, 0.8, 0.7], "drop_bound": [0.01, 0.03, 0.01]})
    >>> fixed_sequence(t, 0.02).tolist()
    [True, False, False]
    """
    ok = np.ones(len(table), dtype=bool)
    if max_drop is None or not len(table):
        return ok
    keys = [tuple(g) if isinstance(g, (tuple, list)) else g for g in table["groups"]]
    thresholds, bounds = table["threshold"].to_numpy(), table["drop_bound"].to_numpy()
    for key in dict.fromkeys(keys):
        rows = np.array([i for i, k in enumerate(keys) if k == key])
        order = rows[np.argsort(-thresholds[rows], kind="stable")]
        ok[order] = np.cumprod(bounds[order] <= max_drop).astype(bool)
    return ok


def _ranked(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest scores, best first, ties broken by the lower position."""
    order = np.lexsort((np.arange(len(scores)), -scores))
    return order[:k]


def _row_key(v):
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    if isinstance(v, list):
        return tuple(v)
    return v


class Willump:
    """Statistically-aware optimizer of an inference pipeline: cascades, top-K and cached point queries.

    Parameters
    ----------
    pipeline : Pipeline
        The groups and model (unfitted or fitted; a fresh copy is fitted).
    score : {"accuracy", "roc_auc"} or callable
        Held-out score; a callable gets ``(y_true, proba)`` with columns in class order.
    alpha : float
        Level of the one-sided test that guards accuracy (see the module docstring).
    cost_cutoffs, thresholds : sequences of float
        Knapsack budgets (fractions of the full cost) and confidence thresholds tried.
    holdout : float
        Fraction of ``fit``'s rows held out for tuning (the paper's single split).
    cv : int, optional
        Tune on ``cv``-fold cross-fitting instead: every row is a tuning row,
        scored by models fitted on the other folds (``holdout`` is then unused;
        needs ``refit=True``).
    refit : bool
        Refit groups and models on all rows after tuning (the paper's way).
        Off by default: then the deployed models are the tested ones, and the
        ``max_drop`` guarantee is about the deployed cascade; it does not
        cover a refitted one (see the module docstring).
    cascade : bool
        With False, deploy no cascade whatever the table says (every row
        gets the full pipeline; the candidates and the top-K plan are still
        tuned and reported); ``cascade_.reason`` is ``"disabled"``.
    n_repeats : int
        Permutations per group for importance.
    n_boot : int
        Resamples of the paired bootstrap test (scores other than accuracy).
    topk_fraction, topk_precision, topk_bootstrap, topk_quantile : float, float, int, float
        Top-K tuning: ``K`` as a fraction of held-out rows, the precision required,
        the resamples, and the fraction of them that must reach it.
    topk_class : label, optional
        The class whose probability ranks rows (default: the last class).
    cache_entries, cache_bytes : int, optional
        Bound of each cacheable group's LRU cache (no cache when both are None).
    max_drop : float, optional
        Non-inferiority margin (accuracy only): accept only candidates that the
        fixed-sequence test shows to lose at most this much accuracy (see the
        module docstring for the guarantee).
    reference_tolerance : float
        Accuracy tolerance of the authors' rule, reported beside the test's choice.
    seed : int
        Seed of the split, the permutations and the bootstraps.
    progress : bool
        Show a progress bar during ``fit``.
    checkpoint_dir : path-like, optional
        Save each finished stage of ``fit`` here and resume from them (see :meth:`fit`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from dawnlab.willump import Pipeline, FeatureGroup
    >>> rng = np.random.default_rng(0); X = rng.normal(size=(600, 4)); y = (X[:, 0] + 0.3 * X[:, 1] > 0).astype(int)
    >>> pipe = Pipeline({"a": FeatureGroup("a", "passthrough", [0]), "b": FeatureGroup("b", "passthrough", [1, 2, 3])},
    ...                 LogisticRegression())
    >>> w = Willump(pipe, progress=False).fit(X, y)
    >>> list(w.groups_.columns)
    ['group', 'cost_per_row_s', 'cost_share', 'importance', 'selected', 'cacheable', 'lookup']
    >>> w.predict(X[:3]).shape
    (3,)
    """

    def __init__(self, pipeline: Pipeline, *, score: str | Callable = "accuracy", alpha: float = 0.05,
                 cost_cutoffs: Sequence[float] = DEFAULT_CUTOFFS, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 holdout: float = 0.25, refit: bool = False, cascade: bool = True, n_repeats: int = 3, n_boot: int = 200,
                 topk_fraction: float = 0.01, topk_precision: float = 0.95, topk_bootstrap: int = 100,
                 topk_quantile: float = 0.99, topk_class: Any = None, cache_entries: int | None = None,
                 cache_bytes: int | None = None, max_drop: float | None = None,
                 reference_tolerance: float = 0.001, seed: int = 0,
                 progress: bool = True, checkpoint_dir=None, cv: int | None = None):
        own = "Willump"
        if not isinstance(pipeline, Pipeline):
            raise invalid("pipeline", own, "a dawnlab.willump.Pipeline (Pipeline.from_sklearn converts one)",
                          type(pipeline).__name__)
        if not callable(score) and score not in SCORES:
            raise invalid("score", own, f"one of {list(SCORES)} or a callable f(y_true, proba)", score)
        if not (0 < alpha < 1):
            raise invalid("alpha", own, "in (0, 1)", alpha)
        if not cost_cutoffs or not all(0 < c < 1 for c in cost_cutoffs):
            raise invalid("cost_cutoffs", own, "a non-empty list of fractions in (0, 1)", cost_cutoffs)
        if not thresholds or not all(0 < t <= 1 for t in thresholds):
            raise invalid("thresholds", own, "a non-empty list of probabilities in (0, 1]", thresholds)
        if not (0 < holdout < 1):
            raise invalid("holdout", own, "a fraction in (0, 1)", holdout)
        if not (0 < topk_fraction <= 1):
            raise invalid("topk_fraction", own, "a fraction in (0, 1]", topk_fraction)
        if not (0 < topk_precision <= 1) or not (0 < topk_quantile <= 1):
            raise invalid("topk_precision", own, "in (0, 1] (and topk_quantile too)", (topk_precision, topk_quantile))
        if max_drop is not None and (score != "accuracy" or not (0 < max_drop < 1)):
            raise invalid("max_drop", own, "None, or a fraction in (0, 1) with score='accuracy'", max_drop)
        if cache_entries is not None or cache_bytes is not None:
            LRUCache(cache_entries, cache_bytes)  # validates the bounds
        if cv is not None and (isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2 or not refit):
            raise invalid("cv", own, "None, or an int >= 2 with refit=True (no single tuned model to keep)", cv)
        self.pipeline, self.score, self.alpha = pipeline, score, float(alpha)
        self.cost_cutoffs, self.thresholds = tuple(cost_cutoffs), tuple(sorted(thresholds))
        self.holdout, self.refit, self.n_repeats, self.n_boot = holdout, refit, n_repeats, n_boot
        self.topk_fraction, self.topk_precision = topk_fraction, topk_precision
        self.topk_bootstrap, self.topk_quantile, self.topk_class = topk_bootstrap, topk_quantile, topk_class
        self.cache_entries, self.cache_bytes = cache_entries, cache_bytes
        self.reference_tolerance, self.seed, self.progress = reference_tolerance, seed, progress
        self.max_drop = max_drop
        if not isinstance(cascade, (bool, np.bool_)):
            raise invalid("cascade", own, "True or False", cascade)
        self.cascade = bool(cascade)
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.cv = cv
        self.pipeline_: Pipeline | None = None

    # -- tuning ------------------------------------------------------------
    def _config(self) -> dict:
        """Everything that decides what ``fit`` computes (the checkpoint folder is keyed by it and the data)."""
        return {k: getattr(self, k) for k in ("score", "alpha", "cost_cutoffs", "thresholds", "holdout", "refit",
                                              "n_repeats", "n_boot", "topk_fraction", "topk_precision",
                                              "topk_bootstrap", "topk_quantile", "topk_class", "max_drop",
                                              "reference_tolerance", "seed", "cv", "cascade")} | {
            "pipeline": self.pipeline,
            # the drop bounds saved with the candidates divide alpha by this family (was: the knapsack's picks),
            # so a checkpoint written before the change is not resumed
            "bonferroni_family": "every proper non-empty subset of the groups"}

    def _stages(self, X, y):
        """The checkpoint folder of this fit (None without ``checkpoint_dir``) and its load/save helpers."""
        if self.checkpoint_dir is None:
            return None, (lambda name: None), (lambda name, obj: None)
        import joblib

        from dawnlab import results

        folder = Path(self.checkpoint_dir) / f"fit-{joblib.hash((X, y, self._config()))[:20]}"

        def load(name):
            path = folder / f"{name}.pkl"
            return results.load(path) if path.is_file() else None

        def save(name, obj):
            results.save(folder / f"{name}.pkl", obj)

        return folder, load, save

    def _splits(self, y) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (training, tuning) row positions: one stratified held-out split, or ``cv`` stratified folds."""
        from sklearn.model_selection import StratifiedKFold, train_test_split

        idx = np.arange(len(y))
        _, counts = np.unique(y, return_counts=True)
        if self.cv is None:
            strat = y if counts.min() >= 2 else None
            tr, ho = train_test_split(idx, test_size=self.holdout, random_state=self.seed, stratify=strat)
            if len(np.unique(y[tr])) < len(counts):
                raise invalid("y", "Willump.fit", "with every class present in the training part", counts.tolist())
            return [(tr, ho)]
        if counts.min() < self.cv:
            raise invalid("y", "Willump.fit", f"with at least cv = {self.cv} rows of every class", counts.tolist())
        folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.seed).split(idx, y)
        return [(tr, ho) for tr, ho in folds]

    def fit(self, X, y) -> "Willump":
        """Measure, tune on a held-out split, choose the cascade and the top-K plan, and refit.

        With ``checkpoint_dir`` set, each finished stage (measurement with the
        full model, importance, the small models and candidates, top-K, the
        refit) is saved atomically (:func:`dawnlab.results.save`) in a folder
        keyed by the data and every setting; an interrupted fit called again
        with the same data and settings loads the finished stages instead of
        recomputing them, measured costs included, so it ends with the plan the
        uninterrupted fit would have made from those measurements.
        """
        X, y = check_Xy(X, y, "Willump.fit")
        _, load, save = self._stages(X, y)
        splits = self._splits(y)
        parts = [(take_rows(X, tr), y[tr], take_rows(X, ho), y[ho]) for tr, ho in splits]
        y_ho = np.concatenate([p[3] for p in parts])  # the tuning rows, fold after fold
        n_ho = len(y_ho)

        bar = tqdm(total=5, desc="willump: features", disable=not self.progress, leave=False)
        try:
            measured = load("measure")
            if measured is None:
                pipes, fulls, pfs, blocks_tr, blocks_ho = [], [], [], [], []
                timings: dict[str, float] = {}
                dt = 0.0
                for X_tr, y_tr, X_ho, _ in parts:
                    pipe = self.pipeline.clone().fit_groups(X_tr, y_tr)
                    blocks_tr.append(pipe.features(X_tr))
                    t: dict[str, float] = {}
                    blocks_ho.append(pipe.features(X_ho, timings=t))
                    if sum(t.values()) < RETIME_BELOW_S:
                        # a pass this short is outweighed by one context switch on a busy machine: time it again
                        # (cheaply) and keep each group's fastest pass
                        for _ in range(RETIMES):
                            again: dict[str, float] = {}
                            pipe.features(X_ho, timings=again)
                            t = {g: min(t[g], again[g]) for g in t}
                    timings = {g: timings.get(g, 0.0) + t[g] for g in pipe.names}
                    full = clone(pipe.model).fit(pipe.matrix(blocks_tr[-1]), y_tr)
                    pf_k, dt_k = _fastest_predict(full, pipe.matrix(blocks_ho[-1]))
                    pipes.append(pipe)
                    fulls.append(full)
                    pfs.append(pf_k)
                    dt += dt_k
                cost = {g: timings[g] / n_ho for g in pipes[0].names}
                pf = np.vstack(pfs)
                save("measure", {"pipes": pipes, "cost": cost, "fulls": fulls, "pf": pf, "full_model_cost": dt / n_ho})
            else:  # resumed: the fitted groups, costs and full models are the saved ones
                pipes, cost, fulls, pf = measured["pipes"], measured["cost"], measured["fulls"], measured["pf"]
                dt = measured["full_model_cost"] * n_ho
                blocks_tr = [pipe.features(p[0]) for pipe, p in zip(pipes, parts)]
                blocks_ho = [pipe.features(p[2]) for pipe, p in zip(pipes, parts)]
            names = pipes[0].names
            bar.update()
            classes = fulls[0].classes_
            if any(not np.array_equal(f.classes_, classes) for f in fulls):
                raise invalid("y", "Willump.fit", "with every class in every fold's training part", classes.tolist())
            scorer = make_score(self.score, classes)
            model_cost = {(): dt / n_ho}  # () keys the full model
            total = sum(cost.values()) + model_cost[()]
            bar.set_description("willump: importance")
            importance = load("importance")
            if importance is None:
                # each fold's permutation importance on its own held-out rows, weighted by their number
                imps = [permutation_importance(full, b, names, p[3], scorer, self.n_repeats, self.seed + k)
                        for k, (full, b, p) in enumerate(zip(fulls, blocks_ho, parts))]
                importance = {g: float(sum(len(p[3]) * imp[g] for imp, p in zip(imps, parts)) / n_ho)
                              for g in names}
                save("importance", importance)
            bar.update()

            subsets = []
            for cut in self.cost_cutoffs:
                _, chosen = knapsack([max(importance[g], 0.0) for g in names], [cost[g] for g in names], cut * total)
                s = tuple(names[i] for i in chosen)
                if s and len(s) < len(names) and s not in subsets:
                    subsets.append(s)
            bar.set_description("willump: cascades")
            done = load("cascades")
            if done is None:
                rows, smalls, probas = [], {}, {}
                for s in subsets:
                    fold_models, ps, dts = [], [], 0.0
                    for pipe, b_tr, b_ho, p in zip(pipes, blocks_tr, blocks_ho, parts):
                        small = clone(pipe.model).fit(pipe.matrix(b_tr, s), p[1])
                        ps_k, dt_k = _fastest_predict(small, pipe.matrix(b_ho, s))
                        fold_models.append(small)
                        ps.append(ps_k)
                        dts += dt_k
                    model_cost[s] = dts / n_ho
                    smalls[s], probas[s] = fold_models[0], np.vstack(ps)
                    # S counts every proper subset, not len(subsets): the knapsack chose these from importances
                    # measured on the same held-out rows (module docstring, step 4)
                    rows += self._candidates(s, probas[s], pf, y_ho, classes, scorer, cost, model_cost[s], total,
                                             family_size(len(names)))
                save("cascades", {"rows": rows, "smalls": smalls, "probas": probas, "model_cost": model_cost})
            else:
                rows, smalls, probas, model_cost = done["rows"], done["smalls"], done["probas"], done["model_cost"]
            bar.update()
            pipe, full = pipes[0], fulls[0]  # what refit=False keeps (one split only)
            table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
            cascade = self._choose(table, names, total, scorer(y_ho, pf), self.max_drop, enabled=self.cascade)
            bar.set_description("willump: top-K")
            topk = load("topk")
            if topk is None:
                topk = self._tune_topk(subsets, probas, pf, classes, cost, model_cost, total, n_ho)
                save("topk", topk)
            bar.update()

            if self.refit:
                bar.set_description("willump: refit")
                keep = {cascade.groups, topk.groups} - {()}
                refitted = load("refit")
                if refitted is None:
                    pipe = self.pipeline.clone().fit_groups(X, y)
                    blocks = pipe.features(X)
                    full = clone(pipe.model).fit(pipe.matrix(blocks), y)
                    smalls = {s: clone(pipe.model).fit(pipe.matrix(blocks, s), y) for s in keep}
                    save("refit", {"pipe": pipe, "full": full, "smalls": smalls})
                else:
                    pipe, full, smalls = refitted["pipe"], refitted["full"], refitted["smalls"]
            bar.update()
        finally:
            bar.close()

        pipe.model_ = full
        self.pipeline_ = pipe
        self.classes_ = full.classes_
        self.small_models_ = {s: m for s, m in smalls.items() if s in (cascade.groups, topk.groups)}
        cascade.deployed_as_tested = not self.refit
        self.cascade_, self.topk_ = cascade, topk
        self.model_costs_ = {"+".join(s) or "(full model)": v for s, v in model_cost.items()}
        self.groups_ = pd.DataFrame({"group": names, "cost_per_row_s": [cost[g] for g in names],
                                     "cost_share": [cost[g] / sum(cost.values()) if total > 0 else 0.0
                                                    for g in names],
                                     "importance": [importance[g] for g in names],
                                     "selected": [g in cascade.groups for g in names],
                                     "cacheable": [pipe.group(g).cacheable for g in names],
                                     "lookup": [pipe.group(g).is_lookup for g in names]})
        self.reset_stats()
        return self

    def _candidates(self, s, ps, pf, y, classes, scorer, cost, small_cost, total, n_family) -> list[dict]:
        conf = ps.max(axis=1)
        groups_cost = sum(cost[g] for g in s)
        cs = groups_cost + small_cost
        score_full = scorer(y, pf)
        pred_full = classes[np.argmax(pf, axis=1)]
        out = []
        for t in self.thresholds:
            mask = conf >= t
            pc = np.where(mask[:, None], ps, pf)
            sc = scorer(y, pc)
            if self.score == "accuracy":
                r = mcnemar_exact(y, pred_full, classes[np.argmax(pc, axis=1)])
                p, b, c = r.pvalue, r.b, r.c
                bound = paired_drop_upper_bound(b, c, len(y), self.alpha / n_family)
            else:
                p = paired_bootstrap_pvalue(scorer, y, pf, pc, self.n_boot, self.seed)
                b = c = -1
                bound = float("nan")
            f = float(mask.mean())
            out.append({"groups": s, "subset_cost": cs, "threshold": float(t), "frac_confident": f, "score": sc,
                        "score_full": score_full, "pvalue": p, "b": b, "c": c,
                        "drop_bound": bound, "expected_cost": cs + (1 - f) * (total - groups_cost),
                        "noninferior": True, "accepted": p >= self.alpha,
                        "reference_accepted": sc >= score_full - self.reference_tolerance})
        return out

    def _accept(self, table: pd.DataFrame, max_drop: float | None) -> pd.DataFrame:
        """``table`` with ``noninferior`` (see :func:`fixed_sequence`) and ``accepted`` for the margin ``max_drop``."""
        table = table.copy()
        table["noninferior"] = fixed_sequence(table, max_drop)
        table["accepted"] = (table.pvalue >= self.alpha) & table.noninferior
        return table

    def cascade_for(self, max_drop: float | None) -> Cascade:
        """The cascade ``fit`` would have chosen from the same held-out table with another ``max_drop``.

        Nothing is refitted: only subsets whose small models were kept
        (``small_models_``) can be routed through; use it to read the trade-off.
        """
        self._check_fitted()
        if max_drop is not None and (self.score != "accuracy" or not (0 < max_drop < 1)):
            raise invalid("max_drop", "Willump.cascade_for", "None, or a fraction in (0, 1) with score='accuracy'",
                          max_drop)
        cas = self.cascade_
        out = self._choose(cas.table, self.pipeline_.names, cas.full_cost, cas.score_full, max_drop,
                           enabled=self.cascade)
        out.deployed_as_tested = cas.deployed_as_tested
        return out

    def _choose(self, table: pd.DataFrame, names, total: float, score_full: float,
                max_drop: float | None, enabled: bool = True) -> Cascade:
        test = ("McNemar exact, one-sided" if self.score == "accuracy" else "paired bootstrap, one-sided")
        table = self._accept(table, max_drop)

        def best(col):
            ok = table[table[col] & (table.expected_cost < total)] if len(table) else table
            if not len(ok):
                return None
            return ok.sort_values(["expected_cost", "score"], ascending=[True, False]).iloc[0]

        ref = best("reference_accepted")
        reference = ({"groups": (), "threshold": 1.0, "expected_cost": total, "score": score_full, "pvalue": 1.0}
                     if ref is None else {"groups": tuple(ref.groups), "threshold": float(ref.threshold),
                                          "expected_cost": float(ref.expected_cost), "score": float(ref.score),
                                          "pvalue": float(ref.pvalue)})
        row = best("accepted")
        if row is None or not enabled:
            reason = "disabled" if not enabled else "none accepted"
            return Cascade((), tuple(names), 1.0, test, self.alpha, 1.0, None, score_full, score_full, 0.0, 0.0,
                           total, total, reference, table, reason=reason, family_size=family_size(len(names)))
        disc = None if row.b < 0 else (int(row.b), int(row.c))
        return Cascade(tuple(row.groups), tuple(g for g in names if g not in row.groups), float(row.threshold), test,
                       self.alpha, float(row.pvalue), disc, score_full, float(row.score), float(row.frac_confident),
                       float(row.drop_bound), float(row.expected_cost), total, reference, table, reason="chosen",
                       family_size=family_size(len(names)))

    def _class_column(self, classes) -> int:
        if self.topk_class is None:
            return len(classes) - 1
        where = np.flatnonzero(classes == self.topk_class)
        if not len(where):
            raise invalid("topk_class", "Willump", f"one of the classes {classes.tolist()}", self.topk_class)
        return int(where[0])

    def _tune_topk(self, subsets, probas, pf, classes, cost, model_cost, total, n) -> TopKPlan:
        col = self._class_column(classes)
        k = max(1, int(round(self.topk_fraction * n)))
        need = math.ceil(self.topk_quantile * self.topk_bootstrap)
        grid = sorted({c for c in C_GRID if c * k < n} | {n / k})
        rng = np.random.default_rng(self.seed + 1)
        samples = [rng.integers(0, n, n) for _ in range(self.topk_bootstrap)]
        best = TopKPlan((), n / k, k, n, total, pd.DataFrame(columns=["groups", "c", "mean_precision",
                                                                      "frac_ok", "p01_precision"]))
        curves = []
        for s in subsets:
            sf, ss = pf[:, col], probas[s][:, col]
            prec = np.zeros((len(samples), len(grid)))
            for b, idx in enumerate(samples):
                top = set(_ranked(sf[idx], k).tolist())
                order = _ranked(ss[idx], n)
                for j, c in enumerate(grid):
                    m = min(n, math.ceil(c * k))
                    prec[b, j] = len(top.intersection(order[:m].tolist())) / k
            ok = (prec >= self.topk_precision - 1e-12).sum(axis=0)
            curves.append(pd.DataFrame({"groups": [s] * len(grid), "c": grid, "mean_precision": prec.mean(axis=0),
                                        "frac_ok": ok / len(samples),
                                        "p01_precision": np.quantile(prec, 0.01, axis=0)}))
            good = [j for j in range(len(grid)) if ok[j] >= need]
            c = grid[good[0]] if good else n / k
            cs = sum(cost[g] for g in s)
            exp = cs + model_cost[s] + min(1.0, c * k / n) * (total - cs)
            if exp < best.expected_cost:
                best = TopKPlan(s, float(c), k, n, float(exp), best.curve)
        curve = pd.concat(curves, ignore_index=True) if curves else best.curve
        best.curve = curve
        return best

    # -- inference ---------------------------------------------------------
    def _check_fitted(self):
        if self.pipeline_ is None:
            raise NotFittedError("This Willump optimizer is not fitted: call fit(X, y) first "
                                 "(or Willump.load a saved one).")

    def reset_stats(self) -> None:
        """Forget the recorded latencies and routing counts, and empty the caches."""
        self._latency = deque(maxlen=100_000)
        self._calls = self._rows = self._rows_full = 0
        cacheable = [g.name for g in self.pipeline_.groups if g.cacheable] if self.pipeline_ else []
        bounded = self.cache_entries is not None or self.cache_bytes is not None
        self.caches_ = {g: LRUCache(self.cache_entries, self.cache_bytes) for g in cacheable} if bounded else {}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.__dict__.get("pipeline_") is not None:
            self.reset_stats()

    def _features(self, X, names) -> dict:
        """Blocks of ``names`` for ``X``, through the LRU caches of cacheable groups."""
        pipe = self.pipeline_
        cached = [g for g in names if g in self.caches_]
        out = pipe.features(X, [g for g in names if g not in self.caches_])
        n = n_rows(X)
        for g in cached:
            cache, group = self.caches_[g], pipe.group(g)
            try:
                sel = _select(X, group.columns)
                if isinstance(sel, pd.DataFrame):
                    keys = list(sel.itertuples(index=False, name=None))
                elif isinstance(sel, pd.Series):
                    keys = sel.tolist()
                else:
                    keys = [_row_key(v) for v in sel]
            except Exception as exc:
                raise FeatureGroupError(f"Feature group {g!r} raised on {n} rows while reading its input: "
                                        f"{type(exc).__name__}: {exc}") from exc
            rows = [cache.get(k) for k in keys]
            miss = [i for i, r in enumerate(rows) if r is None]
            if miss:
                block = group.transform(take_rows(X, miss))
                for j, i in enumerate(miss):
                    # a copy: a view would keep the whole batch's block alive behind a one-row entry,
                    # so cache_bytes would not bound the memory held
                    rows[i] = block[j:j + 1].copy() if not sp.issparse(block) else block[j]
                    cache.put(keys[i], rows[i])
            out[g] = rows[0] if n == 1 else vstack(rows)
        return out

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities through the cascade (the full model where the small one is unsure).

        Rows the small model is confident on (largest probability ``>=
        cascade_.threshold``) get its probabilities; the others get the full
        model's, computed from all groups.  ``last_sent_to_full_`` holds the
        positions of the rows of the last call that went to the full model.
        """
        self._check_fitted()
        n = check_X(X, "Willump.predict_proba")
        t0 = time.perf_counter()
        pipe, cas = self.pipeline_, self.cascade_
        if not cas.active:
            blocks = self._features(X, pipe.names)
            out = pipe.model_.predict_proba(pipe.matrix(blocks))
            unsure = np.arange(n)
        else:
            cheap = self._features(X, cas.groups)
            out = self.small_models_[cas.groups].predict_proba(pipe.matrix(cheap, cas.groups))
            unsure = np.flatnonzero(out.max(axis=1) < cas.threshold)
            if len(unsure):
                rest = self._features(take_rows(X, unsure), cas.rest)
                for g in cas.groups:
                    rest[g] = cheap[g][unsure]
                out[unsure] = pipe.model_.predict_proba(pipe.matrix(rest))
        self.last_sent_to_full_ = unsure
        self._calls += 1
        self._rows += n
        self._rows_full += len(unsure)
        if n == 1:
            self._latency.append(time.perf_counter() - t0)
        return out

    def predict(self, X) -> np.ndarray:
        """Predicted labels through the cascade (see :meth:`predict_proba`)."""
        self._check_fitted()
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_proba_full(self, X) -> np.ndarray:
        """The unoptimized pipeline: every group for every row, the full model (no cache, no cascade)."""
        self._check_fitted()
        return self.pipeline_.predict_proba(X)

    def top_k(self, X, k: int) -> TopK:
        """The ``k`` rows the full pipeline scores highest, computing all groups only for the small model's top ``c*k``.

        The score is the probability of ``topk_class`` (default the last class).
        Whenever ``ceil(c*k) >= len(X)`` every row is scored by the full
        pipeline and the answer is the exact top-``k`` (ties broken by lower
        position).

        Raises
        ------
        InvalidArgument
            If ``k`` is not an int in ``[1, len(X)]``.
        NotFittedError
            If the optimizer is not fitted.
        """
        self._check_fitted()
        n = check_X(X, "Willump.top_k")
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not (1 <= k <= n):
            raise invalid("k", "Willump.top_k", f"an int in [1, {n}] (the number of rows of X)", k)
        pipe, plan = self.pipeline_, self.topk_
        col = self._class_column(self.classes_)
        m = min(n, math.ceil(plan.c * k))
        if m >= n or not plan.groups:
            scores = pipe.model_.predict_proba(pipe.matrix(pipe.features(X)))[:, col]
            top = _ranked(scores, k)
            return TopK(top, scores[top], n)
        cheap = pipe.features(X, plan.groups)
        ss = self.small_models_[plan.groups].predict_proba(pipe.matrix(cheap, plan.groups))[:, col]
        cand = np.sort(_ranked(ss, m))
        rest = pipe.features(take_rows(X, cand), [g for g in pipe.names if g not in plan.groups])
        for g in plan.groups:
            rest[g] = cheap[g][cand]
        sf = pipe.model_.predict_proba(pipe.matrix(rest))[:, col]
        top = _ranked(sf, k)
        return TopK(cand[top], sf[top], m)

    @property
    def stats_(self) -> dict:
        """Calls, rows, the fraction sent to the full model, cache hit rates and point-query latency (ms)."""
        self._check_fitted()
        lat = np.asarray(self._latency) * 1e3
        hits = {g: c.hits for g, c in self.caches_.items()}
        looks = {g: c.hits + c.misses for g, c in self.caches_.items()}
        pct = (lambda q: float(np.percentile(lat, q)) if len(lat) else float("nan"))
        return {"calls": self._calls, "rows": self._rows,
                "frac_to_full": self._rows_full / self._rows if self._rows else float("nan"),
                "point_queries": len(lat), "latency_ms_p50": pct(50), "latency_ms_p95": pct(95),
                "latency_ms_p99": pct(99),
                "hit_rate": sum(hits.values()) / sum(looks.values()) if sum(looks.values()) else float("nan"),
                "hit_rate_by_group": {g: hits[g] / looks[g] if looks[g] else float("nan") for g in hits},
                "cache_entries": {g: len(c) for g, c in self.caches_.items()},
                "cache_bytes": {g: c.bytes for g, c in self.caches_.items()}}

    # -- saving ------------------------------------------------------------
    def save(self, path) -> None:
        """Write the fitted optimizer with joblib (caches and statistics are not saved)."""
        import joblib

        self._check_fitted()
        joblib.dump(self, path)

    @staticmethod
    def load(path) -> "Willump":
        """Load an optimizer written by :meth:`save`; no re-tuning happens."""
        import joblib

        obj = joblib.load(path)
        if not isinstance(obj, Willump):
            raise invalid("path", "Willump.load", "a file written by Willump.save", type(obj).__name__)
        return obj

    def __repr__(self):
        state = "unfitted" if self.pipeline_ is None else (
            f"cascade={list(self.cascade_.groups)}@{self.cascade_.threshold}, top_k c={self.topk_.c}")
        return f"Willump({self.pipeline!r}, {state})"
