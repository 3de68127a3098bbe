"""Statistics that compare simulated SAR / InSAR images with real ones (speckle, texture, phase).

Used by ``benchmarks/sar_realism.py`` and the ``realdata`` tests on the shipped Sentinel-1 GRD
patches (``tests/data/bigearthnet-s1``) and ENVISAT interferograms (``tests/data/pyrate-small``).

Speckle (linear intensity ``I``, stacks ``(N, H, W)``):

- ``enl``: moment ENL ``mean^2 / var`` of ``w x w`` windows, median (:func:`stats.enl`).
- ``enl_log``: log-moment ENL, the ``L`` solving ``psi'(L) = var(ln I)`` (median window
  variance; ``psi'`` the trigamma function). For Gamma(L) speckle ``var(ln I) = psi'(L)``
  exactly, so the two estimators agree on fully developed multi-look speckle.
- ``db_std``, ``db_skew``: spread and skewness of ``10 log10 I`` over all pixels (speckle and
  texture); ``db_std_window``: the median within-window std (speckle only,
  ``10 / ln 10 sqrt(psi'(L))`` for L-look speckle: 2.2 dB at L = 4.4).
- ``speckle_corr_x`` / ``speckle_corr_y``: lag-1 autocorrelation of ``I / local mean`` (9 x 9)
  along columns / rows; 0 for independent pixels.
- ``psd_hf_ratio``: radial PSD of the dB image at 0.4-0.5 cycles/pixel over 0.1-0.2
  (about 1 for white speckle, << 1 when pixels oversample the resolution).

Phase (unwrapped radians, NaN = no data): :func:`insar_statistics`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.optimize import brentq
from scipy.special import polygamma
from scipy.stats import skew

from eoforge.core.errors import bad_value
from eoforge.sar import stats
from eoforge.sar.insar import wrap

DB_PER_NEPER = 10.0 / np.log(10.0)


def _windows(x: np.ndarray, w: int) -> np.ndarray:
    """Non-overlapping ``w x w`` windows of a stack ``(N, H, W)`` as rows ``(M, w*w)``."""
    n, h, ww = x.shape
    hh, wc = (h // w) * w, (ww // w) * w
    blocks = x[:, :hh, :wc].reshape(n, hh // w, w, wc // w, w).transpose(0, 1, 3, 2, 4)
    return blocks.reshape(-1, w * w)


def inverse_trigamma(v: float) -> float:
    """The ``L > 0`` with ``psi'(L) = v`` (``psi'`` decreases from inf to 0)."""
    if not v > 0:
        raise bad_value("v", v, "a positive variance of ln I")
    return float(brentq(lambda s: float(polygamma(1, s)) - v, 1e-3, 1e6))


def speckle_statistics(intensity: np.ndarray, window: int = 8) -> dict[str, float]:
    """Speckle and texture statistics of linear SAR intensity (see the module docstring)."""
    x = stats.as_image_stack(intensity, "intensity")
    ln = np.log(np.maximum(x, 1e-12))
    db = DB_PER_NEPER * ln
    wins = _windows(ln, window)
    ratio = x / np.maximum(ndimage.uniform_filter(x, size=(1, 9, 9), mode="reflect"), 1e-30)
    r = ratio - ratio.mean(axis=(1, 2), keepdims=True)
    var = float((r**2).mean())
    freqs, power = stats.radial_power_spectrum(db)
    return {
        "enl": stats.enl(x, window),
        "enl_log": inverse_trigamma(float(np.median(wins.var(axis=1, ddof=1)))),
        "mean_db": float(db.mean()),
        "db_std": float(db.std()),
        "db_std_window": float(DB_PER_NEPER * np.median(wins.std(axis=1, ddof=1))),
        "db_skew": float(skew(db.ravel())),
        "speckle_corr_x": float((r[:, :, :-1] * r[:, :, 1:]).mean() / var),
        "speckle_corr_y": float((r[:, :-1, :] * r[:, 1:, :]).mean() / var),
        "psd_hf_ratio": float(
            power[freqs >= 0.4].mean() / power[(freqs >= 0.1) & (freqs < 0.2)].mean()
        ),
    }


def tiles(images: np.ndarray, size: int) -> np.ndarray:
    """Cut a stack ``(N, H, W)`` into non-overlapping tiles ``(N * k, size, size)``.

    Tiles of one image are consecutive, in row-major order; edges that do not fit are dropped.
    """
    x = np.asarray(images)
    if x.ndim == 2:
        x = x[None]
    n, h, w = x.shape
    if size > min(h, w):
        raise bad_value("size", size, f"at most min(H, W) = {min(h, w)}")
    t = _windows(x, size)
    return t.reshape(n * (h // size) * (w // size), size, size)


# --------------------------------------------------------------------------- phase


def fill_nodata(field: np.ndarray) -> np.ndarray:
    """Fill NaN pixels of each image of a stack by linear interpolation of the valid ones.

    Outside their convex hull: the nearest valid pixel. For the evaluation functions that refuse
    NaN. A smooth fill: it adds no phase residue inside a hole whose rim has none.
    """
    from scipy.interpolate import griddata

    z = np.array(stats.as_image_stack(field, "field"))
    _, h, w = z.shape
    rows, cols = np.mgrid[:h, :w]
    for img in z:
        bad = ~np.isfinite(img)
        if not bad.any():
            continue
        pts = np.c_[rows[~bad], cols[~bad]]
        holes = np.c_[rows[bad], cols[bad]]
        vals = griddata(pts, img[~bad], holes, method="linear")
        near = griddata(pts, img[~bad], holes, method="nearest")
        img[bad] = np.where(np.isfinite(vals), vals, near)
    return z


def semivariogram_slope(gamma: np.ndarray, lags: np.ndarray) -> float:
    """Least-squares slope of ``ln gamma`` against ``ln h``.

    It is ``beta - 2`` for a power-law field with spectrum ``|k|^-beta`` (2/3 for Kolmogorov
    turbulence).
    """
    ok = np.isfinite(gamma) & (gamma > 0)
    return float(np.polyfit(np.log(np.asarray(lags)[ok]), np.log(gamma[ok]), 1)[0])


def insar_statistics(
    unwrapped: np.ndarray, lags: np.ndarray | Sequence[float] = (1, 2, 3, 4, 6, 8, 12, 16)
) -> dict[str, float]:
    """Statistics of unwrapped phase (radians, NaN = no data) and of its re-wrapped version.

    Keys: ``std`` (after removing each image's mean), ``grad_std`` (std of the neighbour
    differences), ``grad_max`` (largest |difference|: above pi wrapping creates residues),
    ``residue_density`` and ``gradient_circvar`` of ``wrap(phi)``, ``gamma_<h>`` the
    semivariogram at each lag (rad^2) and ``semivariogram_slope`` over ``h <= 4``.
    """
    z = stats.as_image_stack(unwrapped, "unwrapped")
    z = z - np.nanmean(z, axis=(1, 2), keepdims=True)
    h = np.asarray(lags, dtype=np.float64)
    g = stats.semivariogram(z, h)
    dx, dy = np.diff(z, axis=2).ravel(), np.diff(z, axis=1).ravel()
    d = np.concatenate([dx, dy])
    d = d[np.isfinite(d)]
    out = {
        "std": float(np.nanstd(z)),
        "grad_std": float(d.std()),
        "grad_max": float(np.abs(d).max()),
        "residue_density": stats.phase_residues(wrap(z)),
        "gradient_circvar": float(stats.circular_variance(wrap(d))),
        "semivariogram_slope": semivariogram_slope(g[h <= 4], h[h <= 4]),
    }
    out.update(
        {
            f"gamma_{int(lag) if lag == int(lag) else lag}": float(v)
            for lag, v in zip(h, g, strict=True)
        }
    )
    return out
