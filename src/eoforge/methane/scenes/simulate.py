"""Seeded synthetic Sentinel-2 scene pairs (target + reference date), with or without a plume.

A pair is rendered band by band, in this order (each step documented in its module):

1. surface reflectance of both dates (:mod:`.surface`: desert, semi-arid, vegetated,
   urban; spectra in :mod:`.spectra`), water bodies (dark in the SWIR);
2. confounders on the target date (albedo change, new shadow, wet soil, burn scar: B12 darkens
   relative to B11 without methane), then the methane plume, if any, through
   :func:`eoforge.methane.physics.inject_plume` on clear land;
3. the date's radiometry: R <- g_b R + p_b with a global gain g_b = g (1 + e_b), g ~ N(1, 0.02 c),
   e_b ~ N(0, 0.004 c) on the reference date (c the change amount of the time gap) and path
   reflectances p_b (Rayleigh-like, bluest bands highest) that differ by ~5 % between dates;
   on the reference, a smooth field f (beta = 3.5, std ``atmosphere_std`` = 1 %) also scales the
   SWIR by 1 + l_b f (l = 0.35 for B11, 1 for B12): between-date water-vapour and BRDF residuals,
   which leave MBMP noise of ~1 % over deserts, the order the notes report for real scenes;
4. clouds and their shadows displaced away from the sun (:mod:`.effects`);
5. a sub-pixel misregistration of the reference (N(0, ``misregistration_px``) per axis);
6. photon-like sensor noise with the S2 SNRs, L1C quantisation to 1e-4, clipping to [0, 1].

Typical scene statistics (checked in tests/methane/scenes/test_simulate.py; medians over a
scene, ranges over seeds):

=========  ===========  ===========  ===========  =========================
surface    B12 / B11    B8A / B04    B11          MBMP robust std (10 days)
=========  ===========  ===========  ===========  =========================
desert     0.70 - 0.92  1.0 - 1.6    0.40 - 0.65  ~0.9 %
semi-arid  0.65 - 0.85  1.3 - 2.2    0.20 - 0.40  ~1.3 %
vegetated  0.38 - 0.75  2 - 10       0.12 - 0.30  ~1.3 %
urban      0.80 - 0.95  1.0 - 1.7    0.15 - 0.35  ~1.3 %
=========  ===========  ===========  ===========  =========================

Every component draws from its own child of ``numpy.random.SeedSequence(seed)``, so changing the
cloud fraction, the confounders or the plume leaves the rest of the scene identical: the same seed
gives a plume-free negative and a positive on the same background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoforge.core.errors import InputError, bad_value
from eoforge.methane.physics import fractional_signal
from eoforge.methane.plumes import gaussian_plume, psf_blur, puff_column
from eoforge.methane.scenes.options import DEFAULTS, SceneOptions
from eoforge.methane.scenes.render import ScenePair, render_pair

__all__ = ["simulate_pair", "simulate_plume_pair"]


def simulate_pair(
    shape: tuple[int, int] = (256, 256),
    surface: str | None = "semi-arid",
    seed: int | np.random.Generator = 0,
    *,
    cloud_fraction: float | tuple[float, float] = DEFAULTS.cloud_fraction,
    confounders: int | Sequence[str] = DEFAULTS.confounders,
    time_gap_days: float = DEFAULTS.time_gap_days,
    water_fraction: float | None = DEFAULTS.water_fraction,
    sza: float | None = DEFAULTS.sza,
    vza: float | None = DEFAULTS.vza,
    saa: float | None = DEFAULTS.saa,
    noise_scale: float = DEFAULTS.noise_scale,
    misregistration_px: float = DEFAULTS.misregistration_px,
    atmosphere_std: float = DEFAULTS.atmosphere_std,
    quantize: bool = DEFAULTS.quantize,
    bands: Sequence[str] = DEFAULTS.bands,
    satellite: str = DEFAULTS.satellite,
    pixel_size: float = DEFAULTS.pixel_size,
    date_seed: int | None = DEFAULTS.date_seed,
) -> ScenePair:
    """Simulate a plume-free target/reference pair of Sentinel-2 20 m scenes (module docstring).

    The defaults of the keyword options are those of :class:`~.options.SceneOptions`.

    Args:
        shape: Grid (H, W), each >= 8 (a 5490 x 5490 tile takes ~10-20 s).
        surface: "desert", "semi-arid", "vegetated", "urban", or ``None`` (drawn from the seed).
        seed: Non-negative int (or a Generator, from which one is drawn).
        cloud_fraction: Cloud cover of both dates, or (target, reference).
        confounders: Number of random confounders on the target date, or a list of kinds among
            "albedo", "shadow", "wet_soil", "burn_scar".
        time_gap_days: Days between the reference and the target; sets the change amount
            c = min(1, sqrt(gap / 30)).
        water_fraction: Fraction of water (default per surface: 0, 1, 3, 2 %).
        sza: Solar zenith of the target date (default ~U(20, 60) degrees).
        vza: Viewing zenith (default ~U(0, 11) degrees).
        saa: Solar azimuth, clockwise from north (default ~U(100, 260) degrees).
        noise_scale: Multiplier of the sensor noise (0: noise-free).
        misregistration_px: Standard deviation of the reference's sub-pixel shift (0: none).
        atmosphere_std: Relative amplitude of a smooth between-date field in the reference's
            SWIR (water vapour, BRDF residuals), times :data:`~.render.VAPOUR_LOADING` per band
            (0: none).
        quantize: Round to the L1C step of 1e-4.
        bands: Bands to simulate (subset of B02, B03, B04, B8A, B11, B12).
        satellite: "S2A" or "S2B" (spectral response used for injected plumes).
        pixel_size: Pixel size in metres (sets cloud-shadow offsets).
        date_seed: Seed of what differs between revisits of one site (clouds, confounders,
            radiometry, noise, plume turbulence); the surface, water and geometry stay those of
            ``seed``. ``None``: all from ``seed`` (the default, unchanged scenes).

    Returns:
        The :class:`ScenePair`.
    """
    options = SceneOptions(
        cloud_fraction=cloud_fraction, confounders=confounders, time_gap_days=time_gap_days,
        water_fraction=water_fraction, sza=sza, vza=vza, saa=saa, noise_scale=noise_scale,
        misregistration_px=misregistration_px, atmosphere_std=atmosphere_std, quantize=quantize,
        bands=bands, satellite=satellite, pixel_size=pixel_size, date_seed=date_seed,
    )  # fmt: skip
    return render_pair(shape, surface, seed, options).pair


def simulate_plume_pair(
    shape: tuple[int, int] = (256, 256),
    surface: str | None = "semi-arid",
    seed: int | np.random.Generator = 0,
    *,
    emission_rate_kg_h: float = 1000.0,
    wind_speed: float = 3.0,
    wind_direction: float | None = None,
    source: tuple[float, float] | None = None,
    model: str = "puffs",
    duration_s: float = 1800.0,
    psf_sigma_px: float = 0.52,
    mask_threshold: float = 1e-3,
    **scene_kwargs: Any,
) -> tuple[ScenePair, NDArray[np.float64], NDArray[np.bool_], dict[str, Any]]:
    """Simulate a pair whose target holds a methane plume of known emission rate.

    The background is exactly :func:`simulate_pair` with the same ``seed`` and ``scene_kwargs``
    (a matched negative). The column map dOmega (mol/m2) comes from Gaussian puffs in an OU wind
    (``model="puffs"``) or the steady Gaussian plume (``"gaussian"``) of :mod:`.plumes`, blurred
    by the S2 PSF, and darkens the target's B11/B12 as R_b <- R_b T_b(AMF dOmega) on clear land
    (before noise). The plume mask is Orbio's label rule |T_B12/T_B11 - 1| > ``mask_threshold``
    on clear land.

    Args:
        shape: Grid (H, W).
        surface: Surface type (see :func:`simulate_pair`).
        seed: Non-negative int.
        emission_rate_kg_h: Source rate Q in kg/h.
        wind_speed: Mean 10 m wind speed in m/s (used as the transport wind).
        wind_direction: Direction the wind blows from, clockwise from north (random if None).
        source: Source (row, col) in pixels (default: a random clear pixel in the central 60 %).
        model: "puffs" or "gaussian".
        duration_s: Release duration of the puff model (s).
        psf_sigma_px: Gaussian PSF sigma in pixels (0: none).
        mask_threshold: Threshold on |fractional signal| defining the plume mask.
        **scene_kwargs: Any keyword of :func:`simulate_pair`.

    Returns:
        (pair, column (H, W) mol/m2 float64, plume mask (H, W) bool, params dict).
    """
    if model not in ("puffs", "gaussian"):
        raise bad_value("model", model, "'puffs' or 'gaussian'")
    options = _plume_pair_options(scene_kwargs)
    plume = _Plume(float(emission_rate_kg_h), wind_speed, wind_direction, source, model,
                   duration_s, psf_sigma_px, options.pixel_size)  # fmt: skip
    rendered = render_pair(shape, surface, seed, options, plume)
    column = rendered.column
    if column is None:  # render_pair always calls the plume it is given
        raise RuntimeError("render_pair returned no plume column")
    frac = np.abs(fractional_signal(column, rendered.amf, options.satellite))
    mask = (frac > mask_threshold) & rendered.clear_target
    params: dict[str, Any] = {"emission_rate_kg_h": float(emission_rate_kg_h),
                              "wind_speed": wind_speed, "model": model,
                              "psf_sigma_px": psf_sigma_px, **plume.drawn}  # fmt: skip
    params["mask_threshold"] = mask_threshold
    params["mass_on_grid_kg"] = float(column.sum() * params["pixel_size"] ** 2 * 16.04e-3)
    return rendered.pair, column, mask, params


def _plume_pair_options(scene_kwargs: dict[str, Any]) -> SceneOptions:
    """The options of a plume pair: keywords of :func:`simulate_pair`, with B11 and B12."""
    names = sorted(f.name for f in fields(SceneOptions))
    unknown = sorted(set(scene_kwargs) - set(names))
    if unknown:
        raise bad_value("scene_kwargs", unknown, f"keywords of simulate_pair: {names}")
    options = SceneOptions(**scene_kwargs)
    if not {"B11", "B12"} <= set(options.bands):
        raise InputError("a plume pair needs bands B11 and B12; add them to bands=...")
    return options


@dataclass
class _Plume:
    """The plume of :func:`simulate_plume_pair`, a :data:`~.render.PlumeColumn`.

    Called once with the target's clear land, it draws the wind direction (if not given), then
    the source (if not given: a clear pixel in the central 60 %, up to 50 tries), then the puffs,
    all from the plume stream, and records them in :attr:`drawn`.
    """

    emission_rate_kg_h: float
    wind_speed: float
    wind_direction: float | None
    source: tuple[float, float] | None
    model: str
    duration_s: float
    psf_sigma_px: float
    pixel_size: float
    drawn: dict[str, Any] = field(default_factory=dict)

    def __call__(
        self, clear: NDArray[np.bool_], amf: float, rng: np.random.Generator
    ) -> NDArray[np.float64]:
        h, w = clear.shape
        wind = self.wind_direction
        direction = rng.uniform(0.0, 360.0) if wind is None else wind
        src = self._source(clear, rng)
        px = self.pixel_size
        if self.model == "puffs":
            col = puff_column(self.emission_rate_kg_h, self.wind_speed, direction, (h, w), px,
                              src, rng, self.duration_s)  # fmt: skip
        else:
            col = gaussian_plume(self.emission_rate_kg_h, self.wind_speed, direction, (h, w), px,
                                 src)  # fmt: skip
        if self.psf_sigma_px > 0:
            col = psf_blur(col, self.psf_sigma_px)
        self.drawn.update(wind_direction=float(direction), source=src, amf=amf, pixel_size=px)
        return col

    def _source(self, clear: NDArray[np.bool_], rng: np.random.Generator) -> tuple[float, float]:
        if self.source is not None:
            return float(self.source[0]), float(self.source[1])
        h, w = clear.shape
        src = (rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w)
        for _ in range(50):
            if clear[int(src[0]), int(src[1])]:
                break
            src = (rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w)
        return float(src[0]), float(src[1])
