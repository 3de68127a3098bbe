"""Calibration of the IME effective wind U_eff = a U10 + b on simulated plumes of known rate.

Each case is a :func:`~eoforge.methane.scenes.simulate_plume_pair` scene (puff plume, sensor
noise, surface change between dates) with a rate Q drawn log-uniformly and a wind U10 drawn
uniformly from the seed (:mod:`.cases`, stream :data:`CASE_STREAM`). The column is retrieved as
a user would: dR = MBMP(target, reference) on the valid pixels and dOmega =
retrieve_column(dR, AMF). The plume mask is the set of clear
pixels whose *true* column exceeds ``mask_column`` (an idealised detector mask), and the
effective wind that would give the true rate is

    U_req = Q L / IME,

to which :func:`~eoforge.methane.quantification.fit_effective_wind` fits a U10 + b. The defaults
of :mod:`eoforge.methane.quantification` come from ``calibrate_effective_wind()`` with its
default arguments.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eoforge.core.progress import ProgressCallback
from eoforge.methane.calibration.cases import required_wind, simulate_plume_case
from eoforge.methane.quantification import (
    CALIBRATION_SEEDS,
    EffectiveWindFit,
    fit_effective_wind,
    integrated_mass,
)
from eoforge.methane.retrievals import mbmp, retrieve_column

_MAD = 1.4826
CASE_STREAM = 20240611
"""Second key of the cases' random generator (:mod:`.cases`)."""


def simulate_case(
    seed: int,
    shape: tuple[int, int] = (192, 192),
    surfaces: Sequence[str] = ("desert", "semi-arid"),
    rate_range: tuple[float, float] = (300.0, 10000.0),
    wind_range: tuple[float, float] = (1.5, 7.0),
    mask_column: float = 0.1,
    noise_scale: float = 1.0,
) -> dict[str, Any]:
    """One calibration/validation case: retrieved column, mask, true rate and wind.

    Args:
        seed: Case seed (:func:`~.cases.simulate_plume_case` of stream :data:`CASE_STREAM`).
        shape: Scene grid (H, W).
        surfaces: Surface types, taken in turn by seed.
        rate_range: Emission rates (kg/h), drawn log-uniformly.
        wind_range: 10 m wind speeds (m/s), drawn uniformly.
        mask_column: True column (mol/m2) above which a clear pixel is in the mask.
        noise_scale: Sensor noise x this.

    Returns:
        Dict with ``column`` (retrieved, mol/m2), ``mask``, ``true_column``, ``rate_kg_h``,
        ``wind_speed``, ``surface``, ``ime_kg``, ``length_m``, ``n_pixels``, ``u_required`` and
        the plume signal-to-noise ratio ``snr`` (see :func:`detectable`).
    """
    case = simulate_plume_case(seed, CASE_STREAM, shape, tuple(surfaces), rate_range, wind_range,
                               noise_scale=noise_scale)  # fmt: skip
    pair, true_col = case.pair, case.true_column
    dr = mbmp(pair.target, pair.reference, mask=pair.valid)
    column = np.where(pair.valid, retrieve_column(dr, pair.amf), np.nan)
    mask = (true_col > mask_column) & pair.valid
    ime, length, n = integrated_mass(column, mask) if mask.any() else (0.0, 0.0, 0)
    bg = column[~mask & pair.valid]
    sigma_bg = _MAD * float(np.median(np.abs(bg - np.median(bg))))
    snr = float(true_col[mask].sum() / (sigma_bg * np.sqrt(n))) if n else 0.0
    return {
        "column": column, "mask": mask, "true_column": true_col, "rate_kg_h": case.rate_kg_h,
        "wind_speed": case.wind_speed, "surface": case.surface, "ime_kg": ime,
        "length_m": length, "n_pixels": n,
        "u_required": required_wind(case.rate_kg_h, length, ime), "snr": snr,
    }  # fmt: skip


def detectable(case: dict, min_pixels: int = 10, min_snr: float = 5.0) -> bool:
    """Whether a case counts as a detectable plume.

    It needs >= ``min_pixels`` mask pixels and SNR = sum_mask dOmega_true / (sigma_bg sqrt(N))
    >= ``min_snr`` (sigma_bg: robust std of the retrieved column off the plume).
    """
    return case["n_pixels"] >= min_pixels and case["snr"] >= min_snr


def calibrate_effective_wind(
    seeds: Sequence[int] = CALIBRATION_SEEDS,
    min_pixels: int = 10,
    min_snr: float = 5.0,
    progress: ProgressCallback | None = None,
    **case_kwargs: Any,
) -> EffectiveWindFit:
    """Fit U_eff = a U10 + b on simulated cases (module docstring).

    Args:
        seeds: Case seeds (the defaults of
            :mod:`eoforge.methane.quantification` used ``CALIBRATION_SEEDS``).
        min_pixels: Cases whose mask has fewer pixels are skipped (too faint to be detected).
        min_snr: Cases whose plume signal-to-noise ratio is lower are skipped (see
            :func:`detectable`).
        progress: Optional ``progress(done, total)`` callback.
        **case_kwargs: Keywords of :func:`simulate_case` (shape, surfaces, rate_range,
            wind_range, mask_column, noise_scale).

    Returns:
        The :class:`~eoforge.methane.quantification.EffectiveWindFit`.
    """
    u10, u_req = [], []
    for k, seed in enumerate(seeds):
        case = simulate_case(int(seed), **case_kwargs)
        if detectable(case, min_pixels, min_snr):
            u10.append(case["wind_speed"])
            u_req.append(case["u_required"])
        if progress is not None:
            progress(k + 1, len(seeds))
    return fit_effective_wind(u10, u_req)
