"""Naming a model's blocks, stem and head, and capturing its intermediate representations.

LIT (Koratana et al., arXiv 1810.01937, Section 3.1) needs, for each block ``i``
of the teacher, its output (the intermediate representation, IR, ``i``) and the
input of its first block.  A block here is a chain of submodules applied in
order (a ResNet stage is the chain ``blocks.4, blocks.5, ...``), named by
submodule names or given as the modules themselves.  :func:`capture` reads the
IRs with forward hooks, so the model's ``forward`` is not changed: a pre-hook on
the first block's first module records the block input, a hook on each block's
last module records its output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from dawnlab.lit.errors import LITError

__all__ = ["resolve_blocks", "resolve_modules", "capture", "run_chain", "weighted_layers"]

_WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.Linear)


def _names_hint(model: nn.Module, limit: int = 40) -> str:
    names = [n for n, _ in model.named_modules() if n]
    shown = ", ".join(names[:limit])
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return f"Its submodules are: {shown}{more}."


def _one(model: nn.Module, item, arg: str, owner: str, role: str) -> tuple[str, nn.Module]:
    modules = dict(model.named_modules())
    if isinstance(item, str):
        if item not in modules or item == "":
            raise LITError(f"The {arg!r} argument of {owner} must name submodules of the {role}; "
                           f"{item!r} is not one. {_names_hint(model)}")
        return item, modules[item]
    if isinstance(item, nn.Module):
        for name, module in modules.items():
            if module is item and name:
                return name, module
        raise LITError(f"The {arg!r} argument of {owner} must hold submodules of the {role}; "
                       f"a {type(item).__name__} that is not part of it was given.")
    raise LITError(f"The {arg!r} argument of {owner} must hold submodule names or modules. Got {item!r} instead.")


def resolve_modules(model: nn.Module, items: Sequence, arg: str, owner: str, role: str) -> list[tuple[str, nn.Module]]:
    """``[(name, module)]`` for a list of submodule names or modules of ``model``."""
    if isinstance(items, (str, nn.Module)):
        items = [items]
    return [_one(model, item, arg, owner, role) for item in items]


def resolve_blocks(model: nn.Module, blocks: Sequence, arg: str = "blocks", owner: str = "LIT",
                   role: str = "model") -> list[list[tuple[str, nn.Module]]]:
    """Resolve a block list: each entry a name, a module, or a chain (list) of them.

    Raises
    ------
    LITError
        If a name is not a submodule (the message lists the model's names), a
        module is not part of the model, or the list is empty.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> [[n for n, _ in b] for b in resolve_blocks(net, ["0", ["1", "2"]])]
    [['0'], ['1', '2']]
    """
    if isinstance(blocks, (str, nn.Module)) or not isinstance(blocks, Sequence) or len(blocks) == 0:
        raise LITError(f"The {arg!r} argument of {owner} must be a non-empty list of blocks of the {role} "
                       f"(names, modules, or lists of them). Got {blocks!r} instead.")
    out = []
    for block in blocks:
        chain = resolve_modules(model, block, arg, owner, role)
        if not chain:
            raise LITError(f"The {arg!r} argument of {owner} must not hold an empty block. Got {blocks!r} instead.")
        out.append(chain)
    return out


def run_chain(chain: Sequence[tuple[str, nn.Module]], x: torch.Tensor) -> torch.Tensor:
    """Apply a block's modules in order."""
    for _, module in chain:
        x = module(x)
    return x


def capture(model: nn.Module, blocks, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """Run ``model(x)`` and return (first block's input, every block's output, the logits).

    Uses forward hooks, removed afterwards; ``model.forward`` is not changed.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))
    >>> inp, outs, logits = capture(net, resolve_blocks(net, [["1"], ["2"]]), torch.ones(1, 2))
    >>> torch.equal(outs[-1], logits), inp.shape
    (True, torch.Size([1, 3]))
    """
    seen: dict = {"outs": [None] * len(blocks)}

    def pre(_module, args):
        if "inp" not in seen:
            seen["inp"] = args[0]

    def post(i):
        def hook(_module, _args, output):
            seen["outs"][i] = output
        return hook

    handles = [blocks[0][0][1].register_forward_pre_hook(pre)]
    handles += [chain[-1][1].register_forward_hook(post(i)) for i, chain in enumerate(blocks)]
    try:
        logits = model(x)
    finally:
        for h in handles:
            h.remove()
    return seen.get("inp"), seen["outs"], logits


def weighted_layers(module: nn.Module) -> int:
    """Number of convolution and linear layers in ``module``.

    Examples
    --------
    >>> weighted_layers(nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2)))
    2
    """
    return sum(isinstance(m, _WEIGHTED) for m in module.modules())
