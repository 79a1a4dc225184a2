"""Active learning with a proxy: label the pool in rounds chosen by a cheap model.

Selection via Proxy (Coleman et al., arXiv 1906.11829), Section 3.1 (active
learning) and Section 3.2 (selection via proxy): start from a random labelled
set, then in every round train the *selector* (the proxy, or the target itself
for the baseline) on the labelled examples, score the unlabelled pool, and label
the highest-priority examples until the next budget is reached.  The selector is
retrained from scratch each round.  At the end the *target* is trained on the
final labelled set and evaluated.  The paper's CIFAR-10 schedule labels a random
2% first and then grows the labelled set to 10%, 20%, 30%, 40% and 50% of the
pool (Section 4.1); :data:`DEFAULT_BUDGETS` is that schedule as fractions.

Data-selection time is proxy training + scoring + selection, summed over the
rounds; target training is reported separately (Section 4.2's "data selection"
versus "total" runtimes).  Each finished round is written atomically with
:func:`dawnlab.results.save` when ``checkpoint_dir`` is given, and a rerun with
the same configuration resumes after the last finished round.  Every random
choice derives from ``seed`` and the round number, so a resumed run selects
exactly what an uninterrupted one does.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from dawnlab import results
from dawnlab.errors import invalid
from dawnlab.svp.learner import Learner, warm_up
from dawnlab.svp.pool import (PhaseTimer, SVPError, as_tensors, data_fingerprint, derive_seed, split_pool,
                              torch_threads)
from dawnlab.svp.scores import UNCERTAINTY_METHODS, k_center_greedy, priority

__all__ = ["ActiveLearning", "ActiveLearningResult", "RoundRecord", "DEFAULT_BUDGETS", "AL_METHODS",
           "check_proxy"]

AL_METHODS = ("least_confidence", "entropy", "margin", "kcenters", "random")
DEFAULT_BUDGETS = (0.02, 0.1, 0.2, 0.3, 0.4, 0.5)


@dataclass
class RoundRecord:
    """What one round did.

    Attributes
    ----------
    round : int
        0 for the initial random set, then 1, 2, ...
    n_labelled, fraction : int, float
        Labelled examples after the round, and as a fraction of the pool.
    selected : numpy.ndarray
        Data-set indices labelled in this round, in the order chosen.
    selector_accuracy : float or None
        Test accuracy of the selector trained this round (None in round 0 and for random).
    target_accuracy : float or None
        Test accuracy of the target trained on the labelled set after this round
        (every round with ``evaluate_rounds=True``, else only the last).
    seconds : dict
        Wall time per phase in this round.
    scores : numpy.ndarray or None
        The selector's priority over the pool (higher = chosen first); NaN for
        examples labelled before the round.
    resumed : bool
        True when read back from a checkpoint rather than computed.
    """

    round: int
    n_labelled: int
    fraction: float
    selected: np.ndarray
    selector_accuracy: float | None
    target_accuracy: float | None
    seconds: dict
    scores: np.ndarray | None = None
    resumed: bool = False

    @property
    def selection_seconds(self) -> float:
        """Proxy training + scoring + selection in this round."""
        return sum(self.seconds.get(k, 0.0) for k in ("proxy_training", "scoring", "selection"))


@dataclass
class ActiveLearningResult:
    """The outcome of :meth:`ActiveLearning.run`."""

    records: list[RoundRecord]
    labelled: np.ndarray
    final_accuracy: float
    pool: np.ndarray
    test: np.ndarray
    config: dict = field(default_factory=dict)

    @property
    def selection_seconds(self) -> float:
        """Data-selection time: proxy training + scoring + selection, all rounds."""
        return sum(r.selection_seconds for r in self.records)

    @property
    def target_seconds(self) -> float:
        """Time spent training and evaluating the target."""
        return sum(r.seconds.get("target_training", 0.0) for r in self.records)

    @property
    def total_seconds(self) -> float:
        """End-to-end time: data selection plus target training."""
        return self.selection_seconds + self.target_seconds

    def to_frame(self):
        """One row per round (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{"round": r.round, "n_labelled": r.n_labelled, "fraction": r.fraction,
                              "selector_accuracy": r.selector_accuracy, "target_accuracy": r.target_accuracy,
                              "selection_seconds": r.selection_seconds, **r.seconds, "resumed": r.resumed}
                             for r in self.records])


def check_proxy(target: Learner, proxy: Learner, input_shape, num_classes: int, owner: str) -> None:
    """Refuse a proxy whose training cost (parameters x epochs) exceeds the target's."""
    if proxy.arch != target.arch:
        return  # different families: cost is not comparable by parameters; the user decides
    p, t = proxy.cost(input_shape, num_classes), target.cost(input_shape, num_classes)
    if p > t:
        raise invalid("proxy", owner, f"no bigger than the target (parameters x epochs <= {t})",
                      f"{proxy.label} with cost {p}",
                      "Use fewer layers, a smaller width or fewer epochs than the target.", cls=SVPError)


class ActiveLearning:
    """Pool-based active learning driven by a proxy (or by the target itself).

    Parameters
    ----------
    target : Learner
        The model trained on the final selection.
    proxy : Learner, optional
        The selector retrained every round; ``None`` uses the target (the
        paper's baseline).  Must not cost more than the target.
    method : {"least_confidence", "entropy", "margin", "kcenters", "random"}
        How the selector ranks unlabelled examples.
    budgets : sequence of int or float
        Cumulative labelled-set sizes, increasing: ints are example counts,
        floats in (0, 1] fractions of the pool.  The first is drawn at random.
    seed : int
        The only source of randomness (split, initial set, training, ties).
    test_fraction : float
        Held-out share of ``dataset`` when ``run`` gets no ``test`` set.
    evaluate_rounds : bool
        Train the target after every round for an accuracy-vs-labels curve
        (costs target training per round; not counted as selection time).
    checkpoint_dir : str or Path, optional
        Folder for per-round result files; a rerun resumes from it.
    threads : int or None
        ``torch.set_num_threads`` during the run, restored afterwards.  The
        default 1 suits the small CPU models here (multi-threaded kernels on
        tiny convolutions mostly wait on each other, and collapse on a busy
        machine); fan seeds out with :mod:`dawnlab.parallel` instead.  ``None``
        keeps torch's setting.
    keep_scores : bool
        Keep each round's pool scores in its record.
    progress : bool
        Show a ``tqdm.auto`` bar over the minibatches of every training run
        inside a round (the selector's, then the target's).

    Examples
    --------
    >>> import numpy as np
    >>> from dawnlab.svp import ActiveLearning, Learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
    >>> al = ActiveLearning(Learner("mlp", 1, 8, epochs=2), method="entropy",
    ...                     budgets=[10, 20, 30], seed=0)
    >>> [r.n_labelled for r in al.run((X, y))]
    [10, 20, 30]
    >>> len(al.result_.labelled)
    30
    """

    def __init__(self, target: Learner, proxy: Learner | None = None, method: str = "least_confidence",
                 budgets: Sequence[int | float] = DEFAULT_BUDGETS, seed: int = 0, *,
                 test_fraction: float = 0.2, evaluate_rounds: bool = False,
                 checkpoint_dir: str | Path | None = None, threads: int | None = 1,
                 keep_scores: bool = True, progress: bool = False):
        owner = "ActiveLearning"
        if not isinstance(target, Learner):
            raise invalid("target", owner, "a dawnlab.svp.Learner", type(target).__name__, cls=SVPError)
        if proxy is not None and not isinstance(proxy, Learner):
            raise invalid("proxy", owner, "a dawnlab.svp.Learner or None", type(proxy).__name__, cls=SVPError)
        if method not in AL_METHODS:
            raise invalid("method", owner, f"one of {AL_METHODS}", method, cls=SVPError)
        budgets = list(budgets) if not isinstance(budgets, (str, bytes)) else None
        if not budgets or not all(isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool)
                                  and b > 0 for b in budgets):
            raise invalid("budgets", owner, "a non-empty sequence of positive counts or fractions", budgets,
                          cls=SVPError)
        if any(isinstance(b, (float, np.floating)) and b > 1 for b in budgets):
            raise invalid("budgets", owner, "fractions in (0, 1] or int counts", budgets,
                          "Write counts as ints, e.g. 500 rather than 500.0.", cls=SVPError)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise invalid("seed", owner, "an int", seed, cls=SVPError)
        if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
            raise invalid("test_fraction", owner, "a float in (0, 1)", test_fraction, cls=SVPError)
        self.target, self.proxy, self.method = target, proxy, method
        self.budgets, self.seed = budgets, int(seed)
        self.test_fraction, self.evaluate_rounds = float(test_fraction), bool(evaluate_rounds)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.threads, self.keep_scores, self.progress = threads, keep_scores, bool(progress)
        self.result_: ActiveLearningResult | None = None

    @property
    def selector(self) -> Learner:
        """The model that ranks the pool: the proxy, or the target without one."""
        return self.proxy if self.proxy is not None else self.target

    def config(self) -> dict:
        """The run's configuration as plain data (stored beside checkpoints)."""
        return {"kind": "ActiveLearning", "target": self.target.to_dict(),
                "proxy": None if self.proxy is None else self.proxy.to_dict(), "method": self.method,
                "budgets": [float(b) if isinstance(b, float) else int(b) for b in self.budgets],
                "seed": self.seed, "test_fraction": self.test_fraction,
                "evaluate_rounds": self.evaluate_rounds}

    def sizes(self, pool_size: int) -> list[int]:
        """The budgets as labelled-set sizes for a pool of ``pool_size``.

        Raises
        ------
        SVPError
            If the pool is empty, a budget exceeds it, or sizes do not increase.

        Examples
        --------
        >>> from dawnlab.svp import Learner
        >>> ActiveLearning(Learner("mlp", 1, 4), budgets=[0.02, 0.1, 0.5]).sizes(1000)
        [20, 100, 500]
        """
        owner = "ActiveLearning"
        if pool_size <= 0:
            raise invalid("dataset", owner, "a non-empty pool", "an empty pool", cls=SVPError)
        sizes = [int(b) if isinstance(b, (int, np.integer)) else max(1, int(round(b * pool_size)))
                 for b in self.budgets]
        if max(sizes) > pool_size:
            raise invalid("budgets", owner, f"at most the pool size ({pool_size} examples)", self.budgets,
                          "Lower the budgets or give a larger pool.", cls=SVPError)
        if any(b <= a for a, b in zip(sizes, sizes[1:])):
            raise invalid("budgets", owner, "strictly increasing labelled-set sizes", sizes, cls=SVPError)
        return sizes

    # -- running -------------------------------------------------------------
    def fit(self, dataset, test=None) -> ActiveLearningResult:
        """Run every round to the end and return the result (see :meth:`run`)."""
        for _ in self.run(dataset, test):
            pass
        return self.result_

    def run(self, dataset, test=None) -> Generator[RoundRecord, None, ActiveLearningResult]:
        """Run the rounds, yielding a :class:`RoundRecord` after each.

        Parameters
        ----------
        dataset : LabelledArrays, torch Dataset or (X, y)
            The pool (minus a test split when ``test`` is None).
        test : same kinds, optional
            Held-out data for accuracies.

        Returns
        -------
        ActiveLearningResult
            The generator's return value; also stored as ``result_``.
        """
        X, y = as_tensors(dataset, "ActiveLearning.run")
        if test is None:
            pool, test_idx = split_pool(len(X), self.test_fraction, self.seed)
            Xt, yt = X[test_idx], y[test_idx]
        else:
            Xt, yt = as_tensors(test, "ActiveLearning.run", "test")
            pool, test_idx = np.arange(len(X)), np.array([], dtype=np.int64)
        num_classes = int(max(int(y.max()), int(yt.max()) if len(yt) else 0) + 1)
        sizes = self.sizes(len(pool))
        if self.proxy is not None:
            check_proxy(self.target, self.proxy, tuple(X.shape[1:]), num_classes, "ActiveLearning")
        done = self._load_checkpoints(len(sizes), data_fingerprint(X, y, Xt, yt))
        labelled: list[int] = []
        records: list[RoundRecord] = []
        warm_up()
        with torch_threads(self.threads):
            for r, size in enumerate(sizes):
                if r < len(done):
                    rec = done[r]
                    rec.resumed = True
                else:
                    rec = self._round(r, size, sizes, pool, labelled, X, y, Xt, yt, num_classes)
                    if self.checkpoint_dir is not None:
                        results.save(self.checkpoint_dir / f"round_{r:03d}.pkl", rec)
                labelled.extend(int(i) for i in rec.selected)
                records.append(rec)
                yield rec
        final = records[-1].target_accuracy
        self.result_ = ActiveLearningResult(records, np.array(labelled, dtype=np.int64), final,
                                            pool, test_idx, self.config())
        return self.result_

    def _round(self, r, size, sizes, pool, labelled, X, y, Xt, yt, num_classes) -> RoundRecord:
        timer = PhaseTimer()
        n_new = size - len(labelled)
        selector_acc, scores = None, None
        is_labelled = np.isin(pool, labelled)
        candidates = pool[~is_labelled]
        if r == 0 or self.method == "random":
            with timer("selection"):
                rng = np.random.default_rng(derive_seed(self.seed, r, "random"))
                chosen = rng.choice(candidates, size=n_new, replace=False)
        else:
            lab = np.array(labelled, dtype=np.int64)
            with timer("proxy_training"):
                fitted = self.selector.fit(X[lab], y[lab], num_classes, derive_seed(self.seed, r, "selector"),
                                           progress=self.progress and f"round {r}: selector")
            selector_acc = fitted.accuracy(Xt, yt) if len(Xt) else None
            with timer("scoring"):
                if self.method == "kcenters":
                    feats = fitted.embed(X[pool])
                else:
                    prio = priority(self.method, fitted.predict_proba(X[candidates]))
            with timer("selection"):
                if self.method == "kcenters":
                    picks = k_center_greedy(feats, n_new, selected=np.flatnonzero(is_labelled),
                                            seed=derive_seed(self.seed, r, "kcenters"))
                    chosen = pool[picks]
                    dist_rank = np.full(len(pool), np.nan)
                    dist_rank[picks] = -np.arange(n_new, dtype=float)
                    prio_full = dist_rank
                else:
                    # stable order: priority descending, ties broken by a seeded shuffle
                    tie = np.random.default_rng(derive_seed(self.seed, r, "ties")).permutation(len(candidates))
                    order = np.lexsort((tie, -prio))
                    chosen = candidates[order[:n_new]]
                    prio_full = np.full(len(pool), np.nan)
                    prio_full[~is_labelled] = prio
            if self.keep_scores:
                scores = prio_full
        target_acc = None
        if self.evaluate_rounds or r == len(sizes) - 1:
            lab = np.array(labelled + [int(i) for i in chosen], dtype=np.int64)
            with timer("target_training"):
                fitted_t = self.target.fit(X[lab], y[lab], num_classes, derive_seed(self.seed, r, "target"),
                                           progress=self.progress and f"round {r}: target")
                target_acc = fitted_t.accuracy(Xt, yt) if len(Xt) else None
        return RoundRecord(round=r, n_labelled=size, fraction=size / len(pool),
                           selected=np.asarray(chosen, dtype=np.int64), selector_accuracy=selector_acc,
                           target_accuracy=target_acc, seconds=dict(timer.seconds), scores=scores)

    def _load_checkpoints(self, n_rounds: int, fingerprint: str) -> list[RoundRecord]:
        if self.checkpoint_dir is None:
            return []
        cfg_path = self.checkpoint_dir / "config.json"
        cfg = json.loads(json.dumps({**self.config(), "data": fingerprint}))
        if cfg_path.is_file():
            old = results.load(cfg_path)
            if old != cfg:
                raise invalid("checkpoint_dir", "ActiveLearning",
                              "empty or holding a run with the same configuration", str(self.checkpoint_dir),
                              "Use a fresh folder, or delete it to start over.", cls=SVPError)
        else:
            results.save(cfg_path, cfg)
        done = []
        for r in range(n_rounds):
            path = self.checkpoint_dir / f"round_{r:03d}.pkl"
            if not path.is_file():
                break
            done.append(results.load(path))
        return done
