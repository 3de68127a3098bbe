"""Texture and spectral statistics of SWIR reflectance images: simulated vs real surfaces.

For one (H, W) reflectance image R (NaN = no-data, filled with the median first):

- radially averaged power spectrum P(k) of R / mean(R) - 1 (relative fluctuations) after removing
  a least-squares plane and applying a Hann window, in rings of the spatial frequency
  k = |(k_y, k_x)| (cycles per pixel, 0 < k <= 0.5);
- spectral slope beta: the least-squares slope of -log P against log k over
  ``K_FIT`` = [0.04, 0.35] cycles/px (beta ~ 2-3 for fractal natural surfaces; 0 for white noise);
- coefficient of variation CV = std(R) / mean(R);
- relative gradient G = mean |grad R| / mean(R) (per pixel; central differences);
- for a B11/B12 pair, the per-pixel ratio B12 / B11 (median and 5-95 % range).
"""

from __future__ import annotations

import numpy as np

K_FIT = (0.04, 0.35)
"""Frequency range (cycles/px) of the spectral-slope fit."""


def _fill(img: np.ndarray) -> np.ndarray:
    a = np.asarray(img, dtype=np.float64)
    bad = ~np.isfinite(a)
    if bad.any():
        a = a.copy()
        a[bad] = np.nanmedian(a)
    return a


def radial_spectrum(img: np.ndarray, n_bins: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of the relative fluctuations (module docstring).

    Returns:
        (k bin centres in cycles/px, P(k)) for k in (0, 0.5], ``n_bins`` rings.
    """
    a = _fill(img)
    h, w = a.shape
    rel = a / np.mean(a) - 1.0
    r, c = np.mgrid[0:h, 0:w]
    design = np.stack([np.ones(h * w), r.ravel(), c.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design, rel.ravel(), rcond=None)
    rel = rel - (design @ coef).reshape(h, w)
    win = np.outer(np.hanning(h), np.hanning(w))
    f = np.fft.fft2(rel * win)
    power = np.abs(f) ** 2 / np.sum(win**2)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij"))
    edges = np.linspace(0.0, 0.5, n_bins + 1)
    centres = 0.5 * (edges[1:] + edges[:-1])
    idx = np.digitize(k.ravel(), edges[1:-1])
    keep = (k.ravel() > 0) & (k.ravel() <= 0.5)
    sums = np.bincount(idx[keep], power.ravel()[keep], minlength=n_bins)
    counts = np.bincount(idx[keep], minlength=n_bins)
    return centres, sums / np.maximum(counts, 1)


def spectral_slope(img: np.ndarray, k_range: tuple[float, float] = K_FIT) -> float:
    """Spectral slope beta with P(k) ~ k^-beta over ``k_range`` (least squares in log-log)."""
    k, p = radial_spectrum(img, n_bins=24)
    sel = (k >= k_range[0]) & (k <= k_range[1]) & (p > 0)
    slope = np.polyfit(np.log(k[sel]), np.log(p[sel]), 1)[0]
    return float(-slope)


def texture_stats(b11: np.ndarray, b12: np.ndarray) -> dict[str, float]:
    """Statistics of one B11/B12 image pair (module docstring), as a flat dict."""
    out: dict[str, float] = {}
    for name, img in (("B11", b11), ("B12", b12)):
        a = _fill(img)
        m = float(np.mean(a))
        gr, gc = np.gradient(a)
        out[f"{name}_mean"] = m
        out[f"{name}_cv"] = float(np.std(a) / m)
        out[f"{name}_grad"] = float(np.mean(np.hypot(gr, gc)) / m)
        out[f"{name}_beta"] = spectral_slope(a)
    ok = np.isfinite(b11) & np.isfinite(b12) & (np.asarray(b11) > 0)
    ratio = np.asarray(b12)[ok] / np.asarray(b11)[ok]
    out["ratio_median"] = float(np.median(ratio))
    out["ratio_p05"], out["ratio_p95"] = (float(v) for v in np.quantile(ratio, [0.05, 0.95]))
    return out
