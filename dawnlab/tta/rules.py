"""The workbench's MLPerf ruleset, checked by mlperf-logging's own engine, and the summarizer's score.

MLPerf Training (Mattson et al., arXiv 1910.01500, Section 3.3 "Submission, review and
reporting") has every run write a compliance log that MLCommons' ``mlperf-logging``
package checks.  The package's checker refuses benchmark names outside MLPerf's list,
so the workbench ships its ruleset in the checker's YAML format
(``dawnlab/tta/rules/tta_training_6.0.0.yaml``; the file's header lists what it keeps
from ``training_6.0.0/common.yaml`` and what it adds) and runs the package's engine
(:func:`mlperf_logging.compliance_checker.mlp_compliance.main`) on it.

A second file, ``tta_converged.yaml``, says whether the run met its target.  The
package's result summarizer drops every log that fails its check as non-converging;
:func:`summarizer_score` runs the summarizer's own scoring function on a folder of
logs with the check pointed at the two workbench files.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from unittest import mock

from dawnlab.errors import invalid

__all__ = ["RULESET", "CONVERGED", "RULESET_VERSION", "default_targets", "write_ruleset", "check_log",
           "CheckReport", "summarizer_score"]

RULESET_VERSION = "6.0.0"
"""The mlperf-logging training ruleset whose parser and common rules the workbench file follows."""

RULESET = Path(str(resources.files("dawnlab.tta") / "rules" / "tta_training_6.0.0.yaml"))
"""The shipped ruleset file."""

CONVERGED = Path(str(resources.files("dawnlab.tta") / "rules" / "tta_converged.yaml"))
"""The convergence check (the run's status is ``success``)."""

_TARGETS_LINE = re.compile(r"^(\s*)'targets': (\{.*\}),\s*$", re.M)


def default_targets(ruleset: str | os.PathLike = RULESET) -> dict[str, float]:
    """The benchmark names and quality targets a ruleset file accepts.

    Examples
    --------
    >>> default_targets()["digits_fast"]
    0.98
    """
    import ast

    match = _TARGETS_LINE.search(Path(ruleset).read_text())
    if match is None:  # pragma: no cover - the shipped file has the line
        raise ValueError(f"{ruleset} has no 'targets' line in its BEGIN block.")
    return dict(ast.literal_eval(match.group(2)))


def write_ruleset(path: str | os.PathLike, targets: dict[str, float]) -> Path:
    """Write a copy of the ruleset that also accepts ``targets`` (benchmark name -> quality target).

    Every other rule is the shipped file's, unchanged.  A name the shipped file already
    has keeps its shipped target unless ``targets`` gives another one.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = write_ruleset(pathlib.Path(tempfile.mkdtemp()) / "rules.yaml", {"my_model": 0.75})
    >>> default_targets(p)["my_model"], default_targets(p)["digits_fast"]
    (0.75, 0.98)
    """
    from dawnlab.results import atomic_write_bytes

    merged = default_targets()
    for name, target in targets.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
            raise invalid("targets", "write_ruleset", "a dict whose keys are names of letters, digits, '_', '.', '-'",
                          name)
        if not isinstance(target, (int, float)) or not 0.0 < float(target) <= 1.0:
            raise invalid("targets", "write_ruleset", f"a dict of quality targets in (0, 1] (for {name!r})", target)
        merged[name] = float(target)
    text = _TARGETS_LINE.sub(lambda m: f"{m.group(1)}'targets': {merged!r},", RULESET.read_text(), count=1)
    return atomic_write_bytes(path, text.encode())


@dataclass
class CheckReport:
    """What the package's checker said about one log.

    Attributes
    ----------
    path : str
        The log file.
    passed : bool
        The log passed the ruleset (it is compliant).
    converged : bool
        It also passed the convergence check (its status is ``success``).
    messages : list of str
        The checker's messages (empty when it passed).
    """

    path: str
    passed: bool
    converged: bool
    messages: list[str] = field(default_factory=list)


@contextlib.contextmanager
def _quiet_logging():
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _engine(path: str, config: str) -> tuple[bool, list[str]]:
    """One run of the package's compliance engine on one file with one config."""
    from mlperf_logging.compliance_checker import mlp_compliance

    # werror: the package only warns when an EXACTLY_ONE key is repeated with the same value (an exact duplicate
    # seed, run_stop or hyperparameter line); the workbench refuses every repeat
    checker = mlp_compliance.make_checker("training", RULESET_VERSION, quiet=True, werror=True)
    try:
        with _quiet_logging():
            valid, _, _, _ = mlp_compliance.main(path, config, checker)
    except (KeyError, ValueError, TypeError, AttributeError, IndexError) as exc:
        # the package's parser raises on a :::MLLOG record without its fields (e.g. no time_ms): not compliant
        return False, [f"mlperf_logging's parser could not read {path!r}: {type(exc).__name__}: {exc}"]
    finally:
        mlp_compliance.enqueued_configs.clear()  # the engine's module-level queue
    messages = [*checker.overwritable.values(), *checker.not_overwritable]
    return bool(valid), messages


def check_log(path: str | os.PathLike, ruleset: str | os.PathLike = RULESET) -> CheckReport:
    """Check one compliance log with mlperf-logging's engine and the workbench ruleset.

    Parameters
    ----------
    path : path
        A ``:::MLLOG`` log file.
    ruleset : path
        The ruleset (the shipped one, or a copy from :func:`write_ruleset`).

    The engine runs with ``werror``: an EXACTLY_ONE key repeated with the same value
    (which the package's checker only warns about) fails the check.

    Returns
    -------
    CheckReport

    Raises
    ------
    InvalidArgument
        If ``path`` or ``ruleset`` is not a file.
    """
    path, ruleset = Path(path), Path(ruleset)
    for name, p in (("path", path), ("ruleset", ruleset)):
        if not p.is_file():
            raise invalid(name, "check_log", "an existing file", str(p))
    passed, messages = _engine(str(path), str(ruleset.resolve()))
    converged, more = _engine(str(path), str(CONVERGED))
    if passed and not converged:
        messages = []  # a compliant aborted run: the convergence check's message is the status itself
    return CheckReport(str(path), passed, passed and converged, messages if not passed else [])


def summarizer_score(folder: str | os.PathLike, benchmark: str,
                     ruleset: str | os.PathLike = RULESET) -> tuple[float | None, list[float], int]:
    """Score a folder of ``result_*.txt`` logs with the package's result summarizer.

    Runs ``mlperf_logging.result_summarizer``'s strong-scaling scoring function
    (``_compute_strong_score_standalone``) unchanged, with its compliance check pointed
    at the workbench ruleset plus the convergence check instead of MLPerf's
    ``common.yaml``: a log that fails counts as non-converging, exactly as in the package.

    Raises
    ------
    InvalidArgument
        If two logs of the folder share a seed (the package's summarizer would score both).

    Returns
    -------
    (score_seconds or None, converged run times in seconds, number of dropped logs)
        The olympic score in seconds (the summarizer works in minutes), or None when the
        summarizer finds too many non-converging runs or too few runs.
    """
    from mlperf_logging.compliance_checker.mlp_parser import parse_file
    from mlperf_logging.result_summarizer import result_summarizer as rs

    ruleset = str(Path(ruleset).resolve())
    seeds: dict[int, list[str]] = {}
    for log in sorted(Path(folder).glob("result_*.txt")):
        for rec in log_lines(log):
            if rec.get("key") == "seed":
                seeds.setdefault(rec.get("value"), []).append(log.name)
                break
    shared = {seed: names for seed, names in seeds.items() if len(names) > 1}
    if shared:
        raise invalid("folder", "summarizer_score", "a folder of runs with distinct seeds (MLPerf: each run of a "
                      "result uses its own seed; a copied log would be scored twice)", str(folder),
                      "Shared seeds: " + "; ".join(f"{seed} in {', '.join(names)}" for seed, names in shared.items())
                      + ".")

    def read_result_file(result_file, usage, ruleset_version):
        ok, _ = _engine(result_file, ruleset)
        converged, _ = _engine(result_file, str(CONVERGED))
        if not (ok and converged):
            raise ValueError("Compliance check failed")
        loglines, failed = parse_file(result_file, ruleset=ruleset_version)
        if failed:
            raise ValueError("Parse error")
        return loglines

    with mock.patch.object(rs, "_read_result_file", read_result_file), \
            contextlib.redirect_stdout(open(os.devnull, "w")) as _sink:
        try:
            tracked, _, score, _, _ = rs._compute_strong_score_standalone(
                benchmark, "dawnlab", False, str(folder), "training", RULESET_VERSION, return_full_scores=True)
        finally:
            _sink.close()
    times = sorted(minutes * 60.0 for minutes in tracked.values())
    n_logs = len(list(Path(folder).glob("result_*.txt")))
    return (None if score is None else score * 60.0), times, n_logs - len(times)


def log_lines(path: str | os.PathLike) -> list[dict]:
    """The ``:::MLLOG`` records of a log file, parsed (other lines skipped)."""
    records = []
    for line in Path(path).read_text(encoding="latin-1").splitlines():
        if ":::MLLOG " in line:
            records.append(json.loads(line.split(":::MLLOG ", 1)[1]))
    return records
