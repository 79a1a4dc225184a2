"""Smallest eigenvalues of a large sparse graph Laplacian.

The spectral bound of Jain and Zaharia (arXiv 1909.09791, Section 4) needs the
``k`` smallest eigenvalues of a weighted graph Laplacian ``L``, with their
multiplicities: a copy of a repeated eigenvalue that a solver misses replaces a
small eigenvalue by a larger one and can make the I/O "bound" exceed the truth.
The authors call ``scipy.sparse.linalg.eigs(L, k, which="SR")`` (restarted
Arnoldi on a non-symmetric view of a symmetric matrix).  Computation graphs make
this hard: the hypercube / Bellman-Held-Karp DAG has eigenvalues of multiplicity
``l - 1`` and more, the FFT butterfly of multiplicity ``2**j``, and the nested
dissection fill-in of the hypercube makes shift-invert factorizations large.

This module uses a **block Davidson search with Chebyshev-filtered
expansion** (Zhou and Saad's Chebyshev-Davidson method, SIAM J. Matrix Anal.
Appl. 29(3), 2007, in block form; see also Saad, *Numerical Methods for Large
Eigenvalue Problems*, Sections 7.3 and 8.3):

0. When ``L`` is a weighted graph Laplacian (zero row sums, non-positive
   off-diagonal) its null space is known exactly: one indicator vector per
   connected component.  Those zeros are returned exactly and the search runs
   in their orthogonal complement.
1. An orthonormal basis ``V`` starts from ``p`` random columns and grows one
   block of ``p`` columns per step.  Every step does a Rayleigh-Ritz with ``L``
   on the whole basis (``V^T L V`` is kept up to date with one extra product
   per column); Ritz values bound the eigenvalues of the same rank from above
   (Cauchy interlacing).
2. The new block is ``T_d(L) X``: ``X`` are ``p`` of the wanted Ritz vectors
   (those whose values still moved over the last round of steps, most moving
   first, then the others in turn), and ``T_d`` is the Chebyshev polynomial of
   degree ``d`` (default 32) that is bounded by 1 on ``[alpha, beta]`` and
   grows fast below ``alpha``. ``beta`` is the spectrum's upper end; ``alpha``
   is a Ritz value a few places past the ``k``-th (so above every wanted
   eigenvalue), lowered as the Ritz values come down. The filter damps the
   whole upper spectrum at ``d`` sparse products per column, far cheaper than
   the Gram-Schmidt over the basis that plain block Lanczos would spend to the
   same end. The products run in float32 when ``tol >= 1e-7``: they only choose
   the directions added; the basis, the projection and the residuals are
   float64. Block sparse products go through ``torch``'s CSR kernel in one
   thread. Each block is orthonormalised against the basis by block classical
   Gram-Schmidt, the second pass on the orthonormalised first result (CGS2).
3. When the Ritz values settle, the residuals ``r_i = ||L x_i - theta_i x_i||``
   of the wanted pairs are computed, and the error of ``theta_i`` is estimated
   as ``min(r_i, ||R||**2 / delta)``: ``R`` is the residual block and ``delta``
   the gap between the last wanted Ritz value and the next (the quadratic
   residual bound for a Ritz block).  A Rayleigh-Ritz over the whole basis
   leaves in components far up the spectrum that barely move the eigenvalues
   but inflate the residuals, so one filtered subspace step on the Ritz
   vectors ("polishing") comes before the estimate.  The search stops when
   every estimate is below ``tol * max(|theta_i|, 1e-6 beta)``.
4. A block Krylov space holds at most ``p`` independent vectors of any
   eigenspace.  If a wanted eigenvalue came out with ``p`` copies, a second
   search runs in the orthogonal complement of the vectors found: it stops as
   soon as its lowest Ritz value, less its residual, lies above the largest
   value found, and otherwise adds the copies it finds; it repeats until a
   search finds fewer than ``p`` copies.
5. The basis is capped (``max_basis`` columns); at the cap it restarts from the
   best ``k + p`` Ritz vectors.

Being a *block* method it finds every copy of a repeated eigenvalue (step 4),
unlike single-vector Lanczos (``eigsh(which="SA")`` misses copies on the
hypercube).  Ritz values are upper bounds on the eigenvalues of the same rank,
and each is within its residual of a true eigenvalue; the residuals are
returned so a caller can widen the I/O bound by them.  Small matrices use dense
``numpy.linalg.eigvalsh``.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from dawnlab.errors import invalid

__all__ = ["EigenResult", "smallest_eigenvalues", "gershgorin_upper"]

#: Matrices at most this large are solved densely.
DENSE_LIMIT = 1500

#: Error estimates are relative to ``max(|theta|, FLOOR * beta)``, so that
#: eigenvalues at or near zero are asked for an attainable absolute accuracy.
FLOOR = 1e-6


@dataclass
class EigenResult:
    """The ``k`` smallest eigenvalues of a symmetric matrix.

    Attributes
    ----------
    values : numpy.ndarray
        The eigenvalues, ascending.
    residuals : numpy.ndarray
        ``||L x_i - values_i x_i||`` for each Ritz pair (zeros when dense or
        exact; NaN for the baselines, which do not return vectors).
    method : str
        ``"dense"``, ``"lanczos"``, ``"eigsh-shift-invert"``, ``"lobpcg"`` or
        ``"eigs-sr"``.
    matvecs : int
        Sparse matrix-vector products spent (a block product counts its columns).
    iterations : int
        Blocks added to the search space (all passes).
    errors : numpy.ndarray
        Estimated ``|values_i - eigenvalue_i|``: ``min(r, r**2 / gap)``.
    converged : bool
        Whether every estimate met the tolerance (``False`` only when
        ``maxiter`` ran out; the values are then the best found).
    passes : int
        Searches run; more than one when a repeated eigenvalue filled a block.
    """

    values: np.ndarray
    residuals: np.ndarray
    method: str
    matvecs: int = 0
    iterations: int = 0
    errors: np.ndarray = field(default=None, repr=False)
    converged: bool = True
    passes: int = 1

    def __post_init__(self):
        if self.errors is None:
            self.errors = np.array(self.residuals, dtype=float, copy=True)


def gershgorin_upper(L) -> float:
    """An upper bound on the eigenvalues of a symmetric matrix: the largest
    absolute row sum (Gershgorin's circle theorem).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> gershgorin_upper(sp.csr_matrix([[1.0, -1.0], [-1.0, 1.0]]))
    2.0
    """
    L = sp.csr_matrix(L)
    return float(np.asarray(abs(L).sum(axis=1)).max())


def _laplacian_null_space(L):
    """The exact null space of a weighted graph Laplacian: one normalised
    indicator column per connected component, or ``None`` if ``L`` is not a
    Laplacian (zero row sums, non-positive off-diagonal)."""
    from scipy.sparse.csgraph import connected_components
    n = L.shape[0]
    rows = np.asarray(L.sum(axis=1)).ravel()
    off = L - sp.diags(L.diagonal())
    scale = float(abs(L).max()) if L.nnz else 0.0
    if scale == 0.0 or np.abs(rows).max() > 1e-12 * scale * max(1, n) or (off.data > 0).any():
        return None
    ncomp, label = connected_components(off, directed=False)
    C = np.zeros((n, ncomp))
    C[np.arange(n), label] = 1.0
    return C / np.sqrt(C.sum(axis=0))


def _spectrum_upper(L, seed: int, steps: int = 30) -> float:
    """An upper end for the Chebyshev interval: the largest Ritz value of a
    short Lanczos run (full reorthogonalization), widened by its residual and
    2%, never above Gershgorin's bound.  Eigenvalues above the interval would
    be amplified, not damped, so the estimate errs high."""
    gersh = gershgorin_upper(L)
    n = L.shape[0]
    if n < 50:
        return gersh
    m = min(n, steps)
    Q = np.empty((m, n))
    q = np.random.default_rng(seed).standard_normal(n)
    for k in range(1, m + 1):  # the Krylov basis of L from a random vector
        Q[k - 1] = q / np.linalg.norm(q)
        q = L @ Q[k - 1]
        for _ in range(2):  # full reorthogonalization, twice against round-off
            q -= Q[:k].T @ (Q[:k] @ q)
        if np.linalg.norm(q) <= 1e-12 * gersh:
            break
    LQ = L @ Q[:k].T
    theta, S = scipy.linalg.eigh(Q[:k] @ LQ)
    y = Q[:k].T @ S[:, -1]
    r = float(np.linalg.norm(LQ @ S[:, -1] - theta[-1] * y))
    return min(gersh, 1.02 * (float(theta[-1]) + r)) * (1 + 1e-12) + 1e-300


@contextmanager
def _one_torch_thread():
    """Run ``torch``'s sparse products in one thread for the duration (restored
    after).  Its OpenMP workers otherwise contend with numpy's BLAS threads for
    the cores between products: with two of each on two cores the filter ran
    up to 50 times slower on small graphs and 20% slower on large ones."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class _SparseProducts:
    """Block products with a sparse matrix through ``torch``'s CSR kernel
    (32-bit indices where they fit), which on these graphs is about 1.7 times
    faster than scipy's ``csr_matvecs``, both in one thread.  One-column
    products stay in scipy."""

    def __init__(self, A):
        import torch
        self.torch = torch
        self.A = A
        index = np.int32 if max(A.nnz, A.shape[0]) < 2 ** 31 else np.int64
        with warnings.catch_warnings():  # torch calls its sparse CSR support "beta"
            warnings.simplefilter("ignore", UserWarning)
            self.T = torch.sparse_csr_tensor(
                torch.from_numpy(A.indptr.astype(index)), torch.from_numpy(A.indices.astype(index)),
                torch.from_numpy(A.data), size=A.shape)
        self.dtype = A.dtype

    def tensor(self, X):
        return self.torch.from_numpy(np.ascontiguousarray(X, dtype=self.dtype))

    def __matmul__(self, X):
        if X.ndim == 1:
            return self.A @ X
        return (self.T @ self.tensor(X)).numpy()


def _chebyshev_operator(L, low: float, high: float, dtype=np.float64) -> Callable:
    """``X -> T_d((L - c) / e) X`` with ``[c - e, c + e] = [low, high]``: bounded by
    1 for eigenvalues in ``[low, high]``, growing like ``cosh`` below ``low``.

    The shift and scale are folded into one sparse matrix, so each degree costs
    one fused product ``2 A X_j - X_{j-1}``.  ``dtype`` may be float32: the
    result only chooses a direction to add to the basis, which is
    orthonormalised and projected in float64."""
    e = (high - low) / 2.0
    c = (high + low) / 2.0
    A = _SparseProducts(((L - c * sp.identity(L.shape[0], format="csr")) * (1.0 / e))
                        .tocsr().astype(dtype))

    def apply(X, degree: int):
        X = A.tensor(X)
        prev, cur = X, A.T @ X
        for _ in range(2, degree + 1):
            prev, cur = cur, A.torch.addmm(prev, A.T, cur, beta=-1.0, alpha=2.0)
        return cur.numpy()
    return apply


def _error_estimates(theta, r, norm2: float, kk: int):
    """Error estimates for the first ``kk`` of the Ritz values ``theta``.

    ``r`` are the residual norms and ``norm2`` the 2-norm of the residual block
    of the first ``kk`` pairs.  Each value is within ``r_i`` of an eigenvalue,
    and, when a gap ``delta = theta[kk] - theta[kk-1]`` separates the wanted
    values from the next, within ``norm2**2 / delta`` (the quadratic residual
    bound for a Ritz block, with the next Ritz value standing in for the next
    eigenvalue)."""
    if len(theta) <= kk:  # the basis spans the whole space: Ritz values are exact
        return r[:kk].copy()
    delta = theta[kk] - theta[kk - 1]
    if delta <= 0:
        return r[:kk].copy()
    return np.minimum(r[:kk], norm2 ** 2 / delta)


def _column_norms(W):
    """The 2-norms of the columns of a tall ``W``, without the ``W * W``
    temporary of ``numpy.linalg.norm(W, axis=0)`` (150 MB a block at a million
    rows)."""
    return np.sqrt(np.einsum("ij,ij->j", W, W))


def _cholesky_qr(W, norms):
    """An orthonormal basis of the columns of ``W`` by Cholesky QR, twice
    unless ``W`` is well conditioned (CholQR2: two ``p x p`` Gram matrices
    instead of Householder QR's passes over a tall matrix), or None when
    ``W`` is too close to rank deficient for it (a column that lost all but
    ``1e-6`` of its norm ``norms`` to the deflation, or a failed Cholesky
    factorization)."""
    if not np.all(_column_norms(W) > 1e-6 * np.maximum(norms, 1e-300)):
        return None
    Q = W
    for _ in range(2):
        try:
            R = scipy.linalg.cholesky(Q.T @ Q, lower=False)
        except np.linalg.LinAlgError:
            return None
        d = np.abs(np.diag(R))
        if d.min() <= 1e-7 * d.max():
            return None
        Q = Q @ scipy.linalg.solve_triangular(R, np.eye(R.shape[0]), lower=False)
        if np.linalg.cond(R) < 10.0:  # one pass leaves Q orthonormal to ~eps cond(R)^2
            break
    return Q


class _Search:
    """One search for the ``kk`` smallest eigenpairs of ``L`` in the orthogonal
    complement of the orthonormal columns ``C`` (may be None)."""

    def __init__(self, L, LP, kk, C, *, p, degree, tol, beta, rng, max_basis, below=None):
        self.L, self.LP, self.kk, self.C, self.below = L, LP, kk, C, below
        self.n = L.shape[0]
        self.room = self.n - (0 if C is None else C.shape[1])
        self.p = max(1, min(p, self.room))
        self.cap = min(self.room, max(max_basis, kk + 1 + 2 * self.p))
        self.degree, self.tol, self.beta, self.rng = degree, tol, beta, rng
        # float32 filter products when the tolerance leaves room for them
        self.dtype = np.float32 if tol >= 1e-7 else np.float64
        self.V = np.empty((self.n, self.cap), order="F")
        self.H = np.empty((self.cap, self.cap))  # V^T L V
        self.m = 0
        self.matvecs = 0
        self.blocks = 0

    def _project(self, W, m):
        """One block classical Gram-Schmidt pass of ``W`` (in place) against the
        first ``m`` basis columns and ``C``."""
        for B in ((self.V[:, :m],) if m else ()) + ((self.C,) if self.C is not None else ()):
            W -= B @ (B.T @ W)

    def _orthonormal(self, W, norms):
        """Orthonormal columns spanning ``W`` (CholQR2, or Householder QR when
        ``W`` is nearly rank deficient) and a mask of the columns that had
        lost all but ``1e-13`` of their original ``norms``."""
        Q = _cholesky_qr(W, norms)
        if Q is not None:
            return Q, np.zeros(W.shape[1], dtype=bool)
        Q, R = np.linalg.qr(W)
        return Q, np.abs(np.diag(R)) <= 1e-13 * np.maximum(norms, 1e-300)

    def _add(self, W):
        """Orthonormalise ``W`` against the basis and append it; columns that
        the basis (nearly) contains already are replaced by random ones.

        The second Gram-Schmidt pass runs on the orthonormalised first result
        (block CGS2): the filtered blocks are often ill-conditioned (singular
        values spread over five orders), and orthonormalising after the second
        pass would amplify what the first left of the basis by as much."""
        m = self.m
        width = min(W.shape[1], self.cap - m)
        W = np.array(W[:, :width], order="F", dtype=np.float64)
        norms = _column_norms(W)
        self._project(W, m)
        Q, bad = self._orthonormal(W, norms)
        for _ in range(3):
            if bad.any():
                Q[:, bad] = self.rng.standard_normal((self.n, int(bad.sum())))
            self._project(Q, m)
            Q, bad = self._orthonormal(Q, _column_norms(Q))
            if not bad.any():
                break
        self.V[:, m:m + width] = Q
        LQ = self.LP @ Q
        self.matvecs += width
        self.H[:m + width, m:m + width] = self.V[:, :m + width].T @ LQ
        self.H[m:m + width, :m] = self.H[:m, m:m + width].T
        self.m = m + width
        self.blocks += 1

    def _ritz(self):
        Hm = self.H[:self.m, :self.m]
        return scipy.linalg.eigh((Hm + Hm.T) / 2.0)

    def _check(self, X, LX, theta):
        """Residual norms and error estimates of the Ritz pairs ``(theta, X)``."""
        R = LX - X * theta
        r = _column_norms(R)
        kk = min(self.kk, len(theta))
        norm2 = float(np.sqrt(np.linalg.eigvalsh(R[:, :kk].T @ R[:, :kk])[-1].clip(0)))
        return r, _error_estimates(theta, r, norm2, self.kk)

    def _polish(self, X, alpha):
        """One Chebyshev-filtered subspace step on the Ritz vectors ``X``: the
        filter damps the components far above ``alpha`` that the Rayleigh-Ritz
        over the whole basis leaves in, which inflate the residuals."""
        Y = _chebyshev_operator(self.L, alpha, self.beta, self.dtype)(X, self.degree)
        self.matvecs += X.shape[1] * self.degree
        Y = np.asarray(Y, dtype=np.float64)
        for _ in range(2):
            self._project(Y, 0)
            Y = self._orthonormal(Y, _column_norms(Y))[0]
        LY = self.LP @ Y
        self.matvecs += Y.shape[1]
        theta, S = scipy.linalg.eigh(Y.T @ LY, overwrite_a=True)
        return theta, Y @ S, LY @ S

    def _allowed(self, theta):
        """The error allowed each of the values ``theta``."""
        return self.tol * np.maximum(np.abs(theta), FLOOR * self.beta)

    def _ok(self, theta, est):
        return np.all(est <= self._allowed(theta[:self.kk]))

    def _alpha(self, theta, cols):
        """The filter's lower end: a Ritz value past the ``kk``-th (an upper
        bound on the eigenvalue of its rank), at least 1% of the spectrum above
        the ``kk``-th, so the wanted eigenvalues are amplified."""
        tk = theta[min(self.kk, len(theta)) - 1]
        return max(theta[min(cols, len(theta)) - 1], tk + 0.01 * (self.beta - tk))

    def _select(self, theta, history, want, rounds, steps):
        """Which ``p`` of the ``want`` lowest Ritz vectors to expand with: those
        whose values still move (relatively, over the last round of steps),
        the most moving first, so that settled pairs stop taking filter
        products; the rest of the block, and the whole block before there is
        any history, cycles through the others in turn."""
        w = min(want, self.m)
        q = min(self.p, w)
        turn = (steps * self.p + np.arange(w)) % w  # the cyclic order
        if len(history) < 2:
            return np.sort(turn[:q])
        prev = history[max(0, len(history) - 1 - rounds)]
        u = min(w, len(prev))
        moved = np.full(w, np.inf)
        moved[:u] = np.abs(prev[:u] - theta[:u])
        scale = self._allowed(theta[:w])
        moving = np.flatnonzero(moved > scale)
        sel = moving[np.argsort(-(moved / scale)[moving], kind="stable")][:q]
        rest = turn[~np.isin(turn, sel)][:q - len(sel)]
        return np.sort(np.concatenate([sel, rest]))

    def run(self, maxiter: int, callback, offset):
        """Returns ``(values, vectors, residuals, estimates, converged)``."""
        kk, p = self.kk, self.p
        want = min(kk + 1, self.room)
        cols = kk + max(2, p // 2)  # Ritz pairs checked (a few past the wanted)
        self._add(self.rng.standard_normal((self.n, p)))
        # each step refines p of the wanted Ritz vectors, so "settled" compares
        # the values with those of one full round of steps before
        rounds = -(-want // p)
        op, alpha_used, history, steps, since_check = None, np.inf, [], 0, 0
        while True:
            theta, S = self._ritz()
            if self.below is not None:
                # a check for missed copies: stop as soon as the lowest Ritz
                # value, less its residual, lies above the largest value found
                x = self.V[:, :self.m] @ S[:, 0]
                r0 = float(np.linalg.norm(self.LP @ x - theta[0] * x))
                self.matvecs += 1
                if theta[0] - r0 > self.below + self._allowed(self.below):
                    return theta[:0], self.V[:, :0], theta[:0], theta[:0], True
            if self.m >= want:
                settled = (since_check >= rounds
                           and self._ok(theta, np.abs(history[-rounds][:kk] - theta[:kk])))
                full = self.m == self.room
                if settled or full or steps >= maxiter:
                    c = min(self.m, cols)
                    X = self.V[:, :self.m] @ S[:, :c]
                    LX = self.LP @ X
                    self.matvecs += c
                    r, est = self._check(X, LX, theta[:c])
                    done = full or self._ok(theta, est)
                    if not done:
                        tp, Xp, LXp = self._polish(X, self._alpha(theta, c))
                        rp, ep = self._check(Xp, LXp, tp)
                        if self._ok(tp, ep) or np.max(ep) < np.max(est):
                            theta, X, r, est, done = tp, Xp, rp, ep, self._ok(tp, ep)
                    if full:
                        est = np.zeros(kk)
                    if callback is not None:
                        callback(offset + self.blocks, theta[:kk], est)
                    if done or steps >= maxiter:
                        return theta[:kk], X[:, :kk], r[:kk], est, bool(done)
                    theta, S = self._ritz()
                    since_check = 0  # the next check waits for another round
                history.append(theta[:want].copy())
                del history[:-(rounds + 1)]
                since_check += 1
            alpha = self._alpha(theta, cols)
            if alpha < 0.9 * self.beta and alpha < 0.9 * alpha_used:
                op, alpha_used = _chebyshev_operator(self.L, alpha, self.beta, self.dtype), alpha
            if self.m + p > self.cap:  # restart from the Ritz vectors
                keep = min(self.cap - p, kk + p)
                X = self.V[:, :self.m] @ S[:, :keep]
                self.V[:, :keep] = X
                self.H[:keep, :keep] = np.diag(theta[:keep])
                self.m = keep
                theta, S = theta[:keep], np.eye(keep)  # the same Ritz values
            sel = self._select(theta, history, want, rounds, steps)
            Xs = self.V[:, :self.m] @ S[:, sel]
            if op is None:
                W = self.LP @ Xs
                self.matvecs += len(sel)
            else:
                W = op(Xs, self.degree)
                self.matvecs += len(sel) * self.degree
            self._add(W)
            steps += 1


def _clusters(values, est, floor):
    """Sizes of the runs of (numerically) equal values, ascending input."""
    if len(values) == 0:
        return np.zeros(0, dtype=int)
    width = 1e-6 * np.maximum(np.abs(values), floor) + 2 * est
    breaks = np.flatnonzero(np.diff(values) > np.maximum(width[:-1], width[1:]))
    edges = np.concatenate([[0], breaks + 1, [len(values)]])
    return np.diff(edges)


def _lanczos(L, k: int, tol: float, seed: int, degree: int, block: int, maxiter: int,
             max_basis: int | None, callback: Callable | None) -> EigenResult:
    n = L.shape[0]
    C = _laplacian_null_space(L)
    z = 0 if C is None else C.shape[1]
    if z >= k:  # all k wanted eigenvalues are the exact zeros of the components
        return EigenResult(np.zeros(k), np.zeros(k), "lanczos")
    kk = k - z
    p = max(1, min(block, kk + 1))
    if max_basis is None:
        max_basis = max(4 * (k + 1), 2 * (k + 1) + 4 * min(block, k + 1))
    beta = _spectrum_upper(L, seed)
    LP = _SparseProducts(L)
    rng = np.random.default_rng(seed)
    zeros = np.zeros(z)

    def report(it, values, est):
        if callback is not None:
            callback(it, np.concatenate([zeros, values]), np.concatenate([zeros, est]))

    found, below, want = C, None, kk
    values = X = r = est = None
    matvecs = blocks = passes = 0
    converged = True
    while True:
        search = _Search(L, LP, want, found, p=p, degree=degree, tol=tol, beta=beta, rng=rng,
                         max_basis=max_basis, below=below)
        v, Xv, rv, ev, ok = search.run(maxiter, report, blocks)
        matvecs += search.matvecs
        blocks += search.blocks
        passes += 1
        converged &= ok
        if values is None:
            values, X, r, est = v, Xv, rv, ev
        else:  # merge with the copies found in the complement
            allv = np.concatenate([values, v])
            order = np.argsort(allv, kind="stable")[:kk]
            if not (order >= len(values)).any():
                break
            values, X = allv[order], np.hstack([X, Xv])[:, order]
            r, est = np.concatenate([r, rv])[order], np.concatenate([est, ev])[order]
        # a block holds at most p copies of an eigenspace: if a wanted value has
        # p copies in this pass, look for more in the complement of those found
        sizes = _clusters(v, ev, FLOOR * beta)
        if not len(sizes) or not np.any(sizes >= search.p):
            break
        found = X if C is None else np.hstack([C, X])
        below, want = float(values[-1]), min(p, n - found.shape[1])
        if want < 1:
            break
    return EigenResult(np.concatenate([zeros, values]), np.concatenate([zeros, r]), "lanczos",
                       matvecs, blocks, np.concatenate([zeros, est]), converged, passes)


def smallest_eigenvalues(L, k: int, *, method: str = "auto", tol: float = 1e-9,
                         seed: int = 0, degree: int = 32, block: int = 16,
                         maxiter: int = 1000, max_basis: int | None = None,
                         callback: Callable | None = None) -> EigenResult:
    """The ``k`` smallest eigenvalues of a symmetric sparse matrix, with copies.

    Parameters
    ----------
    L : scipy.sparse matrix
        Symmetric, e.g. a graph Laplacian.
    k : int
        How many eigenvalues, ``1 <= k <= n``.
    method : {"auto", "dense", "lanczos", "eigsh-shift-invert", "lobpcg", "eigs-sr"}
        ``"auto"`` is dense up to 1500 rows, the Chebyshev-filtered block
        Krylov search (``"lanczos"``, see the module docstring) above.
        ``"eigs-sr"`` is the authors' ``eigs(which="SR")``, kept as the
        baseline; ``"eigsh-shift-invert"`` and ``"lobpcg"`` for comparison.
    tol : float
        Relative accuracy: stop when each eigenvalue's error estimate is below
        ``tol * max(|value|, 1e-6 * beta)``, ``beta`` the spectrum's upper end.
    seed : int
        Seed of the random starting block.
    degree : int
        Degree of the Chebyshev filter applied to each new block.
    block : int
        Block size ``p`` (columns added per step), at most ``k + 1``.
    maxiter : int
        Most blocks added per search; when reached, the best values are
        returned with ``converged=False``.
    max_basis : int, optional
        Most basis columns before a restart (default
        ``max(4 (k + 1), 2 (k + 1) + 4 p)``).
    callback : callable, optional
        ``callback(blocks, values, errors)`` whenever the error estimates are
        computed.

    Returns
    -------
    EigenResult

    Raises
    ------
    InvalidArgument
        If ``k``, ``method``, ``tol``, ``degree``, ``block``, ``maxiter`` or
        ``max_basis`` is out of range.

    Examples
    --------
    >>> import networkx as nx
    >>> L = nx.laplacian_matrix(nx.path_graph(4)).astype(float)
    >>> np.round(smallest_eigenvalues(L, 2).values, 6)
    array([0.      , 0.585786])
    >>> r = smallest_eigenvalues(L, 2, method="lanczos")
    >>> np.round(r.values, 6), r.converged
    (array([0.      , 0.585786]), True)
    """
    L = sp.csr_matrix(L, dtype=float)
    n = L.shape[0]
    owner = "smallest_eigenvalues"
    if not _is_int(k) or not 1 <= k <= n:
        raise invalid("k", owner, f"an int in [1, {n}] (the matrix size)", k)
    methods = ("auto", "dense", "lanczos", "eigsh-shift-invert", "lobpcg", "eigs-sr")
    if method not in methods:
        raise invalid("method", owner, f"one of {methods}", method)
    if not (isinstance(tol, (float, int)) and 0 < tol < 1):
        raise invalid("tol", owner, "a number in (0, 1)", tol)
    for name, value, lo in (("degree", degree, 1), ("block", block, 1), ("maxiter", maxiter, 1)):
        if not _is_int(value) or value < lo:
            raise invalid(name, owner, f"an int >= {lo}", value)
    if max_basis is not None and (not _is_int(max_basis) or max_basis < 2):
        raise invalid("max_basis", owner, "an int >= 2 or None", max_basis)
    if method == "auto":
        method = "dense" if n <= DENSE_LIMIT else "lanczos"
    if method == "lanczos" and k + 1 >= n // 2:
        method = "dense"
    if method == "dense":
        vals = np.linalg.eigvalsh(L.toarray())[:k]
        return EigenResult(vals, np.zeros(k), "dense")
    if method == "lanczos":
        with _one_torch_thread():
            return _lanczos(L, int(k), float(tol), seed, int(degree), int(block), int(maxiter),
                            max_basis, callback)
    import scipy.sparse.linalg as sla
    if method == "eigs-sr":
        vals = sla.eigs(L, k=k, which="SR", return_eigenvectors=False)
        return EigenResult(np.sort(vals.real), np.full(k, np.nan), method)
    if method == "eigsh-shift-invert":
        shift = -1e-3 * gershgorin_upper(L) / n
        vals = sla.eigsh(L.tocsc(), k=k, sigma=shift, which="LM",
                         return_eigenvectors=False)
        return EigenResult(np.sort(vals), np.full(k, np.nan), method)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, k + max(8, k // 2)))
    vals, vecs = sla.lobpcg(L, X, largest=False, tol=tol, maxiter=maxiter)
    order = np.argsort(vals)[:k]
    res = np.linalg.norm(L @ vecs[:, order] - vecs[:, order] * vals[order], axis=0)
    return EigenResult(vals[order], res, "lobpcg")


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)
