"""State tests of the Willump explorer (no browser)."""

import numpy as np
import pandas as pd
import panel as pn
import pytest

from dawnlab.willump import Willump
from dawnlab.willump.datasets import synthetic, synthetic_pipeline
from widgets.willump import WillumpExplorer, app


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic(1200)
    return Willump(synthetic_pipeline(), progress=False).fit(X, y)


def test_plan_follows_the_controls():
    ex = WillumpExplorer()
    assert "tweets" in ex.plan() and "alpha = 0.05" in ex.plan()
    ex.dataset, ex.alpha, ex.n_rows = "letters", 0.01, 500
    assert "26-class letters" in ex.plan() and "alpha = 0.01" in ex.plan() and "500 rows" in ex.plan()
    assert "Run to see" in ex.readout()


def test_app_builds_a_layout():
    assert isinstance(app(WillumpExplorer()), pn.viewable.Viewable)


def test_show_fills_the_frames_and_the_slider_reads_them(fitted):
    ex = WillumpExplorer()
    ex.show(fitted)
    cas = fitted.cascade_
    assert list(ex.groups.group) == ["cheap", "costly"] and ex.groups.selected.tolist() == [True, False]
    assert ex.threshold == pytest.approx(cas.threshold)
    table = cas.table[cas.table.groups == cas.groups]
    np.testing.assert_allclose(ex.curve.score, table.score)
    np.testing.assert_allclose(ex.curve.pvalue, table.pvalue)
    np.testing.assert_allclose(ex.curve.throughput, 1 / table.expected_cost)
    r = ex.at_threshold()
    assert r["score"] == pytest.approx(cas.score_cascade) and r["pvalue"] == pytest.approx(cas.pvalue)
    assert "accepted" in ex.readout() and f"{cas.threshold:.3f}" in ex.readout()
    ex.threshold = 1.0  # the slider moves the read-out to another tuned threshold
    assert ex.at_threshold()["threshold"] == 1.0 and ex.at_threshold()["frac_confident"] == 0.0
    assert ex.chosen["c"] == fitted.topk_.c and not ex.topk.empty
    import holoviews as hv

    for plot in (ex.groups_plot(), ex.threshold_plot(), ex.topk_plot()):
        hv.render(plot)
    marked = [g for g in ex.groups_plot().data.group.unique() if g.endswith("(cheap)")]
    assert marked == ["cheap (cheap)"]


def test_readout_gives_the_optimizers_verdict_with_a_max_drop():
    """With ``max_drop`` set a threshold McNemar's test passes can still be refused (its drop bound):
    the read-out says what the optimizer's table says (``accepted``), not the p-value alone."""
    X, y = synthetic(1200)
    w = Willump(synthetic_pipeline(), progress=False, max_drop=0.005).fit(X, y)
    ex = WillumpExplorer()
    ex.show(w)
    cas = w.cascade_
    subset = cas.groups or cas.table.groups.iloc[0]
    table = cas.table[cas.table.groups == subset].reset_index(drop=True)
    assert ex.curve.accepted.tolist() == table.accepted.tolist()
    refused = table[(table.pvalue >= w.alpha) & ~table.accepted]
    assert len(refused), "the margin refuses no threshold the test passes: pick a smaller max_drop"
    ex.threshold = float(refused.threshold.iloc[0])
    assert f"rejected (drop bound {refused.drop_bound.iloc[0]:.3f}" in ex.readout()
    assert "above the max drop 0.005" in ex.readout()
    if table.accepted.any():
        ex.threshold = float(table[table.accepted].threshold.iloc[0])
        assert "(accepted)" in ex.readout()
    failed = table[table.pvalue < w.alpha]
    if len(failed):
        ex.threshold = float(failed.threshold.iloc[0])
        assert "rejected (significant loss)" in ex.readout()
    assert "bounded by 0.005" in WillumpExplorer(max_drop=0.005).plan()


@pytest.mark.slow
def test_compute_runs_on_a_few_tweets():
    ex = WillumpExplorer(dataset="tweets", n_rows=400)
    ex.compute()
    assert ex.status == "done"
    assert list(ex.groups.group) == ["words", "chars"]
    assert ex.curve.threshold.is_monotonic_increasing and ex.curve.score.between(0, 1).all()
    assert isinstance(ex.topk, pd.DataFrame) and ex.topk.frac_ok.between(0, 1).all()


def test_topk_plot_labels_follow_the_optimizers_precision_and_quantile():
    X, y = synthetic(1200)
    w = Willump(synthetic_pipeline(), progress=False, topk_precision=0.9, topk_quantile=0.8).fit(X, y)
    ex = WillumpExplorer()
    ex.show(w)
    plot = ex.topk_plot()
    labels = [el.label for el in plot]
    assert "resamples with precision >= 0.9" in labels and not any("0.95" in label for label in labels)
    hline = [el for el in plot if type(el).__name__ == "HLine"]
    assert len(hline) == 1 and hline[0].data == 0.8


def test_show_updates_a_displayed_explorer_in_one_step(fitted):
    """Shown (inline or served), each view re-renders as its inputs change; ``show`` sets every
    frame at once, so no view ever sees a new curve beside the old, empty ``chosen``."""
    ex = WillumpExplorer()
    seen = []
    ex.param.watch(lambda *events: seen.append((sorted(e.name for e in events), ex.readout())),
                   ["curve", "chosen", "groups", "topk", "threshold"])
    ex.show(fitted)  # raised KeyError: 'groups' from the read-out when the frames were set one by one
    assert len(seen) == 1 and {"curve", "chosen"} <= set(seen[0][0])
    assert "At threshold" in seen[0][1]
