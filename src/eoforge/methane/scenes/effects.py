"""Scene effects on top of the surface: water, clouds and their shadows, confounders, noise.

Clouds: a smooth power-law field (beta = 3.8) thresholded at its (1 - f) quantile gives the
optical-thickness weight alpha in [0, 1] (soft edges); the cloud-covered reflectance is

    R' = (1 - alpha) R + alpha R_cloud,   R_cloud = rho_top * CLOUD_SPECTRUM_b,  rho_top ~ U(0.55, 0.8),

and its shadow is alpha translated away from the sun by h tan(SZA) / pixel_size (cloud height h
~ U(0.8, 3) km) along the solar azimuth, darkening R to R (1 - alpha_s (1 - SHADOW_DIFFUSE_b)).

Confounders (target date only): rough-edged elongated patches (aspect ratio 1-4, plume-like) in
which the bands are multiplied by ``1 - s w (1 - M_b)`` with the per-kind multipliers M_b of
:data:`~eoforge.methane.scenes.spectra.CONFOUNDERS` (B12 darkened relative to B11), strength
s ~ U(0.5, 1) and soft weights w.

Noise: photon-like Gaussian noise with the band SNRs of :mod:`.spectra`, then (optionally)
rounding to the L1C quantisation step of 1e-4. Large grids reuse one standard-normal field under
independent random circular shifts per band and date (drawing 30 M normals costs ~0.8 s; the
shifted copies are uncorrelated except at coinciding offsets, probability ~1e-7).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eoforge.methane.scenes.fields import blob, power_law_fields, translate
from eoforge.methane.scenes.spectra import CONFOUNDERS

_POOL_MIN_PIXELS = 1024 * 1024


def water_mask(shape: tuple[int, int], rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Lakes and ponds: a smooth field above its (1 - fraction) quantile."""
    if fraction <= 0:
        return np.zeros(shape, dtype=bool)
    f = power_law_fields(shape, 4.0, rng, n=1)[0]
    return f > np.quantile(f[::4, ::4], 1.0 - fraction)


def clouds(
    shape: tuple[int, int],
    rng: np.random.Generator,
    fraction: float,
    sza: float,
    saa: float,
    pixel_size: float,
) -> tuple[np.ndarray | None, np.ndarray | None, dict]:
    """Cloud weight alpha and shadow weight alpha_s (module docstring), or ``None`` if clear."""
    if fraction <= 0:
        return None, None, {}
    f = power_law_fields(shape, 3.8, rng, n=1)[0]
    thr = np.quantile(f[::4, ::4], 1.0 - fraction)
    alpha = np.clip((f - thr) / 0.6, 0.0, 1.0).astype(np.float32)
    height = rng.uniform(800.0, 3000.0)
    dist = height * np.tan(np.deg2rad(sza)) / pixel_size
    az = np.deg2rad(saa)
    # away from the sun: the sun is at azimuth saa (clockwise from north, rows grow southward)
    d_row, d_col = int(np.rint(dist * np.cos(az))), int(np.rint(-dist * np.sin(az)))
    shadow = translate(alpha, d_row, d_col)
    info = {
        "cloud_height_m": height,
        "cloud_top_reflectance": rng.uniform(0.55, 0.8),
        "shadow_offset_px": (d_row, d_col),
    }
    return alpha, shadow, info


def confounders(
    shape: tuple[int, int],
    rng: np.random.Generator,
    kinds: Sequence[str],
    allowed: np.ndarray | None = None,
) -> list[dict]:
    """Draw one patch per requested kind: dicts with kind, weights, window, centre, strength."""
    out = []
    for kind in kinds:
        for _ in range(20):  # prefer a centre on allowed (clear land) pixels
            centre = (rng.uniform(0, shape[0]), rng.uniform(0, shape[1]))
            if allowed is None or allowed[int(centre[0]), int(centre[1])]:
                break
        major = rng.uniform(4.0, min(30.0, max(shape) / 5))
        axes = (major, major / rng.uniform(1.0, 4.0))
        angle = rng.uniform(0.0, 180.0)
        w, win = blob(shape, centre, axes, angle, rng)
        out.append(
            {
                "kind": kind,
                "weights": w,
                "window": win,
                "centre": centre,
                "semi_axes_px": axes,
                "angle_deg": angle,
                "strength": float(rng.uniform(0.5, 1.0)),
            }
        )
    return out


def apply_confounders(band: np.ndarray, band_index: int, patches: list[dict]) -> None:
    """Multiply ``band`` in place by 1 - s w (1 - M_b) inside each confounder patch."""
    for p in patches:
        m = CONFOUNDERS[p["kind"]][band_index]
        band[p["window"]] *= 1.0 - np.float32(p["strength"] * (1.0 - m)) * p["weights"]


class NoiseSource:
    """Standard-normal (H, W) draws: fresh per call, or shifted copies of one pool (large grids)."""

    def __init__(self, shape: tuple[int, int], rng: np.random.Generator) -> None:
        self.shape = shape
        self.rng = rng
        self.pool = None
        if shape[0] * shape[1] >= _POOL_MIN_PIXELS:
            self.pool = rng.standard_normal(shape, dtype=np.float32)

    def draw(self) -> np.ndarray:
        """One (H, W) float32 standard-normal field."""
        if self.pool is None:
            return self.rng.standard_normal(self.shape, dtype=np.float32)
        dr, dc = (int(x) for x in self.rng.integers(1, self.shape))
        flip = bool(self.rng.integers(2))
        out = np.roll(self.pool, (dr, dc), axis=(0, 1))
        return out[::-1] if flip else out
