"""Load a trained diffusion run folder: model (EMA weights), schedule, normaliser, config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from eoforge.core.errors import DataNotFoundError, bad_value
from eoforge.diffusion.data import normaliser_from_dict
from eoforge.diffusion.model import DiffusionUNet
from eoforge.diffusion.schedules import NoiseSchedule
from eoforge.diffusion.training.config import DiffusionConfig, build_model

WEIGHTS: tuple[str, ...] = ("ema", "model")


def load_run(
    path: str | os.PathLike[str], *, weights: str = "ema", device: str | torch.device = "cpu"
) -> tuple[DiffusionUNet, NoiseSchedule, Any, DiffusionConfig]:
    """Rebuild what :func:`eoforge.diffusion.training.train.train` saved.

    Args:
        path: The run folder.
        weights: ``"ema"`` (the averaged weights, used for sampling) or ``"model"`` (raw).
        device: Where to put the model.

    Returns:
        ``(model, schedule, normaliser, config)``; the model is in eval mode and callable as
        ``model(x_t, t, class_labels=None)``.

    Raises:
        DataNotFoundError: Not a diffusion run folder, or the weights are missing.
    """
    if weights not in WEIGHTS:
        raise bad_value("weights", weights, f"one of {WEIGHTS}")
    run = Path(path)
    needed = ["config.yaml", "normaliser.json", f"{weights}.safetensors"]
    missing = [n for n in needed if not (run / n).is_file()]
    if missing:
        raise DataNotFoundError(
            f"{str(run)!r} is not a finished diffusion run: missing {missing}. Train one with "
            "`eoforge diffusion train` (a run still in training has only checkpoints/)."
        )
    from safetensors.torch import load_file

    config = DiffusionConfig.load(run / "config.yaml")
    model = build_model(config)
    model.load_state_dict(load_file(str(run / f"{weights}.safetensors")))
    model.to(device).eval().requires_grad_(False)
    normaliser = normaliser_from_dict(json.loads((run / "normaliser.json").read_text()))
    return model, config.make_schedule(), normaliser, config
