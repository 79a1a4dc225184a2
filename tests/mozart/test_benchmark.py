"""The benchmark runs in quick mode and ends with the JSON object the issue names."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_benchmark_prints_the_headline_json_last():
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mozart.py"), "--quick"], capture_output=True,
                         text=True, check=True, timeout=900, cwd=ROOT)
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(summary) == {"blackscholes_speedup_vs_numpy", "blackscholes_speedup_vs_dask", "auto_piece_vs_best",
                            "peak_memory_ratio_vs_numpy", "speedup_vs_plain"}
    assert set(summary["speedup_vs_plain"]) == {"blackscholes", "haversine", "nbody", "shallow_water",
                                                "data_cleaning", "crime_index", "birth_analysis"}
    assert all(v > 0 for v in summary["speedup_vs_plain"].values())
    assert 0 < summary["peak_memory_ratio_vs_numpy"] and 0 < summary["auto_piece_vs_best"] <= 1.5
