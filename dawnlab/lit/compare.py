"""One seed of the LIT comparison: a teacher, then every method on the same budget.

Section 5 of Koratana et al. (arXiv 1810.01937) compares, at a given student
size, LIT against a student trained from scratch, KD and FitNets, and, with the
teacher's own architecture, LIT against Born-Again networks.  :func:`compare`
runs one seed of that comparison: it trains the teacher, then every method with
the same data, the same number of epochs (``lit_epochs + kd_epochs``), the same
optimizer and schedule, and the same seed, so that the student-sized methods
start from identical initial weights (and so do the teacher-sized ones).  It
yields one row per method as it finishes.  ``augment`` (off by default,
:mod:`dawnlab.lit.augment`) is applied to every method alike, the teacher's
training included, with the teacher's outputs computed on each augmented
minibatch. :func:`run_seed` is the picklable
form that :func:`dawnlab.parallel.pmap` fans out over seeds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from torch import nn

from dawnlab.errors import invalid
from dawnlab.lit.baselines import train_born_again, train_fitnets, train_kd, train_scratch
from dawnlab.lit.models import ResNet1D, layer_count, resnet_spec
from dawnlab.lit.trainer import LIT
from dawnlab.lit.training import accuracy, as_tensors, predict_logits, seeded, train_supervised

__all__ = ["METHODS", "make_model", "compare", "run_seed", "train_teacher", "train_method", "score_row"]

METHODS = ("scratch", "kd", "fitnets", "lit", "born_again", "lit_same_arch")


def make_model(family: str, depth: int, width: int, seed: int, num_classes: int = 10,
               in_channels: int = 1) -> nn.Module:
    """A seeded pre-activation ResNet: ``"resnet1d"`` (:class:`ResNet1D`) or ``"resnet"`` (:mod:`dawnlab.svp.models`).

    Examples
    --------
    >>> make_model("resnet1d", 8, 4, seed=0).depth
    8
    """
    if family == "resnet1d":
        return seeded(lambda: ResNet1D(depth, width, num_classes, in_channels), seed)
    if family == "resnet":
        from dawnlab.svp.models import ResNet

        return seeded(lambda: ResNet(depth, width, num_classes, in_channels), seed)
    raise invalid("family", "make_model", "'resnet1d' or 'resnet'", family)


def train_teacher(family: str, train, *, depth: int = 26, width: int = 16, seed: int = 0, epochs: int = 20,
                  lr: float = 3e-3, batch_size: int = 128, in_channels: int = 1, augment=None) -> nn.Module:
    """The teacher of one seed of :func:`compare`: a seeded ResNet trained with cross-entropy (and ``augment``)."""
    X, y = as_tensors(train, "train", "train_teacher")
    teacher = make_model(family, depth, width, seed, in_channels=in_channels)
    for _ in train_supervised(teacher, X, y, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed,
                              augment=augment):
        pass
    return teacher


def train_method(method: str, family: str, teacher: nn.Module, train, *, student_depth: int = 8,
                 width: int = 16, seed: int = 0, lit_epochs: int = 10, kd_epochs: int = 10, lr: float = 3e-3,
                 batch_size: int = 128, beta: float = 0.75, alpha: float = 0.95, temperature: float = 6.0,
                 in_channels: int = 1, val=None, on_lit_record=None, progress: bool = False,
                 kd_lr: float | None = None, augment=None) -> nn.Module:
    """Train one method of :func:`compare` from a trained ``teacher`` and return the trained model.

    Every method gets ``lit_epochs + kd_epochs`` epochs, the same optimizer,
    schedule and minibatch seed.  The student-sized methods start from the
    same initial weights (seed ``seed + 1000``), the teacher-sized ones
    (Born-Again, LIT with the teacher's architecture) from seed ``seed + 2000``.
    ``kd_lr`` is the learning rate of LIT's fine-tuning phase (:class:`LIT`'s
    ``kd_lr``; ``None``: ``lr``); the other methods do not read it.
    ``augment`` transforms every method's minibatches alike; the teacher's
    logits, hints and IRs are then computed on each augmented minibatch.
    """
    if method not in METHODS:
        raise invalid("method", "train_method", f"one of {METHODS}", method)
    X, y = as_tensors(train, "train", "train_method")
    common = {"lr": lr, "batch_size": batch_size, "seed": seed, "augment": augment}
    live = {"teacher": teacher} if augment is not None else {}  # KD on the augmented minibatches' teacher logits
    budget = lit_epochs + kd_epochs
    logits = predict_logits(teacher, X)
    kd = {"alpha": alpha, "temperature": temperature}
    t_depth = getattr(teacher, "depth", None) or layer_count(teacher)
    if method in ("scratch", "kd", "fitnets", "lit"):
        model = make_model(family, student_depth, width, seed + 1000, in_channels=in_channels)
    else:
        model = make_model(family, t_depth, width, seed + 2000, in_channels=in_channels)
    if method == "scratch":
        train_scratch(model, X, y, epochs=budget, **common)
    elif method == "kd":
        train_kd(model, X, y, logits, epochs=budget, **kd, **common, **live)
    elif method == "born_again":  # Furlanello et al.: the teacher's soft labels alone (T = 1, no label term)
        train_born_again(model, X, y, logits, epochs=budget, **common, **live)
    elif method == "fitnets":
        spec = resnet_spec(teacher, model)
        train_fitnets(model, teacher, X, y, logits, teacher_blocks=spec["blocks"][0],
                      student_blocks=spec["blocks"][1], hint_epochs=lit_epochs, kd_epochs=kd_epochs,
                      **kd, **common)
    else:  # lit, lit_same_arch
        lit = LIT(teacher, model, **resnet_spec(teacher, model), beta=beta, lit_epochs=lit_epochs,
                  kd_epochs=kd_epochs, kd_lr=kd_lr, progress=progress, **kd, **common)
        for record in lit.fit((X, y), (val if on_lit_record is not None else None)):
            if on_lit_record is not None:
                on_lit_record(method, record)
        model = lit.student_
    return model


def compare(family: str, train, val, *, teacher_depth: int = 26, student_depth: int = 8, width: int = 16,
            seed: int = 0, teacher_epochs: int = 20, lit_epochs: int = 10, kd_epochs: int = 10,
            lr: float = 3e-3, batch_size: int = 128, beta: float = 0.75, alpha: float = 0.95,
            temperature: float = 6.0, methods=METHODS, in_channels: int = 1, teacher: nn.Module | None = None,
            on_lit_record=None, progress: bool = False, augment=None) -> Iterator[dict]:
    """Train a teacher, then each method on the same seed and budget; yield one row per model.

    Rows: ``{"method", "seed", "depth", "teacher_depth", "acc", "seconds"}``;
    the teacher's row comes first (``method="teacher"``).  A trained
    ``teacher`` may be passed (it is then not trained again);
    ``on_lit_record(method, record)`` is called with every epoch record of the
    LIT runs, for a live view.  :func:`train_teacher` and :func:`train_method`
    are the two halves, for runs split into one task per (method, seed).

    Examples
    --------
    >>> X, y = torch.randn(64, 40), torch.randint(0, 10, (64,))
    >>> rows = list(compare("resnet1d", (X, y), (X, y), teacher_depth=14, student_depth=8, width=4,
    ...                     teacher_epochs=1, lit_epochs=1, kd_epochs=1, methods=("kd", "lit")))
    >>> [(r["method"], r["depth"]) for r in rows]
    [('teacher', 14), ('kd', 8), ('lit', 8)]
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise invalid("methods", "compare", f"a subset of {METHODS}", sorted(unknown))
    X, y = as_tensors(train, "train", "compare")
    V = as_tensors(val, "val", "compare")

    t0 = time.perf_counter()
    if teacher is None:
        teacher = train_teacher(family, (X, y), depth=teacher_depth, width=width, seed=seed, epochs=teacher_epochs,
                                lr=lr, batch_size=batch_size, in_channels=in_channels, augment=augment)
    teacher_depth = layer_count(teacher)
    yield score_row("teacher", teacher, V, seed, teacher_depth, t0)
    for method in methods:
        t0 = time.perf_counter()
        model = train_method(method, family, teacher, (X, y), student_depth=student_depth, width=width, seed=seed,
                             lit_epochs=lit_epochs, kd_epochs=kd_epochs, lr=lr, batch_size=batch_size, beta=beta,
                             alpha=alpha, temperature=temperature, in_channels=in_channels, val=V,
                             on_lit_record=on_lit_record, progress=progress, augment=augment)
        yield score_row(method, model, V, seed, teacher_depth, t0)


def score_row(method: str, model: nn.Module, val, seed: int, teacher_depth: int, t0: float) -> dict:
    """One row of :func:`compare`: the model's test accuracy, its layers and the seconds since ``t0``."""
    return {"method": method, "seed": seed, "depth": layer_count(model), "teacher_depth": teacher_depth,
            "acc": accuracy(model, *val), "seconds": time.perf_counter() - t0}


def run_seed(task: dict) -> list[dict]:
    """:func:`compare` for one seed, as a picklable task: ``task`` holds its keyword arguments.

    ``task["threads"]`` (default 1) sets torch's threads in the worker.
    """
    task = dict(task)
    torch.set_num_threads(task.pop("threads", 1))
    family, train, val = task.pop("family"), task.pop("train"), task.pop("val")
    return list(compare(family, train, val, **task))
