"""Calibration of U_eff = a U10 + b for a detector's own masks, on simulated plumes of known rate.

Rates of detected plumes (:mod:`eoforge.methane.detector.rates`) come from the detector's column
inside its component grown by ``grow_px`` pixels, Q = U_eff IME / L. This fits U_eff for those
masks as the detector sees them: for each case (:mod:`.cases`, stream :data:`CASE_STREAM`;
192 x 192 px scenes of all four surface types, rate log-uniform in ``rate_range`` kg/h, U10
uniform in ``wind_range``, random wind direction) the detector's components of {p > t} (every
component, as the shipped calibration was fitted: :mod:`eoforge.methane.detect.candidates` with
a minimum area of 1 pixel and no veto) that overlap the true plume are quantified, and the wind
that gives the true rate, U_req = Q L / IME, is collected; plumes the detector misses are
skipped. With K > 1 reference dates (``references``) each case's references are its site's
revisits (:mod:`eoforge.methane.scenes.revisits`). Measured on held-out seeds in
benchmarks/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from eoforge.core.errors import InputError
from eoforge.core.progress import ProgressCallback
from eoforge.methane.calibration.cases import (
    check_rate_range,
    required_wind,
    simulate_plume_case,
)
from eoforge.methane.detect.candidates import candidate_plumes
from eoforge.methane.detector.infer import predict_references, reference_constants
from eoforge.methane.detector.rates import RateCalibration, detection_ime
from eoforge.methane.detector.weights import Detector
from eoforge.methane.quantification import fit_effective_wind
from eoforge.methane.scenes.revisits import reference_count, site_references, target_date
from eoforge.methane.scenes.surface import SURFACES

DETECTOR_CALIBRATION_SEEDS = tuple(range(1000, 1200))
"""Default seeds of :func:`calibrate_detector_rates` (held-out checks use others)."""
CASE_STREAM = 20241124
"""Second key of the cases' random generator (:mod:`.cases`)."""
CASE_SHAPE = (192, 192)
"""Scene grid of a case (pixels)."""


def _case(
    detector: Detector,
    seed: int,
    threshold: float,
    grow_px: int,
    rate_range: tuple[float, float],
    wind_range: tuple[float, float],
    k: int,
) -> tuple[float, float] | None:
    """(U10, U_req) of case ``seed`` seen with ``k`` reference dates; None if missed."""
    case = simulate_plume_case(seed, CASE_STREAM, CASE_SHAPE, SURFACES, rate_range, wind_range,
                               random_direction=True, date_seed=target_date(k))  # fmt: skip
    pair = case.pair
    refs = site_references(pair.reference, CASE_SHAPE, case.surface, case.seed, k)
    consts = reference_constants(pair.target, refs, pair.sza, pair.vza, detector)
    prob, column = predict_references(pair.target, refs, consts, pair.sza, pair.vza, detector,
                                      tile=CASE_SHAPE[0], overlap=32)  # fmt: skip
    labels, _ = candidate_plumes(prob, threshold, min_area_px=1)
    ids = np.unique(labels[case.truth & (labels > 0)])
    if len(ids) == 0:
        return None
    _, ime, length, _ = detection_ime(column, labels, ids, grow_px)
    if ime <= 0:
        return None
    return case.wind_speed, required_wind(case.rate_kg_h, length, ime)


def calibrate_detector_rates(
    detector: Detector,
    seeds: Sequence[int] = DETECTOR_CALIBRATION_SEEDS,
    threshold: float | None = None,
    grow_px: int = 3,
    rate_range: tuple[float, float] = (800.0, 10000.0),
    wind_range: tuple[float, float] = (1.5, 7.0),
    progress: ProgressCallback | None = None,
    references: int | None = None,
) -> RateCalibration:
    """Fit U_eff = a U10 + b for ``detector``'s masks on simulated plumes (module docstring).

    Args:
        detector: The detector.
        seeds: Case seeds (use other seeds to validate).
        threshold: Probability threshold of the masks (default: the detector's).
        grow_px: Growth of each detected component before the IME.
        rate_range: Emission rates (kg/h), drawn log-uniformly.
        wind_range: 10 m wind speeds (m/s), drawn uniformly.
        progress: Optional ``progress(done, total)`` callback.
        references: Reference dates per case (:mod:`eoforge.methane.scenes.revisits`; a
            single-date detector keeps the majority probability); default: the detector's K.

    Returns:
        The fitted :class:`~eoforge.methane.detector.rates.RateCalibration`.

    Raises:
        InputError: If fewer than 3 simulated plumes are detected, or ``references`` disagrees
            with a K-date detector.
    """
    check_rate_range(rate_range)
    n_refs = reference_count(references, detector.reference_dates)
    thr = detector.threshold if threshold is None else float(threshold)
    u10, u_req = [], []
    for k, seed in enumerate(seeds):
        case = _case(detector, int(seed), thr, grow_px, rate_range, wind_range, n_refs)
        if case is not None:
            u10.append(case[0])
            u_req.append(case[1])
        if progress is not None:
            progress(k + 1, len(seeds))
    if len(u10) < 3:
        raise InputError(
            f"the detector found {len(u10)} of {len(seeds)} simulated plumes at threshold "
            f"{thr:.3g}: too few to calibrate; pass more seeds or higher rates."
        )
    fit = fit_effective_wind(u10, u_req)
    return RateCalibration(fit.a, fit.b, fit.rel_std, int(grow_px), fit.n)
