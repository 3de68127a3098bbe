"""Configuration of a diffusion training run, and the seeded model it describes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from eoforge.core.config import RunConfig
from eoforge.core.errors import ConfigError
from eoforge.diffusion.model import DiffusionUNet, UNetConfig
from eoforge.diffusion.schedules import NoiseSchedule
from eoforge.nn.training import seeded

# Keys that may differ between a run and its resumption (everything else must match).
RESUMABLE_CHANGES = (
    "steps", "checkpoint_every", "sample_every", "log_every", "accelerator", "precision",
    "channels_last", "compile",
)  # fmt: skip


class DiffusionConfig(RunConfig):
    """Configuration of a diffusion training run (saved as ``config.yaml`` in the run folder).

    Defaults follow the paper's examples (cosine schedule, AdamW lr 1e-4, hybrid loss lambda
    0.001, loss-second-moment sampler, EMA 0.9999) except the model size and T, which are small
    enough for a CPU, and the prediction: ``"v"`` (Salimans & Ho 2022) instead of the paper's
    ``"epsilon"``. With eps-prediction and a cosine schedule, ``abar_{T-1}`` is ~1e-7 to 1e-9, so
    ``x0_hat = (x_t - sqrt(1-abar) eps_hat)/sqrt(abar)`` multiplies the network's error by
    ~1e3-1e4 at the first sampling step; improved-diffusion hides this by clipping x0_hat to the
    data range [-1, 1], which standardised-dB data does not have. With ``"epsilon"``, set
    ``clip_denoised`` (e.g. 5: five standard deviations of the dB values), used by the sample
    grids and as the default of :func:`eoforge.diffusion.generate.generate`.

    ``checkpoint_every`` is the number of optimiser steps between checkpoints
    (``checkpoints/last.ckpt``, replaced each time); the final checkpoint is always written when
    training ends, so ``0`` means "only at the end" (a run stopped before its end then restarts
    from step 0). ``sample_every`` likewise: ``0`` draws one sample grid, at the end.
    ``grad_clip=None`` disables gradient clipping.

    Speed options (same math, off by default, may change between a run and its resumption):
    ``channels_last`` trains the U-Net in the channels-last memory format (faster convolutions
    on recent GPUs), ``compile`` runs its forward pass through ``torch.compile`` (a one-off
    compilation of tens of seconds; needs a C++ compiler on the CPU). AdamW is the fused CUDA
    kernel whenever training runs on a GPU.
    """

    kind: Literal["sar", "identity"] = "sar"
    unet: UNetConfig = UNetConfig()
    num_timesteps: int = Field(1000, ge=1)
    schedule: Literal["cosine", "linear"] = "cosine"
    prediction: Literal["epsilon", "v"] = "v"
    clip_denoised: float | None = None
    vlb_lambda: float = Field(1e-3, ge=0)
    decoder: Literal["continuous", "discretized"] = "continuous"
    timestep_sampler: Literal["uniform", "loss-second-moment"] = "loss-second-moment"
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(8, ge=1)
    accumulate: int = Field(1, ge=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    grad_clip: float | None = Field(1.0, gt=0)
    ema_decay: float = Field(0.9999, ge=0, lt=1)  # the paper uses 0.9999
    ema_warmup: bool = True
    checkpoint_every: int = Field(500, ge=0)  # 0: one checkpoint, at the end only
    sample_every: int = Field(0, ge=0)  # 0: one sample grid, at the end only
    sample_n: int = Field(16, ge=1)
    sample_steps: int = Field(20, ge=1)
    log_every: int = Field(10, ge=1)
    accelerator: Literal["auto", "cpu", "gpu"] = "auto"
    precision: str = "auto"
    channels_last: bool = False
    compile: bool = False

    def model_post_init(self, __context: Any) -> None:
        """Check the settings that involve two fields (``sample_steps``, ``clip_denoised``)."""
        # one-field ranges are Field constraints above: their errors name the key (or option)
        if self.clip_denoised is not None and self.clip_denoised <= 0:
            raise ConfigError(f"clip_denoised={self.clip_denoised} must be None or > 0.")
        if not 1 <= self.sample_steps <= self.num_timesteps:
            raise ConfigError(f"sample_steps={self.sample_steps} must lie in [1, num_timesteps].")

    def make_schedule(self) -> NoiseSchedule:
        """The trained noise schedule."""
        return getattr(NoiseSchedule, self.schedule)(self.num_timesteps)

    @property
    def variance(self) -> str:
        """Sampler variance option matching the model."""
        return "learned_range" if self.unet.learned_variance else "fixed_small"


def build_model(config: DiffusionConfig) -> DiffusionUNet:
    """The U-Net with weights initialised from ``config.seed`` (global RNG left untouched)."""
    with seeded(config.seed):
        return DiffusionUNet(config.unet)
