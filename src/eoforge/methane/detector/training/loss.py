"""The detector's training loss: mask BCE + Dice and a weighted Huber loss on the column.

Orbio's two-head formulation with the Dice term of Milletari et al. 2016, with p the predicted
probability, y the plume mask, v the valid mask, dOmega the true and hat-dOmega the predicted
column (mol/m2):

    L = BCE(p, y; pos_weight) + lambda_dice (1 - (2 sum p y + 1) / (sum p + sum y + 1))
        + lambda_col * sum_i v_i w_i Huber_delta(hat-dOmega_i - dOmega_i) / sum_i v_i w_i,
    w_i = 1 on plume pixels and ``off_plume_weight`` elsewhere,

the BCE averaged over the valid pixels. The sums run in float32 under bf16 autocast.
"""

from __future__ import annotations

from typing import TypedDict, final

import torch
from torch.nn import functional as F

from eoforge.methane.detector.training.config import DetectorConfig


@final  # no other keys: `"bands" in batch` tells a RawBatch from it
class TrainBatch(TypedDict):
    """A training batch on the device: inputs and the targets of the loss, float32."""

    x: torch.Tensor  # (B, C, P, P) detector inputs
    mask: torch.Tensor  # (B, P, P) plume label y
    column: torch.Tensor  # (B, P, P) true dOmega (mol/m2)
    valid: torch.Tensor  # (B, P, P) valid mask v


def detector_loss(
    logits: torch.Tensor,
    column: torch.Tensor,
    batch: TrainBatch,
    cfg: DetectorConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The loss of the module docstring.

    Args:
        logits: Predicted plume logits (B, H, W).
        column: Predicted column (B, H, W) in mol/m2.
        batch: The batch (its ``mask``, ``valid`` and true ``column`` are used).
        cfg: The weights and the Huber delta of the training configuration.

    Returns:
        (loss, parts): the scalar loss and its detached ``bce``, ``dice`` and ``col`` terms.
    """
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
