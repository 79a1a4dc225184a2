"""State tests of the FlexFlow explorer (no browser)."""

import holoviews as hv
import panel as pn

from dawnlab.flexflow import Simulator, Strategy
from widgets.flexflow import COLOURS, FlexFlowExplorer, app


def test_model_and_cluster_change_the_strategy_and_timeline():
    ex = FlexFlowExplorer()
    assert ex.cluster == "p100x16" and ex.sync == "ring"
    assert len(ex.strategy_table) == len(ex.graph()) and "gpu15" in set(ex.tasks.device)
    assert (ex.strategy_table.config.iloc[1:] == "S16").all()
    ex.cluster = "p100x4"
    assert {d for d in ex.tasks.device if "->" not in d} == {"gpu0", "gpu1", "gpu2", "gpu3"}
    assert (ex.strategy_table.config.iloc[1:] == "S4").all()
    before = ex.iteration_time
    ex.model = "resnet101"
    assert len(ex.strategy_table) == len(ex.graph()) > 100 and ex.iteration_time != before
    assert "ring sync, ready-time queues" in ex.status


def test_sync_model_retimes_the_baselines():
    ex = FlexFlowExplorer()
    ring = ex.baselines.set_index("strategy").iteration_ms
    ex.sync = "ps"
    ps = ex.baselines.set_index("strategy").iteration_ms
    g, m = ex.graph(), ex.machine()
    assert ps["data_parallel"] == Simulator(g, m, sync="ps").simulate(
        Strategy.data_parallel(g, m), record=False).iteration_time * 1e3
    assert ps["data_parallel"] > ring["data_parallel"]  # a parameter server syncs AlexNet's FC weights slower


def test_changing_one_operator_uses_delta_simulation_and_matches_full():
    ex = FlexFlowExplorer()
    ex.op = "fc6"
    assert "P4" in ex.param.config.objects
    dp = ex.iteration_time
    ex.config = "P4"
    assert ex.iteration_time != dp
    assert ex.strategy_table.set_index("op").loc["fc6", "config"] == "P4"
    g, m = ex.graph(), ex.machine()
    full = Simulator(g, m).simulate(ex._sim.strategy, record=False).iteration_time
    assert ex.iteration_time == full


def test_gantt_is_in_ms_with_labelled_axes_and_a_legend():
    ex = FlexFlowExplorer()
    plot = ex.gantt()
    assert isinstance(plot, hv.Overlay)
    layers = list(plot)
    assert {el.label for el in layers} <= set(COLOURS) and {"forward", "backward", "sync"} <= {el.label for el in layers}
    assert layers[0].kdims[0].label == "time (ms)" and layers[0].kdims[1].label == "device or link"
    end = max(el.data.end_ms.max() for el in layers)
    assert abs(end - ex.iteration_time * 1e3) < 1e-9  # the same unit as the tables
    assert ex.trace_plot().vdims[0].label == "best iteration time (ms)"


def test_default_search_finds_a_strategy_beyond_the_expert():
    ex = FlexFlowExplorer()
    ex.run_search()
    base = ex.baselines.set_index("strategy").iteration_ms
    assert not ex.trace.empty and ex.status.startswith("search done")
    assert ex.iteration_time * 1e3 < min(base["expert"], base["data_parallel"])
    assert "x the expert strategy" in ex.status


def test_app_builds_a_layout_whose_status_wraps():
    layout = app(FlexFlowExplorer())
    assert isinstance(layout, pn.viewable.Viewable)
    status = [p for p in layout.select(pn.pane.Str) if "ff-status" in p.css_classes]
    assert status and status[0].styles["white-space"] == "pre-wrap"
