"""The ten TenGeoP-SARwv geophysical phenomena as seeded, vectorised spatial patterns.

TenGeoP-SARwv (Wang, Mouche, Tandeo et al., Geoscience Data Journal 2019) labels Sentinel-1 wave
mode imagettes with ten classes. Each class here is (i) a class-specific sea state (wind and swell
distributions, :func:`sample_sea_state`) and (ii) a pattern (:func:`pattern`) that acts on the
image through an :class:`Effect`:

* ``wind_factor`` -- local wind / nominal wind (atmospheric phenomena change the surface wind,
  hence the NRCS through the geophysical model function),
* ``gain`` -- multiplicative change of the water NRCS (surface films, rain, currents, targets),
* ``wave_damping`` -- factor on the wave modulation (slicks and ice damp the waves),
* ``ice_fraction`` / ``ice_sigma0`` -- sea-ice cover and its own backscatter.

Pattern scales are physical (metres) but capped to a fraction of the field so that a small
imagette still shows a few features: wind-streak spacing 0.6-1.5 km, convective cells 0.8-2 km,
rain cells 2-10 km across, slick filaments 0.3-0.8 km, ice floes 0.3-1 km, icebergs 50-150 m.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eoforge.sar.spectra import G, wavenumber_grid


@dataclass(frozen=True)
class Grid:
    """Image grid: ``size x size`` pixels of ``pixel_size`` metres, wavenumbers and coordinates."""

    size: int
    pixel_size: float

    @property
    def extent(self) -> float:
        """Field width in metres."""
        return self.size * self.pixel_size

    def k(self) -> tuple[np.ndarray, np.ndarray, float]:
        """``(kx, ky, dk)`` from :func:`eoforge.sar.spectra.wavenumber_grid`."""
        return wavenumber_grid(self.size, self.pixel_size)

    def xy(self) -> tuple[np.ndarray, np.ndarray]:
        """Pixel-centre coordinates ``(x, y)`` in metres, origin at the centre, each ``(N, N)``."""
        c = (np.arange(self.size) - (self.size - 1) / 2.0) * self.pixel_size
        y, x = np.meshgrid(c, c, indexing="ij")
        return x, y


@dataclass
class Effect:
    """What a phenomenon does to a batch of ``b`` imagettes (arrays ``(b, N, N)``)."""

    wind_factor: np.ndarray
    gain: np.ndarray
    wave_damping: np.ndarray
    ice_fraction: np.ndarray | None = None
    ice_sigma0: np.ndarray | None = None

    @classmethod
    def neutral(cls, b: int, n: int) -> Effect:
        """The effect that changes nothing, for ``b`` images of ``n x n`` pixels."""
        one = np.ones((b, n, n))
        return cls(wind_factor=one, gain=one.copy(), wave_damping=one.copy())


# -- sea states ---------------------------------------------------------------------------------
# (wind_low, wind_high) in m/s per class; winds outside a class's range rarely show its pattern.
WIND_RANGE: dict[str, tuple[float, float]] = {
    "pure_ocean_waves": (3.0, 12.0),
    "wind_streaks": (6.0, 18.0),
    "micro_convective_cells": (3.0, 11.0),
    "rain_cells": (3.0, 12.0),
    "biological_slicks": (1.5, 6.0),
    "sea_ice": (2.0, 14.0),
    "icebergs": (3.0, 12.0),
    "low_wind_area": (0.7, 3.0),
    "atmospheric_front": (4.0, 14.0),
    "oceanic_front": (3.0, 10.0),
}


def sample_sea_state(name: str, b: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw wind and swell for ``b`` imagettes of class ``name``.

    Wind sea: ``Hs_ws = d * 0.22 U^2 / g`` (Pierson–Moskowitz ``0.22 U^2/g`` scaled by a
    development factor ``d ~ U(0.6, 1)``), wave age ``c_p / U = 1.14 sqrt(d)``, spread ``s = 2``
    about the wind. Swell: period ``T ~ U(9, 16)`` s, ``lambda_p = g T^2 / 2 pi`` (126-400 m),
    steepness ``Hs / lambda_p ~ LogNormal(log 0.006, 0.35)`` (so longer swell is higher, as in
    observed Hs-Tp climates), ``Hs_sw`` clipped to [0.3, 7] m, ``s ~ U(5, 25)``, direction
    uniform. Sea ice damps both (x 0.1). Total ``Hs = sqrt(Hs_ws^2 + Hs_sw^2)``.

    Returns:
        Arrays ``(b,)``: wind, wind_dir, ws_hs, ws_wavelength, sw_hs, sw_wavelength, sw_dir,
        sw_spread, hs.
    """
    lo, hi = WIND_RANGE[name]
    wind = rng.uniform(lo, hi, b)
    wind_dir = rng.uniform(0.0, 2.0 * np.pi, b)
    dev = rng.uniform(0.6, 1.0, b)
    ws_hs = dev * 0.22 * wind**2 / G
    ws_wavelength = 2.0 * np.pi * (1.14 * np.sqrt(dev) * wind) ** 2 / G
    period = rng.uniform(9.0, 16.0, b)
    sw_wavelength = G * period**2 / (2.0 * np.pi)
    steepness = rng.lognormal(np.log(0.006), 0.35, b)
    sw_hs = np.clip(steepness * sw_wavelength, 0.3, 7.0)
    sw_dir = rng.uniform(0.0, 2.0 * np.pi, b)
    sw_spread = rng.uniform(5.0, 25.0, b)
    if name == "sea_ice":
        ws_hs, sw_hs = 0.1 * ws_hs, 0.1 * sw_hs
    hs = np.sqrt(ws_hs**2 + sw_hs**2)
    return dict(wind=wind, wind_dir=wind_dir, ws_hs=ws_hs, ws_wavelength=ws_wavelength,
                sw_hs=sw_hs, sw_wavelength=sw_wavelength, sw_dir=sw_dir, sw_spread=sw_spread,
                hs=hs)  # fmt: skip


# -- random fields ------------------------------------------------------------------------------
def _filtered_noise(grid: Grid, filt: np.ndarray, rng: np.random.Generator, b: int) -> np.ndarray:
    """Gaussian field with amplitude spectrum ``filt`` (``(N,N)`` or ``(b,N,N)``), unit std."""
    white = rng.standard_normal((b, grid.size, grid.size))
    field = np.fft.ifft2(np.fft.fft2(white) * filt).real
    field -= field.mean(axis=(1, 2), keepdims=True)
    return field / np.maximum(field.std(axis=(1, 2), keepdims=True), 1e-12)


def smooth_noise(grid: Grid, scale: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian field with correlation length ``scale`` (m, ``(b,)``)."""
    kx, ky, _ = grid.k()
    k2 = (kx**2 + ky**2)[None]
    filt = np.exp(-0.5 * k2 * (np.asarray(scale)[:, None, None] / 2.0) ** 2)
    return _filtered_noise(grid, filt, rng, len(scale))


def ring_noise(
    grid: Grid,
    wavelength: np.ndarray,
    rng: np.random.Generator,
    direction: np.ndarray | None = None,
    elongation: float = 1.0,
) -> np.ndarray:
    """Band-pass field peaked at ``2 pi / wavelength``.

    With ``direction``: only wavevectors along it (anisotropic, features elongated across it by
    ``elongation``).
    """
    kx, ky, dk = grid.k()
    k0 = 2.0 * np.pi / np.asarray(wavelength)[:, None, None]
    if direction is None:
        k = np.hypot(kx, ky)[None]
        filt = np.exp(-0.5 * ((k - k0) / (0.35 * k0)) ** 2)
    else:
        c, s = np.cos(direction)[:, None, None], np.sin(direction)[:, None, None]
        k_par = np.abs(kx[None] * c + ky[None] * s)
        k_perp = -kx[None] * s + ky[None] * c
        filt = np.exp(-0.5 * ((k_par - k0) / (0.3 * k0)) ** 2)
        filt = filt * np.exp(-0.5 * (k_perp / np.maximum(k0 / (3 * elongation), dk)) ** 2)
    return _filtered_noise(grid, filt, rng, len(wavelength))


def _cap(values: np.ndarray, grid: Grid, frac: float) -> np.ndarray:
    return np.minimum(values, frac * grid.extent)


# -- the ten patterns ---------------------------------------------------------------------------
def _pure_ocean_waves(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    return Effect.neutral(len(st["wind"]), grid.size)


def _wind_streaks(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    spacing = _cap(rng.uniform(600.0, 1500.0, b), grid, 0.3)
    rolls = ring_noise(grid, spacing, rng, direction=st["wind_dir"] + np.pi / 2, elongation=4.0)
    eff = Effect.neutral(b, grid.size)
    eff.wind_factor = 1.0 + rng.uniform(0.08, 0.16, b)[:, None, None] * rolls
    return eff


def _micro_convective_cells(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    size = _cap(rng.uniform(800.0, 2000.0, b), grid, 0.3)
    walls = np.abs(ring_noise(grid, size, rng))
    walls = (walls - walls.mean(axis=(1, 2), keepdims=True)) / walls.std(axis=(1, 2), keepdims=True)
    eff = Effect.neutral(b, grid.size)
    eff.wind_factor = np.clip(1.0 + rng.uniform(0.12, 0.22, b)[:, None, None] * walls, 0.3, None)
    return eff


def _rain_cells(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    x, y = grid.xy()
    eff = Effect.neutral(b, grid.size)
    log_gain = np.zeros((b, grid.size, grid.size))
    for j in range(2):  # one cell, and a second one in 70 % of the imagettes
        present = (rng.random(b) < 0.7)[:, None, None] | (j == 0)
        radius = _cap(rng.uniform(1000.0, 5000.0, b), grid, 0.35)[:, None, None]
        cx, cy = (rng.uniform(-0.4, 0.4, (2, b)) * grid.extent)[:, :, None, None]
        r = np.hypot(x[None] - cx, y[None] - cy)
        centre_db = rng.choice([-1.0, 1.0], b) * rng.uniform(3.0, 7.0, b)
        ring_db = rng.uniform(2.0, 5.0, b)
        cell = centre_db[:, None, None] * np.exp(-((r / (0.6 * radius)) ** 2))
        cell += ring_db[:, None, None] * np.exp(-(((r - radius) / (0.2 * radius)) ** 2))
        log_gain += np.where(present, cell, 0.0)
    eff.gain = 10.0 ** (log_gain / 10.0)
    return eff


def _biological_slicks(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    f = smooth_noise(grid, _cap(rng.uniform(300.0, 800.0, b), grid, 0.2), rng)
    width = rng.uniform(0.12, 0.3, b)[:, None, None]
    filament = np.exp(-((f / width) ** 2))  # 1 on the zero-lines of f
    eff = Effect.neutral(b, grid.size)
    eff.gain = 10.0 ** (-rng.uniform(3.0, 8.0, b)[:, None, None] * filament / 10.0)
    eff.wave_damping = 1.0 - 0.7 * filament
    return eff


def _sea_ice(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    f = smooth_noise(grid, _cap(rng.uniform(300.0, 1000.0, b), grid, 0.25), rng)
    threshold = rng.uniform(-1.0, 0.3, b)[:, None, None]
    ice = 1.0 / (1.0 + np.exp(-(f - threshold) / 0.05))
    gy, gx = np.gradient(ice, axis=(1, 2))
    ridges = np.hypot(gx, gy)
    ridges /= np.maximum(ridges.max(axis=(1, 2), keepdims=True), 1e-12)
    texture = smooth_noise(grid, np.full(b, 2.0 * grid.pixel_size), rng)
    base_db = rng.uniform(-18.0, -9.0, b)[:, None, None]
    eff = Effect.neutral(b, grid.size)
    eff.ice_fraction = ice
    eff.ice_sigma0 = 10.0 ** ((base_db + 1.5 * texture + 4.0 * ridges) / 10.0)
    eff.wave_damping = 1.0 - 0.95 * ice
    eff.wind_factor = 1.0 - 0.5 * ice  # sheltered leads
    return eff


def _icebergs(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    x, y = grid.xy()
    gain = np.ones((b, grid.size, grid.size))
    count = rng.integers(1, 5, b)
    for j in range(4):
        on = (j < count)[:, None, None]
        cx, cy = (rng.uniform(-0.45, 0.45, (2, b)) * grid.extent)[:, :, None, None]
        sigma = np.maximum(rng.uniform(25.0, 75.0, b), 0.5 * grid.pixel_size)[:, None, None]
        amp = 10.0 ** (rng.uniform(12.0, 25.0, b) / 10.0)[:, None, None]
        blob = amp * np.exp(-0.5 * ((x[None] - cx) ** 2 + (y[None] - cy) ** 2) / sigma**2)
        gain += np.where(on, blob, 0.0)
    eff = Effect.neutral(b, grid.size)
    eff.gain = gain
    return eff


def _low_wind_area(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    f = smooth_noise(grid, _cap(rng.uniform(1000.0, 3000.0, b), grid, 0.4), rng)
    eff = Effect.neutral(b, grid.size)
    eff.wind_factor = np.exp(0.25 * f)
    return eff


def _line_coordinate(grid: Grid, b: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Signed distance to a random straight line through the central part, and along-line coord."""
    x, y = grid.xy()
    angle = rng.uniform(0.0, np.pi, b)[:, None, None]
    offset = (rng.uniform(-0.25, 0.25, b) * grid.extent)[:, None, None]
    across = x[None] * np.cos(angle) + y[None] * np.sin(angle) - offset
    along = -x[None] * np.sin(angle) + y[None] * np.cos(angle)
    return across, along


def _atmospheric_front(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    across, _ = _line_coordinate(grid, b, rng)
    width = rng.uniform(50.0, 300.0, b)[:, None, None]
    ratio = rng.uniform(1.4, 2.2, b) ** rng.choice([-1.0, 1.0], b)
    step = 0.5 * (1.0 + np.tanh(across / width))
    eff = Effect.neutral(b, grid.size)
    eff.wind_factor = np.exp(np.log(ratio)[:, None, None] * (step - 0.5))
    line = rng.uniform(0.0, 0.25, b)[:, None, None] * np.exp(-((across / (2 * width)) ** 2))
    eff.wind_factor = eff.wind_factor * (1.0 + line)
    return eff


def _oceanic_front(grid: Grid, st: dict, rng: np.random.Generator) -> Effect:
    b = len(st["wind"])
    across, along = _line_coordinate(grid, b, rng)
    wavelength = rng.uniform(1.0, 3.0, b)[:, None, None] * grid.extent
    bend = rng.uniform(0.05, 0.2, b)[:, None, None] * grid.extent
    phase = rng.uniform(0.0, 2.0 * np.pi, b)[:, None, None]
    d = across - bend * np.sin(2.0 * np.pi * along / wavelength + phase)  # curvilinear
    width = np.maximum(rng.uniform(30.0, 90.0, b), 0.6 * grid.pixel_size)[:, None, None]
    line_db = rng.choice([-1.0, 1.0], b) * rng.uniform(3.0, 6.0, b)
    step_db = rng.uniform(-0.7, 0.7, b)[:, None, None] * np.tanh(d / (3 * width))
    eff = Effect.neutral(b, grid.size)
    eff.gain = 10.0 ** ((line_db[:, None, None] * np.exp(-((d / width) ** 2)) + step_db) / 10.0)
    return eff


PATTERNS: dict[str, Callable[[Grid, dict, np.random.Generator], Effect]] = {
    "pure_ocean_waves": _pure_ocean_waves,
    "wind_streaks": _wind_streaks,
    "micro_convective_cells": _micro_convective_cells,
    "rain_cells": _rain_cells,
    "biological_slicks": _biological_slicks,
    "sea_ice": _sea_ice,
    "icebergs": _icebergs,
    "low_wind_area": _low_wind_area,
    "atmospheric_front": _atmospheric_front,
    "oceanic_front": _oceanic_front,
}


def pattern(name: str, grid: Grid, sea_state: dict, rng: np.random.Generator) -> Effect:
    """The :class:`Effect` of phenomenon ``name`` on ``len(sea_state['wind'])`` imagettes."""
    return PATTERNS[name](grid, sea_state, rng)
