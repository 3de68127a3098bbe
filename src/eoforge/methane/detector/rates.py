"""Emission rates of detected plumes, and the calibration of U_eff for the detector's masks.

The IME method (:mod:`eoforge.methane.quantification`) needs an effective wind calibrated for
the mask and column it is applied to (Varon et al. 2018). For a detected plume the detector gives
both: its column head dOmega_hat (clipped at 0) and the connected component of plume pixels above
its probability threshold. A component cut at a high threshold misses the plume's faint edges, so
the mask used for the IME is the component grown by ``grow_px`` pixels (binary dilation, 8-way),
never into another detected plume; the detector's column is close to 0 off the plume, so the
growth adds the edges and little noise (no background is subtracted).

:func:`calibrate_detector_rates` fits U_eff = a U10 + b on simulated plumes of known rate as the
detector sees them: for each case (seeded; 192 x 192 px scenes of all four surface types;
rate log-uniform in ``rate_range`` kg/h; U10 uniform in ``wind_range``; random wind direction)
the detector's components that overlap the true plume are quantified and the wind that gives the
true rate, U_req = Q L / IME, is collected; plumes the detector misses are skipped. With K > 1
reference dates (``references``) each case's references are its site's revisits
(:mod:`eoforge.methane.revisit_scenes`). The fit and
its relative scatter are saved with the detector (``rate_calibration`` in its JSON) and used by
:func:`eoforge.methane.detect.detect`. Measured on held-out seeds in benchmarks/RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from eoforge.core.errors import InputError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.methane.physics import SECONDS_PER_HOUR
from eoforge.methane.quantification import (
    U_EFF_A,
    U_EFF_B,
    U_EFF_REL_STD,
    PlumeRate,
    fit_effective_wind,
    integrated_mass,
    quantify_plume,
)

_EIGHT = np.ones((3, 3), dtype=bool)
DETECTOR_CALIBRATION_SEEDS = tuple(range(1000, 1200))
"""Default seeds of :func:`calibrate_detector_rates` (held-out checks use others)."""


@dataclass(frozen=True)
class RateCalibration:
    """U_eff = a U10 + b for the detector's masks, its scatter and the mask growth it assumes.

    Attributes:
        a: Slope of U_eff.
        b: Intercept of U_eff (m/s).
        rel_std: Relative scatter s_cal of the fit (an uncertainty term of each rate).
        grow_px: Pixels by which a detected component is grown before the IME.
        n: Number of simulated plumes in the fit (0: not calibrated for this detector).
    """

    a: float = U_EFF_A
    b: float = U_EFF_B
    rel_std: float = U_EFF_REL_STD
    grow_px: int = 0
    n: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RateCalibration:
        if not data:
            return cls()
        try:
            return cls(float(data["a"]), float(data["b"]), float(data["rel_std"]),
                       int(data["grow_px"]), int(data.get("n", 0)))  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"rate_calibration {data!r} is malformed ({err}).") from None


def plume_region(labels: np.ndarray, ids: Sequence[int], grow_px: int) -> np.ndarray:
    """Pixels of components ``ids`` of ``labels`` grown by ``grow_px`` (not into other plumes)."""
    if int(grow_px) != grow_px or grow_px < 0:
        raise bad_value("grow_px", grow_px, "an int >= 0")
    comp = np.isin(labels, np.asarray(ids)) & (labels > 0)
    if grow_px == 0 or not comp.any():
        return comp
    grown = ndimage.binary_dilation(comp, structure=_EIGHT, iterations=int(grow_px))
    return grown & ((labels == 0) | comp)


def _region_column(column, labels, ids, grow_px) -> tuple[np.ndarray, np.ndarray]:
    """The grown region and the detector's column clipped at 0 inside it (0 elsewhere)."""
    region = plume_region(labels, ids, grow_px)
    return region, np.where(region, np.clip(np.nan_to_num(column, nan=0.0), 0.0, None), 0.0)


def detection_ime(
    column: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[int],
    grow_px: int,
    pixel_size: float = 20.0,
) -> tuple[np.ndarray, float, float, int]:
    """(region, IME kg, L m, N) of detected components ``ids`` on the detector's column map."""
    region, col = _region_column(column, labels, ids, grow_px)
    ime, length, n = integrated_mass(col, region, pixel_size, background="none")
    return region, ime, length, n


def background_std(column: np.ndarray, labels: np.ndarray) -> float:
    """Robust std (1.4826 MAD) of the column outside all plumes, on <= ~1e6 pixels."""
    step = max(1, int(np.ceil(np.sqrt(column.size / 1e6))))
    sub = column[::step, ::step][labels[::step, ::step] == 0]
    sub = sub[np.isfinite(sub)]
    if sub.size < 10:
        return 0.0
    return float(1.4826 * np.median(np.abs(sub - np.median(sub))))


def quantify_detection(
    column: np.ndarray,
    labels: np.ndarray,
    ids: Sequence[int],
    wind_speed: float,
    calibration: RateCalibration,
    pixel_size: float = 20.0,
    wind_speed_std: float | None = None,
    noise_std: float | None = None,
) -> PlumeRate:
    """Emission rate of the detected plume made of components ``ids`` of ``labels``.

    Args:
        column: The detector's column map (mol/m2).
        labels: Detected components (0: no plume).
        ids: Component ids forming this plume.
        wind_speed: 10 m wind speed (m/s).
        calibration: The detector's :class:`RateCalibration`.
        pixel_size: Pixel side (m).
        wind_speed_std: 1-sigma wind error (m/s); default that of ``quantify_plume``.
        noise_std: Per-pixel column noise (mol/m2); default :func:`background_std` of the map.
            The IME noise is taken as that of independent pixels.
    """
    region, col = _region_column(column, labels, ids, calibration.grow_px)
    if noise_std is None:
        noise_std = background_std(column, labels)
    kwargs = {} if wind_speed_std is None else {"wind_speed_std": wind_speed_std}
    return quantify_plume(
        col, region, wind_speed, pixel_size=pixel_size, a=calibration.a, b=calibration.b,
        calibration_rel_std=calibration.rel_std, background="none", background_std=noise_std,
        noise="independent", **kwargs,
    )  # fmt: skip


def _case(detector, seed: int, threshold: float, grow_px: int, rate_range, wind_range, k: int):
    from eoforge.methane import scenes
    from eoforge.methane.detector.infer import predict_references, reference_constants
    from eoforge.methane.revisit_scenes import site_references, target_date

    rng = np.random.default_rng([int(seed), 20241124])
    rate = float(np.exp(rng.uniform(np.log(rate_range[0]), np.log(rate_range[1]))))
    wind = float(rng.uniform(*wind_range))
    surface = scenes.SURFACES[int(seed) % len(scenes.SURFACES)]
    pair, _, truth, _ = scenes.simulate_plume_pair(
        (192, 192), surface, int(seed), emission_rate_kg_h=rate, wind_speed=wind,
        wind_direction=float(rng.uniform(0.0, 360.0)), date_seed=target_date(k),
    )  # fmt: skip
    refs = site_references(pair.reference, (192, 192), surface, int(seed), k)
    consts = reference_constants(pair.target, refs, pair.sza, pair.vza, detector)
    prob, column = predict_references(pair.target, refs, consts, pair.sza, pair.vza, detector,
                                      tile=192, overlap=32)  # fmt: skip
    labels, _ = ndimage.label(prob > threshold, structure=_EIGHT)
    ids = np.unique(labels[np.asarray(truth, dtype=bool) & (labels > 0)])
    if len(ids) == 0:
        return None
    _, ime, length, _ = detection_ime(column, labels, ids, grow_px)
    if ime <= 0:
        return None
    return wind, rate / SECONDS_PER_HOUR * length / ime


def calibrate_detector_rates(
    detector,
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
        detector: A :class:`~eoforge.methane.detector.weights.Detector`.
        seeds: Case seeds (use other seeds to validate).
        threshold: Probability threshold of the masks (default: the detector's).
        grow_px: Growth of each detected component before the IME.
        rate_range: Emission rates (kg/h), drawn log-uniformly.
        wind_range: 10 m wind speeds (m/s), drawn uniformly.
        progress: Optional ``progress(done, total)`` callback.
        references: Reference dates per case (:mod:`eoforge.methane.revisit_scenes`; a
            single-date detector keeps the majority probability); default: the detector's K.

    Raises:
        InputError: If fewer than 3 simulated plumes are detected, or ``references`` disagrees
            with a K-date detector.
    """
    from eoforge.methane.revisit_scenes import reference_count

    if not 0 < rate_range[0] <= rate_range[1]:
        raise bad_value("rate_range", rate_range, "(low, high) with 0 < low <= high kg/h")
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
