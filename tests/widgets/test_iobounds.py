"""State of the I/O bounds explorer (no browser)."""

import numpy as np
import pytest

pn = pytest.importorskip("panel")

from widgets.iobounds import IOBoundsExplorer, app, bounds_table  # noqa: E402

import dawnlab.iobounds as iob  # noqa: E402


def test_memory_slider_moves_the_bound_curve():
    ex = IOBoundsExplorer(source="fft", size=3, M=3)
    before = ex.curve().bound.to_numpy()
    ex.M = 8
    after = ex.curve().bound.to_numpy()
    k = np.arange(1, len(before) + 1)
    assert np.allclose(before - after, 2 * k * 5)  # the bound drops by 2 k (M' - M)


def test_source_changes_the_spectrum():
    ex = IOBoundsExplorer(source="fft", size=3, K=8)
    fft = ex.spectrum()
    assert np.allclose(fft, iob.fft_spectrum(3, 8))
    ex.source = "hypercube"
    assert np.allclose(ex.spectrum(), iob.hypercube_spectrum(3, 8))


def test_bounds_table_sandwich():
    df = bounds_table("fft", 2)
    assert (df["spectral"] <= df["ILP (exact)"] + 1e-9).all()
    assert (df["ILP (exact)"] <= df["schedule (upper)"]).all()
    assert (df["convex min-cut"] <= df["ILP (exact)"]).all()


def test_app_builds_with_traced_sources():
    ex = IOBoundsExplorer(source="traced: x^T A x", size=2)
    assert isinstance(app(ex), pn.viewable.Viewable)
    assert ex.graph().number_of_nodes() > 6
    ex.source = "traced: torch MLP"
    assert "vertices" in ex.summary()


def test_size_slider_range_is_the_real_range():
    from widgets.iobounds import SIZE_RANGES, SOURCES
    ex = IOBoundsExplorer()
    for source in SOURCES:
        ex.source = source
        lo, hi = SIZE_RANGES[source]
        assert ex.param.size.bounds == (lo, hi) and lo <= ex.size <= hi
        with pytest.raises(ValueError, match="at most"):
            ex.size = hi + 1  # refused, never clamped behind the user's back


def test_a_source_with_a_smaller_range_says_it_moved_the_size():
    ex = IOBoundsExplorer(source="erdos-renyi", size=40, M=20)
    assert ex.notes == []
    ex.source = "fft"
    assert ex.size == 7 and "size 40 is outside fft's range [1, 7]: set to 7" in ex.notes
    assert ex.graph().number_of_nodes() == 8 * 2 ** 7  # the graph shown is the size shown


def test_memory_raised_with_a_note():
    ex = IOBoundsExplorer(source="hypercube", size=3, M=4)
    assert ex.notes == [] and ex.param.M.bounds[0] == 4
    ex.size = 8  # in-degree 8: M must be at least 9
    assert ex.M == 9 and ex.param.M.bounds[0] == 9
    assert any("M raised from 4 to 9" in n for n in ex.notes)
    assert "M = 9" in ex.summary() and "Note: M raised" in ex.summary()
    with pytest.raises(ValueError):
        ex.M = 8  # below the slider's real range


def test_default_opens_on_a_nonzero_sandwich():
    ex = IOBoundsExplorer()
    b = ex.sandwich()
    G = ex.graph()
    assert 0 < b["lower"] <= b["schedule"]
    assert b["schedule"] == iob.schedule_io(G, b["M"]).io
    assert b["lower"] == max(b["spectral"], b["ilp"])
    assert "ILP **8" in ex.summary()


def test_heavy_views_run_off_the_event_loop_with_a_spinner():
    ex = IOBoundsExplorer()
    layout = app(ex)
    assert pn.config.nthreads and pn.config.nthreads >= 1  # callbacks on a thread pool
    assert pn.config.loading_indicator
    panes = [p for p in layout.select(pn.param.ParamMethod)]
    assert len(panes) == 4 and all(p.loading_indicator for p in panes)
