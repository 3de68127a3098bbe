"""Batched robust statistics of the detector features: masked medians and the trimmed band scale.

``masked_median(x, mask)`` is NumPy's median of x[mask] per row (the mean of the two middle values
for an even count).

``fit_band_scale`` is the trimmed least-squares scale of :func:`eoforge.methane.retrievals.
fit_band_scale` (Varon et al. 2021), per row b of (B, N):

    c = sum_S num den / sum_S den^2,  S <- {|r - med_S r| <= 3 * 1.4826 MAD_S(r)},
    r = (c den - num) / num = c q - 1,  q = den / num,

repeated 5 times (a row stops when S no longer changes or keeps fewer than 10 pixels; on the
CPU the passes end once every row has stopped, which changes no result). Because
r is an increasing function of q (c > 0 for positive reflectances), every trimmed set S is a
contiguous range [a, b) of the pixels sorted by q. So one sort per row replaces the two
selections per pass: the median is read at the middle of the range, the k-th smallest deviation
|r_j - med| is the largest deviation of the k + 1 points nearest the median, a contiguous window
found by bisection, and the sums come from prefix sums. The result equals the per-pass
recomputation up to float rounding (1e-15 relative), with no host synchronisation.
"""

from __future__ import annotations

import math

import numpy as np
import torch

MAD_TO_SIGMA = 1.4826


def masked_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """NumPy median of ``x[mask]`` along the last dimension (NaN where no value is selected).

    ``x`` must be finite where ``mask`` is set. On the CPU each row is NumPy's own median of its
    selected values (introselect on the compacted row, faster than torch's CPU kernels);
    elsewhere one batched selection per row (:func:`masked_median_torch`).
    """
    if x.device.type != "cpu":
        return masked_median_torch(x, mask)
    xs = x.detach().reshape(-1, x.shape[-1]).numpy()
    ms = mask.reshape(-1, mask.shape[-1]).numpy()
    full = ms.all(-1)
    out = np.empty(len(xs), dtype=xs.dtype)
    if full.any():  # rows without masked values: one call, no compaction
        out[full] = np.median(xs[full], axis=-1)
    for i in np.flatnonzero(~full):
        out[i] = np.median(xs[i][ms[i]]) if ms[i].any() else np.nan
    return torch.from_numpy(out).reshape(x.shape[:-1])


def masked_median_torch(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """:func:`masked_median` in batched torch, one selection per row.

    The lower middle value comes from a selection (masked values as NaN), the upper one is the
    smallest value above it (or itself when tied).
    """
    lo = torch.nanmedian(torch.where(mask, x, torch.nan), dim=-1).values  # rank (n - 1) // 2
    n = mask.sum(-1)
    ties = (mask & (x <= lo[..., None])).sum(-1) >= (n - 1) // 2 + 2
    above = torch.where(mask & (x > lo[..., None]), x, torch.inf).amin(-1)
    hi = torch.where((n % 2 == 1) | ties, lo, above)
    return 0.5 * (lo + hi)


def _sort_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows sorted ascending and the sorting indices.

    NumPy's SIMD argsort on the CPU (about twice as fast as torch's there), torch.sort elsewhere.
    """
    if x.device.type != "cpu":
        return torch.sort(x, dim=1)
    order = torch.from_numpy(np.argsort(x.numpy(), axis=1))
    return x.gather(1, order), order


def _at(r: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    """r[b, i[b]] for each row b (indices clamped into the row)."""
    return r.gather(1, i.clamp(0, r.shape[1] - 1)[:, None])[:, 0]


def _kth_deviation(
    r: torch.Tensor, a: torch.Tensor, b: torch.Tensor, med: torch.Tensor, k: torch.Tensor
) -> torch.Tensor:
    """k-th smallest (0-based) |r_j - med| over j in [a, b) of rows sorted ascending, (B,)."""
    size = k + 1  # the size + 1 nearest points form a window [lo, lo + size) of the sorted row
    lo, hi = a.clone(), b - size
    for _ in range(math.ceil(math.log2(r.shape[1] + 1)) + 1):
        going = lo < hi
        mid = (lo + hi) // 2
        right = (med - _at(r, mid)) > (_at(r, mid + size) - med)
        lo = torch.where(going & right, mid + 1, lo)
        hi = torch.where(going & ~right, mid, hi)
    return torch.maximum(med - _at(r, lo), _at(r, lo + size - 1) - med)


def fit_band_scale(
    num: torch.Tensor, den: torch.Tensor, keep: torch.Tensor, n_iter: int = 5, clip: float = 3.0
) -> torch.Tensor:
    """Robust least-squares scale c of c den ~ num per row of (B, N) (module docstring).

    Args:
        num: (B, N) the band to match (R11).
        den: (B, N) the band scaled (R12).
        keep: (B, N) bool, pixels allowed in the fit (valid, positive).
        n_iter: Trimming passes.
        clip: Trimming threshold in robust standard deviations.

    Returns:
        (B,) c in float64.
    """
    num, den = num.to(torch.float64), den.to(torch.float64)
    q, order = _sort_rows(torch.where(keep, den / num, torch.inf))  # (B, N), kept pixels first
    nd = torch.where(keep, num * den, 0.0).gather(1, order)
    dd = torch.where(keep, den * den, 0.0).gather(1, order)
    zero = torch.zeros_like(nd[:, :1])
    p_nd = torch.cat([zero, nd.cumsum(1)], 1)  # (B, N + 1) prefix sums
    p_dd = torch.cat([zero, dd.cumsum(1)], 1)

    def scale(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (_at(p_nd, b) - _at(p_nd, a)) / (_at(p_dd, b) - _at(p_dd, a))

    n_keep = keep.sum(1)
    a, b = torch.zeros_like(n_keep), n_keep
    c = scale(a, b)
    active = torch.ones_like(keep[:, 0])
    inside = torch.arange(q.shape[1], device=q.device)[None, :] < n_keep[:, None]
    for _ in range(n_iter):
        if q.device.type == "cpu" and not bool(active.any()):
            break  # every row has stopped (checked on the CPU only: on a GPU it would sync)
        r = c[:, None] * q - 1.0  # sorted ascending like q
        n = b - a
        med = 0.5 * (_at(r, a + (n - 1) // 2) + _at(r, a + n // 2))
        two = _kth_deviation(r.repeat(2, 1), a.repeat(2), b.repeat(2), med.repeat(2),
                             torch.cat([(n - 1) // 2, n // 2]))  # fmt: skip
        mad = 0.5 * (two[: len(n)] + two[len(n) :]) * MAD_TO_SIGMA
        tol = torch.where(mad > 0, clip * mad, 1e-12 * med.abs().clamp_min(1.0))
        out = inside & ((r - med[:, None]).abs() > tol[:, None])
        new_a = (out & (r < med[:, None])).sum(1)
        new_b = n_keep - (out & (r > med[:, None])).sum(1)
        active = active & (new_b - new_a >= 10) & ((new_a != a) | (new_b != b))
        a, b = torch.where(active, new_a, a), torch.where(active, new_b, b)
        c = torch.where(active, scale(a, b), c)
    return c
