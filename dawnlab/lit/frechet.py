"""A Frechet distance between image sets, on the features of a digit classifier trained here.

Heusel et al.'s FID (2017) is the Frechet distance between Gaussians fitted to
Inception-v3 features of real and generated images.  There is no Inception
network offline here, and its ImageNet features are a poor fit for 20x20
digits, so :class:`DigitFeatures` is a small CNN trained on the digits
themselves, and :func:`frechet_distance` is computed on its penultimate-layer
features.  **It is not the Inception FID**: its values are comparable with
each other (same classifier, same real set), not with published FIDs.

``d^2 = |mu_1 - mu_2|^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})`` (Dowson and
Landau, 1982), the matrix square root from :func:`scipy.linalg.sqrtm`.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import linalg
from torch import nn
from torch.nn import functional as F

from dawnlab.lit.training import seeded, train_supervised

__all__ = ["frechet_distance", "gaussian_stats", "DigitFeatures", "train_digit_features"]


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples)."""
    features = np.asarray(features, dtype=np.float64)
    return features.mean(0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    Examples
    --------
    >>> # diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    >>> round(frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.ones(2), np.diag([4.0, 1.0])), 6)
    4.0
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # singular product: regularize, as the reference FID code does
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class DigitFeatures(nn.Module):
    """A small CNN digit classifier whose penultimate features score generated digits.

    Examples
    --------
    >>> DigitFeatures().embed(torch.zeros(3, 1, 20, 20)).shape
    torch.Size([3, 64])
    """

    def __init__(self, num_classes: int = 10, dim: int = 64):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 25, dim)
        self.fc = nn.Linear(dim, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 20)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc1(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))

    @torch.no_grad()
    def features(self, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
        """Penultimate features of ``images`` (``(n, 1, h, w)`` in ``[0, 1]``), eval mode."""
        self.eval()
        return torch.cat([self.embed(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]).numpy()


def train_digit_features(X: torch.Tensor, y: torch.Tensor, *, epochs: int = 8, seed: int = 0,
                         val=None) -> tuple[DigitFeatures, float | None]:
    """Train :class:`DigitFeatures` on digits; return it and its accuracy on ``val``."""
    net = seeded(DigitFeatures, seed)
    rec = None
    for rec in train_supervised(net, X, y, epochs=epochs, lr=2e-3, seed=seed, val=val):
        pass
    acc = rec["val_acc"] if rec is not None else None
    return net, acc
