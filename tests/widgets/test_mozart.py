"""State tests of the Mozart explorer (no browser)."""

import holoviews as hv
import panel as pn

from widgets.mozart import MozartExplorer, app


def test_plan_follows_the_controls():
    ex = MozartExplorer(n=50_000)
    text = ex.plan_text()
    assert "1 stage(s), backend threads" in text and "erf(x1: ArraySplit(axis=0))" in text
    assert "KiB L2 cache" in text
    ex.auto_piece, ex.log2_piece, ex.workers = False, 12, 1
    text = ex.plan_text()
    assert "50000 elements in 13 piece(s) of 4096 (piece size set by the caller)" in text and "1 worker(s)" in text
    ex.workload = "nbody"
    assert ex.n == 512 and "subtract.outer" in ex.plan_text() and "2 stage(s)" in ex.plan_text()
    stages = ex.stages()
    assert set(stages.stage) == {1, 2} and "takes 'B' whole" in stages.stage_ends.iloc[stages.stage.eq(1).sum() - 1]


def test_pandas_workload_plan():
    ex = MozartExplorer(workload="crime_index")
    ex.n = 5_000
    text = ex.plan_text()
    assert "filter(df: RowSplit(), mask: RowSplit()) -> RowSplit()" in text and "SumReduce()" in text


def test_measure_fills_the_sweep_and_the_plot():
    ex = MozartExplorer(n=30_000, workers=1)
    ex.compute(piece_sizes=[512, 4096])
    df = ex.sweep
    assert list(df.piece_size[:2]) == [512, 4096] and df.automatic.tolist() == [False, False, True]
    assert (df.seconds > 0).all() and (df.speedup > 0).all()
    assert ex.status.startswith("done: best piece size")
    hv.render(ex.sweep_plot())
    ex.workload = "haversine"
    assert ex.sweep.empty and ex.status.startswith("Press Measure")


def test_a_workload_change_stops_the_running_sweep_from_writing():
    import threading
    import time

    ex = MozartExplorer(n=200_000, workers=1)
    worker = threading.Thread(target=ex.compute, kwargs={"piece_sizes": [256, 512, 1024, 2048, 4096, 8192]})
    worker.start()
    deadline = time.monotonic() + 60
    while ex.sweep.empty and worker.is_alive() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert worker.is_alive() and len(ex.sweep) < 6, "the sweep ended before the switch; the check needs rows left"
    ex.workload = "haversine"  # while blackscholes is being measured
    worker.join(60)
    assert ex.sweep.empty and ex.status.startswith("Press Measure")  # no black-scholes row after the switch


def test_app_builds_a_layout():
    assert isinstance(app(MozartExplorer(n=10_000)), pn.viewable.Viewable)
    hv.render(MozartExplorer().sweep_plot())
