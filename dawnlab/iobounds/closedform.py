"""Closed forms: exact Laplacian spectra and spectral bounds of the FFT and the
hypercube (Bellman-Held-Karp) DAGs, and Hong-Kung's analytic bounds.

Jain and Zaharia (arXiv 1909.09791, Section 5) derive analytic I/O lower bounds
for these two families from their spectra.  We go one step further and compute
the *whole* weighted spectrum exactly, so the analytic bound equals the
numeric one (the tests check that):

**FFT butterfly** with ``2**l`` points and ``l + 1`` levels.  Every edge has
weight 1/2 (every non-output vertex has out-degree 2).  The edges between
levels ``j`` and ``j + 1`` join ``x`` to ``x`` and to ``x xor 2**j``; in the
Walsh-Hadamard basis ``chi_s(x) = (-1)**(s . x)`` the flip is diagonal, so the
Laplacian splits into ``2**l`` tridiagonal matrices, one per ``s``.  In the
block of ``s`` the levels ``j`` and ``j + 1`` are coupled (weight 1) when bit
``j`` of ``s`` is 0 and cut when it is 1.  Every maximal uncut run of levels
``[a, b]`` (``m = b - a + 1`` levels) is a path whose diagonal is 2 inside, 1
at a free end (level 0 or ``l``) and 2 at a cut end, so its eigenvalues are
``2 - 2 cos(theta)`` with

* both ends free: ``theta = pi i / m``, ``i = 0..m-1``;
* one end free: ``theta = pi (2 i - 1) / (2 m + 1)``, ``i = 1..m``;
* both ends cut: ``theta = pi i / (m + 1)``, ``i = 1..m``;

and the run ``[a, b]`` occurs in ``2**(l - (b - a) - [a > 0] - [b < l])``
blocks.

**Hypercube / BHK DAG** on the subsets of ``{1..l}``: the edge ``S -> S + {i}``
has weight ``1 / (l - |S|)``.  The weights depend on the level only, so the
Laplacian commutes with the permutations of ``{1..l}``; the Boolean lattice
splits into ``C(l, t) - C(l, t-1)`` copies of an irreducible module on the
levels ``t..l-t`` (``t = 0..l//2``), on which the raising operator is a path
with coefficients ``sqrt((r - t + 1)(l - t - r))``.  The spectrum is the union
of the eigenvalues of these ``l//2 + 1`` tridiagonal matrices of size at most
``l + 1``, with those multiplicities.

**Hong-Kung** (1981): the FFT on ``N = 2**l`` points needs
``Omega(N log N / log M)`` I/O and naive ``n x n`` matrix multiply
``Omega(n**3 / sqrt(M))``.  For matrix multiply we use the explicit form of
Irony, Toledo and Tiskin (2004), total I/O ``>= n**3 / (2 sqrt(2) sqrt(M)) - M``,
minus the compulsory ``3 n**2``.  For the FFT we report
``N log2 N / (2 log2 M) - 2 N``: the asymptotic form with a constant of 1/2;
that constant is *not* certified here (the tests check the spectral, ILP and
min-cut bounds against exhaustive search, not this one), so read it as the
shape of Hong-Kung's bound.  Both are clipped at 0.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg

from dawnlab.errors import invalid

__all__ = ["fft_spectrum", "hypercube_spectrum", "fft_spectral_bound",
           "hypercube_spectral_bound", "bound_from_spectrum",
           "hong_kung_fft", "hong_kung_matmul"]


def _check_l(l, owner, lo=1, hi=40):
    if not isinstance(l, (int, np.integer)) or isinstance(l, bool) or not lo <= l <= hi:
        raise invalid("l", owner, f"an int in [{lo}, {hi}]", l)
    return int(l)


def fft_spectrum(l: int, k: int | None = None) -> np.ndarray:
    """The smallest ``k`` eigenvalues (all when ``k`` is None), with
    multiplicity, of the weighted Laplacian of the FFT butterfly ``fft(l)``.

    Examples
    --------
    >>> np.round(fft_spectrum(2), 6)
    array([0.      , 0.381966, 0.381966, 1.      , 1.      , 1.      ,
           1.      , 1.      , 2.      , 2.618034, 2.618034, 3.      ])
    """
    l = _check_l(l, "fft_spectrum")
    vals, mult = [], []
    for a in range(l + 1):
        for b in range(a, l + 1):
            m = b - a + 1
            free = (a == 0) + (b == l)
            if free == 2:
                theta = np.pi * np.arange(m) / m
            elif free == 1:
                theta = np.pi * (2 * np.arange(1, m + 1) - 1) / (2 * m + 1)
            else:
                theta = np.pi * np.arange(1, m + 1) / (m + 1)
            count = 2 ** (l - (b - a) - (a > 0) - (b < l))
            vals.append(2 - 2 * np.cos(theta))
            mult.append(np.full(m, count, dtype=np.int64))
    return _expand(np.concatenate(vals), np.concatenate(mult), k)


def hypercube_spectrum(l: int, k: int | None = None) -> np.ndarray:
    """The smallest ``k`` eigenvalues (all when ``k`` is None), with
    multiplicity, of the weighted Laplacian of the hypercube DAG ``hypercube(l)``.

    Examples
    --------
    >>> np.round(hypercube_spectrum(2), 6)
    array([0.      , 1.219224, 1.5     , 3.280776])
    """
    l = _check_l(l, "hypercube_spectrum")
    vals, mult = [], []
    for t in range(l // 2 + 1):
        levels = np.arange(t, l - t + 1)
        diag = np.where(levels < l, 1.0, 0.0) + levels / (l - levels + 1.0)
        r = levels[:-1]
        off = -np.sqrt((r - t + 1.0) * (l - t - r)) / (l - r)
        if len(levels) == 1:
            ev = diag.copy()
        else:
            ev = scipy.linalg.eigh_tridiagonal(diag, off, eigvals_only=True)
        count = math.comb(l, t) - (math.comb(l, t - 1) if t else 0)
        vals.append(ev)
        mult.append(np.full(len(ev), count, dtype=np.int64))
    return _expand(np.concatenate(vals), np.concatenate(mult), k)


def _expand(vals, mult, k):
    order = np.argsort(vals, kind="stable")
    vals, mult = vals[order], mult[order]
    if k is not None:
        cum = np.cumsum(mult)
        last = int(np.searchsorted(cum, k)) + 1
        vals, mult = vals[:last], mult[:last]
    out = np.repeat(vals, mult)
    out[0] = max(out[0], 0.0) if abs(out[0]) < 1e-12 else out[0]
    return out if k is None else out[:k]


def bound_from_spectrum(eigenvalues, n: int, M: int) -> tuple[float, int]:
    """``max_k [sum_i m_i lambda_i - 2 k M]`` over ``k = 1..len(eigenvalues)``.

    The ``m_i`` are the balanced sizes of ``n`` split into ``k`` parts, the
    larger parts paired with the smaller eigenvalues (arXiv 1909.09791,
    Theorem 4.4).  Returns the bound (clipped at 0) and the maximising ``k``.

    Examples
    --------
    >>> bound_from_spectrum([0.0, 1.0, 1.0], n=10, M=1)
    (1.0, 2)
    """
    lam = np.sort(np.asarray(eigenvalues, dtype=float))
    best, best_k = 0.0, 1
    for k in range(1, len(lam) + 1):
        q, r = divmod(n, k)
        value = (q + 1) * lam[:r].sum() + q * lam[r:k].sum() - 2.0 * k * M
        if value > best:
            best, best_k = float(value), k
    return best, best_k


def fft_spectral_bound(l: int, M: int, k_max: int = 32) -> tuple[float, int]:
    """The spectral bound of the FFT on ``2**l`` points in closed form.

    Examples
    --------
    >>> round(fft_spectral_bound(7, 4)[0], 9)
    6.376856849
    """
    l = _check_l(l, "fft_spectral_bound")
    n = (l + 1) * 2 ** l
    return bound_from_spectrum(fft_spectrum(l, min(k_max, n)), n, M)


def hypercube_spectral_bound(l: int, M: int, k_max: int = 32) -> tuple[float, int]:
    """The spectral bound of the hypercube / BHK DAG in closed form.

    Examples
    --------
    >>> round(hypercube_spectral_bound(10, 16)[0], 7)
    146.9117594
    """
    l = _check_l(l, "hypercube_spectral_bound")
    return bound_from_spectrum(hypercube_spectrum(l, min(k_max, 2 ** l)), 2 ** l, M)


def hong_kung_fft(l: int, M: int) -> float:
    """Hong-Kung's lower bound for the FFT on ``2**l`` points, non-compulsory part.

    Examples
    --------
    >>> hong_kung_fft(10, 4)
    512.0
    """
    l = _check_l(l, "hong_kung_fft")
    if M < 3:
        raise invalid("M", "hong_kung_fft", "an int >= 3 (largest in-degree + 1)", M)
    N = 2 ** l
    return max(0.0, N * l / (2 * math.log2(M)) - 2 * N)


def hong_kung_matmul(n: int, M: int) -> float:
    """Hong-Kung's lower bound for naive ``n x n`` matrix multiply, non-compulsory part.

    Examples
    --------
    >>> round(hong_kung_matmul(16, 32), 3)
    0.0
    >>> round(hong_kung_matmul(128, 129), 3)
    16000.49
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise invalid("n", "hong_kung_matmul", "a positive int", n)
    if M < n + 1:
        raise invalid("M", "hong_kung_matmul", f"an int >= {n + 1} (largest in-degree + 1)", M)
    return max(0.0, n ** 3 / (2 * math.sqrt(2) * math.sqrt(M)) - M - 3 * n ** 2)
