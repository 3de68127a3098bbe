"""Sentinel-2 SWIR band physics of a methane enhancement: air mass, transmittance, injection.

A column enhancement dOmega (mol/m2) seen along the two-way path with air-mass factor

    AMF = 1 / cos(SZA) + 1 / cos(VZA)

darkens band b by the band-averaged transmittance (Orbio radiative-transfer note; Varon et al.
2021, AMT 14:2771)

    T_b(x) = sum_lambda w_b(lambda) exp(-tau(lambda, x)),   x = AMF * dOmega,
    w_b(lambda) ∝ SRF_b(lambda) L_0(lambda),

i.e. the radiance-weighted *mean of the monochromatic transmittances*, not the exponential of a
mean optical depth: B12 saturates visibly above a few mol/m2. ``tau(lambda, x)`` comes from the
MODTRAN CH4 spectra shipped with mag1c (BSD-3) and the weights from the ESA S2A/S2B spectral
responses (via pyrsr, Apache-2.0); ``scripts/make_ch4_transmittance_lut.py`` builds the table
``data/ch4_band_transmittance.json`` (ln T_b on 354 slant-column nodes from -3 to 200 mol/m2),
which is interpolated here, piecewise linearly in ln T, and extended beyond both ends with the end
slopes. The MODTRAN spectra reach x = 1.5 slant mol/m2; beyond, each spectral bin continues
Beer-Lambert with its last effective cross-section, which the comparisons below check up to
x = 20 (Orbio) and x = 9 (Gorroño).

Accuracy (stated in the table, checked in tests/methane/test_physics.py): interpolation error
< 2e-5 in T; against the Gorroño et al. (2023) LUT (marss2l) at AMF 2-3.9 the absorption 1 - T
agrees within -1/+6 % for B12 and 0/+19 % for B11 (dOmega <= 2.3 mol/m2), and the retrieved
signal m = T_B12/T_B11 - 1 within -1/+4 %; against Orbio's S2 table (AMF ~2, 0.1-10 mol/m2)
within 3 % (B12) and 7 % (B11). Near zero B12 darkens by about 6.5 % per mol/m2 at AMF 2 (S2A;
5 % for S2B), B11 by about 1.1 %.

The model is a single slab: T depends on AMF and dOmega only through x = AMF * dOmega (exact in
Beer-Lambert; it ignores the small change of the background H2O/CH4 saturation with AMF, which
is what the residual differences above reflect).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import overload

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value

M_CH4 = 16.04e-3
"""Molar mass of CH4 (kg/mol)."""
SECONDS_PER_HOUR = 3600.0
BANDS = ("B11", "B12")
SATELLITES = ("S2A", "S2B")
_TABLE_FILE = "ch4_band_transmittance.json"


@dataclass(frozen=True)
class BandTable:
    """Tabulated ln T_b(x) of one band on slant-column nodes ``x`` (mol/m2)."""

    x: np.ndarray
    ln_t: np.ndarray
    slope_per_slant_column: float
    lut_nodes: np.ndarray
    modtran_band_ratio: np.ndarray

    def ln_transmittance(self, x: np.ndarray) -> np.ndarray:
        """Log-transmittance ln T_b at slant columns ``x``: piecewise linear, linear extrapolation at both ends."""
        return _interp_extrap(x, self.x, self.ln_t)


def _interp_extrap(x: np.ndarray, xp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """``np.interp`` with linear extrapolation by the end segments' slopes (xp increasing)."""
    out = np.interp(x, xp, fp)
    lo, hi = x < xp[0], x > xp[-1]
    if np.any(lo):
        slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
        out = np.where(lo, fp[0] + slope * (x - xp[0]), out)
    if np.any(hi):
        slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
        out = np.where(hi, fp[-1] + slope * (x - xp[-1]), out)
    return out


@lru_cache(maxsize=1)
def _load_tables() -> dict:
    text = resources.files("eoforge.methane").joinpath("data", _TABLE_FILE).read_text()
    return json.loads(text)


@lru_cache(maxsize=8)
def band_table(band: str, satellite: str = "S2A") -> BandTable:
    """The shipped transmittance table of ``band`` for ``satellite`` (cached).

    Args:
        band: ``"B11"`` or ``"B12"``.
        satellite: ``"S2A"`` or ``"S2B"`` (no S2C spectral response is shipped yet).

    Returns:
        The :class:`BandTable`.
    """
    band = _check_band(band)
    satellite = _check_satellite(satellite)
    doc = _load_tables()
    entry = doc["satellites"][satellite][band]
    return BandTable(
        x=np.asarray(doc["x"], dtype=float),
        ln_t=np.asarray(entry["ln_t"], dtype=float),
        slope_per_slant_column=float(entry["slope_per_slant_column"]),
        lut_nodes=np.asarray(doc["lut_nodes_slant_mol_m2"], dtype=float),
        modtran_band_ratio=np.asarray(entry["modtran_band_ratio_at_lut_nodes"], dtype=float),
    )


def _check_band(band: str) -> str:
    if band not in BANDS:
        raise bad_value("band", band, f"one of {BANDS}", "Methane absorbs in the SWIR bands only.")
    return band


def _check_satellite(satellite: str) -> str:
    if satellite not in SATELLITES:
        raise bad_value("satellite", satellite, f"one of {SATELLITES}")
    return satellite


def air_mass_factor(sza: float | np.ndarray, vza: float | np.ndarray = 0.0) -> float | np.ndarray:
    """Two-way geometric air-mass factor AMF = 1/cos(SZA) + 1/cos(VZA).

    Args:
        sza: Solar zenith angle(s) in degrees, in [0, 90).
        vza: Viewing zenith angle(s) in degrees, in [0, 90) (Sentinel-2: below ~12 degrees).

    Returns:
        The AMF (a float for scalar inputs, else an array broadcast from both).

    Raises:
        InputError: If an angle is not finite or outside [0, 90).
    """
    for name, value in (("sza", sza), ("vza", vza)):
        arr = np.asarray(value, dtype=float)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0.0) or np.any(arr >= 90.0):
            raise bad_value(
                name, value, "zenith angles in degrees within [0, 90)", "Pass degrees, not radians."
            )
    amf = 1.0 / np.cos(np.deg2rad(sza)) + 1.0 / np.cos(np.deg2rad(vza))
    return float(amf) if np.ndim(amf) == 0 else amf


def _check_amf(amf: float | np.ndarray) -> np.ndarray:
    arr = np.asarray(amf, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 2.0 - 1e-9):
        raise bad_value(
            "amf", amf, "finite air-mass factors >= 2", "Compute it with air_mass_factor(sza, vza)."
        )
    return arr


def _as_float(a: np.ndarray | float) -> np.ndarray:
    arr = np.asarray(a)
    return arr if arr.dtype in (np.float32, np.float64) else arr.astype(float)


def band_transmittance(
    column: float | np.ndarray,
    band: str,
    amf: float | np.ndarray,
    satellite: str = "S2A",
) -> np.ndarray:
    """Band-averaged CH4 transmittance T_b(AMF * dOmega) of Sentinel-2 ``band``.

    T_b(x) = sum_lambda w_b(lambda) exp(-tau(lambda, x)) with x = AMF * dOmega (module doc).
    It is 1 at zero enhancement, below 1 for positive and above 1 for negative enhancements.

    Args:
        column: Column enhancement dOmega in mol/m2 (any shape; may be negative).
        band: ``"B11"`` or ``"B12"``.
        amf: Air-mass factor (scalar or array broadcastable with ``column``).
        satellite: ``"S2A"`` or ``"S2B"``.

    Returns:
        Transmittance array of the broadcast shape (float32 if ``column`` is float32).
    """
    table = band_table(band, satellite)
    col = _as_float(column)
    x = col * _check_amf(amf)
    out = np.exp(table.ln_transmittance(x))
    return out.astype(col.dtype, copy=False) if col.dtype == np.float32 else out


def transmittance_slope(band: str, amf: float = 2.0, satellite: str = "S2A") -> float:
    """Small-column sensitivity dT_b/d(dOmega) at dOmega = 0, in (mol/m2)^-1 (negative).

    dT_b/d(dOmega)|_0 = -AMF * sum_lambda w_b(lambda) sigma_b(lambda), with sigma the
    optical depth per slant mol/m2 of the thinnest MODTRAN enhancement; T_b ~ 1 + slope * dOmega.

    Args:
        band: ``"B11"`` or ``"B12"``.
        amf: Air-mass factor (>= 2).
        satellite: ``"S2A"`` or ``"S2B"``.

    Returns:
        The slope (about -0.065 per mol/m2 for S2A B12 at AMF 2).
    """
    amf_val = float(_check_amf(amf))
    return amf_val * band_table(band, satellite).slope_per_slant_column


def fractional_signal(
    column: float | np.ndarray, amf: float | np.ndarray, satellite: str = "S2A"
) -> np.ndarray:
    """Model of the MBSP/MBMP fractional signal m(dOmega) = T_B12 / T_B11 - 1 (Varon et al. 2021).

    Args:
        column: Column enhancement dOmega in mol/m2.
        amf: Air-mass factor.
        satellite: ``"S2A"`` or ``"S2B"``.

    Returns:
        m, negative for positive enhancements (about -5.4 % per mol/m2 at AMF 2 for S2A).
    """
    col = _as_float(column)
    x = col * _check_amf(amf)
    d = band_table("B12", satellite).ln_transmittance(x) - band_table(
        "B11", satellite
    ).ln_transmittance(x)
    return np.expm1(d)


@overload
def inject_plume(
    reflectance: Mapping[str, np.ndarray],
    column: np.ndarray,
    amf: float | np.ndarray,
    bands: Sequence[str] = ...,
    valid_mask: np.ndarray | None = ...,
    satellite: str = ...,
    band_names: Sequence[str] | None = ...,
) -> dict[str, np.ndarray]: ...


@overload
def inject_plume(
    reflectance: np.ndarray,
    column: np.ndarray,
    amf: float | np.ndarray,
    bands: Sequence[str] = ...,
    valid_mask: np.ndarray | None = ...,
    satellite: str = ...,
    band_names: Sequence[str] | None = ...,
) -> np.ndarray: ...


def inject_plume(
    reflectance: Mapping[str, np.ndarray] | np.ndarray,
    column: np.ndarray,
    amf: float | np.ndarray,
    bands: Sequence[str] = BANDS,
    valid_mask: np.ndarray | None = None,
    satellite: str = "S2A",
    band_names: Sequence[str] | None = None,
) -> dict[str, np.ndarray] | np.ndarray:
    """Darken B11/B12 by the plume's transmittances: R_b' = R_b * T_b(AMF * dOmega).

    Only pixels where ``valid_mask`` is True are changed (clear land: no cloud, shadow, water or
    no-data); other bands are returned untouched. Integer inputs (e.g. uint16 DN) are rounded back
    to their dtype, as MARS-S2L and Orbio do; a zero (no-data) DN stays zero.

    Args:
        reflectance: Either a mapping band name -> (H, W) array, or a (C, H, W) array whose band
            names are ``band_names`` (default: ``bands`` when C == len(bands)).
        column: (H, W) column enhancement dOmega in mol/m2.
        amf: Air-mass factor (scalar or (H, W)).
        bands: Bands to darken, a subset of ``("B11", "B12")``.
        valid_mask: Optional (H, W) boolean mask of pixels that may receive methane.
        satellite: ``"S2A"`` or ``"S2B"``.
        band_names: Names of the C bands of an array input.

    Returns:
        A new dict (for mapping input) or array (for array input); the input is not modified.

    Raises:
        InputError: If a requested band is missing or unknown.
        ShapeError: If shapes disagree.
    """
    column = _as_float(column)
    for b in bands:
        _check_band(b)
    if isinstance(reflectance, Mapping):
        names = list(reflectance)
    else:
        stack = np.asarray(reflectance)
        names = _stack_band_names(stack, bands, band_names)
    missing = [b for b in bands if b not in names]
    if missing:
        raise InputError(f"bands {missing} are not in the reflectance (it has {names}).")
    if isinstance(reflectance, Mapping):
        spatial = tuple(np.shape(reflectance[bands[0]]))
    else:
        spatial = tuple(stack.shape[1:])
    if column.shape != spatial:
        raise ShapeError(f"column has shape {column.shape}, the bands have {spatial}.")
    if valid_mask is not None:
        valid_mask = np.asarray(valid_mask, dtype=bool)
        if valid_mask.shape != column.shape:
            raise ShapeError(f"valid_mask has shape {valid_mask.shape}, expected {column.shape}.")

    def darken(r: np.ndarray, band: str) -> np.ndarray:
        t = band_transmittance(column, band, amf, satellite)
        if valid_mask is not None:
            t = np.where(valid_mask, t, 1.0)
        return _in_dtype(r * t, r.dtype)

    if isinstance(reflectance, Mapping):
        return {
            name: darken(np.asarray(arr), name) if name in bands else np.array(arr, copy=True)
            for name, arr in reflectance.items()
        }
    out = stack.copy()
    for k, name in enumerate(names):
        if name in bands:
            out[k] = darken(stack[k], name)
    return out


def _stack_band_names(
    stack: np.ndarray, bands: Sequence[str], band_names: Sequence[str] | None
) -> list[str]:
    """Names of the C bands of a (C, H, W) reflectance array (``bands`` when C == len(bands))."""
    if stack.ndim != 3:
        raise ShapeError(
            f"reflectance array has shape {stack.shape}; expected (C, H, W) or a dict of bands."
        )
    if band_names is None:
        if stack.shape[0] != len(bands):
            raise InputError(
                f"reflectance has {stack.shape[0]} bands but band_names was not given; pass "
                "band_names=[...] naming each of them."
            )
        band_names = list(bands)
    names = list(band_names)
    if len(names) != stack.shape[0]:
        raise ShapeError(f"band_names has {len(names)} names for {stack.shape[0]} bands.")
    return names


def _in_dtype(out: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``out`` in an input's dtype: integers (DN) rounded and clipped to their range, floats cast."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype, copy=False) if np.issubdtype(dtype, np.floating) else out
