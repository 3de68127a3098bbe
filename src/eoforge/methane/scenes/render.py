"""Rendering core of the synthetic scene pairs: :class:`ScenePair` and the band-by-band pipeline.

The pipeline (steps 1-6) is documented in :mod:`.simulate`, the public entry point
(:func:`~.simulate.simulate_pair`, :func:`~.simulate.simulate_plume_pair`); the options and their
defaults in :mod:`.options`. :func:`render_pair` runs it as named steps, each drawing from its own
stream (:func:`streams`): conditions (option stream), layout (surface, water, cloud and
confounder streams), plume (plume stream), radiometry (radiometry stream), then each band of each
date (noise stream, bands in order, target before reference).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from eoforge.core.errors import InputError, bad_value
from eoforge.methane.physics import air_mass_factor, inject_plume
from eoforge.methane.scenes.effects import (
    NoiseSource,
    apply_confounders,
    clouds,
    confounders,
    water_mask,
)
from eoforge.methane.scenes.fields import power_law_fields, shift_image
from eoforge.methane.scenes.options import Conditions, SceneOptions, check_fraction, draw_conditions
from eoforge.methane.scenes.spectra import (
    CLOUD_SPECTRUM,
    PATH_REFLECTANCE,
    S2_BANDS,
    SHADOW_DIFFUSE,
    noise_sigma,
    spectrum,
)
from eoforge.methane.scenes.surface import Surface, make_surface

VAPOUR_LOADING = (0.0, 0.0, 0.0, 0.05, 0.35, 1.0)
"""Relative response of each band to the between-date atmospheric/BRDF residual field [INF:
water-vapour absorption is strongest in B12, weaker in B11, negligible in the VNIR]."""
_WATER_DEFAULT = {"desert": 0.0, "semi-arid": 0.01, "vegetated": 0.03, "urban": 0.02}
_MASK_KEYS = ("cloud_target", "cloud_reference", "shadow_target", "shadow_reference", "water")


@dataclass(frozen=True)
class ScenePair:
    """A simulated target/reference pair of Sentinel-2 20 m scenes.

    Attributes:
        target: Band name -> (H, W) float32 TOA-like reflectance of the target date.
        reference: Same for the earlier, plume-free reference date.
        valid: (H, W) bool, clear land on both dates (no cloud, cloud shadow or water).
        sza: Solar zenith angle of the target date (degrees).
        vza: Viewing zenith angle (degrees).
        surface: Surface type.
        metadata: Everything drawn (geometry, gains, clouds, confounders, seed...).
        masks: (H, W) bool masks: cloud_target, cloud_reference, shadow_target,
            shadow_reference, water, confounder.
    """

    target: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    valid: np.ndarray
    sza: float
    vza: float
    surface: str
    metadata: dict = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Grid (H, W)."""
        return self.valid.shape

    @property
    def amf(self) -> float:
        """Two-way air-mass factor 1/cos(SZA) + 1/cos(VZA) of the target date."""
        return float(air_mass_factor(self.sza, self.vza))

    def stack(self, date: str = "target", bands: Sequence[str] = ("B11", "B12")) -> np.ndarray:
        """(C, H, W) float32 stack of ``bands`` of ``date`` ("target" or "reference")."""
        src = {"target": self.target, "reference": self.reference}.get(date)
        if src is None:
            raise bad_value("date", date, "'target' or 'reference'")
        missing = [b for b in bands if b not in src]
        if missing:
            raise InputError(f"bands {missing} were not simulated; pass bands=... to simulate.")
        return np.stack([src[b] for b in bands])


PlumeColumn = Callable[[NDArray[np.bool_], float, np.random.Generator], NDArray[np.float64]]
"""``plume(clear_target, amf, rng) -> column``: the (H, W) dOmega (mol/m2) put into the target."""

Sparse = tuple[NDArray[np.intp], NDArray[np.float32]]
"""Flat indices of the touched pixels and their weights (clouds and shadows are sparse)."""


class Streams(NamedTuple):
    """Independent random streams of one pair: one per component (module docstring)."""

    option: np.random.Generator
    surface: np.random.Generator
    water: np.random.Generator
    cloud: np.random.Generator
    confounder: np.random.Generator
    radiometry: np.random.Generator
    noise: np.random.Generator
    plume: np.random.Generator


class RenderedPair(NamedTuple):
    """A rendered pair and what a plume pair reports besides it."""

    pair: ScenePair
    column: NDArray[np.float64] | None
    clear_target: NDArray[np.bool_]
    amf: float


@dataclass(frozen=True)
class _Sky:
    """One date's clouds and shadows (sparse weights) and what was drawn for them."""

    cloud: Sparse | None
    shadow: Sparse | None
    info: dict[str, Any]


@dataclass(frozen=True)
class _Layout:
    """Everything on the ground and in the sky of the pair, before radiometry."""

    surface: Surface
    water: NDArray[np.bool_]
    skies: tuple[_Sky, _Sky]  # target, reference
    masks: dict[str, NDArray[np.bool_]]
    clear_target: NDArray[np.bool_]
    valid: NDArray[np.bool_]
    patches: list[dict[str, Any]]


@dataclass(frozen=True)
class _Radiometry:
    """Reference gains g_b, path-reflectance scales of the dates, misregistration, vapour field."""

    gain: NDArray[np.float64]  # (6,)
    path_scale: NDArray[np.float64]  # (2,) target, reference
    shift: tuple[float, float]
    vapour: NDArray[np.float32] | None


def check_shape(shape: Sequence[int]) -> tuple[int, int]:
    """``shape`` as (H, W) ints, each >= 8, else an error naming ``shape``."""
    if len(tuple(shape)) != 2 or any(int(n) != n or n < 8 for n in shape):
        raise bad_value("shape", shape, "(H, W) with ints >= 8")
    return int(shape[0]), int(shape[1])


def check_seed(seed: int | np.integer | np.random.Generator) -> int:
    """``seed`` as a non-negative int; a Generator gives one draw in [0, 2^31 - 1)."""
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**31 - 1))
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise bad_value("seed", seed, "a non-negative int")
    return int(seed)


def streams(seed: int, date_seed: int | None) -> Streams:
    """The eight streams of ``seed``; a ``date_seed`` replaces the five that differ by date.

    The streams are the children of ``SeedSequence(seed)``; with a date seed, the cloud,
    confounder, radiometry, noise and plume streams are the children of
    ``SeedSequence([seed, date_seed])``.
    """
    children = np.random.SeedSequence(seed).spawn(8)
    out = Streams(*(np.random.default_rng(s) for s in children))
    if date_seed is None:
        return out
    if not isinstance(date_seed, int | np.integer) or isinstance(date_seed, bool) or date_seed < 0:
        raise bad_value("date_seed", date_seed, "a non-negative int (or None)")
    per_date = np.random.SeedSequence([seed, int(date_seed)]).spawn(5)
    cloud, confounder, radiometry, noise, plume = (np.random.default_rng(s) for s in per_date)
    return out._replace(
        cloud=cloud, confounder=confounder, radiometry=radiometry, noise=noise, plume=plume
    )


def _sparse(weights: NDArray[np.float32] | None) -> Sparse | None:
    if weights is None:
        return None
    j = np.flatnonzero(weights)
    return j, weights.ravel()[j]


def _masks(
    water: NDArray[np.bool_],
    cloud: tuple[NDArray[np.float32] | None, NDArray[np.float32] | None],
    shadow: tuple[NDArray[np.float32] | None, NDArray[np.float32] | None],
) -> dict[str, NDArray[np.bool_]]:
    """Cloud, shadow (outside the date's cloud), water and (empty) confounder masks."""
    masks = {k: np.zeros(water.shape, dtype=bool) for k in (*_MASK_KEYS, "confounder")}
    masks["water"] = water
    for key, a in (("cloud_target", cloud[0]), ("cloud_reference", cloud[1])):
        if a is not None:
            masks[key] = a > 0.0
    for key, a, c in (("shadow_target", shadow[0], "cloud_target"),
                      ("shadow_reference", shadow[1], "cloud_reference")):  # fmt: skip
        if a is not None:
            masks[key] = (a > 0.0) & ~masks[c]
    return masks


def _layout(
    shape: tuple[int, int], cond: Conditions, options: SceneOptions, rng: Streams
) -> _Layout:
    """Surface, water, clouds and shadows of both dates, and the target's confounders."""
    surf = make_surface(cond.surface, shape, rng.surface, cond.change, cond.sza,
                        cond.sza_reference, cond.saa)  # fmt: skip
    wf = _WATER_DEFAULT[cond.surface] if options.water_fraction is None else options.water_fraction
    water = water_mask(shape, rng.water, check_fraction("water_fraction", wf))
    px = options.pixel_size
    cloud_t, shadow_t, info_t = clouds(shape, rng.cloud, cond.cloud_fraction[0], cond.sza,
                                       cond.saa, px)  # fmt: skip
    cloud_r, shadow_r, info_r = clouds(shape, rng.cloud, cond.cloud_fraction[1],
                                       cond.sza_reference, cond.saa, px)  # fmt: skip
    masks = _masks(water, (cloud_t, cloud_r), (shadow_t, shadow_r))
    clear_t = ~(masks["cloud_target"] | masks["shadow_target"] | water)
    valid = clear_t & ~(masks["cloud_reference"] | masks["shadow_reference"])
    patches = confounders(shape, rng.confounder, cond.kinds, allowed=~water)
    for p in patches:
        masks["confounder"][p["window"]] |= p["weights"] > 0.0
    skies = (_Sky(_sparse(cloud_t), _sparse(shadow_t), info_t),
             _Sky(_sparse(cloud_r), _sparse(shadow_r), info_r))  # fmt: skip
    return _Layout(surf, water, skies, masks, clear_t, valid, patches)


def _radiometry(
    shape: tuple[int, int], change: float, options: SceneOptions, rng: np.random.Generator
) -> _Radiometry:
    """Gains g (1 + e_b), path scales, misregistration and vapour field f, drawn in this order."""
    gain = 1.0 + rng.normal(0.0, 0.02 * change) + rng.normal(0.0, 0.004 * change, 6)
    path_scale = 1.0 + rng.normal(0.0, 0.05, 2)
    shift = (0.0, 0.0)
    if options.misregistration_px:
        d_row, d_col = rng.normal(0.0, options.misregistration_px, 2)
        shift = (float(d_row), float(d_col))
    vapour = None
    if options.atmosphere_std > 0:
        vapour = power_law_fields(shape, 3.5, rng, n=1)[0]
        vapour *= np.float32(options.atmosphere_std)
    return _Radiometry(gain, path_scale, shift, vapour)


@dataclass(frozen=True)
class _Renderer:
    """Renders one band of one date from the drawn layout, radiometry, plume and noise."""

    layout: _Layout
    radiometry: _Radiometry
    options: SceneOptions
    noise: NoiseSource
    column: NDArray[np.float64] | None
    amf: float
    water_spectra: NDArray[np.float32] | None  # (n_water, 6) reflectance of the water pixels

    def render(self, band: str, date: str) -> NDArray[np.float32]:
        """Band ``band`` of ``date`` ("target" or "reference"), steps 1-6 of the module docs."""
        i = S2_BANDS.index(band)
        r = self._ground(i, date)
        if date == "target":
            r = self._target_changes(r, band, i)
        else:
            self._reference_changes(r, i)
        d = 0 if date == "target" else 1
        r += np.float32(PATH_REFLECTANCE[i] * self.radiometry.path_scale[d])
        self._sky(r, i, self.layout.skies[d])
        if date == "reference":
            r = shift_image(r, *self.radiometry.shift)
        return self._sensor(r, i)

    def _ground(self, i: int, date: str) -> NDArray[np.float32]:
        """Surface reflectance with water bodies."""
        r = self.layout.surface.band(i, date)
        if self.water_spectra is not None:
            r[self.layout.water] = self.water_spectra[:, i]
        return r

    def _target_changes(self, r: NDArray[np.float32], band: str, i: int) -> NDArray[np.float32]:
        """Confounders, then the plume's transmittance in B11/B12 on clear land."""
        apply_confounders(r, i, self.layout.patches)
        if self.column is not None and band in ("B11", "B12"):
            r = inject_plume({band: r}, self.column, self.amf, (band,), self.layout.clear_target,
                             self.options.satellite)[band]  # fmt: skip
        return r

    def _reference_changes(self, r: NDArray[np.float32], i: int) -> None:
        """Vapour/BRDF field in the SWIR, then the reference's gain g_b (in place)."""
        vapour = self.radiometry.vapour
        if vapour is not None and VAPOUR_LOADING[i] > 0:
            r *= 1.0 + np.float32(VAPOUR_LOADING[i]) * vapour
        r *= np.float32(self.radiometry.gain[i])

    @staticmethod
    def _sky(r: NDArray[np.float32], i: int, sky: _Sky) -> None:
        """Cloud shadows, then clouds, on the touched pixels only (in place)."""
        flat = r.ravel()
        if sky.shadow is not None:
            j, sj = sky.shadow
            flat[j] *= 1.0 - sj * np.float32(1.0 - SHADOW_DIFFUSE[i])
        if sky.cloud is not None:
            j, aj = sky.cloud
            top = np.float32(sky.info["cloud_top_reflectance"] * CLOUD_SPECTRUM[i])
            flat[j] += aj * (top - flat[j])

    def _sensor(self, r: NDArray[np.float32], i: int) -> NDArray[np.float32]:
        """Sensor noise, L1C quantisation to 1e-4 and clipping to [0, 1]."""
        if self.options.noise_scale > 0:
            sig = noise_sigma(r, i, self.options.noise_scale)
            sig *= self.noise.draw()
            r += sig
        if self.options.quantize:
            r *= np.float32(1e4)
            np.rint(r, out=r)
            r *= np.float32(1e-4)
        return np.clip(r, 0.0, 1.0, out=r)


def _metadata(
    seed: int, cond: Conditions, options: SceneOptions, rad: _Radiometry, layout: _Layout
) -> dict[str, Any]:
    """Everything drawn for the pair, JSON-like."""
    return {
        "seed": seed, "surface": cond.surface, "sza": cond.sza, "vza": cond.vza, "saa": cond.saa,
        "sza_reference": cond.sza_reference, "amf": cond.amf, "time_gap_days": cond.time_gap_days,
        "change": cond.change, "satellite": options.satellite, "pixel_size": options.pixel_size,
        "cloud_fraction": cond.cloud_fraction, "gain_reference": rad.gain.tolist(),
        "path_scale": rad.path_scale.tolist(), "misregistration_px": list(rad.shift),
        "clouds_target": layout.skies[0].info, "clouds_reference": layout.skies[1].info,
        "confounders": [{k: v for k, v in p.items() if k not in ("weights", "window")}
                        for p in layout.patches],
        "surface_info": layout.surface.info, "noise_scale": options.noise_scale,
        "quantize": bool(options.quantize), "bands": tuple(options.bands),
    }  # fmt: skip


def render_pair(
    shape: Sequence[int],
    surface: str | None,
    seed: int | np.integer | np.random.Generator,
    options: SceneOptions,
    plume: PlumeColumn | None = None,
) -> RenderedPair:
    """Render a pair (module docstring of :mod:`.simulate`), with a plume if ``plume`` is given.

    Args:
        shape: Grid (H, W), each >= 8.
        surface: Surface type, or ``None`` (drawn from the seed).
        seed: Non-negative int, or a Generator from which one is drawn.
        options: The pair's options.
        plume: ``plume(clear_target, amf, rng) -> column`` (mol/m2) put into the target's
            B11/B12 on clear land, drawing from the plume stream.

    Returns:
        The pair, the plume column (``None`` without a plume), the target's clear-land mask and
        the target's air-mass factor.
    """
    grid = check_shape(shape)
    seed = check_seed(seed)
    rng = streams(seed, options.date_seed)
    cond = draw_conditions(surface, options, rng.option, rng.confounder)
    layout = _layout(grid, cond, options, rng)
    column = plume(layout.clear_target, cond.amf, rng.plume) if plume is not None else None
    radiometry = _radiometry(grid, cond.change, options, rng.radiometry)
    noise = NoiseSource(grid, rng.noise)
    water, texture = layout.water, layout.surface.texture
    water_spectra = spectrum("water") * texture[water][:, None] if water.any() else None
    renderer = _Renderer(layout, radiometry, options, noise, column, cond.amf, water_spectra)
    out: dict[str, dict[str, NDArray[np.float32]]] = {"target": {}, "reference": {}}
    for b in options.bands:
        for date in ("target", "reference"):
            out[date][b] = renderer.render(b, date)
    metadata = _metadata(seed, cond, options, radiometry, layout)
    pair = ScenePair(out["target"], out["reference"], layout.valid, cond.sza, cond.vza,
                     cond.surface, metadata, layout.masks)  # fmt: skip
    return RenderedPair(pair, column, layout.clear_target, cond.amf)
