"""Lightning pieces of DINO pre-training: the student/teacher module and the curated data module.

:class:`DINOModule` holds the student (backbone + :class:`~eoforge.ssl.dino.DINOHead`) and the
teacher, an :class:`~eoforge.nn.ema.EMA` of the student updated after every optimiser step with
the cosine momentum schedule. Each step draws the multi-crop views on the batch's device with a
generator seeded by ``(seed, global step, rank)``, so a resumed run repeats exactly the views of an
uninterrupted one. Collapse indicators (teacher entropy, KL of the mean teacher distribution to
uniform, embedding std) are logged every epoch.

:class:`CuratedDataModule` asks a :class:`~eoforge.curation.dynamic.DynamicCurator` for the
indices of every epoch (Lightning rebuilds the loader each epoch), giving it an ``embed`` function
that embeds with the teacher backbone in eval mode (sharded over DDP ranks and gathered); the
curator's state is saved in the checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from eoforge.core.errors import bad_value
from eoforge.core.seeding import torch_generator
from eoforge.nn.ema import EMA
from eoforge.nn.encoders import embed_dim
from eoforge.nn.frozen import eval_view
from eoforge.ssl.augment import MultiCropAugment
from eoforge.ssl.dino import (
    DINOHead,
    DINOLoss,
    collapse_stats,
    cosine_schedule,
    teacher_momentum,
    teacher_temperature,
)
from eoforge.ssl.sampler import CuratedSampler


class DINOModel(nn.Module):
    """Backbone + projection head; views of equal size are batched together."""

    def __init__(self, backbone: nn.Module, head: DINOHead) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, views: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Views [(B, C, s_v, s_v)] -> (logits (V*B, K), backbone features (V*B, D))."""
        feats, start = [], 0
        while start < len(views):
            end = start
            while end < len(views) and views[end].shape[-1] == views[start].shape[-1]:
                end += 1
            feats.append(self.backbone(torch.cat(views[start:end])))  # (n*B, D)
            start = end
        f = torch.cat(feats)
        return self.head(f), f


class DINOModule(pl.LightningModule):
    """DINO student/teacher training (hyper-parameters from an ``SSLConfig``).

    Args:
        backbone: Encoder with ``.embed_dim`` (the student's; the teacher is its EMA copy).
        config: ``eoforge.ssl.pretrain.SSLConfig`` (any object with its fields).
        db_scale: ``sigma_dB`` of the data normaliser (dB per normalised unit, for augmentations).
    """

    def __init__(self, backbone: nn.Module, config: Any, db_scale: float = 1.0) -> None:
        super().__init__()
        c = config
        self.cfg = c
        head = DINOHead(embed_dim(backbone), c.out_dim, c.head_hidden_dim, c.head_bottleneck_dim,
                        norm_last_layer=c.norm_last_layer)  # fmt: skip
        self.student = DINOModel(backbone, head)
        self.teacher = EMA(self.student, decay=c.momentum_teacher)
        self.loss_fn = DINOLoss(c.out_dim, c.student_temp, c.center_momentum)
        self.augment = MultiCropAugment(
            n_global=2, n_local=c.n_local_crops, global_size=c.global_size,
            local_size=c.local_size, global_scale=tuple(c.global_scale),
            local_scale=tuple(c.local_scale), flip=c.flip, rot90=c.rot90, gain_db=c.gain_db,
            speckle_prob=c.speckle_prob, blur_prob=c.blur_prob, db_scale=db_scale,
        )  # fmt: skip

    # -- schedules ---------------------------------------------------------------------------
    def _epoch_position(self, batch_idx: int) -> float:
        """Fractional epoch (schedules run on epochs so curated and full runs share them)."""
        n = self.trainer.num_training_batches
        n = n if isinstance(n, int) and n > 0 else 1
        return self.current_epoch + batch_idx / n

    def schedules(self, epoch_pos: float) -> dict[str, float]:
        """lr, weight decay, teacher momentum and temperature at fractional epoch ``epoch_pos``."""
        c = self.cfg
        scale = 1000  # schedules on a fine grid of the epoch axis
        k, total, warm = int(epoch_pos * scale), c.epochs * scale, c.warmup_epochs * scale
        base_lr = c.lr * c.batch_size * self.trainer.world_size / 256
        return {
            "lr": cosine_schedule(k, total, base_lr, c.min_lr, warmup_steps=warm),
            "wd": cosine_schedule(k, total, c.weight_decay, c.weight_decay_end),
            "momentum": teacher_momentum(k, total, c.momentum_teacher, 1.0),
            "teacher_temp": teacher_temperature(
                epoch_pos, c.warmup_teacher_temp, c.teacher_temp, c.warmup_teacher_temp_epochs
            ),
        }

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """AdamW over the student; weight decay only on weights of two or more dimensions."""
        decay: list[nn.Parameter] = []
        no_decay: list[nn.Parameter] = []
        for name, p in self.student.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or name.endswith("bias") else decay).append(p)
        groups = [{"params": decay, "apply_wd": True}, {"params": no_decay, "apply_wd": False}]
        return torch.optim.AdamW(groups, lr=self.cfg.lr, weight_decay=0.0)

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        """Set this step's learning rate and weight decay from :meth:`schedules`."""
        s = self.schedules(self._epoch_position(batch_idx))
        for group in self.trainer.optimizers[0].param_groups:
            group["lr"] = s["lr"]
            group["weight_decay"] = s["wd"] if group.get("apply_wd") else 0.0
        self._sched = s

    # -- step --------------------------------------------------------------------------------
    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        """DINO loss of the student's views against the teacher's global views; logs collapse."""
        x = batch["image"]  # (B, 1, H, W) standardised dB
        seed = (self.cfg.seed * 1_000_003 + self.global_step) * 64 + self.global_rank
        views = self.augment(x, torch_generator(seed, x.device))  # G globals then locals
        G, tau_t = self.augment.n_global, self._sched["teacher_temp"]
        with torch.no_grad():
            t_out, t_feat = self.teacher.module(views[:G])  # (G*B, K), (G*B, D)
        s_out, _ = self.student(views)  # (V*B, K)
        center = self.loss_fn.center.clone()
        loss = self.loss_fn(s_out, t_out, G, tau_t)
        stats = collapse_stats(t_out, center, tau_t, t_feat[: x.shape[0]])
        self._log_epoch("loss", loss, x.shape[0], prog_bar=True)
        for k, v in stats.items():
            self._log_epoch(k, v, x.shape[0])
        for k in ("lr", "momentum", "teacher_temp"):
            self._log_epoch(k, self._sched[k], x.shape[0])
        return loss

    def _log_epoch(
        self, name: str, value: torch.Tensor | float, batch_size: int, prog_bar: bool = False
    ) -> None:
        """Log the epoch mean of ``value``, averaged over the DDP ranks."""
        self.log(name, value, prog_bar=prog_bar, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=batch_size)  # fmt: skip

    def on_after_backward(self) -> None:
        """Drop the head's last-layer gradients during the first ``freeze_last_layer_epochs``."""
        if self.current_epoch < self.cfg.freeze_last_layer_epochs:
            for p in self.student.head.last_layer_params:
                p.grad = None

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        """EMA update of the teacher with this step's momentum."""
        self.teacher.update(self.student, decay=self._sched["momentum"])

    # -- embedding ---------------------------------------------------------------------------
    @torch.no_grad()
    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher backbone features of the evaluation view: (B, 1, H, W) -> (B, D) float32."""
        v = eval_view(x.to(self.device), self.cfg.global_size)
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            return self.teacher.module.backbone(v).float()


def embed_indices(
    module: DINOModule, dataset: Dataset, indices: np.ndarray, batch_size: int
) -> np.ndarray:
    """Teacher embeddings of ``dataset[indices]`` (n, D); DDP ranks share the work and gather."""
    ready = dist.is_available() and dist.is_initialized()
    world, rank = (dist.get_world_size(), dist.get_rank()) if ready else (1, 0)
    mine = np.asarray(indices)[rank::world]
    per_rank = -(-len(indices) // world)
    out = []
    for start in range(0, len(mine), batch_size):
        chunk = mine[start : start + batch_size]
        x = torch.stack([dataset[int(i)]["image"] for i in chunk])  # (b, 1, H, W)
        out.append(module.embed_images(x))
    D = embed_dim(module.teacher.module.backbone)
    local = torch.cat(out) if out else torch.zeros(0, D, device=module.device)
    if not ready:
        return local.cpu().numpy()
    pad = torch.zeros(per_rank, D, device=local.device)
    pad[: local.shape[0]] = local
    gathered = [torch.zeros_like(pad) for _ in range(world)]
    dist.all_gather(gathered, pad)
    result = np.zeros((len(indices), D), dtype=np.float32)
    for r in range(world):
        n_r = len(range(r, len(indices), world))
        result[r::world] = gathered[r][:n_r].cpu().numpy()
    return result


class CuratedDataModule(pl.LightningDataModule):
    """Training loader over the curator's indices of the current epoch.

    Args:
        dataset: Map-style dataset returning dicts with ``"image"`` (1, H, W).
        curator: A ``DynamicCurator`` (any object with ``indices_for_epoch``/``needs_embeddings``,
            ``save_selection``, ``state_dict``/``load_state_dict``).
        batch_size: Per-device batch size.
        seed: Shuffling seed.
        num_workers: DataLoader workers.
        selections_dir: Folder for ``epoch_XXXX.npz`` selections (rank 0 writes them).
        embed_batch_size: Batch size of the curation embedding pass.
    """

    def __init__(
        self,
        dataset: Dataset,
        curator: Any,
        batch_size: int,
        seed: int = 0,
        num_workers: int = 0,
        selections_dir: str | Path | None = None,
        embed_batch_size: int = 256,
    ) -> None:
        super().__init__()
        self.dataset = dataset
        self.curator = curator
        self.batch_size = batch_size
        self.seed = seed
        self.num_workers = num_workers
        self.selections_dir = selections_dir
        self.embed_batch_size = embed_batch_size
        self.embed_seconds = 0.0

    @property
    def fit_trainer(self) -> pl.Trainer:
        """The trainer this data module is attached to (Lightning sets it in ``fit``)."""
        if self.trainer is None:
            raise RuntimeError("the data module is used outside Trainer.fit (no trainer attached)")
        return self.trainer

    def _embed(self, indices: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        module = self.fit_trainer.lightning_module
        if not isinstance(module, DINOModule):
            raise TypeError(f"curated embedding needs a DINOModule, not {type(module).__name__}")
        out = embed_indices(module, self.dataset, indices, self.embed_batch_size)
        self.embed_seconds += time.perf_counter() - t0
        return out

    def epoch_indices(self, epoch: int) -> np.ndarray:
        """The curator's indices for ``epoch`` (saving a new selection), checked against the batch."""
        embed: Callable | None = self._embed if self.curator.needs_embeddings(epoch) else None
        n_before = len(self.curator.history)
        indices = self.curator.indices_for_epoch(epoch, embed)
        new = len(self.curator.history) > n_before
        if new and self.selections_dir is not None and self.fit_trainer.is_global_zero:
            Path(self.selections_dir).mkdir(parents=True, exist_ok=True)
            self.curator.save_selection(Path(self.selections_dir) / f"epoch_{epoch:04d}.npz", epoch)
        world = self.fit_trainer.world_size
        if len(indices) < self.batch_size * world:
            raise bad_value(
                "batch_size", self.batch_size,
                f"at most {len(indices) // world} (the epoch's {len(indices)} selected images "
                f"over {world} device(s))", "Lower --batch-size or raise the curation ratio.",
            )  # fmt: skip
        return indices

    def train_dataloader(self) -> DataLoader:
        """A loader over this epoch's curated indices, sharded over the DDP ranks."""
        epoch = self.fit_trainer.current_epoch
        indices = self.epoch_indices(epoch)
        sampler = CuratedSampler(indices, shuffle=True, seed=self.seed)
        sampler.set_epoch(epoch)
        return DataLoader(self.dataset, batch_size=self.batch_size, sampler=sampler,
                          num_workers=self.num_workers, drop_last=True,
                          persistent_workers=False)  # fmt: skip

    def state_dict(self) -> dict[str, Any]:
        """Curator state with arrays as tensors (loadable by ``torch.load(weights_only=True)``)."""
        return {"curator": _to_torch(self.curator.state_dict())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the curator from :meth:`state_dict` (a checkpoint without one is ignored)."""
        if "curator" in state_dict:
            self.curator.load_state_dict(_to_numpy(state_dict["curator"]))


def _to_torch(obj: Any) -> Any:
    """Nested containers with numpy arrays/scalars turned into tensors / Python scalars."""
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_torch(v) for v in obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _to_numpy(obj: Any) -> Any:
    """Inverse of :func:`_to_torch` for the arrays."""
    if isinstance(obj, dict):
        return {k: _to_numpy(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_numpy(v) for v in obj)
    if isinstance(obj, torch.Tensor):
        return obj.numpy()
    return obj
