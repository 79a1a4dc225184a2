"""A 1-D pre-activation residual CNN for MNIST-1D, and the built-in block specs.

LIT (Koratana et al., arXiv 1810.01937, Section 3) splits a teacher and a
shallower student of the same width into the same number of blocks; for a
ResNet the blocks are its stages.  :class:`ResNet1D` is the 1-D sibling of the
pre-activation ResNets of :mod:`dawnlab.svp.models` (He et al., 2016): a stem
convolution, three stages of basic residual blocks (two convolutions each) with
``width``, ``2 * width`` and ``4 * width`` channels, the second and third stages
starting with a stride of 2, then batch norm, ReLU, global average and a linear
classifier; ``depth = 6 n + 2`` weighted layers for ``n`` blocks per stage.

:func:`resnet_spec` returns the LIT configuration for a teacher and a student of
either family: the stages as blocks (each a chain of the model's ``blocks.k``
submodules), the stem (``stem``) and the head (``bn``, ``fc``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dawnlab.errors import invalid

__all__ = ["ResNet1D", "resnet_stages", "resnet_spec", "layer_count"]


class _PreActBlock1D(nn.Module):
    """BN-ReLU-conv twice, plus the identity or a strided 1x1 projection."""

    def __init__(self, c_in: int, c_out: int, stride: int, kernel: int):
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm1d(c_in), nn.BatchNorm1d(c_out)
        self.conv1 = nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.conv2 = nn.Conv1d(c_out, c_out, kernel, padding=kernel // 2, bias=False)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv1d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        return self.conv2(F.relu(self.bn2(out))) + skip


class ResNet1D(nn.Module):
    """A pre-activation residual CNN over 1-D signals (three stages).

    Parameters
    ----------
    depth : int
        Weighted layers on the main path, ``6 n + 2`` with ``n >= 1`` blocks
        per stage (8, 14, 20, 26, 32, ...).
    width : int
        Channels of the first stage; later stages double it.
    num_classes : int
        Output classes (>= 2).
    in_channels : int
        Channels of the input; a ``(n, length)`` input is read as one channel.
    kernel : int
        Odd kernel size of the residual convolutions (the stem uses ``kernel + 2``).

    Examples
    --------
    >>> net = ResNet1D(depth=8, width=4)
    >>> net(torch.zeros(2, 40)).shape
    torch.Size([2, 10])
    >>> [name for name, _ in net.named_children()]
    ['stem', 'blocks', 'bn', 'fc']
    """

    def __init__(self, depth: int = 20, width: int = 16, num_classes: int = 10,
                 in_channels: int = 1, kernel: int = 3):
        super().__init__()
        if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise invalid("depth", "ResNet1D", "an int of the form 6 n + 2 with n >= 1 (8, 14, 20, 26, ...)", depth)
        for name, value, low in [("width", width, 1), ("num_classes", num_classes, 2),
                                 ("in_channels", in_channels, 1)]:
            if not isinstance(value, int) or value < low:
                raise invalid(name, "ResNet1D", f"an int >= {low}", value)
        if not isinstance(kernel, int) or kernel < 1 or kernel % 2 == 0:
            raise invalid("kernel", "ResNet1D", "an odd positive int", kernel)
        self.depth, self.width, self.block = depth, width, "basic"
        n = (depth - 2) // 6
        self.stem = nn.Conv1d(in_channels, width, kernel + 2, padding=(kernel + 2) // 2, bias=False)
        blocks, c_in = [], width
        for stage, planes in enumerate([width, 2 * width, 4 * width]):
            for i in range(n):
                blocks.append(_PreActBlock1D(c_in, planes, 2 if stage > 0 and i == 0 else 1, kernel))
                c_in = planes
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm1d(c_in)
        self.fc = nn.Linear(c_in, num_classes)
        self.embedding_dim = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features: global average of the last stage."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return F.relu(self.bn(self.blocks(self.stem(x)))).mean(dim=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


def _blocks_per_stage(model: nn.Module) -> int:
    depth, block = getattr(model, "depth", None), getattr(model, "block", None)
    step = {"basic": 6, "bottleneck": 9}.get(block)
    if step is None or not isinstance(depth, int) or not hasattr(model, "blocks"):
        raise invalid("model", "resnet_stages", "a dawnlab.svp.models.ResNet or dawnlab.lit.ResNet1D",
                      type(model).__name__, "Name the blocks yourself for other models.")
    return (depth - 2) // step


def resnet_stages(model: nn.Module) -> list[list[str]]:
    """The three stages of a pre-activation ResNet, each as its chain of block names.

    Examples
    --------
    >>> resnet_stages(ResNet1D(depth=14, width=4))
    [['blocks.0', 'blocks.1'], ['blocks.2', 'blocks.3'], ['blocks.4', 'blocks.5']]
    """
    n = _blocks_per_stage(model)
    return [[f"blocks.{s * n + i}" for i in range(n)] for s in range(3)]


def resnet_spec(teacher: nn.Module, student: nn.Module) -> dict:
    """LIT's configuration for two pre-activation ResNets: stages, stem and head.

    Returns keyword arguments for :class:`dawnlab.lit.LIT`:
    ``blocks=(teacher stages, student stages)``, ``stem=["stem"]`` and
    ``head=["bn", "fc"]``.

    Examples
    --------
    >>> spec = resnet_spec(ResNet1D(depth=26, width=4), ResNet1D(depth=8, width=4))
    >>> spec["blocks"][1], spec["stem"], spec["head"]
    ([['blocks.0'], ['blocks.1'], ['blocks.2']], ['stem'], ['bn', 'fc'])
    """
    return {"blocks": (resnet_stages(teacher), resnet_stages(student)), "stem": ["stem"], "head": ["bn", "fc"]}


def layer_count(model: nn.Module) -> int:
    """Weighted layers on the main path: ``model.depth`` where defined, else convolutions + linear layers.

    Examples
    --------
    >>> layer_count(ResNet1D(depth=26, width=4)), layer_count(nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2)))
    (26, 2)
    """
    depth = getattr(model, "depth", None)
    if isinstance(depth, int):
        return depth
    return sum(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)) for m in model.modules())
