"""The runner's rules: the clock and its exclusions, seeds, statuses, bad benchmarks, resume."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.tta import BenchmarkError, CurveBenchmark, Runner, check_log, olympic_score, read_run
from dawnlab.tta.rules import log_lines


def _keys(path):
    return [r["key"] for r in log_lines(path)]


def test_init_sleep_is_not_on_the_clock_and_evaluation_is(tmp_path):
    # noise 0, rate 1: accuracy 1 - e^-e reaches 0.9 at epoch 3 (0.950), not at 2 (0.865)
    b = CurveBenchmark(target=0.9, rate=1.0, noise=0.0, jitter=0.0, epoch_seconds=0.0, eval_seconds=0.1,
                       init_seconds=1.0)
    res = Runner(b, runs=3, log_dir=tmp_path, progress=False).run()
    for r in res.runs:
        assert r.status == "success" and [e for e, _, _ in r.evals] == [1, 2, 3]
        assert r.init_s >= 1.0  # the init sleep is logged between init_start and init_stop
        assert r.tta_s >= 3 * 0.1  # three evaluations of 0.1 s each are on the clock
        assert r.tta_s < 1.0  # the 1 s init sleep is not
        recs = log_lines(r.log)
        t = {x["key"]: float(x["time_ms"]) for x in recs if x["key"] in ("init_stop", "run_start", "run_stop")}
        assert t["init_stop"] <= t["run_start"] and math.isclose(r.tta_s, (t["run_stop"] - t["run_start"]) / 1e3)
    assert all(c.passed and c.converged for c in res.checks)


def test_distinct_seeds_are_logged_once_each(tmp_path):
    res = Runner(CurveBenchmark(epoch_seconds=0.0), runs=6, log_dir=tmp_path, seed=3, progress=False).run()
    logged = [[x["value"] for x in log_lines(r.log) if x["key"] == "seed"] for r in res.runs]
    assert all(len(s) == 1 for s in logged)
    assert len({s[0] for s in logged}) == 6
    assert [s[0] for s in logged] == Runner(CurveBenchmark(), runs=6, log_dir=tmp_path / "x", seed=3).seeds


def test_unreachable_target_is_aborted_at_the_epoch_limit_and_the_logs_are_kept(tmp_path):
    b = CurveBenchmark(target=0.9, ceiling=0.5, epoch_seconds=0.0, max_epochs=4)
    res = Runner(b, runs=3, log_dir=tmp_path, progress=False).run()
    for r in res.runs:
        assert r.status == "aborted" and r.evals[-1][0] == 4
        assert "max_epochs=4" in r.reason and Path(r.log).is_file()
    assert all(c.passed and not c.converged for c in res.checks)  # an honest aborted log is compliant
    assert res.score_s is None and res.score_note.startswith("invalid: 3 runs did not converge")


@pytest.mark.parametrize("bad", [float("nan"), 1.5, -0.1])
def test_evaluate_outside_0_1_raises_naming_the_rule_and_keeps_the_log(tmp_path, bad):
    b = CurveBenchmark(epoch_seconds=0.0, invalid_at=2, invalid_value=bad)
    with pytest.raises(BenchmarkError, match=r"evaluate\(\) must be a finite number in \[0, 1\]") as err:
        Runner(b, runs=3, log_dir=tmp_path, progress=False).run()
    assert repr(bad) in str(err.value) and "result_0.txt" in str(err.value)
    rec = read_run(tmp_path / "result_0.txt")
    assert rec.status == "aborted" and "evaluate() returned" in rec.reason and len(rec.evals) == 1


def test_init_over_its_limit_aborts_with_the_reason(tmp_path):
    b = CurveBenchmark(epoch_seconds=0.0, init_seconds=0.3)
    res = Runner(b, runs=3, log_dir=tmp_path, init_limit_s=0.1, progress=False, check=True).run()
    for r, c in zip(res.runs, res.checks):
        assert r.status == "aborted" and "init_limit_s=0.1" in r.reason and r.evals == []
        assert not c.passed  # a run that broke the init rule is not a compliant result
    assert res.score_s is None


@pytest.mark.parametrize("runs", [0, 2, 2.5, True])
def test_runs_below_three_are_refused(tmp_path, runs):
    with pytest.raises(InvalidArgument, match=r"'runs' argument of Runner must be an int >= 3"):
        Runner(CurveBenchmark(), runs=runs, log_dir=tmp_path)


@pytest.mark.parametrize("attr, value, match", [("target", 1.5, "benchmark.target"), ("target", 0.0, "benchmark.target"),
                                                ("max_epochs", 0, "benchmark.max_epochs"),
                                                ("name", "has space", "benchmark.name"),
                                                ("hyperparameters", {}, "benchmark.hyperparameters")])
def test_bad_benchmark_attributes_are_refused(tmp_path, attr, value, match):
    b = CurveBenchmark()
    setattr(b, attr, value)
    with pytest.raises(InvalidArgument, match=match):
        Runner(b, runs=3, log_dir=tmp_path)


def test_init_limit_above_mlperf_is_refused(tmp_path):
    with pytest.raises(InvalidArgument, match="init_limit_s"):
        Runner(CurveBenchmark(), runs=3, log_dir=tmp_path, init_limit_s=3600)


def test_a_folder_of_another_benchmark_is_refused(tmp_path):
    Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()
    with pytest.raises(InvalidArgument, match="log_dir"):
        Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, seed=9, progress=False).run()


def test_processes_fan_out_and_give_the_same_logs_structure(tmp_path):
    res = Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, processes=2, progress=False).run()
    assert [r.index for r in res.runs] == [0, 1, 2] and all(c.passed for c in res.checks)


_KILLED = textwrap.dedent("""
    import sys
    from dawnlab.tta import CurveBenchmark, Runner
    Runner(CurveBenchmark(epoch_seconds=0.15, noise=0.0, jitter=0.0, rate=1.0, target=0.9), runs=6,
           log_dir=sys.argv[1], progress=False, check=False).run()
""")


def test_resume_after_a_killed_runner_keeps_the_finished_runs(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _KILLED, str(tmp_path)])
    deadline = time.time() + 60
    try:
        while not (tmp_path / "result_1.txt").exists() and time.time() < deadline:
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    kept = {p.name: p.read_bytes() for p in tmp_path.glob("result_*.txt")}
    assert "result_1.txt" in kept and len(kept) < 6  # killed part-way, no half-written log
    res = Runner(CurveBenchmark(epoch_seconds=0.0, noise=0.0, jitter=0.0, rate=1.0, target=0.9), runs=6,
                 log_dir=tmp_path, progress=False).run()
    assert len(res.runs) == 6 and all(c.passed for c in res.checks)
    for name, data in kept.items():
        assert (tmp_path / name).read_bytes() == data  # the finished runs were kept, not redone
    assert not list(tmp_path.glob(".result_*"))


def test_olympic_score_of_the_runner_is_the_rule_on_its_times(tmp_path):
    res = Runner(CurveBenchmark(epoch_seconds=0.01, jitter=0.5), runs=5, log_dir=tmp_path, progress=False).run()
    times = sorted(r.tta_s for r in res.runs)
    assert res.score_s == pytest.approx(sum(times[1:-1]) / 3)
    assert res.score_s == olympic_score([r.tta_s for r in res.runs])[0]


def test_every_log_line_comes_from_mllog(tmp_path):
    res = Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()
    for r in res.runs:
        lines = Path(r.log).read_text().splitlines()
        assert lines and all(line.startswith(":::MLLOG {") for line in lines)
        keys = _keys(r.log)
        for key in ["submission_benchmark", "cache_clear", "init_start", "init_stop", "run_start", "run_stop",
                    "epoch_start", "epoch_stop", "eval_start", "eval_stop", "eval_accuracy", "seed",
                    "global_batch_size", "opt_name", "opt_base_learning_rate", "train_samples", "eval_samples"]:
            assert key in keys, key
        assert check_log(r.log).passed


@pytest.mark.slow
def test_runs_fan_out_on_a_dask_client(tmp_path):
    from dask.distributed import Client

    with Client(processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None) as client:
        res = Runner(CurveBenchmark(epoch_seconds=0.0), runs=4, log_dir=tmp_path, client=client,
                     progress=False).run()
    assert [r.index for r in res.runs] == [0, 1, 2, 3] and all(c.passed for c in res.checks)
    assert len({r.seed for r in res.runs}) == 4


def _function_benchmark(lr):
    from dawnlab.tta.benchmark import FunctionBenchmark

    def init(seed):
        return {"acc": 0.5}

    def train(state, epoch):
        state["acc"] = min(1.0, state["acc"] + 0.25)

    return FunctionBenchmark("synthetic", 0.9, 5, init, train, lambda state: state["acc"],
                             hyperparameters=dict(global_batch_size=1, opt_name="none", opt_base_learning_rate=lr,
                                                  train_samples=1, eval_samples=1))


def test_a_log_failing_the_checker_counts_as_non_converging_like_the_summarizer(tmp_path):
    from dawnlab.tta import summarizer_score

    # opt_base_learning_rate=0 breaks the ruleset's "v['value'] > 0": every run says success, no log passes
    res = Runner(_function_benchmark(0), runs=3, log_dir=tmp_path, progress=False).run()
    assert [r.status for r in res.runs] == ["success"] * 3 and not any(c.passed for c in res.checks)
    assert res.times == [r.tta_s for r in res.runs]  # the statuses alone would give a score
    assert res.score_s is None and "fail the compliance check" in res.score_note
    assert summarizer_score(tmp_path, "synthetic")[0] is None
    good = Runner(_function_benchmark(1.0), runs=3, log_dir=tmp_path / "good", progress=False).run()
    assert good.score_s is not None
    assert math.isclose(good.score_s, summarizer_score(tmp_path / "good", "synthetic")[0], rel_tol=1e-6, abs_tol=1e-3)


def test_resume_with_another_target_or_recipe_is_refused_naming_the_values(tmp_path):
    Runner(CurveBenchmark(epoch_seconds=0.0, target=0.5), runs=3, log_dir=tmp_path, progress=False).run()
    assert all(read_run(p).extras["recipe"]["target"] == 0.5 for p in tmp_path.glob("result_*.txt"))
    with pytest.raises(InvalidArgument, match=r"log_dir.*this recipe.*target logged 0\.5, now 0\.95"):
        Runner(CurveBenchmark(epoch_seconds=0.0, target=0.95), runs=3, log_dir=tmp_path, progress=False).run()
    with pytest.raises(InvalidArgument, match=r"log_dir.*hyperparameters logged"):
        Runner(CurveBenchmark(epoch_seconds=0.0, target=0.5, rate=0.3), runs=3, log_dir=tmp_path,
               progress=False).run()
    with pytest.raises(InvalidArgument, match=r"log_dir.*max_epochs logged"):
        Runner(CurveBenchmark(epoch_seconds=0.0, target=0.5, max_epochs=7), runs=3, log_dir=tmp_path,
               progress=False).run()
    again = Runner(CurveBenchmark(epoch_seconds=0.0, target=0.5), runs=3, log_dir=tmp_path, progress=False).run()
    assert all(c.passed for c in again.checks)  # the same recipe resumes; the recipe key passes the checker


def test_a_folder_with_more_logs_than_runs_is_refused_as_the_summarizer_would_score_them(tmp_path):
    from dawnlab.tta import summarizer_score

    Runner(CurveBenchmark(epoch_seconds=0.0), runs=5, log_dir=tmp_path, progress=False).run()
    assert summarizer_score(tmp_path, "synthetic")[1].__len__() == 5  # the summarizer reads all five
    with pytest.raises(InvalidArgument, match=r"log_dir.*runs 0\.\.2 only.*result_3\.txt, result_4\.txt"):
        Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()
    more = Runner(CurveBenchmark(epoch_seconds=0.0), runs=6, log_dir=tmp_path, progress=False).run()
    assert math.isclose(more.score_s, summarizer_score(tmp_path, "synthetic")[0], rel_tol=1e-6, abs_tol=1e-3)


class _SwallowingInit(CurveBenchmark):
    """An init that hangs and catches every Exception (the limit must still stop it)."""

    def init(self, seed):
        super().init(seed)
        while True:
            try:
                time.sleep(60)
            except Exception:  # noqa: BLE001 - the point of the test
                pass


@pytest.mark.parametrize("make", [lambda: CurveBenchmark(epoch_seconds=0.0, init_seconds=60.0),
                                  lambda: _SwallowingInit(epoch_seconds=0.0)], ids=["sleeps", "swallows"])
def test_an_init_that_hangs_is_stopped_at_its_limit_and_logged(tmp_path, make):
    import signal

    if signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):  # e.g. pytest-timeout's signal method owns the timer
        pytest.skip("another interval timer is set: the Runner leaves it alone and checks after init returns")
    t = time.perf_counter()
    res = Runner(make(), runs=3, log_dir=tmp_path, init_limit_s=0.3, progress=False).run()
    assert time.perf_counter() - t < 20  # three 60 s inits were cut at 0.3 s each
    for r in res.runs:
        assert r.status == "aborted" and r.evals == [] and Path(r.log).is_file()
        assert "stopped at the limit init_limit_s=0.3" in r.reason and 0.3 <= r.init_s < 5
        assert r.extras["init_limit"] == "stopped at the limit"
    assert res.score_s is None and not any(c.passed for c in res.checks)


def test_in_a_thread_the_init_limit_is_checked_after_init_returns(tmp_path):
    import threading

    from dawnlab.tta.runner import execute_run

    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("rec", execute_run(
        CurveBenchmark(epoch_seconds=0.0, init_seconds=0.4), 7, tmp_path / "result_0.txt", init_limit_s=0.1)))
    worker.start()
    worker.join(30)
    rec = out["rec"]
    assert rec.status == "aborted" and rec.init_s >= 0.4  # not interrupted: no timer outside the main thread
    assert "init took" in rec.reason and "init_limit_s=0.1" in rec.reason
    assert rec.extras["init_limit"] == "checked after init returned"


def test_an_init_within_its_limit_leaves_no_timer_behind(tmp_path):
    import signal

    res = Runner(CurveBenchmark(epoch_seconds=0.0, init_seconds=0.05), runs=3, log_dir=tmp_path, init_limit_s=5,
                 progress=False).run()
    assert all(r.converged for r in res.runs)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None)


class _ColdStart(CurveBenchmark):
    """predict_one is slow on its first two calls, as a real model's first batches are."""

    def init(self, seed):
        super().init(seed)
        self.calls = 0

    def predict_one(self, i):
        self.calls += 1
        if self.calls <= 2:
            time.sleep(0.2)
        return i % 10


def test_latency_is_timed_after_untimed_warm_up_calls(tmp_path):
    res = Runner(_ColdStart(epoch_seconds=0.0), runs=3, log_dir=tmp_path, latency_examples=4, latency_warmup=3,
                 progress=False).run()
    for r in res.runs:
        assert len(r.extras["latency_ms"]) == 4 and r.extras["latency_warmup"] == 3
        assert max(r.extras["latency_ms"]) < 100  # the two 200 ms cold calls were the warm-up's
    cold = Runner(_ColdStart(epoch_seconds=0.0), runs=3, log_dir=tmp_path / "cold", latency_examples=4,
                  latency_warmup=0, progress=False).run()
    assert all(max(r.extras["latency_ms"]) >= 200 for r in cold.runs)  # without warm-up the cold call is timed
    with pytest.raises(InvalidArgument, match="latency_warmup"):
        Runner(CurveBenchmark(), runs=3, log_dir=tmp_path / "x", latency_warmup=-1)


def test_evaluating_every_few_epochs_logs_mlperf_blocks(tmp_path):
    b = CurveBenchmark(epoch_seconds=0.0, max_epochs=7)
    b.eval_every = 3
    res = Runner(b, runs=3, log_dir=tmp_path, progress=False).run()
    assert all(c.passed for c in res.checks)
    for r in res.runs:
        recs = log_lines(r.log)
        starts = [x["metadata"] for x in recs if x["key"] == "block_start"]
        stops = [x["metadata"]["first_epoch_num"] for x in recs if x["key"] == "block_stop"]
        assert [m["first_epoch_num"] for m in starts] == stops == [3 * k + 1 for k in range(len(stops))]
        assert all(m["epoch_count"] == min(3, 7 - m["first_epoch_num"] + 1) for m in starts)
        assert [e for e, _, _ in r.evals] == [min(3 * (k + 1), 7) for k in range(len(stops))]


@pytest.mark.parametrize("kwargs, match", [({"seed": -1}, "'seed' argument of Runner"),
                                           ({"seed": 1.5}, "'seed' argument of Runner"),
                                           ({"processes": 0}, "'processes' argument of Runner"),
                                           ({"latency_examples": -2}, "'latency_examples' argument of Runner")])
def test_bad_runner_arguments_are_refused_naming_them(tmp_path, kwargs, match):
    with pytest.raises(InvalidArgument, match=match):
        Runner(CurveBenchmark(), runs=3, log_dir=tmp_path, **kwargs)


def test_a_log_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("not a folder")
    with pytest.raises(InvalidArgument, match=r"'log_dir' argument of Runner must be a folder"):
        Runner(CurveBenchmark(), runs=3, log_dir=tmp_path / "f")


def test_a_truncated_kept_log_is_redone_on_resume(tmp_path):
    Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()
    log = tmp_path / "result_1.txt"
    log.write_text(log.read_text()[:700] + "\n:::MLLOG {not json")  # a log cut short, e.g. by a full disk
    res = Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()
    assert [r.status for r in res.runs] == ["success"] * 3 and all(c.passed for c in res.checks)
    assert "run_stop" in log.read_text()
