"""benchmarks/flexflow.py in resumable pieces: each finished piece is kept in the state file and
the JSON summary is assembled from it."""

import json
import pathlib

import pytest

from dawnlab.errors import InvalidArgument


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("flexflow")


QUICK = ["--quick", "--budget", "6", "--seconds", "0.5", "--chains", "1"]


def test_search_pieces_accumulate_in_the_state_and_the_report_names_what_is_missing(bench, tmp_path, capsys):
    state = str(tmp_path / "s.json")
    one = bench.main(QUICK + ["--state", state, "--part", "search", "--bench", "alexnet"])
    assert set(one["speedup_over_dp"]) == {"alexnet"} == set(one["speedup_over_dp_ring"])
    # a second piece adds its benchmark; the first one's figures come back from the file unchanged
    two = bench.main(QUICK + ["--state", state, "--part", "search", "--bench", "rnntc"])
    assert set(two["speedup_over_dp_ring"]) == {"alexnet", "rnntc"}
    assert two["speedup_over_dp"]["alexnet"] == one["speedup_over_dp"]["alexnet"]
    for sync in ("speedup_over_dp", "speedup_over_dp_ring"):  # both chains start from data parallelism
        assert all(v >= 1.0 for v in two[sync].values())
    rep = bench.main(QUICK + ["--state", state, "--part", "report"])
    assert rep == two
    assert rep["missing_parts"] == ["speed", "check", "strategies", "search:inception_v3", "search:resnet101",
                                    "search:rnnlm", "search:nmt"]
    assert rep["sim_rank_kendall"] is None and rep["delta_speedup_inception16"] is None
    # the summary is the last line printed, and every key of the issue is in it
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"sim_rank_kendall", "sim_max_error_validated", "speedup_over_dp_ring", "speedup_over_dp",
            "search_seconds", "delta_speedup_inception16"} <= set(last)
    saved = json.loads(pathlib.Path(state).read_text())
    assert set(saved["parts"]["search"]) == {"alexnet", "rnntc"}


def test_report_of_a_complete_state_has_no_null_key(bench, tmp_path):
    # a hand-made complete state (no measuring): every key is filled and nothing is missing
    names = bench.benchmarks.BENCHMARKS
    row = {"dp": 2.0, "mp": 3.0, "expert": 1.5, "found": 1.0, "speedup": 2.0, "steps": 10, "seconds": 1.0}
    load = [[0.1, 0.1, 0.1], [0.2, 0.2, 0.2]]
    table = [{"strategy": "data parallel", "sync": "ring", "measured_s": 0.2, "simulated_s": 0.21,
              "offset_s": 0.0, "error": 0.05, "spread": 0.1}]
    parts = {"speed": {"tasks_per_second": 1e5, "delta_speedup": 4.0, "t_delta": 0.01, "t_full": 0.04, "load": load},
             "search": {n: {"ring": row, "ps": row, "load": load} for n in names},
             "check": {"table": [{"run": "1 process", "measured_s": 0.03, "simulated_s": 0.03, "error": 0.01}],
                       "rounds": 5, "single_offset": 0.0, "ddp_offset": 0.0, "link_latency": 1e-4,
                       "link_bandwidth": 2e9, "single_error": 0.01, "ddp_error": 0.1, "load": load},
             "strategies": {"table": table, "kendall": 0.9, "spearman": 0.95, "max_error": 0.05,
                            "link_latency": 1e-4, "link_bandwidth": 2e9, "others": [0.1], "used": [0],
                            "load_rounds": [1.0, 1.5, 2.0], "rounds": 1, "raw": "r.pkl",
                            "plain": {"kendall": 0.8, "spearman": 0.9, "max_error": 0.06}, "load": [load],
                            "offsets": {"offset_share_max": 0.02, "one_offset": {"kendall": 0.85, "max_error": 0.07},
                                        "no_offset": {"kendall": 0.8, "max_error": 0.08}}}}
    path = tmp_path / "full.json"
    s = bench.State(str(path), {"quick": False})
    for k, v in parts.items():
        s.put(k, v)
    out = bench.report(bench.State(str(path), {"quick": False}))
    assert out["missing_parts"] == [] and all(v is not None for v in out.values())
    assert out["sim_rank_kendall"] == 0.9 and out["sim_errors_validated"] == {"data parallel (ring)": 0.05}
    assert out["validation_offsets"]["one_offset"] == {"kendall": 0.85, "max_error": 0.07}
    assert set(out["speedup_over_dp_ring"]) == set(names) and out["search_seconds"]["alexnet"] == 2.0


def test_a_state_of_other_settings_and_bad_arguments_are_refused(bench, tmp_path):
    state = str(tmp_path / "s.json")
    bench.State(state, {"quick": True}).put("speed", {"load": []})
    with pytest.raises(InvalidArgument, match="'state'.*same settings"):
        bench.main(["--state", state, "--part", "report"])  # made with --quick
    with pytest.raises(InvalidArgument, match="'bench'.*alexnet"):
        bench.main(QUICK + ["--part", "search", "--bench", "alexnet,vgg"])
    with pytest.raises(InvalidArgument, match="'state'.*json"):
        bench.main(QUICK + ["--state", str(tmp_path / "s.pkl"), "--part", "report"])


def test_offset_variants_take_out_the_per_strategy_offsets(bench):
    import pandas as pd

    t = pd.DataFrame({"strategy": ["data parallel", "one device", "expert"], "sync": ["ring"] * 3,
                      "measured_s": [1.0, 2.0, 3.0], "simulated_s": [1.1, 2.0, 2.4], "offset_s": [0.1, 0.5, -0.1]})
    o = bench._offset_variants(t)
    assert o["offset_share_max"] == 0.25
    # one offset (DP's 0.1) for all: 1.1, 1.6, 2.6; none: 1.0, 1.5, 2.5
    assert o["one_offset"]["max_error"] == pytest.approx(0.2) and o["no_offset"]["max_error"] == pytest.approx(0.25)
    assert o["one_offset"]["kendall"] == pytest.approx(1.0) and o["no_offset"]["kendall"] == pytest.approx(1.0)
