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
