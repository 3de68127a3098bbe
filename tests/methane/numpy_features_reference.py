"""The detector features as the NumPy code computed them before they moved to torch (commit
eee4acd): a test-only reference that the torch implementation (features_torch) must match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.ndimage import gaussian_filter

from eoforge.core.errors import InputError
from eoforge.methane.detector.features import (
    _CLIP,
    _LOG_REF,
    _MAX_FIT_PIXELS,
    DEFAULT_CONTEXT,
    SWIR,
    SceneConstants,
    check_pair,
    valid_pixels,
)
from eoforge.methane.physics import air_mass_factor
from eoforge.methane.retrievals import fit_band_scale, retrieve_column


def scene_constants(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    sza: float,
    vza: float,
    context: Sequence[str] = DEFAULT_CONTEXT,
) -> SceneConstants:
    """Fit the scene-wide constants c_t, c_r and the medians on a subsample of valid pixels."""
    h, w = check_pair(target, reference, context)
    step = max(1, int(np.ceil(np.sqrt(h * w / _MAX_FIT_PIXELS))))
    sub = (slice(None, None, step), slice(None, None, step))
    bands = list(SWIR) + list(context)
    t = {b: np.asarray(target[b][sub], dtype=np.float64) for b in bands}
    r = {b: np.asarray(reference[b][sub], dtype=np.float64) for b in bands}
    ok = valid_pixels(*t.values(), *r.values())
    if ok.sum() < 100:
        raise InputError(
            f"only {int(ok.sum())} sampled pixels are valid (finite, positive reflectance) in "
            "both dates; check the no-data value and the cloud cover of the pair."
        )
    c_t = float(fit_band_scale(t["B11"], t["B12"], mask=ok))
    c_r = float(fit_band_scale(r["B11"], r["B12"], mask=ok))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_t = c_t * t["B12"] / t["B11"]
        ratio_r = c_r * r["B12"] / r["B11"]
        change = {b: float(np.median(np.log(t[b][ok] / r[b][ok]))) for b in bands}
    return SceneConstants(
        c_t=c_t,
        c_r=c_r,
        med_mbsp=float(np.median(ratio_t[ok] - 1.0)),
        med_mbmp=float(np.median(ratio_t[ok] - ratio_r[ok])),
        med_change=change,
        amf=float(air_mass_factor(sza, vza)),
        noise=_mbmp_noise(target, reference, c_t, c_r, step),
        valid_fraction=float(ok.mean()),
    )


def _mbmp_noise(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    c_t: float,
    c_r: float,
    step: int,
) -> float:
    """sigma_MBMP of the module docstring, from pixel pairs (i, j), (i, j + 1) on the subsample
    grid (rows and columns every ``step``); 0 when fewer than 100 pairs are valid."""
    w = np.shape(target["B11"])[1]
    cols = np.arange(0, w - 1, step)
    mbmp = []
    for shift in (0, 1):
        bands = [np.asarray(d[b][::step][:, cols + shift], dtype=np.float64)
                 for d in (target, reference) for b in SWIR]  # fmt: skip
        t11, t12, r11, r12 = bands
        with np.errstate(divide="ignore", invalid="ignore"):
            mbmp.append(np.where(valid_pixels(*bands), c_t * t12 / t11 - c_r * r12 / r11, np.nan))
    d = (mbmp[0] - mbmp[1]).ravel()
    d = d[np.isfinite(d)]
    if d.size < 100:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / np.sqrt(2.0))


def compute_features(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    const: SceneConstants,
    window: tuple[slice, slice] | None = None,
    context: Sequence[str] = DEFAULT_CONTEXT,
    smooth: float = 0.0,
    noise: bool = False,
) -> np.ndarray:
    """Features (C, h, w) float32 of ``window`` (default: whole grid) given the scene constants.

    The smoothed channel sees only the window, so it differs from the whole-image one within
    ~3 ``smooth`` pixels of the window edges, where tiled inference gives zero weight anyway.
    """
    win = (slice(None), slice(None)) if window is None else window
    bands = list(SWIR) + list(context)
    t = {b: np.asarray(target[b][win], dtype=np.float32) for b in bands}
    r = {b: np.asarray(reference[b][win], dtype=np.float32) for b in bands}
    ok = valid_pixels(*t.values(), *r.values())
    safe_t = {b: np.where(ok, t[b], 1.0) for b in bands}
    safe_r = {b: np.where(ok, r[b], 1.0) for b in bands}
    ln_t = {b: np.log(safe_t[b]) for b in bands}
    ln_r = {b: np.log(safe_r[b]) for b in bands}
    ratio_t = const.c_t * safe_t["B12"] / safe_t["B11"]
    ratio_r = const.c_r * safe_r["B12"] / safe_r["B11"]
    mbsp = ratio_t - 1.0 - const.med_mbsp
    mbmp = ratio_t - ratio_r - const.med_mbmp
    col_mbmp = retrieve_column(np.clip(mbmp, -0.9, 10.0), const.amf)
    col_mbsp = retrieve_column(np.clip(mbsp, -0.9, 10.0), const.amf)
    chans = [
        (ln_t["B11"] - _LOG_REF) / 0.5,
        (ln_t["B12"] - _LOG_REF) / 0.5,
        (ln_r["B11"] - _LOG_REF) / 0.5,
        (ln_r["B12"] - _LOG_REF) / 0.5,
        20.0 * (ln_t["B11"] - ln_r["B11"] - const.med_change["B11"]),
        20.0 * (ln_t["B12"] - ln_r["B12"] - const.med_change["B12"]),
        20.0 * mbsp,
        20.0 * mbmp,
        col_mbmp,
        col_mbsp,
    ]
    chans += [20.0 * (ln_t[b] - ln_r[b] - const.med_change[b]) for b in context]
    out = np.empty((len(chans) + (smooth > 0) + noise + 1, *ok.shape), dtype=np.float32)
    for i, c in enumerate(chans):
        out[i] = np.where(ok, np.clip(c, -_CLIP, _CLIP), 0.0)
    k = len(chans)
    if smooth > 0:  # smoothed over the masked column; not re-masked (the shipped weights' input)
        out[k] = gaussian_filter(out[8], sigma=float(smooth), mode="nearest")
        k += 1
    if noise:
        out[k] = np.where(ok, min(100.0 * const.noise, _CLIP), 0.0)
    out[-1] = ok
    return out


def build_inputs(target, reference, sza, vza, context=DEFAULT_CONTEXT, smooth=0.0, noise=False):
    """Former features.build_inputs."""
    const = scene_constants(target, reference, sza, vza, context)
    return compute_features(target, reference, const, None, context, smooth, noise)
