r"""DINO pre-training of a SAR encoder with optional dynamic dataset curation, as a resumable run.

``pretrain(config, data, out)`` trains with Lightning (checkpoints every epoch, ``last.ckpt``
resume, DDP over ``devices`` -- gloo on CPU --, bf16 mixed precision on GPUs that support it) and
writes the run folder::

    RUN/
      config.yaml                 SSLConfig
      normaliser.json             the DbNormaliser fitted on the data (applied to every input)
      encoder.json                encoder name, arguments and evaluation view size
      teacher_backbone.safetensors  EMA teacher backbone weights (used by probe and embed)
      checkpoints/last.ckpt       full training state (resume)
      selections/epoch_XXXX.npz   every curated/random selection
      curation_history.json       the curator's record of every selection (sizes, timings)
      metrics.json                per-epoch loss and collapse indicators, timings
      logs/fit_NNN/metrics.csv    Lightning CSV log of each (resumed) fit call

Schedules follow DINO (Caron et al. 2021): base learning rate ``lr * batch * devices / 256``
with linear warm-up then cosine decay, weight decay cosine 0.04 -> 0.4, teacher momentum
:math:`1 - (1 - m_0)(\cos(\pi t / T) + 1)/2`.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from pydantic import Field

from eoforge.core.atomic import atomic_write_json
from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError, DataNotFoundError
from eoforge.core.progress import ProgressCallback
from eoforge.core.resume import check_resume, data_fingerprint, record_fingerprint
from eoforge.core.runs import RunDir
from eoforge.curation.dynamic import CurationConfig, DynamicCurator
from eoforge.nn.device import resolve_device
from eoforge.nn.encoders import build_encoder
from eoforge.nn.lightning_quiet import quiet_lightning
from eoforge.nn.lightning_strategy import trainer_settings
from eoforge.nn.training import LAST_CHECKPOINT, resume_checkpoint, save_weights, seeded
from eoforge.sar.dataset import WVDataset
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.store import load_wv
from eoforge.sar.stream import WVArchive, fit_normaliser
from eoforge.ssl.module import CuratedDataModule, DINOModule
from eoforge.ssl.pretrain_report import write_pretrain_report
from eoforge.ssl.stream_data import streaming_data_module

#: Config fields that may change when a run is resumed (the data may move: their content is
#: compared by fingerprint, not their path).
RESUMABLE_CHANGES = (
    "epochs", "devices", "num_nodes", "num_workers", "accelerator", "precision", "data",
)  # fmt: skip


class SSLConfig(RunConfig):
    """DINO pre-training settings (defaults sized for small imagettes; DINO values noted).

    Attributes:
        data: Path of the training data (recorded for provenance).
        encoder: Encoder name (:data:`eoforge.nn.encoders.ENCODERS`).
        encoder_dim: Override the ViT width (small CPU models).
        encoder_depth: Override the ViT depth.
        epochs: Training epochs.
        batch_size: Per-device batch size.
        lr: Base learning rate per 256 images (DINO 5e-4).
        min_lr: Final learning rate.
        warmup_epochs: Linear learning-rate warm-up epochs.
        weight_decay: Initial weight decay (0.04).
        weight_decay_end: Final weight decay (0.4).
        grad_clip: Gradient-norm clipping (3.0; 0 disables).
        freeze_last_layer_epochs: Epochs with the head's last layer frozen (1).
        out_dim: Prototypes ``K`` (65536 in DINO; small here).
        head_hidden_dim: Head MLP width (2048 in DINO).
        head_bottleneck_dim: Head bottleneck (256 in DINO).
        norm_last_layer: Weight-normalised last layer with fixed norm.
        student_temp: Student temperature (0.1).
        teacher_temp: Teacher temperature after warm-up (0.04; > 0.07 is unstable).
        warmup_teacher_temp: Initial teacher temperature.
        warmup_teacher_temp_epochs: Teacher temperature warm-up epochs.
        center_momentum: Centre EMA momentum (0.9).
        momentum_teacher: Initial teacher EMA momentum (0.996 -> 1).
        n_local_crops: Local views (DINO 8-10; 2 global views always).
        global_size: Global view side in pixels (also the evaluation view size).
        local_size: Local view side in pixels.
        global_scale: Area fraction range of global crops.
        local_scale: Area fraction range of local crops.
        flip: Random flips.
        rot90: Random 90-degree rotations.
        gain_db: Gain jitter std (dB).
        speckle_prob: Probability of speckle re-noising a view.
        blur_prob: Probability of blurring a view.
        curation: Dataset curation (mode none|random|random-redrawn|static|dynamic, ...).
        devices: Devices (processes) per node for DDP.
        num_nodes: Machines for multi-node DDP (launched by your cluster's scheduler).
        accelerator: ``"auto"``, ``"cpu"`` or ``"gpu"``.
        precision: ``"auto"`` (bf16-mixed on a bf16-capable GPU, else 32-true) or a Lightning
            precision string.
        num_workers: DataLoader workers.
        embed_batch_size: Batch size of the curation and embedding passes.
        stream: Stream the data from its Zarr store(s) chunk by chunk (:mod:`eoforge.sar.stream`)
            instead of loading it; ``None`` streams several stores or one of more than
            :data:`STREAM_ABOVE` imagettes.
        seed: Seed of initialisation, views, shuffling.
    """

    data: str | None = None
    encoder: str = "vit-tiny/8"
    encoder_dim: int | None = Field(None, ge=8)
    encoder_depth: int | None = Field(None, ge=1)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(64, ge=2)
    lr: float = Field(5e-4, gt=0)
    min_lr: float = Field(1e-6, ge=0)
    warmup_epochs: int = Field(2, ge=0)
    weight_decay: float = Field(0.04, ge=0)
    weight_decay_end: float = Field(0.4, ge=0)
    grad_clip: float = Field(3.0, ge=0)
    freeze_last_layer_epochs: int = Field(1, ge=0)
    out_dim: int = Field(1024, ge=2)
    head_hidden_dim: int = Field(512, ge=1)
    head_bottleneck_dim: int = Field(128, ge=1)
    norm_last_layer: bool = True
    student_temp: float = Field(0.1, gt=0)
    teacher_temp: float = Field(0.04, gt=0)
    warmup_teacher_temp: float = Field(0.04, gt=0)
    warmup_teacher_temp_epochs: int = Field(0, ge=0)
    center_momentum: float = Field(0.9, ge=0, le=1)
    momentum_teacher: float = Field(0.996, ge=0, le=1)
    n_local_crops: int = Field(4, ge=0)
    global_size: int = Field(32, ge=8)
    local_size: int = Field(16, ge=8)
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    flip: bool = True
    rot90: bool = True
    gain_db: float = Field(1.0, ge=0)
    speckle_prob: float = Field(0.3, ge=0, le=1)
    blur_prob: float = Field(0.3, ge=0, le=1)
    curation: CurationConfig = CurationConfig(mode="none")
    devices: int = Field(1, ge=1)
    num_nodes: int = Field(1, ge=1)
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    precision: str = "auto"
    num_workers: int = Field(0, ge=0)
    embed_batch_size: int = Field(256, ge=1)
    stream: bool | None = None


# -- helpers --------------------------------------------------------------------------------------


#: Imagettes above which a single store is streamed when ``SSLConfig.stream`` is None.
STREAM_ABOVE = 200_000


def data_paths(data: str | os.PathLike[str] | list[Any] | tuple[Any, ...]) -> list[str]:
    """The store paths of ``data``: a path, a list of paths, or a comma-separated string.

    A string is split at its commas unless a file of that very name exists.
    """
    paths = [str(data)] if isinstance(data, str | os.PathLike) else [str(d) for d in data]
    if len(paths) == 1 and "," in paths[0] and not Path(paths[0]).exists():
        paths = [p for p in paths[0].split(",") if p.strip()]
    return paths


def load_data(data: Any, stream: bool | None = False) -> Any:
    """A ``WVSet`` from a ``WVSet`` or the path of one saved by ``eoforge.sar.store.save_wv``.

    With ``stream`` true (or ``None`` and several comma-separated stores, or one store of more
    than :data:`STREAM_ABOVE` imagettes) the path(s) give a lazily read
    :class:`~eoforge.sar.stream.WVArchive` instead.
    """
    if isinstance(data, str | os.PathLike | list | tuple) and not hasattr(data, "images"):
        paths = data_paths(data)
        for p in paths:
            if not Path(p).exists():
                raise DataNotFoundError(f"data {p!r} does not exist; check --data.")
        if stream is False and len(paths) > 1:
            raise ConfigError(
                f"{len(paths)} stores given: several stores are streamed; drop --no-stream."
            )
        if stream is False:
            return load_wv(paths[0])
        archive = WVArchive(paths)
        if stream or len(paths) > 1 or len(archive) > STREAM_ABOVE:
            return archive
        return load_wv(paths[0])
    if not hasattr(data, "images"):
        raise ConfigError(f"data must be a WVSet or a path, got {type(data).__name__}.")
    return data


def encoder_kwargs(config: SSLConfig) -> dict[str, Any]:
    """Arguments of :func:`~eoforge.nn.encoders.build_encoder` for ``config``."""
    kw: dict[str, Any] = {"name": config.encoder, "in_chans": 1, "img_size": config.global_size}
    if config.encoder.startswith("vit"):
        kw.update(embed_dim=config.encoder_dim, depth=config.encoder_depth)
    return kw


def build_seeded_encoder(config: SSLConfig) -> torch.nn.Module:
    """The encoder initialised from ``config.seed`` (the global torch RNG is left untouched)."""
    with seeded(config.seed):
        return build_encoder(**encoder_kwargs(config))


#: Command-line option of each config key (named in resume errors).
OPTIONS = {
    "epochs": "--epochs", "encoder": "--encoder", "encoder_dim": "--encoder-dim",
    "encoder_depth": "--encoder-depth", "batch_size": "--batch-size", "lr": "--lr",
    "devices": "--devices", "num_nodes": "--num-nodes", "accelerator": "--device",
    "precision": "--precision", "global_size": "--global-size", "local_size": "--local-size",
    "n_local_crops": "--n-local-crops", "num_workers": "--workers", "seed": "--seed",
    "curation.mode": "--curation", "curation.ratio": "--ratio",
    "curation.warmup_epochs": "--warmup-epochs", "curation.refresh_every": "--refresh-every",
    "curation.n_clusters": "--n-clusters", "curation.eta": "--eta",
    "curation.pool_size": "--pool-size", "curation.seed": "--seed", "stream": "--stream",
}  # fmt: skip


def _trainer_kwargs(config: SSLConfig) -> dict[str, Any]:
    gpu = resolve_device(config.accelerator) == "gpu"
    return trainer_settings(gpu, config.devices, config.num_nodes, config.precision)


class _Progress(pl.Callback):
    """Lightning callback reporting finished epochs to a ``progress(done, total)`` callback."""

    def __init__(self, progress: ProgressCallback, total: int) -> None:
        self.progress = progress
        self.total = total

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self.progress(trainer.current_epoch + 1, self.total)


def _next_log_version(folder: Path) -> str:
    """``fit_000``, ``fit_001``, ...: one CSV log folder per (resumed) fit call."""
    n = len(list(folder.glob("fit_*"))) if folder.exists() else 0
    return f"fit_{n:03d}"


def _epoch_metrics(log_dir: Path) -> list[dict[str, float]]:
    """Per-epoch rows of the Lightning CSV logs of all fit calls (later calls win)."""
    rows: dict[int, dict[str, float]] = {}
    for log_csv in sorted(log_dir.glob("fit_*/metrics.csv")):
        with open(log_csv) as fh:
            for row in csv.DictReader(fh):
                if not row.get("epoch"):
                    continue
                vals = {k: float(v) for k, v in row.items() if v not in ("", None)}
                rows.setdefault(int(vals["epoch"]), {}).update(vals)
    return [rows[e] for e in sorted(rows)]


# -- the job --------------------------------------------------------------------------------------


def pretrain(
    config: SSLConfig,
    data: Any,
    out: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
    callbacks: list[pl.Callback] | None = None,
) -> Path:
    """Pre-train (or resume) a DINO encoder and write the run folder (see module docstring).

    Args:
        config: :class:`SSLConfig`.
        data: A ``WVSet`` (``images`` (n, H, W) linear sigma0, ``labels``) or its path, or
            Zarr store path(s) streamed chunk by chunk (see ``SSLConfig.stream``).
        out: Run folder; if it holds ``checkpoints/last.ckpt`` of the same settings, training
            resumes from it (raise ``epochs`` to train longer).
        progress: Optional ``progress(done_epochs, epochs)``.
        callbacks: Extra Lightning callbacks (e.g. early stopping).

    Returns:
        The run folder.
    """
    wv = load_data(data, stream=config.stream)
    resolve_device(config.accelerator)  # `gpu` without a GPU is refused before anything is made
    fingerprint = data_fingerprint(wv.images, getattr(wv, "labels", None))
    check_resume(Path(out), config, fingerprint, allowed=RESUMABLE_CHANGES, options=OPTIONS)
    run = RunDir(out)
    record_fingerprint(run.path, config, fingerprint)
    run.save_config(config)
    normaliser = _normaliser(run, wv, config.seed)
    with seeded(config.seed):  # student, head and teacher from config.seed
        module = DINOModule(build_encoder(**encoder_kwargs(config)), config,
                            db_scale=float(normaliser.std_db_))  # fmt: skip
    dm = _data_module(config, wv, normaliser, run)
    trainer = _trainer(config, run, callbacks, progress)
    t0 = time.perf_counter()
    with quiet_lightning():
        trainer.fit(module, datamodule=dm, ckpt_path=resume_checkpoint(run.checkpoints))
    fit_seconds = time.perf_counter() - t0
    if trainer.is_global_zero:  # GPU DDP re-launches this function on every rank
        _finalise(run, config, run.checkpoints / LAST_CHECKPOINT, fit_seconds)
    return run.path


def _normaliser(run: RunDir, wv: Any, seed: int) -> DbNormaliser:
    """The run's ``normaliser.json``, else one fitted on the data (and saved)."""
    norm_path = run.file("normaliser.json")
    if norm_path.exists():
        return DbNormaliser.from_dict(json.loads(norm_path.read_text()))
    if isinstance(wv, WVArchive):  # a sample of whole chunks, never the archive
        normaliser = fit_normaliser(wv, seed=seed)
    else:
        normaliser = DbNormaliser().fit(np.asarray(wv.images))
    atomic_write_json(norm_path, normaliser.to_dict())
    return normaliser


def _data_module(
    config: SSLConfig, wv: Any, normaliser: DbNormaliser, run: RunDir
) -> pl.LightningDataModule:
    """The streaming data module of an archive, else the curated one of an in-memory set."""
    if isinstance(wv, WVArchive):
        return streaming_data_module(config, wv, normaliser, run.path / "selections")
    dataset = WVDataset(wv, normaliser=normaliser)
    curator = DynamicCurator(config.curation, len(dataset), labels=getattr(wv, "labels", None))
    return CuratedDataModule(dataset, curator, config.batch_size, seed=config.seed,
                             num_workers=config.num_workers,
                             selections_dir=run.path / "selections",
                             embed_batch_size=config.embed_batch_size)  # fmt: skip


def _trainer(
    config: SSLConfig,
    run: RunDir,
    callbacks: list[pl.Callback] | None,
    progress: ProgressCallback | None,
) -> pl.Trainer:
    """The Lightning trainer: checkpoints every epoch, a CSV log per fit call, no banners."""
    all_callbacks: list[pl.Callback] = [
        *(callbacks or []),
        ModelCheckpoint(dirpath=run.checkpoints, filename="epoch{epoch:04d}",
                        auto_insert_metric_name=False, save_last=True, save_top_k=1),
    ]  # fmt: skip
    if progress is not None:
        all_callbacks.append(_Progress(progress, config.epochs))
    with quiet_lightning():
        return pl.Trainer(
            max_epochs=config.epochs,
            logger=CSVLogger(run.path, name="logs", version=_next_log_version(run.path / "logs")),
            callbacks=all_callbacks,
            log_every_n_steps=1,
            gradient_clip_val=config.grad_clip or None,
            reload_dataloaders_every_n_epochs=1,
            use_distributed_sampler=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            default_root_dir=run.path,
            deterministic=False,
            **_trainer_kwargs(config),
        )


def _finalise(run: RunDir, config: SSLConfig, last: Path, fit_seconds: float) -> None:
    """Export the teacher backbone, the curation record, the metrics and the report."""
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    prefix = "teacher.module.backbone."
    weights = {k[len(prefix) :]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    save_weights(weights, run.file("teacher_backbone.safetensors"))
    kw = encoder_kwargs(config)
    embed_dim = build_encoder(**kw).embed_dim
    atomic_write_json(
        run.file("encoder.json"),
        {"name": kw["name"], "build_kwargs": kw, "embed_dim": embed_dim,
         "eval_size": config.global_size},
    )  # fmt: skip
    dm_state: dict[str, Any] = next((v for k, v in ckpt.items() if k.endswith("DataModule")), {})
    history = dm_state.get("curator", {}).get("history", [])
    atomic_write_json(run.file("curation_history.json"), history)
    epochs = _epoch_metrics(run.path / "logs")
    world = config.devices * config.num_nodes
    embed_s = float(sum(h.get("seconds_embedding", 0.0) for h in history))
    cluster_s = float(sum(h.get("seconds_clustering", 0.0) for h in history))
    run.save_metrics({
        "epochs_done": int(ckpt.get("epoch", -1)) + 1,
        "global_steps": int(ckpt.get("global_step", 0)),
        "images_seen": int(ckpt.get("global_step", 0)) * config.batch_size * world,
        "fit_seconds_last_call": round(fit_seconds, 3),
        "curation_seconds_embedding": embed_s,
        "curation_seconds_clustering": cluster_s,
        "final": epochs[-1] if epochs else {},
        "per_epoch": epochs,
    })  # fmt: skip
    write_pretrain_report(run, config)
    run.write_manifest()
