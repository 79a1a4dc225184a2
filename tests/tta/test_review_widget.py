"""Review of issue 20: the widget's olympic score treats a log that fails the check as the Runner does."""

import math

import pytest

from dawnlab.tta import CurveBenchmark, Runner, summarizer_score


def _break_seed(path):
    """Drop the seed line: the log then fails the workbench ruleset (seed is required exactly once)."""
    lines = [ln for ln in path.read_text().splitlines() if '"key": "seed"' not in ln]
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("broken", [1, 2])
def test_widget_counts_a_failing_log_as_non_converging_like_runner_and_summarizer(tmp_path, broken):
    pytest.importorskip("panel")
    from widgets.tta import TTAExplorer

    bench = CurveBenchmark(target=0.9, noise=0.0, jitter=0.0, epoch_seconds=0.0, name="synthetic")
    runner = Runner(bench, runs=4, log_dir=tmp_path, progress=False)
    records = list(runner.iter_runs())
    for r in records[:broken]:
        _break_seed(tmp_path / f"result_{r.index}.txt")
    result = runner.result(records)
    assert sum(not c.passed for c in result.checks) == broken
    ex = TTAExplorer()
    ex.load({"synthetic": result})
    ex.threshold = bench.target
    board = ex.leaderboard()
    assert board.reached[0] == 4 - broken
    summ = summarizer_score(tmp_path, "synthetic")[0]
    if broken == 2:  # two non-converging runs: no valid score anywhere
        assert result.score_s is None and summ is None and math.isnan(board.olympic_s[0])
    else:  # one: it is the dropped slowest; the widget scores the same runs (at the eval, not run_stop)
        kept = sorted(r.time_to(bench.target) for r in records[broken:])
        assert board.olympic_s[0] == pytest.approx(sum(kept[1:]) / len(kept[1:]))
        assert result.score_s == pytest.approx(summ, rel=1e-6, abs=1e-3)
