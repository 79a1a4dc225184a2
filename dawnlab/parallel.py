"""Fan-out of independent tasks: one small ``map`` for every system.

Seeds, MCMC chains, video shards and candidate strategies are independent tasks.
:func:`imap` runs them on a local process pool by default, in this process when
``processes=1`` (handy for debugging and for tiny jobs), or on a
``dask.distributed`` cluster when the caller passes a ``Client``.  It yields
``(index, result)`` pairs as tasks finish, so a caller can store each finished
result at once and lose nothing when interrupted; :func:`pmap` collects them in
input order.  Progress is shown with ``tqdm.auto``.

The functions and items must pickle (a module-level function, plain data).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any

from tqdm.auto import tqdm

from dawnlab.errors import invalid

__all__ = ["imap", "pmap", "default_workers"]


def default_workers() -> int:
    """Number of worker processes used when none is given: the usable cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def imap(fn: Callable[[Any], Any], items: Iterable[Any], *, client=None,
         processes: int | None = None, progress: bool = True,
         desc: str | None = None) -> Iterator[tuple[int, Any]]:
    """Apply ``fn`` to each item and yield ``(index, result)`` as tasks finish.

    Parameters
    ----------
    fn : callable
        A picklable function of one argument.
    items : iterable
        The tasks' arguments.
    client : dask.distributed.Client, optional
        Run on this cluster instead of a local process pool.
    processes : int, optional
        Local worker processes (default: the usable cores).  ``1`` runs in
        this process, in order.
    progress : bool
        Show a ``tqdm`` bar.
    desc : str, optional
        The progress bar's label.

    Yields
    ------
    (int, object)
        The item's position in ``items`` and ``fn(item)``, in completion order.

    Raises
    ------
    InvalidArgument
        If ``processes`` is not a positive int.

    Examples
    --------
    >>> sorted(imap(abs, [-2, 3, -1], processes=1, progress=False))
    [(0, 2), (1, 3), (2, 1)]
    """
    items = list(items)
    if processes is not None and (not isinstance(processes, int) or processes < 1):
        raise invalid("processes", "imap", "a positive int or None", processes)
    bar = tqdm(total=len(items), desc=desc, disable=not progress, leave=False)
    try:
        if client is not None:
            yield from _imap_dask(fn, items, client, bar)
        elif (processes or default_workers()) == 1 or len(items) <= 1:
            for i, item in enumerate(items):
                result = fn(item)
                bar.update()
                yield i, result
        else:
            yield from _imap_pool(fn, items, processes or default_workers(), bar)
    finally:
        bar.close()


def _imap_pool(fn, items, processes, bar):
    with ProcessPoolExecutor(max_workers=min(processes, len(items))) as pool:
        pending = {pool.submit(fn, item): i for i, item in enumerate(items)}
        try:
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    i = pending.pop(future)
                    bar.update()
                    yield i, future.result()
        finally:
            for future in pending:
                future.cancel()


def _imap_dask(fn, items, client, bar):
    from dask.distributed import as_completed

    futures = client.map(fn, items, pure=False)
    index = {future.key: i for i, future in enumerate(futures)}
    try:
        for future in as_completed(futures):
            bar.update()
            yield index[future.key], future.result()
    finally:
        client.cancel(futures)


def pmap(fn: Callable[[Any], Any], items: Iterable[Any], **kwargs) -> list[Any]:
    """Apply ``fn`` to each item in parallel and return the results in order.

    Takes the keyword arguments of :func:`imap`.

    Examples
    --------
    >>> pmap(abs, [-2, 3, -1], processes=1, progress=False)
    [2, 3, 1]
    """
    items = list(items)
    results: list[Any] = [None] * len(items)
    for i, result in imap(fn, items, **kwargs):
        results[i] = result
    return results
