"""Compiled kernels for pairwise dissimilarities of annual maxima (numba).

Two pairwise dissimilarities of sites i, j with annual maxima M_i,t (t = 1..T, NaN = missing):

* RFA-madogram with the mean-ratio scale c = mean(M_j) / mean(M_i) (Le Gall et al., arXiv
  2111.00798). With Y_i = M_i / mean(M_i) and G_i the right-continuous ecdf (count <=) of the
  non-missing Y_i,

      D_ij = 1 / (2 T_ij) sum_t | G_j(Y_i,t) - G_i(Y_j,t) |,

  the sum running over the T_ij years where both sites are observed.
* F-madogram (Bernard et al. 2013), with F_i the ecdf of site i,

      d_ij = 1 / (2 T_ij) sum_t | F_i(M_i,t) - F_j(M_j,t) |.

Missing values (one rule for both): each site's mean and ecdf use all of its own non-missing
years; the average runs over the pairwise-complete years. This is what the authors' R code does
(``ecdf`` of each site's own values, ``mean(..., na.rm = TRUE)``).

The RFA-madogram crosses the ecdfs between the sites, so it is no L1 distance between fixed
per-site vectors. Each site is sorted once (:func:`prepare_rfa`); a pair then costs O(T): a
branch-free two-pointer merge of the two sorted columns, split at its median by a binary search
and run from both ends of each half (four independent dependency chains), writes the counts
straight into time order through per-site argsort arrays. Counts are integers, so the result is exact up to one final division.

Row loops fold the triangle (row p is paired with row n-1-p) so that each parallel iteration
does the same work. :func:`rfa_pair_naive` and :func:`rfa_matrix_naive` are the slow per-pair
``numpy.searchsorted`` references used by tests and benchmarks.
"""

from __future__ import annotations

from typing import NamedTuple, TypedDict

import numba
import numpy as np
from numba import prange


class _JitOptions(TypedDict):
    """Options of every kernel: cached on disk, GIL released, strict IEEE arithmetic."""

    cache: bool
    nogil: bool
    fastmath: bool


_JIT: _JitOptions = {"cache": True, "nogil": True, "fastmath": False}


class Prepared(NamedTuple):
    """Per-site arrays shared by all pairs (built once, read by every block).

    Attributes:
        srt: (n, T + 2) float64; row i = [-inf, sorted finite Y_i, +inf ...].
        order: (n, T + 2) int32; time index of each sorted value, T (a dummy slot) on the pads.
        rank: (n, T) int32; ecdf count of each year in its own site (0 where missing).
        nval: (n,) int64; number of non-missing years per site.
        finite: (n, T) uint8; 1 where observed.
        hasnan: (n,) uint8; 1 when the site has a missing year.
    """

    srt: np.ndarray
    order: np.ndarray
    rank: np.ndarray
    nval: np.ndarray
    finite: np.ndarray
    hasnan: np.ndarray


def prepare_rfa(maxima: np.ndarray, normalise: bool = True) -> Prepared:
    """Sort every site once and build the arrays the kernels read.

    Args:
        maxima: (T, n) float array, NaN for missing; validated by the caller (every site has
            at least one finite value and a positive mean when ``normalise``).
        normalise: Divide each site by its mean over its own non-missing years.

    Returns:
        The :class:`Prepared` arrays.
    """
    x = np.asarray(maxima, dtype=np.float64).T  # (n, T)
    n, T = x.shape
    fin = np.isfinite(x)
    nval = fin.sum(axis=1).astype(np.int64)
    if normalise:
        x = x / site_means(maxima)[:, None]
    filled = np.where(fin, x, np.inf)
    order_t = np.argsort(filled, axis=1, kind="stable")  # NaN years sort last
    srt = np.full((n, T + 2), np.inf)
    srt[:, 0] = -np.inf
    srt[:, 1 : T + 1] = np.take_along_axis(filled, order_t, axis=1)
    order = np.full((n, T + 2), T, dtype=np.int32)
    order[:, 1 : T + 1] = np.where(np.arange(T)[None, :] < nval[:, None], order_t, T)
    rank = _own_ecdf_counts(srt, order, nval, T)
    return Prepared(
        srt=srt,
        order=order,
        rank=rank,
        nval=nval,
        finite=fin.astype(np.uint8),
        hasnan=(nval < T).astype(np.uint8),
    )


def site_means(maxima: np.ndarray) -> np.ndarray:
    """Mean of each site over its own non-missing years, summed in time order.

    Every code path (kernel, scalar function, naive reference) divides by these exact values, so
    ties between normalised sites do not depend on the summation order.
    """
    x = np.asarray(maxima, dtype=np.float64)
    if x.ndim == 1:
        return np.array([x[np.isfinite(x)].mean()])
    return np.array([col[np.isfinite(col)].mean() for col in x.T])


@numba.njit(**_JIT)
def _own_ecdf_counts(srt: np.ndarray, order: np.ndarray, nval: np.ndarray, T: int) -> np.ndarray:
    """rank[i, t] = #{s : Y_i,s <= Y_i,t} (right-continuous ecdf count, ties share the max)."""
    n = srt.shape[0]
    rank = np.zeros((n, T), dtype=np.int32)
    for i in range(n):
        m = nval[i]
        a = m
        while a >= 1:
            b = a
            while b > 1 and srt[i, b - 1] == srt[i, a]:
                b -= 1
            for k in range(b, a + 1):
                rank[i, order[i, k]] = a
            a = b - 1
    return rank


@numba.njit(inline="always", **_JIT)
def _abs_sum(
    ta: np.ndarray,
    da: int,
    tb: np.ndarray,
    db: int,
    fi: np.ndarray,
    fj: np.ndarray,
    nan_pair: int,
    T: int,
) -> float:
    """sum_t |ta_t/da - tb_t/db| / (2 T_ij) over pairwise-complete years (integer sum)."""
    if not nan_pair and T <= 46_000:  # int32 sum (<= T^2 < 2^31): vectorises best
        s = np.int32(0)
        for t in range(T):
            s += abs(ta[t] - tb[t])
        return s / (2.0 * T * da)  # da == db == T here
    s64 = np.int64(0)
    m = 0
    for t in range(T):
        if fi[t] & fj[t]:
            s64 += abs(np.int64(ta[t]) * db - np.int64(tb[t]) * da)
            m += 1
    if m == 0:
        return np.nan
    return s64 / (2.0 * m * da * db)


@numba.njit(inline="always", **_JIT)
def _front(
    si: np.ndarray, oi: np.ndarray, sj: np.ndarray, oj: np.ndarray, ta: np.ndarray,
    tb: np.ndarray, tu: np.uint64, a: np.uint64, b: np.uint64,
) -> tuple[np.uint64, np.uint64, bool]:  # fmt: skip
    """Take the next merged element at heads (a, b); a j value goes first on ties (y <= x).

    The count of the element taken is written to its time slot, the other write goes to the
    dummy slot tu (arithmetic select: no branch; unsigned indices skip numba's negative-index
    wraparound code). Returns the new heads and whether the two heads were equal.
    """
    one = np.uint64(1)
    x = si[a]
    y = sj[b]
    tj = np.uint64(y <= x)
    oa = np.uint64(oi[a])
    ob = np.uint64(oj[b])
    ta[oa + tj * (tu - oa)] = np.int32(b - one)  # #{Y_j <= x}: the j values taken so far
    tb[tu + tj * (ob - tu)] = np.int32(a - one)  # #{Y_i < y} (ties: see _rfa_pair)
    return a + one - tj, b + tj, x == y


@numba.njit(inline="always", **_JIT)
def _back(
    si: np.ndarray, oi: np.ndarray, sj: np.ndarray, oj: np.ndarray, ta: np.ndarray,
    tb: np.ndarray, tu: np.uint64, a: np.uint64, b: np.uint64,
) -> tuple[np.uint64, np.uint64, bool]:  # fmt: skip
    """Take the last merged element at tails (a, b); the i value goes first on ties (x >= y)."""
    one = np.uint64(1)
    x = si[a]
    y = sj[b]
    ti = np.uint64(x >= y)
    oa = np.uint64(oi[a])
    ob = np.uint64(oj[b])
    ta[tu + ti * (oa - tu)] = np.int32(b)  # #{Y_j <= x}: the j values left
    tb[ob + ti * (tu - ob)] = np.int32(a)  # #{Y_i < y}
    return a - ti, b - (one - ti), x == y


@numba.njit(inline="always", **_JIT)
def _rfa_pair(
    si: np.ndarray,
    oi: np.ndarray,
    ni: int,
    sj: np.ndarray,
    oj: np.ndarray,
    nj: int,
    ta: np.ndarray,
    tb: np.ndarray,
    T: int,
) -> None:
    """Crossed counts of one pair: ta[t] = #{Y_j <= Y_i,t}, tb[t] = #{Y_i <= Y_j,t}.

    Merged order: sorted values, a j value before an equal i value. A binary search (merge
    path) splits the N = n_i + n_j merged elements into halves A and B; each half is merged from
    both ends at once, so four independent dependency chains run in one loop. Every tie between
    the sites is seen by some comparison (or by the check at the split); a tie triggers an
    exact branchy recount of tb, as the merge counts #{Y_i < y} there.
    """
    one = np.uint64(1)
    tu = np.uint64(T)
    n = ni + nj
    k = n // 2
    lo = max(0, k - nj)
    hi = min(k, ni)
    while lo < hi:  # smallest a with sj[k - a] <= si[a + 1]: first k merged = i[1..a], j[1..k-a]
        m = (lo + hi) // 2
        if sj[k - m] <= si[m + 1]:
            hi = m
        else:
            lo = m + 1
    am = np.uint64(lo)
    bm = np.uint64(k - lo)
    tie = sj[bm] == si[am + one]
    a1, b1 = one, one  # front of A
    a2, b2 = am, bm  # back of A
    a3, b3 = am + one, bm + one  # front of B
    a4, b4 = np.uint64(ni), np.uint64(nj)  # back of B
    m4 = k // 2
    for _ in range(m4):
        a1, b1, t1 = _front(si, oi, sj, oj, ta, tb, tu, a1, b1)
        a2, b2, t2 = _back(si, oi, sj, oj, ta, tb, tu, a2, b2)
        a3, b3, t3 = _front(si, oi, sj, oj, ta, tb, tu, a3, b3)
        a4, b4, t4 = _back(si, oi, sj, oj, ta, tb, tu, a4, b4)
        tie |= t1 | t2 | t3 | t4
    for _ in range(k - 2 * m4):
        a2, b2, t2 = _back(si, oi, sj, oj, ta, tb, tu, a2, b2)
        tie |= t2
    for _ in range((n - k) // 2 - m4):
        a3, b3, t3 = _front(si, oi, sj, oj, ta, tb, tu, a3, b3)
        tie |= t3
    for _ in range((n - k) - (n - k) // 2 - m4):
        a4, b4, t4 = _back(si, oi, sj, oj, ta, tb, tu, a4, b4)
        tie |= t4
    if tie:
        a = 1
        for b in range(1, nj + 1):
            y = sj[b]
            while si[a] <= y:
                a += 1
            tb[oj[b]] = a - 1


@numba.njit(inline="always", **_JIT)
def _fold(p: int, r0: int, r1: int) -> tuple[int, int]:
    """Rows of parallel iteration p: (r0 + p, r1 - 1 - p); the second is -1 if it is the same."""
    i1 = r0 + p
    i2 = r1 - 1 - p
    return i1, (i2 if i2 != i1 else -1)


def _rfa_rows(
    prep_srt: np.ndarray, order: np.ndarray, nval: np.ndarray, finite: np.ndarray,
    hasnan: np.ndarray, r0: int, r1: int, c0: int, c1: int, out: np.ndarray,
) -> None:  # fmt: skip
    """out[i - r0, j - c0] = D_ij for r0 <= i < r1, c0 <= j < c1, j > i (others untouched)."""
    T = finite.shape[1]
    for p in prange((r1 - r0 + 1) // 2):
        ta = np.empty(T + 1, dtype=np.int32)
        tb = np.empty(T + 1, dtype=np.int32)
        rows = _fold(p, r0, r1)
        for q in range(2):
            i = rows[q]
            if i < 0:
                continue
            si = prep_srt[i]
            oi = order[i]
            ni = nval[i]
            for j in range(max(c0, i + 1), c1):
                nj = nval[j]
                _rfa_pair(si, oi, ni, prep_srt[j], order[j], nj, ta, tb, T)
                out[i - r0, j - c0] = _abs_sum(
                    ta, nj, tb, ni, finite[i], finite[j], hasnan[i] | hasnan[j], T
                )


def _fmado_rows(
    rank: np.ndarray, nval: np.ndarray, finite: np.ndarray, hasnan: np.ndarray,
    r0: int, r1: int, c0: int, c1: int, out: np.ndarray,
) -> None:  # fmt: skip
    """F-madogram block; same contract as :func:`_rfa_rows`."""
    T = finite.shape[1]
    for p in prange((r1 - r0 + 1) // 2):
        rows = _fold(p, r0, r1)
        for q in range(2):
            i = rows[q]
            if i < 0:
                continue
            for j in range(max(c0, i + 1), c1):
                out[i - r0, j - c0] = _abs_sum(
                    rank[i], nval[i], rank[j], nval[j], finite[i], finite[j],
                    hasnan[i] | hasnan[j], T,
                )  # fmt: skip


# Parallel kernels for one machine; serial twins (same source) for dask workers, which already
# run one task per thread (nested parallelism would oversubscribe the cores, and numba's
# workqueue threading layer is not thread-safe).
rfa_rows = numba.njit(parallel=True, **_JIT)(_rfa_rows)
rfa_rows_serial = numba.njit(**_JIT)(_rfa_rows)
fmado_rows = numba.njit(parallel=True, **_JIT)(_fmado_rows)
fmado_rows_serial = numba.njit(**_JIT)(_fmado_rows)


def block(
    prep: Prepared, method: str, r0: int, r1: int, c0: int, c1: int, parallel: bool = True
) -> np.ndarray:
    """Upper-triangle part (j > i) of the block rows [r0, r1) x cols [c0, c1); zeros elsewhere."""
    out = np.zeros((r1 - r0, c1 - c0), dtype=np.float64)
    if method == "rfa-madogram":
        rfa = rfa_rows if parallel else rfa_rows_serial
        rfa(prep.srt, prep.order, prep.nval, prep.finite, prep.hasnan, r0, r1, c0, c1, out)
    elif method == "fmadogram":
        fmado = fmado_rows if parallel else fmado_rows_serial
        fmado(prep.rank, prep.nval, prep.finite, prep.hasnan, r0, r1, c0, c1, out)
    else:  # pragma: no cover - guarded by the public API
        raise ValueError(method)
    return out


# ---------------------------------------------------------------------------------------------
# Naive references (numpy searchsorted per pair): tests and the benchmark baseline.


def cross_ecdf_d(
    xs: np.ndarray, ys: np.ndarray, xc: np.ndarray, yc: np.ndarray, c: np.ndarray | float
) -> np.ndarray:
    """D_c = 1/(2 T) sum_t |F2(c x_t) - F1(y_t / c)| for every scale in ``c`` (searchsorted).

    Args:
        xs: Sorted non-missing values of site 1 (defines F1).
        ys: Sorted non-missing values of site 2 (defines F2).
        xc: Site-1 values of the pairwise-complete years.
        yc: Site-2 values of the same years.
        c: (m,) positive scales, or one scale.

    Returns:
        (m,) values of D_c.
    """
    scales = np.atleast_1d(np.asarray(c, dtype=np.float64))
    out = np.empty(scales.size)
    step = max(1, 2_000_000 // max(xc.size, 1))  # bound the (m, T) temporaries
    for k in range(0, scales.size, step):
        ck = scales[k : k + step, None]
        f2 = np.searchsorted(ys, ck * xc[None, :], side="right") / ys.size
        f1 = np.searchsorted(xs, yc[None, :] / ck, side="right") / xs.size
        out[k : k + step] = 0.5 * np.mean(np.abs(f2 - f1), axis=1)
    return out


def rfa_pair_naive(x: np.ndarray, y: np.ndarray, c: float | None = None) -> float:
    """D_c of one pair by ``numpy.searchsorted`` (the straightforward per-pair ecdf).

    With ``c=None`` the mean-ratio rule: both series divided by their own means
    (:func:`site_means`), then c = 1.

    Args:
        x: (T,) maxima of site 1 (NaN = missing).
        y: (T,) maxima of site 2.
        c: Fixed positive scale, or None for the mean ratio.

    Returns:
        1/(2 T_xy) sum_t |F2(c x_t) - F1(y_t / c)| over pairwise-complete years.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    fx = np.isfinite(x)
    fy = np.isfinite(y)
    if c is None:
        x = x / x[fx].mean()
        y = y / y[fy].mean()
        c = 1.0
    both = fx & fy
    return float(cross_ecdf_d(np.sort(x[fx]), np.sort(y[fy]), x[both], y[both], c)[0])


def rfa_matrix_naive(maxima: np.ndarray, pairs: np.ndarray | None = None) -> np.ndarray:
    """Mean-ratio RFA-madogram by :func:`rfa_pair_naive`, for all pairs or the (m, 2) ``pairs``.

    Returns:
        The (n, n) matrix when ``pairs`` is None, else the (m,) values of the given pairs.
    """
    x = np.asarray(maxima, dtype=np.float64)
    if pairs is not None:
        return np.array([rfa_pair_naive(x[:, i], x[:, j]) for i, j in pairs])
    n = x.shape[1]
    d = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            d[i, j] = d[j, i] = rfa_pair_naive(x[:, i], x[:, j])
    return d
