"""A least-recently-used cache of feature rows (Willump, arXiv 1906.01974, Section 4.3).

Point queries repeat: the same user, song or text comes back.  Willump caches
the features of such inputs.  :class:`LRUCache` is bounded by a number of
entries, a number of bytes, or both, and evicts the entry used least recently
(the authors' code evicts the *most* recently used one; a repeated-query
workload wants the opposite).  A hit moves the entry to the fresh end.
Thread-safe; pickles empty.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import numpy as np
import scipy.sparse as sp

from dawnlab.errors import invalid

__all__ = ["LRUCache", "nbytes"]


def nbytes(value: Any) -> int:
    """Approximate memory held by a cached value (arrays, CSR rows, anything else by ``sys.getsizeof``)."""
    if sp.issparse(value):
        return int(value.data.nbytes + value.indices.nbytes + value.indptr.nbytes)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return sys.getsizeof(value)


class LRUCache:
    """A mapping bounded by entries and/or bytes that evicts the least recently used entry.

    Parameters
    ----------
    max_entries : int, optional
        At most this many entries.
    max_bytes : int, optional
        At most this many bytes of values (as :func:`nbytes` counts them); a
        value larger than the whole budget is not stored.

    Examples
    --------
    >>> c = LRUCache(max_entries=2)
    >>> c.put("a", 1); c.put("b", 2)
    >>> c.get("a")
    1
    >>> c.put("c", 3)  # evicts "b", the least recently used
    >>> "b" in c, "a" in c
    (False, True)
    """

    def __init__(self, max_entries: int | None = None, max_bytes: int | None = None):
        if max_entries is None and max_bytes is None:
            raise invalid("max_entries", "LRUCache", "given, or max_bytes given", None)
        for name, v in (("max_entries", max_entries), ("max_bytes", max_bytes)):
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
                raise invalid(name, "LRUCache", "a positive int or None", v)
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._data: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = self.evictions = 0

    def __getstate__(self):
        return {"max_entries": self.max_entries, "max_bytes": self.max_bytes}

    def __setstate__(self, state):
        self.__init__(state["max_entries"], state["max_bytes"])

    def __len__(self):
        return len(self._data)

    def __contains__(self, key):
        return key in self._data

    @property
    def bytes(self) -> int:
        return self._bytes

    def keys(self) -> list:
        """Keys from least to most recently used."""
        return list(self._data)

    def get(self, key, default=None):
        """The value under ``key`` (marking it most recently used), or ``default``; counts hits and misses."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key][0]
            self.misses += 1
            return default

    def put(self, key, value) -> None:
        """Store ``value`` under ``key`` as the most recently used entry, evicting as needed."""
        size = nbytes(value)
        with self._lock:
            if key in self._data:
                self._bytes -= self._data.pop(key)[1]
            if self.max_bytes is not None and size > self.max_bytes:
                return
            self._data[key] = (value, size)
            self._bytes += size
            while ((self.max_entries is not None and len(self._data) > self.max_entries)
                   or (self.max_bytes is not None and self._bytes > self.max_bytes)):
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s
                self.evictions += 1

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._bytes = 0
            self.hits = self.misses = self.evictions = 0
