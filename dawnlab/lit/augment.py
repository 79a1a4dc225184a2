"""Data augmentation for every method of :mod:`dawnlab.lit`: small random affine maps of image batches.

Off by default everywhere (``augment=None``): the library cannot know which
transformations leave a user's labels unchanged.  When it is on, every method
(the teacher, scratch, KD, FitNets, Born-Again and LIT) transforms each
minibatch with the same seeded draws, and every teacher output that a student
learns from is computed on the *augmented* batch the student sees: the KD
logits, FitNets' hint, and, for LIT, the teacher-forced block inputs and the
block targets of Section 3.1 of Koratana et al. (arXiv 1810.01937).  So
nothing is cached from un-augmented inputs, at the price of one teacher
forward pass per step.  The paper itself trains on CIFAR-10 with the usual
random crops and flips (the authors' released code), which is the same idea.

An augmentation is any callable ``augment(x, generator) -> x'`` that keeps the
batch's shape and draws its randomness from the ``torch.Generator`` it is given;
the training loops seed that generator by ``(seed, phase, epoch, step)``
(:func:`dawnlab.lit.training.augment_generator`), so a run with augmentation
stays reproducible and resumable.  :class:`RandomAffine` is the built-in one,
for ``(n, c, h, w)`` images, in plain torch (``affine_grid`` and ``grid_sample``).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from dawnlab.lit.errors import LITError

__all__ = ["RandomAffine"]


class RandomAffine:
    """Random shift, rotation and scaling of each image of a batch, about its centre.

    Each image gets its own draw: a shift of up to ``max_shift`` pixels along
    each axis, a rotation of up to ``max_rotation`` degrees either way and a
    scale in ``[1 - max_scale, 1 + max_scale]``, all uniform.  Bilinear
    sampling; what moves in from outside the image is 0 (the background of
    the MNIST digits).

    Parameters
    ----------
    max_shift : float
        Largest shift in pixels along each axis (>= 0).
    max_rotation : float
        Largest rotation in degrees (in [0, 180]).
    max_scale : float
        Largest relative change of size (in [0, 1)).

    Raises
    ------
    LITError
        If a setting is out of its range, or a batch is not ``(n, c, h, w)``.

    Examples
    --------
    >>> aug = RandomAffine(max_shift=2, max_rotation=10)
    >>> x = torch.zeros(3, 1, 20, 20); x[:, :, 8:12, 8:12] = 1
    >>> out = aug(x, torch.Generator().manual_seed(0))
    >>> out.shape == x.shape, bool((out != x).any())
    (True, True)
    >>> torch.equal(out, aug(x, torch.Generator().manual_seed(0)))  # the generator decides everything
    True
    >>> aug
    RandomAffine(max_shift=2.0, max_rotation=10.0, max_scale=0.0)
    """

    def __init__(self, max_shift: float = 2.0, max_rotation: float = 10.0, max_scale: float = 0.0):
        checks = [("max_shift", max_shift, "a float >= 0 (pixels)", max_shift >= 0),
                  ("max_rotation", max_rotation, "a float in [0, 180] (degrees)", 0 <= max_rotation <= 180),
                  ("max_scale", max_scale, "a float in [0, 1)", 0 <= max_scale < 1)]
        for name, value, rule, ok in checks:
            if not ok or not math.isfinite(value):
                raise LITError(f"The {name!r} argument of RandomAffine must be {rule}. Got {value!r} instead.")
        self.max_shift, self.max_rotation, self.max_scale = float(max_shift), float(max_rotation), float(max_scale)

    def __repr__(self) -> str:
        return (f"RandomAffine(max_shift={self.max_shift}, max_rotation={self.max_rotation}, "
                f"max_scale={self.max_scale})")

    def draw(self, n: int, generator: torch.Generator) -> dict:
        """The per-image parameters: ``shift`` ``(n, 2)`` pixels (x right, y down), ``angle`` (radians), ``scale``."""
        u = torch.rand(n, 4, generator=generator) * 2 - 1
        return {"angle": u[:, 0] * math.radians(self.max_rotation), "scale": 1 + u[:, 1] * self.max_scale,
                "shift": u[:, 2:] * self.max_shift}

    def matrices(self, params: dict, h: int, w: int) -> torch.Tensor:
        """``affine_grid``'s ``(n, 2, 3)`` maps (output to input, normalised coordinates) for ``params``."""
        a, s, shift = params["angle"], params["scale"], params["shift"]
        cos, sin = torch.cos(a) / s, torch.sin(a) / s
        # the content moves by +shift: output point p samples the input at R^-1 (p - shift), in [-1, 1] units
        tx, ty = shift[:, 0] * 2 / w, shift[:, 1] * 2 / h
        return torch.stack([torch.stack([cos, sin, -(cos * tx + sin * ty)], 1),
                            torch.stack([-sin, cos, -(-sin * tx + cos * ty)], 1)], 1)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if x.dim() != 4:
            raise LITError(f"The batch given to RandomAffine must be images of shape (n, c, h, w). Got shape "
                           f"{tuple(x.shape)} instead. Use augment=None, or an augmentation for this data.")
        n, _, h, w = x.shape
        theta = self.matrices(self.draw(n, generator), h, w).to(x.dtype)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
