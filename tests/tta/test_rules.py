"""The ruleset under the package's checker engine, logs broken on purpose, and the package's summarizer."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlperf_logging.result_summarizer import result_summarizer as rs

from dawnlab.errors import InvalidArgument
from dawnlab.tta import RULESET, CurveBenchmark, Runner, check_log, olympic_score, read_run, summarizer_score
from dawnlab.tta.rules import write_ruleset


@pytest.fixture(scope="module")
def good_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("good")
    Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=folder, progress=False).run()
    return folder / "result_0.txt"


def _lines(path):
    return path.read_text().splitlines()


def _write(tmp_path, lines, name="result_0.txt"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n")
    return p


def _key(line):
    return json.loads(line.split(":::MLLOG ", 1)[1])["key"]


def test_a_good_log_passes(good_log):
    rep = check_log(good_log)
    assert rep.passed and rep.converged and rep.messages == []


def test_missing_run_stop_fails(good_log, tmp_path):
    rep = check_log(_write(tmp_path, [x for x in _lines(good_log) if _key(x) != "run_stop"]))
    assert not rep.passed and any("run_stop" in m for m in rep.messages)


def test_eval_before_run_start_fails(good_log, tmp_path):
    lines = _lines(good_log)
    evals = [x for x in lines if _key(x) in ("eval_start", "eval_accuracy", "eval_stop")][:3]
    rest = [x for x in lines if x not in evals]
    at = next(i for i, x in enumerate(rest) if _key(x) == "run_start")
    rep = check_log(_write(tmp_path, rest[:at] + evals + rest[at:]))
    assert not rep.passed and any("eval_start" in m for m in rep.messages)


def test_no_seed_fails(good_log, tmp_path):
    rep = check_log(_write(tmp_path, [x for x in _lines(good_log) if _key(x) != "seed"]))
    assert not rep.passed and any("seed" in m for m in rep.messages)


def test_dishonest_status_fails(good_log, tmp_path):
    lines = [x.replace('"status": "success"', '"status": "aborted"') for x in _lines(good_log)]
    assert not check_log(_write(tmp_path, lines)).passed


def test_unknown_benchmark_and_accuracy_out_of_range_fail(good_log, tmp_path):
    lines = [x.replace('"value": "synthetic"', '"value": "resnet"') for x in _lines(good_log)]
    assert not check_log(_write(tmp_path, lines)).passed
    bad = []
    for x in _lines(good_log):
        if _key(x) == "eval_accuracy" and not bad:
            rec = json.loads(x.split(":::MLLOG ", 1)[1])
            rec["value"] = 1.7
            x = ":::MLLOG " + json.dumps(rec)
            bad.append(1)
        bad.append(x)
    assert not check_log(_write(tmp_path, bad[1:], "result_1.txt")).passed


def test_the_package_cli_agrees(good_log, tmp_path):
    bad = _write(tmp_path, [x for x in _lines(good_log) if _key(x) != "run_stop"])
    for path, rc in ((good_log, 0), (bad, 1)):
        out = subprocess.run([sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
                              "--ruleset", "6.0.0", "--config", str(RULESET), "--log_output",
                              str(tmp_path / "cc.log"), str(path)], capture_output=True, text=True)
        assert out.returncode == rc, out.stdout + out.stderr


def test_the_official_ruleset_refuses_workbench_names(good_log, tmp_path):
    from mlperf_logging.compliance_checker import mlp_compliance

    checker = mlp_compliance.make_checker("training", "6.0.0", True, False)
    try:  # the official files fail the name, then look for 'closed_synthetic.yaml', which does not exist
        valid, *_ = mlp_compliance.main(str(good_log), "training_6.0.0/common.yaml", checker)
    except FileNotFoundError:
        valid = False
    finally:
        mlp_compliance.enqueued_configs.clear()
    assert not valid  # why the workbench ships its own ruleset


def test_write_ruleset_adds_a_benchmark_and_checks_names(tmp_path):
    p = write_ruleset(tmp_path / "r.yaml", {"mine": 0.5})
    b = CurveBenchmark(name="mine", target=0.5, epoch_seconds=0.0)
    res = Runner(b, runs=3, log_dir=tmp_path / "logs", progress=False).run()
    assert all(check_log(r.log, p).passed for r in res.runs)
    assert not check_log(res.runs[0].log).passed  # the shipped ruleset does not know 'mine'
    with pytest.raises(InvalidArgument, match="targets"):
        write_ruleset(tmp_path / "s.yaml", {"bad name": 0.5})
    with pytest.raises(InvalidArgument, match="targets"):
        write_ruleset(tmp_path / "s.yaml", {"ok": 1.5})


def _summarizer_olympic(times, dropped):
    return rs._compute_olympic_average(sorted(times), dropped, 1)


def test_olympic_score_on_hand_made_times():
    assert olympic_score([3.0, 1.0, 2.0]) == (2.0, "dropped the fastest (1) and the slowest (3)")
    assert olympic_score([5.0, 1.0, 2.0, 4.0, 3.0])[0] == 3.0
    assert olympic_score([1.0, None, 3.0, 2.0])[0] == 2.5  # the non-converging run is the dropped slowest
    assert olympic_score([1.0, None, None, 2.0, 3.0])[0] is None
    with pytest.raises(InvalidArgument, match="at least 3"):
        olympic_score([1.0, 2.0])
    with pytest.raises(InvalidArgument, match="finite"):
        olympic_score([1.0, 2.0, float("nan")])


def test_olympic_score_equals_the_summarizers_formula_on_random_times():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(3, 12))
        times = list(rng.lognormal(0, 0.5, n))
        failed = int(rng.integers(0, 2))
        ours = olympic_score(times + [None] * failed)[0]
        assert ours == pytest.approx(_summarizer_olympic(times, failed), rel=1e-12)


def _folder_with(tmp_path, aborted):
    ok = Runner(CurveBenchmark(epoch_seconds=0.005, jitter=0.4), runs=5, log_dir=tmp_path / "ok",
                progress=False).run()
    bad = Runner(CurveBenchmark(epoch_seconds=0.0, max_epochs=1), runs=3, log_dir=tmp_path / "bad", seed=100,
                 progress=False).run()  # another base seed: the runs of one result have distinct seeds
    folder = tmp_path / "mixed"
    folder.mkdir()
    logs = [r.log for r in bad.runs[:aborted]] + [r.log for r in ok.runs[:5 - aborted]]
    for i, log in enumerate(logs):
        shutil.copy(log, folder / f"result_{i}.txt")
    return folder


@pytest.mark.parametrize("aborted", [0, 1, 2])
def test_scores_equal_the_package_summarizers(tmp_path, aborted):
    folder = _folder_with(tmp_path, aborted)
    records = [read_run(p) for p in sorted(folder.glob("result_*.txt"))]
    ours = olympic_score([r.tta_s if r.converged else None for r in records])[0]
    theirs, times, dropped = summarizer_score(folder, "synthetic")
    assert dropped == aborted
    assert sorted(times) == pytest.approx(sorted(r.tta_s for r in records if r.converged), rel=1e-12)
    if aborted == 2:
        assert ours is None and theirs is None
    else:
        assert theirs == pytest.approx(ours, rel=1e-12)


def test_run_stop_before_the_last_eval_stop_fails(good_log, tmp_path):
    recs = [json.loads(x.split(":::MLLOG ", 1)[1]) for x in _lines(good_log)]
    last_eval = max(r["time_ms"] for r in recs if r["key"] == "eval_stop")
    for r in recs:
        if r["key"] == "run_stop":
            r["time_ms"] = last_eval - 1.0  # the clock stopped 1 ms before the evaluation that met the target ended
    rep = check_log(_write(tmp_path, [":::MLLOG " + json.dumps(r) for r in recs]))
    assert not rep.passed and any("last_eval_stop_ts" in m for m in rep.messages)
    # the summarizer drops it as non-converging, so a forged short run_stop cannot lower a score
    for i in (1, 2):
        shutil.copy(good_log.parent / f"result_{i}.txt", tmp_path / f"result_{i}.txt")
    assert summarizer_score(tmp_path, "synthetic")[2] == 1


def _records(path):
    return [json.loads(x.split(":::MLLOG ", 1)[1]) for x in _lines(path)]


def _dump(tmp_path, recs, name="result_0.txt"):
    return _write(tmp_path, [":::MLLOG " + json.dumps(r) for r in recs], name)


@pytest.fixture(scope="module")
def block_log(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blocks")
    b = CurveBenchmark(epoch_seconds=0.0, max_epochs=8)
    b.eval_every = 2
    Runner(b, runs=3, log_dir=folder, progress=False).run()
    return folder / "result_0.txt"


def test_a_log_with_blocks_passes_and_so_does_one_with_blocks_only(block_log, tmp_path):
    assert check_log(block_log).passed
    recs = [r for r in _records(block_log) if r["key"] not in ("epoch_start", "epoch_stop")]
    assert any(r["key"] == "block_start" for r in recs)
    assert check_log(_dump(tmp_path, recs)).passed  # common.yaml: epoch_* is AT_LEAST_ONE_OR(block_*)


def _broken_blocks(recs, how):
    out = []
    for r in recs:
        r = json.loads(json.dumps(r))
        if r["key"] == "block_start":
            if how == "no count":
                r["metadata"].pop("epoch_count")
            if how == "zero count":
                r["metadata"]["epoch_count"] = 0
        if r["key"] == "block_stop":
            if how == "unclosed":
                continue
            if how == "wrong first epoch":
                r["metadata"]["first_epoch_num"] += 1
        out.append(r)
        if how == "nested" and r["key"] == "block_start":
            out.append(r)
    return out


@pytest.mark.parametrize("how", ["no count", "zero count", "unclosed", "wrong first epoch", "nested"])
def test_malformed_blocks_fail(block_log, tmp_path, how):
    rep = check_log(_dump(tmp_path, _broken_blocks(_records(block_log), how)))
    assert not rep.passed and any("block" in m for m in rep.messages), rep.messages


@pytest.mark.parametrize("key, good, bad", [("lowest_numerical_precision_in_linear", "fp32", "fp33"),
                                            ("lowest_numerical_precision_in_attn", "bfloat16", "fp12"),
                                            ("lowest_numerical_precision_in_comm", "int8", "int7"),
                                            ("tensor_parallelism", 1, "one"), ("micro_batch_size", 64, 6.5)])
def test_the_optional_keys_of_common_yaml_are_checked_when_logged(good_log, tmp_path, key, good, bad):
    recs = _records(good_log)
    at = next(i for i, r in enumerate(recs) if r["key"] == "seed")
    for value, ok in ((good, True), (bad, False)):
        extra = dict(recs[at], key=key, value=value)
        assert check_log(_dump(tmp_path, recs[:at] + [extra] + recs[at:])).passed is ok


def test_the_ruleset_has_every_rule_of_the_official_common_yaml():
    import yaml
    from mlperf_logging import compliance_checker

    official = Path(compliance_checker.__file__).parent / "training_6.0.0" / "common.yaml"
    names = lambda p: {k["KEY"]["NAME"] for k in yaml.safe_load(Path(p).read_text()) if "KEY" in k}  # noqa: E731
    assert names(official) <= names(RULESET)


@pytest.mark.parametrize("key", ["seed", "run_start", "run_stop", "init_stop", "submission_org", "opt_name"])
def test_an_exactly_repeated_line_of_a_once_only_key_fails(good_log, tmp_path, key):
    recs = _records(good_log)
    at = next(i for i, r in enumerate(recs) if r["key"] == key)
    rep = check_log(_dump(tmp_path, recs[:at + 1] + [recs[at]] + recs[at + 1:]))
    assert not rep.passed and any(key in m for m in rep.messages), rep.messages


def test_an_exactly_repeated_seed_fails_on_the_package_cli_too(good_log, tmp_path):
    recs = _records(good_log)
    at = next(i for i, r in enumerate(recs) if r["key"] == "seed")
    bad = _dump(tmp_path, recs[:at + 1] + [recs[at]] + recs[at + 1:])
    out = subprocess.run([sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training",
                          "--ruleset", "6.0.0", "--config", str(RULESET), "--log_output", str(tmp_path / "cc.log"),
                          str(bad)], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout + out.stderr


def test_a_folder_whose_logs_share_a_seed_is_refused(good_log, tmp_path):
    for i in range(3):
        shutil.copy(good_log.parent / f"result_{i}.txt", tmp_path / f"result_{i}.txt")
    assert summarizer_score(tmp_path, "synthetic")[0] is not None
    shutil.copy(tmp_path / "result_0.txt", tmp_path / "result_2.txt")  # a copied run: its seed twice
    with pytest.raises(InvalidArgument, match=r"'folder' argument of summarizer_score must be .*distinct seeds.*"
                                              r"in result_0\.txt, result_2\.txt"):
        summarizer_score(tmp_path, "synthetic")
    with pytest.raises(InvalidArgument, match=r"log_dir.*result_2\.txt is 'synthetic' seed"):
        Runner(CurveBenchmark(epoch_seconds=0.0), runs=3, log_dir=tmp_path, progress=False).run()


def test_on_the_package_cli_an_exactly_repeated_hyperparameter_needs_werror(good_log, tmp_path):
    recs = _records(good_log)
    at = next(i for i, r in enumerate(recs) if r["key"] == "opt_name")
    bad = _dump(tmp_path, recs[:at + 1] + [recs[at]] + recs[at + 1:])
    cli = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training", "--ruleset", "6.0.0",
           "--config", str(RULESET), "--log_output", str(tmp_path / "cc.log"), str(bad)]
    assert subprocess.run(cli, capture_output=True).returncode == 0  # the package only warns, as documented
    assert subprocess.run(cli + ["--werror"], capture_output=True).returncode == 1  # what check_log runs
    assert subprocess.run(cli[:-1] + ["--werror", str(good_log)], capture_output=True).returncode == 0


def test_a_record_the_package_parser_cannot_read_fails_instead_of_raising(good_log, tmp_path):
    lines = _lines(good_log)
    bad = _write(tmp_path, lines[:3] + [':::MLLOG {"key": "seed", "value": 1}'] + lines[3:])  # no time_ms
    rep = check_log(bad)
    assert not rep.passed and any("parser could not read" in m and "time_ms" in m for m in rep.messages)
    for i in (1, 2):
        shutil.copy(good_log.parent / f"result_{i}.txt", tmp_path / f"result_{i}.txt")
    bad.rename(tmp_path / "result_0.txt")
    assert summarizer_score(tmp_path, "synthetic")[2] == 1  # the summarizer drops it as non-converging
