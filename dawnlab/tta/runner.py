"""The runner: N rule-abiding runs of a benchmark, one compliance log each, and the olympic score.

MLPerf Training (Mattson et al., arXiv 1910.01500, Section 3.2 "Timing rules" and
Section 3.3 on results): each run uses a distinct, logged seed; the clock runs from
``run_start`` (the first touch of the data) to ``run_stop`` (the evaluation that met the
target, or the epoch limit); initialization is logged between ``init_start`` and
``init_stop`` and excluded up to a limit (30 minutes since v1.0; an ``init`` that runs past
the limit is stopped there by a timer when the run is in a process's main thread).  A result is several
runs (5 for vision, 10 for others), scored by dropping the fastest and the slowest and
averaging the rest; one non-converging run may be the dropped slowest one, two make the
result invalid.

Every line of a run's log is written by ``mlperf_logging.mllog`` into memory and the
file ``result_<i>.txt`` is written atomically when the run ends, so an interrupted
:class:`Runner` leaves only whole logs; run again on the same folder it keeps them
(their seeds must match) and does the rest.  Runs fan out through
:func:`dawnlab.parallel.imap` (one process by default, so runs do not share cores and
inflate each other's clocks; a ``dask.distributed`` client when given).

State of a finished run (:class:`RunRecord`, rebuilt from its log alone):
``index``, ``seed``, ``status`` ('success' or 'aborted'), ``tta_s`` (run_stop - run_start),
``init_s``, ``evals`` (epoch, seconds since run_start, accuracy), ``reason`` for an abort,
``extras`` (untimed after-run measurements: held-out accuracy, CPU seconds, latencies),
``eval_cpu`` (process CPU seconds since run_start at each evaluation).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dawnlab.errors import invalid
from dawnlab.parallel import imap
from dawnlab.results import atomic_write_bytes
from dawnlab.tta.benchmark import HYPERPARAMETER_KEYS, Benchmark, validate_benchmark
from dawnlab.tta.errors import BenchmarkError
from dawnlab.tta.rules import RULESET, CheckReport, check_log, default_targets, log_lines, write_ruleset

__all__ = ["Runner", "RunRecord", "RunnerResult", "olympic_score", "read_run", "run_seeds", "recipe_of", "INIT_LIMIT_S",
           "LATENCY_WARMUP", "execute_run"]

INIT_LIMIT_S = 30 * 60.0
"""MLPerf's limit on the excluded initialization time (30 minutes, closed division)."""

LATENCY_WARMUP = 5
"""Untimed ``predict_one`` calls before the latency is timed (first calls pay for allocation and caches)."""


class _InitLimit(BaseException):
    """Raised by the interval timer inside an ``init`` that runs past its limit.

    A BaseException, so a benchmark's own ``except Exception`` cannot swallow it.
    """


@contextlib.contextmanager
def _init_timer(limit_s: float):
    """Interrupt the block at ``limit_s`` seconds with :class:`_InitLimit`, where a timer can.

    Yields True when the limit is enforced by ``SIGALRM`` (``setitimer``): only in a
    process's main thread, on a platform with ``SIGALRM``, and when no other interval
    timer is already set (it is not clobbered).  Yields False otherwise (a dask worker's
    thread, a notebook's background thread, Windows): the limit is then checked after
    ``init`` returns.  The timer interrupts Python code, ``time.sleep`` and most blocking
    calls; a single C call that never returns to the interpreter is stopped only when it does.
    """
    usable = (hasattr(signal, "SIGALRM") and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0))
    if not usable:
        yield False
        return

    def _fire(signum, frame):
        raise _InitLimit()

    previous = signal.signal(signal.SIGALRM, _fire)
    try:
        signal.setitimer(signal.ITIMER_REAL, float(limit_s))
        try:
            yield True
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0.0)
    finally:
        signal.signal(signal.SIGALRM, previous)

ORG, PLATFORM = "dawnlab", "cpu"
_EXTRA = "dawnlab_"  # prefix of the untimed after-run keys (unknown keys are allowed by the checker)


@dataclass
class RunRecord:
    """One finished run, as read back from its compliance log (see the module docstring)."""

    index: int
    seed: int
    status: str
    tta_s: float
    init_s: float
    evals: list[tuple[int, float, float]]
    benchmark: str = ""
    reason: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    eval_cpu: list[float] = field(default_factory=list)

    def cpu_time_to(self, threshold: float) -> float | None:
        """Process CPU seconds from run_start to the first evaluation at or above ``threshold`` (None if none).

        Less sensitive than wall-clock time to other processes on a shared machine
        (it still counts this process's threads only, and cache contention still slows it).
        """
        for (_, _, acc), cpu in zip(self.evals, self.eval_cpu):
            if acc >= threshold:
                return cpu
        return None

    @property
    def converged(self) -> bool:
        """True when the run met its target."""
        return self.status == "success"

    def time_to(self, threshold: float) -> float | None:
        """Seconds from run_start to the end of the first evaluation at or above ``threshold`` (None if none)."""
        for _, t, acc in self.evals:
            if acc >= threshold:
                return t
        return None


@dataclass
class RunnerResult:
    """All runs of a :class:`Runner` and their olympic score (seconds; None when invalid)."""

    benchmark: str
    target: float
    runs: list[RunRecord]
    score_s: float | None
    score_note: str
    checks: list[CheckReport] = field(default_factory=list)
    log_dir: str = ""

    @property
    def times(self) -> list[float | None]:
        """Each run's time to the target in seconds, None where it did not converge."""
        return [r.tta_s if r.converged else None for r in self.runs]

    def table(self):
        """One row per run: seed, status, TTA, init time, epochs, the check's verdict."""
        import pandas as pd

        verdict = {Path(c.path).name: c.passed for c in self.checks}
        return pd.DataFrame([{"run": r.index, "seed": r.seed, "status": r.status, "tta_s": r.tta_s,
                              "init_s": r.init_s, "epochs": r.evals[-1][0] if r.evals else 0,
                              "best_accuracy": max((a for _, _, a in r.evals), default=float("nan")),
                              "log_passes_checker": verdict.get(Path(r.log).name), "reason": r.reason}
                             for r in self.runs])


def olympic_score(times: list[float | None]) -> tuple[float | None, str]:
    """MLPerf's olympic score of run times, with the non-converging rule.

    Drop the fastest and the slowest run and average the rest.  A non-converging
    run (``None``) may count as the slowest; two or more make the result invalid.

    Parameters
    ----------
    times : list of float or None
        Seconds to the target per run; ``None`` for a run that did not converge.

    Returns
    -------
    (float or None, str)
        The score and a note saying which runs were dropped, or why there is no score.

    Raises
    ------
    InvalidArgument
        If fewer than 3 runs are given or a time is negative or not finite.

    Examples
    --------
    >>> olympic_score([10.0, 12.0, 11.0, 30.0, 9.0])
    (11.0, 'dropped the fastest (9) and the slowest (30)')
    >>> olympic_score([10.0, None, 11.0, 12.0, 9.0])[0]
    11.0
    >>> olympic_score([10.0, None, 11.0, None, 9.0])
    (None, 'invalid: 2 runs did not converge (at most 1 may)')
    """
    times = list(times)
    if len(times) < 3:
        raise invalid("times", "olympic_score", "a list of at least 3 run times (one is dropped from each end)",
                      times)
    for t in times:
        if t is not None and (not isinstance(t, (int, float)) or not math.isfinite(t) or t < 0):
            raise invalid("times", "olympic_score", "a list of finite, non-negative seconds or None", t)
    failed = sum(t is None for t in times)
    done = sorted(float(t) for t in times if t is not None)
    if failed > 1:
        return None, f"invalid: {failed} runs did not converge (at most 1 may)"
    if failed == 1:
        kept = done[1:]
        return sum(kept) / len(kept), f"dropped the fastest ({done[0]:g}) and the non-converging run as the slowest"
    kept = done[1:-1]
    return sum(kept) / len(kept), f"dropped the fastest ({done[0]:g}) and the slowest ({done[-1]:g})"


def run_seeds(seed: int, runs: int) -> list[int]:
    """Distinct per-run seeds drawn from one seed (``numpy.random.SeedSequence``).

    Examples
    --------
    >>> s = run_seeds(0, 5); len(set(s)) == 5 and s == run_seeds(0, 5)
    True
    """
    seeds = [int(x) for x in np.random.SeedSequence(seed).generate_state(runs, dtype=np.uint32) % (2 ** 31 - 1)]
    bump = 0
    while len(set(seeds)) < runs:  # pragma: no cover - a 32-bit collision
        bump += 1
        seeds = list(dict.fromkeys(seeds)) + [seeds[-1] + bump]
    return seeds


class _Log:
    """An in-memory compliance log written through mllog."""

    def __init__(self):
        from mlperf_logging.mllog import constants, mllog

        self.lines: list[str] = []
        logger = logging.Logger(f"dawnlab.tta.run.{id(self)}", level=logging.INFO)
        handler = logging.Handler()
        handler.emit = lambda record: self.lines.append(record.getMessage())
        logger.addHandler(handler)
        self.ml = mllog.MLLogger(logger=logger, default_stack_offset=2)
        self.c = constants

    @staticmethod
    def now_ms() -> float:
        return round(time.time() * 1e3, 3)

    def event(self, key, value=None, metadata=None, time_ms=None):
        self.ml.event(key=key, value=value, metadata=metadata, time_ms=time_ms or self.now_ms())

    def start(self, key, value=None, metadata=None, time_ms=None):
        self.ml.start(key=key, value=value, metadata=metadata, time_ms=time_ms or self.now_ms())

    def end(self, key, value=None, metadata=None, time_ms=None):
        self.ml.end(key=key, value=value, metadata=metadata, time_ms=time_ms or self.now_ms())

    def text(self) -> str:
        return "\n".join(line.strip("\n") for line in self.lines) + "\n"


def recipe_of(benchmark: Benchmark) -> dict[str, Any]:
    """What a run's log records of its recipe: the target, the epoch limit, the evaluation period, the hyperparameters.

    Values go through JSON (as in the log), so a recipe compares equal to the one read back.

    Examples
    --------
    >>> from dawnlab.tta.synthetic import CurveBenchmark
    >>> recipe_of(CurveBenchmark(target=0.5))["target"]
    0.5
    """
    recipe = {"target": float(benchmark.target), "max_epochs": int(benchmark.max_epochs),
              "eval_every": int(benchmark.eval_every), "hyperparameters": dict(benchmark.hyperparameters)}
    return json.loads(json.dumps(recipe, default=str))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def execute_run(benchmark: Benchmark, seed: int, path: str | os.PathLike, *, init_limit_s: float = INIT_LIMIT_S,
                division: str = "closed", latency_examples: int = 0,
                latency_warmup: int = LATENCY_WARMUP) -> RunRecord:
    """One run under the timing rules; writes its log atomically to ``path`` and returns its record.

    An ``init`` that runs past ``init_limit_s`` is stopped at the limit where a timer
    can do it (``SIGALRM`` in a process's main thread: the default one-process Runner
    and its worker processes) and otherwise flagged once it returns (a thread, e.g. a
    dask worker); either way the run is logged as aborted, its ``run_stop`` reason
    naming ``init_limit_s``, the rule and the time, and ``dawnlab_init_limit`` saying
    ``'stopped at the limit'`` or ``'checked after init returned'``.

    When ``benchmark.eval_every > 1`` the epochs between two evaluations are logged as
    one MLPerf block (``block_start``/``block_stop`` with ``first_epoch_num`` and
    ``epoch_count``), the evaluation closing the block.

    Raises
    ------
    BenchmarkError
        If ``evaluate`` returns a value that is not a finite number in [0, 1]; the log
        (ending in an aborted ``run_stop`` that gives the reason) is written first.  Any
        other exception from the benchmark leaves no log for this run (logs appear whole
        or not at all), so a resumed Runner redoes it.
    """
    log = _Log()
    c = log.c
    log.event(c.SUBMISSION_ORG, ORG)
    log.event(c.SUBMISSION_PLATFORM, PLATFORM)
    log.event(c.SUBMISSION_DIVISION, division)
    log.event(c.SUBMISSION_STATUS, "research")
    log.event(c.SUBMISSION_BENCHMARK, benchmark.name)
    log.event(c.CACHE_CLEAR, True)
    log.event(_EXTRA + "recipe", recipe_of(benchmark))  # what a resumed Runner compares its kept runs against
    init_start = log.now_ms()
    log.start(c.INIT_START, time_ms=init_start)
    log.event(c.SEED, int(seed))
    hyper = dict(benchmark.hyperparameters)
    for key in HYPERPARAMETER_KEYS:
        log.event(key, hyper[key])
    log.event(c.GRADIENT_ACCUMULATION_STEPS, int(hyper.get("gradient_accumulation_steps", 1)))
    stopped, enforced = False, False
    try:
        with _init_timer(init_limit_s) as enforced:
            benchmark.init(int(seed))
    except _InitLimit:  # (outside the with too: the timer may fire just as init returns)
        stopped = True
    init_stop = log.now_ms()
    log.end(c.INIT_STOP, time_ms=init_stop)
    init_s = (init_stop - init_start) / 1e3
    log.event(_EXTRA + "init_limit", "stopped at the limit" if enforced else "checked after init returned")

    error = None
    status, reason = "aborted", ""
    cpu0 = _cpu_seconds()
    run_start = log.now_ms()
    log.start(c.RUN_START, time_ms=run_start)
    epoch, inside, train_s = 0, 0.0, 0.0
    blocks = benchmark.eval_every > 1
    if stopped or init_s > init_limit_s:
        reason = ((f"init was stopped at the limit init_limit_s={init_limit_s:g} s after {init_s:.3f} s"
                   if stopped else f"init took {init_s:.3f} s, over the limit init_limit_s={init_limit_s:g} s")
                  + " (MLPerf excludes initialization only up to its limit)")
    else:
        t = time.perf_counter()
        benchmark.start()
        inside = time.perf_counter() - t
        block_first = 1
        for epoch in range(1, benchmark.max_epochs + 1):
            if blocks and epoch == block_first:
                count = min(benchmark.eval_every, benchmark.max_epochs - epoch + 1)
                log.start(c.BLOCK_START, metadata={c.FIRST_EPOCH_NUM: epoch, c.EPOCH_COUNT: count})
            log.start(c.EPOCH_START, metadata={c.EPOCH_NUM: epoch})
            t = time.perf_counter()
            benchmark.train_epoch(epoch)
            dt = time.perf_counter() - t
            train_s += dt
            log.end(c.EPOCH_STOP, metadata={c.EPOCH_NUM: epoch})
            if epoch % benchmark.eval_every and epoch != benchmark.max_epochs:
                inside += dt
                continue
            log.start(c.EVAL_START, metadata={c.EPOCH_NUM: epoch})
            t = time.perf_counter()
            acc = benchmark.evaluate()
            inside += dt + time.perf_counter() - t
            ok = (not isinstance(acc, bool) and isinstance(acc, (int, float, np.floating, np.integer))
                  and math.isfinite(float(acc)) and 0.0 <= float(acc) <= 1.0)
            if not ok:
                log.end(c.EVAL_STOP, metadata={c.EPOCH_NUM: epoch})
                if blocks:
                    log.end(c.BLOCK_STOP, metadata={c.FIRST_EPOCH_NUM: block_first})
                reason = f"evaluate() returned {acc!r} at epoch {epoch}: must be a finite number in [0, 1]"
                error = BenchmarkError(f"The value returned by {type(benchmark).__name__}.evaluate() must be a "
                                       f"finite number in [0, 1]. Got {acc!r} instead (seed {seed}, epoch "
                                       f"{epoch}). The run was logged as aborted in {str(path)!r}.")
                break
            acc = float(acc)
            log.event(c.EVAL_ACCURACY, acc, metadata={c.EPOCH_NUM: epoch})
            log.end(c.EVAL_STOP, metadata={c.EPOCH_NUM: epoch})
            if blocks:
                log.end(c.BLOCK_STOP, metadata={c.FIRST_EPOCH_NUM: block_first})
                block_first = epoch + 1
            log.event(_EXTRA + "eval_cpu_seconds", round(_cpu_seconds() - cpu0, 6), metadata={c.EPOCH_NUM: epoch})
            if acc >= benchmark.target:
                status = "success"
                break
        else:
            reason = (f"the target {benchmark.target:g} was not met within max_epochs={benchmark.max_epochs}")
    run_stop = log.now_ms()
    cpu_s = _cpu_seconds() - cpu0
    meta = {c.STATUS: status, c.EPOCH_NUM: epoch}
    if reason:
        meta["reason"] = reason
    log.end(c.RUN_STOP, metadata=meta, time_ms=run_stop)
    log.event(_EXTRA + "cpu_seconds", round(cpu_s, 6))
    log.event(_EXTRA + "benchmark_seconds", round(inside, 6))  # inside start/train_epoch/evaluate
    log.event(_EXTRA + "train_seconds", round(train_s, 6))  # inside train_epoch
    if error is None and epoch > 0:
        held = benchmark.holdout_accuracy()
        if held is not None:
            log.event(_EXTRA + "holdout_accuracy", float(held))
        if latency_examples > 0:
            lat = _latencies(benchmark, latency_examples, latency_warmup)
            if lat is not None:
                log.event(_EXTRA + "latency_warmup", int(latency_warmup))
                log.event(_EXTRA + "latency_ms", [round(x * 1e3, 6) for x in lat])
    atomic_write_bytes(path, log.text().encode())
    if error is not None:
        raise error
    return read_run(path)


def _latencies(benchmark: Benchmark, n: int, warmup: int = LATENCY_WARMUP) -> list[float] | None:
    """Seconds of ``n`` one-example predictions, after ``warmup`` untimed ones (None if unsupported)."""
    if benchmark.predict_one(0) is NotImplemented:
        return None
    for i in range(warmup):  # untimed: the first calls allocate buffers and warm the caches
        benchmark.predict_one(i)
    out = []
    for i in range(n):
        t = time.perf_counter()
        benchmark.predict_one(i)
        out.append(time.perf_counter() - t)
    return out


def read_run(path: str | os.PathLike, index: int | None = None) -> RunRecord:
    """Rebuild a :class:`RunRecord` from a compliance log."""
    path = Path(path)
    recs = log_lines(path)
    by = {}
    for r in recs:
        by.setdefault(r["key"], []).append(r)
    if "run_stop" not in by or "run_start" not in by:
        raise ValueError(f"{path} has no run_start/run_stop: not a finished run")
    t0 = float(by["run_start"][0]["time_ms"])
    stop = by["run_stop"][0]
    evals = []
    for r in by.get("eval_accuracy", []):
        t_end = next((float(e["time_ms"]) for e in by.get("eval_stop", [])
                      if e["metadata"].get("epoch_num") == r["metadata"].get("epoch_num")), float(r["time_ms"]))
        evals.append((int(r["metadata"]["epoch_num"]), (t_end - t0) / 1e3, float(r["value"])))
    extras = {r["key"][len(_EXTRA):]: r["value"] for r in recs
              if r["key"].startswith(_EXTRA) and r["key"] != _EXTRA + "eval_cpu_seconds"}
    eval_cpu = [float(r["value"]) for r in by.get(_EXTRA + "eval_cpu_seconds", [])]
    if index is None:
        digits = "".join(ch for ch in path.stem if ch.isdigit())
        index = int(digits) if digits else -1
    return RunRecord(index=index, seed=int(by["seed"][0]["value"]), status=stop["metadata"]["status"],
                     tta_s=(float(stop["time_ms"]) - t0) / 1e3,
                     init_s=(float(by["init_stop"][0]["time_ms"]) - float(by["init_start"][0]["time_ms"])) / 1e3,
                     evals=evals, benchmark=by["submission_benchmark"][0]["value"],
                     reason=stop["metadata"].get("reason", ""), extras=extras, log=str(path), eval_cpu=eval_cpu)


def _task(args):
    benchmark, seed, path, init_limit_s, latency_examples, latency_warmup = args
    return execute_run(benchmark, seed, path, init_limit_s=init_limit_s, latency_examples=latency_examples,
                       latency_warmup=latency_warmup)


class Runner:
    """Run a benchmark ``runs`` times under MLPerf's rules and score the result.

    Parameters
    ----------
    benchmark : Benchmark
        The recipe (must pickle when ``processes > 1`` or a ``client`` is given).
    runs : int
        Number of runs, at least 3 (MLPerf: 5 for vision, 10 for others).
    log_dir : path, optional
        Folder of the logs ``result_<i>.txt``; a folder with finished logs of the same
        benchmark and seeds is resumed.  Default: a new temporary folder.
    seed : int
        Base seed; run ``i`` gets ``run_seeds(seed, runs)[i]``.
    init_limit_s : float
        Initialization excluded from the clock up to this many seconds (MLPerf: 1800);
        a longer one aborts the run with the reason in its log.  It is stopped at the
        limit by ``SIGALRM`` when the run executes in a process's main thread (the
        default ``processes=1`` from the main thread, and pool workers); in a thread (a
        dask worker, a widget's background thread) it is checked after ``init`` returns
        (see :func:`execute_run`).
    processes : int
        Local worker processes (default 1: runs do not share cores).
    client : dask.distributed.Client, optional
        Run on this cluster instead.
    latency_examples : int
        After each run, time ``predict_one`` on this many examples, one at a time (after
        the clock stopped).
    latency_warmup : int
        Untimed ``predict_one`` calls before those (default :data:`LATENCY_WARMUP`).
    check : bool
        Check every log with the package's checker engine and the workbench ruleset.
    progress : bool
        Show a progress bar.

    Examples
    --------
    >>> import tempfile
    >>> from dawnlab.tta.synthetic import CurveBenchmark
    >>> runner = Runner(CurveBenchmark(target=0.9, epoch_seconds=0.0), runs=3, log_dir=tempfile.mkdtemp(),
    ...                 progress=False)
    >>> result = runner.run()
    >>> [r.status for r in result.runs], all(c.passed for c in result.checks)
    (['success', 'success', 'success'], True)
    """

    def __init__(self, benchmark: Benchmark, runs: int = 5, log_dir: str | os.PathLike | None = None, *,
                 seed: int = 0, init_limit_s: float = INIT_LIMIT_S, processes: int = 1, client=None,
                 latency_examples: int = 0, latency_warmup: int = LATENCY_WARMUP, check: bool = True,
                 progress: bool = True):
        validate_benchmark(benchmark)
        if isinstance(runs, bool) or not isinstance(runs, int) or runs < 3:
            raise invalid("runs", "Runner", "an int >= 3 (olympic scoring drops the fastest and the slowest run)",
                          runs, "MLPerf uses 5 runs for vision benchmarks and 10 for the others.")
        if isinstance(init_limit_s, bool) or not isinstance(init_limit_s, (int, float)) or not (
                0 < init_limit_s <= INIT_LIMIT_S):
            raise invalid("init_limit_s", "Runner", f"a number of seconds in (0, {INIT_LIMIT_S:g}] (MLPerf's limit)",
                          init_limit_s)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise invalid("seed", "Runner", "an int >= 0 (the base of the runs' distinct seeds)", seed)
        if isinstance(processes, bool) or not isinstance(processes, int) or processes < 1:
            raise invalid("processes", "Runner", "an int >= 1 (local worker processes; 1 runs in this process)",
                          processes)
        if log_dir is not None and Path(log_dir).exists() and not Path(log_dir).is_dir():
            raise invalid("log_dir", "Runner", "a folder (new or holding this Runner's logs), not a file",
                          str(log_dir))
        if isinstance(latency_examples, bool) or not isinstance(latency_examples, int) or latency_examples < 0:
            raise invalid("latency_examples", "Runner", "an int >= 0", latency_examples)
        if isinstance(latency_warmup, bool) or not isinstance(latency_warmup, int) or latency_warmup < 0:
            raise invalid("latency_warmup", "Runner", "an int >= 0", latency_warmup)
        self.benchmark, self.runs, self.seed = benchmark, runs, int(seed)
        self.log_dir = Path(log_dir) if log_dir is not None else Path(tempfile.mkdtemp(prefix="dawnlab-tta-"))
        self.init_limit_s, self.processes, self.client = float(init_limit_s), processes, client
        self.latency_examples, self.latency_warmup = latency_examples, latency_warmup
        self.check, self.progress = check, progress
        self.seeds = run_seeds(self.seed, runs)

    def path(self, i: int) -> Path:
        """The log file of run ``i``."""
        return self.log_dir / f"result_{i}.txt"

    @property
    def ruleset(self) -> Path:
        """The ruleset the logs are checked with (the shipped one, or a copy that knows this benchmark)."""
        b = self.benchmark
        if default_targets().get(b.name) == float(b.target):
            return RULESET
        return write_ruleset(self.log_dir / "ruleset.yaml", {b.name: float(b.target)})

    def finished(self) -> dict[int, RunRecord]:
        """The runs whose logs are already in ``log_dir`` (they are kept on resume).

        Raises
        ------
        InvalidArgument
            If a kept log was written by another benchmark, seed or recipe (target,
            epoch limit, evaluation period or hyperparameters, as :func:`recipe_of`
            records them): its "success" would not mean this recipe's target was met; or
            if the folder holds ``result_*.txt`` logs beyond runs ``0 .. runs-1``, which
            the package's summarizer would score with them.
        """
        mine = {self.path(i).name for i in range(self.runs)}
        extra = sorted(p.name for p in self.log_dir.glob("result_*.txt") if p.name not in mine)
        if extra:
            raise invalid("log_dir", "Runner", "a folder whose result_*.txt logs are this Runner's runs "
                          f"0..{self.runs - 1} only, since mlperf_logging's result summarizer scores every result_*.txt in it (found "
                          f"{', '.join(extra)})", str(self.log_dir),
                          "Use another log_dir, the same runs= as before, or delete the extra logs.")
        done = {}
        expected = recipe_of(self.benchmark)
        for i, seed in enumerate(self.seeds):
            p = self.path(i)
            if not p.is_file():
                continue
            try:
                rec = read_run(p, i)
            except (ValueError, KeyError, IndexError):
                continue
            if rec.seed != seed or rec.benchmark != self.benchmark.name:
                raise invalid("log_dir", "Runner", f"a new folder or one with this benchmark's runs (result_{i}.txt "
                              f"is {rec.benchmark!r} seed {rec.seed}, expected {self.benchmark.name!r} seed {seed})",
                              str(self.log_dir), "Use another log_dir or delete the old logs.")
            kept = rec.extras.get("recipe")
            if kept != expected:
                diff = ({k: (kept.get(k), v) for k, v in expected.items() if kept.get(k) != v}
                        if isinstance(kept, dict) else {"recipe": (kept, expected)})
                raise invalid("log_dir", "Runner", f"a new folder or one whose kept runs were written by this recipe "
                              f"(result_{i}.txt differs: "
                              + ", ".join(f"{k} logged {a!r}, now {b!r}" for k, (a, b) in diff.items()) + ")",
                              str(self.log_dir), "Use another log_dir or delete the old logs.")
            done[i] = rec
        return done

    def iter_runs(self) -> Iterator[RunRecord]:
        """Yield each run's record as it finishes (the kept ones first)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.log_dir.glob(".result_*.tmp"):  # a run killed while writing
            tmp.unlink(missing_ok=True)
        done = self.finished()
        yield from (done[i] for i in sorted(done))
        todo = [i for i in range(self.runs) if i not in done]
        tasks = [(self.benchmark, self.seeds[i], str(self.path(i)), self.init_limit_s, self.latency_examples,
                  self.latency_warmup) for i in todo]
        # pickle finds functions through sys.modules; a second import of this file (pytest's importlib mode
        # collecting doctests) replaces that entry, so hand over the function it will find
        task = getattr(sys.modules.get(__name__), "_task", _task)
        for _, rec in imap(task, tasks, client=self.client, processes=self.processes, progress=self.progress,
                           desc=f"{self.benchmark.name} runs"):
            yield rec

    def run(self) -> RunnerResult:
        """Do (or finish) all runs, check every log, and score them."""
        records = sorted(self.iter_runs(), key=lambda r: r.index)
        return self.result(records)

    def result(self, records: list[RunRecord]) -> RunnerResult:
        """Check finished records and score them.

        With ``check`` on, a run whose log fails the compliance check counts as
        non-converging whatever its status, as in mlperf-logging's result summarizer,
        so the score agrees with :func:`~dawnlab.tta.rules.summarizer_score`.
        """
        ruleset = self.ruleset if self.check else None
        checks = [check_log(r.log, ruleset) for r in records] if self.check else []
        # as mlperf_logging's result summarizer does: a log that fails the compliance check is non-converging
        passed = [c.passed for c in checks] if self.check else [True] * len(records)
        times = [r.tta_s if r.converged and ok else None for r, ok in zip(records, passed)]
        score, note = olympic_score(times) if len(records) >= 3 else (None, "fewer than 3 runs")
        failing = [r.index for r, ok in zip(records, passed) if not ok]
        if failing:
            note += f" (runs {failing} fail the compliance check and count as non-converging)"
        return RunnerResult(self.benchmark.name, float(self.benchmark.target), records, score, note, checks,
                            str(self.log_dir))
