"""The ``simulate`` training stream: each training pair rendered whole on the CPU.

Each sample is a fresh simulated Sentinel-2 pair (:mod:`eoforge.methane.scenes`): a surface type
drawn uniformly from ``surfaces``, a scene seed from [0, ``TRAIN_SEED_LIMIT``), clouds in
``cloud_prob`` of the scenes (cover ~ U(0, ``cloud_max``)), confounders ~ U{0..``confounders_max``},
a time gap between the dates ~ U(2, ``time_gap_max``) days and, when ``noise_min``/``noise_max``
are not both 1, a sensor noise scale ~ U(noise_min, noise_max). With probability
``1 - negative_fraction`` a plume is injected into the target date: emission rate Q ~
logU(rate_min, rate_max) kg/h, source ~ U(0.2 P, 0.8 P)^2, wind speed ~ U(wind_min, wind_max)
m/s and a uniform wind direction. The draws come in this order from one generator per stream, so
a seed gives the same pairs.

The plume label is the scene's mask (|T_B12/T_B11 - 1| > 1e-3 on clear land) restricted to
dOmega >= ``label_min_column``, and zero where the pixel has no data:

    y = mask & (dOmega >= label_min_column) & valid.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import numpy as np
import torch
from numpy.typing import NDArray
from torch.utils.data import IterableDataset

from eoforge.core.seeding import as_generator
from eoforge.methane.detector.features import build_inputs
from eoforge.methane.detector.training.config import TRAIN_SEED_LIMIT, DetectorConfig
from eoforge.methane.scenes import ScenePair, simulate_pair, simulate_plume_pair
from eoforge.nn.lightning_strategy import process_rank


class SceneDraws(TypedDict, total=False):
    """The scene options drawn per training pair (keywords of :func:`simulate_pair`)."""

    cloud_fraction: float
    confounders: int
    time_gap_days: float
    noise_scale: float


def _draw_scene(cfg: DetectorConfig, rng: np.random.Generator) -> SceneDraws:
    """Clouds, confounders, time gap and (unless the range is 1..1) the sensor noise scale."""
    cloudy = rng.random() < cfg.cloud_prob
    draws: SceneDraws = {
        "cloud_fraction": float(rng.uniform(0.0, cfg.cloud_max)) if cloudy else 0.0,
        "confounders": int(rng.integers(0, cfg.confounders_max + 1)),
        "time_gap_days": float(rng.uniform(2.0, max(2.0, cfg.time_gap_max))),
    }
    if cfg.noise_max != 1.0 or cfg.noise_min != 1.0:  # the default draws nothing: old streams kept
        draws["noise_scale"] = float(rng.uniform(cfg.noise_min, cfg.noise_max))
    return draws


def _render(
    cfg: DetectorConfig, rng: np.random.Generator
) -> tuple[ScenePair, NDArray[np.floating], NDArray[np.bool_]]:
    """One pair with or without a plume: (pair, column (P, P) mol/m2, plume mask (P, P))."""
    shape = (cfg.patch, cfg.patch)
    surface = str(rng.choice(cfg.surfaces))
    seed = int(rng.integers(0, TRAIN_SEED_LIMIT))
    draws = _draw_scene(cfg, rng)
    if rng.random() < cfg.negative_fraction:
        pair = simulate_pair(shape, surface, seed, **draws)
        return pair, np.zeros(shape, dtype=np.float32), np.zeros(shape, dtype=bool)
    rate = float(np.exp(rng.uniform(np.log(cfg.rate_min), np.log(cfg.rate_max))))
    row, col = (float(v) for v in rng.uniform(0.2 * cfg.patch, 0.8 * cfg.patch, 2))
    pair, column, mask, _ = simulate_plume_pair(
        shape,
        surface,
        seed,
        emission_rate_kg_h=rate,
        wind_speed=float(rng.uniform(cfg.wind_min, cfg.wind_max)),
        wind_direction=float(rng.uniform(0.0, 360.0)),
        source=(row, col),
        **draws,
    )
    return pair, column, mask


def simulate_sample(
    cfg: DetectorConfig, rng: np.random.Generator
) -> dict[str, NDArray[np.float32]]:
    """One training sample: inputs x (C, P, P), mask, column, valid (P, P), all float32.

    Args:
        cfg: The training configuration (the ranges of the module docstring).
        rng: The stream's generator; the draws follow the module docstring's order.

    Returns:
        ``{"x", "mask", "column", "valid"}``.
    """
    pair, column, mask = _render(cfg, rng)
    x = build_inputs(
        pair.target, pair.reference, pair.sza, pair.vza, cfg.context, cfg.smooth_sigma,
        cfg.noise_channel,
    )  # fmt: skip
    # Loss on every pixel with data: clouds, shadows and water are negatives the detector must
    # learn to ignore (plumes are only injected on clear land, so their label is 0 there).
    valid = x[-1].astype(np.float32)
    label = np.asarray(mask, dtype=bool) & (np.asarray(column) >= cfg.label_min_column)
    return {
        "x": x,
        "mask": label.astype(np.float32) * valid,
        "column": np.nan_to_num(np.asarray(column, dtype=np.float32)),
        "valid": valid,
    }


class SimulatedPairs(IterableDataset):
    """Endless stream of simulated training samples (module docstring).

    Args:
        config: The training configuration.
        seed: Seed of this stream; each DataLoader worker and DDP rank gets its own sub-stream.
    """

    def __init__(self, config: DetectorConfig, seed: int) -> None:
        self.config = config
        self.seed = int(seed)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        rank = process_rank()
        rng = as_generator(np.random.SeedSequence([self.seed, rank, worker]).generate_state(1)[0])
        while True:
            sample = simulate_sample(self.config, rng)
            yield {k: torch.from_numpy(v) for k, v in sample.items()}
