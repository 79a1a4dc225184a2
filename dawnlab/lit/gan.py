"""LIT for GAN generators: compress a residual generator's middle section (arXiv 1810.01937, its GAN experiment).

KD cannot compress a generator, which outputs pixels, not class scores; LIT
can, because it only matches intermediate representations.  The paper
compresses StarGAN's generator (down-sampling, residual blocks, up-sampling) by
training a student with fewer residual blocks on the teacher's IRs of that
section, then fine-tuning it adversarially.  Here, on the 5000 MNIST digits at
20x20 (:func:`dawnlab.data.load_opencv_digits`):

* :class:`Generator`: a latent code through ``stem`` (a linear map to
  ``width x 5 x 5``, the analogue of the down-sampling part), ``blocks``
  (residual blocks at 5x5) and ``head`` (two transposed convolutions up to
  20x20, then a sigmoid).  :class:`Discriminator` is a small strided CNN.
* :func:`train_gan` trains a generator adversarially (non-saturating loss,
  Adam 2e-4, betas (0.5, 0.999) as in DCGAN).
* :func:`gan_experiment` trains the teacher; a student with fewer blocks gets
  the teacher's stem and head, is trained by :class:`dawnlab.lit.LIT` on the
  middle section (the LIT phase with ``beta = 0``, as there are no logits to
  distill, on latent codes drawn from the prior), then fine-tuned adversarially
  against a copy of the teacher's discriminator; a student of the same size is
  trained adversarially from scratch on the same number of epochs.  All three
  are scored by the Frechet distance of :mod:`dawnlab.lit.frechet` against
  held-out real digits (not the Inception FID).
"""

from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from dawnlab.errors import invalid
from dawnlab.lit.frechet import frechet_distance, gaussian_stats, train_digit_features
from dawnlab.lit.trainer import LIT
from dawnlab.lit.training import batches, check_finite, seeded

__all__ = ["Generator", "Discriminator", "train_gan", "sample", "generator_spec", "gan_experiment"]


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.conv1, self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.Conv2d(c, c, 3, padding=1, bias=False)

    def forward(self, x):
        return x + self.conv2(F.relu(self.bn2(self.conv1(F.relu(self.bn1(x))))))


class Generator(nn.Module):
    """Latent code -> 20x20 digit: ``stem`` (to width x 5 x 5), ``blocks`` (residual), ``head`` (up-sampling).

    Examples
    --------
    >>> Generator(n_blocks=2, width=8)(torch.zeros(3, 16)).shape
    torch.Size([3, 1, 20, 20])
    """

    def __init__(self, n_blocks: int = 6, width: int = 32, z_dim: int = 16):
        super().__init__()
        if not isinstance(n_blocks, int) or n_blocks < 1:
            raise invalid("n_blocks", "Generator", "an int >= 1", n_blocks)
        self.n_blocks, self.width, self.z_dim = n_blocks, width, z_dim
        self.depth = n_blocks * 2 + 3
        self.stem = nn.Sequential(nn.Linear(z_dim, width * 25), nn.Unflatten(1, (width, 5, 5)))
        self.blocks = nn.Sequential(*[_ResBlock(width) for _ in range(n_blocks)])
        self.head = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(),
                                  nn.ConvTranspose2d(width, width // 2, 4, stride=2, padding=1),
                                  nn.BatchNorm2d(width // 2), nn.ReLU(),
                                  nn.ConvTranspose2d(width // 2, 1, 4, stride=2, padding=1), nn.Sigmoid())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(z)))


class Discriminator(nn.Module):
    """A small strided CNN scoring 20x20 images (a logit, real > fake)."""

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1, width, 4, 2, 1), nn.LeakyReLU(0.2),
                                 nn.Conv2d(width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
                                 nn.Flatten(), nn.Linear(2 * width * 25, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


def generator_spec(teacher: Generator, student: Generator, sections: int = 2) -> dict:
    """LIT's configuration for two generators: the residual blocks in ``sections`` chains each.

    Examples
    --------
    >>> generator_spec(Generator(6, 8), Generator(2, 8))["blocks"]
    ([['blocks.0', 'blocks.1', 'blocks.2'], ['blocks.3', 'blocks.4', 'blocks.5']], [['blocks.0'], ['blocks.1']])
    """
    def split(g):
        if g.n_blocks % sections:
            raise invalid("sections", "generator_spec", f"a divisor of both block counts", sections)
        k = g.n_blocks // sections
        return [[f"blocks.{s * k + i}" for i in range(k)] for s in range(sections)]

    return {"blocks": (split(teacher), split(student)), "stem": ["stem"], "head": ["head"]}


def _latent(n: int, z_dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def sample(G: Generator, n: int, seed: int = 0) -> torch.Tensor:
    """``n`` images from ``G`` in eval mode, for fixed latent codes of ``seed``."""
    G.eval()
    out = torch.cat([G(z) for z in _latent(n, G.z_dim, seed).split(500)])
    G.train()
    return out


def train_gan(G: Generator, D: Discriminator, X: torch.Tensor, *, epochs: int, seed: int = 0,
              lr: float = 2e-4, batch_size: int = 64, g_lr: float | None = None, progress: bool = False):
    """Train ``G`` and ``D`` adversarially on images ``X`` (``(n, 1, 20, 20)`` in [0, 1]); yield a record per epoch.

    ``lr`` is the discriminator's Adam learning rate and, unless ``g_lr`` is
    given, the generator's.
    """
    opt_g = torch.optim.Adam(G.parameters(), lr=lr if g_lr is None else g_lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=lr, betas=(0.5, 0.999))
    g = torch.Generator().manual_seed(seed + 7)
    G.train()
    D.train()
    for epoch in tqdm(range(epochs), desc="GAN", disable=not progress, leave=False):
        t0, d_losses, g_losses = time.perf_counter(), [], []
        for i, idx in enumerate(batches(len(X), batch_size, seed, "gan", epoch)):
            real = X[idx]
            fake = G(torch.randn(len(idx), G.z_dim, generator=g))
            d_loss = (F.binary_cross_entropy_with_logits(D(real), torch.ones(len(idx)))
                      + F.binary_cross_entropy_with_logits(D(fake.detach()), torch.zeros(len(idx))))
            check_finite(d_loss, "discriminator", epoch, i, lr, None)
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.binary_cross_entropy_with_logits(D(fake), torch.ones(len(idx)))
            check_finite(g_loss, "generator", epoch, i, lr, None)
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            d_losses.append(d_loss.item())
            g_losses.append(g_loss.item())
        yield {"phase": "gan", "epoch": epoch + 1, "d_loss": float(np.mean(d_losses)),
               "g_loss": float(np.mean(g_losses)), "seconds": time.perf_counter() - t0}


def gan_experiment(train, test, *, teacher_blocks: int = 6, student_blocks: int = 2, width: int = 32,
                   gan_epochs: int = 15, lit_epochs: int = 3, finetune_epochs: int = 5, classifier_epochs: int = 6,
                   finetune_lr: float = 2e-5, n_samples: int = 1000, seed: int = 0, checkpoint_dir=None,
                   progress: bool = False) -> dict:
    """Teacher GAN, LIT-compressed student, from-scratch student: Frechet distances to real test digits.

    Parameters
    ----------
    train, test : (X, y)
        Digit images ``(n, 1, 20, 20)`` in ``[0, 1]`` and labels; ``train``
        trains the GANs and the feature classifier, ``test`` is the real set scored against.
    finetune_lr : float
        The LIT student's generator learning rate in the adversarial
        fine-tuning (the discriminator keeps 2e-4): ten times below the
        from-scratch rate, so that fine-tuning refines the IR-trained generator
        rather than restarting it (the classifier recipe's ``kd_lr = lr / 10``).
        The authors' StarGAN code freezes the generator after the LIT phase
        (its ``train`` sets ``requires_grad = False`` before ``fine_tune``), so
        ``fd_lit_before_finetune`` is the figure of their recipe.
    checkpoint_dir : path, optional
        Each finished stage (classifier, teacher GAN, LIT student, scratch
        student) is saved there atomically; a rerun with the same folder and
        arguments resumes after the last finished stage.

    Returns
    -------
    dict
        ``fd_teacher``, ``fd_lit`` (after adversarial fine-tuning),
        ``fd_lit_before_finetune`` (IR training only), ``fd_scratch``,
        ``fd_real_halves`` (a second half of the test digits against the first:
        the floor), ``classifier_acc``, the block counts and the seconds of each part.
    """
    from pathlib import Path

    from dawnlab.lit.training import load_checkpoint, save_checkpoint

    X, y = train
    Xt, yt = test
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    settings = {"teacher_blocks": teacher_blocks, "student_blocks": student_blocks, "width": width,
                "gan_epochs": gan_epochs, "lit_epochs": lit_epochs, "finetune_epochs": finetune_epochs,
                "classifier_epochs": classifier_epochs, "finetune_lr": finetune_lr, "n_samples": n_samples,
                "seed": seed, "n_train": len(X), "n_test": len(Xt)}

    def stage(name, run):
        path = ckpt / f"gan_{name}.pt" if ckpt is not None else None
        if path is not None:
            saved = load_checkpoint(path)
            if saved is not None and saved["settings"] == settings:
                return saved["value"]
        value = run()
        if path is not None:
            save_checkpoint(path, {"settings": settings, "value": value})
        return value

    def run_classifier():
        t0 = time.perf_counter()
        net, acc = train_digit_features(X, y, epochs=classifier_epochs, seed=seed, val=(Xt, yt))
        return {"state": net.state_dict(), "dim": net.fc1.out_features, "acc": acc, "seconds": time.perf_counter() - t0}

    from dawnlab.lit.frechet import DigitFeatures

    c = stage("classifier", run_classifier)
    clf = DigitFeatures(dim=c["dim"])
    clf.load_state_dict(c["state"])
    clf.eval()
    real = clf.features(Xt)
    mu_r, s_r = gaussian_stats(real)

    def fd(G):
        return frechet_distance(*gaussian_stats(clf.features(sample(G, n_samples, seed + 99))), mu_r, s_r)

    half = len(Xt) // 2
    fd_real = frechet_distance(*gaussian_stats(real[:half]), *gaussian_stats(real[half:]))
    out = {"classifier_acc": c["acc"], "fd_real_halves": fd_real, "teacher_blocks": teacher_blocks,
           "student_blocks": student_blocks, "classifier_seconds": c["seconds"]}

    def run_teacher():
        t0 = time.perf_counter()
        G = seeded(lambda: Generator(teacher_blocks, width), seed)
        D = seeded(lambda: Discriminator(width), seed + 1)
        for _ in train_gan(G, D, X, epochs=gan_epochs, seed=seed, progress=progress):
            pass
        return {"G": G.state_dict(), "D": D.state_dict(), "fd": fd(G), "seconds": time.perf_counter() - t0}

    t = stage("teacher", run_teacher)
    teacher = Generator(teacher_blocks, width)
    teacher.load_state_dict(t["G"])
    D = Discriminator(width)
    D.load_state_dict(t["D"])
    out["fd_teacher"], out["teacher_seconds"] = t["fd"], t["seconds"]

    def run_lit():
        t0 = time.perf_counter()
        init = seeded(lambda: Generator(student_blocks, width), seed + 1000)
        Z = _latent(len(X), teacher.z_dim, seed + 5)
        lit = LIT(teacher, init, **generator_spec(teacher, init), beta=0.0, lit_epochs=lit_epochs, kd_epochs=0,
                  lr=2e-3, batch_size=64, seed=seed, progress=progress)
        student = lit.train((Z, torch.zeros(len(Z), dtype=torch.long))).student_
        before = fd(student)
        for _ in train_gan(student, copy.deepcopy(D), X, epochs=finetune_epochs, seed=seed + 1, g_lr=finetune_lr,
                           progress=progress):
            pass
        return {"fd_lit_before_finetune": before, "fd_lit": fd(student), "lit_seconds": time.perf_counter() - t0,
                "lit_ir_loss": lit.history_[-1]["ir_loss"] if lit.history_ else None}

    out.update(stage("lit", run_lit))

    def run_scratch():
        t0 = time.perf_counter()
        scratch = seeded(lambda: Generator(student_blocks, width), seed + 1000)
        D2 = seeded(lambda: Discriminator(width), seed + 1)
        for _ in train_gan(scratch, D2, X, epochs=lit_epochs + finetune_epochs, seed=seed, progress=progress):
            pass
        return {"fd_scratch": fd(scratch), "scratch_seconds": time.perf_counter() - t0}

    out.update(stage("scratch", run_scratch))
    return out
