"""Scoring the detector on real-surface pairs: hits, rates, FP rates.

The pairs are those of :mod:`eoforge.methane.scenes.real_surfaces`.

- A plume injected into a real patch is detected when a detected plume (after the context veto,
  as :func:`eoforge.methane.detect.pipeline.detect` returns them) overlaps its true mask, the
  simulator's label rule |T_B12 / T_B11 - 1| > 1e-3 on valid pixels; its estimated rate is the
  detector's IME rate over the union of the overlapping plumes (as ``eoforge methane evaluate``
  scores).
- False plumes per 100 km2 on plume-free pairs, with an interval from a bootstrap over patches:
  the pairs of one patch share its surface, so they are not independent draws of the world.
- A control patch made from a simulated surface goes through the same pair builder, so a
  difference between real and control comes from the surface, not from the pair recipe.
"""

from __future__ import annotations

import numpy as np

from eoforge.io.raster import GeoInfo
from eoforge.methane.detect.pipeline import DetectionResult
from eoforge.methane.detector.rates import quantify_detection
from eoforge.methane.detector.weights import Detector
from eoforge.methane.evaluate.stats import fp_bootstrap
from eoforge.methane.physics import fractional_signal
from eoforge.methane.scenes.real_surfaces import PAIR_BANDS, RealPair, RealPatch
from eoforge.methane.scenes.simulate import simulate_pair


def truth_mask(pair: RealPair, threshold: float = 1e-3) -> np.ndarray:
    """True plume mask of an injected pair (module docstring); all False without a plume."""
    if pair.column is None:
        return np.zeros(pair.target["B11"].shape, dtype=bool)
    sat = "S2B" if pair.patch.startswith("S2B") else "S2A"
    frac = np.abs(fractional_signal(pair.column, pair.amf, sat))
    return (frac > threshold) & np.isfinite(pair.target["B11"])


def score_injection(
    pair: RealPair, result: DetectionResult, model: Detector
) -> tuple[bool, float | None, int]:
    """Score the detection of an injected plume.

    Args:
        pair: The injected pair.
        result: :func:`~eoforge.methane.detect.pipeline.detect` on it.
        model: The detector (its rate calibration).

    Returns:
        (detected, estimated rate in kg/h or None, number of other (false) plumes).
    """
    truth = truth_mask(pair)
    ids = sorted({int(i) for i in np.unique(result.labels[truth]) if i > 0})
    n_other = len(result.plumes) - len(ids)
    if not ids:
        return False, None, n_other
    px = abs(float(pair.geo.transform.a))
    rate = quantify_detection(result.column, result.labels, ids, result.wind_speed,
                              model.rate_calibration, pixel_size=px)  # fmt: skip
    return True, float(rate.rate_kg_h), n_other


def fp_rate_interval(
    counts_per_patch: np.ndarray,
    area_km2_per_patch: np.ndarray,
    seed: int = 0,
    confidence: float = 0.9,
) -> tuple[float, float, float]:
    """False plumes per 100 km2 (total count / total area) and its ``confidence`` interval.

    The interval comes from a bootstrap that resamples whole patches (each keeping its count
    and area).
    """
    counts = np.asarray(counts_per_patch, dtype=float)
    area = np.asarray(area_km2_per_patch, dtype=float)
    both = np.stack([counts, area], axis=1)  # (n_patches, 2)
    boot = fp_bootstrap(both, seed)  # (n_boot, 2) totals
    rates = 100.0 * boot[:, 0] / boot[:, 1]
    lo, hi = np.quantile(rates, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(100.0 * counts.sum() / area.sum()), float(lo), float(hi)


def patch_from_simulation(
    surface: str, shape: tuple[int, int], seed: int, sza: float = 45.0
) -> RealPatch:
    """A noise-free simulated surface wrapped as a patch, for controls.

    It is the target date of :func:`~eoforge.methane.scenes.simulate_pair` without water, and
    goes through the same pair builder as the real patches.
    """
    sim = simulate_pair(shape, surface, seed, noise_scale=0.0, water_fraction=0.0, sza=sza,
                        misregistration_px=0.0, atmosphere_std=0.0)  # fmt: skip
    geo = GeoInfo.from_bounds(500000.0, 4000000.0, 20.0, crs="EPSG:32631")
    bands = {b: sim.target[b].astype(np.float32) for b in PAIR_BANDS}
    return RealPatch(f"sim-{surface}-{seed}", bands, geo, float(sza), "S2A", (surface,))
