"""Model families for targets and proxies: pre-activation ResNets and MLPs.

Selection via Proxy (Coleman et al., arXiv 1906.11829, Section 3.2 "Selection via
proxy") makes a proxy by scaling down the target: fewer layers or a smaller width
("scaling down the architecture") or fewer training epochs.  The paper's targets
are ResNet-164 with pre-activation (He et al., 2016) and its proxies ResNet-20;
both are the CIFAR-style family with three stages of residual blocks whose
widths are ``width``, ``2 * width`` and ``4 * width`` channels.

Two kinds of residual block are available.  ``block="basic"`` (the default)
is two 3x3 convolutions, so ``depth = 6 n + 2`` (8, 14, 20, 32, 44, 56, 110 ...);
it contains the paper's proxy ResNet-20 exactly.  ``block="bottleneck"`` is the
1x1 / 3x3 / 1x1 block of He et al. (2016, "Identity Mappings in Deep Residual
Networks", Section 4) with a 4x wider output, so ``depth = 9 n + 2``; depth 164
(n = 18) is the paper's target ResNet-164, 1.7 M parameters on CIFAR-10.  On a
2-core CPU the benchmarks use small basic-block members of the family; the
bottleneck targets are there for users with the hardware to train them.

Every model exposes :meth:`embed` (the penultimate-layer features used by greedy
k-centers, Section 3.1) and ``forward`` (class logits).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from dawnlab.errors import invalid

__all__ = ["ResNet", "MLP", "count_parameters"]


class _PreActBlock(nn.Module):
    """Pre-activation residual block: (BN-ReLU-conv) per entry of ``convs``, plus the shortcut.

    ``convs`` lists ``(c_in, c_out, kernel, stride)``; the shortcut is the
    identity, or a strided 1x1 projection of the first pre-activation when the
    shape changes (He et al., 2016).
    """

    def __init__(self, convs: list[tuple[int, int, int, int]]):
        super().__init__()
        self.bns = nn.ModuleList(nn.BatchNorm2d(c_in) for c_in, _, _, _ in convs)
        self.convs = nn.ModuleList(nn.Conv2d(c_in, c_out, k, stride=s, padding=k // 2, bias=False)
                                   for c_in, c_out, k, s in convs)
        c_in, c_out, stride = convs[0][0], convs[-1][1], max(s for _, _, _, s in convs)
        self.shortcut = None
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bns[0](x))
        skip = self.shortcut(out) if self.shortcut is not None else x
        out = self.convs[0](out)
        for bn, conv in zip(self.bns[1:], self.convs[1:]):
            out = conv(F.relu(bn(out)))
        return out + skip


def _basic(c_in: int, planes: int, stride: int) -> _PreActBlock:
    """Two 3x3 convolutions (the first strided)."""
    return _PreActBlock([(c_in, planes, 3, stride), (planes, planes, 3, 1)])


def _bottleneck(c_in: int, planes: int, stride: int) -> _PreActBlock:
    """1x1 down to ``planes``, a strided 3x3, 1x1 up to ``4 * planes``."""
    return _PreActBlock([(c_in, planes, 1, 1), (planes, planes, 3, stride), (planes, 4 * planes, 1, 1)])


# block -> (its builder, weighted layers per block and stage, output channels per plane)
_BLOCKS = {"basic": (_basic, 6, 1), "bottleneck": (_bottleneck, 9, 4)}


class ResNet(nn.Module):
    """A pre-activation ResNet for small images (CIFAR family, 3 stages).

    Parameters
    ----------
    depth : int
        Number of weighted layers: ``6 n + 2`` for basic blocks, ``9 n + 2``
        for bottleneck blocks, with ``n >= 1`` blocks per stage.
    width : int
        Channels of the first stage (16 in the paper); later stages double it.
        Bottleneck blocks output ``4 * width`` channels in the first stage.
    num_classes : int
        Number of output classes (>= 2).
    in_channels : int
        Channels of the input images (1 for digits, 3 for CIFAR-10).
    block : {"basic", "bottleneck"}
        The residual block (see the module docstring).

    Raises
    ------
    InvalidArgument
        If ``depth`` does not fit the block, or another argument is out of range.

    Examples
    --------
    >>> import torch
    >>> net = ResNet(depth=8, width=4, num_classes=10, in_channels=1)
    >>> net(torch.zeros(2, 1, 20, 20)).shape
    torch.Size([2, 10])
    >>> net.embed(torch.zeros(2, 1, 20, 20)).shape
    torch.Size([2, 16])
    >>> count_parameters(ResNet(20, 16, 10, 3))  # the paper's ResNet-20 proxy
    272282
    >>> count_parameters(ResNet(164, 16, 10, 3, block="bottleneck"))  # the paper's ResNet-164 target
    1703258
    """

    def __init__(self, depth: int = 20, width: int = 16, num_classes: int = 10,
                 in_channels: int = 3, block: str = "basic"):
        super().__init__()
        if block not in _BLOCKS:
            raise invalid("block", "ResNet", f"one of {tuple(_BLOCKS)}", block)
        make_block, step, expansion = _BLOCKS[block]
        if not isinstance(depth, int) or depth < step + 2 or (depth - 2) % step:
            examples = ", ".join(str(step * n + 2) for n in (1, 2, 3, 18))
            raise invalid("depth", "ResNet", f"an int of the form {step} n + 2 with n >= 1 for {block} blocks "
                          f"({examples}, ...)", depth, "Pick the nearest such depth.")
        if not isinstance(width, int) or width < 1:
            raise invalid("width", "ResNet", "a positive int", width)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise invalid("num_classes", "ResNet", "an int >= 2", num_classes)
        if not isinstance(in_channels, int) or in_channels < 1:
            raise invalid("in_channels", "ResNet", "a positive int", in_channels)
        self.depth, self.width, self.block = depth, width, block
        n = (depth - 2) // step
        self.stem = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        blocks, c_in = [], width
        for stage, planes in enumerate([width, 2 * width, 4 * width]):
            for i in range(n):
                blocks.append(make_block(c_in, planes, 2 if stage > 0 and i == 0 else 1))
                c_in = planes * expansion
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)
        self.embedding_dim = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features: global average of the last stage."""
        out = F.relu(self.bn(self.blocks(self.stem(x))))
        return out.mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


class MLP(nn.Module):
    """A multi-layer perceptron for tabular data (or flattened images).

    Parameters
    ----------
    in_features : int
        Number of input features (inputs are flattened).
    num_classes : int
        Number of output classes (>= 2).
    depth : int
        Number of hidden layers (>= 1).
    width : int
        Units per hidden layer.

    Examples
    --------
    >>> import torch
    >>> net = MLP(in_features=16, num_classes=26, depth=2, width=32)
    >>> net(torch.zeros(5, 16)).shape, net.embed(torch.zeros(5, 16)).shape
    (torch.Size([5, 26]), torch.Size([5, 32]))
    """

    def __init__(self, in_features: int, num_classes: int, depth: int = 2, width: int = 128):
        super().__init__()
        for name, value, low in [("in_features", in_features, 1), ("num_classes", num_classes, 2),
                                 ("depth", depth, 1), ("width", width, 1)]:
            if not isinstance(value, int) or value < low:
                raise invalid(name, "MLP", f"an int >= {low}", value)
        self.depth, self.width = depth, width
        layers, d = [], in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.BatchNorm1d(width), nn.ReLU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(width, num_classes)
        self.embedding_dim = width

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features: the last hidden layer's activations."""
        return self.body(x.flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.embed(x))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``.

    Examples
    --------
    >>> count_parameters(MLP(4, 2, depth=1, width=3))
    29
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
