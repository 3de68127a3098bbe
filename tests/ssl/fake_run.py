"""A pre-training run folder without pre-training: a seeded, untrained tiny ViT as the teacher
and a normaliser fitted on given images (what ``ssl embed`` / ``ssl probe`` read), in ~0.1 s."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from eoforge.nn.encoders import build_encoder
from eoforge.sar.normalise import DbNormaliser


def make_run(folder: Path, images: np.ndarray, size: int = 8, dim: int = 16, seed: int = 0) -> Path:
    """Write ``encoder.json``, ``normaliser.json`` and ``teacher_backbone.safetensors``."""
    folder.mkdir(parents=True, exist_ok=True)
    kw = {"name": "vit-tiny/8", "in_chans": 1, "img_size": size, "embed_dim": dim, "depth": 1}
    with torch.random.fork_rng():  # the caller's global RNG is left as it was
        torch.manual_seed(seed)
        encoder = build_encoder(**kw)
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()},
              str(folder / "teacher_backbone.safetensors"))  # fmt: skip
    info = {"name": kw["name"], "build_kwargs": kw, "embed_dim": encoder.embed_dim,
            "eval_size": size}  # fmt: skip
    (folder / "encoder.json").write_text(json.dumps(info))
    norm = DbNormaliser().fit(np.asarray(images))
    (folder / "normaliser.json").write_text(json.dumps(norm.to_dict()))
    return folder
