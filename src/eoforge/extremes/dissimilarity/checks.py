"""Input checks for the dissimilarities of annual maxima: usable sites, common years, dtypes.

:func:`validate_maxima` (public) masks the unusable sites of a (n_years, n_sites) array;
:func:`check_maxima` raises on them, naming the sites and the fix, and on pairs of sites with
too few common non-missing years (:func:`comparable_sites` masks sites until none is left),
before any matrix is computed by :mod:`.matrix` (in memory), :mod:`.disk` (``.npy`` file) or
:mod:`.distributed` (dask). :func:`check_dtype` checks the output dtype of those drivers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import DTypeLike

from eoforge.core.errors import InputError, ShapeError, bad_value

METHODS = ("rfa-madogram", "fmadogram", "pwm-ratio")


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


def site_value_summary(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per site of ``x`` (T, n): number of finite values, finite minimum and maximum.

    A site without finite values gets minimum +inf and maximum -inf.
    """
    fin = np.isfinite(x)
    with np.errstate(invalid="ignore"):
        lo = np.where(fin, x, np.inf).min(axis=0)
        hi = np.where(fin, x, -np.inf).max(axis=0)
    return fin.sum(axis=0), lo, hi


def _site_problems(x: np.ndarray, min_years: int, allow_negative: bool) -> dict[str, np.ndarray]:
    """Indices of unusable sites by reason (x: (T, n) float64)."""
    nval, lo, hi = site_value_summary(x)
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


def _short_pairs(fin: np.ndarray, min_common: int, chunk: int = 1024) -> np.ndarray:
    """(m, 2) pairs ``i < j`` of sites sharing fewer than ``min_common`` non-missing years.

    A pair with n_i + n_j - T >= min_common is safe (inclusion-exclusion), so only rows with
    n_i < (T + min_common) / 2 are checked, by a blocked product of the 0/1 masks.
    """
    T = fin.shape[0]
    nval = fin.sum(axis=0)
    risky = np.flatnonzero(nval < (T + min_common) / 2)
    if risky.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    f = fin.astype(np.float32)
    pairs = []
    for k in range(0, risky.size, chunk):
        rows = risky[k : k + chunk]
        common = f[:, rows].T @ f  # (rows, n)
        common[np.arange(rows.size), rows] = np.inf
        ii, jj = np.nonzero(common < min_common)
        keep = (jj > rows[ii]) | ~np.isin(jj, risky)  # count each pair once
        ii, jj = rows[ii[keep]], jj[keep]
        pairs.append(np.stack([np.minimum(ii, jj), np.maximum(ii, jj)], axis=1))
    return np.concatenate(pairs).astype(np.int64)


def _check_common_years(fin: np.ndarray, min_common: int) -> None:
    """Raise if a pair of sites shares fewer than ``min_common`` non-missing years."""
    bad = _short_pairs(fin, min_common)
    if len(bad):
        involved = np.bincount(bad.ravel(), minlength=fin.shape[1])
        shown = ", ".join(f"({i}, {j})" for i, j in bad[:10].tolist())
        drop = np.flatnonzero(involved == involved.max())
        raise InputError(
            f"{len(bad)} pairs of sites share fewer than min_common_years={min_common} "
            f"non-missing years: {shown}{', ...' if len(bad) > 10 else ''}. Drop or mask sites "
            f"{_fmt_sites(drop)} (the most involved) or lower min_common_years."
        )


def comparable_sites(maxima: np.ndarray, min_common_years: int) -> np.ndarray:
    """Mask of sites kept so that every kept pair shares ``min_common_years`` non-missing years.

    Rule (greedy, deterministic): while some pair of kept sites shares fewer common years, drop
    the site in the most such pairs (ties: the one with fewer non-missing years, then the lowest
    index). Station records that cover different periods are the usual cause.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing years (already restricted to
            the usable sites: see :func:`validate_maxima`).
        min_common_years: Least number of years every kept pair must share (>= 3).

    Returns:
        (n_sites,) boolean array, True for the sites kept.
    """
    x = _as_maxima(maxima)
    fin = np.isfinite(x)
    keep = np.ones(x.shape[1], dtype=bool)
    bad = _short_pairs(fin, int(min_common_years))
    if len(bad) == 0:
        return keep
    n = x.shape[1]
    degree = np.bincount(bad.ravel(), minlength=n).astype(np.int64)
    # adjacency in CSR form: the neighbours of site v are nbr[start[v]:start[v + 1]]
    ends = np.concatenate([bad, bad[:, ::-1]])
    ends = ends[np.argsort(ends[:, 0], kind="stable")]
    start = np.searchsorted(ends[:, 0], np.arange(n + 1))
    nbr = ends[:, 1]
    # order of preference for dropping: more bad pairs, then fewer years, then lower index
    tiebreak = fin.sum(axis=0) / (fin.shape[0] + 1.0)
    while degree.max() > 0:
        score = np.where(degree > 0, degree - tiebreak, -np.inf)
        v = int(np.argmax(score))
        keep[v] = False
        others = nbr[start[v] : start[v + 1]]
        others = others[keep[others]]
        degree[others] -= 1
        degree[v] = 0
    return keep


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


def output_matrix(out: np.ndarray | None, n: int, dtype: DTypeLike) -> np.ndarray:
    """The (n, n) output of a driver: ``out`` when given (its shape checked), else a new array."""
    if out is None:
        return np.empty((n, n), dtype=check_dtype(dtype))
    if out.shape != (n, n):
        raise ShapeError(f"out has shape {out.shape}, expected ({n}, {n}) for {n} sites.")
    return out


def check_dtype(dtype: DTypeLike) -> np.dtype:
    """The output dtype, float32 or float64, else an InputError."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise bad_value("dtype", dtype, "numpy.float32 or numpy.float64")
    return dt
