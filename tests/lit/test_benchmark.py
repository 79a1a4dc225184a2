"""The LIT benchmark in quick mode: resumable per (part, seed, method), ends with the JSON object the issue names."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"lit_student_acc", "teacher_acc", "kd_acc", "fitnets_acc", "scratch_acc", "depth_ratio", "lit_same_arch_acc",
        "born_again_acc", "gan_fd_lit", "gan_fd_scratch", "gan_fd_teacher", "parallel_block_speedup"}


def run(*args):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "lit.py"), "--quick", *args],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout, json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_quick_benchmark_resumes_task_by_task_and_prints_the_headline_json_last(tmp_path):
    _, head = run("--seeds", "3", "--out", str(tmp_path), "--budget", "0")
    assert head == {"complete": False, "tasks_left": 3 * 7 * 2 + 3}  # nothing started: 7 rows x 2 parts + 3 GANs
    text, head = run("--seeds", "3", "--out", str(tmp_path))
    assert KEYS <= set(head) and set(head["digits"]) >= KEYS - {k for k in KEYS if k.startswith(("gan", "par"))}
    assert head["depth_ratio"] == 26 / 8 and head["seeds"] == [0, 1, 2]
    assert all(0.0 <= head[k] <= 1.0 for k in KEYS if k.endswith("_acc"))
    assert "LIT at least as accurate as KD:" in text and "not the Inception FID" in text
    saved = sorted(p.name for p in tmp_path.glob("mnist1d_*_seed0_*.json"))
    assert len(saved) == 7  # the teacher and the six methods, one file each
    again_text, again = run("--seeds", "3", "--out", str(tmp_path))
    assert again == head and "done " not in again_text  # every task (and the timing) read back, none rerun


def test_validation_split_is_carved_from_the_training_rows_only_and_stratified(load_benchmark):
    import torch

    bench = load_benchmark("lit")
    y = torch.arange(10).repeat_interleave(40)  # 40 rows per class: 5 per class validate
    X = torch.arange(len(y), dtype=torch.float32)[:, None] * 1.0  # each row names itself
    (Xf, yf), (Xv, yv) = bench.validation_split((X, y))
    fit_rows, val_rows = set(Xf[:, 0].long().tolist()), set(Xv[:, 0].long().tolist())
    assert not fit_rows & val_rows and fit_rows | val_rows == set(range(len(y)))
    assert torch.bincount(yv, minlength=10).tolist() == [5] * 10
    (_, _), (Xv2, _) = bench.validation_split((X, y))
    assert torch.equal(Xv, Xv2)  # fixed: every recipe is scored on the same rows


def test_validation_flag_changes_the_recipe_key_so_test_results_are_never_reused(load_benchmark):
    bench = load_benchmark("lit")
    cfg = bench.FULL
    val_cfg = {p: dict(c, validation=True) for p, c in cfg.items()}
    assert bench.recipe_of("digits", cfg) != bench.recipe_of("digits", val_cfg)
    assert bench.recipe_of("mnist1d", cfg) != bench.recipe_of("mnist1d", val_cfg)


def test_the_digits_augmentation_is_part_of_the_recipe_key_and_of_the_report(load_benchmark):
    bench = load_benchmark("lit")
    cfg = bench.FULL
    off = {p: dict(c, augment="none") if p == "digits" else c for p, c in cfg.items()}
    assert bench.recipe_of("digits", cfg) != bench.recipe_of("digits", off)  # results of one never reused by the other
    assert bench.make_augment("none") is None and repr(bench.make_augment("affine")).startswith("RandomAffine(")
    assert "no augmentation" in bench.augment_label(off["digits"])
    assert "RandomAffine(max_shift=2.0" in bench.augment_label(dict(cfg["digits"], augment="affine"))
