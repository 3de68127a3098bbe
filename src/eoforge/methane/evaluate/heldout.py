"""The held-out scenes of the detection benchmark and the maps scored on each.

A scene is drawn from the benchmark's generator in a fixed order (so the same seed gives the same
scenes): surface type, scene seed s in [2^30, 2^31) (never used in training:
:data:`~eoforge.methane.detector.training.config.TRAIN_SEED_LIMIT`), then the clouds and
confounders when asked for, then wind speed, and for a plume scene the source position and wind direction. With
K > 1 reference dates the target is the site's revisit 0 and the references the reference scenes
of revisits 1..K (:mod:`eoforge.methane.scenes.revisits`).

Each scene is scored as ``detect`` sees it: the detector's (prob, column) against all reference
dates (:func:`~eoforge.methane.detector.infer.predict_references`), the per-date context changes
of the veto, and the MBMP baseline column retrieve_column(mbmp(T, R_1), AMF) against the first
reference date.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from eoforge.methane.detect.context_veto import context_changes
from eoforge.methane.detector.infer import predict_references, reference_constants
from eoforge.methane.detector.training.config import TRAIN_SEED_LIMIT
from eoforge.methane.detector.weights import Detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.physics import air_mass_factor
from eoforge.methane.retrievals import mbmp, retrieve_column
from eoforge.methane.scenes.render import ScenePair
from eoforge.methane.scenes.revisits import site_references, target_date
from eoforge.methane.scenes.simulate import simulate_pair, simulate_plume_pair

Changes = list[list[np.ndarray]]
"""Per reference date, the context changes of the veto (one array per context band)."""


@dataclass(frozen=True)
class HeldOutScene:
    """One held-out scene: the pair, its reference dates and the truth."""

    pair: ScenePair
    refs: list[Mapping[str, np.ndarray]]
    truth: np.ndarray | None
    """True plume mask; None on a plume-free scene."""
    wind: float
    surface: str


@dataclass(frozen=True)
class SceneMaps:
    """What the benchmark scores on one scene."""

    prob: np.ndarray
    column: np.ndarray
    changes: Changes | None
    """Context changes per reference date; None when the veto is off."""
    baseline: np.ndarray
    """MBMP column (mol/m2, 0 where invalid)."""


def scene_effects(rng: np.random.Generator, config: EvaluateConfig) -> dict[str, Any]:
    """Clouds and confounders of one scene, drawn only when asked for (default streams kept)."""
    out: dict[str, Any] = {}
    if config.confounders_max > 0:
        out["confounders"] = int(rng.integers(0, config.confounders_max + 1))
    if config.cloud_prob > 0 and rng.random() < config.cloud_prob:
        out["cloud_fraction"] = float(rng.uniform(0.0, config.cloud_max))
    return out


def draw_scene(
    rng: np.random.Generator, config: EvaluateConfig, rate: float | None, k: int
) -> HeldOutScene:
    """One held-out scene with ``k`` reference dates; a plume of ``rate`` kg/h unless None."""
    surface = str(rng.choice(config.surfaces))
    seed = TRAIN_SEED_LIMIT + int(rng.integers(0, TRAIN_SEED_LIMIT))
    extra = scene_effects(rng, config)
    shape = (config.shape, config.shape)
    date = target_date(k)
    truth = None
    wind = float(rng.uniform(config.wind_min, config.wind_max))
    if rate is None:
        pair = simulate_pair(
            shape, surface, seed, noise_scale=config.noise_scale, date_seed=date, **extra
        )
    else:
        row, col = rng.uniform(0.3 * config.shape, 0.7 * config.shape, 2)
        src = (float(row), float(col))
        pair, _, mask, _ = simulate_plume_pair(
            shape, surface, seed, emission_rate_kg_h=rate, wind_speed=wind,
            wind_direction=float(rng.uniform(0, 360)), source=src,
            noise_scale=config.noise_scale, date_seed=date, **extra,
        )  # fmt: skip
        truth = np.asarray(mask, dtype=bool)
    clouds = {key: v for key, v in extra.items() if key == "cloud_fraction"}
    refs = site_references(pair.reference, shape, surface, seed, k,
                           noise_scale=config.noise_scale, **clouds)  # fmt: skip
    return HeldOutScene(pair, refs, truth, wind, surface)


def score_scene(scene: HeldOutScene, det: Detector, config: EvaluateConfig) -> SceneMaps:
    """The detector's maps, the veto's context changes and the MBMP baseline of one scene."""
    pair, refs = scene.pair, scene.refs
    consts = reference_constants(pair.target, refs, pair.sza, pair.vza, det)
    prob, column = predict_references(pair.target, refs, consts, pair.sza, pair.vza, det,
                                      tile=max(config.shape, 64), overlap=32)  # fmt: skip
    changes = None
    if config.max_context_change is not None:
        changes = [context_changes(pair.target, ref, const, det.context)
                   for ref, const in zip(refs, consts, strict=True)]  # fmt: skip
    amf = air_mass_factor(pair.sza, pair.vza)
    base = np.nan_to_num(retrieve_column(mbmp(pair.target, refs[0]), amf), nan=0.0)
    return SceneMaps(prob, column, changes, base)
