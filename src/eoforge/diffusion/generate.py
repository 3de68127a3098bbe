"""Generate images from a trained run, in physical units (the normaliser's exact inverse).

For ``kind="sar"`` runs the model samples standardised decibels ``z`` and the output is the
linear intensity ``x = 10^((z sigma_dB + mu_dB)/10)``; for ``kind="identity"`` runs the model
domain is returned unchanged (e.g. cos/sin phase channels).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eoforge.core.atomic import atomic_path, atomic_write_bytes, atomic_write_json
from eoforge.core.errors import InputError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.report import figure_png
from eoforge.diffusion.model import DiffusionUNet
from eoforge.diffusion.run_io import load_run
from eoforge.diffusion.samplers import sample
from eoforge.diffusion.schedules import NoiseSchedule
from eoforge.diffusion.training.config import DiffusionConfig
from eoforge.diffusion.training.module import grid_figure


def _labels(class_labels: Any, n: int, num_classes: int | None) -> np.ndarray | None:
    if num_classes is None:
        if class_labels is not None:
            raise InputError("class_labels were given but the run's model is unconditional.")
        return None
    if class_labels is None:
        return np.arange(n, dtype=np.int64) % num_classes
    lab = np.asarray(class_labels, dtype=np.int64)
    lab = np.full(n, int(lab), dtype=np.int64) if lab.ndim == 0 else lab
    if lab.shape != (n,) or lab.min() < 0 or lab.max() >= num_classes:
        raise bad_value("class_labels", class_labels, f"an int or {n} ints in [0, {num_classes})")
    return lab


def sample_model(
    model: DiffusionUNet,
    schedule: NoiseSchedule,
    config: DiffusionConfig,
    n: int,
    *,
    sampler: str = "dpm++",
    steps: int = 20,
    seed: int = 0,
    class_labels: Any = None,
    batch_size: int = 64,
    progress: ProgressCallback | None = None,
    **sample_kwargs: Any,
) -> tuple[np.ndarray, int, np.ndarray | None]:
    """``n`` model-domain samples (float32 (n, C, H, W)), the NFE per sample, and the labels.

    Batches are drawn one after the other from one generator seeded with ``seed``, so the
    result depends on ``batch_size`` only through the order of draws (fixed for a given value).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise bad_value("n", n, "a positive int")
    if batch_size < 1:
        raise bad_value("batch_size", batch_size, "a positive int")
    u = config.unet
    labels = _labels(class_labels, n, u.num_classes)
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    chunks, nfe = [], 0
    for lo in range(0, n, batch_size):
        b = min(batch_size, n - lo)
        kwargs = {}
        if labels is not None:
            kwargs["class_labels"] = torch.from_numpy(labels[lo : lo + b]).to(device)
        noise = torch.randn((b, u.in_channels, u.image_size, u.image_size), generator=gen)
        with torch.no_grad():
            x, nfe = sample(
                model, schedule, noise.shape, sampler=sampler, steps=steps, generator=gen,
                variance=config.variance, prediction=config.prediction, noise=noise.to(device),
                model_kwargs=kwargs, return_nfe=True, **sample_kwargs,
            )  # fmt: skip
        chunks.append(x.float().cpu().numpy())
        if progress is not None:
            progress(lo + b, n)
    return np.concatenate(chunks), nfe, labels


def generate(
    run: str | os.PathLike[str],
    n: int = 16,
    sampler: str = "dpm++",
    steps: int = 20,
    seed: int = 0,
    class_labels: Any = None,
    *,
    out: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    weights: str = "ema",
    device: str | None = None,
    clip_denoised: float | None = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Sample ``n`` images from the run folder ``run`` and map them to physical units.

    Args:
        run: Run folder written by :func:`eoforge.diffusion.training.train.train`.
        n: Number of images.
        sampler: ``"ddpm"``, ``"ddim"``, ``"dpm++"`` or ``"heun"``.
        steps: Sampling steps (NFE = steps, or 2 steps - 1 for ``"heun"``).
        seed: Seed of the noise.
        class_labels: For a class-conditional model: one int, ``n`` ints, or ``None``
            (classes in turn).
        out: Optional ``.npy`` or ``.zarr`` path; ``OUT`` (``images``, ``labels``), a grid
            ``OUT.png`` and ``OUT.json`` (sampler, NFE, seconds per sample) are written atomically.
        batch_size: Images per model call.
        weights: ``"ema"`` or ``"model"``.
        device: Torch device (default: CUDA when available, else CPU).
        clip_denoised: Clamp every x0 estimate to ``[-c, c]`` in the model domain (default: the
            run's ``clip_denoised``; standardised dB data is not bounded, so use a generous value
            such as 5, needed with eps-prediction).
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        float32 array (n, C, H, W) in physical units.
    """
    if out is not None and Path(out).suffix.lower() not in (".npy", ".zarr"):
        raise bad_value("out", str(out), "a path ending in .npy or .zarr")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, schedule, normaliser, config = load_run(run, weights=weights, device=device)
    clip_denoised = config.clip_denoised if clip_denoised is None else clip_denoised
    start = time.perf_counter()
    z, nfe, labels = sample_model(
        model, schedule, config, n, sampler=sampler, steps=steps, seed=seed,
        class_labels=class_labels, batch_size=batch_size, progress=progress,
        clip_denoised=clip_denoised,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    images = np.asarray(normaliser.inverse_transform(z), dtype=np.float32)
    if out is not None:
        _save(Path(out), images, labels, z)
        meta = {"run": str(run), "n": n, "sampler": sampler, "steps": steps, "nfe": nfe,
                "seed": seed, "seconds_per_sample": seconds / n, "device": str(device)}  # fmt: skip
        atomic_write_json(Path(out).with_suffix(".json"), {**meta, **_units(config.kind, n)})
    return images


def _units(kind: str, n: int) -> dict[str, str]:
    """What ``OUT.json`` says of the units of ``OUT`` and of the grid ``OUT.png``."""
    return {
        "units": "linear intensity" if kind == "sar" else "model domain",
        "grid_png": f"first channel of the first {min(n, 64)} samples in the model domain "
        f"({'standardised dB' if kind == 'sar' else 'as trained'}), grey scale "
        "from the 1st to the 99th percentile",
    }


def _save(out: Path, images: np.ndarray, labels: np.ndarray | None, z: np.ndarray) -> None:
    if out.suffix.lower() == ".npy":
        with atomic_path(out) as tmp, open(tmp, "wb") as fh:
            np.save(fh, images)
    else:
        import zarr

        with atomic_path(out) as tmp:
            group = zarr.open_group(str(tmp), mode="w")
            group.create_array("images", data=images)
            if labels is not None:
                group.create_array("labels", data=labels)
    fig = grid_figure(z[:64])  # what it shows is in OUT.json (no title over the images)
    atomic_write_bytes(out.with_suffix(".png"), figure_png(fig, dpi=100))
