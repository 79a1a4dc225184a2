"""State tests of the Selection-via-Proxy explorer (no browser)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest

from widgets.svp import SELECTORS, SVPExplorer, app


def tiny(**kw):
    base = dict(dataset="sklearn_digits", n_examples=150, target_width=4, target_epochs=2, proxy_width=2,
                proxy_epochs=1, rounds=2, initial=0.1, final=0.4, min_batches=0)
    base.update(kw)
    return SVPExplorer(**base)


def test_controls_change_the_plan_and_schedule():
    ex = tiny()
    assert ex.schedule()["labelled"].tolist() == [12, 30, 48]  # pool of 120: 10%, 25%, 40%
    assert "resnet8-w4-e2" in ex.plan() and "resnet8-w2-e1" in ex.plan()
    ex.rounds = 3
    ex.final = 0.5
    assert ex.schedule()["labelled"].tolist() == [12, 28, 44, 60]
    before = ex.plan()
    ex.method = "margin"
    assert ex.plan() != before and "margin selection" in ex.plan()
    ex.dataset = "letters"
    assert ex.target().arch == "mlp" and "mlp" in ex.plan()
    assert ex.label("target") == ex.target().label and ex.label("proxy") == ex.proxy().label
    ex.min_batches = 7
    assert ex.target().min_batches == ex.proxy().min_batches == 7


def test_app_builds_a_layout():
    assert isinstance(app(tiny()), pn.viewable.Viewable)


def test_run_fills_curves_times_and_agreement():
    ex = tiny()
    assert ex.curves.empty and ex.agreement.empty
    ex.compute()
    assert ex.status == "done" and ex.progress == 100
    curves = ex.curves
    assert sorted(curves.selector.unique()) == sorted(SELECTORS)
    assert (curves.groupby("selector").size() == 3).all()
    np.testing.assert_allclose(sorted(curves.fraction.unique()), [0.1, 0.25, 0.4])
    assert curves.accuracy.between(0, 1).all()
    times = ex.times.set_index(["selector", "phase"]).seconds
    assert times["random", "selector training"] == 0 and times["proxy", "selector training"] > 0
    m = ex.agreement
    assert list(m.index) == ["target", "proxy", "target, stopped at half"]
    np.testing.assert_allclose(np.diag(m.values), 1.0)
    np.testing.assert_allclose(m.values, m.values.T)
    # the plots are built from those frames
    assert len(ex.accuracy_plot()) == 3
    assert isinstance(ex.agreement, pd.DataFrame) and ex.agreement_plot() is not None


def test_time_plot_names_the_selectors_training_and_the_legend_sits_outside():
    ex = tiny()
    ex.times = pd.DataFrame({"selector": ["proxy", "target"], "phase": ["selector training"] * 2,
                             "seconds": [1.0, 5.0]})
    from widgets.svp import PHASE_LABELS

    assert "proxy_training" not in PHASE_LABELS.values()
    assert set(ex.time_plot().data.phase) == {"selector training"}
    ex.curves = pd.DataFrame({"selector": ["proxy", "random"], "fraction": [0.1, 0.1], "accuracy": [0.5, 0.4]})
    opts = ex.accuracy_plot().opts.get().kwargs
    assert opts["legend_position"] == "right"


def test_heatmap_numbers_contrast_with_their_cells():
    ex = tiny()
    ex.agreement = pd.DataFrame([[1.0, -0.3], [-0.3, 1.0]], index=["target", "proxy"], columns=["target", "proxy"])
    labels = ex.agreement_labels().set_index(["model a", "model b"])
    assert labels.loc[("target", "target"), "color"] == "black"  # yellow cell
    assert labels.loc[("target", "proxy"), "color"] == "white"  # dark purple cell
    assert labels.loc[("target", "proxy"), "text"] == "-0.30"
    import holoviews as hv

    hv.render(ex.agreement_plot())  # the overlay renders with per-cell text colours


@pytest.mark.slow
def test_default_run_is_well_above_chance_and_the_proxy_tracks_the_target():
    ex = SVPExplorer()
    ex.compute()
    final = ex.curves[ex.curves.fraction == ex.curves.fraction.max()].set_index("selector").accuracy
    assert (final > 0.6).all()  # ten classes: chance is 0.1
    assert ex.agreement.loc["proxy", "target"] > 0.2
    times = ex.times.set_index(["selector", "phase"]).seconds
    assert times["target", "selector training"] > times["proxy", "selector training"]
