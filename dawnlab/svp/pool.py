"""Data plumbing shared by the selection loops: tensors, splits, seeds, timing.

Selection via Proxy (arXiv 1906.11829, Section 3) selects from a *pool* of
training examples and reports the target's accuracy on held-out test data.
This module turns any supported data set into tensors (rejecting empty data and
NaN features with a clear error), splits off a test set when the caller gives
none, derives per-round seeds from the user's one explicit seed, and times the
phases of a run (proxy training, scoring, selection, target training; Section 4
reports data-selection time and end-to-end time from these).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import numpy as np
import torch

from dawnlab.errors import InvalidArgument, invalid

__all__ = ["SVPError", "as_tensors", "data_fingerprint", "split_pool", "derive_seed", "PhaseTimer", "torch_threads",
           "PHASES"]

PHASES = ("proxy_training", "scoring", "selection", "target_training")


class SVPError(InvalidArgument):
    """Bad input to a Selection-via-Proxy run (a budget, a data set, a proxy)."""


def as_tensors(dataset, owner: str, name: str = "dataset") -> tuple[torch.Tensor, torch.Tensor]:
    """Float features and int64 labels from a data set.

    Accepts a :class:`dawnlab.data.LabelledArrays` (uses its ``.torch()``), any
    map-style ``torch.utils.data.Dataset`` yielding ``(x, y)`` pairs (a
    ``TensorDataset`` is used as is), or an ``(X, y)`` pair of arrays.

    Raises
    ------
    SVPError
        If the data set is empty, has NaN/inf features, features that are not
        at least 2-d, or labels that are not a 1-d array of non-negative
        integers (string labels included, even "1": encode them first).
        Float labels are accepted only when they are whole numbers (1.0, not
        0.7), by the same rule for every input form.

    Examples
    --------
    >>> import numpy as np
    >>> X, y = as_tensors((np.zeros((3, 2)), np.array([0, 1, 1])), "example")
    >>> X.dtype, y.tolist()
    (torch.float32, [0, 1, 1])
    """
    if hasattr(dataset, "torch") and hasattr(dataset, "classes"):
        dataset = dataset.torch()
    if isinstance(dataset, torch.utils.data.TensorDataset):
        X, y = dataset.tensors[0], dataset.tensors[1]
    elif isinstance(dataset, (tuple, list)) and len(dataset) == 2 and not isinstance(dataset[0], tuple):
        Xa, ya = np.asarray(dataset[0]), np.asarray(dataset[1])
        _check_label_dtype(ya, name, owner)
        if Xa.dtype.kind not in "biuf":
            raise invalid(name, owner, "numeric features", f"features of dtype {Xa.dtype}", cls=SVPError)
        X, y = torch.as_tensor(Xa), torch.as_tensor(ya)
    elif isinstance(dataset, torch.utils.data.Dataset) or hasattr(dataset, "__getitem__"):
        try:
            n = len(dataset)
        except TypeError as exc:
            raise invalid(name, owner, "a sized map-style Dataset", type(dataset).__name__, cls=SVPError) from exc
        if n == 0:
            raise invalid(name, owner, "a non-empty data set", "an empty data set",
                          "Give the pool at least one example per budget step.", cls=SVPError)
        pairs = [dataset[i] for i in range(n)]
        X = torch.stack([torch.as_tensor(np.asarray(p[0])) for p in pairs])
        # the labels go through the same checks as an (X, y) pair's: numeric dtype here, whole numbers below
        # (no int() on each label, which would truncate 0.7 to 0 and parse the string "1")
        try:
            ya = np.asarray([np.asarray(p[1]) for p in pairs])
        except (TypeError, ValueError) as exc:
            raise invalid(name, owner, "integer class labels 0 .. C-1, one per example",
                          f"labels of differing shapes (first {pairs[0][1]!r})",
                          "Encode the labels as class indices first.", cls=SVPError) from exc
        _check_label_dtype(ya, name, owner)
        y = torch.as_tensor(ya)
    else:
        raise invalid(name, owner, "a LabelledArrays, a torch Dataset or an (X, y) pair",
                      type(dataset).__name__, cls=SVPError)
    if len(X) == 0:
        raise invalid(name, owner, "a non-empty data set", "an empty data set",
                      "Give the pool at least one example per budget step.", cls=SVPError)
    if X.ndim < 2:
        raise invalid(name, owner, "features of shape (examples, features...), at least 2-d", tuple(X.shape),
                      "For one feature per example write X.reshape(-1, 1).", cls=SVPError)
    if y.ndim != 1:
        raise invalid(name, owner, "labels of shape (examples,): one class index each", tuple(y.shape),
                      "For one-hot labels pass y.argmax(1).", cls=SVPError)
    if len(X) != len(y):
        raise invalid(name, owner, "features and labels of equal length", (len(X), len(y)), cls=SVPError)
    X = X.float()
    if not torch.isfinite(X).all():
        bad = int((~torch.isfinite(X.reshape(len(X), -1))).any(1).sum())
        raise invalid(name, owner, "finite features (no NaN or inf)", f"{bad} examples with NaN/inf features",
                      "Impute or drop those examples first.", cls=SVPError)
    if y.dtype.is_floating_point:
        bad = ~torch.isfinite(y) | (y != y.round())
        if bad.any():
            raise invalid(name, owner, "integer class labels 0 .. C-1 (floats only if whole numbers)",
                          f"{int(bad.sum())} non-integer labels, e.g. {float(y[bad][0])!r}",
                          "Encode the labels as class indices first.", cls=SVPError)
    y = y.long()
    if (y < 0).any():
        raise invalid(name, owner, "class labels >= 0", int(y.min()), cls=SVPError)
    return X, y


def _check_label_dtype(ya: np.ndarray, name: str, owner: str) -> None:
    """Refuse labels that are not numbers (strings, objects) with the fix."""
    if ya.dtype.kind not in "biuf":
        raise invalid(name, owner, "integer class labels 0 .. C-1",
                      f"labels of dtype {ya.dtype} (e.g. {ya.ravel()[:1].tolist()})",
                      "Encode them first: classes, y = np.unique(y, return_inverse=True).", cls=SVPError)


def data_fingerprint(*tensors: torch.Tensor) -> str:
    """A short hash of the data, stored with checkpoints so a resumed run refuses other data.

    Examples
    --------
    >>> a = torch.arange(6.0)
    >>> data_fingerprint(a) == data_fingerprint(a.clone()) != data_fingerprint(a + 1)
    True
    """
    import hashlib

    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def split_pool(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded split of ``range(n)`` into (pool, test) index arrays.

    Examples
    --------
    >>> pool, test = split_pool(10, 0.2, seed=0)
    >>> len(pool), len(test), sorted(np.r_[pool, test].tolist()) == list(range(10))
    (8, 2, True)
    """
    order = np.random.default_rng(derive_seed(seed, "split")).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def derive_seed(seed: int, *keys) -> int:
    """A 63-bit seed from the user's seed and any keys (round number, role).

    Examples
    --------
    >>> derive_seed(0, 1, "proxy") == derive_seed(0, 1, "proxy") != derive_seed(0, 2, "proxy")
    True
    """
    words = [int(seed)] + [k if isinstance(k, int) else int.from_bytes(str(k).encode()[:8], "little")
                           for k in keys]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


class PhaseTimer:
    """Accumulates wall time per phase.

    Examples
    --------
    >>> t = PhaseTimer()
    >>> with t("scoring"):
    ...     pass
    >>> sorted(t.seconds) == sorted(PHASES) and t.seconds["scoring"] >= 0
    True
    """

    def __init__(self):
        self.seconds = {p: 0.0 for p in PHASES}

    @contextlib.contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - start


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(n)`` and restore it after."""
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)
