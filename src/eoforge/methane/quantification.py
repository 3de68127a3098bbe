"""Emission rates from column maps: integrated mass enhancement (IME; Varon et al. 2018, AMT 11:5673).

For a plume mask of N pixels of area A_pix and column enhancements dOmega_i (mol/m2):

    IME = M_CH4 sum_{i in mask} (dOmega_i - B) A_pix               (kg)
    L   = sqrt(N A_pix)                                             (m, plume length scale)
    Q   = U_eff IME / L                                             (kg/s; x 3600 for kg/h)
    U_eff = a U10 + b                                               (m/s)

B is the local background, the median column in a 5-pixel ring around the mask (it removes the
local bias a surface change leaves in the retrieval; Varon et al. 2018 also subtract a background).
U_eff is an effective wind speed that absorbs the plume-shape and masking effects; it must be
calibrated for the masking used. Varon et al. (2021, AMT 14:2771) calibrated U_eff = 0.33 U10 +
0.45 m/s for Sentinel-2 [MEM, per the notes: not re-read]. The defaults :data:`U_EFF_A`,
:data:`U_EFF_B` are this project's own calibration, ``calibrate_effective_wind()`` of
:mod:`.calibration.effective_wind` with its default arguments: 96 simulated puff plumes (seeds
1000-1095 = :data:`CALIBRATION_SEEDS`; desert and semi-arid scenes of 192 x 192 px with sensor
noise and surface change; rates log-uniform in 300-10000 kg/h; U10 uniform in 1.5-7 m/s; masks of
clear pixels whose true column exceeds 0.1 mol/m2; the 47 detectable cases kept, >= 10 pixels and
plume SNR >= 5; IME from the MBMP retrieval with local background) gave a = 0.437, b = 0.054 m/s
and a relative scatter of 0.204. The fit depends on the masking: re-run it for other masks (e.g. a
detector's) and pass a, b and the scatter.

Uncertainty (1 sigma, relative terms added in quadrature):

    (sigma_Q / Q)^2 = (a sigma_U / U_eff)^2 + (sigma_IME / IME)^2 + s_cal^2,

with sigma_U the wind-speed error (default 30 % of U10, typical of reanalysis 10 m winds [INF]),
s_cal the relative scatter of the U_eff calibration, and sigma_IME the retrieval noise of the
IME: by default the robust spread of the same (background-subtracted) sum over copies of the mask
translated onto plume-free background, which keeps spatially correlated retrieval errors (surface
changes, misregistration); with too little background, M_CH4 A_pix sigma_bg sqrt(N) with sigma_bg
the robust standard deviation (1.4826 MAD) of the column outside the mask (independent pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.methane.physics import M_CH4, SECONDS_PER_HOUR

U_EFF_A = 0.437
"""Slope a of U_eff = a U10 + b (project calibration, module docstring)."""
U_EFF_B = 0.054
"""Intercept b (m/s) of U_eff = a U10 + b (project calibration)."""
U_EFF_REL_STD = 0.204
"""Relative scatter of the calibrated U_eff (s_cal), from the same calibration."""
WIND_REL_STD = 0.3
"""Default relative wind-speed uncertainty when ``wind_speed_std`` is not given [INF]."""
CALIBRATION_SEEDS = tuple(range(1000, 1096))
"""Seeds of the default calibration set (held-out tests use other seeds)."""
_MAD = 1.4826


@dataclass(frozen=True)
class PlumeRate:
    """Emission-rate estimate of one plume.

    Attributes:
        rate_kg_h: Q in kg/h.
        sigma_kg_h: 1-sigma uncertainty of Q in kg/h.
        ime_kg: Integrated mass enhancement in kg.
        length_m: L = sqrt(area) in m.
        area_m2: Mask area in m2.
        u_eff: Effective wind speed in m/s.
        n_pixels: Pixels in the mask.
        background_std: Robust std of the column outside the mask (mol/m2).
        relative_errors: The relative terms (wind, retrieval, calibration).
    """

    rate_kg_h: float
    sigma_kg_h: float
    ime_kg: float
    length_m: float
    area_m2: float
    u_eff: float
    n_pixels: int
    background_std: float
    relative_errors: dict[str, float] = field(default_factory=dict)


def effective_wind(wind_speed: float, a: float = U_EFF_A, b: float = U_EFF_B) -> float:
    """U_eff = a U10 + b (m/s)."""
    return float(a * wind_speed + b)


def local_background(column_mol_m2: np.ndarray, mask: np.ndarray, ring_px: int = 5) -> float:
    """Median column in a ring of ``ring_px`` pixels around ``mask`` (0 if under 5 pixels)."""
    col, m = _check_maps(column_mol_m2, mask)
    if int(ring_px) < 1:
        raise bad_value("ring_px", ring_px, "an int >= 1")
    ring = ndimage.binary_dilation(m, iterations=int(ring_px)) & ~m & np.isfinite(col)
    return float(np.median(col[ring])) if ring.sum() >= 5 else 0.0


def integrated_mass(
    column_mol_m2: np.ndarray,
    mask: np.ndarray,
    pixel_size: float = 20.0,
    background: str = "local",
    ring_px: int = 5,
) -> tuple[float, float, int]:
    """IME, L and N of one plume mask on a column map.

    IME = M_CH4 A_pix sum_{mask} (dOmega_i - B), with B the median column in a ring of
    ``ring_px`` pixels around the mask (``background="local"``; removes local retrieval biases
    such as surface changes) or 0 (``"none"``). NaNs count as B.

    Returns:
        (IME in kg, L = sqrt(N A_pix) in m, N pixels).
    """
    col, m = _check_maps(column_mol_m2, mask)
    px = _positive("pixel_size", pixel_size)
    if background not in ("local", "none"):
        raise bad_value("background", background, "'local' or 'none'")
    bg = local_background(col, m, ring_px) if background == "local" and m.any() else 0.0
    n = int(m.sum())
    ime = float(np.nansum(col[m] - bg)) * px**2 * M_CH4
    return ime, float(np.sqrt(n) * px), n


def _positive(name: str, value: float) -> float:
    v = float(value)
    if not np.isfinite(v) or v <= 0:
        raise bad_value(name, value, "a finite number > 0")
    return v


def _check_maps(column: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    col = np.asarray(column, dtype=float)
    m = np.asarray(mask)
    if m.dtype != bool:
        raise bad_value("mask", f"array of dtype {m.dtype}", "a boolean array", "Use mask > 0.")
    if col.shape != m.shape or col.ndim != 2:
        raise ShapeError(f"column {col.shape} and mask {m.shape} must be the same 2-D shape.")
    return col, m


def shifted_mask_noise(
    column_mol_m2: np.ndarray,
    mask: np.ndarray,
    ring_px: int = 5,
    n_shifts: int = 200,
    random_state: int = 0,
) -> float | None:
    """Empirical std of the background-subtracted column sum over translated copies of ``mask``.

    The mask (and its background ring) is moved to ``n_shifts`` random positions clear of the
    plume; the robust standard deviation (1.4826 MAD) of sum_{mask+o} dOmega - N B_{ring+o}
    is the retrieval noise of the IME sum, spatially correlated noise included.

    Returns:
        The standard deviation in mol/m2 x pixels, or ``None`` with fewer than 10 placements or
        a flat background (a map zeroed outside the plume).
    """
    col, m = _check_maps(column_mol_m2, mask)
    h, w = m.shape
    rows, cols = np.nonzero(m)
    ring = ndimage.binary_dilation(m, iterations=int(ring_px)) & ~m
    r_rows, r_cols = np.nonzero(ring)
    if rows.size == 0 or r_rows.size < 5:
        return None
    keep_out = ndimage.binary_dilation(m, iterations=int(ring_px) + 2)
    lo_r, hi_r = -min(rows.min(), r_rows.min()), h - 1 - max(rows.max(), r_rows.max())
    lo_c, hi_c = -min(cols.min(), r_cols.min()), w - 1 - max(cols.max(), r_cols.max())
    if hi_r < lo_r or hi_c < lo_c:
        return None
    rng = np.random.default_rng(random_state)
    sums = []
    for _ in range(4 * n_shifts):
        dr, dc = int(rng.integers(lo_r, hi_r + 1)), int(rng.integers(lo_c, hi_c + 1))
        if keep_out[rows + dr, cols + dc].any():
            continue
        vals = col[rows + dr, cols + dc]
        ring_vals = col[r_rows + dr, r_cols + dc]
        if np.isnan(vals).mean() > 0.2 or np.isfinite(ring_vals).sum() < 5:
            continue
        sums.append(np.nansum(vals - np.nanmedian(ring_vals)))
        if len(sums) == n_shifts:
            break
    if len(sums) < 10:
        return None
    s = np.asarray(sums)
    spread = float(_MAD * np.median(np.abs(s - np.median(s))))
    return spread if spread > 0 else None


def _check_wind(wind_speed: float, wind_speed_std: float | None) -> tuple[float, float]:
    """U10 and its 1-sigma error (default ``WIND_REL_STD * U10``), checked."""
    u10 = float(wind_speed)
    if not np.isfinite(u10) or u10 < 0:
        raise bad_value("wind_speed", wind_speed, "a 10 m wind speed in m/s >= 0")
    sig_u = WIND_REL_STD * u10 if wind_speed_std is None else float(wind_speed_std)
    if not np.isfinite(sig_u) or sig_u < 0:
        raise bad_value("wind_speed_std", wind_speed_std, "a standard deviation >= 0 (m/s)")
    return u10, sig_u


def _background_std(col: np.ndarray, mask: np.ndarray, background_mask: np.ndarray | None) -> float:
    """Robust std (1.4826 MAD) of the finite column off the plume (0 with < 10 pixels)."""
    bg_sel = ~mask & np.isfinite(col)
    if background_mask is not None:
        bg_sel &= np.asarray(background_mask, dtype=bool)
    bg = col[bg_sel]
    return float(_MAD * np.median(np.abs(bg - np.median(bg)))) if bg.size >= 10 else 0.0


def quantify_plume(
    column_mol_m2: np.ndarray,
    mask: np.ndarray,
    wind_speed: float,
    pixel_size: float = 20.0,
    wind_speed_std: float | None = None,
    *,
    a: float = U_EFF_A,
    b: float = U_EFF_B,
    calibration_rel_std: float = U_EFF_REL_STD,
    background_std: float | None = None,
    background_mask: np.ndarray | None = None,
    background: str = "local",
    ring_px: int = 5,
    noise: str | None = None,
) -> PlumeRate:
    """Emission rate Q = (a U10 + b) IME / sqrt(area) with its uncertainty (module docstring).

    Args:
        column_mol_m2: (H, W) retrieved column enhancement dOmega (mol/m2; NaN allowed).
        mask: (H, W) boolean plume mask (one plume).
        wind_speed: 10 m wind speed U10 in m/s.
        pixel_size: Pixel side in metres.
        wind_speed_std: 1-sigma error of U10 (default ``WIND_REL_STD * wind_speed``).
        a: Slope of U_eff = a U10 + b.
        b: Intercept of U_eff (m/s).
        calibration_rel_std: Relative scatter s_cal of the U_eff calibration.
        background_std: Per-pixel column noise (mol/m2); default: robust std of the column
            outside the mask (within ``background_mask`` if given).
        background_mask: Optional boolean mask of the pixels used for ``background_std``.
        background: "local" subtracts the median column of a ring around the mask from the
            plume pixels (see :func:`integrated_mass`); "none" integrates the column as is.
        ring_px: Width of that ring in pixels.
        noise: "shifts" estimates sigma_IME from translated copies of the mask
            (:func:`shifted_mask_noise`; spatially correlated noise included) and falls back to
            "independent", sigma_IME = M A sigma_bg sqrt(N), when the map is too small or flat
            (e.g. zeroed outside the mask). Default: "shifts", or "independent" when
            ``background_std`` is given. Pass the full retrieved column map (not zeroed or
            clipped outside the plume) for the local background and the shifts to work.

    Returns:
        The :class:`PlumeRate`.

    Raises:
        InputError: If the mask is empty or an input is invalid.
    """
    col, m = _check_maps(column_mol_m2, mask)
    u10, sig_u = _check_wind(wind_speed, wind_speed_std)
    if not m.any():
        raise InputError("mask is empty: pass the boolean mask of one detected plume.")
    u_eff = effective_wind(u10, a, b)
    if u_eff <= 0:
        raise InputError(
            f"U_eff = a U10 + b = {u_eff:.3g} m/s <= 0 for wind_speed={u10}: the wind is below "
            "the calibrated range (1.5-7 m/s); pass a measured wind or your own a, b."
        )
    ime, length, n = integrated_mass(col, m, pixel_size, background, ring_px)
    explicit_std = background_std
    if background_std is None:
        background_std = _background_std(col, m, background_mask)
    q_kg_h = u_eff * ime / length * SECONDS_PER_HOUR
    if noise is None:
        noise = "shifts" if explicit_std is None else "independent"
    if noise not in ("shifts", "independent"):
        raise bad_value("noise", noise, "'shifts', 'independent' or None")
    sum_std = shifted_mask_noise(col, m, ring_px) if noise == "shifts" else None
    if sum_std is None:
        sum_std = background_std * np.sqrt(n)
    sigma_ime = M_CH4 * float(pixel_size) ** 2 * sum_std
    rel = {
        "wind": a * sig_u / u_eff,
        "retrieval": sigma_ime / abs(ime) if ime != 0 else float("inf"),
        "calibration": float(calibration_rel_std),
    }
    sigma = abs(q_kg_h) * float(np.sqrt(sum(v**2 for v in rel.values())))
    if ime == 0:
        sigma = u_eff * sigma_ime / length * SECONDS_PER_HOUR
    return PlumeRate(
        rate_kg_h=float(q_kg_h),
        sigma_kg_h=float(sigma),
        ime_kg=ime,
        length_m=length,
        area_m2=n * float(pixel_size) ** 2,
        u_eff=u_eff,
        n_pixels=n,
        background_std=float(background_std),
        relative_errors={k: float(v) for k, v in rel.items()},
    )


@dataclass(frozen=True)
class EffectiveWindFit:
    """Result of fitting U_eff = a U10 + b to required effective winds U_req = Q L / IME."""

    a: float
    b: float
    rel_std: float
    n: int
    u10: np.ndarray
    u_required: np.ndarray


def fit_effective_wind(u10: Sequence[float], u_required: Sequence[float]) -> EffectiveWindFit:
    """Weighted least squares of U_req ~ a U10 + b with weights 1 / U_req^2 (relative errors).

    Minimises sum_i ((a U10_i + b) / U_req_i - 1)^2, so Q estimates are unbiased in ratio; the
    scatter s_cal is the standard deviation of the ratios (a U10_i + b) / U_req_i.

    Args:
        u10: 10 m wind speeds (m/s).
        u_required: Effective winds that reproduce the true rate, Q_true L / IME (m/s).

    Returns:
        The :class:`EffectiveWindFit`.
    """
    x = np.asarray(u10, dtype=float)
    y = np.asarray(u_required, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (y > 0)
    if ok.sum() < 3:
        raise InputError(f"need >= 3 valid calibration cases (got {int(ok.sum())}).")
    x, y = x[ok], y[ok]
    design = np.stack([x / y, 1.0 / y], axis=1)
    (a, b), *_ = np.linalg.lstsq(design, np.ones_like(y), rcond=None)
    ratio = (a * x + b) / y
    return EffectiveWindFit(float(a), float(b), float(np.std(ratio, ddof=2)), int(x.size), x, y)
