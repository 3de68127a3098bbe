"""Calibrate a trained detector for use: its plume threshold and its emission-rate model.

1. Threshold: the lowest probability threshold whose false plumes on simulated plume-free scenes
   stay within ``fp_budget`` per 100 km2 (the scan of
   :func:`eoforge.methane.evaluate.benchmark.evaluate_detector`, run here on its own seed so the
   evaluation's scenes stay unseen); with
   ``fp_confidence`` c, the lowest whose bootstrap c-quantile of the FP rate is within it.
2. Rates: U_eff = a U10 + b for the detector's masks at that threshold, fitted on simulated
   plumes of known rate (:func:`.detector_rates.calibrate_detector_rates`).

Both are written into the detector's JSON (atomically, weights unchanged) and used by default by
``eoforge methane detect``. Validate with ``eoforge methane evaluate`` (other seeds).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from eoforge.core.errors import bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.methane.calibration.detector_rates import (
    DETECTOR_CALIBRATION_SEEDS,
    calibrate_detector_rates,
)
from eoforge.methane.detector.weights import Detector, load_detector, save_detector
from eoforge.methane.evaluate.benchmark import evaluate_detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.scenes.revisits import reference_count

CALIBRATION_SEED = 1
"""Seed of the plume-free scenes of the threshold scan (evaluation defaults to seed 0)."""


def _check_options(
    threshold: float | None,
    n_negative: int,
    size: int,
    fp_budget: float,
    n_rate_cases: int,
    grow_px: int,
    fp_confidence: float | None,
) -> None:
    """Raise an InputError naming the first option of :func:`calibrate_detector` out of range."""
    if threshold is not None and not 0.0 < float(threshold) < 1.0:
        raise bad_value("threshold", threshold, "a probability in (0, 1), or None to scan")
    for name, value, ok, expected in (
        ("n_negative", n_negative, n_negative >= 1, "at least 1 plume-free scene"),
        ("size", size, size >= 64, "a scene side of at least 64 pixels"),
        ("fp_budget", fp_budget, fp_budget > 0, "a positive number of false plumes / 100 km2"),
        ("n_rate_cases", n_rate_cases, n_rate_cases >= 3, "at least 3 simulated plumes"),
        ("grow_px", grow_px, grow_px >= 0, "a number of pixels >= 0"),
        ("fp_confidence", fp_confidence, fp_confidence is None or 0.5 < fp_confidence < 1,
         "a confidence in (0.5, 1), e.g. 0.9"),
    ):  # fmt: skip
        if not ok:
            raise bad_value(name, value, expected)


def _scan_threshold(
    detector: Detector,
    n_negative: int,
    size: int,
    fp_budget: float,
    seed: int,
    fp_confidence: float | None,
    k: int,
    progress: ProgressCallback,
) -> tuple[float, str]:
    """(threshold, provenance note) of the false-plume scan on plume-free scenes."""
    cfg = EvaluateConfig.from_dict(
        dict(n_negative=n_negative, rates=(5000.0,), n_per_rate=1, shape=size,
             fp_budget=fp_budget, seed=seed, fp_confidence=fp_confidence, references=k),
        source="arguments",
    )  # fmt: skip
    summary = evaluate_detector(cfg, model=detector, progress=progress)
    lo, hi = summary["fp_per_100km2_ci90"]
    rule = "" if fp_confidence is None else f" at bootstrap confidence {fp_confidence:g}"
    dates = "" if k == 1 else f", {k} reference dates each"
    note = (
        f"lowest threshold with <= {fp_budget} false plumes / 100 km2{rule} on {n_negative} "
        f"simulated plume-free {size} x {size} px scenes (seed {seed}{dates}); measured "
        f"{summary['fp_per_100km2_at_threshold']:.3g} (90 % interval {lo:.3g}-{hi:.3g})"
    )
    return float(summary["threshold"]), note


def calibrate_detector(
    detector: Detector,
    n_negative: int = 400,
    size: int = 256,
    fp_budget: float = 2.0,
    seed: int = CALIBRATION_SEED,
    n_rate_cases: int = len(DETECTOR_CALIBRATION_SEEDS),
    grow_px: int = 3,
    threshold: float | None = None,
    fp_confidence: float | None = None,
    progress: ProgressCallback | None = None,
    references: int | None = None,
) -> Detector:
    """Return ``detector`` with its threshold and rate calibration set (module docstring).

    A given ``threshold`` is kept as is (no scan; only the rates are calibrated).

    Args:
        detector: The detector to calibrate (not changed).
        n_negative: Plume-free scenes of the threshold scan.
        size: Their side (pixels).
        fp_budget: False plumes per 100 km2 allowed at the threshold.
        seed: Seed of the scan's scenes.
        n_rate_cases: Simulated plumes of the rate calibration (seeds from 1000 on).
        grow_px: Growth of each detected component before the IME.
        threshold: A fixed threshold instead of the scan.
        fp_confidence: Select on the bootstrap quantile of the FP rate (e.g. 0.9).
        progress: Optional ``progress(done, total)`` callback over scenes and cases.
        references: Reference dates per simulated scene (default: the detector's K; a
            single-date detector given K > 1 is calibrated for the majority of its K
            per-reference probabilities).

    Returns:
        A copy of ``detector`` with ``threshold``, ``rate_calibration`` and ``calibration``.

    Raises:
        InputError: If an option is out of range, or too few simulated plumes are detected.
    """
    _check_options(threshold, n_negative, size, fp_budget, n_rate_cases, grow_px, fp_confidence)
    k = reference_count(references, detector.reference_dates)
    n_scan = 0 if threshold is not None else n_negative + 1

    def scan_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(done, n_scan + n_rate_cases)

    def rate_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(n_scan + done, n_scan + n_rate_cases)

    if threshold is None:
        threshold, threshold_note = _scan_threshold(
            detector, n_negative, size, fp_budget, seed, fp_confidence, k, scan_progress
        )
    elif float(threshold) == float(detector.threshold):
        threshold_note = detector.calibration.get("threshold", "given by the user")
    else:
        threshold_note = f"{float(threshold):g}, set by the user (no false-positive scan)"
    start = DETECTOR_CALIBRATION_SEEDS[0]
    seeds = range(start, start + n_rate_cases)
    rates = calibrate_detector_rates(detector, seeds, threshold, grow_px, progress=rate_progress,
                                     references=k)  # fmt: skip
    note = {
        "threshold": threshold_note,
        "rate_calibration": f"U_eff fitted on {rates.n} detected plumes of seeds "
        f"{start}-{start + n_rate_cases - 1} (relative scatter {rates.rel_std:.3g})",
    }
    return replace(detector, threshold=threshold, rate_calibration=rates, calibration=note)


def calibrate_file(weights: str | os.PathLike[str], **kwargs: Any) -> Detector:
    """Calibrate the detector saved at ``weights`` and rewrite its files in place.

    Args:
        weights: The detector's ``NAME.safetensors`` (``NAME.json`` beside it).
        **kwargs: Options of :func:`calibrate_detector`.

    Returns:
        The calibrated detector.
    """
    det = calibrate_detector(load_detector(weights), **kwargs)
    save_detector(det, Path(weights))
    return det
