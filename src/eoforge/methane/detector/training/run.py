"""A detector training run: the data stream, the Lightning trainer, checkpoints and the weights.

Training draws fresh simulated Sentinel-2 pairs, with and without a plume, from one of two data
streams (``stream``), both drawing surfaces, clouds, confounders, plumes and noise from the
ranges of :class:`.config.DetectorConfig` and labelling plumes by the same rule:

- ``"bank"`` (the default): crops of a bank of noise-free background pairs and unit-rate plumes
  written once to Zarr (:mod:`.bank`), with the plume scaled, injected, fresh noise added and the
  features computed batched in torch on the training device (:mod:`.bank_stream`), so that the
  accelerator, not the CPU, sets the pace;
- ``"simulate"``: each pair rendered whole on the CPU (:mod:`.simulate`, ~40 ms a pair at 128 px).

The plume label is the scene's mask (Orbio's |T_B12/T_B11 - 1| > 1e-3) restricted to dOmega >=
``label_min_column`` (0.05 mol/m2 is a 0.3 % B12 signal at AMF 2): the faint fringe of weak
plumes is far below the scene noise and would only teach noise. Scene seeds are drawn from
[0, 2^30) (:data:`.config.TRAIN_SEED_LIMIT`); :mod:`eoforge.methane.evaluate` uses seeds >= 2^30,
so evaluation scenes are never seen in training. The network, its loss and the optimiser are in
:mod:`.module` and :mod:`.loss`.

A run folder holds ``config.yaml``, ``fingerprint.json``, ``checkpoints/last.ckpt`` (written every
100 steps; the same command run again resumes from it, :data:`.config.RESUMABLE_CHANGES` may
differ), ``logs/`` (Lightning's CSV log), ``metrics.json``, ``report.html``, the weights
``detector.safetensors`` + ``detector.json`` and ``manifest.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, IterableDataset

from eoforge.core.progress import ProgressCallback
from eoforge.core.resume import check_resume, record_fingerprint
from eoforge.core.runs import RunDir
from eoforge.methane.detector.training.bank import bank_settings, open_bank
from eoforge.methane.detector.training.bank_stream import BankBatches
from eoforge.methane.detector.training.config import OPTIONS, RESUMABLE_CHANGES, DetectorConfig
from eoforge.methane.detector.training.module import DetectorModule
from eoforge.methane.detector.training.report import write_train_report
from eoforge.methane.detector.training.simulate import SimulatedPairs
from eoforge.methane.detector.weights import Detector, save_detector, set_threads
from eoforge.nn.device import resolve_device
from eoforge.nn.lightning_progress import LightningProgress
from eoforge.nn.lightning_quiet import quiet_lightning
from eoforge.nn.lightning_strategy import spawns_processes, trainer_settings
from eoforge.nn.training import resume_checkpoint

#: Optimiser steps between two writes of ``checkpoints/last.ckpt``.
CHECKPOINT_EVERY = 100


def training_data(config: DetectorConfig, run_path: Path) -> DataLoader:
    """The training DataLoader of ``config.stream``.

    Args:
        config: The training configuration.
        run_path: The run folder (the bank goes to ``RUN/bank.zarr`` unless ``bank_path``).

    Returns:
        Raw bank batches (the bank built first when missing) or whole pairs simulated on the CPU.
    """
    pin = torch.cuda.is_available() and config.device != "cpu"
    if config.stream == "simulate":
        return DataLoader(SimulatedPairs(config, config.seed), batch_size=config.batch_size,
                          num_workers=config.num_workers, pin_memory=pin)  # fmt: skip
    path = Path(config.bank_path) if config.bank_path else Path(run_path) / "bank.zarr"
    open_bank(path, bank_settings(config), rebuild=config.bank_rebuild)
    on_cpu = resolve_device(config.device, "--device") == "cpu"  # features in the workers
    batches: IterableDataset = BankBatches(config, path, config.seed, finish=on_cpu)
    return DataLoader(batches, batch_size=None, num_workers=config.num_workers,
                      pin_memory=pin)  # fmt: skip


def _open_run(config: DetectorConfig, out: str | os.PathLike[str], device: str) -> RunDir:
    """The run folder: the settings checked against a run to resume, saved, threads set."""
    check_resume(Path(out), config, allowed=RESUMABLE_CHANGES, options=OPTIONS)
    run = RunDir(out, config)
    record_fingerprint(run.path, config)
    if config.threads is not None or device == "cpu":
        set_threads(config.threads)
    return run


def _trainer(
    config: DetectorConfig, run: RunDir, gpu: bool, progress: ProgressCallback | None
) -> L.Trainer:
    """The Lightning trainer: checkpoints, the CSV log, the progress bar, DDP and precision."""
    ckpt = ModelCheckpoint(dirpath=run.checkpoints, save_last=True,
                           every_n_train_steps=CHECKPOINT_EVERY, save_top_k=0)  # fmt: skip
    settings = trainer_settings(gpu, config.devices, precision=config.precision)
    callbacks: list[Callback] = [ckpt]
    if progress is not None and not spawns_processes(settings):  # a bar does not pickle
        callbacks.append(LightningProgress(progress, config.steps))
    return L.Trainer(
        max_steps=config.steps,
        **settings,
        logger=CSVLogger(run.path, name="logs", version=0),
        callbacks=callbacks,
        enable_progress_bar=False,
        enable_model_summary=False,
        log_every_n_steps=config.log_every,
        deterministic=False,
    )


def _save_outputs(
    config: DetectorConfig, run: RunDir, trainer: L.Trainer, module: DetectorModule
) -> Path:
    """Metrics, ``report.html``, the detector weights and the manifest; the weights' path."""
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    run.save_metrics({"final_" + k: v for k, v in metrics.items()}
                     | {"steps": config.steps, "n_parameters": module.n_parameters})  # fmt: skip
    write_train_report(run.file("report.html").parent)  # loss curve from RUN/logs, metrics
    detector = Detector(
        module.net.cpu().eval(),
        tuple(config.context),
        config.to_dict(),
        config.smooth_sigma,
        noise=config.noise_channel,
        reference_dates=config.reference_dates,
    )
    path = save_detector(detector, run.file("detector.safetensors"))
    run.file("detector.json")
    run.write_manifest()
    return path


def train_detector(
    config: DetectorConfig,
    out: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
) -> Path:
    """Train a detector and write ``OUT/detector.safetensors`` + ``OUT/detector.json``.

    The run folder also holds ``config.yaml``, ``checkpoints/last.ckpt`` (training resumes from
    it when the same command is run again), ``metrics.json`` and ``manifest.json``.

    Args:
        config: Training configuration.
        out: Run folder.
        progress: Optional ``progress(done_steps, steps)`` callback.

    Returns:
        Path of the written ``detector.safetensors``.
    """
    device = resolve_device(config.device, "--device")
    run = _open_run(config, out, device)
    module = DetectorModule(config)
    data = training_data(config, run.path)
    with quiet_lightning():
        trainer = _trainer(config, run, device == "gpu", progress)
        trainer.fit(module, data, ckpt_path=resume_checkpoint(run.checkpoints))
    if not trainer.is_global_zero:  # DDP on GPUs: every rank runs this function; one writes
        return run.file("detector.safetensors")
    return _save_outputs(config, run, trainer, module)
