"""The LightningModule of diffusion training, its callbacks and sample grids.

The EMA of the weights is :class:`eoforge.nn.ema.EMA` (``module.ema``, averaged U-Net in
``module.ema.module``) with the warm-up decay :func:`eoforge.nn.ema.warmup_decay`. See
:mod:`eoforge.diffusion.training.train` for the algorithm and the exact-resume design.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from eoforge.core.atomic import atomic_path
from eoforge.core.progress import ProgressCallback
from eoforge.core.runs import RunDir
from eoforge.diffusion.data import ImageDataset
from eoforge.diffusion.samplers import sample
from eoforge.diffusion.training.config import DiffusionConfig, build_model
from eoforge.diffusion.training.losses import diffusion_loss, make_timestep_sampler
from eoforge.nn.ema import EMA, warmup_decay
from eoforge.nn.training import LAST_CHECKPOINT


def grid_figure(images: np.ndarray, ncols: int = 8) -> Any:
    """Matplotlib grid of the first channel of (N, C, H, W) images (shared colour scale).

    No title is drawn on the figure (it would sit over the first row of images): say what the
    grid shows in the caption beside it (the report's, or ``OUT.json`` of ``sample``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    arr = np.asarray(images)[:, 0]
    n = len(arr)
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.3 * nrows), squeeze=False)
    lo, hi = np.percentile(arr, [1, 99]) if n else (0, 1)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img in zip(axes.ravel(), arr, strict=False):
        ax.imshow(img, cmap="gray", vmin=lo, vmax=hi)
    return fig


class StepStream(torch.utils.data.IterableDataset):
    """Endless step counter: batches are drawn inside the module from its own generator."""

    def __iter__(self) -> itertools.count:
        return itertools.count()


class DiffusionModule(pl.LightningModule):
    """LightningModule holding the U-Net, its EMA, the schedule and the timestep sampler.

    Args:
        config: The run configuration.
        dataset: Model-domain training images (and labels).
    """

    def __init__(self, config: DiffusionConfig, dataset: ImageDataset) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset
        self.model = build_model(config)
        self.ema = EMA(self.model, decay=config.ema_decay)  # averaged U-Net: self.ema.module
        self.schedule = config.make_schedule()
        self.tsampler = make_timestep_sampler(config.timestep_sampler, config.num_timesteps)
        self.gen = torch.Generator().manual_seed(config.seed + 1)
        self.log_rows: list[dict[str, float]] = []
        self._acc: list[torch.Tensor] = []  # per step: (loss, mse, vlb) on the device
        self._images, self._labels = dataset.images, dataset.labels  # moved in setup()
        self._on_host = False  # images kept (pinned) on the host: batches copied each step
        self._forward: Any = self.model

    def setup(self, stage: str) -> None:
        """Put the generator, the sampler's history and (when it fits) the data on the device.

        Runs once, before a checkpoint is restored (Lightning's order), so that the restored
        generator and history land on the training device.
        """
        device = self.trainer.strategy.root_device
        if self.gen.device.type != device.type:
            self.gen = torch.Generator(device=device).manual_seed(self.config.seed + 1)
        self.tsampler.to(device)
        images, labels = self.dataset.images, self.dataset.labels
        self._on_host = device.type != "cpu" and not fits_on_device(images, device)
        if self._on_host:
            self._images = images.pin_memory()
        else:
            self._images = images.to(device)
        self._labels = None if labels is None else labels.to(device)
        if self.config.channels_last:
            # Module.to takes memory_format at run time; torch's typed overloads omit it
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.config.compile:  # not a submodule: the state dict keeps the U-Net's names
            self.__dict__["_forward"] = torch.compile(self.model)

    def _draw_batch(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        n, b, gen = len(self.dataset), self.config.batch_size, self.gen
        idx = (
            torch.randperm(n, generator=gen, device=gen.device)[:b]
            if n >= b
            else torch.randint(0, n, (b,), generator=gen, device=gen.device)
        )
        if self._on_host:  # the one host read of a step when the data do not fit the device
            x0 = self._images.index_select(0, idx.cpu()).pin_memory()
            x0 = x0.to(self.device, non_blocking=True)
        else:
            x0 = self._images.index_select(0, idx)  # (B, C, H, W)
        labels = None if self._labels is None else self._labels.index_select(0, idx)
        return x0, labels

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        """One micro-batch: draw x_0, t and eps, noise, and return the weighted loss.

        ``batch`` is the step counter of :class:`StepStream` (unused): the data, timesteps and
        noise come from the module's generator.
        """
        cfg = self.config
        x0, labels = self._draw_batch()
        gen = self.gen
        t, w = self.tsampler.sample(x0.shape[0], gen)  # (B,), (B,) on the device
        noise = torch.randn(x0.shape, generator=gen, device=gen.device)  # (B, C, H, W)
        x_t = self.schedule.add_noise(x0, noise, t)
        if cfg.channels_last:
            x_t = x_t.contiguous(memory_format=torch.channels_last)
        out = self._forward(x_t, t, class_labels=labels)
        terms = diffusion_loss(
            out, self.schedule, x0, x_t, noise, t,
            prediction=cfg.prediction, learned_variance=cfg.unet.learned_variance,
            vlb_lambda=cfg.vlb_lambda, decoder=cfg.decoder,
        )  # fmt: skip
        self.tsampler.update(t, terms.loss)  # the optimised per-image loss (see train.py)
        loss = (terms.loss * w.to(terms.loss)).mean()
        mse = terms.mse.detach().mean()
        vlb = terms.vlb.detach().mean() if terms.vlb is not None else torch.full_like(mse, np.nan)
        self._acc.append(torch.stack([loss.detach(), mse, vlb]).double())  # read at log_every
        return loss

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over the U-Net's weights (the fused kernel on CUDA)."""
        cfg = self.config
        fused = True if self.device.type == "cuda" else None  # one kernel per step on CUDA
        return torch.optim.AdamW(
            self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused
        )

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Lightning's step, then the EMA update and, every ``log_every`` steps, a log row."""
        super().optimizer_step(*args, **kwargs)
        n = int(self.global_step)  # steps done before this one
        decay = self.config.ema_decay
        if self.config.ema_warmup:
            decay = warmup_decay(decay, n)
        self.ema.update(self.model, decay=decay)
        if (n + 1) % self.config.log_every == 0 and self._acc:
            # the one host read of the metrics: every log_every steps (vlb: NaN when not learned)
            loss, mse, vlb = torch.stack(self._acc).mean(dim=0).tolist()
            self.log_rows.append({"step": n + 1, "loss": loss, "mse": mse, "vlb": vlb})
            self._acc = []

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Add the generator, sampler history, log rows and global RNG states (exact resume)."""
        checkpoint["eoforge"] = {
            "generator": self.gen.get_state(),
            "generator_device": self.gen.device.type,
            "tsampler": self.tsampler.state_dict(),
            "log_rows": list(self.log_rows),
            "acc": torch.stack(self._acc).tolist() if self._acc else [],
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Restore what :meth:`on_save_checkpoint` added (old EMA key names are upgraded)."""
        upgrade_state_dict(checkpoint.get("state_dict", {}))
        state = checkpoint["eoforge"]
        if state.get("generator_device", "cpu") == self.gen.device.type:
            self.gen.set_state(state["generator"])
        else:  # a run resumed on another device type: its own stream, seeded by the step
            step = int(checkpoint.get("global_step", 0))
            self.gen.manual_seed(self.config.seed + 1 + 1_000_003 * step)
        self.tsampler.load_state_dict(state["tsampler"])
        self.log_rows = list(state["log_rows"])
        dev = self.tsampler.device
        self._acc = [torch.as_tensor(r, dtype=torch.float64, device=dev) for r in state["acc"]]
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])

    @torch.no_grad()
    def sample_images(self, n: int, steps: int, seed: int) -> np.ndarray:
        """``n`` model-domain samples from the EMA weights with DPM-Solver++ (numpy)."""
        cfg = self.config.unet
        self.ema.eval()
        kwargs = {}
        if cfg.num_classes is not None:
            kwargs["class_labels"] = torch.arange(n, device=self.device) % cfg.num_classes
        x, _ = sample(  # (samples, NFE): the form typed as a tuple
            self.ema.module, self.schedule, (n, cfg.in_channels, cfg.image_size, cfg.image_size),
            sampler="dpm++", steps=steps, generator=torch.Generator().manual_seed(seed),
            variance=self.config.variance, prediction=self.config.prediction,
            model_kwargs=kwargs, device=self.device, clip_denoised=self.config.clip_denoised,
            return_nfe=True,
        )  # fmt: skip
        return x.float().cpu().numpy()


def fits_on_device(images: torch.Tensor, device: torch.device, share: float = 0.25) -> bool:
    """Whether ``images`` take at most ``share`` of the free memory of a CUDA ``device``."""
    if device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return images.numel() * images.element_size() <= share * free


def upgrade_state_dict(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Rename (in place) the EMA keys of checkpoints written before ``eoforge.nn.EMA`` was used.

    The EMA U-Net used to be the attribute ``ema`` itself (keys ``ema.<name>``); it is now
    ``ema.module`` (keys ``ema.module.<name>``). Lightning calls ``on_load_checkpoint`` before
    loading the state dict, so old ``last.ckpt`` files resume unchanged.
    """
    old = [k for k in state_dict if k.startswith("ema.") and not k.startswith("ema.module.")]
    for key in old:
        state_dict["ema.module." + key[len("ema.") :]] = state_dict.pop(key)
    return state_dict


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written to a temporary file and renamed (never half-written)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        """``torch.save`` to a temporary file beside ``path``, then rename it to ``path``."""
        with atomic_path(path) as tmp:
            torch.save(checkpoint, tmp)


class PeriodicCallback(pl.Callback):
    """After each optimiser step: progress, periodic checkpoint and sample grid."""

    def __init__(self, run: RunDir, progress: ProgressCallback | None) -> None:
        self.run = run
        self.progress = progress
        self._last = -1

    def on_train_batch_end(self, trainer: Any, module: Any, *args: Any) -> None:
        """Once per optimiser step: report progress, checkpoint and draw a grid when due."""
        step = int(trainer.global_step)
        if step == self._last:  # a micro-batch inside an accumulation group
            return
        self._last = step
        cfg: DiffusionConfig = module.config
        if self.progress is not None:
            self.progress(step, cfg.steps)
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
            trainer.save_checkpoint(self.run.checkpoints / LAST_CHECKPOINT)
        if cfg.sample_every and step % cfg.sample_every == 0:
            save_sample_grid(module, self.run, step)


def save_sample_grid(module: DiffusionModule, run: RunDir, step: int) -> Path:
    """Sample ``sample_n`` images with the EMA weights and save ``figures/samples_stepN.png``."""
    cfg = module.config
    was_training = module.ema.training
    imgs = module.sample_images(cfg.sample_n, cfg.sample_steps, seed=cfg.seed + 7)
    module.ema.train(was_training)
    return run.save_figure(grid_figure(imgs), f"samples_step{step:07d}")  # caption: the report
