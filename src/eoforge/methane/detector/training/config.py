"""The configuration of a detector training run (``config.yaml`` of ``eoforge methane train``).

A run's settings, their ranges and the checks between them (noise range, stream and bank,
architecture); which settings a resumed run may change; the command-line option of each setting
(named in error messages); and the seed split between training and evaluation scenes: training
scenes draw their seeds from [0, 2^30), evaluation scenes (:mod:`eoforge.methane.evaluate`) from
[2^30, ...), so no evaluation scene is ever seen in training.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from eoforge.core.config import RunConfig
from eoforge.methane.detector.model import UNetSpec, check_spec, check_widths

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
