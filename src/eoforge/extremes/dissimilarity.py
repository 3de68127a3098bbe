"""Pairwise dissimilarities of annual maxima: RFA-madogram, F-madogram, PWM ratio.

RFA-madogram (Le Gall et al., arXiv 2111.00798). For sites with annual maxima X1 ~ F1, X2 ~ F2
and a scale factor c > 0,

    D_c(X1, X2) = 1/2 E | F2(c X1) - F1(X2 / c) |,   0 <= D_c <= 1/2.

D_c = 0 iff X2 has the law of c X1 (the RFA / index-flood hypothesis) and the pair is completely
dependent. Under RFA with the right c it equals the F-madogram (theta - 1) / (2 (theta + 1)),
theta the pair's extremal coefficient; a wrong c or unequal shapes push it towards 1/2.

Estimator: F1, F2 are right-continuous ecdfs (count <=) of each site's own non-missing years and
the expectation is the mean over the pairwise-complete years. With c = mean(X2) / mean(X1) (the
index-flood choice, default) both sites are divided by their own means (over their own
non-missing years) and c = 1.

F-madogram (Bernard et al. 2013): d_ij = 1/(2T) sum_t |F_i(M_i,t) - F_j(M_j,t)|, same missing-value
rule. PWM ratio: d_ij = |omega_i - omega_j| with omega = (3 b2 - b0) / (2 b1 - b0)
(:mod:`eoforge.extremes.pwm`), a margins-only dissimilarity.

Matrices are computed by row blocks with the compiled kernels of :mod:`._kernels` (upper
triangle only, mirrored), into memory, into a user array or ``numpy.memmap``, or straight to a
``.npy`` file (:func:`dissimilarity_matrix_to_disk`) in bounded memory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes import _kernels
from eoforge.extremes.pwm import pwm_ratio

METHODS = ("rfa-madogram", "fmadogram", "pwm-ratio")
Progress = Callable[[int, int], None]

# ---------------------------------------------------------------------------------------------
# Validation


def _as_maxima(maxima: np.ndarray) -> np.ndarray:
    x = np.asarray(maxima)
    if x.ndim != 2:
        raise ShapeError(
            f"maxima must be 2-D (n_years, n_sites), got shape {x.shape}; "
            "for one site use x[:, None], for a (lat, lon) grid reshape to (n_years, n_lat*n_lon)."
        )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ShapeError(f"maxima has shape {x.shape}: need at least one year and one site.")
    if not np.issubdtype(x.dtype, np.number) or np.iscomplexobj(x):
        raise bad_value("maxima.dtype", x.dtype, "a real numeric dtype")
    return x.astype(np.float64, copy=False)


def _site_problems(x: np.ndarray, min_years: int, allow_negative: bool) -> dict[str, np.ndarray]:
    """Indices of unusable sites by reason (x: (T, n) float64)."""
    fin = np.isfinite(x)
    nval = fin.sum(axis=0)
    with np.errstate(invalid="ignore"):
        lo = np.where(fin, x, np.inf).min(axis=0)
        hi = np.where(fin, x, -np.inf).max(axis=0)
    problems = {
        "contain +/-inf": np.flatnonzero(np.isinf(x).any(axis=0)),
        "are all missing": np.flatnonzero(nval == 0),
        f"have fewer than {min_years} non-missing years": np.flatnonzero(
            (nval > 0) & (nval < min_years)
        ),
        "are constant (all non-missing values equal)": np.flatnonzero((nval > 0) & (lo == hi)),
    }
    if not allow_negative:
        problems["have negative values (maxima of precipitation must be >= 0)"] = np.flatnonzero(
            (nval > 0) & (lo < 0)
        )
    return {k: v for k, v in problems.items() if v.size}


def _fmt_sites(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    return f"[{shown}{', ...' if idx.size > limit else ''}] ({idx.size} sites)"


def validate_maxima(
    maxima: np.ndarray, min_years: int = 10, *, allow_negative: bool = False
) -> np.ndarray:
    """Mask of the usable sites of a (n_years, n_sites) array of annual maxima.

    A site is unusable when it contains +/-inf, is all missing, has fewer than ``min_years``
    non-missing years, is constant, or (unless ``allow_negative``) has a negative value.
    Use it to drop bad sites before :func:`dissimilarity_matrix`, which raises on them:
    ``keep = validate_maxima(maxima); d = dissimilarity_matrix(maxima[:, keep])``.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing years.
        min_years: Least number of non-missing years a site needs.
        allow_negative: Accept negative values (ranks-only methods do not need them >= 0).

    Returns:
        (n_sites,) boolean array, True for usable sites.

    Raises:
        ShapeError: If ``maxima`` is not 2-D or is empty.
    """
    x = _as_maxima(maxima)
    mask = np.ones(x.shape[1], dtype=bool)
    for idx in _site_problems(x, int(min_years), allow_negative).values():
        mask[idx] = False
    return mask


def _check_common_years(fin: np.ndarray, min_common: int, chunk: int = 1024) -> None:
    """Raise if a pair of sites shares fewer than ``min_common`` non-missing years.

    A pair with n_i + n_j - T >= min_common is safe (inclusion-exclusion), so only rows with
    n_i < (T + min_common) / 2 are checked, by a blocked product of the 0/1 masks.
    """
    T = fin.shape[0]
    nval = fin.sum(axis=0)
    risky = np.flatnonzero(nval < (T + min_common) / 2)
    if risky.size == 0:
        return
    f = fin.astype(np.float32)
    bad: list[tuple[int, int]] = []
    involved = np.zeros(fin.shape[1], dtype=np.int64)
    for k in range(0, risky.size, chunk):
        rows = risky[k : k + chunk]
        common = f[:, rows].T @ f  # (rows, n)
        common[np.arange(rows.size), rows] = np.inf
        ii, jj = np.nonzero(common < min_common)
        keep = (jj > rows[ii]) | ~np.isin(jj, risky)  # count each pair once
        ii, jj = rows[ii[keep]], jj[keep]
        np.add.at(involved, ii, 1)
        np.add.at(involved, jj, 1)
        bad.extend(zip(ii[: 10 - len(bad)].tolist(), jj[: 10 - len(bad)].tolist(), strict=True))
    count = int(involved.sum()) // 2
    if count:
        pairs = ", ".join(f"({min(i, j)}, {max(i, j)})" for i, j in bad)
        drop = np.flatnonzero(involved == involved.max())
        raise InputError(
            f"{count} pairs of sites share fewer than min_common_years={min_common} "
            f"non-missing years: {pairs}{', ...' if count > 10 else ''}. Drop or mask sites "
            f"{_fmt_sites(drop)} (the most involved) or lower min_common_years."
        )


def check_maxima(maxima: np.ndarray, method: str, min_common_years: int) -> np.ndarray:
    """Validate a maxima array for ``method``; return it as float64 (T, n).

    Raises:
        InputError: Unknown method, unusable sites (named, with the fix), a pair of sites with
            fewer than ``min_common_years`` common non-missing years.
        ShapeError: If ``maxima`` is not a non-empty 2-D array.
    """
    if method not in METHODS:
        raise bad_value("method", method, f"one of {METHODS}")
    min_common_years = int(min_common_years)
    if min_common_years < 3:
        raise bad_value("min_common_years", min_common_years, "an integer >= 3")
    x = _as_maxima(maxima)
    if x.shape[0] < min_common_years:
        raise InputError(
            f"maxima has only {x.shape[0]} years (rows) but min_common_years={min_common_years}; "
            "pass a longer record, or lower min_common_years (estimates get noisy below ~20 years)."
        )
    problems = _site_problems(x, min_common_years, allow_negative=method == "fmadogram")
    if problems:
        lines = "; ".join(f"sites {_fmt_sites(v)} {k}" for k, v in problems.items())
        raise InputError(
            f"maxima has unusable sites for method={method!r}: {lines}. Drop or mask them, e.g. "
            f"keep = validate_maxima(maxima, min_years={min_common_years}); use maxima[:, keep]."
        )
    fin = np.isfinite(x)
    if not fin.all():
        _check_common_years(fin, min_common_years)
    return x


# ---------------------------------------------------------------------------------------------
# One pair


def _check_pair(x: np.ndarray, y: np.ndarray, min_common_years: int) -> tuple[np.ndarray, ...]:
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ShapeError(
            f"x and y must be 1-D series of the same years, got shapes {x.shape} and {y.shape}."
        )
    check_maxima(np.stack([x, y], axis=1), "rfa-madogram", min_common_years)
    return x, y


def _min_over_scale(
    xs: np.ndarray,
    ys: np.ndarray,
    xc: np.ndarray,
    yc: np.ndarray,
    c0: float,
    c_range: float,
    n_grid: int,
    max_exact: int = 20_000,
    n_refine: int = 8,
) -> tuple[float, float]:
    """min_c D_c: log grid on [c0 / c_range, c0 * c_range], then refine near the best nodes.

    D_c is piecewise constant in c, jumping only at ratios y_s / x_t. Within the bracket of a
    grid node (its two neighbours) the refinement evaluates D at the geometric midpoint of
    every piece when the bracket holds <= ``max_exact`` breakpoints (exact minimum over the
    bracket's open pieces), else zooms four times with a 65-point log grid (relative resolution
    (bracket ratio)^(1/64^4)). The brackets refined are those of the (at most ``n_refine``)
    nodes whose value is within one ecdf step 1/T of the best node; a narrow dip elsewhere can
    be missed (on 200 random pairs with T = 30 the result equalled the brute-force minimum over
    all T^2 breakpoints every time; see tests).
    """
    grid = c0 * np.exp(np.linspace(-np.log(c_range), np.log(c_range), n_grid))
    dg = _kernels.cross_ecdf_d(xs, ys, xc, yc, grid)
    k_best = int(np.argmin(dg))
    best_d, best_c = float(dg[k_best]), float(grid[k_best])
    xpos, ypos = xc[xc > 0], yc[yc > 0]
    near = np.flatnonzero(dg <= best_d + 1.0 / max(xc.size, 1))  # within one ecdf step
    for k in near[np.argsort(dg[near], kind="stable")][:n_refine]:
        lo, hi = grid[max(k - 1, 0)], grid[min(k + 1, n_grid - 1)]
        # count the breakpoints y_s / x_t and y_t / x_s inside [lo, hi]
        a1 = np.searchsorted(ys, lo * xpos, "left")
        b1 = np.searchsorted(ys, hi * xpos, "right")
        a2 = np.searchsorted(xs, ypos / hi, "left")
        b2 = np.searchsorted(xs, ypos / lo, "right")
        if (b1 - a1).sum() + (b2 - a2).sum() <= max_exact:
            parts = [ys[a:b] / v for a, b, v in zip(a1, b1, xpos, strict=True)]
            parts += [v / xs[a:b] for a, b, v in zip(a2, b2, ypos, strict=True)]
            br = np.unique(np.concatenate([[lo, hi], *parts]))
            br = br[(br >= lo) & (br <= hi)]
            cand = np.sqrt(br[:-1] * br[1:])
        else:
            cand = np.empty(0)
            for _ in range(4):
                fine = np.exp(np.linspace(np.log(lo), np.log(hi), 65))
                df = _kernels.cross_ecdf_d(xs, ys, xc, yc, fine)
                m = int(np.argmin(df))
                lo, hi = fine[max(m - 1, 0)], fine[min(m + 1, 64)]
                cand = np.concatenate([cand, fine])
        if cand.size:
            dc = _kernels.cross_ecdf_d(xs, ys, xc, yc, cand)
            m = int(np.argmin(dc))
            if dc[m] < best_d:
                best_d, best_c = float(dc[m]), float(cand[m])
    return best_d, best_c


def rfa_madogram(
    x: np.ndarray,
    y: np.ndarray,
    scale: str | float = "mean_ratio",
    *,
    return_scale: bool = False,
    min_common_years: int = 10,
    c_range: float = 10.0,
    n_grid: int = 81,
) -> float | tuple[float, float]:
    """RFA-madogram D_c = 1/2 E|F2(c X1) - F1(X2 / c)| of two series of annual maxima.

    Estimator: D_c = 1/(2 T_xy) sum_t |F2(c x_t) - F1(y_t / c)| over the T_xy pairwise-complete
    years, F1, F2 the right-continuous ecdfs of each series' own non-missing values.

    Args:
        x: (T,) annual maxima of site 1 (>= 0, NaN = missing).
        y: (T,) annual maxima of site 2, same years.
        scale: ``"mean_ratio"`` (c = mean(y) / mean(x), each mean over its own non-missing
            years), a positive float (fixed c), or ``"min"`` (c minimising D_c on a log grid of
            ``n_grid`` nodes over [c0 / c_range, c0 * c_range], c0 the mean ratio, refined
            exactly between breakpoints near the best nodes; see ``_min_over_scale``). The
            minimum is over the open pieces of the piecewise-constant D_c (plus the mean-ratio
            value): for y = a x exactly it is the mean-ratio value (<= 1/(2T)), not the 0 of
            the isolated point c = a.
        return_scale: Also return c.
        min_common_years: Least number of pairwise-complete years.
        c_range: Half-width (as a factor) of the search interval for ``scale="min"``.
        n_grid: Number of coarse grid nodes for ``scale="min"``.

    Returns:
        D in [0, 1/2], or (D, c) when ``return_scale``.

    Raises:
        InputError: Bad scale, negative or constant series, too few common years.
        ShapeError: If x and y are not 1-D of the same length.
    """
    x, y = _check_pair(x, y, min_common_years)
    fx, fy = np.isfinite(x), np.isfinite(y)
    mx, my = x[fx].mean(), y[fy].mean()  # == _kernels.site_means
    both = fx & fy
    if isinstance(scale, str):
        if scale == "mean_ratio":
            d, c = _kernels.rfa_pair_naive(x, y), my / mx
        elif scale == "min":
            if not (np.isfinite(c_range) and c_range > 1):
                raise bad_value("c_range", c_range, "a finite float > 1")
            if int(n_grid) < 3:
                raise bad_value("n_grid", n_grid, "an integer >= 3")
            d, c = _min_over_scale(
                np.sort(x[fx]), np.sort(y[fy]), x[both], y[both], my / mx, c_range, int(n_grid)
            )
            d_mean = _kernels.rfa_pair_naive(x, y)  # never above the mean-ratio value
            if d_mean <= d:
                d, c = d_mean, my / mx
        else:
            raise bad_value("scale", scale, "'mean_ratio', 'min' or a positive float")
    else:
        c = float(scale)
        if not (np.isfinite(c) and c > 0):
            raise bad_value("scale", scale, "'mean_ratio', 'min' or a positive float")
        d = _kernels.rfa_pair_naive(x, y, c)
    return (float(d), float(c)) if return_scale else float(d)


# ---------------------------------------------------------------------------------------------
# Matrices


def prepare_sites(x: np.ndarray, method: str) -> _kernels.Prepared | np.ndarray:
    """Per-site arrays of a validated (T, n) array: sorted columns (madograms) or omega (PWM)."""
    if method == "pwm-ratio":
        return np.array([pwm_ratio(col) for col in x.T])
    return _kernels.prepare_rfa(x, normalise=method == "rfa-madogram")


def upper_block(
    prep: _kernels.Prepared | np.ndarray,
    method: str,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    parallel: bool = True,
) -> np.ndarray:
    """Block rows [r0, r1) x cols [c0, c1) of the matrix, entries with j <= i set to 0."""
    if method == "pwm-ratio":
        om = np.asarray(prep)
        blk = np.abs(om[r0:r1, None] - om[None, c0:c1])
        blk[np.arange(r0, r1)[:, None] >= np.arange(c0, c1)[None, :]] = 0.0
        return blk
    return _kernels.block(prep, method, r0, r1, c0, c1, parallel=parallel)


def _row_blocks(
    x: np.ndarray, method: str, block_size: int, progress: Progress | None
):  # -> Iterator[tuple[int, np.ndarray]]
    """Yield (r0, block) with block = D[r0:r1, r0:] fully symmetric on its diagonal tile."""
    block_size = int(block_size)
    if block_size < 1:
        raise bad_value("block_size", block_size, "a positive integer")
    n = x.shape[1]
    prep = prepare_sites(x, method)
    starts = list(range(0, n, block_size))
    for k, r0 in enumerate(starts):
        r1 = min(r0 + block_size, n)
        blk = upper_block(prep, method, r0, r1, r0, n)
        tile = blk[:, : r1 - r0]
        tile += tile.T
        yield r0, blk
        if progress is not None:
            progress(k + 1, len(starts))


def check_dtype(dtype: object) -> np.dtype:
    """The output dtype, float32 or float64, else an InputError."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise bad_value("dtype", dtype, "numpy.float32 or numpy.float64")
    return dt


def dissimilarity_matrix(
    maxima: np.ndarray,
    method: str = "rfa-madogram",
    *,
    block_size: int = 256,
    dtype: type | np.dtype = np.float64,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
    min_common_years: int = 10,
) -> np.ndarray:
    """Symmetric (n_sites, n_sites) dissimilarity matrix of annual maxima, zero diagonal.

    Methods (T_ij pairwise-complete years, ecdfs from each site's own non-missing years):

    * ``"rfa-madogram"``: D_ij = 1/(2 T_ij) sum_t |G_j(Y_i,t) - G_i(Y_j,t)|, Y = M / mean(M)
      (mean-ratio scale c).
    * ``"fmadogram"``: d_ij = 1/(2 T_ij) sum_t |F_i(M_i,t) - F_j(M_j,t)| (Bernard et al. 2013).
    * ``"pwm-ratio"``: |omega_i - omega_j| (Le Gall et al. 2022).

    Row blocks of ``block_size`` sites are computed in parallel (numba, all threads of
    ``numba.get_num_threads()``); only the upper triangle is computed, then mirrored.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing.
        method: One of ``METHODS``.
        block_size: Rows per block (memory ~ block_size * n_sites * 8 bytes).
        dtype: float32 or float64 output.
        out: Optional (n_sites, n_sites) array or ``numpy.memmap`` to fill (its dtype wins).
        progress: Optional callback ``progress(done_blocks, total_blocks)``.
        min_common_years: Least number of non-missing years per site and per pair.

    Returns:
        The matrix (``out`` when given).

    Raises:
        InputError: Unknown method, unusable sites (named, with the fix), too few common years.
        ShapeError: Bad ``maxima`` or ``out`` shape.
    """
    x = check_maxima(maxima, method, min_common_years)
    n = x.shape[1]
    if out is None:
        out = np.empty((n, n), dtype=check_dtype(dtype))
    elif out.shape != (n, n):
        raise ShapeError(f"out has shape {out.shape}, expected ({n}, {n}) for {n} sites.")
    for r0, blk in _row_blocks(x, method, block_size, progress):
        r1 = r0 + blk.shape[0]
        out[r0:r1, r0:] = blk
        out[r0:, r0:r1] = blk.T
    return out


def dissimilarity_matrix_to_disk(
    maxima: np.ndarray,
    path: str | os.PathLike,
    method: str = "rfa-madogram",
    *,
    block_size: int = 256,
    dtype: type | np.dtype = np.float32,
    progress: Progress | None = None,
    min_common_years: int = 10,
) -> Path:
    """Write the matrix of :func:`dissimilarity_matrix` to a ``.npy`` file in bounded memory.

    Rows are written with ``os.pwrite`` (no memory map, so the resident memory stays at about
    one block, ``block_size * n_sites * 8`` bytes, whatever n). The file appears atomically:
    a temporary file in the same folder is renamed (``os.replace``) once complete. Read it back
    with ``numpy.load(path, mmap_mode="r")``. n = 20,000 in float32 takes 1.6 GB on disk.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing.
        path: Destination ``.npy`` file.
        method: One of ``METHODS``.
        block_size: Rows per block.
        dtype: float32 (default) or float64.
        progress: Optional callback ``progress(done_blocks, total_blocks)``.
        min_common_years: Least number of non-missing years per site and per pair.

    Returns:
        The path written.
    """
    x = check_maxima(maxima, method, min_common_years)
    dt = check_dtype(dtype)
    path = Path(path)
    n = x.shape[1]
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dt, shape=(n, n))
        offset, isz = mm.offset, dt.itemsize
        del mm  # header written, data never touched (sparse file, no resident pages)
        with open(tmp, "r+b") as f:
            fno = f.fileno()
            for r0, blk in _row_blocks(x, method, block_size, progress):
                b = blk.astype(dt)
                r1 = r0 + b.shape[0]
                for r in range(r0, r1):  # full rows [r0, n) of the block's own rows
                    os.pwrite(fno, b[r - r0].tobytes(), offset + (r * n + r0) * isz)
                bt = np.ascontiguousarray(b.T)
                for r in range(r1, n):  # mirrored part: D[r, r0:r1] = D[r0:r1, r]
                    os.pwrite(fno, bt[r - r0].tobytes(), offset + (r * n + r0) * isz)
            f.flush()
            os.fsync(fno)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
