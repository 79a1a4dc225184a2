"""A learner: a model family member plus how long and how it is trained.

Selection via Proxy (arXiv 1906.11829, Section 3.2) builds a proxy from the
target by scaling down the architecture (fewer layers, smaller width) or by
training for fewer epochs; both are knobs of :class:`Learner`.  Fewer epochs
come in two forms: a shorter schedule (``epochs``), or early stopping
(``stop_after``): the learning-rate schedule of the full ``epochs`` is kept and
training stops after the first ``stop_after`` of them, so the proxy is the
target's own training run cut short.  A learner is a
recipe (plain, picklable data); :meth:`Learner.fit` builds and trains a fresh
model from it and returns a :class:`Fitted` model that predicts probabilities
and penultimate-layer embeddings.

While training, ``fit(..., track=True)`` follows every presentation of every
training example: whether it was classified correctly in the minibatch that
contained it.  Forgetting events (Toneva et al., 2019; SVP Section 3.1) are
counted at every presentation, including the repeated ones of an epoch that
``min_batches`` stretches over a small set (:attr:`Fitted.forgetting`), beside
how many presentations were misclassified (:attr:`Fitted.misclassified`, the
documented tie-break of core-set selection) and the per-epoch snapshot
:attr:`Fitted.history` (correctness at each example's last presentation in the
epoch).

Training is SGD with Nesterov momentum 0.9, weight decay 5e-4 and a cosine
learning-rate schedule over the epochs (the paper uses step schedules over
many more epochs; a cosine schedule is the short-run equivalent).  All
randomness comes from a local ``torch.Generator`` seeded by the caller.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dawnlab.errors import invalid
from dawnlab.svp.models import MLP, ResNet, count_parameters

__all__ = ["Learner", "Fitted", "warm_up"]

_ARCHS = ("resnet", "mlp")
_BLOCK_STEP = {"basic": 6, "bottleneck": 9}  # weighted layers added per residual block and stage


@dataclass(frozen=True)
class Learner:
    """A training recipe: architecture, size and schedule.

    Parameters
    ----------
    arch : {"resnet", "mlp"}
        Model family: a pre-activation :class:`~dawnlab.svp.models.ResNet`
        (images) or an :class:`~dawnlab.svp.models.MLP` (tables).
    depth : int
        ResNet depth (``6 n + 2``) or number of MLP hidden layers.
    width : int
        ResNet first-stage channels or MLP hidden units.
    epochs : int
        Training epochs; a proxy may use fewer than the target.  The
        learning-rate schedule spans this many epochs.
    batch_size : int
        Minibatch size.
    lr : float
        Peak learning rate.
    weight_decay : float
        L2 penalty.
    min_batches : int
        Minibatches per epoch at least: an "epoch" over a labelled set smaller
        than ``min_batches * batch_size`` cycles through it several times.
        Early active-learning rounds label only a few dozen examples; without
        a floor, a few epochs over them are a handful of SGD steps and leave
        the model near its random start.  0 (default) means plain epochs.
        Minibatches are always full: the last one of an epoch is topped up
        from a fresh shuffle of the data.
    name : str, optional
        A label for tables and plots (default: e.g. ``"resnet8-w16-e10"``).
    block : {"basic", "bottleneck"}
        ResNet residual block (ignored for MLPs); ``depth`` is ``6 n + 2`` for
        basic and ``9 n + 2`` for bottleneck blocks.
    stop_after : int, optional
        Early stopping: train only the first ``stop_after`` of ``epochs``
        epochs (the schedule still spans ``epochs``).  ``None`` trains them all.

    Examples
    --------
    >>> Learner("resnet", depth=20, width=16, epochs=5).label
    'resnet20-w16-e5'
    >>> Learner("resnet", depth=20, width=16, epochs=5).cost((1, 20, 20), 10)
    1359970
    >>> Learner("resnet", 164, 16, epochs=180, block="bottleneck", stop_after=30).label
    'resnet164b-w16-e30of180'
    """

    arch: str = "resnet"
    depth: int = 8
    width: int = 16
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    weight_decay: float = 5e-4
    min_batches: int = 0
    name: str | None = None
    block: str = "basic"
    stop_after: int | None = None

    def __post_init__(self):
        if self.arch not in _ARCHS:
            raise invalid("arch", "Learner", f"one of {_ARCHS}", self.arch)
        if self.block not in _BLOCK_STEP:
            raise invalid("block", "Learner", f"one of {tuple(_BLOCK_STEP)}", self.block)
        step = _BLOCK_STEP[self.block]
        if self.arch == "resnet" and (not isinstance(self.depth, int) or self.depth < step + 2
                                      or (self.depth - 2) % step):
            raise invalid("depth", "Learner", f"an int of the form {step} n + 2 for a ResNet of {self.block} "
                          "blocks", self.depth)
        for key, low in [("depth", 1), ("width", 1), ("epochs", 1), ("batch_size", 1), ("min_batches", 0)]:
            value = getattr(self, key)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
                raise invalid(key, "Learner", f"an int >= {low}", value)
        if self.stop_after is not None and (not isinstance(self.stop_after, (int, np.integer))
                                            or isinstance(self.stop_after, bool)
                                            or not 1 <= self.stop_after <= self.epochs):
            raise invalid("stop_after", "Learner", f"None or an int in [1, epochs={self.epochs}]", self.stop_after)
        if not (isinstance(self.lr, (int, float)) and self.lr > 0 and math.isfinite(self.lr)):
            raise invalid("lr", "Learner", "a positive finite float", self.lr)
        if not (isinstance(self.weight_decay, (int, float)) and self.weight_decay >= 0):
            raise invalid("weight_decay", "Learner", "a float >= 0", self.weight_decay)

    @property
    def label(self) -> str:
        """A short name: ``name`` if given, else arch, depth, width and epochs."""
        if self.name:
            return self.name
        block = "b" if self.arch == "resnet" and self.block == "bottleneck" else ""
        epochs = f"{self.stop_after}of{self.epochs}" if self.stop_after is not None else f"{self.epochs}"
        return f"{self.arch}{self.depth}{block}-w{self.width}-e{epochs}"

    @property
    def trained_epochs(self) -> int:
        """Epochs actually run: ``stop_after`` when early-stopped, else ``epochs``."""
        return self.stop_after if self.stop_after is not None else self.epochs

    def to_dict(self) -> dict:
        """The recipe as a plain dict (for result files)."""
        return asdict(self)

    def build(self, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        """A freshly initialised model for inputs of ``input_shape`` (no batch axis)."""
        if self.arch == "resnet":
            if len(input_shape) != 3:
                raise invalid("input_shape", "Learner.build", "(channels, height, width) for a ResNet",
                              tuple(input_shape), "Use arch='mlp' for tabular data.")
            return ResNet(self.depth, self.width, num_classes, int(input_shape[0]), block=self.block)
        return MLP(int(np.prod(input_shape)), num_classes, self.depth, self.width)

    def cost(self, input_shape: tuple[int, ...], num_classes: int) -> int:
        """Relative training cost: trainable parameters times epochs trained.

        Used only to refuse a proxy that is bigger than its target.
        """
        return count_parameters(self.build(input_shape, num_classes)) * self.trained_epochs

    def fit(self, X: torch.Tensor, y: torch.Tensor, num_classes: int, seed: int, *,
            track: bool = False, callback: Callable[[int, float], None] | None = None,
            progress: bool | str = False, _warm: bool = False) -> "Fitted":
        """Train a fresh model on ``(X, y)``.

        Parameters
        ----------
        X : torch.Tensor
            Float inputs, examples on the first axis.
        y : torch.Tensor
            Int64 labels in ``[0, num_classes)``.
        num_classes : int
            Number of classes.
        seed : int
            Seeds initialisation and minibatch order.
        track : bool
            Follow per-example minibatch correctness at every presentation
            (fills ``history``, ``forgetting``, ``misclassified`` and
            ``presentations`` of the result).
        callback : callable, optional
            Called as ``callback(epoch, mean_loss)`` after each epoch.
        progress : bool or str
            Show a ``tqdm.auto`` bar over the minibatches of the whole run
            (a string is its label); it closes when training ends.

        Returns
        -------
        Fitted
        """
        if not _warm:
            warm_up()
        gen = torch.Generator().manual_seed(int(seed))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = self.build(tuple(X.shape[1:]), num_classes)
        n = len(X)
        history = np.zeros((self.trained_epochs, n), dtype=bool) if track else None
        tracker = _Tracker(n) if track else None
        opt = torch.optim.SGD(model.parameters(), lr=self.lr, momentum=0.9, nesterov=True,
                              weight_decay=self.weight_decay)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size), self.min_batches)
        reps = math.ceil(steps_per_epoch * self.batch_size / n)
        total = self.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
        start = time.perf_counter()
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=self.trained_epochs * steps_per_epoch, leave=False, unit="batch",
                       desc=progress if isinstance(progress, str) else self.label)
        model.train()
        for epoch in range(self.trained_epochs):
            order = torch.cat([torch.randperm(n, generator=gen) for _ in range(reps)])
            loss_sum = 0.0
            for b in range(steps_per_epoch):
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                if len(idx) == 0:
                    break
                if len(idx) == 1 and n > 1:  # a lone example would break batch norm
                    idx = order[-2:]
                logits = model(X[idx])
                loss = F.cross_entropy(logits, y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += float(loss.detach()) * len(idx)
                if track:
                    right = (logits.argmax(1) == y[idx]).numpy()
                    history[epoch, idx.numpy()] = right
                    tracker.update(idx.numpy(), right)
                if bar is not None:
                    bar.update(1)
            if callback is not None:
                callback(epoch, loss_sum / n)
        if bar is not None:
            bar.close()
        model.eval()
        fitted = Fitted(model=model, learner=self, history=history, train_seconds=time.perf_counter() - start)
        if tracker is not None:
            fitted.forgetting, fitted.misclassified, fitted.presentations = tracker.result()
        return fitted


class _Tracker:
    """Forgetting bookkeeping at every presentation of every example.

    ``last`` is -1 before an example's first presentation, else whether it was
    right at its latest one; a forgetting event is a right-to-wrong change
    between consecutive presentations.
    """

    def __init__(self, n: int):
        self.last = np.full(n, -1, dtype=np.int8)
        self.events = np.zeros(n, dtype=np.int64)
        self.wrong = np.zeros(n, dtype=np.int64)
        self.seen = np.zeros(n, dtype=np.int64)
        self.learned = np.zeros(n, dtype=bool)

    def update(self, idx: np.ndarray, right: np.ndarray) -> None:
        if len(np.unique(idx)) < len(idx):  # an example twice in one batch: take its presentations in order
            for i, r in zip(idx.tolist(), right.tolist()):
                self.update(np.array([i]), np.array([r]))
            return
        self.events[idx] += (self.last[idx] == 1) & ~right
        self.wrong[idx] += ~right
        self.seen[idx] += 1
        self.learned[idx] |= right
        self.last[idx] = right

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        counts = self.events.astype(np.float64)
        counts[~self.learned] = np.inf
        return counts, self.wrong.copy(), self.seen.copy()


_WARM = []


def warm_up() -> None:
    """Pay torch's one-off start-up costs once per process, outside any timed phase.

    The first optimizer pulls in ``torch._dynamo`` (seconds) and the first
    convolution sets up its kernels; without this the first timed phase of a run
    would be charged for them.
    """
    if not _WARM:
        for arch in _ARCHS:  # one tiny training step of each family: lazy imports and kernel set-up
            Learner(arch, 8 if arch == "resnet" else 1, 2, epochs=1, batch_size=4).fit(
                torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 0, 1]), 2, seed=0, _warm=True)
        _WARM.append(True)


@dataclass
class Fitted:
    """A trained model with its recipe, optional correctness bookkeeping and time.

    Attributes
    ----------
    history : numpy.ndarray of bool, shape (epochs, n), or None
        With ``track=True``: correctness at each example's last presentation
        in each epoch (one row per epoch).
    forgetting : numpy.ndarray of float, shape (n,), or None
        With ``track=True``: forgetting events counted over *every*
        presentation (right, then wrong at the next presentation); ``inf`` for
        an example never classified correctly.
    misclassified : numpy.ndarray of int, shape (n,), or None
        With ``track=True``: presentations at which the example was wrong.
    presentations : numpy.ndarray of int, shape (n,), or None
        With ``track=True``: how many times each example was presented.
    """

    model: nn.Module
    learner: Learner
    history: np.ndarray | None = None
    train_seconds: float = 0.0
    extra: dict = field(default_factory=dict)
    forgetting: np.ndarray | None = None
    misclassified: np.ndarray | None = None
    presentations: np.ndarray | None = None

    @torch.no_grad()
    def predict_proba(self, X: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Class probabilities, shape ``(len(X), num_classes)``."""
        self.model.eval()
        out = [F.softmax(self.model(X[i:i + batch_size]), dim=1) for i in range(0, len(X), batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, 0))

    @torch.no_grad()
    def embed(self, X: torch.Tensor, batch_size: int = 512) -> np.ndarray:
        """Penultimate-layer embeddings, shape ``(len(X), embedding_dim)``."""
        self.model.eval()
        out = [self.model.embed(X[i:i + batch_size]) for i in range(0, len(X), batch_size)]
        return torch.cat(out).double().numpy() if out else np.zeros((0, 0))

    def accuracy(self, X: torch.Tensor, y: torch.Tensor) -> float:
        """Top-1 accuracy on ``(X, y)``, as a fraction."""
        if len(X) == 0:
            return float("nan")
        return float((self.predict_proba(X).argmax(1) == y.numpy()).mean())
