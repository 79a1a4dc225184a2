"""The baselines LIT is compared with, on the same seeds, data and epoch budget.

LIT's evaluation (Koratana et al., arXiv 1810.01937, Section 5) compares a LIT
student with the same student trained

* **from scratch** (cross-entropy on the labels);
* by **knowledge distillation** (Hinton et al., 2015): the KD loss of
  :func:`dawnlab.lit.kd_loss` on the teacher's logits;
* by **FitNets** hint training (Romero et al., 2015): first the student up to a
  *guided* layer, plus a regressor (a 1x1 convolution, or a linear map for flat
  features), learns to reproduce the teacher's *hint* layer (mean squared
  error); then the whole student is trained by KD.  The hint and guided layers
  are the outputs of the middle block of each model (Romero et al. pick the
  middle layers);
* and, for students of the teacher's own architecture, **Born-Again networks**
  (Furlanello et al., 2018, Section 3): a freshly initialised network of the
  teacher's own architecture trained to match the teacher's output
  distribution alone, the cross-entropy between the teacher's and the
  student's softmax at temperature 1 with no hard-label term (the BAN loss;
  ``alpha`` and ``temperature`` are there for the variants).  It differs from
  LIT with the teacher's architecture in every part of the recipe: no IR
  loss, no teacher-forced blocks, no stem or head copied from the teacher.

With ``augment`` (:mod:`dawnlab.lit.augment`; off by default) every
minibatch is transformed, and the teacher's logits (KD, Born-Again) and hints
(FitNets) are computed on that augmented minibatch: pass the ``teacher`` module
to :func:`train_kd` and :func:`train_born_again` then.

Each function trains its model in place and returns the per-epoch records.  The
budget is counted in epochs: FitNets' hint epochs and LIT's block-wise epochs
count like any other (the benchmark gives every method ``lit_epochs + kd_epochs``).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dawnlab.lit.blocks import capture, resolve_blocks
from dawnlab.lit.losses import ir_loss
from dawnlab.lit.trainer import teacher_irs
from dawnlab.lit.training import (accuracy, augmented, batches, check_finite, cosine_lr, seeded, set_lr,
                                  train_supervised)

__all__ = ["train_scratch", "train_kd", "train_fitnets", "train_born_again", "regressor_for"]


def train_scratch(student: nn.Module, X, y, *, epochs: int, val=None, **kw) -> list[dict]:
    """Train ``student`` with cross-entropy for ``epochs`` epochs."""
    return list(train_supervised(student, X, y, epochs=epochs, val=val, phase="ce", **kw))


def train_kd(student: nn.Module, X, y, teacher_logits, *, epochs: int, alpha: float = 0.95,
             temperature: float = 6.0, val=None, **kw) -> list[dict]:
    """Train ``student`` with the KD loss on the (precomputed) teacher logits."""
    return list(train_supervised(student, X, y, epochs=epochs, teacher_logits=teacher_logits, alpha=alpha,
                                 temperature=temperature, val=val, phase="kd", **kw))


def train_born_again(model: nn.Module, X, y, teacher_logits, *, epochs: int, alpha: float = 0.0,
                     temperature: float = 1.0, **kw) -> list[dict]:
    """Born-Again (Furlanello et al., 2018): ``model``, fresh, of the teacher's architecture, on its soft labels.

    The default loss is the BAN loss, ``KL(softmax(t) || softmax(s))`` at
    temperature 1 (the cross-entropy to the teacher's distribution up to the
    teacher's entropy, a constant): the labels ``y`` are not used.  ``alpha > 0``
    adds the hard-label term (the "BAN+L" variant), ``temperature`` softens both.

    Examples
    --------
    >>> from dawnlab.lit.training import seeded
    >>> X = torch.randn(32, 3); t = torch.randn(32, 2); y = torch.randint(0, 2, (32,))
    >>> a, b = seeded(lambda: nn.Linear(3, 2), 0), seeded(lambda: nn.Linear(3, 2), 0)
    >>> _ = train_born_again(a, X, y, t, epochs=2); _ = train_born_again(b, X, 1 - y, t, epochs=2)
    >>> torch.equal(a.weight, b.weight)  # the labels play no part
    True
    """
    return train_kd(model, X, y, teacher_logits, epochs=epochs, alpha=alpha, temperature=temperature, **kw)


def regressor_for(ir: torch.Tensor, seed: int = 0) -> nn.Module:
    """FitNets' regressor from a guided IR to a hint IR of the same shape (same width).

    A 1x1 convolution for ``(n, c, l)`` or ``(n, c, h, w)`` IRs, a linear map for ``(n, d)``.

    Examples
    --------
    >>> regressor_for(torch.zeros(2, 8, 5, 5))
    Conv2d(8, 8, kernel_size=(1, 1), stride=(1, 1))
    """
    c = ir.shape[1]
    make = {2: lambda: nn.Linear(c, c), 3: lambda: nn.Conv1d(c, c, 1), 4: lambda: nn.Conv2d(c, c, 1)}[ir.dim()]
    return seeded(make, seed)


class _Stop(Exception):
    pass


def _forward_until(model: nn.Module, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``model(x)`` only as far as ``module`` and return its output (a hook stops the rest)."""
    seen = {}

    def hook(_m, _a, out):
        seen["out"] = out
        raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    return seen["out"]


@torch.no_grad()
def _teacher_output(teacher: nn.Module, blocks, x: torch.Tensor, k: int) -> torch.Tensor:
    """The teacher's output of block ``k`` on ``x``, in eval mode (its mode is restored)."""
    was = teacher.training
    teacher.eval()
    try:
        return capture(teacher, blocks, x)[1][k]
    finally:
        teacher.train(was)


def train_fitnets(student: nn.Module, teacher: nn.Module, X, y, teacher_logits, *, teacher_blocks,
                  student_blocks, hint_epochs: int, kd_epochs: int, hint_block: int | None = None,
                  lr: float = 3e-3, weight_decay: float = 5e-4, batch_size: int = 128, seed: int = 0,
                  alpha: float = 0.95, temperature: float = 6.0, val=None, progress: bool = False,
                  augment=None) -> list[dict]:
    """FitNets: hint training of the student's lower part through a regressor, then KD.

    Parameters
    ----------
    teacher_blocks, student_blocks : list
        The blocks of each model, as for :class:`dawnlab.lit.LIT`.
    hint_block : int, optional
        Whose output is the hint (teacher) and the guided layer (student);
        the middle block by default.
    augment : callable, optional
        ``augment(x, generator)``: transform each minibatch; the hint and the
        KD logits are then the teacher's on the augmented minibatch.

    Returns
    -------
    list of dict
        Records of the hint epochs (``phase="hint"``, ``loss`` the MSE) then the KD epochs.
    """
    t_blocks = resolve_blocks(teacher, teacher_blocks, "teacher_blocks", "train_fitnets", "teacher")
    s_blocks = resolve_blocks(student, student_blocks, "student_blocks", "train_fitnets", "student")
    k = (len(t_blocks) - 1) // 2 if hint_block is None else hint_block
    # without augmentation the hints are computed once; with it, per minibatch on the augmented inputs
    _, outs, _ = teacher_irs(teacher, t_blocks, X if augment is None else X[:2])
    hint = outs[k]
    guided = s_blocks[k][-1][1]
    reg = regressor_for(hint, seed)
    # the student's parameters up to the guided layer: those that get a gradient from the hint loss
    probe = _forward_until(student, guided, X[:2])
    student.zero_grad()
    ir_loss(reg(probe), hint[:2]).backward()
    lower = [p for p in student.parameters() if p.grad is not None]
    student.zero_grad()
    opt = torch.optim.Adam(lower + list(reg.parameters()), lr=lr, weight_decay=weight_decay)
    steps = math.ceil(len(X) / batch_size)
    records = []
    student.train()
    for epoch in tqdm(range(hint_epochs), desc="FitNets hints", disable=not progress, leave=False):
        losses = []
        for i, idx in enumerate(batches(len(X), batch_size, seed, "hint", epoch)):
            lr_now = cosine_lr(lr, epoch * steps + i, hint_epochs * steps)
            set_lr(opt, lr_now)
            if augment is None:
                xb, target = X[idx], hint[idx]
            else:
                xb = augmented(augment, X[idx], seed, "hint", epoch, i)
                target = _teacher_output(teacher, t_blocks, xb, k)
            loss = ir_loss(reg(_forward_until(student, guided, xb)), target)
            check_finite(loss, "FitNets hint", epoch, i, lr_now, None)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        records.append({"phase": "hint", "epoch": epoch + 1, "loss": float(np.mean(losses)),
                        "val_acc": accuracy(student, *val) if val is not None else None})
    records += train_kd(student, X, y, teacher_logits, epochs=kd_epochs, alpha=alpha, temperature=temperature,
                        val=val, lr=lr, weight_decay=weight_decay, batch_size=batch_size, seed=seed,
                        teacher=teacher if augment is not None else None, augment=augment)
    return records
