"""Classical Sentinel-2 methane retrievals of Varon et al. (2021, AMT 14:2771): MBSP, MBMP, SBMP.

With R11, R12 the B11/B12 reflectances of the target date and primes for a plume-free reference
date:

    MBSP:  dR = (c R12 - R11) / R11,      c = argmin_c sum_fit (c R12 - R11)^2
                                            = sum_fit R11 R12 / sum_fit R12^2
    MBMP:  dR = dR_MBSP(target) - dR_MBSP(reference)   (each date its own c, same fit pixels)
    SBMP:  dR = (c R12 - R12') / R12',    c = sum_fit R12 R12' / sum_fit R12^2

The scale c is a least-squares fit through the origin (no intercept) over the "fit" pixels: the
valid pixels (finite, R > 0, optional ``mask``), and, with ``robust=True``, without outliers:
the fit is repeated ``n_iter`` times keeping only pixels with |dR - median(dR)| <= k * 1.4826 MAD
(k = ``clip``, default 3). A plume covering a minority of the scene is an outlier (its dR is
several % below the rest) and stops biasing c; with a known plume footprint pass ``mask=~plume``.
MBMP fits both dates on one common pixel set, trimmed on the MBMP signal itself (see :func:`mbmp`).

Off the plume dR ~ 0; on it dR follows the band model m(dOmega) = T_B12/T_B11 - 1
(:func:`eoforge.methane.physics.fractional_signal`), which :func:`retrieve_column` inverts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, overload

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.methane.physics import _check_amf, _interp_extrap, band_table

BandPair = Mapping[str, np.ndarray] | Sequence[np.ndarray]
_MAD_TO_SIGMA = 1.4826


def _pair(name: str, bands: BandPair) -> tuple[np.ndarray, np.ndarray]:
    """(B11, B12) from a dict with keys 'B11'/'B12' or a (b11, b12) sequence."""
    if isinstance(bands, Mapping):
        missing = [b for b in ("B11", "B12") if b not in bands]
        if missing:
            raise InputError(f"{name} lacks bands {missing}; pass a dict with 'B11' and 'B12'.")
        return np.asarray(bands["B11"], dtype=float), np.asarray(bands["B12"], dtype=float)
    if len(bands) != 2:
        raise InputError(f"{name} must be (b11, b12) or a dict with 'B11' and 'B12'.")
    return np.asarray(bands[0], dtype=float), np.asarray(bands[1], dtype=float)


def _check_same_shape(**arrays: np.ndarray | None) -> None:
    shapes = {k: np.shape(v) for k, v in arrays.items() if v is not None}
    if len(set(shapes.values())) > 1:
        raise ShapeError(f"inputs must share one shape, got {shapes}.")


@overload
def fit_band_scale(
    numerator: np.ndarray,
    denominator: np.ndarray,
    mask: np.ndarray | None = ...,
    robust: bool = ...,
    n_iter: int = ...,
    clip: float = ...,
    return_mask: Literal[False] = ...,
) -> float: ...


@overload
def fit_band_scale(
    numerator: np.ndarray,
    denominator: np.ndarray,
    mask: np.ndarray | None = ...,
    robust: bool = ...,
    n_iter: int = ...,
    clip: float = ...,
    *,
    return_mask: Literal[True],
) -> tuple[float, np.ndarray]: ...


def fit_band_scale(
    numerator: np.ndarray,
    denominator: np.ndarray,
    mask: np.ndarray | None = None,
    robust: bool = True,
    n_iter: int = 5,
    clip: float = 3.0,
    return_mask: bool = False,
) -> float | tuple[float, np.ndarray]:
    """Scene-wide least-squares scale c of ``c * denominator ~ numerator`` (no intercept).

    c = sum(num * den) / sum(den^2) over the fit pixels (module docstring): valid pixels within
    ``mask``, and with ``robust`` the iteratively trimmed set |r - median r| <= clip * 1.4826 MAD,
    r = (c den - num) / num.

    Args:
        numerator: Array the scaled band should match (R11 for MBSP, R12' for SBMP).
        denominator: Band being scaled (R12).
        mask: Optional boolean array, True for pixels allowed in the fit (e.g. ``~plume``).
        robust: Trim outliers (plumes, clouds) iteratively.
        n_iter: Maximum trimming iterations.
        clip: Trimming threshold in robust standard deviations.
        return_mask: Also return the boolean array of the pixels used in the final fit.

    Returns:
        c, and the fit-pixel mask if ``return_mask``.

    Raises:
        InputError: If fewer than 10 valid pixels remain, or options are invalid.
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    _check_same_shape(numerator=num, denominator=den, mask=mask)
    if n_iter < 1:
        raise bad_value("n_iter", n_iter, "an int >= 1")
    if not clip > 0:
        raise bad_value("clip", clip, "a positive number of robust standard deviations")
    keep = np.isfinite(num) & np.isfinite(den) & (num > 0) & (den > 0)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    n_valid = int(keep.sum())
    if n_valid < 10:
        raise InputError(
            f"only {n_valid} valid pixels to fit the band scale c; check the mask and that the "
            "reflectances are positive."
        )
    num_k, den_k = num[keep], den[keep]
    sel = np.ones(num_k.shape, dtype=bool)
    c = float(np.dot(num_k, den_k) / np.dot(den_k, den_k))
    for _ in range(n_iter if robust else 0):
        r = (c * den_k - num_k) / num_k
        med = np.median(r[sel])
        mad = np.median(np.abs(r[sel] - med)) * _MAD_TO_SIGMA
        tol = clip * mad if mad > 0 else 1e-12 * max(1.0, abs(med))
        new_sel = np.abs(r - med) <= tol
        if new_sel.sum() < 10 or np.array_equal(new_sel, sel):
            break
        sel = new_sel
        c = float(np.dot(num_k[sel], den_k[sel]) / np.dot(den_k[sel], den_k[sel]))
    if not return_mask:
        return c
    used = np.zeros(num.shape, dtype=bool)
    used[keep] = sel
    return c, used


def _relative_difference(c: float, scaled: np.ndarray, base: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (c * scaled - base) / base
    return np.where(np.isfinite(base) & (base > 0), out, np.nan)


@overload
def mbsp(
    b11: np.ndarray,
    b12: np.ndarray,
    mask: np.ndarray | None = ...,
    robust: bool = ...,
    return_scale: Literal[False] = ...,
) -> np.ndarray: ...


@overload
def mbsp(
    b11: np.ndarray,
    b12: np.ndarray,
    mask: np.ndarray | None = ...,
    robust: bool = ...,
    *,
    return_scale: Literal[True],
) -> tuple[np.ndarray, float]: ...


def mbsp(
    b11: np.ndarray,
    b12: np.ndarray,
    mask: np.ndarray | None = None,
    robust: bool = True,
    return_scale: bool = False,
) -> np.ndarray | tuple[np.ndarray, float]:
    """Multi-band single-pass fractional signal dR = (c R12 - R11) / R11 (Varon et al. 2021).

    Args:
        b11: B11 reflectance (any shape).
        b12: B12 reflectance, same shape.
        mask: Optional boolean array of pixels allowed in the fit of c (e.g. ``~plume``).
        robust: Trim outliers from the fit of c (see :func:`fit_band_scale`).
        return_scale: Also return c.

    Returns:
        dR (NaN where R11 is not positive and finite), and c if ``return_scale``.
    """
    b11 = np.asarray(b11, dtype=float)
    b12 = np.asarray(b12, dtype=float)
    _check_same_shape(b11=b11, b12=b12, mask=mask)
    c = fit_band_scale(b11, b12, mask=mask, robust=robust)
    dr = _relative_difference(c, b12, b11)
    return (dr, c) if return_scale else dr


def mbmp(
    target: BandPair,
    reference: BandPair,
    mask: np.ndarray | None = None,
    robust: bool = True,
    n_iter: int = 5,
    clip: float = 3.0,
) -> np.ndarray:
    """Multi-band multi-pass signal dR = dR_MBSP(target) - dR_MBSP(reference) (Varon et al. 2021).

    Each date gets its own scene-wide scale c, both fitted on the same pixels; with ``robust``
    those pixels are trimmed iteratively on the MBMP signal itself (|dR - median| <= clip *
    1.4826 MAD), where the surface texture cancels and the plume stands out. Differencing removes
    the static surface spectral structure that MBSP alone leaves. The reference should be
    plume-free and co-registered.

    Args:
        target: Target-date bands, ``{"B11": ..., "B12": ...}`` or ``(b11, b12)``.
        reference: Reference-date bands, same form and shape.
        mask: Optional boolean array of pixels allowed in both fits.
        robust: Trim outliers (plume, clouds, changes between dates) from the fits.
        n_iter: Maximum trimming iterations.
        clip: Trimming threshold in robust standard deviations.

    Returns:
        dR (NaN where either date's R11 is invalid).
    """
    t11, t12 = _pair("target", target)
    r11, r12 = _pair("reference", reference)
    _check_same_shape(target_b11=t11, target_b12=t12, reference_b11=r11, reference_b12=r12)
    if not robust:
        return mbsp(t11, t12, mask, robust=False) - mbsp(r11, r12, mask, robust=False)
    # Both dates are fitted on the same pixels, trimmed on the MBMP signal itself (where the
    # surface texture cancels and a plume stands out), so that c_t - c_r leaves no offset.
    _, keep_t = fit_band_scale(t11, t12, mask=mask, return_mask=True)
    _, keep_r = fit_band_scale(r11, r12, mask=mask, return_mask=True)
    fit = keep_t & keep_r
    allowed = np.ones(t11.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    for _ in range(n_iter):
        dr = mbsp(t11, t12, fit, robust=False) - mbsp(r11, r12, fit, robust=False)
        med = np.median(dr[fit])
        mad = np.median(np.abs(dr[fit] - med)) * _MAD_TO_SIGMA
        tol = clip * mad if mad > 0 else 1e-12
        new_fit = allowed & np.isfinite(dr) & (np.abs(dr - med) <= tol)
        if new_fit.sum() < 10 or np.array_equal(new_fit, fit):
            break
        fit = new_fit
    return mbsp(t11, t12, fit, robust=False) - mbsp(r11, r12, fit, robust=False)


def sbmp(
    b12: np.ndarray,
    b12_reference: np.ndarray,
    mask: np.ndarray | None = None,
    robust: bool = True,
) -> np.ndarray:
    """Single-band multi-pass signal dR = (c R12 - R12') / R12' (Varon et al. 2021).

    Its model is T_B12(dOmega) - 1 rather than T_B12/T_B11 - 1; invert it with
    ``retrieve_column(dR, amf, signal="B12")``.

    Args:
        b12: Target-date B12.
        b12_reference: Reference-date B12, same shape.
        mask: Optional boolean fit mask.
        robust: Trim outliers from the fit of c.

    Returns:
        dR.
    """
    b12 = np.asarray(b12, dtype=float)
    ref = np.asarray(b12_reference, dtype=float)
    _check_same_shape(b12=b12, b12_reference=ref, mask=mask)
    c = fit_band_scale(ref, b12, mask=mask, robust=robust)
    return _relative_difference(c, b12, ref)


def retrieve_column(
    delta_r: float | np.ndarray,
    amf: float | np.ndarray,
    satellite: str = "S2A",
    signal: str = "ratio",
) -> np.ndarray:
    """Invert the band model for the column enhancement dOmega (mol/m2) giving signal ``delta_r``.

    Solves m(AMF * dOmega) = dR per pixel, with m = T_B12/T_B11 - 1 (``signal="ratio"``, for
    MBSP/MBMP) or m = T_B12 - 1 (``signal="B12"``, for SBMP). Since ln(1 + m) is piecewise linear
    and strictly decreasing in x = AMF * dOmega on the table nodes, the inverse is exact and
    vectorised: x = interp(ln(1 + dR)), dOmega = x / AMF. Outside the table the end segments are
    extended linearly, as in the forward model.

    Args:
        delta_r: Fractional signal(s) dR (> -1); NaN stays NaN.
        amf: Air-mass factor (scalar or broadcastable array).
        satellite: ``"S2A"`` or ``"S2B"``.
        signal: ``"ratio"`` or ``"B12"``.

    Returns:
        dOmega in mol/m2 (NaN where dR <= -1 or dR is NaN).
    """
    if signal not in ("ratio", "B12"):
        raise bad_value("signal", signal, "'ratio' (MBSP/MBMP) or 'B12' (SBMP)")
    amf_arr = _check_amf(amf)
    t12 = band_table("B12", satellite)
    d = t12.ln_t.copy()
    if signal == "ratio":
        d -= band_table("B11", satellite).ln_t
    if not np.all(np.diff(d) < 0):
        raise RuntimeError("the shipped transmittance table is not monotone; regenerate it.")
    dr = np.asarray(delta_r, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = np.where(dr > -1.0, np.log1p(np.where(dr > -1.0, dr, 0.0)), np.nan)
    # d decreases with x: interpolate x as a function of d on the reversed (increasing) nodes.
    x = _interp_extrap(target, d[::-1], t12.x[::-1])
    x = np.where(np.isnan(target), np.nan, x)
    return x / amf_arr
