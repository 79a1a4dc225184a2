"""Atomic result files, so an interrupted run loses no finished work.

A long computation (a selection round, an MCMC chain, a benchmark row) writes
each finished result with :func:`save`; the file appears whole or not at all
(write to a temporary file in the same folder, then ``os.replace``).  :func:`load`
reads it back.  JSON is used for ``.json`` paths, pickle for anything else.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from dawnlab.errors import DataError

__all__ = ["save", "load", "atomic_write_bytes"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(path: str | os.PathLike, obj: Any) -> Path:
    """Save ``obj`` atomically: JSON for a ``.json`` path, pickle otherwise.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "round_0.json"
    >>> _ = save(p, {"round": 0, "acc": 0.9})
    >>> load(p)
    {'round': 0, 'acc': 0.9}
    """
    path = Path(path)
    if path.suffix == ".json":
        data = json.dumps(obj, indent=1, default=_to_json).encode()
    else:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    return atomic_write_bytes(path, data)


def load(path: str | os.PathLike) -> Any:
    """Load what :func:`save` wrote; a missing or corrupt file is a ``DataError``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"No result file at {str(path)!r}.")
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        with open(path, "rb") as f:
            return pickle.load(f)
    except (ValueError, pickle.UnpicklingError, EOFError) as exc:
        raise DataError(f"The result file {str(path)!r} is corrupt ({exc}); delete it to recompute.") from exc


def _to_json(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if hasattr(obj, "__dataclass_fields__"):
        import dataclasses

        return dataclasses.asdict(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")
