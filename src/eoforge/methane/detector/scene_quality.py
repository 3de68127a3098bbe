"""Checks that a scene pair looks like the pairs the detector was trained on.

A detector trained on simulated pairs gives calibrated probabilities, false-positive rates and
emission rates only on pairs like those. Two scene-wide numbers of :mod:`.features` flag the
pairs where its output should not be trusted as is:

- sigma_MBMP, the pixel-scale scatter of the MBMP retrieval (``SceneConstants.noise``): over
  the training distribution (four surfaces, 0-5 confounders, clouds, MSI requirement noise) it
  spans 0.7-2.8 % (1st percentile to maximum of 240 simulated 128 px pairs; at in-flight noise
  down to ~0.3 %). Above 3 %, the pair is likely misregistered, hazy, or changed a lot between
  the dates: plumes near the detection limit are lost and false plumes are more likely. (A one
  pixel shift of the reference raises it from 1.0 to 3.5 % on a semi-arid pair, from 1.4 to
  8 % on an urban one; on a smooth desert it barely shows.)
- the valid fraction (finite, positive SWIR reflectance in both dates): below half, most of
  the scene is cloud, no-data or water, and the scene-wide constants rest on few pixels.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

from eoforge.methane.detector.features import SceneConstants

TRAINED_NOISE_RANGE = (0.003, 0.029)
"""sigma_MBMP range of the training pairs (module docstring), as a fraction."""

NOISE_WARN = 0.03
"""Warn when sigma_MBMP exceeds this (just above the training pairs' maximum)."""

MIN_VALID_FRACTION = 0.5


class SceneReport(TypedDict):
    """The checks of a scene pair (``detect`` writes them into its outputs)."""

    mbmp_noise: float
    valid_fraction: float
    warnings: list[str]
    per_reference: NotRequired[list[SceneReport]]


def scene_report(const: SceneConstants) -> SceneReport:
    """``{"mbmp_noise": sigma, "valid_fraction": f, "warnings": [...]}`` of one scene pair."""
    warnings: list[str] = []
    lo, hi = TRAINED_NOISE_RANGE
    if const.noise > NOISE_WARN:
        warnings.append(
            f"the pair's MBMP scatter is {100 * const.noise:.1f} %, above the "
            f"{100 * lo:.1f}-{100 * hi:.1f} % of the training pairs: check "
            "that both dates are on the same grid (misregistration), cloud- and haze-free, and "
            "close in time; detections and false-positive rates are not calibrated for it."
        )
    if const.valid_fraction < MIN_VALID_FRACTION:
        warnings.append(
            f"only {100 * const.valid_fraction:.0f} % of the pixels have valid SWIR "
            "reflectance in both dates (clouds, no data or water); choose a clearer pair."
        )
    return {
        "mbmp_noise": float(const.noise),
        "valid_fraction": float(const.valid_fraction),
        "warnings": warnings,
    }


def combine_reports(reports: list[SceneReport]) -> SceneReport:
    """One report for a target checked against several reference dates.

    It holds the worst MBMP scatter, the smallest valid fraction, every warning (prefixed by its
    reference's number) and the per-reference reports under ``"per_reference"``; a single report
    is returned as is.
    """
    if len(reports) == 1:
        return reports[0]
    warnings = [f"reference {k + 1}: {w}" for k, r in enumerate(reports) for w in r["warnings"]]
    return {
        "mbmp_noise": max(r["mbmp_noise"] for r in reports),
        "valid_fraction": min(r["valid_fraction"] for r in reports),
        "warnings": warnings,
        "per_reference": reports,
    }
