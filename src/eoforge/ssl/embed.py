"""Frozen features: load a pre-training run's teacher and embed imagettes (to arrays or Zarr).

Images go through the run's normaliser (``z = (10 log10 sigma0 - mu_dB) / sigma_dB``), the
evaluation view (the whole imagette resized to the global-crop size) and the teacher backbone
(ViT ``[CLS]`` token or ResNet pooled features), in blocks of ``batch_size`` (bounded memory).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from eoforge.core.errors import ShapeError
from eoforge.core.progress import ProgressCallback
from eoforge.nn.frozen import eval_view, load_run_encoder

load_teacher = load_run_encoder
"""The teacher backbone of a run (eval mode), its normaliser and its ``encoder.json``."""


@torch.no_grad()
def embed_images(
    encoder: nn.Module,
    images: np.ndarray,
    normaliser: Any,
    eval_size: int,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Features of linear-sigma0 imagettes: (n, H, W) -> (n, D) float32.

    Args:
        encoder: Backbone with ``.embed_dim``.
        images: ``(n, H, W)`` linear sigma0.
        normaliser: Fitted ``DbNormaliser``.
        eval_size: Side of the evaluation view.
        batch_size: Images per forward pass.
        device: Torch device (default: CUDA if available, else CPU).
        progress: Optional ``progress(done, total)``.
    """
    if images.ndim != 3:
        raise ShapeError(f"images must be (n, H, W); got shape {images.shape}.")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    was_training = encoder.training
    encoder.eval().to(dev)
    n = images.shape[0]
    out = np.zeros((n, encoder.embed_dim), dtype=np.float32)
    for start in range(0, n, batch_size):
        block = np.asarray(images[start : start + batch_size])
        z = torch.as_tensor(normaliser.transform(block))[:, None].to(dev)  # (b, 1, H, W)
        out[start : start + len(block)] = encoder(eval_view(z, eval_size)).float().cpu().numpy()
        if progress is not None:
            progress(min(start + batch_size, n), n)
    encoder.train(was_training)
    return out


def embed_run(run: str | os.PathLike[str], data: Any, **kwargs: Any) -> np.ndarray:
    """Teacher features of ``data`` (a ``WVSet`` or its path) with the run's teacher."""
    from eoforge.ssl.pretrain import load_data

    encoder, normaliser, info = load_teacher(run)
    wv = load_data(data)
    return embed_images(encoder, np.asarray(wv.images), normaliser, info["eval_size"], **kwargs)


def embed_dataset(
    run: str | os.PathLike[str],
    data: Any,
    out: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    progress: ProgressCallback | None = None,
) -> Path:
    """Embed a data set with a run's teacher and write a Zarr store atomically.

    The store holds ``embedding`` (item, feature) float32 and, when present, ``label``,
    ``wind_speed``, ``hs``; attributes record the run and encoder.

    Returns:
        ``out``.
    """
    import xarray as xr

    from eoforge.io.netcdf import write_dataset
    from eoforge.ssl.pretrain import load_data

    wv = load_data(data)
    encoder, normaliser, info = load_teacher(run)
    Z = embed_images(encoder, np.asarray(wv.images), normaliser, info["eval_size"],
                     batch_size=batch_size, progress=progress)  # fmt: skip
    ds = xr.Dataset({"embedding": (("item", "feature"), Z)})
    for name, var in (("labels", "label"), ("wind_speed", "wind_speed"), ("hs", "hs")):
        if getattr(wv, name, None) is not None:
            ds[var] = ("item", np.asarray(getattr(wv, name)))
    ds.attrs.update(run=str(Path(run).resolve()), encoder=info["name"],
                    embed_dim=int(Z.shape[1]), eval_size=int(info["eval_size"]))  # fmt: skip
    if "classes" in dir(wv):
        ds.attrs["classes"] = list(wv.classes)
    return write_dataset(ds, out)
