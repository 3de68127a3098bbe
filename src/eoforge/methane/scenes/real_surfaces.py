"""Real Sentinel-2 surfaces as methane test pairs: between-date differences and injected plumes.

A single real L2A patch (one GeoTIFF per band, e.g. the BigEarthNet patches in
``tests/data/bigearthnet-s2/``) becomes a target/reference pair on the 20 m grid:

    reference_b = Q[ g_b S_d(R_b) + n_r ],    target_b = Q[ T_b(AMF dOmega) R_b + n_t ],

with R_b the real reflectance (B04 averaged 2 x 2 from 10 m), S_d a sub-pixel shift by
d = (d_row, d_col) pixels (Fourier phase ramp on the mirror-extended image, so the shifted
reference keeps the real texture and spectrum; ``shift_method="bilinear"`` smooths like the
simulator), g_b a per-band radiometric gain (1 + N(0, ``gain_std``)), n independent Gaussian
sensor noise with the simulator's MSI SNR model (:func:`.spectra.noise_sigma`, ``noise_scale``
1 = the requirement, ~0.5 = in flight), T_b the band transmittance of an injected plume
(:func:`.physics.inject_plume`, the simulator's one Beer-Lambert implementation) and Q the L1C
quantisation to 1e-4. The noise already in the real patch is common to both dates; the added
noise makes the dates independent at the chosen level.

The solar zenith angle comes from the patch's acquisition time and centre (NOAA low-precision
solar position, ~0.1 degree), so the air-mass factor is that of the real scene.

The patches are read here with rasterio (a small helper of this module); a shared reader of
per-band GeoTIFF folders in :mod:`eoforge.io` may replace :func:`read_patch` later.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.warp import transform

from eoforge.core.errors import DataNotFoundError, bad_value
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2 import read_s2_band_files
from eoforge.methane.physics import air_mass_factor, inject_plume
from eoforge.methane.plumes import psf_blur, puff_column
from eoforge.methane.scenes.fields import shift_image
from eoforge.methane.scenes.spectra import S2_BANDS, noise_sigma

PAIR_BANDS = ("B04", "B8A", "B11", "B12")
"""Bands of a real pair: what the shipped detector reads."""


@dataclass(frozen=True)
class RealPatch:
    """One real patch on its 20 m grid.

    Attributes:
        name: Patch folder name.
        bands: Band -> (H, W) float32 reflectance (DN / 10000; DN 0 -> NaN).
        geo: 20 m georeferencing.
        sza: Solar zenith angle at acquisition (degrees).
        satellite: "S2A" or "S2B".
        labels: CORINE labels of the patch.
        metadata: The patch's metadata JSON.
    """

    name: str
    bands: dict[str, np.ndarray]
    geo: GeoInfo
    sza: float
    satellite: str
    labels: tuple[str, ...] = ()
    metadata: dict = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class RealPair:
    """A target/reference pair built from one real patch (module docstring)."""

    target: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    geo: GeoInfo
    sza: float
    vza: float
    patch: str
    shift_px: tuple[float, float]
    gain: dict[str, float]
    noise_scale: float
    column: np.ndarray | None = None
    params: dict = field(default_factory=dict)

    @property
    def amf(self) -> float:
        """Two-way air-mass factor of the pair."""
        return float(air_mass_factor(self.sza, self.vza))


def solar_zenith(when: datetime, lon: float, lat: float) -> float:
    """Solar zenith angle (degrees) at UTC time ``when`` and (lon, lat) in degrees.

    NOAA's low-precision formulas: fractional-year gamma, the equation of time and the
    declination as Fourier series in gamma, the true solar time and the hour angle.
    """
    doy = when.timetuple().tm_yday
    hour = when.hour + when.minute / 60.0 + when.second / 3600.0
    g = 2.0 * np.pi / 365.0 * (doy - 1 + (hour - 12.0) / 24.0)
    eqtime = 229.18 * (0.000075 + 0.001868 * np.cos(g) - 0.032077 * np.sin(g)
                       - 0.014615 * np.cos(2 * g) - 0.040849 * np.sin(2 * g))  # fmt: skip
    decl = (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))  # fmt: skip
    tst = hour * 60.0 + eqtime + 4.0 * lon
    ha = np.deg2rad(tst / 4.0 - 180.0)
    phi = np.deg2rad(lat)
    cos_z = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(ha)
    return float(np.rad2deg(np.arccos(np.clip(cos_z, -1.0, 1.0))))


def read_patch(folder: str | os.PathLike[str], bands: tuple[str, ...] = PAIR_BANDS) -> RealPatch:
    """Read a patch folder of per-band GeoTIFFs ``<name>_<BAND>.tif`` onto its 20 m grid.

    The bands are read by :func:`eoforge.io.sentinel2.read_s2_band_files` (10 m bands averaged
    2 x 2, the processing-baseline offset applied where declared); reflectance 0 is no-data
    (NaN).

    Raises:
        DataNotFoundError: If the folder or a band file is missing.
    """
    folder = Path(folder)
    name = folder.name
    bands_read, geo = read_s2_band_files(folder, bands, 20)
    out = {b: np.where(r == 0, np.float32(np.nan), r).astype(np.float32)
           for b, r in bands_read.items()}  # fmt: skip
    meta_path = folder / f"{name}_labels_metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    sza = _patch_sza(meta, geo) if meta else 45.0
    satellite = "S2B" if name.startswith("S2B") else "S2A"
    return RealPatch(name, out, geo, sza, satellite, tuple(meta.get("labels", ())), meta)


def _patch_sza(meta: dict[str, Any], geo: GeoInfo) -> float:
    c = meta["coordinates"]
    x, y = (c["ulx"] + c["lrx"]) / 2.0, (c["uly"] + c["lry"]) / 2.0
    lon, lat = transform(geo.crs, "EPSG:4326", [x], [y])
    when = datetime.strptime(meta["acquisition_date"], "%Y-%m-%d %H:%M:%S")
    return solar_zenith(when, float(lon[0]), float(lat[0]))


def list_patches(root: str | os.PathLike[str]) -> list[Path]:
    """Patch folders under ``root`` (sorted)."""
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"data folder {str(root)!r} does not exist.")
    return sorted(p for p in root.iterdir() if p.is_dir())


def fourier_shift(img: np.ndarray, d_row: float, d_col: float) -> np.ndarray:
    """Sub-pixel shift out(r, c) = img(r - d_row, c - d_col) by a Fourier phase ramp.

    The ramp is applied to the mirror-extended image (2H x 2W, continuous and periodic, so no
    wrap-around edge and no ringing there).
    """
    h, w = img.shape
    ext = np.concatenate([img, img[::-1]], axis=0)
    ext = np.concatenate([ext, ext[:, ::-1]], axis=1)
    ky = np.fft.fftfreq(2 * h)[:, None]
    kx = np.fft.fftfreq(2 * w)[None, :]
    ramp = np.exp(-2j * np.pi * (ky * d_row + kx * d_col))
    if (2 * h) % 2 == 0:  # keep the result real: the Nyquist terms get a real (cosine) factor
        ramp[h, :] = ramp[h, :].real
        ramp[:, w] = ramp[:, w].real
    out = np.fft.ifft2(np.fft.fft2(ext) * ramp).real
    return out[:h, :w].astype(img.dtype, copy=False)


def _finish(r: np.ndarray, band: str, noise_scale: float, rng: np.random.Generator) -> np.ndarray:
    """Add sensor noise (simulator SNR model) and quantise to the L1C step of 1e-4."""
    r = np.array(r, dtype=np.float32)
    if noise_scale > 0:
        sig = noise_sigma(np.nan_to_num(r), S2_BANDS.index(band), noise_scale)
        r += sig * rng.standard_normal(r.shape, dtype=np.float32)
    r = np.rint(r * np.float32(1e4)) * np.float32(1e-4)
    return np.clip(r, 1e-4, 1.0)  # NaN (no-data) stays NaN


def plume_column(
    shape: tuple[int, int],
    emission_rate_kg_h: float,
    seed: int,
    *,
    wind_speed: float = 3.0,
    wind_direction: float | None = None,
    source: tuple[float, float] | None = None,
    pixel_size: float = 20.0,
    duration_s: float = 1800.0,
    psf_sigma_px: float = 0.52,
) -> tuple[np.ndarray, dict]:
    """Column dOmega (mol/m2) of a puff plume on the grid, as the simulator renders it.

    Puffs in an OU wind and the S2 PSF, as in :func:`.simulate.simulate_plume_pair`. The
    default source sits a quarter of the grid
    upwind of the centre, so a small patch holds most of the plume's first kilometre.

    Returns:
        (column (H, W) float64, params: wind direction, source, mass on the grid in kg).
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    direction = float(rng.uniform(0.0, 360.0) if wind_direction is None else wind_direction)
    if source is None:  # wind blows from `direction` (clockwise from north; rows grow south)
        a = np.deg2rad(direction)
        up = np.array([-np.cos(a), np.sin(a)])  # (row, col) towards the wind's origin
        src = (h / 2.0 + 0.25 * h * up[0], w / 2.0 + 0.25 * w * up[1])
    else:
        src = (float(source[0]), float(source[1]))
    col = puff_column(float(emission_rate_kg_h), float(wind_speed), direction, (h, w),
                      float(pixel_size), src, rng, float(duration_s))  # fmt: skip
    if psf_sigma_px > 0:
        col = psf_blur(col, psf_sigma_px)
    params = {"emission_rate_kg_h": float(emission_rate_kg_h), "wind_speed": float(wind_speed),
              "wind_direction": direction, "source": src,
              "mass_on_grid_kg": float(col.sum() * pixel_size**2 * 16.04e-3)}  # fmt: skip
    return col, params


def make_pair(
    patch: RealPatch,
    seed: int,
    *,
    noise_scale: float = 1.0,
    misregistration_px: float = 0.1,
    gain_std: float = 0.02,
    shift: tuple[float, float] | None = None,
    gain: dict[str, float] | None = None,
    shift_method: str = "fourier",
    vza: float = 5.0,
    emission_rate_kg_h: float = 0.0,
    wind_speed: float = 3.0,
    wind_direction: float | None = None,
) -> RealPair:
    """Turn a real patch into a seeded target/reference pair (module docstring).

    Args:
        patch: From :func:`read_patch`.
        seed: Seed of the shift, gains, noise and plume.
        noise_scale: Sensor noise in units of the MSI requirement (0.5 ~ in flight; 0: none).
        misregistration_px: Std of the reference's shift per axis (20 m pixels), when ``shift``
            is None (0.1 px = 2 m: the S2 multi-temporal co-registration requirement is 0.3 of
            a 10 m pixel at 2 sigma).
        gain_std: Std of the reference's per-band gain, when ``gain`` is None.
        shift: Planted (d_row, d_col) shift of the reference (pixels), overriding the draw.
        gain: Planted per-band gains of the reference, overriding the draw.
        shift_method: "fourier" (texture-preserving) or "bilinear" (as the simulator).
        vza: Viewing zenith angle (degrees).
        emission_rate_kg_h: Rate of a plume injected into the target's B11/B12 (0: none).
        wind_speed: Transport wind of the plume (m/s).
        wind_direction: Its direction (random if None).

    Returns:
        A :class:`RealPair` (``column`` holds the injected plume's dOmega, else None).
    """
    if shift_method not in ("fourier", "bilinear"):
        raise bad_value("shift_method", shift_method, "'fourier' or 'bilinear'")
    if noise_scale < 0:
        raise bad_value("noise_scale", noise_scale, "a multiplier >= 0")
    g_shift, g_gain, g_noise, g_plume = (np.random.default_rng(s) for s in
                                         np.random.SeedSequence(int(seed)).spawn(4))  # fmt: skip
    d = tuple(g_shift.normal(0.0, misregistration_px, 2)) if shift is None else shift
    d = (float(d[0]), float(d[1]))
    drawn = {b: float(1.0 + g_gain.normal(0.0, gain_std)) for b in PAIR_BANDS}
    gains = drawn if gain is None else {b: float(gain.get(b, 1.0)) for b in PAIR_BANDS}
    shape = patch.bands["B11"].shape
    amf = float(air_mass_factor(patch.sza, vza))
    column: np.ndarray | None = None
    params: dict[str, Any] = {}
    tgt = {b: patch.bands[b] for b in PAIR_BANDS}
    if emission_rate_kg_h > 0:
        column, params = plume_column(shape, emission_rate_kg_h, int(g_plume.integers(2**31)),
                                      wind_speed=wind_speed, wind_direction=wind_direction,
                                      pixel_size=abs(float(patch.geo.transform.a)))  # fmt: skip
        clear = np.all([np.isfinite(tgt[b]) for b in PAIR_BANDS], axis=0)
        tgt = inject_plume(tgt, column, amf, ("B11", "B12"), clear, patch.satellite)
    target, reference = {}, {}
    for b in PAIR_BANDS:
        target[b] = _finish(tgt[b], b, noise_scale, g_noise)
        r = np.nan_to_num(patch.bands[b], nan=0.0)
        r = fourier_shift(r, *d) if shift_method == "fourier" else shift_image(r, *d)
        r = r * np.float32(gains[b])
        r[~np.isfinite(patch.bands[b])] = np.nan
        reference[b] = _finish(r, b, noise_scale, g_noise)
    return RealPair(target, reference, patch.geo, patch.sza, vza, patch.name, d, gains,
                    float(noise_scale), column, params)  # fmt: skip


def measure_shift(
    moving: np.ndarray, fixed: np.ndarray, border: int = 4, iters: int = 8
) -> tuple[float, float]:
    """Shift d with moving(r, c) ~ fixed(r - d_row, c - d_col), by iterated Lucas-Kanade.

    Gauss-Newton on the bilinear warp of ``fixed`` (an estimator independent of
    :func:`fourier_shift`). Gains are removed by matching means on the interior.
    """
    sl = (slice(border, -border), slice(border, -border))
    m = moving.astype(np.float64)
    f = fixed.astype(np.float64)
    m = m / np.mean(m[sl])
    f = f / np.mean(f[sl])
    d = np.zeros(2)
    for _ in range(iters):
        warped = shift_image(f, d[0], d[1])
        gr, gc = np.gradient(warped)
        res = (m - warped)[sl]
        a = np.stack([gr[sl].ravel(), gc[sl].ravel()], axis=1)
        step, *_ = np.linalg.lstsq(a, res.ravel(), rcond=None)
        d -= step  # warped(x) ~ f(x - d); m - warped ~ -grad . delta
    return float(d[0]), float(d[1])
