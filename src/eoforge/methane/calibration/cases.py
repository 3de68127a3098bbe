"""The simulated plume of known rate and wind that every effective-wind calibration draws.

Case ``seed`` of a calibration stream ``stream`` draws, from ``default_rng([seed, stream])``,
the emission rate Q log-uniformly in ``rate_range`` (kg/h), then the 10 m wind U10 uniformly in
``wind_range`` (m/s), then (when asked) the direction the wind blows from uniformly in
[0, 360) degrees; its surface is ``surfaces[seed mod len(surfaces)]``. The scene is
:func:`~eoforge.methane.scenes.simulate_plume_pair` of that seed. From a plume mask and column
on which IME (kg) and the plume length L (m) are measured, the effective wind that returns the
true rate is

    U_req = Q L / IME     (Q in kg/s),

which :func:`~eoforge.methane.quantification.fit_effective_wind` fits as a U10 + b.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.methane.physics import SECONDS_PER_HOUR
from eoforge.methane.scenes.render import ScenePair
from eoforge.methane.scenes.simulate import simulate_plume_pair


@dataclass(frozen=True)
class PlumeCase:
    """One simulated calibration plume.

    Attributes:
        seed: Scene seed.
        surface: Surface type.
        rate_kg_h: True emission rate Q (kg/h).
        wind_speed: True 10 m wind speed U10 (m/s).
        pair: The simulated pair (plume in the target).
        true_column: (H, W) true column enhancement (mol/m2).
        truth: (H, W) true plume mask of the simulator.
    """

    seed: int
    surface: str
    rate_kg_h: float
    wind_speed: float
    pair: ScenePair
    true_column: np.ndarray
    truth: np.ndarray


def check_rate_range(rate_range: tuple[float, float]) -> None:
    """Raise an InputError unless ``rate_range`` is (low, high) with 0 < low <= high."""
    if not 0 < rate_range[0] <= rate_range[1]:
        raise bad_value("rate_range", rate_range, "(low, high) with 0 < low <= high kg/h")


def simulate_plume_case(
    seed: int,
    stream: int,
    shape: tuple[int, int],
    surfaces: tuple[str, ...] | list[str],
    rate_range: tuple[float, float],
    wind_range: tuple[float, float],
    *,
    random_direction: bool = False,
    **scene_options: Any,
) -> PlumeCase:
    """Case ``seed`` of calibration stream ``stream`` (module docstring).

    Args:
        seed: Case (and scene) seed.
        stream: Second key of the case's random generator (one per calibration).
        shape: Scene grid (H, W).
        surfaces: Surface types, taken in turn by seed.
        rate_range: Emission rates (kg/h), drawn log-uniformly.
        wind_range: 10 m wind speeds (m/s), drawn uniformly.
        random_direction: Draw the wind direction too (else the simulator's, from the seed).
        **scene_options: Further :func:`~eoforge.methane.scenes.simulate_plume_pair` options
            (e.g. ``noise_scale``, ``date_seed``).

    Returns:
        The :class:`PlumeCase`.
    """
    check_rate_range(rate_range)
    rng = np.random.default_rng([int(seed), int(stream)])
    rate = float(np.exp(rng.uniform(np.log(rate_range[0]), np.log(rate_range[1]))))
    wind = float(rng.uniform(*wind_range))
    if random_direction:
        scene_options["wind_direction"] = float(rng.uniform(0.0, 360.0))
    surface = surfaces[int(seed) % len(surfaces)]
    pair, true_column, truth, _ = simulate_plume_pair(
        shape, surface, int(seed), emission_rate_kg_h=rate, wind_speed=wind, **scene_options
    )
    return PlumeCase(int(seed), surface, rate, wind, pair, true_column, np.asarray(truth, bool))


def required_wind(rate_kg_h: float, length_m: float, ime_kg: float) -> float:
    """U_req = Q L / IME (m/s) for a rate Q in kg/h; NaN when the IME is not positive."""
    if not ime_kg > 0:
        return float("nan")
    return rate_kg_h / SECONDS_PER_HOUR * length_m / ime_kg
