"""The benchmark runs in quick mode and ends with the JSON object the issue names, with pyarrow and without it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"blackscholes_speedup_vs_numpy", "blackscholes_speedup_vs_dask", "auto_piece_vs_best",
        "peak_memory_ratio_vs_numpy", "speedup_vs_plain", "auto_piece_vs_best_per_workload",
        "auto_piece_vs_best_retimed", "auto_piece_vs_best_retimed_per_workload", "blackscholes_speedup_vs_numpy_heap_reuse",
        "blackscholes_speedup_vs_hand_loop"}
WORKLOADS = {"blackscholes", "haversine", "nbody", "shallow_water", "data_cleaning", "crime_index", "birth_analysis"}


def run_quick(env=None):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mozart.py"), "--quick"], capture_output=True,
                         text=True, check=True, timeout=900, cwd=ROOT, env=env)
    return out.stdout, json.loads(out.stdout.strip().splitlines()[-1])


def check_summary(summary):
    assert set(summary["speedup_vs_plain"]) == WORKLOADS
    assert set(summary["auto_piece_vs_best_per_workload"]) == WORKLOADS
    assert all(v > 0 for v in summary["speedup_vs_plain"].values())
    assert 0 < summary["peak_memory_ratio_vs_numpy"] and 0 < summary["auto_piece_vs_best"] <= 1.5


@pytest.mark.slow
def test_quick_benchmark_without_pyarrow_skips_dask_dataframe_with_a_note(tmp_path):
    stub = tmp_path / "pyarrow"
    stub.mkdir()
    (stub / "__init__.py").write_text('raise ImportError("pyarrow hidden by the test")\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    stdout, summary = run_quick(env)
    assert "pyarrow is not installed, so the dask.dataframe column is skipped" in stdout
    assert set(summary) == KEYS
    check_summary(summary)


@pytest.mark.slow
def test_quick_benchmark_with_pyarrow_adds_the_dask_dataframe_baseline():
    pytest.importorskip("pyarrow")
    stdout, summary = run_quick()
    assert set(summary) == KEYS | {"speedup_vs_dask_dataframe"}
    assert set(summary["speedup_vs_dask_dataframe"]) == {"data_cleaning", "crime_index", "birth_analysis"}
    assert all(v > 0 for v in summary["speedup_vs_dask_dataframe"].values())
    assert "dask.dataframe partitions" in stdout
    check_summary(summary)
