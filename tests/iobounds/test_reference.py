"""The paper's numbers (arXiv 1909.09791) and the closed forms."""

import numpy as np
import pytest

from dawnlab.iobounds import (fft_spectral_bound, fft_spectrum, graphs, hypercube_spectral_bound,
                              hypercube_spectrum, ilp_bound, laplacian, spectral_bound)


def test_spectral_fft7_m4():
    r = spectral_bound(graphs.fft(7), 4)
    assert round(r.value, 9) == 6.376856849
    assert r.compulsory == 2 * 128


def test_spectral_hypercube10_m16():
    r = spectral_bound(graphs.hypercube(10), 16)
    assert round(r.value, 7) == 146.9117594


def test_spectral_matmul16_m32():
    r = spectral_bound(graphs.matmul(16), 32, k_max=31)  # 31 ends at a spectral gap
    assert round(r.value, 4) == 6.6467


@pytest.mark.parametrize("M", [3, 4, 5])
def test_exact_ilp_fft4(M):
    r = ilp_bound(graphs.fft(2), M)
    assert r.exact and r.value == {3: 6, 4: 4, 5: 2}[M]


@pytest.mark.parametrize("l", [2, 4, 6, 7])
def test_fft_closed_form_spectrum(l):
    L, _ = laplacian(graphs.fft(l))
    assert np.allclose(np.linalg.eigvalsh(L.toarray()), fft_spectrum(l), atol=1e-10)


@pytest.mark.parametrize("l", [2, 5, 8, 9])
def test_hypercube_closed_form_spectrum(l):
    L, _ = laplacian(graphs.hypercube(l))
    assert np.allclose(np.linalg.eigvalsh(L.toarray()), hypercube_spectrum(l), atol=1e-10)


@pytest.mark.parametrize("l,M", [(5, 3), (6, 4), (7, 8), (8, 4)])
def test_fft_closed_form_bound(l, M):
    numeric = spectral_bound(graphs.fft(l), M, k_max=32)
    closed, k = fft_spectral_bound(l, M, k_max=32)
    assert closed == pytest.approx(numeric.value, abs=1e-7)
    assert k == numeric.k or closed == 0


@pytest.mark.parametrize("l,M", [(6, 7), (8, 9), (10, 16), (10, 11)])
def test_hypercube_closed_form_bound(l, M):
    numeric = spectral_bound(graphs.hypercube(l), M, k_max=32)
    closed, _ = hypercube_spectral_bound(l, M, k_max=32)
    assert closed == pytest.approx(numeric.value, abs=1e-7)


def test_large_closed_form_matches_sparse_solver():
    # 11264 vertices: the sparse (block Krylov) path, checked against the exact spectrum
    r = spectral_bound(graphs.fft(10), 4, k_max=31)
    assert r.method == "lanczos"
    assert np.allclose(r.eigenvalues, fft_spectrum(10, 31), rtol=1e-7, atol=1e-9)
