"""Choosing ``holdout`` and ``max_drop`` by cross-validation on the fitting rows (Willump, arXiv 1906.01974, Section 4.1).

:class:`~dawnlab.willump.Willump` tunes a cascade on a held-out part of the
rows it is given; two of its settings are not tuned there: the fraction held
out (more held-out rows give tighter bounds, fewer training rows a weaker small
model) and the non-inferiority margin ``max_drop``.  Choosing them by looking
at how a cascade fared on the final evaluation split would make that split part
of tuning.  :func:`select_settings` chooses them from the fitting rows alone,
by ``folds``-fold cross-validation, and its rule is fixed in advance:

1. Split the fitting rows into ``folds`` stratified folds.  For each fold and
   each ``holdout`` in the grid, fit ``Willump(pipeline, holdout=h)`` on the
   other folds exactly as a real fit would run (tuning on its own held-out
   part, then refitting), and read, for every ``max_drop`` in the grid, the
   cascade that fit would have chosen (:meth:`Willump.cascade_for`: the same
   held-out table, nothing refitted).
2. Route the left-out fold through each of those cascades and through the full
   model, and pool the paired outcomes over the folds: ``b`` rows the full
   model gets right and the cascade wrong, ``c`` the reverse, and the cost
   model's expected speed-up (measured group costs, the fraction of the fold
   the small model was sure of).
3. A setting passes when McNemar's one-sided test on its pooled out-of-fold
   rows does not come near finding the cascade less accurate than the full
   model: pooled p-value at least ``min_pvalue`` (0.2 by default, four times
   the 0.05 at which a final split is judged, so that a setting which only
   just escapes significance on these rows, and would often not on new ones,
   is not taken).  For each ``holdout``, the margins are taken from the
   smallest up (None, McNemar only, last) and the sequence stops at the first
   that fails, as the thresholds do inside :class:`~dawnlab.willump.Willump`:
   a larger margin that passes after a smaller one failed is noise, not
   evidence.  Among the settings kept, the one of largest mean expected
   speed-up is chosen; ties go to the smaller ``max_drop``, then the larger
   ``holdout``.
4. **No cascade.**  With no setting kept, the cross-validation found no
   margin whose cascade it could trust, and the outcome is *no cascade*:
   ``Settings.cascade`` is False, ``chosen_by_rule`` is False, and
   :meth:`Settings.kwargs` carries ``cascade=False``, so that
   ``Willump(pipeline, **settings.kwargs())`` sends every row to the full
   pipeline (``cascade_.reason == "disabled"``; the top-K plan is still
   tuned, with the most conservative setting's ``holdout`` and margin).
   Before, the most conservative margin's cascade was deployed anyway,
   though it too had failed the check.

The pooled out-of-fold rows are as many as the fitting rows, so the loss check
has the power of a final split of that size; the inner fits see
``(folds - 1) / folds`` of the rows, so the choice is made at a slightly
smaller scale than the final fit.  The rule and the grids were fixed before
any final split was looked at with this procedure, except for two changes
made after reading out-of-fold tables only (fitting halves, never a final
split): ``min_pvalue = 0.2`` replaced ``b <= c``, which on one seed kept only
"no cascade"; and the stop at the first failing margin was added when on
another seed a margin of 0.005 passed (p 0.27, 41 discordant rows) after 0.002
had failed (p 0.11).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import binom
from sklearn.base import clone
from tqdm.auto import tqdm

from dawnlab.errors import invalid
from dawnlab.willump.pipeline import Pipeline, check_Xy, take_rows
from dawnlab.willump.stats import mcnemar_exact

__all__ = ["Settings", "select_settings"]


@dataclass
class Settings:
    """The chosen ``holdout`` and ``max_drop``, and the cross-validated figures of every setting tried."""

    holdout: float | None  # None when the inner fits used cv
    max_drop: float | None
    chosen_by_rule: bool  # False when no setting passed the loss check: then no cascade (cascade False)
    folds: int
    table: pd.DataFrame = field(repr=False)
    cv: int | None = None
    cascade: bool = True  # False: no setting passed, deploy no cascade

    def kwargs(self) -> dict:
        """Settings for ``Willump(...)``: ``holdout`` (or ``cv`` with ``refit=True``), ``max_drop`` and ``cascade``."""
        where = {"cv": self.cv, "refit": True} if self.cv is not None else {"holdout": self.holdout}
        return where | {"max_drop": self.max_drop, "cascade": self.cascade}


def _route(w, cascade, X, ps_cache: dict, small_fit):
    """Cascade probabilities, full probabilities and the confident mask of ``cascade`` on ``X``."""
    pipe = w.pipeline_
    blocks = ps_cache.setdefault("blocks", pipe.features(X))
    pf = ps_cache.setdefault("full", pipe.model_.predict_proba(pipe.matrix(blocks)))
    if not cascade.active:
        return pf, pf, np.zeros(len(pf), dtype=bool)
    key = ("small", cascade.groups)
    if key not in ps_cache:
        small = w.small_models_.get(cascade.groups)
        small = small_fit(cascade.groups) if small is None else small
        ps_cache[key] = small.predict_proba(pipe.matrix(blocks, cascade.groups))
    ps = ps_cache[key]
    mask = ps.max(axis=1) >= cascade.threshold
    return np.where(mask[:, None], ps, pf), pf, mask


def select_settings(pipeline: Pipeline, X, y, *, holdouts: Sequence[float] = (0.25, 0.4, 0.6),
                    max_drops: Sequence[float | None] = (0.001, 0.0015, 0.002, 0.003, 0.005, None), folds: int = 3,
                    cv: int | None = None, min_pvalue: float = 0.2, seed: int = 0, progress: bool = True,
                    **willump_kwargs) -> Settings:
    """Choose ``holdout`` and ``max_drop`` for :class:`~dawnlab.willump.Willump` by cross-validation on ``X, y``.

    Parameters
    ----------
    pipeline : Pipeline
        The pipeline to optimize.
    X, y : rows and labels
        The fitting rows only (never the rows the optimizer will be judged on).
    holdouts : sequence of float
        Held-out fractions tried (each needs one inner fit per fold).
    max_drops : sequence of float or None
        Margins tried (read from the same inner fits; None is McNemar only).
    folds : int
        Cross-validation folds, ``>= 2``.
    cv : int, optional
        Tune the inner fits by ``cv``-fold cross-fitting (``Willump(cv=...)``)
        instead of one held-out split (with ``refit=True``, which it needs;
        the ``max_drop`` guarantee does not cover that path); ``holdouts`` is
        then not searched and the returned ``holdout`` is None.
    min_pvalue : float
        A setting passes when McNemar's one-sided test on its pooled
        out-of-fold rows gives at least this p-value.
    seed : int
        Seed of the folds and of every inner fit.
    progress : bool
        Show a progress bar over the inner fits.
    **willump_kwargs
        Other settings of the inner ``Willump`` fits (``alpha``, ``thresholds``, ``checkpoint_dir``, ...);
        ``score`` must be ``"accuracy"`` (the default).

    Returns
    -------
    Settings
        ``holdout``, ``max_drop`` and a table with, per setting: pooled ``b``,
        ``c``, McNemar's one-sided p-value on the pooled rows, the mean expected
        speed-up over folds, ``passed`` (pooled p-value ``>= min_pvalue``), ``kept``
        (passed, and so did every smaller margin of its holdout) and ``chosen``.
        With no setting kept, ``cascade`` is False (deploy no cascade) and
        ``chosen`` marks the most conservative setting, whose ``holdout`` and
        margin are returned for the rest of the fit (top-K).

    Examples
    --------
    >>> from dawnlab.willump.datasets import synthetic, synthetic_pipeline
    >>> X, y = synthetic(900)
    >>> s = select_settings(synthetic_pipeline(), X, y, holdouts=(0.4,), max_drops=(0.02, None), folds=2,
    ...                     progress=False)
    >>> s.holdout, list(s.table.columns[:4])
    (0.4, ['holdout', 'max_drop', 'b', 'c'])
    """
    from sklearn.model_selection import StratifiedKFold

    from dawnlab.willump.optimizer import Willump

    own = "select_settings"
    if not isinstance(pipeline, Pipeline):
        raise invalid("pipeline", own, "a dawnlab.willump.Pipeline", type(pipeline).__name__)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise invalid("folds", own, "an int >= 2", folds)
    if not holdouts or not all(0 < h < 1 for h in holdouts):
        raise invalid("holdouts", own, "a non-empty list of fractions in (0, 1)", holdouts)
    if not max_drops or not all(m is None or 0 < m < 1 for m in max_drops):
        raise invalid("max_drops", own, "a non-empty list of fractions in (0, 1) or None", max_drops)
    if not (0 < min_pvalue <= 1):
        raise invalid("min_pvalue", own, "in (0, 1]", min_pvalue)
    if willump_kwargs.get("score", "accuracy") != "accuracy":
        raise invalid("score", own, "'accuracy' (max_drop is an accuracy margin)", willump_kwargs["score"])
    for k in ("holdout", "max_drop", "seed", "progress", "refit", "cascade"):
        if k in willump_kwargs:
            raise invalid(k, own, "not given here (it is what is chosen, or set by select_settings itself)",
                          willump_kwargs[k])
    X, y = check_Xy(X, y, own)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y)
    holdouts = (None,) if cv is not None else tuple(holdouts)
    acc = {(h, m): {"b": 0, "c": 0, "speedups": [], "to_full": []} for h in holdouts for m in max_drops}
    bar = tqdm(total=folds * len(holdouts), desc="willump: settings", disable=not progress, leave=False)
    try:
        for inner, left in split:
            Xi, yi, Xl, yl = take_rows(X, inner), y[inner], take_rows(X, left), y[left]
            for h in holdouts:
                where = {"cv": cv, "refit": True} if h is None else {"holdout": h}
                w = Willump(pipeline, seed=seed, progress=False, **where, **willump_kwargs).fit(Xi, yi)
                cost = w.groups_.set_index("group").cost_per_row_s
                fitted_smalls: dict = {}

                def small_fit(groups, w=w, Xi=Xi, yi=yi, fitted_smalls=fitted_smalls):
                    if groups not in fitted_smalls:
                        pipe = w.pipeline_
                        fitted_smalls[groups] = clone(pipe.model).fit(pipe.matrix(pipe.features(Xi, groups), groups),
                                                                      yi)
                    return fitted_smalls[groups]

                cache: dict = {}
                for m in max_drops:
                    cas = w.cascade_for(m)
                    pc, pf, mask = _route(w, cas, Xl, cache, small_fit)
                    r = mcnemar_exact(yl, w.classes_[pf.argmax(1)], w.classes_[pc.argmax(1)])
                    f = float(mask.mean())
                    if cas.active:
                        small_cost = cas.table.loc[cas.table.groups == cas.groups, "subset_cost"].iloc[0]
                        groups_cost = float(cost[list(cas.groups)].sum())
                        expected = small_cost + (1 - f) * (cas.full_cost - groups_cost)
                    else:
                        expected = cas.full_cost
                    a = acc[(h, m)]
                    a["b"] += r.b
                    a["c"] += r.c
                    a["speedups"].append(cas.full_cost / expected)
                    a["to_full"].append(1 - f)
                bar.update()
    finally:
        bar.close()
    rows = []
    for (h, m), a in acc.items():
        p = 1.0 if a["b"] == 0 else min(1.0, float(binom.sf(a["b"] - 1, a["b"] + a["c"], 0.5)))  # McNemar, pooled
        rows.append({"holdout": h, "max_drop": m, "b": a["b"], "c": a["c"], "pvalue": p,
                     "expected_speedup": float(np.mean(a["speedups"])), "frac_to_full": float(np.mean(a["to_full"])),
                     "passed": p >= min_pvalue})
    table = pd.DataFrame(rows)
    # the margin order: any float below None (no margin); the most conservative setting first
    table["_margin"] = table.max_drop.map(lambda m: np.inf if m is None or pd.isna(m) else m)
    table["kept"] = False
    for _, part in table.groupby(table.holdout.fillna(-1.0)):
        part = part.sort_values("_margin")
        table.loc[part.index, "kept"] = part.passed.cummin().to_numpy()
    passed = table[table.kept]
    by_rule = len(passed) > 0
    table["_h"] = table.holdout.fillna(0.0)
    pick = (passed.assign(_h=table._h).sort_values(["expected_speedup", "_margin", "_h"],
                                                   ascending=[False, True, False])
            if by_rule else table.sort_values(["_margin", "_h"], ascending=[True, False])).index[0]
    table["chosen"] = table.index == pick
    row = table.loc[pick]
    m = None if np.isinf(row["_margin"]) else float(row["_margin"])
    h = None if cv is not None else float(row.holdout)
    return Settings(h, m, by_rule, int(folds), table.drop(columns=["_margin", "_h"]), cv, cascade=by_rule)
