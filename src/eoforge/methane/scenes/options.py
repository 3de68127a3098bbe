"""What a synthetic scene pair is asked for (:class:`SceneOptions`) and what is drawn for it.

:class:`SceneOptions` holds the one definition of every scene option and its default;
:func:`~eoforge.methane.scenes.simulate.simulate_pair` and
:func:`~eoforge.methane.scenes.simulate.simulate_plume_pair` both build one. From the options,
:func:`draw_conditions` draws the conditions of the pair (surface type, confounder kinds, sun and
view geometry), with the change amount of the time gap

    c = min(1, sqrt(gap / 30 d))

and the two-way air-mass factor AMF = 1 / cos(SZA) + 1 / cos(VZA) of the target date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.methane.physics import SATELLITES, air_mass_factor
from eoforge.methane.scenes.spectra import CONFOUNDERS, S2_BANDS
from eoforge.methane.scenes.surface import SURFACES

_FLOAT_OPTIONS = ("noise_scale", "misregistration_px", "atmosphere_std", "pixel_size")


@dataclass(frozen=True)
class SceneOptions:
    """Options of a simulated pair besides its grid, surface and seed (module docstring).

    Attributes:
        cloud_fraction: Cloud cover of both dates, or (target, reference).
        confounders: Number of random confounders on the target date, or a list of kinds among
            "albedo", "shadow", "wet_soil", "burn_scar".
        time_gap_days: Days between the reference and the target (sets the change amount c).
        water_fraction: Fraction of water (``None``: per surface, 0, 1, 3, 2 %).
        sza: Solar zenith of the target date (``None``: ~U(20, 60) degrees).
        vza: Viewing zenith (``None``: ~U(0, 11) degrees).
        saa: Solar azimuth, clockwise from north (``None``: ~U(100, 260) degrees).
        noise_scale: Multiplier of the sensor noise (0: noise-free).
        misregistration_px: Standard deviation of the reference's sub-pixel shift (0: none).
        atmosphere_std: Relative amplitude of the smooth between-date field in the reference's
            SWIR (0: none).
        quantize: Round to the L1C step of 1e-4.
        bands: Bands to simulate (subset of :data:`~.spectra.S2_BANDS`), stored as a tuple.
        satellite: "S2A" or "S2B" (spectral response used for injected plumes).
        pixel_size: Pixel size in metres (sets cloud-shadow offsets).
        date_seed: Seed of what differs between revisits of one site (``None``: all from the
            scene's seed).
    """

    cloud_fraction: float | tuple[float, float] = 0.0
    confounders: int | Sequence[str] = 0
    time_gap_days: float = 10.0
    water_fraction: float | None = None
    sza: float | None = None
    vza: float | None = None
    saa: float | None = None
    noise_scale: float = 1.0
    misregistration_px: float = 0.05
    atmosphere_std: float = 0.01
    quantize: bool = True
    bands: Sequence[str] = S2_BANDS
    satellite: str = "S2A"
    pixel_size: float = 20.0
    date_seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "bands", tuple(self.bands))
        for name in _FLOAT_OPTIONS:
            object.__setattr__(self, name, float(getattr(self, name)))


DEFAULTS = SceneOptions()
"""The default options (the signature of ``simulate_pair`` reads its defaults from here)."""


@dataclass(frozen=True)
class Conditions:
    """What was drawn for one pair from its options.

    Attributes:
        surface: Surface type.
        cloud_fraction: (target, reference) cloud fractions.
        kinds: Confounder kinds on the target date.
        time_gap_days: Days between the dates.
        change: Change amount c = min(1, sqrt(gap / 30)).
        sza: Solar zenith of the target date (degrees).
        vza: Viewing zenith (degrees).
        saa: Solar azimuth (degrees).
        sza_reference: Solar zenith of the reference date (degrees).
        amf: Two-way air-mass factor of the target date.
    """

    surface: str
    cloud_fraction: tuple[float, float]
    kinds: list[str]
    time_gap_days: float
    change: float
    sza: float
    vza: float
    saa: float
    sza_reference: float
    amf: float


def check_fraction(name: str, value: float) -> float:
    """``value`` as a float in [0, 1), else an error naming ``name``."""
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise bad_value(name, value, "a fraction in [0, 1)")
    return v


def _surface(surface: str | None, rng: np.random.Generator) -> str:
    if surface is None:
        surface = SURFACES[int(rng.integers(len(SURFACES)))]
    if surface not in SURFACES:
        raise bad_value("surface", surface, f"one of {SURFACES} (or None for a random one)")
    return surface


def _cloud_fractions(cloud_fraction: float | Sequence[float]) -> tuple[float, float]:
    cf = cloud_fraction if isinstance(cloud_fraction, tuple | list) else (cloud_fraction,) * 2
    if len(cf) != 2:
        raise bad_value("cloud_fraction", cloud_fraction, "a fraction or (target, reference)")
    return check_fraction("cloud_fraction", cf[0]), check_fraction("cloud_fraction", cf[1])


def _kinds(confounders: int | Sequence[str], rng: np.random.Generator) -> list[str]:
    if isinstance(confounders, bool | int | np.integer):
        if int(confounders) < 0:
            raise bad_value("confounders", confounders, "a count >= 0 or a list of kinds")
        return [str(k) for k in rng.choice(list(CONFOUNDERS), size=int(confounders))]
    kinds = [str(k) for k in confounders]
    bad = [k for k in kinds if k not in CONFOUNDERS]
    if bad:
        raise bad_value("confounders", bad, f"kinds among {tuple(CONFOUNDERS)} or a count")
    return kinds


def _check_sensor(options: SceneOptions) -> float:
    """The time gap in days, after checking it, the bands and the satellite."""
    gap = float(options.time_gap_days)
    if not np.isfinite(gap) or gap < 0:
        raise bad_value("time_gap_days", options.time_gap_days, "a number of days >= 0")
    bands = options.bands
    if not bands or any(b not in S2_BANDS for b in bands):
        raise bad_value("bands", bands, f"a non-empty subset of {S2_BANDS}")
    if options.satellite not in SATELLITES:
        raise bad_value("satellite", options.satellite, f"one of {SATELLITES}")
    return gap


def _angle(name: str, value: float | None, lo: float, hi: float, rng: np.random.Generator) -> float:
    if value is None:
        return float(rng.uniform(lo, hi))
    v = float(value)
    if not 0.0 <= v < 90.0:
        raise bad_value(name, value, "a zenith angle in degrees within [0, 90)")
    return v


def draw_conditions(
    surface: str | None,
    options: SceneOptions,
    rng_option: np.random.Generator,
    rng_confounder: np.random.Generator,
) -> Conditions:
    """Check the options and draw the pair's conditions (module docstring).

    Draws, in this order: the surface type if ``None`` and then the SZA, VZA, SAA (when not
    given) and the reference's SZA ~ clip(SZA + N(0, 4), 5, 75) from ``rng_option``; the
    confounder kinds (for a count) from ``rng_confounder``.

    Args:
        surface: Surface type, or ``None`` to draw one.
        options: The pair's options.
        rng_option: Stream of the surface type and the geometry.
        rng_confounder: Stream of the confounders.

    Returns:
        The :class:`Conditions`.
    """
    surface = _surface(surface, rng_option)
    cloud_fraction = _cloud_fractions(options.cloud_fraction)
    kinds = _kinds(options.confounders, rng_confounder)
    gap = _check_sensor(options)
    sza = _angle("sza", options.sza, 20.0, 60.0, rng_option)
    vza = _angle("vza", options.vza, 0.0, 11.0, rng_option)
    saa = float(rng_option.uniform(100.0, 260.0) if options.saa is None else options.saa)
    sza_reference = float(np.clip(sza + rng_option.normal(0.0, 4.0), 5.0, 75.0))
    return Conditions(
        surface=surface, cloud_fraction=cloud_fraction, kinds=kinds, time_gap_days=gap,
        change=float(min(1.0, np.sqrt(gap / 30.0))), sza=sza, vza=vza, saa=saa,
        sza_reference=sza_reference, amf=float(air_mass_factor(sza, vza)),
    )  # fmt: skip
