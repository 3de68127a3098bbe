"""Settings of the detection benchmark (:mod:`.benchmark`), saved with every run.

The defaults are the protocol of :mod:`.benchmark`: 40 plume-free 256 x 256 px scenes and 8
plume scenes at each of nine rates from 100 to 5000 kg/h, a budget of 2 false plumes per
100 km2, candidates of at least 4 pixels (:mod:`eoforge.methane.detect.candidates`).
"""

from __future__ import annotations

from pydantic import Field

from eoforge.core.config import RunConfig
from eoforge.core.errors import InputError
from eoforge.methane.detect.context_veto import DEFAULT_MAX_CONTEXT_CHANGE
from eoforge.methane.detector.weights import Detector


class EvaluateConfig(RunConfig):
    """Configuration of :func:`~.benchmark.evaluate_detector` (saved as ``config.yaml``)."""

    n_negative: int = Field(40, ge=1)
    rates: tuple[float, ...] = (100.0, 200.0, 350.0, 500.0, 750.0, 1000.0, 1500.0, 2500.0, 5000.0)
    n_per_rate: int = Field(8, ge=1)
    shape: int = Field(256, ge=64, description="Scene side in pixels (20 m).")
    surfaces: tuple[str, ...] = ("desert", "semi-arid", "vegetated", "urban")
    fp_budget: float = Field(2.0, gt=0, description="False-positive plumes per 100 km2.")
    min_area_px: int = Field(4, ge=1)
    wind_min: float = Field(2.0, gt=0)
    wind_max: float = Field(6.0, gt=0)
    weights: str | None = None
    pixel_size: float = 20.0
    confounders_max: int = Field(
        0, ge=0, description="Confounders per scene ~ U{0..max} (0: plain scenes, as before)."
    )
    cloud_prob: float = Field(0.0, ge=0, le=1, description="Share of scenes with clouds.")
    cloud_max: float = Field(0.3, ge=0, le=1, description="Largest cloud fraction drawn.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Fixed detector threshold (default: the lowest within the "
        "FP budget on these negatives)."
    )  # fmt: skip
    noise_scale: float = Field(
        1.0, ge=0, description="Sensor noise x this: 1 = the MSI SNR requirement (conservative), "
        "0.5 = roughly in-flight performance."
    )  # fmt: skip
    max_context_change: float | None = Field(
        DEFAULT_MAX_CONTEXT_CHANGE, gt=0, description="Veto detections whose B04/B8A changed by "
        "more than this (context_veto); None: no veto."
    )  # fmt: skip
    fp_confidence: float | None = Field(
        None, gt=0.5, lt=1, description="Select the threshold on the bootstrap upper quantile "
        "of the FP rate (e.g. 0.9) instead of its point estimate."
    )  # fmt: skip
    references: int | None = Field(
        None, ge=1, description="Reference dates per scene (scenes.revisits): 1 = the pair's own "
        "reference; K > 1: a K-date detector sees them in one pass, a single-date one keeps the "
        "majority probability. Default: the detector's K."
    )  # fmt: skip


def fixed_threshold(value: str | float | None, detector: Detector) -> float | None:
    """``--threshold`` of the evaluation as a number, or None.

    Args:
        value: None (re-select for the budget), ``"detector"`` (the weights' own threshold) or
            a number.
        detector: The detector evaluated.

    Returns:
        The fixed threshold, or None to select it on the negatives.

    Raises:
        InputError: If ``value`` is neither a number nor ``"detector"``.
    """
    if value is None:
        return None
    if value == "detector":
        return float(detector.threshold)
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--threshold {value!r}: pass a number in (0, 1) or 'detector'.") from None
