"""The losses of LIT training (Koratana et al., arXiv 1810.01937, Section 3).

* :func:`kd_loss` is Hinton et al.'s knowledge-distillation loss in the form the
  LIT authors use: ``alpha`` weights the hard-label cross-entropy and
  ``1 - alpha`` the soft term, which is ``T**2`` times the Kullback-Leibler
  divergence between the teacher's and the student's softened distributions.
  (The released code uses the soft cross-entropy, which differs from the KL
  divergence by the teacher's entropy, a constant with the same gradient.)
* :func:`ir_loss` is the intermediate-representation loss: the mean squared
  error between a student block's output and the teacher's output of the same
  block (Section 3).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["kd_loss", "ir_loss"]


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
            alpha: float = 0.95, temperature: float = 6.0) -> torch.Tensor:
    """Knowledge-distillation loss: ``alpha * CE(s, y) + (1 - alpha) * T^2 * KL(p_t || p_s)``.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor
        ``(n, classes)`` logits.
    labels : torch.Tensor
        ``(n,)`` int64 class labels.
    alpha : float
        Weight of the hard-label cross-entropy, in ``[0, 1]``.
    temperature : float
        Softmax temperature ``T > 0`` of the soft term.

    Returns
    -------
    torch.Tensor
        The scalar loss, averaged over the batch.

    Examples
    --------
    >>> s = torch.tensor([[2.0, 0.0]]); t = torch.tensor([[0.0, 2.0]]); y = torch.tensor([0])
    >>> round(kd_loss(s, t, y, alpha=1.0).item(), 4)  # only the hard term: log(1 + e^-2)
    0.1269
    >>> float(kd_loss(t, t, torch.tensor([1]), alpha=0.0))  # same logits: no soft loss
    0.0
    """
    hard = F.cross_entropy(student_logits, labels)
    log_p_s = F.log_softmax(student_logits / temperature, dim=1)
    log_p_t = F.log_softmax(teacher_logits / temperature, dim=1)
    soft = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    return alpha * hard + (1.0 - alpha) * temperature ** 2 * soft


def ir_loss(student_ir: torch.Tensor, teacher_ir: torch.Tensor) -> torch.Tensor:
    """Mean squared error between a student block's output and the teacher's.

    Examples
    --------
    >>> float(ir_loss(torch.ones(2, 3), torch.zeros(2, 3)))
    1.0
    """
    return F.mse_loss(student_ir, teacher_ir)
