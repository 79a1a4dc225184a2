"""Shared training machinery: data as tensors, seeded batches, schedules, checkpoints.

Every method of :mod:`dawnlab.lit` (LIT and the baselines) draws its minibatches
from :func:`batches`, a permutation seeded by ``(seed, phase, epoch)`` only, and
sets its learning rate from :func:`cosine_lr` by step index.  So an epoch's
work depends on nothing but the state at its start, which is what makes
"resume == uninterrupted" and "parallel blocks == joint blocks" hold exactly.
With an augmentation (:mod:`dawnlab.lit.augment`, off by default) each
minibatch is transformed with a generator seeded by ``(seed, phase, epoch,
step)`` (:func:`augment_generator`), so that holds with augmentation too.
Checkpoints are written with :func:`save_checkpoint` (``torch.save`` into an
atomic file replace from :mod:`dawnlab.results`).
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dawnlab.lit.errors import LITError, NonFiniteLossError
from dawnlab.lit.losses import kd_loss
from dawnlab.results import atomic_write_bytes

__all__ = ["as_tensors", "batches", "cosine_lr", "accuracy", "predict_logits", "seeded",
           "save_checkpoint", "load_checkpoint", "train_supervised", "augment_generator", "augmented"]

_PHASES = {"lit": 1, "kd": 2, "ce": 3, "hint": 4, "gan": 5}


def as_tensors(data, arg: str = "data", owner: str = "LIT.fit") -> tuple[torch.Tensor, torch.Tensor]:
    """``(X float32, y int64)`` tensors from a LabelledArrays, an ``(X, y)`` pair or a TensorDataset.

    Images in a :class:`dawnlab.data.LabelledArrays` become ``(n, 1, h, w)`` in
    ``[0, 1]``; other arrays keep their shape.

    Raises
    ------
    LITError
        If the data set is empty, ``X`` and ``y`` differ in length, or ``X``
        holds NaN or infinite values.

    Examples
    --------
    >>> X, y = as_tensors((np.zeros((3, 4)), np.array([0, 1, 0])))
    >>> X.dtype, y.dtype, tuple(X.shape)
    (torch.float32, torch.int64, (3, 4))
    """
    if hasattr(data, "torch") and hasattr(data, "is_image"):
        X, y = data.torch().tensors
    elif isinstance(data, torch.utils.data.TensorDataset):
        X, y = data.tensors[:2]
    else:
        try:
            X, y = data
        except (TypeError, ValueError):
            raise LITError(f"The {arg!r} argument of {owner} must be a LabelledArrays, an (X, y) pair or a "
                           f"TensorDataset. Got {type(data).__name__} instead.") from None
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).float()
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).long()
    if len(X) == 0:
        raise LITError(f"The {arg!r} argument of {owner} must hold at least one example. Got an empty data set "
                       f"(X of shape {tuple(X.shape)}) instead.")
    if len(X) != len(y):
        raise LITError(f"The {arg!r} argument of {owner} must have one label per example. Got {len(X)} examples "
                       f"and {len(y)} labels instead.")
    if not torch.isfinite(X).all():
        raise LITError(f"The {arg!r} argument of {owner} must hold finite values. Got "
                       f"{int((~torch.isfinite(X)).sum())} NaN or infinite entries instead.")
    return X.contiguous(), y.contiguous()


def batches(n: int, batch_size: int, seed: int, phase: str, epoch: int) -> list[torch.Tensor]:
    """Minibatch index lists of one epoch, a permutation seeded by ``(seed, phase, epoch)``.

    Examples
    --------
    >>> [b.tolist() for b in batches(5, 2, seed=0, phase="lit", epoch=0)] == \\
    ...     [b.tolist() for b in batches(5, 2, seed=0, phase="lit", epoch=0)]
    True
    """
    g = torch.Generator().manual_seed(int(seed) * 1_000_003 + _PHASES[phase] * 10_007 + int(epoch))
    perm = torch.randperm(n, generator=g)
    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]


def augment_generator(seed: int, phase: str, epoch: int, step: int) -> torch.Generator:
    """The generator of one minibatch's augmentation, seeded by ``(seed, phase, epoch, step)`` only.

    Examples
    --------
    >>> a, b = augment_generator(0, "kd", 1, 2), augment_generator(0, "kd", 1, 2)
    >>> torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))
    True
    """
    key = ((int(seed) * 1_000_003 + _PHASES[phase] * 10_007 + int(epoch)) * 100_003 + int(step)) % (2 ** 62)
    return torch.Generator().manual_seed(key + 7_919)


def augmented(augment, x: torch.Tensor, seed: int, phase: str, epoch: int, step: int) -> torch.Tensor:
    """``x`` transformed by ``augment`` with this minibatch's generator, or ``x`` itself when ``augment`` is None."""
    if augment is None:
        return x
    out = augment(x, augment_generator(seed, phase, epoch, step))
    if not isinstance(out, torch.Tensor) or out.shape != x.shape:
        raise LITError(f"The 'augment' argument must return a tensor of the batch's shape {tuple(x.shape)}. Got "
                       f"{tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__} instead.")
    return out


def cosine_lr(lr: float, step: int, total: int) -> float:
    """Cosine decay from ``lr`` at step 0 to 0 at step ``total``.

    Examples
    --------
    >>> cosine_lr(0.1, 0, 10), cosine_lr(0.1, 5, 10)
    (0.1, 0.05)
    """
    return lr * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / max(total, 1)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


@torch.no_grad()
def predict_logits(model: nn.Module, X: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """The model's logits in eval mode (its train/eval mode is restored)."""
    was = model.training
    model.eval()
    try:
        return torch.cat([model(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
    finally:
        model.train(was)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in eval mode."""
    return float((predict_logits(model, X).argmax(1) == y).float().mean())


def seeded(factory, seed: int):
    """Call ``factory()`` with torch's global generator seeded, then restore it.

    Model constructors draw their initial weights from torch's global
    generator; this keeps the caller's state untouched.

    Examples
    --------
    >>> a = seeded(lambda: nn.Linear(2, 2), 3); b = seeded(lambda: nn.Linear(2, 2), 3)
    >>> torch.equal(a.weight, b.weight)
    True
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return factory()


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` with ``torch.save``, atomically (whole file or none)."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> dict | None:
    """Load a checkpoint written by :func:`save_checkpoint`, or ``None`` if there is none."""
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)


def check_finite(loss: torch.Tensor, phase: str, epoch: int, step: int, lr: float, checkpoint: str | None):
    """Raise :class:`NonFiniteLossError` if ``loss`` is NaN or infinite."""
    if not torch.isfinite(loss):
        kept = (f"The last good checkpoint, {checkpoint!r}, is kept." if checkpoint
                else "No checkpoint folder was given, so nothing was saved.")
        raise NonFiniteLossError(f"The {phase} loss became {loss.item()} at epoch {epoch + 1}, step {step + 1} "
                                 f"(learning rate {lr:g}). {kept} Lower the learning rate and run again.")


def train_supervised(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float = 3e-3,
                     weight_decay: float = 5e-4, batch_size: int = 128, seed: int = 0,
                     teacher_logits: torch.Tensor | None = None, alpha: float = 0.95,
                     temperature: float = 6.0, phase: str = "ce", val=None, progress: bool = False,
                     desc: str | None = None, teacher: nn.Module | None = None, augment=None):
    """Train ``model`` in place with cross-entropy, or KD when ``teacher_logits`` or ``teacher`` are given.

    Adam with a cosine schedule, minibatches from :func:`batches`.  Yields one
    record per epoch: ``{"phase", "epoch", "loss", "val_acc"}``.  With
    ``augment`` (``augment(x, generator)``, see :mod:`dawnlab.lit.augment`)
    each minibatch is transformed first; for KD the teacher's logits must
    then come from ``teacher``, run (eval mode, no gradient) on the same
    augmented minibatch, since precomputed ``teacher_logits`` belong to the
    un-augmented inputs.

    Raises
    ------
    LITError
        If ``augment`` is given with ``teacher_logits`` but no ``teacher``.

    Examples
    --------
    >>> net = nn.Linear(2, 2); X = torch.randn(64, 2); y = (X[:, 0] > 0).long()
    >>> recs = list(train_supervised(net, X, y, epochs=30, lr=0.05, val=(X, y)))
    >>> recs[-1]["val_acc"] > 0.9
    True
    """
    if augment is not None and teacher_logits is not None and teacher is None:
        raise LITError("The 'augment' argument of train_supervised needs the 'teacher' module for KD: precomputed "
                       "'teacher_logits' are the teacher's outputs on the un-augmented inputs. Pass teacher=.")
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    total = epochs * math.ceil(len(X) / batch_size)
    step = 0
    model.train()
    for epoch in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        losses = []
        for i, idx in enumerate(batches(len(X), batch_size, seed, phase, epoch)):
            lr_now = cosine_lr(lr, step, total)
            set_lr(opt, lr_now)
            xb = augmented(augment, X[idx], seed, phase, epoch, i)
            logits = model(xb)
            if teacher is not None:
                loss = kd_loss(logits, predict_logits(teacher, xb), y[idx], alpha, temperature)
            elif teacher_logits is not None:
                loss = kd_loss(logits, teacher_logits[idx], y[idx], alpha, temperature)
            else:
                loss = F.cross_entropy(logits, y[idx])
            check_finite(loss, phase, epoch, i, lr_now, None)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        yield {"phase": phase, "epoch": epoch + 1, "loss": float(np.mean(losses)),
               "val_acc": accuracy(model, *val) if val is not None else None}
