"""LIT: block-wise intermediate-representation training, then KD fine-tuning.

Koratana, Kang, Bailis and Zaharia, "LIT: Learned Intermediate Representation
Training for Model Compression" (arXiv 1810.01937, ICML 2019), Section 3:

1. **LIT phase** (Section 3.1).  Teacher and student are split into the same
   number of blocks.  Student block ``i`` is fed the *teacher's* output of block
   ``i - 1`` (teacher forcing; block 0 gets the teacher's stem output) and is
   trained to reproduce the teacher's output of block ``i`` (mean squared
   error).  A knowledge-distillation term on the student's own end-to-end
   logits is added: the loss is ``beta * KD + (1 - beta) * sum_i IR_i``, the
   weighting of the authors' released code (its CIFAR-10 ``lit_epoch`` and its
   VDCNN ``Section.step``; that code also halves the sum, a constant that
   Adam's updates do not see).  Only the student's blocks learn in this phase:
   the stem, the head and any module outside the blocks stay frozen copies of
   the teacher's, in eval mode (their batch-norm statistics are the
   teacher's), as in the authors' code, which switches off ``requires_grad``
   for everything but the sections.  The frozen teacher's IRs are computed
   once, with forward hooks (:func:`dawnlab.lit.blocks.capture`), in eval mode.
2. **Fine-tuning** (Section 3.2): the whole student (stem and head included)
   is trained end to end with the KD loss (``alpha`` weights the hard labels,
   temperature ``T``) at ``kd_lr``.  The authors' CIFAR-10 code fine-tunes at
   a tenth of its LIT rate (SGD, 0.1 then 0.01, over 125 epochs); here, with
   Adam and budgets of tens of epochs, ``kd_lr`` defaults to ``lr``: on
   MNIST-1D (seed 0 of ``benchmarks/lit.py``, 20 + 20 epochs) the tenfold
   drop left the student at 93.9% against 96.9% without it, because the
   student composed from teacher-forced blocks starts the fine-tuning at
   73% and needs a full learning rate to recover.  Pass ``kd_lr=lr / 10``
   for the authors' ratio.

The student's stem and head start as copies of the teacher's (Section 3.1).

Augmentation (``augment``, off by default; :mod:`dawnlab.lit.augment`): each
minibatch of both phases is transformed with a generator seeded by ``(seed,
phase, epoch, step)``, and the teacher is run on that augmented minibatch, so
the teacher-forced block inputs, the block targets and the KD logits are the
teacher's on exactly the inputs the student sees (teacher forcing on the
augmented input), never cached from the un-augmented data.  That costs one
teacher forward pass per step and no IR memory; the parallel block mode
(which ships precomputed IRs to its tasks) is refused with augmentation.

Memory: without augmentation :meth:`LIT.fit` holds the teacher's IRs for the whole training set in
memory, float32: the first block's input and every block's output (block
``i``'s input is block ``i - 1``'s output, the same tensor), plus the logits,
so ``4 n (d_0 + d_1 + ... + d_B + classes)`` bytes for ``n`` examples with
``d_0`` the per-example size of the first block's input and ``d_i`` that of
block ``i``'s output.  For the 4000 MNIST-1D training rows and a width-8
:class:`~dawnlab.lit.ResNet1D` (four IRs of 320 floats) that is 21 MB; for
the 50 000 CIFAR-10 images and a width-16 pre-activation ResNet (16x32x32,
16x32x32, 32x16x16, 64x8x8) it is 9 GB.  With ``parallel=True`` each block's
task gets its own copy of its input and target, pickled to its worker.
Subsample the data, or use a larger machine, when that does not fit.

With ``beta = 0`` each block's loss depends only on the frozen teacher's IRs,
so the blocks are independent problems: ``parallel=True`` trains each in its
own task through :func:`dawnlab.parallel.imap` (local processes or a dask
client), as the authors' VDCNN code trains each block in its own thread.  The
joint and the parallel runs use the same minibatches and per-parameter Adam
updates, so they give the same weights (tested).  With ``beta > 0`` the KD term
couples all blocks through the student's forward pass and ``parallel`` is refused.

Checkpoints: with ``checkpoint_dir`` the state (student, optimizer, phase,
epoch, history) is written atomically after every epoch, and in parallel mode
each finished block is written as it completes; a new :class:`LIT` with the same
configuration and folder resumes where the last one stopped and ends with the
same weights as an uninterrupted run (tested).  A NaN or infinite loss raises
:class:`~dawnlab.lit.errors.NonFiniteLossError`; the last good checkpoint is kept.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dawnlab.errors import invalid
from dawnlab.lit.blocks import capture, resolve_blocks, resolve_modules, run_chain, weighted_layers
from dawnlab.lit.errors import LITError
from dawnlab.lit.losses import ir_loss, kd_loss
from dawnlab.lit.training import (accuracy, as_tensors, augmented, batches, check_finite, cosine_lr,
                                  load_checkpoint, predict_logits, save_checkpoint, set_lr)

__all__ = ["LIT", "teacher_irs"]


@torch.no_grad()
def teacher_irs(teacher: nn.Module, blocks, X: torch.Tensor, batch_size: int = 512):
    """The frozen teacher's block inputs, block outputs and logits on ``X`` (eval mode).

    Returns ``(inputs, outputs, logits)``: ``inputs[i]`` is what student block
    ``i`` is fed under teacher forcing (the stem output for ``i = 0``, the
    teacher's output of block ``i - 1`` after), ``outputs[i]`` its target.
    """
    was = teacher.training
    teacher.eval()
    firsts, outs, logits = [], [[] for _ in blocks], []
    try:
        for i in range(0, len(X), batch_size):
            inp, o, lg = capture(teacher, blocks, X[i:i + batch_size])
            firsts.append(inp)
            for k, t in enumerate(o):
                outs[k].append(t)
            logits.append(lg)
    finally:
        teacher.train(was)
    outputs = [torch.cat(o) for o in outs]
    return [torch.cat(firsts)] + outputs[:-1], outputs, torch.cat(logits)


def describe_augment(augment) -> str | None:
    """A stable name of an augmentation for checkpoint configs: its ``repr``, or its type's name when that
    ``repr`` is the default one (which holds a memory address).

    Examples
    --------
    >>> from dawnlab.lit.augment import RandomAffine
    >>> describe_augment(RandomAffine(max_shift=1)), describe_augment(None)
    ('RandomAffine(max_shift=1.0, max_rotation=10.0, max_scale=0.0)', None)
    """
    if augment is None:
        return None
    if type(augment).__repr__ is object.__repr__ or callable(augment) and hasattr(augment, "__qualname__"):
        return f"{getattr(augment, '__module__', '?')}.{getattr(augment, '__qualname__', type(augment).__qualname__)}"
    return repr(augment)


def _train_block(task: dict) -> dict:
    """Train one student block alone on the teacher's IRs (a task of the parallel LIT phase)."""
    t_start = time.perf_counter()
    torch.set_num_threads(task["threads"])
    chain = task["chain"]
    params = [p for m in chain for p in m.parameters()]
    opt = torch.optim.Adam(params, lr=task["lr"], weight_decay=task["weight_decay"])
    X_in, X_out, n = task["inputs"], task["targets"], len(task["inputs"])
    steps_per_epoch = math.ceil(n / task["batch_size"])
    total, losses = task["epochs"] * steps_per_epoch, []
    for m in chain:
        m.train()
    for epoch in range(task["epochs"]):
        running = []
        for i, idx in enumerate(batches(n, task["batch_size"], task["seed"], "lit", epoch)):
            lr_now = cosine_lr(task["lr"], epoch * steps_per_epoch + i, total)
            set_lr(opt, lr_now)
            h = X_in[idx]
            for m in chain:
                h = m(h)
            loss = ir_loss(h, X_out[idx])
            check_finite(loss, f"LIT block {task['block']}", epoch, i, lr_now, None)
            opt.zero_grad()
            loss.backward()
            opt.step()
            running.append(loss.item())
        losses.append(float(np.mean(running)))
    return {"block": task["block"], "state": [m.state_dict() for m in chain], "losses": losses,
            "seconds": time.perf_counter() - t_start}


def _chain_params(chains) -> list[nn.Parameter]:
    """The parameters of the blocks' modules, each once, in block order."""
    seen, out = set(), []
    for chain in chains:
        for _, module in chain:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append(p)
    return out


class LIT:
    """Compress ``teacher`` into the shallower ``student`` by LIT, then KD fine-tuning.

    Parameters
    ----------
    teacher, student : torch.nn.Module
        The trained teacher (left unchanged) and the student architecture (its
        initial weights; :meth:`fit` trains a copy, ``student_``).
    blocks : (teacher_blocks, student_blocks) or dict
        The two models' blocks, the same number in each: every entry a submodule
        name, a module, or a chain (list) of them applied in order.  A dict with
        keys ``"teacher"`` and ``"student"`` also works.  :func:`dawnlab.lit.resnet_spec`
        builds the blocks, stem and head of the pre-activation ResNets.
    stem, head : list of str
        Submodules copied from teacher to student before training (same names
        and shapes in both).
    beta : float
        Weight of the KD term on the student's logits during the LIT phase, in
        ``[0, 1)``; the per-block IR losses get ``1 - beta`` (0.75 in the authors' code).
    alpha : float
        Weight of the hard-label term of the KD loss, in ``[0, 1]`` (0.95).
    temperature : float
        KD temperature ``T`` (6).
    lit_epochs, kd_epochs : int
        Epochs of the LIT phase and of the KD fine-tuning.
    lr, kd_lr : float
        Adam learning rates of the two phases (cosine decay within each);
        ``kd_lr`` defaults to ``lr`` (the authors' SGD recipe uses ``lr / 10``; see above).
    weight_decay : float
        Adam's L2 penalty.
    batch_size : int
        Minibatch size.
    seed : int
        Seed of the minibatch order.
    parallel : bool
        Train the blocks of the LIT phase as independent tasks (needs ``beta = 0``).
    processes : int, optional
        Local worker processes for ``parallel`` (``1``: in this process).
    client : dask.distributed.Client, optional
        Run the parallel blocks on this cluster.
    checkpoint_dir : path, optional
        Folder for the per-epoch checkpoints; resume from it when it holds one.
    augment : callable, optional
        ``augment(x, generator) -> x'`` applied to every minibatch of both
        phases (e.g. :class:`dawnlab.lit.augment.RandomAffine`); the teacher's
        IRs and logits are then computed on each augmented minibatch.  ``None``
        (the default): no augmentation.
    progress : bool
        Show ``tqdm`` bars.

    Raises
    ------
    LITError
        If a block name is not a submodule (the message lists the names), the
        block counts differ, the student has more layers than the teacher, a
        stem or head module differs in shape, ``parallel`` is asked with ``beta > 0``
        or with ``augment``, or ``augment`` is not callable.
    InvalidArgument
        If a number is out of range.

    Examples
    --------
    >>> from dawnlab.lit import ResNet1D, resnet_spec
    >>> from dawnlab.lit.training import seeded
    >>> teacher = seeded(lambda: ResNet1D(depth=14, width=4), 0)
    >>> student = seeded(lambda: ResNet1D(depth=8, width=4), 1)
    >>> X, y = torch.randn(64, 40), torch.randint(0, 10, (64,))
    >>> lit = LIT(teacher, student, **resnet_spec(teacher, student), lit_epochs=1, kd_epochs=1, progress=False)
    >>> [(r["phase"], len(r["ir_loss"]) if r["ir_loss"] else None) for r in lit.fit((X, y))]
    [('lit', 3), ('kd', None)]
    >>> torch.equal(lit.student_.stem.weight, student.stem.weight)  # the stem was copied from the teacher
    False
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, blocks, stem: Sequence = (), head: Sequence = (),
                 *, beta: float = 0.75, alpha: float = 0.95, temperature: float = 6.0, lit_epochs: int = 10,
                 kd_epochs: int = 10, lr: float = 3e-3, kd_lr: float | None = None, weight_decay: float = 5e-4,
                 batch_size: int = 128, seed: int = 0, parallel: bool = False, processes: int | None = None,
                 client=None, checkpoint_dir=None, progress: bool = True, augment=None):
        for name, model in [("teacher", teacher), ("student", student)]:
            if not isinstance(model, nn.Module):
                raise invalid(name, "LIT", "a torch.nn.Module", type(model).__name__, cls=LITError)
        if isinstance(blocks, dict):
            if set(blocks) != {"teacher", "student"}:
                raise LITError(f"The 'blocks' argument of LIT must be a dict with keys 'teacher' and 'student'. "
                               f"Got keys {sorted(blocks)} instead.")
            blocks = (blocks["teacher"], blocks["student"])
        if not isinstance(blocks, (tuple, list)) or len(blocks) != 2 or isinstance(blocks[0], str):
            raise LITError("The 'blocks' argument of LIT must be a pair (teacher_blocks, student_blocks). "
                           f"Got {blocks!r} instead.")
        self.teacher, self.student = teacher, student
        self.teacher_blocks = resolve_blocks(teacher, blocks[0], "blocks", "LIT", "teacher")
        self.student_blocks = resolve_blocks(student, blocks[1], "blocks", "LIT", "student")
        if len(self.teacher_blocks) != len(self.student_blocks):
            raise LITError(f"The 'blocks' argument of LIT must give teacher and student the same number of blocks. "
                           f"Got {len(self.teacher_blocks)} teacher blocks and {len(self.student_blocks)} "
                           "student blocks instead.")
        t_layers, s_layers = weighted_layers(teacher), weighted_layers(student)
        if s_layers > t_layers:
            raise LITError(f"The 'student' argument of LIT must not be deeper than its teacher: LIT compresses a "
                           f"deep teacher into a shallower student. Got a student with {s_layers} weighted layers "
                           f"and a teacher with {t_layers} instead.")
        self.stem = [n for n, _ in resolve_modules(teacher, list(stem), "stem", "LIT", "teacher")]
        self.head = [n for n, _ in resolve_modules(teacher, list(head), "head", "LIT", "teacher")]
        resolve_modules(student, self.stem, "stem", "LIT", "student")
        resolve_modules(student, self.head, "head", "LIT", "student")
        modules_t, modules_s = dict(teacher.named_modules()), dict(student.named_modules())
        for arg, names in [("stem", self.stem), ("head", self.head)]:
            for name in names:
                ts, ss = modules_t[name].state_dict(), modules_s[name].state_dict()
                for key in ts:
                    if key not in ss or ts[key].shape != ss[key].shape:
                        got = tuple(ss[key].shape) if key in ss else "missing"
                        raise LITError(f"The {arg!r} argument of LIT must name modules of the same shape in teacher "
                                       f"and student, to copy them. {name}.{key} has shape {tuple(ts[key].shape)} "
                                       f"in the teacher and {got} in the student.")
        checks = [("beta", beta, "a float in [0, 1) (the IR losses get 1 - beta)", 0 <= beta < 1), ("alpha", alpha, "a float in [0, 1]", 0 <= alpha <= 1),
                  ("temperature", temperature, "a float > 0", temperature > 0), ("lr", lr, "a float > 0", lr > 0),
                  ("weight_decay", weight_decay, "a float >= 0", weight_decay >= 0)]
        for name, value, rule, ok in checks:
            if not ok or not math.isfinite(value):
                raise invalid(name, "LIT", rule, value, cls=LITError)
        if kd_lr is not None and not kd_lr > 0:
            raise invalid("kd_lr", "LIT", "a float > 0 or None", kd_lr, cls=LITError)
        for name, value, low in [("lit_epochs", lit_epochs, 0), ("kd_epochs", kd_epochs, 0),
                                 ("batch_size", batch_size, 1)]:
            if not isinstance(value, int) or value < low:
                raise invalid(name, "LIT", f"an int >= {low}", value, cls=LITError)
        if parallel and beta != 0:
            raise invalid("parallel", "LIT", "False when beta > 0 (the KD term on the student's logits couples "
                          "the blocks)", parallel, "Pass beta=0 to train the blocks independently.", cls=LITError)
        if augment is not None and not callable(augment):
            raise invalid("augment", "LIT", "None or a callable augment(x, generator)", augment, cls=LITError)
        if parallel and augment is not None:
            raise invalid("parallel", "LIT", "False when augment is given (the block tasks train on precomputed "
                          "IRs of the un-augmented inputs)", parallel, "Pass parallel=False.", cls=LITError)
        self.augment = augment
        self.beta, self.alpha, self.temperature = float(beta), float(alpha), float(temperature)
        self.lit_epochs, self.kd_epochs, self.lr = lit_epochs, kd_epochs, float(lr)
        self.kd_lr = float(kd_lr) if kd_lr is not None else float(lr)
        self.weight_decay, self.batch_size, self.seed = float(weight_decay), batch_size, int(seed)
        self.parallel, self.processes, self.client = bool(parallel), processes, client
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.progress = progress

    # -- bookkeeping ---------------------------------------------------------------------------------
    def _config(self, n: int) -> dict:
        return {"beta": self.beta, "alpha": self.alpha, "temperature": self.temperature,
                "lit_epochs": self.lit_epochs, "kd_epochs": self.kd_epochs, "lr": self.lr, "kd_lr": self.kd_lr,
                "weight_decay": self.weight_decay, "batch_size": self.batch_size, "seed": self.seed,
                "parallel": self.parallel, "n": n, "stem": self.stem, "head": self.head,
                "augment": describe_augment(self.augment),
                "teacher_blocks": [[a for a, _ in c] for c in self.teacher_blocks],
                "student_blocks": [[a for a, _ in c] for c in self.student_blocks]}

    def _path(self, name: str = "lit.pt") -> Path | None:
        return self.checkpoint_dir / name if self.checkpoint_dir is not None else None

    def _save(self, phase: str, epoch: int, optimizer, config: dict) -> None:
        if self.checkpoint_dir is not None:
            save_checkpoint(self._path(), {"config": config, "phase": phase, "epoch": epoch,
                                           "student": self.student_.state_dict(),
                                           "optimizer": optimizer.state_dict() if optimizer is not None else None,
                                           "history": self.history_})

    def _load(self, config: dict) -> dict | None:
        if self.checkpoint_dir is None:
            return None
        state = load_checkpoint(self._path())
        if state is not None and state["config"] != config:
            raise LITError(f"The 'checkpoint_dir' argument of LIT must hold a checkpoint of the same configuration "
                           f"to resume from. {str(self._path())!r} was written with {state['config']} and this run "
                           f"has {config}. Use a fresh folder.")
        return state

    def _student_chains(self):
        modules = dict(self.student_.named_modules())
        return [[(name, modules[name]) for name, _ in chain] for chain in self.student_blocks]

    # -- training --------------------------------------------------------------------------------------
    def fit(self, data, val=None) -> Iterator[dict]:
        """Run the LIT phase, then the KD fine-tuning; yield one record per epoch.

        Parameters
        ----------
        data : LabelledArrays, (X, y) or TensorDataset
            Training examples, shaped as the models take them.
        val : same, optional
            Held-out examples for ``val_acc``.

        Yields
        ------
        dict
            ``phase`` (``"lit"`` or ``"kd"``), ``epoch`` (from 1 in each phase),
            ``ir_loss`` (per-block mean IR loss, LIT phase; else ``None``),
            ``kd_loss`` (mean KD loss; ``None`` in a LIT phase with ``beta = 0``),
            ``val_acc`` (``None`` without ``val``) and ``seconds``.  With
            ``parallel=True`` the LIT phase's records all arrive when its last
            block finishes (``val_acc`` on the last one only, ``seconds`` the
            phase's wall time spread evenly).

        Raises
        ------
        LITError
            If the data set is empty or non-finite, or a student block's output
            differs in shape from the teacher's (the message names the block and
            both shapes).
        NonFiniteLossError
            If a loss becomes NaN or infinite (the last good checkpoint is kept).
        """
        X, y = as_tensors(data, "data", "LIT.fit")
        V = as_tensors(val, "val", "LIT.fit") if val is not None else None
        config = self._config(len(X))
        state = self._load(config)
        self.student_ = copy.deepcopy(self.student)
        self.history_ = []
        # without augmentation the teacher's IRs are computed once; with it, per minibatch (then only two
        # examples here, for the shape check)
        ir_in, ir_out, t_logits = teacher_irs(self.teacher, self.teacher_blocks, X if self.augment is None else X[:2])
        self._check_shapes(ir_in, ir_out)
        phase, start = "lit", 0
        if state is None:
            t_modules, s_modules = dict(self.teacher.named_modules()), dict(self.student_.named_modules())
            for name in self.stem + self.head:
                s_modules[name].load_state_dict(t_modules[name].state_dict())
        else:
            self.student_.load_state_dict(state["student"])
            self.history_ = list(state["history"])
            phase, start = state["phase"], state["epoch"]
        if phase == "lit":
            yield from self._lit_phase(X, y, V, ir_in, ir_out, t_logits, start, state, config)
            phase, start, state = "kd", 0, None
        if phase == "kd":
            yield from self._kd_phase(X, y, V, t_logits, start, state, config)
        self._save("done", 0, None, config)

    def train(self, data, val=None) -> LIT:
        """Run :meth:`fit` to the end and return ``self``."""
        for _ in self.fit(data, val):
            pass
        return self

    def _check_shapes(self, ir_in, ir_out) -> None:
        was = self.student_.training
        self.student_.eval()
        try:
            with torch.no_grad():
                for i, chain in enumerate(self._student_chains()):
                    got = run_chain(chain, ir_in[i][:2])
                    if got.shape[1:] != ir_out[i].shape[1:]:
                        t_names = [n for n, _ in self.teacher_blocks[i]]
                        s_names = [n for n, _ in chain]
                        raise LITError(f"The 'blocks' argument of LIT must pair blocks whose outputs have the same "
                                       f"shape. Block {i} (teacher {t_names}, student {s_names}) gives "
                                       f"{tuple(ir_out[i].shape[1:])} in the teacher and {tuple(got.shape[1:])} "
                                       "in the student (per example).")
        finally:
            self.student_.train(was)

    def _record(self, phase, epoch, ir, kd, V, seconds) -> dict:
        rec = {"phase": phase, "epoch": epoch + 1, "ir_loss": ir, "kd_loss": kd,
               "val_acc": accuracy(self.student_, *V) if V is not None else None, "seconds": seconds}
        self.history_.append(rec)
        return rec

    def _lit_phase(self, X, y, V, ir_in, ir_out, t_logits, start, state, config):
        if self.parallel:
            yield from self._lit_parallel(X, V, ir_in, ir_out, start, config)
            return
        chains = self._student_chains()
        params = _chain_params(chains)
        opt = torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)
        if state is not None and state["optimizer"] is not None:
            opt.load_state_dict(state["optimizer"])
        steps = math.ceil(len(X) / self.batch_size)
        total = self.lit_epochs * steps
        trainable = {id(p) for p in params}
        frozen = [p for p in self.student_.parameters() if id(p) not in trainable and p.requires_grad]
        try:
            # only the blocks learn: the stem, the head and the rest stay the teacher's copies, in eval mode
            for p in frozen:
                p.requires_grad_(False)
            for epoch in tqdm(range(start, self.lit_epochs), desc="LIT phase", disable=not self.progress,
                              leave=False):
                self._lit_modes(chains)
                t0, ir_sum, kd_sum = time.perf_counter(), np.zeros(len(chains)), 0.0
                for i, idx in enumerate(batches(len(X), self.batch_size, self.seed, "lit", epoch)):
                    lr_now = cosine_lr(self.lr, epoch * steps + i, total)
                    set_lr(opt, lr_now)
                    if self.augment is None:
                        xb, b_in, b_out, b_logits = X[idx], [t[idx] for t in ir_in], [t[idx] for t in ir_out], \
                            t_logits[idx]
                    else:  # teacher forcing on the augmented minibatch the student sees
                        xb = augmented(self.augment, X[idx], self.seed, "lit", epoch, i)
                        b_in, b_out, b_logits = teacher_irs(self.teacher, self.teacher_blocks, xb)
                    losses = [ir_loss(run_chain(chain, b_in[k]), b_out[k]) for k, chain in enumerate(chains)]
                    loss = (1.0 - self.beta) * sum(losses)
                    if self.beta > 0:
                        kd = kd_loss(self.student_(xb), b_logits, y[idx], self.alpha, self.temperature)
                        loss = loss + self.beta * kd
                        kd_sum += kd.item()
                    check_finite(loss, "LIT", epoch, i, lr_now, str(self._path()) if self._path() else None)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    ir_sum += [v.item() for v in losses]
                rec = self._record("lit", epoch, (ir_sum / steps).tolist(),
                                   kd_sum / steps if self.beta > 0 else None, V, time.perf_counter() - t0)
                self._save("lit", epoch + 1, opt, config)
                yield rec
        finally:
            for p in frozen:
                p.requires_grad_(True)

    def _lit_modes(self, chains) -> None:
        """Eval mode for the whole student, then train mode for the blocks (the LIT phase's modes)."""
        self.student_.eval()
        for chain in chains:
            for _, module in chain:
                module.train()

    def _lit_parallel(self, X, V, ir_in, ir_out, start, config):
        from dawnlab.parallel import imap

        if start >= self.lit_epochs:
            return
        chains = self._student_chains()
        results: dict[int, dict] = {}
        for k in range(len(chains)):
            done = load_checkpoint(self._path(f"block_{k}.pt")) if self.checkpoint_dir else None
            if done is not None and done["config"] == config:
                results[k] = done
        threads = 1 if (self.client is not None or (self.processes or 2) > 1) else torch.get_num_threads()
        tasks = [{"block": k, "chain": nn.ModuleList(m for _, m in chain), "inputs": ir_in[k], "targets": ir_out[k],
                  "epochs": self.lit_epochs, "lr": self.lr, "weight_decay": self.weight_decay,
                  "batch_size": self.batch_size, "seed": self.seed, "threads": threads}
                 for k, chain in enumerate(chains) if k not in results]
        t0 = time.perf_counter()
        for _, result in imap(_train_block, tasks, client=self.client, processes=self.processes,
                              progress=self.progress, desc="LIT blocks"):
            result["config"] = config
            results[result["block"]] = result
            if self.checkpoint_dir is not None:
                save_checkpoint(self._path(f"block_{result['block']}.pt"), result)
        seconds = time.perf_counter() - t0
        self.block_seconds_ = [results[k].get("seconds") for k in range(len(chains))]
        for k, chain in enumerate(chains):
            for (_, module), sd in zip(chain, results[k]["state"]):
                module.load_state_dict(sd)
        for epoch in range(self.lit_epochs):
            ir = [results[k]["losses"][epoch] for k in range(len(chains))]
            last = epoch == self.lit_epochs - 1
            self._record("lit", epoch, ir, None, V if last else None, seconds / self.lit_epochs)
        self._save("kd", 0, None, config)
        yield from self.history_[-self.lit_epochs:]

    def _kd_phase(self, X, y, V, t_logits, start, state, config):
        opt = torch.optim.Adam(self.student_.parameters(), lr=self.kd_lr, weight_decay=self.weight_decay)
        if state is not None and state["optimizer"] is not None:
            opt.load_state_dict(state["optimizer"])
        steps = math.ceil(len(X) / self.batch_size)
        total = self.kd_epochs * steps
        self.student_.train()
        for epoch in tqdm(range(start, self.kd_epochs), desc="KD fine-tuning", disable=not self.progress,
                          leave=False):
            t0, kd_sum = time.perf_counter(), 0.0
            for i, idx in enumerate(batches(len(X), self.batch_size, self.seed, "kd", epoch)):
                lr_now = cosine_lr(self.kd_lr, epoch * steps + i, total)
                set_lr(opt, lr_now)
                if self.augment is None:
                    xb, b_logits = X[idx], t_logits[idx]
                else:
                    xb = augmented(self.augment, X[idx], self.seed, "kd", epoch, i)
                    b_logits = predict_logits(self.teacher, xb)
                loss = kd_loss(self.student_(xb), b_logits, y[idx], self.alpha, self.temperature)
                check_finite(loss, "KD fine-tuning", epoch, i, lr_now, str(self._path()) if self._path() else None)
                opt.zero_grad()
                loss.backward()
                opt.step()
                kd_sum += loss.item()
            rec = self._record("kd", epoch, None, kd_sum / steps, V, time.perf_counter() - t0)
            self._save("kd", epoch + 1, opt, config)
            yield rec
