"""Time-to-accuracy: MLPerf-style runs with compliance logs, olympic scoring and the DAWNBench analysis.

Implements the measurement side of MLPerf Training (Mattson et al., arXiv 1910.01500,
Section 3: time to a quality target, the timing rules, several runs scored by the
olympic mean, compliance logs checked by MLCommons' ``mlperf-logging``) and the
analysis of DAWNBench (Coleman et al., arXiv 1806.01427, Sections 4-5: variance of
time-to-accuracy, threshold sensitivity, generalization, cost, inference latency).

Public names
------------
:class:`Benchmark`, :class:`FunctionBenchmark`
    A recipe: untimed ``init(seed)``, timed ``start``/``train_epoch``/``evaluate``, a target.
:class:`Runner`, :class:`RunRecord`, :class:`RunnerResult`, :func:`olympic_score`
    N runs under the rules, one atomically written log each, resume, the score.
:func:`check_log`, :func:`summarizer_score`, :func:`write_ruleset`, :data:`RULESET`
    The workbench ruleset run by the package's checker engine; the package's summarizer.
:mod:`dawnlab.tta.analysis`
    CoV with a noncentral-t interval (exact for normal times; not for heavy tails), runs needed for 5%, the threshold curve and rankings,
    cost, latency.
:class:`CurveBenchmark`, :class:`DigitsBenchmark`, :class:`SVPProxyBenchmark`, :class:`LITStudentBenchmark`
    The shipped benchmarks (a synthetic curve; the fast and plain digits trainers; the SVP proxies;
    a LIT student on MNIST-1D with its teacher trained on the clock).
"""

from __future__ import annotations

from dawnlab.tta.analysis import (COV_GUARANTEE, CovInterval, bootstrap_cov, common_target, cov_interval, cov_interval_coverage, harness_fraction, throughput, coefficient_of_variation, cost, latency_stats, rankings,
                                  runs_for_precision, threshold_curve)
from dawnlab.tta.benchmark import HYPERPARAMETER_KEYS, Benchmark, FunctionBenchmark
from dawnlab.tta.errors import BenchmarkError, TTAError
from dawnlab.tta.rules import CONVERGED, RULESET, CheckReport, check_log, default_targets, summarizer_score, write_ruleset
from dawnlab.tta.runner import INIT_LIMIT_S, LATENCY_WARMUP, Runner, RunnerResult, RunRecord, olympic_score, read_run, run_seeds
from dawnlab.tta.synthetic import CurveBenchmark

__all__ = ["Benchmark", "FunctionBenchmark", "HYPERPARAMETER_KEYS", "Runner", "RunRecord", "RunnerResult",
           "olympic_score", "read_run", "run_seeds", "INIT_LIMIT_S", "LATENCY_WARMUP", "check_log", "summarizer_score",
           "write_ruleset", "default_targets", "RULESET", "CONVERGED", "CheckReport", "TTAError", "BenchmarkError",
           "CurveBenchmark", "coefficient_of_variation", "cov_interval", "cov_interval_coverage", "CovInterval",
           "COV_GUARANTEE", "bootstrap_cov", "runs_for_precision", "threshold_curve",
           "rankings", "cost", "latency_stats", "common_target", "throughput", "harness_fraction", "DigitsBenchmark", "SVPProxyBenchmark",
           "LITStudentBenchmark"]


def __getattr__(name):  # the torch benchmarks load on first use
    if name == "DigitsBenchmark":
        from dawnlab.tta.digits import DigitsBenchmark

        return DigitsBenchmark
    if name == "SVPProxyBenchmark":
        from dawnlab.tta.digits import SVPProxyBenchmark

        return SVPProxyBenchmark
    if name == "LITStudentBenchmark":
        from dawnlab.tta.lit import LITStudentBenchmark

        return LITStudentBenchmark
    raise AttributeError(name)
