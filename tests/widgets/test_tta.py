"""State tests of the time-to-accuracy explorer (no browser)."""

import math

import panel as pn
import pytest

from dawnlab.tta import CurveBenchmark, Runner, olympic_score
from widgets.tta import TTAExplorer, app


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tta")
    # quick: 0.9 at epoch 3, ceiling 0.955 (target 0.95 at epoch 5); slow: 0.9 at epoch 6, 0.99 at epoch 11
    quick = CurveBenchmark(target=0.95, rate=1.2, ceiling=0.955, noise=0.0, jitter=0.0, epoch_seconds=0.01,
                           name="quick")
    slow = CurveBenchmark(target=0.99, rate=0.45, ceiling=1.0, noise=0.0, jitter=0.0, epoch_seconds=0.01,
                          name="slow")
    return {"quick": Runner(quick, runs=3, log_dir=folder / "q", progress=False).run(),
            "slow": Runner(slow, runs=3, log_dir=folder / "s", progress=False).run()}


def test_plan_follows_the_controls():
    ex = TTAExplorer()
    assert "5 runs" in ex.plan() and "synthetic: quick" in ex.plan()
    ex.runs, ex.entries = 3, ["digits: fast recipe"]
    assert "3 runs of each of digits: fast recipe" in ex.plan()
    assert "Run to see" in ex.readout()


def test_app_builds_a_layout():
    assert isinstance(app(TTAExplorer()), pn.viewable.Viewable)


def test_load_fills_the_frames(results):
    ex = TTAExplorer()
    ex.load(results)
    assert len(ex.finished) == 6 and set(ex.finished.entry) == {"quick", "slow"}
    assert ex.finished.log_passes_checker.all()
    runs = results["quick"].runs
    assert len(ex.curves) == sum(len(r.evals) + 1 for r in results.values() for r in r.runs)
    first = ex.curves[(ex.curves.entry == "quick") & (ex.curves.run == runs[0].index)]
    assert first.accuracy.tolist()[1:] == [a for _, _, a in runs[0].evals]


def test_the_threshold_slider_re_ranks_the_entries(results):
    ex = TTAExplorer()
    ex.load(results)
    ex.threshold = 0.9
    board = ex.leaderboard()
    assert board.entry.tolist() == ["quick", "slow"]  # the quick learner gets to 0.9 first
    expected = olympic_score([r.time_to(0.9) for r in results["quick"].runs])[0]
    assert board.olympic_s[0] == pytest.approx(expected)
    ex.threshold = 0.96  # above the quick learner's ceiling: only the slow one reaches it
    board = ex.leaderboard()
    assert board.entry.tolist() == ["slow", "quick"] and math.isnan(board.olympic_s[1])
    assert "#1 slow" in ex.readout() and "quick: no valid score (0/3" in ex.readout()


def test_compute_runs_the_entries_and_adds_runs_as_they_finish(tmp_path):
    ex = TTAExplorer(runs=3, entries=["synthetic: quick, low ceiling"])
    ex.compute(log_dir=str(tmp_path))
    assert len(ex.finished) == 3 and ex.status.startswith("done")
    assert ex.finished.log_passes_checker.all() and (ex.finished.status == "success").all()
    assert ex.curves_plot() is not None
