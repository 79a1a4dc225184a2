"""State tests of the FlexFlow explorer (no browser)."""

import panel as pn

from dawnlab.flexflow import Simulator
from widgets.flexflow import FlexFlowExplorer, app


def test_model_and_cluster_change_the_strategy_and_timeline():
    ex = FlexFlowExplorer()
    assert len(ex.strategy_table) == len(ex.graph()) and set(ex.tasks.device) >= {"gpu0", "gpu3"}
    ex.cluster = "p100x16"
    assert "gpu15" in set(ex.tasks.device)
    assert (ex.strategy_table.config.iloc[1:] == "S16").all()
    before = ex.iteration_time
    ex.model = "resnet101"
    assert len(ex.strategy_table) == len(ex.graph()) > 100 and ex.iteration_time != before


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


def test_search_fills_the_trace_and_never_loses_to_its_start():
    ex = FlexFlowExplorer(budget=30, chains=1)
    ex.run_search()
    assert not ex.trace.empty and ex.status.startswith("search done")
    assert ex.iteration_time <= ex.baselines.iteration_ms[0] / 1e3 + 1e-12


def test_app_builds_a_layout():
    assert isinstance(app(FlexFlowExplorer()), pn.viewable.Viewable)
