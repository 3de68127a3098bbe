"""Emission rates of detected plumes: the IME of a grown component and Q = U_eff IME / L.

The IME method (:mod:`eoforge.methane.quantification`) needs an effective wind calibrated for
the mask and column it is applied to (Varon et al. 2018). For a detected plume the detector gives
both: its column head dOmega_hat (clipped at 0) and the connected component of plume pixels above
its probability threshold. A component cut at a high threshold misses the plume's faint edges, so
the mask used for the IME is the component grown by ``grow_px`` pixels (binary dilation, 8-way),
never into another detected plume; the detector's column is close to 0 off the plume, so the
growth adds the edges and little noise (no background is subtracted).

The fit of U_eff = a U10 + b for these masks on simulated plumes of known rate is
:func:`eoforge.methane.calibration.detector_rates.calibrate_detector_rates`; its result, a
:class:`RateCalibration`, is saved with the detector (``rate_calibration`` in its JSON) and used
by :func:`eoforge.methane.detect.pipeline.detect`. This module holds only the maths applied to
one map, so that inference, detection and the calibration loop all import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from eoforge.core.errors import InputError, bad_value
from eoforge.methane.quantification import (
    U_EFF_A,
    U_EFF_B,
    U_EFF_REL_STD,
    PlumeRate,
    integrated_mass,
    quantify_plume,
)

_EIGHT = np.ones((3, 3), dtype=bool)
Ids = Sequence[int] | NDArray[np.integer[Any]]
"""Component ids of one plume (a list, or the array ``np.unique`` gives)."""


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

    def to_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict (``rate_calibration`` in the detector's JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> RateCalibration:
        """Read :meth:`to_dict`'s form; None or empty gives the generic calibration.

        Raises:
            InputError: If a field is missing or not a number.
        """
        if not data:
            return cls()
        try:
            return cls(float(data["a"]), float(data["b"]), float(data["rel_std"]),
                       int(data["grow_px"]), int(data.get("n", 0)))  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"rate_calibration {data!r} is malformed ({err}).") from None


def plume_region(labels: np.ndarray, ids: Ids, grow_px: int) -> np.ndarray:
    """Pixels of components ``ids`` of ``labels`` grown by ``grow_px`` (not into other plumes)."""
    if int(grow_px) != grow_px or grow_px < 0:
        raise bad_value("grow_px", grow_px, "an int >= 0")
    comp = np.isin(labels, np.asarray(ids)) & (labels > 0)
    if grow_px == 0 or not comp.any():
        return comp
    grown = ndimage.binary_dilation(comp, structure=_EIGHT, iterations=int(grow_px))
    return grown & ((labels == 0) | comp)


def _region_column(
    column: np.ndarray, labels: np.ndarray, ids: Ids, grow_px: int
) -> tuple[np.ndarray, np.ndarray]:
    """The grown region and the detector's column clipped at 0 inside it (0 elsewhere)."""
    region = plume_region(labels, ids, grow_px)
    return region, np.where(region, np.clip(np.nan_to_num(column, nan=0.0), 0.0, None), 0.0)


def detection_ime(
    column: np.ndarray,
    labels: np.ndarray,
    ids: Ids,
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
    ids: Ids,
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
    return quantify_plume(
        col, region, wind_speed, pixel_size=pixel_size, a=calibration.a, b=calibration.b,
        wind_speed_std=wind_speed_std, calibration_rel_std=calibration.rel_std,
        background="none", background_std=noise_std, noise="independent",
    )  # fmt: skip
