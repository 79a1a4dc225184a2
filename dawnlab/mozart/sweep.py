"""Measured time against piece size: where a workload falls off the cache (arXiv 1810.12297, Section 7.4).

:func:`piece_size_sweep` runs one workload through Mozart at a list of fixed
piece sizes, plus the automatic one, and yields one measured row at a time (a
generator, so a widget can draw as rows arrive and a script can be stopped
without losing the finished rows).  Each row holds the median of ``repeats``
runs; the plain library's time is measured in the same rounds, so the speed-up
column is a side-by-side ratio.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

from dawnlab.errors import invalid
from dawnlab.mozart import runtime
from dawnlab.mozart.workloads import WORKLOADS

__all__ = ["piece_size_sweep", "stage_table"]


def piece_size_sweep(workload: str, n: int, piece_sizes: list[int], *, workers: int = 2, repeats: int = 1,
                     seed: int = 0) -> Iterator[dict]:
    """Yield ``{"piece_size", "seconds", "plain_seconds", "speedup", "automatic"}`` per piece size.

    Parameters
    ----------
    workload : str
        A key of :data:`dawnlab.mozart.workloads.WORKLOADS`.
    n : int
        Elements (rows, bodies or grid side) of the generated data.
    piece_sizes : list of int
        Fixed piece sizes to time; the automatic size is timed last (``automatic`` True).
    workers, repeats, seed : int
        Worker threads, timing rounds per size (median), data seed.

    Examples
    --------
    >>> rows = list(piece_size_sweep("blackscholes", 20_000, [1024, 4096], workers=1))
    >>> [r["piece_size"] for r in rows[:2]], rows[-1]["automatic"]
    ([1024, 4096], True)
    """
    if workload not in WORKLOADS:
        raise invalid("workload", "piece_size_sweep", f"one of {sorted(WORKLOADS)}", workload)
    if not isinstance(repeats, int) or repeats < 1:
        raise invalid("repeats", "piece_size_sweep", "a positive int", repeats)
    w = WORKLOADS[workload]
    data = w.data(n, seed=seed)
    w.plain(data)
    for size in [*piece_sizes, None]:
        plain, moz = [], []
        for _ in range(repeats):
            t0 = time.perf_counter()
            w.plain(data)
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            w.mozart(data, piece_size=size, workers=workers)
            moz.append(time.perf_counter() - t0)
        used = runtime.LAST_RUN[-1]["piece_size"] if runtime.LAST_RUN else size
        p, m = statistics.median(plain), statistics.median(moz)
        yield {"piece_size": int(used if size is None else size), "seconds": m, "plain_seconds": p,
               "speedup": p / m if m > 0 else float("nan"), "automatic": size is None}


def stage_table(values) -> list[dict]:
    """One row per captured call of the plan for ``values``: stage, call, argument and result split types, kept.

    Examples
    --------
    >>> import numpy as np
    >>> import dawnlab.mozart.numpy as mnp
    >>> rows = stage_table(mnp.exp(np.ones(4)) + 1)
    >>> [(r["stage"], r["call"], r["kept"]) for r in rows]
    [(1, 'exp', False), (1, 'add', True)]
    """
    from dawnlab.mozart.graph import Lazy
    from dawnlab.mozart.planner import plan

    items = values if isinstance(values, (list, tuple)) else [values]
    stages = plan([v._node for v in items if isinstance(v, Lazy)])
    rows = []
    for i, stage in enumerate(stages, 1):
        kept = {n.id for n in stage.outputs}
        for node in stage.nodes:
            rows.append({"stage": i, "call": node.name,
                         "arguments": ", ".join(f"{nm}: {t!r}" for nm, _, t in node.inputs()),
                         "result": repr(node.out_type), "kept": node.id in kept,
                         "stage_ends": stage.reason if node is stage.nodes[-1] else ""})
    return rows
