"""Training of the plume detector on scene pairs simulated on the fly (Lightning).

Two data streams (``stream``). ``"bank"`` (the default): crops of a bank of noise-free background
pairs and unit-rate plumes written once to Zarr (:mod:`.bank`), with the plume scaled, injected,
fresh noise added and the features computed batched in torch on the training device
(:mod:`.bank_stream`), so that the accelerator, not the CPU, sets the pace. ``"simulate"``: each
pair rendered whole on the CPU, as below (:func:`_simulate`). Both draw their surfaces, clouds,
confounders, plumes and noise from the ranges below and label plumes by the same rule.

Each sample is a fresh simulated Sentinel-2 pair (:mod:`eoforge.methane.scenes`): a random
surface type, clouds and confounders (albedo changes, shadows, wet soil, burn scars) drawn by
the scene generator, and with probability ``1 - negative_fraction`` a plume injected into the
target date with an emission rate Q log-uniform in [rate_min, rate_max] kg/h, wind speed uniform
in [wind_min, wind_max] m/s and a uniform wind direction. Cloud cover (in ``cloud_prob`` of the
scenes, up to ``cloud_max``), 0..``confounders_max`` confounders, the time gap between the
dates and (when ``noise_min``/``noise_max`` are not both 1) the sensor noise scale are drawn per
scene. The plume label is the scene's mask (Orbio's |T_B12/T_B11 - 1| > 1e-3)
restricted to dOmega >= ``label_min_column`` (0.05 mol/m2, a 0.3 % B12 signal at AMF 2): the
faint fringe of weak plumes is far below the scene noise and would only teach noise. Scenes seeds are drawn from
[0, 2^30); :mod:`eoforge.methane.evaluate` uses seeds >= 2^30, so evaluation scenes are never
seen in training.

Loss (Orbio's two-head formulation with the Dice term of Milletari et al. 2016), with p the
predicted probability, y the plume mask, v the valid mask, dOmega the true and hat-dOmega the
predicted column:

    L = BCE(p, y; pos_weight) + lambda_dice (1 - (2 sum p y + 1) / (sum p + sum y + 1))
        + lambda_col * sum_i v_i w_i Huber_delta(hat-dOmega_i - dOmega_i) / sum_i v_i w_i,
    w_i = 1 on plume pixels and ``off_plume_weight`` elsewhere.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Literal

import lightning as L
import numpy as np
import torch
from pydantic import Field, field_validator, model_validator
from torch.nn import functional as F
from torch.utils.data import DataLoader, IterableDataset

from eoforge.core.config import RunConfig
from eoforge.core.errors import InputError
from eoforge.core.progress import ProgressCallback
from eoforge.core.resume import check_resume, record_fingerprint
from eoforge.core.runs import RunDir
from eoforge.core.seeding import as_generator
from eoforge.methane.detector.bank import bank_settings, open_bank
from eoforge.methane.detector.bank_stream import BankBatches, make_inputs
from eoforge.methane.detector.features import build_inputs, channel_names
from eoforge.methane.detector.model import (
    PlumeUNet,
    UNetSpec,
    check_spec,
    check_widths,
    insert_input_channel,
    n_parameters,
)
from eoforge.methane.detector.train_report import write_train_report
from eoforge.methane.detector.weights import Detector, load_detector, save_detector
from eoforge.nn.device import resolve_device
from eoforge.nn.lightning_progress import LightningProgress
from eoforge.nn.lightning_quiet import quiet_lightning
from eoforge.nn.lightning_strategy import process_rank, spawns_processes, trainer_settings
from eoforge.nn.training import resume_checkpoint, seeded

TRAIN_SEED_LIMIT = 2**30
"""Training scenes use seeds below this; evaluation scenes use seeds at or above it."""


class DetectorConfig(RunConfig):
    """Configuration of a detector training run (saved as ``config.yaml``)."""

    steps: int = Field(5000, ge=1, description="Optimiser steps.")
    batch_size: int = Field(16, ge=1)
    patch: int = Field(64, ge=32, description="Side of the simulated training scenes (px).")
    widths: tuple[int, ...] = (12, 24, 48)
    architecture: Literal["unet", "resunet"] = Field(
        "unet", description="unet (small, the CPU default) or resunet (residual encoder + U-Net "
        "decoder, the larger GPU detector; model module)."
    )  # fmt: skip
    blocks: tuple[int, ...] = Field(
        (), description="Residual blocks per encoder level (resunet; empty: one per level)."
    )
    context: tuple[str, ...] = ("B8A", "B04")
    smooth_sigma: float = Field(1.5, ge=0, description="Smoothed MBMP column channel (px).")
    noise_channel: bool = Field(
        False, description="Give the network the scene's MBMP noise level as an input channel "
        "(features module); an init detector without it gets the channel with zero weights."
    )  # fmt: skip
    reference_dates: int = Field(
        1, ge=1, description="K reference dates per training item: K > 1 adds the reference-"
        "stack channels (features module) and needs a bank of K-date items (stream bank)."
    )  # fmt: skip
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    surfaces: tuple[str, ...] = ("desert", "semi-arid", "vegetated", "urban")
    negative_fraction: float = Field(0.5, ge=0, le=1)
    cloud_prob: float = Field(0.3, ge=0, le=1, description="Share of scenes with clouds.")
    cloud_max: float = Field(0.3, ge=0, le=1, description="Largest cloud fraction drawn.")
    confounders_max: int = Field(3, ge=0, description="Confounders per scene ~ U{0..max}.")
    time_gap_max: float = Field(60.0, gt=0, description="Days between dates ~ U(2, max).")
    noise_min: float = Field(
        1.0, ge=0, description="Sensor noise scale ~ U(noise_min, noise_max) per scene (1: the "
        "MSI SNR requirement; 0.5: about in-flight)."
    )  # fmt: skip
    noise_max: float = Field(1.0, ge=0)
    rate_min: float = Field(500.0, gt=0, description="kg/h")
    rate_max: float = Field(8000.0, gt=0, description="kg/h")
    wind_min: float = Field(1.5, gt=0, description="m/s")
    wind_max: float = Field(6.0, gt=0, description="m/s")
    label_min_column: float = Field(
        0.1, ge=0, description="Plume label: scene mask and dOmega >= this (mol/m2)."
    )
    pos_weight: float = Field(5.0, gt=0)
    lambda_dice: float = Field(1.0, ge=0)
    lambda_col: float = Field(1.0, ge=0)
    off_plume_weight: float = Field(0.1, ge=0)
    huber_delta: float = Field(0.5, gt=0, description="mol/m2")
    device: str = Field("auto", description="auto, cpu, gpu or cuda")
    devices: int = Field(1, ge=1, description="Processes (DDP when > 1; gloo on the CPU).")
    precision: str = Field(
        "auto", description="auto (bf16-mixed on a bf16 GPU, else 32-true) or a Lightning "
        "precision such as 32-true or bf16-mixed."
    )  # fmt: skip
    compile: bool = Field(False, description="Run the network's forward through torch.compile.")
    channels_last: bool = Field(
        False, description="Train in the channels-last memory format (faster on recent GPUs)."
    )
    log_every: int = Field(
        10, ge=1, description="Steps between loss log rows (the one host read of the loss)."
    )
    num_workers: int = Field(0, ge=0)
    threads: int | None = Field(None, description="torch CPU threads (default: all cores)")
    init: str | None = Field(
        None, description="Start from these detector weights (fine-tuning) instead of a seeded "
        "initialisation; their architecture and input features must match this config."
    )  # fmt: skip
    stream: str = Field(
        "bank", description="bank: crops of a bank of simulated backgrounds with plumes, noise "
        "and features made batched on the training device (bank_stream module); simulate: each "
        "pair rendered whole on the CPU (the former stream, ~40 ms a pair at 128 px)."
    )  # fmt: skip
    bank_path: str | None = Field(
        None, description="Zarr folder of the bank (default: OUT/bank.zarr); reused by runs "
        "asking the same bank settings, refused (named differences) otherwise."
    )  # fmt: skip
    bank_items: int = Field(512, ge=1, description="Background date-pairs in the bank.")
    bank_size: int | None = Field(
        None, description="Side of the bank's backgrounds (px; default 2 x patch, >= patch)."
    )
    bank_seed: int = Field(0, ge=0, description="Seed of the bank's scenes and plumes.")
    plume_pool: int = Field(256, ge=1, description="Unit-rate plumes in the bank.")
    bank_block: int = Field(
        128, ge=1, description="Backgrounds (and plumes) held in memory per loader worker."
    )
    bank_reuse: int = Field(16, ge=1, description="Batches drawn from a block before the next.")
    bank_rebuild: bool = Field(
        False, description="Replace a bank made with other settings instead of refusing it."
    )

    @model_validator(mode="after")
    def _check_noise_range(self) -> DetectorConfig:
        if self.noise_max < self.noise_min:
            raise ValueError(
                f"noise_max ({self.noise_max}) is below noise_min ({self.noise_min}): "
                "give a range with noise_min <= noise_max."
            )
        return self

    @model_validator(mode="after")
    def _check_bank(self) -> DetectorConfig:
        if self.stream not in ("bank", "simulate"):
            raise ValueError(f"stream={self.stream!r} is invalid: use 'bank' or 'simulate'.")
        if self.reference_dates > 1 and self.stream != "bank":
            raise ValueError(
                f"reference_dates (--reference-dates) {self.reference_dates} needs the bank "
                "stream (the simulate stream renders one reference date): pass --stream bank "
                "or --reference-dates 1."
            )
        if self.bank_size is not None and self.bank_size < self.patch:
            raise ValueError(
                f"bank_size ({self.bank_size}) is below patch ({self.patch}): the bank's "
                "backgrounds must be at least as large as the training crops."
            )
        return self

    @field_validator("widths")
    @classmethod
    def _check_widths(cls, widths: tuple[int, ...]) -> tuple[int, ...]:
        return check_widths(widths)  # a ValueError located at widths (--widths)

    @model_validator(mode="after")
    def _check_architecture(self) -> DetectorConfig:
        check_spec(self.spec(1, None))  # widths, architecture, blocks (a ValueError names them)
        return self

    def spec(self, in_channels: int, prior_channel: int | None) -> UNetSpec:
        """The network architecture of this config for inputs of ``in_channels`` channels."""
        return UNetSpec(in_channels, tuple(self.widths), prior_channel, self.architecture,
                        tuple(self.blocks))  # fmt: skip


def _simulate(cfg: DetectorConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One training sample: inputs (C, P, P), mask, column, valid (all float32)."""
    from eoforge.methane import scenes

    shape = (cfg.patch, cfg.patch)
    surface = str(rng.choice(cfg.surfaces))
    seed = int(rng.integers(0, TRAIN_SEED_LIMIT))
    cloudy = rng.random() < cfg.cloud_prob
    kwargs = {
        "cloud_fraction": float(rng.uniform(0.0, cfg.cloud_max)) if cloudy else 0.0,
        "confounders": int(rng.integers(0, cfg.confounders_max + 1)),
        "time_gap_days": float(rng.uniform(2.0, max(2.0, cfg.time_gap_max))),
    }
    if cfg.noise_max != 1.0 or cfg.noise_min != 1.0:  # the default draws nothing: old streams kept
        kwargs["noise_scale"] = float(rng.uniform(cfg.noise_min, cfg.noise_max))
    if rng.random() < cfg.negative_fraction:
        pair = scenes.simulate_pair(shape, surface, seed, **kwargs)
        column = np.zeros(shape, dtype=np.float32)
        mask = np.zeros(shape, dtype=np.float32)
    else:
        rate = float(np.exp(rng.uniform(np.log(cfg.rate_min), np.log(cfg.rate_max))))
        src = tuple(float(v) for v in rng.uniform(0.2 * cfg.patch, 0.8 * cfg.patch, 2))
        pair, column, mask, _ = scenes.simulate_plume_pair(
            shape,
            surface,
            seed,
            emission_rate_kg_h=rate,
            wind_speed=float(rng.uniform(cfg.wind_min, cfg.wind_max)),
            wind_direction=float(rng.uniform(0.0, 360.0)),
            source=src,
            **kwargs,
        )
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

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker = 0 if info is None else info.id
        rank = process_rank()
        rng = as_generator(np.random.SeedSequence([self.seed, rank, worker]).generate_state(1)[0])
        while True:
            sample = _simulate(self.config, rng)
            yield {k: torch.from_numpy(v) for k, v in sample.items()}


def detector_loss(
    logits: torch.Tensor,
    column: torch.Tensor,
    batch: dict[str, torch.Tensor],
    cfg: DetectorConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of the module docstring; logits, column (B, H, W). Returns (loss, parts)."""
    y, v, target = batch["mask"], batch["valid"], batch["column"]  # (B, H, W) each
    logits, column = logits.float(), column.float()  # float32 sums under bf16 autocast
    pw = logits.new_full((), cfg.pos_weight)  # made on the device: no host-to-device copy
    bce = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw, reduction="none") * v
    bce = bce.sum() / v.sum().clamp_min(1.0)
    p = torch.sigmoid(logits) * v
    dice = 1.0 - (2.0 * (p * y).sum() + 1.0) / (p.sum() + y.sum() + 1.0)
    w = v * (y + cfg.off_plume_weight * (1.0 - y))
    hub = F.huber_loss(column, target, reduction="none", delta=cfg.huber_delta)
    col = (hub * w).sum() / w.sum().clamp_min(1.0)
    loss = bce + cfg.lambda_dice * dice + cfg.lambda_col * col
    return loss, {"bce": bce.detach(), "dice": dice.detach(), "col": col.detach()}


class DetectorModule(L.LightningModule):
    """Lightning wrapper: the U-Net, the loss and AdamW with a cosine schedule."""

    def __init__(self, config: DetectorConfig) -> None:
        super().__init__()
        self.config = config
        names = channel_names(config.context, config.smooth_sigma, config.noise_channel,
                              config.reference_dates)  # fmt: skip
        prior = names.index("col_mbmp_smooth") if config.smooth_sigma > 0 else None
        spec = config.spec(len(names), prior)
        with seeded(config.seed):  # no trace on the global torch generator
            self.net = PlumeUNet(spec)
        if config.init is not None:
            self._load_init(config.init, spec)
        self.n_parameters = n_parameters(self.net)
        # The forward pass: the network, torch.compile'd in setup() when asked; kept out of
        # the submodules so that the state dict and checkpoints keep the network's names only.
        self.__dict__["_forward"] = self.net

    def setup(self, stage: str) -> None:
        """channels_last and torch.compile (config flags) on the training device's network."""
        if self.config.channels_last:
            self.net.to(memory_format=torch.channels_last)
        if self.config.compile:  # the state dict keeps the network's names
            self.__dict__["_forward"] = torch.compile(self.net)

    def _load_init(self, path: str, spec: UNetSpec) -> None:
        start = load_detector(path)
        net, k_init = start.model, start.reference_dates
        if self.config.noise_channel and not start.noise:  # add the channel, zero weights
            names = channel_names(start.context, start.smooth, True, start.reference_dates)
            net = insert_input_channel(net, names.index("noise"))
        if self.config.reference_dates > 1 and start.reference_dates == 1:
            # Single-date weights: the reference-stack channels come in with zero weights,
            # so step 0 computes what the single-date detector computes on the pair channels.
            noise = self.config.noise_channel
            names = channel_names(start.context, start.smooth, noise, self.config.reference_dates)
            for i in (i for i, n in enumerate(names) if n.endswith("_stack")):
                net = insert_input_channel(net, i)
            k_init = self.config.reference_dates  # the stack channels are there now
        same = (net.spec == spec and tuple(start.context) == tuple(self.config.context)
                and float(start.smooth) == float(self.config.smooth_sigma)
                and (start.noise <= self.config.noise_channel)
                and k_init == self.config.reference_dates)  # fmt: skip
        if not same:
            raise InputError(
                f"init weights {path!r} have spec {start.model.spec}, context {start.context}, "
                f"smooth {start.smooth}, noise channel {start.noise} and reference dates "
                f"{start.reference_dates}; this run needs {spec}, {tuple(self.config.context)}, "
                f"{self.config.smooth_sigma}, {self.config.noise_channel} and "
                f"{self.config.reference_dates}: set architecture/widths/blocks/context/"
                "smooth_sigma/noise_channel/reference_dates to match them."
            )
        self.net.load_state_dict(net.state_dict())

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """Bank batches become inputs and labels here, on the training device."""
        return make_inputs(batch, self.config) if "bands" in batch else batch

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = batch["x"]  # (B, C, H, W)
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits, column = self._forward(x)
        loss, parts = detector_loss(logits, column, batch, self.config)
        # Device tensors: Lightning reads them (one host sync) only every log_every steps.
        # (prog_bar=True would convert the loss to a float after every step.)
        self.log("loss", loss.detach())
        self.log_dict({f"loss_{k}": v for k, v in parts.items()})
        return loss

    def configure_optimizers(self):
        fused = True if self.device.type == "cuda" else None  # one kernel per step on CUDA
        opt = torch.optim.AdamW(
            self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay,
            fused=fused,
        )  # fmt: skip
        total = self.config.steps

        def lr_at(step: int) -> float:
            warm = min(100, total // 10 + 1)
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


#: Config keys that may change when a run is resumed: more steps (the cosine schedule then
#: stretches to the new total from the step reached), and where and how fast it runs.
RESUMABLE_CHANGES = ("steps", "device", "devices", "threads", "precision", "compile",
                     "channels_last", "log_every", "bank_rebuild")  # fmt: skip

#: Command-line option of each config key (named in resume errors).
OPTIONS = {
    "steps": "--steps", "batch_size": "--batch-size", "patch": "--size", "lr": "--lr",
    "device": "--device", "devices": "--devices", "precision": "--precision",
    "num_workers": "--workers", "threads": "--threads", "seed": "--seed", "init": "--init",
    "architecture": "--architecture", "widths": "--widths", "compile": "--compile",
    "channels_last": "--channels-last", "stream": "--stream", "bank_path": "--bank",
    "bank_items": "--bank-items", "bank_rebuild": "--rebuild-bank",
    "reference_dates": "--reference-dates",
}  # fmt: skip


def training_data(config: DetectorConfig, run_path: Path) -> DataLoader:
    """The training DataLoader: raw bank batches (built into the bank first when missing) or
    whole pairs simulated on the CPU (``config.stream``)."""
    pin = torch.cuda.is_available() and config.device != "cpu"
    if config.stream == "simulate":
        return DataLoader(SimulatedPairs(config, config.seed), batch_size=config.batch_size,
                          num_workers=config.num_workers, pin_memory=pin)  # fmt: skip
    path = Path(config.bank_path) if config.bank_path else Path(run_path) / "bank.zarr"
    open_bank(path, bank_settings(config), rebuild=config.bank_rebuild)
    on_cpu = resolve_device(config.device, "--device") == "cpu"  # features in the workers
    return DataLoader(BankBatches(config, path, config.seed, finish=on_cpu), batch_size=None,
                      num_workers=config.num_workers, pin_memory=pin)  # fmt: skip


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
    check_resume(out, config, allowed=RESUMABLE_CHANGES, options=OPTIONS)
    run = RunDir(out, config)
    record_fingerprint(run.path, config)
    if config.threads is not None or device == "cpu":
        from eoforge.methane.detector.weights import set_threads

        set_threads(config.threads)
    module = DetectorModule(config)
    data = training_data(config, run.path)
    ckpt = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=run.checkpoints, save_last=True, every_n_train_steps=100, save_top_k=0
    )
    settings = trainer_settings(device == "gpu", config.devices, precision=config.precision)
    shown = progress is not None and not spawns_processes(settings)  # a bar does not pickle
    with quiet_lightning():
        trainer = L.Trainer(
            max_steps=config.steps,
            **settings,
            logger=L.pytorch.loggers.CSVLogger(run.path, name="logs", version=0),
            callbacks=[ckpt] + ([LightningProgress(progress, config.steps)] if shown else []),
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=config.log_every,
            deterministic=False,
        )
        trainer.fit(module, data, ckpt_path=resume_checkpoint(run.checkpoints))
    if not trainer.is_global_zero:  # DDP on GPUs: every rank runs this function; one writes
        return run.file("detector.safetensors")
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    run.save_metrics({"final_" + k: v for k, v in metrics.items()}
                     | {"steps": config.steps, "n_parameters": module.n_parameters})  # fmt: skip
    write_train_report(run.file("report.html").parent)  # loss curve from RUN/logs, metrics
    path = save_detector(
        Detector(
            module.net.cpu().eval(),
            tuple(config.context),
            config.to_dict(),
            config.smooth_sigma,
            noise=config.noise_channel,
            reference_dates=config.reference_dates,
        ),
        run.file("detector.safetensors"),
    )
    run.file("detector.json")
    run.write_manifest()
    return path
