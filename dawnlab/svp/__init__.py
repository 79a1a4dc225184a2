"""Selection via Proxy: data selection with small proxy models (arXiv 1906.11829).

Coleman et al. show that a much cheaper *proxy* (a smaller network, or the same
one trained for fewer epochs) selects data for active learning and core-set
selection nearly as well as the large *target* model, at a fraction of the
cost, because it ranks examples much like the target does.

Public names
------------
:class:`ResNet`, :class:`MLP`
    Model families (pre-activation ResNets for small images, MLPs for tables).
:class:`Learner`
    A training recipe (family, depth, width, epochs); targets and proxies are learners.
:class:`ActiveLearning`, :class:`CoreSet`
    The selection loops; ``run(dataset)`` yields one record per round.
:func:`rank_agreement`, :func:`pool_scores`, :func:`agreement_matrix`
    Proxy-target agreement: Spearman, Kendall and top-k overlap.
:func:`least_confidence`, :func:`entropy`, :func:`margin`, :func:`forgetting_events`,
:func:`k_center_greedy`, :func:`covering_radius`, :func:`rank_order`
    The selection scores themselves, and the ranking with documented tie-breaks.
:func:`paired_difference`
    Paired mean difference of two methods over seeds, with its t interval.
"""

from __future__ import annotations

from dawnlab.svp.active import (AL_METHODS, DEFAULT_BUDGETS, ActiveLearning, ActiveLearningResult,
                                RoundRecord)
from dawnlab.svp.agreement import RankAgreement, agreement_matrix, pool_scores, rank_agreement, top_k_overlap
from dawnlab.svp.coreset import CORESET_METHODS, CoreSet, CoreSetRecord, CoreSetResult
from dawnlab.svp.learner import Fitted, Learner
from dawnlab.svp.models import MLP, ResNet, count_parameters
from dawnlab.svp.pool import PHASES, SVPError
from dawnlab.svp.stats import PairedDifference, paired_difference
from dawnlab.svp.scores import (covering_radius, entropy, forgetting_events, k_center_greedy,
                                least_confidence, margin, priority, rank_order)

__all__ = ["ResNet", "MLP", "count_parameters", "Learner", "Fitted", "ActiveLearning", "ActiveLearningResult",
           "RoundRecord", "AL_METHODS", "DEFAULT_BUDGETS", "CoreSet", "CoreSetResult", "CoreSetRecord",
           "CORESET_METHODS", "RankAgreement", "rank_agreement", "top_k_overlap", "pool_scores",
           "agreement_matrix", "least_confidence", "entropy", "margin", "priority", "forgetting_events", "rank_order",
           "k_center_greedy", "covering_radius", "SVPError", "PHASES", "PairedDifference", "paired_difference"]
