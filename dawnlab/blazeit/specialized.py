"""Specialized NNs: tiny ResNets that predict per-frame object-count distributions.

BlazeIt (arXiv 1805.01046, Section 5) replaces the expensive detector, where it
can, by a *specialized* network: a small ResNet on low-resolution frames
(about 65x65) trained on the oracle's labels of a training part of the video
to predict, for each class in the query, the distribution of the number of
objects in the frame (counts ``0 .. K``, the last bin meaning ``>= K``).  It is
cheap enough to run on every frame; the optimizer then uses it as a control
variate (Section 6), to rank frames for limit queries (Section 7), or as a
filter (the first version's Section 5), after checking it on held-out frames.

:class:`CountNet` is the network (plain torch, three residual stages);
:class:`SpecializedNN` trains it on the CPU and predicts.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from dawnlab.errors import invalid

__all__ = ["CountNet", "SpecializedNN"]


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.skip(x))


class CountNet(nn.Module):
    """A tiny ResNet: stem, three residual blocks, pooled features, one count head per class.

    Examples
    --------
    >>> net = CountNet(n_classes=2, n_bins=4)
    >>> net(torch.zeros(3, 3, 65, 65)).shape
    torch.Size([3, 2, 4])
    """

    def __init__(self, n_classes: int, n_bins: int, width: int = 8):
        super().__init__()
        self.n_classes, self.n_bins = n_classes, n_bins
        # 65x65 -> 33x33 (stride-2 conv) -> 16x16 (max-pool) -> 16x16 -> 8x8 -> 4x4
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(), nn.MaxPool2d(2))
        self.stages = nn.Sequential(_Block(width, 2 * width, 1), _Block(2 * width, 4 * width, 2),
                                    _Block(4 * width, 4 * width, 2))
        self.head = nn.Linear(4 * width, n_classes * n_bins)

    def forward(self, x):
        z = self.stages(self.stem(x))
        return self.head(z.mean(dim=(2, 3))).view(-1, self.n_classes, self.n_bins)


class SpecializedNN:
    """Train a :class:`CountNet` on oracle counts and predict count distributions.

    Parameters
    ----------
    classes : sequence of str
        The classes to count.
    max_count : int, optional
        The largest count bin ``K`` (counts above it fall in it); default: the
        largest count in the training labels, at most 10.
    epochs : int
    batch_size : int
    lr : float
    width : int
        Channels of the first stage.
    seed : int
    threads : int
        ``torch`` threads while training and predicting.
    flip : bool
        Train on each thumbnail and its left-right mirror image (a count of
        objects does not change when the frame is mirrored), and predict
        the mean of the two images' distributions; on ``vtest.avi`` it
        lowers the residual of the NN's expected count against the oracle's.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.integers(0, 255, (16, 65, 65, 3), dtype=np.uint8)
    >>> nn_ = SpecializedNN(["car", "bus"], epochs=1, seed=0).fit(x, rng.integers(0, 3, (16, 2)))
    >>> p = nn_.predict_proba(x[:4])
    >>> p.shape, bool(np.allclose(p.sum(-1), 1))
    ((4, 2, 3), True)
    """

    def __init__(self, classes, max_count: int | None = None, epochs: int = 6,
                 batch_size: int = 64, lr: float = 3e-3, width: int = 8, seed: int = 0,
                 threads: int = 1, flip: bool = False):
        if not classes:
            raise invalid("classes", "SpecializedNN", "a non-empty sequence of class names", classes)
        if not isinstance(epochs, int) or epochs < 1:
            raise invalid("epochs", "SpecializedNN", "a positive int", epochs)
        self.classes = tuple(classes)
        self.max_count, self.epochs, self.batch_size, self.lr = max_count, epochs, batch_size, lr
        self.width, self.seed, self.threads = width, seed, threads
        if not isinstance(flip, (bool, np.bool_)):
            raise invalid("flip", "SpecializedNN", "True or False", flip)
        self.flip = bool(flip)
        self.net_: CountNet | None = None

    @staticmethod
    def _tensor(thumbs: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(thumbs)).permute(0, 3, 1, 2).float()
        return x / 255.0 - 0.5

    def fit(self, thumbs: np.ndarray, counts: np.ndarray, progress=None) -> SpecializedNN:
        """Train on thumbnails ``(n, s, s, 3)`` uint8 and counts ``(n, n_classes)``."""
        counts = np.asarray(counts).reshape(len(thumbs), len(self.classes))
        if len(thumbs) < 2:
            raise invalid("thumbs", "SpecializedNN.fit", "at least 2 training frames", len(thumbs))
        if self.flip:
            thumbs = np.concatenate([thumbs, thumbs[:, :, ::-1]])
            counts = np.concatenate([counts, counts])
        k = self.max_count if self.max_count is not None else int(min(10, max(1, counts.max())))
        self.max_count_ = k
        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            gen = torch.Generator().manual_seed(self.seed)
            torch.manual_seed(self.seed)  # layer initialisation
            net = CountNet(len(self.classes), k + 1, self.width)
            x = self._tensor(thumbs)
            y = torch.from_numpy(np.minimum(counts, k)).long()
            opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=1e-4)
            steps = self.epochs * int(np.ceil(len(x) / self.batch_size))
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, self.lr, total_steps=steps)
            net.train()
            step = 0
            for epoch in range(self.epochs):
                perm = torch.randperm(len(x), generator=gen)
                for s in range(0, len(x), self.batch_size):
                    idx = perm[s:s + self.batch_size]
                    if len(idx) < 2:
                        continue
                    logits = net(x[idx])
                    loss = F.cross_entropy(logits.reshape(-1, k + 1), y[idx].reshape(-1))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    if step < steps - 1:
                        sched.step()
                    step += 1
                if progress is not None:
                    progress(epoch + 1, self.epochs, float(loss))
            net.eval()
            self.net_ = net
        finally:
            torch.set_num_threads(old)
        return self

    def predict_proba(self, thumbs: np.ndarray, batch: int = 512) -> np.ndarray:
        """Count distributions, shape ``(n, n_classes, K + 1)``."""
        if self.net_ is None:
            raise RuntimeError("SpecializedNN.fit must be called before predicting")
        old = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            out = []
            with torch.inference_mode():
                for s in range(0, len(thumbs), batch):
                    part = thumbs[s:s + batch]
                    p = F.softmax(self.net_(self._tensor(part)), -1).numpy()
                    if self.flip:
                        p = (p + F.softmax(self.net_(self._tensor(part[:, :, ::-1])), -1).numpy()) / 2
                    out.append(p)
        finally:
            torch.set_num_threads(old)
        return np.concatenate(out) if out else np.zeros((0, len(self.classes), self.max_count_ + 1))

    @staticmethod
    def expected(proba: np.ndarray) -> np.ndarray:
        """Expected count per class, shape ``(n, n_classes)``."""
        return (proba * np.arange(proba.shape[-1])).sum(-1)

    @staticmethod
    def prob(proba: np.ndarray, op: str, threshold: float) -> np.ndarray:
        """Probability that the count satisfies ``count op threshold``, per frame and class."""
        bins = np.arange(proba.shape[-1])
        mask = {">=": bins >= threshold, ">": bins > threshold, "=": bins == threshold,
                "<=": bins <= threshold, "<": bins < threshold,
                "!=": bins != threshold}[op]
        if op in (">=", ">"):
            mask[-1] = True if threshold >= proba.shape[-1] - 1 else mask[-1]
        return (proba * mask).sum(-1)
