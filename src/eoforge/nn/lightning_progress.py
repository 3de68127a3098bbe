"""A Lightning callback that reports progress to eoforge's ``progress(done, total)`` callbacks."""

from __future__ import annotations

from typing import Any, Literal

import lightning.pytorch as pl

from eoforge.core.progress import ProgressCallback


class LightningProgress(pl.Callback):
    """Call ``progress(done, total)`` after each optimiser step or each epoch (rank 0 only).

    Trainers use it instead of Lightning's own bar, so every command draws the same bar (and none
    in tests or logs, see :func:`eoforge.core.progress.progress_enabled`).

    Args:
        progress: The callback.
        total: Steps or epochs of the whole run.
        per: ``"step"`` or ``"epoch"``.
    """

    def __init__(
        self, progress: ProgressCallback, total: int, per: Literal["step", "epoch"] = "step"
    ) -> None:
        self.progress = progress
        self.total = total
        self.per = per

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        """Report the optimiser steps done (``per="step"``, global rank 0)."""
        if self.per == "step" and trainer.is_global_zero:
            self.progress(int(trainer.global_step), self.total)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """Report the epochs done (``per="epoch"``, global rank 0)."""
        if self.per == "epoch" and trainer.is_global_zero:
            self.progress(trainer.current_epoch + 1, self.total)
