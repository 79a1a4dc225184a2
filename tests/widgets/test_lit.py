"""State tests of the LIT explorer (no browser)."""

import holoviews as hv
import panel as pn
import pytest

from widgets.lit import LITExplorer, app


def test_plan_follows_the_controls():
    ex = LITExplorer()
    assert "ResNet1D-20" in ex.plan() and "ResNet1D-8" in ex.plan() and "2.50x fewer layers" in ex.plan()
    assert ex.methods() == ["scratch", "kd", "fitnets", "lit"]
    ex.teacher_depth, ex.student_depth, ex.lit_epochs, ex.kd_epochs = 26, 26, 3, 2
    assert ex.methods() == ["lit_same_arch", "born_again"] and "5 epochs" in ex.plan()
    ex.student_depth, ex.teacher_depth = 14, 8
    assert "deeper than the teacher" in ex.plan()


def test_app_builds_a_layout():
    assert isinstance(app(LITExplorer()), pn.viewable.Viewable)


def test_a_lit_only_run_fills_the_curves_and_a_point():
    ex = LITExplorer(teacher_depth=14, student_depth=8, width=2, n_rows=200, teacher_epochs=1, lit_epochs=2,
                     kd_epochs=0, baselines=False)
    ex.compute()
    assert ex.status == "done" and ex.progress == 100
    assert sorted(ex.curves.block.unique()) == ["block 0", "block 1", "block 2"]  # live per-block IR losses
    assert sorted(ex.curves.epoch.unique()) == [1, 2]
    assert ex.accuracies[["method", "depth"]].values.tolist() == [["lit", 8]]
    hv.render(ex.ir_plot())
    hv.render(ex.accuracy_plot())


@pytest.mark.slow
def test_a_run_fills_the_curves_and_the_accuracy_frame():
    ex = LITExplorer(teacher_depth=14, student_depth=8, width=4, n_rows=200, teacher_epochs=1, lit_epochs=2,
                     kd_epochs=1)
    ex.compute()
    assert ex.status == "done" and ex.progress == 100
    # per-block IR losses of every LIT epoch, live while it trained
    assert sorted(ex.curves.block.unique()) == ["block 0", "block 1", "block 2"]
    assert sorted(ex.curves.epoch.unique()) == [1, 2]
    assert list(ex.accuracies.method) == ["fitnets", "kd", "lit", "scratch"]
    assert set(ex.accuracies.depth) == {8} and ex.accuracies.acc.between(0, 1).all()
    assert 0 <= ex.teacher_acc <= 1
    first = ex.accuracies.copy()
    ex.student_depth, ex.baselines = 14, False  # a second run at another depth adds its point
    ex.compute()
    assert len(ex.accuracies) == len(first) + 1
    assert ex.accuracies[ex.accuracies.depth == 14].method.tolist() == ["lit_same_arch"]
    assert ex.table()["vs teacher (points)"].notna().all()
    for plot in (ex.ir_plot(), ex.accuracy_plot()):
        hv.render(plot)


def test_a_deeper_student_is_refused_without_training():
    ex = LITExplorer(teacher_depth=8, student_depth=14)
    ex.compute()
    assert "deeper than the teacher" in ex.status and ex.accuracies.empty
