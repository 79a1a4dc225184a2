"""A synthetic recipe whose accuracy follows a known curve: for tests, demos and the harness's overhead.

Its accuracy after ``e`` epochs is ``ceiling * (1 - exp(-rate * e))`` plus seeded noise,
each epoch sleeps ``epoch_seconds`` (scaled by a seeded log-normal factor, so run times
vary like real ones) and ``init`` sleeps ``init_seconds``.  So the time to a target is
known in closed form, which makes the timing rules testable: the init sleep must not
be on the clock, the evaluation sleep must (MLPerf, arXiv 1910.01500, Section 3.2).
"""

from __future__ import annotations

import math
import time

import numpy as np

from dawnlab.tta.benchmark import Benchmark

__all__ = ["CurveBenchmark"]


class CurveBenchmark(Benchmark):
    """A benchmark with a known learning curve and known costs.

    Parameters
    ----------
    target : float
        Quality target.
    rate : float
        Learning rate of the curve (per epoch).
    ceiling : float
        The accuracy the curve approaches (a target above it is never met).
    epoch_seconds, eval_seconds, init_seconds : float
        Sleeps in ``train_epoch``, ``evaluate`` and ``init``.
    jitter : float
        Log-normal sigma of the per-run speed factor.
    noise : float
        Standard deviation of the accuracy noise.
    max_epochs : int
    name : str
    invalid_at : int, optional
        Return NaN from ``evaluate`` at this epoch (to test the harness's checks).

    Examples
    --------
    >>> b = CurveBenchmark(target=0.9, rate=1.0, noise=0.0, epoch_seconds=0.0)
    >>> b.init(0); b.train_epoch(1); round(b.evaluate(), 4)
    0.6321
    """

    def __init__(self, target: float = 0.9, rate: float = 0.7, ceiling: float = 1.0, epoch_seconds: float = 0.01,
                 eval_seconds: float = 0.0, init_seconds: float = 0.0, jitter: float = 0.1, noise: float = 0.005,
                 max_epochs: int = 20, name: str = "synthetic", invalid_at: int | None = None,
                 invalid_value: float = float("nan")):
        self.name, self.target, self.max_epochs = name, target, max_epochs
        self.rate, self.ceiling, self.noise, self.jitter = rate, ceiling, noise, jitter
        self.epoch_seconds, self.eval_seconds, self.init_seconds = epoch_seconds, eval_seconds, init_seconds
        self.invalid_at, self.invalid_value = invalid_at, invalid_value
        self.hyperparameters = dict(global_batch_size=1, opt_name="none", opt_base_learning_rate=rate,
                                    train_samples=1, eval_samples=1)
        self.epoch = 0

    def init(self, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.speed = float(math.exp(self.jitter * rng.standard_normal()))
        self.rng = rng
        self.epoch = 0
        if self.init_seconds:
            time.sleep(self.init_seconds)

    def train_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.epoch_seconds:
            time.sleep(self.epoch_seconds * self.speed)

    def evaluate(self) -> float:
        if self.eval_seconds:
            time.sleep(self.eval_seconds)
        if self.invalid_at is not None and self.epoch == self.invalid_at:
            return self.invalid_value
        acc = self.ceiling * (1 - math.exp(-self.rate * self.epoch)) + self.noise * self.rng.standard_normal()
        return float(min(1.0, max(0.0, acc)))

    def predict_one(self, i: int):
        return i % 10
