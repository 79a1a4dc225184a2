"""Core-set selection with a proxy: keep the examples a cheap model finds informative.

Selection via Proxy (Coleman et al., arXiv 1906.11829), Section 3.1 (core-set
selection) and Section 3.2 (selection via proxy): train the proxy once on the
whole labelled pool, score every training example, keep the top ``keep``
fraction, and train the target on that subset only.  Methods:

- ``"forgetting"``: forgetting events counted at every presentation while
  the proxy trains (Toneva et al., 2019); never-learned examples rank first,
  ties are broken by the number of presentations the proxy got the example
  wrong (more first), then by a seeded shuffle;
- ``"entropy"``: entropy of the trained proxy's predictions;
- ``"kcenters"``: greedy k-centers on the proxy's penultimate embedding;
- ``"random"``: a seeded random subset (the baseline).

``keep`` may be a list; the proxy and its scores are computed once and reused
by each kept fraction (one "round" per fraction).  Each round's record carries
the full selection cost of that fraction: the shared proxy training and
scoring plus its own selection step, so ``selection_seconds`` can be compared
with training the target on everything (Section 4.3).  With ``checkpoint_dir``
the scores and every finished round are written atomically and a rerun resumes.

The proxy's pass is the same for every method (one training run with
forgetting bookkeeping, then its predictions and embeddings of the pool), so
one run's :attr:`CoreSet.scored_` can be handed to another method's
``run(..., scored=...)``: the paper's comparison of scores against a random
subset on the same split, proxy and target seeds costs one proxy training.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dawnlab import results
from dawnlab.errors import invalid
from dawnlab.svp.active import check_proxy
from dawnlab.svp.learner import Learner, warm_up
from dawnlab.svp.pool import (PhaseTimer, SVPError, as_tensors, data_fingerprint, derive_seed, split_pool,
                              torch_threads)
from dawnlab.svp.scores import entropy, k_center_greedy, rank_order

__all__ = ["CoreSet", "CoreSetResult", "CoreSetRecord", "CORESET_METHODS"]

CORESET_METHODS = ("forgetting", "entropy", "kcenters", "random")


@dataclass
class CoreSetRecord:
    """One kept fraction: what was kept, how the target did, what it cost."""

    round: int
    keep: float
    n_kept: int
    selected: np.ndarray
    target_accuracy: float
    proxy_accuracy: float | None
    seconds: dict
    resumed: bool = False

    @property
    def selection_seconds(self) -> float:
        """Proxy training + scoring (shared) + this fraction's selection."""
        return sum(self.seconds.get(k, 0.0) for k in ("proxy_training", "scoring", "selection"))


@dataclass
class CoreSetResult:
    """The outcome of :meth:`CoreSet.run`."""

    records: list[CoreSetRecord]
    scores: np.ndarray | None
    pool: np.ndarray
    test: np.ndarray
    config: dict = field(default_factory=dict)
    secondary: np.ndarray | None = None

    @property
    def distinct_scores(self) -> int | None:
        """Distinct values of the ranking score over the pool (how finely it separates examples)."""
        return None if self.scores is None else int(len(np.unique(self.scores)))

    def to_frame(self):
        """One row per kept fraction (pandas DataFrame)."""
        import pandas as pd

        return pd.DataFrame([{"keep": r.keep, "n_kept": r.n_kept, "target_accuracy": r.target_accuracy,
                              "proxy_accuracy": r.proxy_accuracy, "selection_seconds": r.selection_seconds,
                              **r.seconds, "resumed": r.resumed} for r in self.records])


class CoreSet:
    """Core-set selection driven by a proxy (or by the target itself).

    Parameters
    ----------
    target : Learner
        Trained on each kept subset.
    proxy : Learner, optional
        Trained once on the whole pool to score it; ``None`` uses the target.
    method : {"forgetting", "entropy", "kcenters", "random"}
        The score; the highest-scoring examples are kept.
    keep : float or sequence of float
        Fraction(s) of the pool to keep, each in (0, 1].
    seed : int
        The only source of randomness.
    test_fraction : float
        Held-out share of ``dataset`` when ``run`` gets no ``test``.
    checkpoint_dir : str or Path, optional
        Folder for result files; a rerun resumes from it.
    threads : int or None
        ``torch.set_num_threads`` during the run (default 1, see
        :class:`~dawnlab.svp.ActiveLearning`); ``None`` keeps torch's setting.
    progress : bool
        Show a ``tqdm.auto`` bar over the minibatches of every training run
        (the proxy's pass, then the target's on each kept subset).

    Examples
    --------
    >>> import numpy as np
    >>> from dawnlab.svp import CoreSet, Learner
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int)
    >>> cs = CoreSet(Learner("mlp", 1, 8, epochs=2), method="forgetting", keep=[0.5, 0.8], seed=0)
    >>> [r.n_kept for r in cs.run((X, y))]
    [24, 38]
    """

    def __init__(self, target: Learner, proxy: Learner | None = None, method: str = "forgetting",
                 keep: float | Sequence[float] = 0.5, seed: int = 0, *, test_fraction: float = 0.2,
                 checkpoint_dir: str | Path | None = None, threads: int | None = 1, progress: bool = False):
        owner = "CoreSet"
        if not isinstance(target, Learner):
            raise invalid("target", owner, "a dawnlab.svp.Learner", type(target).__name__, cls=SVPError)
        if proxy is not None and not isinstance(proxy, Learner):
            raise invalid("proxy", owner, "a dawnlab.svp.Learner or None", type(proxy).__name__, cls=SVPError)
        if method not in CORESET_METHODS:
            raise invalid("method", owner, f"one of {CORESET_METHODS}", method, cls=SVPError)
        def fraction(k):  # a real number; True is not 1.0
            return isinstance(k, (int, float, np.integer, np.floating)) and not isinstance(k, (bool, np.bool_))

        try:
            keeps = [keep] if fraction(keep) or isinstance(keep, (bool, np.bool_)) else list(keep)
        except TypeError:
            keeps = []
        if not keeps or not all(fraction(k) and 0 < k <= 1 for k in keeps):
            raise invalid("keep", owner, "a fraction in (0, 1] or a non-empty list of them (not a bool)", keep,
                          "Keeping more than the pool is impossible; 1.0 keeps everything.", cls=SVPError)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise invalid("seed", owner, "an int", seed, cls=SVPError)
        if not (isinstance(test_fraction, (int, float)) and 0 < test_fraction < 1):
            raise invalid("test_fraction", owner, "a float in (0, 1)", test_fraction, cls=SVPError)
        self.target, self.proxy, self.method = target, proxy, method
        self.keep, self.seed = [float(k) for k in keeps], int(seed)
        self.test_fraction = float(test_fraction)
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.threads, self.progress = threads, bool(progress)
        self.result_: CoreSetResult | None = None
        self.scored_: dict | None = None

    @property
    def selector(self) -> Learner:
        """The model that scores the pool: the proxy, or the target without one."""
        return self.proxy if self.proxy is not None else self.target

    def config(self) -> dict:
        """The run's configuration as plain data."""
        return {"kind": "CoreSet", "target": self.target.to_dict(),
                "proxy": None if self.proxy is None else self.proxy.to_dict(), "method": self.method,
                "keep": self.keep, "seed": self.seed, "test_fraction": self.test_fraction, "version": 2}

    def fit(self, dataset, test=None, *, scored: dict | None = None) -> CoreSetResult:
        """Run every kept fraction and return the result (see :meth:`run`)."""
        for _ in self.run(dataset, test, scored=scored):
            pass
        return self.result_

    def run(self, dataset, test=None, *, scored: dict | None = None
            ) -> Generator[CoreSetRecord, None, CoreSetResult]:
        """Score the pool once, then yield a :class:`CoreSetRecord` per kept fraction.

        Parameters
        ----------
        dataset : LabelledArrays, torch Dataset or (X, y)
            The data; ``test_fraction`` of it is held out unless ``test`` is given.
        test : same kinds, optional
            Held-out data for accuracies.
        scored : dict, optional
            The :attr:`scored_` of a finished run with the same selector, seed
            and data: its proxy pass is reused instead of training the proxy again.

        Raises
        ------
        SVPError
            If ``scored`` comes from another selector, seed or data set.
        """
        X, y = as_tensors(dataset, "CoreSet.run")
        if test is None:
            pool, test_idx = split_pool(len(X), self.test_fraction, self.seed)
            Xt, yt = X[test_idx], y[test_idx]
        else:
            Xt, yt = as_tensors(test, "CoreSet.run", "test")
            pool, test_idx = np.arange(len(X)), np.array([], dtype=np.int64)
        if len(pool) == 0:
            raise invalid("dataset", "CoreSet.run", "a non-empty pool", "an empty pool", cls=SVPError)
        num_classes = int(max(int(y.max()), int(yt.max()) if len(yt) else 0) + 1)
        if self.proxy is not None:
            check_proxy(self.target, self.proxy, tuple(X.shape[1:]), num_classes, "CoreSet")
        fingerprint = data_fingerprint(X, y, Xt, yt)
        self._check_dir(fingerprint)
        key = {"selector": self.selector.to_dict(), "seed": self.seed, "data": fingerprint}
        if scored is not None and (not isinstance(scored, dict) or scored.get("key") != key):
            raise invalid("scored", "CoreSet.run", "the scored_ of a run with the same selector, seed and data",
                          "a proxy pass of another run", "Pass scored=None to train the proxy here.", cls=SVPError)
        records = []
        warm_up()
        with torch_threads(self.threads):
            shared = scored if scored is not None else self._scores(X, y, Xt, yt, pool, num_classes, key)
            self.scored_ = shared
            for r, keep in enumerate(self.keep):
                path = self.checkpoint_dir / f"round_{r:03d}.pkl" if self.checkpoint_dir else None
                if path is not None and path.is_file():
                    rec = results.load(path)
                    rec.resumed = True
                else:
                    rec = self._round(r, keep, shared, X, y, Xt, yt, pool, num_classes)
                    if path is not None:
                        results.save(path, rec)
                records.append(rec)
                yield rec
        primary, secondary = self._ranking(shared)
        self.result_ = CoreSetResult(records, primary, pool, test_idx, self.config(), secondary)
        return self.result_

    def _ranking(self, shared: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        if self.method == "forgetting":
            return shared["forgetting"], shared["misclassified"].astype(np.float64)
        if self.method == "entropy":
            return shared["entropy"], None
        return None, None

    def _scores(self, X, y, Xt, yt, pool, num_classes, key) -> dict:
        """The proxy's pass over the pool: forgetting bookkeeping, entropy, embeddings."""
        path = self.checkpoint_dir / "scores.pkl" if self.checkpoint_dir else None
        if path is not None and path.is_file():
            return results.load(path)
        shared = {"key": key, "forgetting": None, "misclassified": None, "entropy": None, "features": None,
                  "proxy_accuracy": None, "proxy_training": 0.0, "scoring": {}}
        if self.method != "random":
            timer = PhaseTimer()
            with timer("proxy_training"):
                fitted = self.selector.fit(X[pool], y[pool], num_classes, derive_seed(self.seed, "proxy"),
                                           track=True, progress=self.progress and "proxy pass")
            shared["proxy_training"] = timer.seconds["proxy_training"]
            shared["proxy_accuracy"] = fitted.accuracy(Xt, yt) if len(Xt) else None
            shared["forgetting"], shared["misclassified"] = fitted.forgetting, fitted.misclassified
            shared["scoring"]["forgetting"] = 0.0  # counted during training
            for method, fn in [("entropy", lambda: entropy(fitted.predict_proba(X[pool]))),
                               ("kcenters", lambda: fitted.embed(X[pool]))]:
                t = PhaseTimer()
                with t("scoring"):
                    shared["entropy" if method == "entropy" else "features"] = fn()
                shared["scoring"][method] = t.seconds["scoring"]
        if path is not None:
            results.save(path, shared)
        return shared

    def _round(self, r, keep, shared, X, y, Xt, yt, pool, num_classes) -> CoreSetRecord:
        timer = PhaseTimer()
        n_keep = max(1, int(round(keep * len(pool))))
        with timer("selection"):
            if self.method == "random" or n_keep == len(pool):
                rng = np.random.default_rng(derive_seed(self.seed, "random"))
                picks = rng.permutation(len(pool))[:n_keep]
            elif self.method == "kcenters":
                picks = k_center_greedy(shared["features"], n_keep, seed=derive_seed(self.seed, "kcenters"))
            else:
                primary, secondary = self._ranking(shared)
                picks = rank_order(primary, secondary, seed=derive_seed(self.seed, "ties"))[:n_keep]
        chosen = pool[np.asarray(picks, dtype=np.int64)]
        with timer("target_training"):
            fitted = self.target.fit(X[chosen], y[chosen], num_classes, derive_seed(self.seed, r, "target"),
                                     progress=self.progress and f"keep {keep:g}: target")
            acc = fitted.accuracy(Xt, yt) if len(Xt) else float("nan")
        seconds = dict(timer.seconds)
        if self.method != "random":
            seconds["proxy_training"] = shared["proxy_training"]
            seconds["scoring"] = shared["scoring"][self.method]
        return CoreSetRecord(round=r, keep=keep, n_kept=n_keep, selected=chosen, target_accuracy=acc,
                             proxy_accuracy=shared["proxy_accuracy"], seconds=seconds)

    def _check_dir(self, fingerprint: str) -> None:
        if self.checkpoint_dir is None:
            return
        cfg_path = self.checkpoint_dir / "config.json"
        cfg = json.loads(json.dumps({**self.config(), "data": fingerprint}))
        if cfg_path.is_file():
            if results.load(cfg_path) != cfg:
                raise invalid("checkpoint_dir", "CoreSet", "empty or holding a run with the same configuration",
                              str(self.checkpoint_dir), "Use a fresh folder, or delete it to start over.",
                              cls=SVPError)
        else:
            results.save(cfg_path, cfg)
