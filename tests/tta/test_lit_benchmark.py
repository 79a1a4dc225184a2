"""The LIT student benchmark: compliant logs, and a clock that covers the teacher's training."""

from __future__ import annotations

import pickle

import pytest

from dawnlab.errors import InvalidArgument
from dawnlab.tta import RULESET, LITStudentBenchmark, Runner, check_log, default_targets
from dawnlab.tta.rules import log_lines

SMALL = dict(num_samples=1500, teacher_epochs=3, lit_epochs=1, kd_epochs=2)


@pytest.fixture(scope="module")
def bench():
    return LITStudentBenchmark(**SMALL)  # the shipped name and target, so the shipped ruleset applies


def _epoch_spans(path):
    """{epoch: (start_ms, stop_ms)} and (run_start_ms, run_stop_ms) from a log."""
    starts, stops, run = {}, {}, {}
    for r in log_lines(path):
        if r["key"] == "epoch_start":
            starts[r["metadata"]["epoch_num"]] = r["time_ms"]
        elif r["key"] == "epoch_stop":
            stops[r["metadata"]["epoch_num"]] = r["time_ms"]
        elif r["key"] in ("run_start", "run_stop"):
            run[r["key"]] = r["time_ms"]
    return {e: (starts[e], stops[e]) for e in starts}, (run["run_start"], run["run_stop"])


def test_three_runs_pass_the_workbench_ruleset_and_time_the_teacher(tmp_path, bench):
    assert default_targets()["lit_student"] == bench.target  # the shipped ruleset names this benchmark
    res = Runner(bench, runs=3, log_dir=tmp_path, latency_examples=2, progress=False).run()
    assert len(res.runs) == 3 and len({r.seed for r in res.runs}) == 3
    for r in res.runs:
        report = check_log(r.log, RULESET)  # the package's engine, the shipped workbench ruleset
        assert report.passed, report.messages
        spans, (t0, t1) = _epoch_spans(r.log)
        assert sorted(spans) == list(range(1, bench.max_epochs + 1))  # aborted: every epoch ran
        teacher = [e for e in spans if bench.phase(e) == "teacher"]
        student = [e for e in spans if bench.phase(e) != "teacher"]
        assert teacher == [1, 2, 3] and student == [4, 5, 6]
        assert all(t0 <= spans[e][0] <= spans[e][1] <= t1 for e in spans)  # every phase inside the clock
        teacher_s = sum(spans[e][1] - spans[e][0] for e in teacher) / 1e3
        student_s = sum(spans[e][1] - spans[e][0] for e in student) / 1e3
        assert teacher_s > 0.05  # three real epochs of a 14-layer ResNet, not a no-op
        assert r.tta_s >= teacher_s + student_s and r.tta_s > student_s + 0.05
        assert r.init_s < teacher_s  # init builds the models only
        assert 0.0 <= r.extras["holdout_accuracy"] <= 1.0 and len(r.extras["latency_ms"]) == 2
    # the evaluations during the teacher's epochs measure the untrained student: near chance
    assert all(acc < 0.3 for r in res.runs for e, _, acc in r.evals if bench.phase(e) == "teacher")


def test_the_teacher_is_untrained_after_init_and_trained_by_train_epoch(bench):
    import torch

    from dawnlab.lit.compare import make_model

    b = pickle.loads(pickle.dumps(bench))  # it must travel to worker processes
    b.init(7)
    fresh = make_model("resnet1d", b.teacher_depth, b.width, 7)
    assert all(torch.equal(p, q) for p, q in zip(b.teacher.state_dict().values(), fresh.state_dict().values()))
    b.start()
    before = b.teacher_accuracy()
    for epoch in range(1, b.teacher_epochs + 1):
        b.train_epoch(epoch)
    after = b.teacher_accuracy()
    assert before < 0.3 and after > before + 0.15  # the teacher learns inside train_epoch, on the clock
    trained = {k: v.clone() for k, v in b.teacher.state_dict().items()}
    b.train_epoch(b.teacher_epochs + 1)  # the LIT phase starts from that same trained teacher
    assert b.lit.teacher is b.teacher
    assert all(torch.equal(trained[k], v) for k, v in b.teacher.state_dict().items())  # and leaves it frozen
    assert not torch.equal(b.lit.student_.stem.weight, b.student.stem.weight)  # the stem came from the teacher


def test_bad_settings_are_refused():
    for kwargs, arg in [(dict(teacher_depth=10), "teacher_depth"), (dict(student_depth=20), "student_depth"),
                        (dict(teacher_epochs=0), "teacher_epochs"), (dict(lit_epochs=0, kd_epochs=0), "kd_epochs"),
                        (dict(num_samples=105), "num_samples"), (dict(lr=0.0), "lr"), (dict(kd_lr=-1.0), "kd_lr")]:
        with pytest.raises(InvalidArgument, match=arg):
            LITStudentBenchmark(**kwargs)


@pytest.mark.slow
def test_default_recipe_reaches_its_target_with_compliant_logs(tmp_path):
    b = LITStudentBenchmark()
    res = Runner(b, runs=3, log_dir=tmp_path, progress=False).run()
    assert all(c.passed for c in res.checks)
    assert sum(r.converged for r in res.runs) >= 2 and res.score_s is not None
    for r in res.runs:
        if r.converged:  # success only after the teacher's epochs and at least one student epoch
            assert r.evals[-1][0] > b.teacher_epochs and r.evals[-1][2] >= b.target
