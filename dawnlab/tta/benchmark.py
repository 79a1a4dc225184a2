"""A time-to-accuracy benchmark is a recipe: untimed init, timed epochs and evaluations, a target.

MLPerf Training (Mattson et al., arXiv 1910.01500, Section 3.2 "Timing rules"): the
clock starts when the system first touches the training data and stops when an
evaluation meets the quality target, so evaluation is on the clock; model creation
and initialization are excluded up to a limit (20 minutes in v0.5-0.7, 30 later).
A :class:`Benchmark` splits a training loop along those lines:

``init(seed)``
    Untimed: build the model and optimizer from the seed.  Must not read the
    training data (MLPerf forbids touching it before the clock starts).
``start()``
    Timed, once, right after the clock starts: the first touch of the data
    (normalization statistics, a whitening layer fitted on it, moving it in place).
``train_epoch(epoch)``
    Timed: one pass (or one block of steps) of training.
``evaluate() -> float``
    Timed: the quality metric on the evaluation split, in [0, 1].

and the optional, untimed hooks run after the clock stops (the DAWNBench analysis
of Coleman et al., arXiv 1806.01427, Sections 4-5): ``holdout_accuracy()`` on a split
that plays no part in the recipe or the threshold, and ``predict_one(i)`` for
one-example-at-a-time inference latency.

Wrapping an existing loop takes a subclass with those four methods, or
:class:`FunctionBenchmark` with four functions.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable
from typing import Any

from dawnlab.errors import invalid

__all__ = ["Benchmark", "FunctionBenchmark", "HYPERPARAMETER_KEYS"]

HYPERPARAMETER_KEYS = ("global_batch_size", "opt_name", "opt_base_learning_rate", "train_samples", "eval_samples")
"""The hyperparameters every run logs (MLPerf's required keys for a single machine)."""


class Benchmark:
    """Base class of a time-to-accuracy recipe (see the module docstring).

    Subclasses set the class or instance attributes below and override the methods.

    Attributes
    ----------
    name : str
        The benchmark's name, logged as ``submission_benchmark``; the ruleset must know it.
    target : float
        The quality target in (0, 1]: the run succeeds at the first evaluation that meets it.
    max_epochs : int
        The run is aborted after this many epochs without meeting the target.
    eval_every : int
        Evaluate after every ``eval_every``-th epoch (and after the last).
    hyperparameters : dict
        ``global_batch_size``, ``opt_name``, ``opt_base_learning_rate``, ``train_samples``,
        ``eval_samples`` (logged during init).
    """

    name: str = "benchmark"
    target: float = 1.0
    max_epochs: int = 10
    eval_every: int = 1
    hyperparameters: dict[str, Any] = {}

    def init(self, seed: int) -> None:
        """Build the model from ``seed`` (untimed; must not read the training data)."""
        raise NotImplementedError

    def start(self) -> None:
        """The first touch of the data (timed, once per run)."""

    def train_epoch(self, epoch: int) -> None:
        """Train one epoch (timed); ``epoch`` counts from 1."""
        raise NotImplementedError

    def evaluate(self) -> float:
        """Quality on the evaluation split, in [0, 1] (timed)."""
        raise NotImplementedError

    def holdout_accuracy(self) -> float | None:
        """Quality on a held-out split, after the run (untimed); None when there is none."""
        return None

    def predict_one(self, i: int) -> Any:
        """Predict the ``i``-th evaluation example alone (for latency); NotImplemented when unsupported."""
        return NotImplemented

    def describe(self) -> dict[str, Any]:
        """The recipe's settings, for tables."""
        return {"name": self.name, "target": self.target, "max_epochs": self.max_epochs, **self.hyperparameters}


class FunctionBenchmark(Benchmark):
    """A benchmark from plain functions (they must pickle to run in worker processes).

    Parameters
    ----------
    name, target, max_epochs : see :class:`Benchmark`
    init : callable(seed) -> state
        Builds the state (untimed).
    train_epoch : callable(state, epoch)
    evaluate : callable(state) -> float
    start : callable(state), optional
    hyperparameters : dict
        The five keys of :data:`HYPERPARAMETER_KEYS`.

    Examples
    --------
    >>> def init(seed): return {"acc": 0.5}
    >>> def train(state, epoch): state["acc"] += 0.2
    >>> def evaluate(state): return state["acc"]
    >>> b = FunctionBenchmark("synthetic", 0.9, 5, init, train, evaluate,
    ...                       hyperparameters=dict(global_batch_size=1, opt_name="none",
    ...                                            opt_base_learning_rate=1.0, train_samples=1, eval_samples=1))
    >>> b.init(0); b.train_epoch(1); b.train_epoch(2); round(b.evaluate(), 2)
    0.9
    """

    def __init__(self, name: str, target: float, max_epochs: int, init: Callable, train_epoch: Callable,
                 evaluate: Callable, start: Callable | None = None, hyperparameters: dict | None = None,
                 eval_every: int = 1):
        self.name, self.target, self.max_epochs, self.eval_every = name, target, max_epochs, eval_every
        self._init, self._train, self._evaluate, self._start = init, train_epoch, evaluate, start
        self.hyperparameters = dict(hyperparameters or {})
        self.state = None

    def init(self, seed: int) -> None:
        self.state = self._init(seed)

    def start(self) -> None:
        if self._start is not None:
            self._start(self.state)

    def train_epoch(self, epoch: int) -> None:
        self._train(self.state, epoch)

    def evaluate(self) -> float:
        return self._evaluate(self.state)


def validate_benchmark(benchmark: Benchmark, owner: str = "Runner") -> None:
    """Raise ``InvalidArgument`` naming the attribute when ``benchmark`` breaks the protocol."""
    for method in ("init", "train_epoch", "evaluate"):
        if not callable(getattr(benchmark, method, None)):
            raise invalid("benchmark", owner, f"an object with a callable {method}() (see dawnlab.tta.Benchmark)",
                          type(benchmark).__name__)
    name = getattr(benchmark, "name", None)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise invalid("benchmark.name", owner, "a non-empty str of letters, digits, '_', '.' or '-' "
                      "(it is logged as submission_benchmark and named in the ruleset)", name)
    target = getattr(benchmark, "target", None)
    if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0.0 < float(target) <= 1.0:
        raise invalid("benchmark.target", owner, "a number in (0, 1]", target)
    for attr in ("max_epochs", "eval_every"):
        value = getattr(benchmark, attr, None)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"benchmark.{attr}", owner, "a positive int", value)
    hyper = getattr(benchmark, "hyperparameters", None)
    missing = [k for k in HYPERPARAMETER_KEYS if not isinstance(hyper, dict) or k not in hyper]
    if missing:
        raise invalid("benchmark.hyperparameters", owner, f"a dict with the keys {list(HYPERPARAMETER_KEYS)}",
                      hyper, f"Missing: {missing}.")
