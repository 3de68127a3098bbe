"""The denoising network: a diffusers ``UNet2DModel`` built from a small, saved configuration.

The network of Tuel, Kerdreux et al. (arXiv 2308.16847) is the improved-diffusion U-Net (Nichol &
Dhariwal 2021): ResBlocks, self-attention at some resolutions, a sinusoidal time embedding, an
optional class embedding added to it, and twice the output channels when the reverse-process
variance is learned. :class:`UNetConfig` describes such a network and :func:`build_unet` builds
it with diffusers' ``UNet2DModel``; :class:`DiffusionUNet` wraps it so that

    model(x_t, t, class_labels=None) -> (B, C_out, H, W) tensor,

the callable interface the samplers (:func:`eoforge.diffusion.sample`) expect, with
``C_out = C`` (eps or v) or ``2C`` (prediction, then the raw learned-range variance values
``v in [-1, 1]`` of Nichol & Dhariwal, Eq. 15; see :mod:`eoforge.diffusion.training.losses`).
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from eoforge.core.errors import ConfigError, InputError, ShapeError


class UNetConfig(BaseModel):
    """Architecture of the denoising U-Net (frozen; saved inside the run configuration).

    Attributes:
        image_size: Side of the square images (must be divisible by ``2**(levels - 1)``).
        in_channels: Channels C of the images (1 for SAR intensity, 2 for cos/sin phase, ...).
        block_out_channels: Width of each resolution level (top to bottom).
        layers_per_block: ResBlocks per level (improved-diffusion's ``num_res_blocks``).
        attention_levels: Indices of the levels (0 = full resolution) that carry self-attention
            (improved-diffusion's ``attention_resolutions="16,8"`` is the levels at 16 and 8 px).
        attention_head_dim: Channels per attention head.
        norm_num_groups: GroupNorm groups (must divide every width).
        dropout: Dropout in the ResBlocks (0.1 in the paper's examples).
        num_classes: Number of classes for class conditioning (``None``: unconditional).
        learned_variance: Double the output channels for the learned-range variance.
        scale_shift: Use FiLM-like scale-shift norm of the time embedding (improved-diffusion's
            ``use_scale_shift_norm=True``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    image_size: int = 32
    in_channels: int = 1
    block_out_channels: tuple[int, ...] = (32, 64, 64)
    layers_per_block: int = 1
    attention_levels: tuple[int, ...] = (1,)
    attention_head_dim: int = 8
    norm_num_groups: int = 8
    dropout: float = 0.0
    num_classes: int | None = None
    learned_variance: bool = False
    scale_shift: bool = True

    @model_validator(mode="after")
    def _check(self) -> UNetConfig:
        levels = len(self.block_out_channels)
        if levels < 1 or any(w < 1 for w in self.block_out_channels):
            raise ConfigError(
                f"block_out_channels={self.block_out_channels} must hold at least one positive width."
            )
        bad = [w for w in self.block_out_channels if w % self.norm_num_groups]
        if bad:
            raise ConfigError(
                f"norm_num_groups={self.norm_num_groups} must divide every width in "
                f"block_out_channels={self.block_out_channels} (not {bad}); use e.g. 8."
            )
        if self.image_size < 1 or self.image_size % 2 ** (levels - 1):
            raise ConfigError(
                f"image_size={self.image_size} must be positive and divisible by 2**(levels-1)="
                f"{2 ** (levels - 1)} for block_out_channels={self.block_out_channels}."
            )
        if any(not 0 <= lv < levels for lv in self.attention_levels):
            raise ConfigError(
                f"attention_levels={self.attention_levels} must be level indices in [0, {levels})."
            )
        if self.in_channels < 1 or self.layers_per_block < 1 or self.attention_head_dim < 1:
            raise ConfigError("in_channels, layers_per_block and attention_head_dim must be >= 1.")
        if self.num_classes is not None and self.num_classes < 1:
            raise ConfigError(f"num_classes={self.num_classes} must be None or >= 1.")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout={self.dropout} must lie in [0, 1).")
        return self

    @property
    def out_channels(self) -> int:
        """``2C`` with a learned variance, else ``C``."""
        return self.in_channels * (2 if self.learned_variance else 1)


def build_unet(config: UNetConfig) -> Any:
    """A diffusers ``UNet2DModel`` for ``config`` (weights from torch's global RNG: seed it).

    Level ``i`` uses ``AttnDownBlock2D``/``AttnUpBlock2D`` when ``i in attention_levels``, else
    the plain ResBlock versions; the up path mirrors the down path.
    """
    from diffusers import UNet2DModel

    levels = len(config.block_out_channels)
    attn = set(config.attention_levels)
    down = tuple("AttnDownBlock2D" if i in attn else "DownBlock2D" for i in range(levels))
    up = tuple("AttnUpBlock2D" if i in attn else "UpBlock2D" for i in reversed(range(levels)))
    return UNet2DModel(
        sample_size=config.image_size,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        down_block_types=down,
        up_block_types=up,
        block_out_channels=config.block_out_channels,
        layers_per_block=config.layers_per_block,
        attention_head_dim=config.attention_head_dim,
        norm_num_groups=config.norm_num_groups,
        dropout=config.dropout,
        num_class_embeds=config.num_classes,
        resnet_time_scale_shift="scale_shift" if config.scale_shift else "default",
    )


class DiffusionUNet(torch.nn.Module):
    """``model(x_t, t, class_labels=None)`` around a ``UNet2DModel``; returns the raw output.

    Args:
        config: The architecture.
    """

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        self.unet = build_unet(config)

    def forward(
        self, x_t: torch.Tensor, t: torch.Tensor, class_labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict eps (or v) and, with a learned variance, the variance values.

        Args:
            x_t: Noisy images (B, C, H, W).
            t: Trained timestep indices (B,) in [0, T).
            class_labels: Class indices (B,) in [0, num_classes), required iff conditional.

        Returns:
            (B, C_out, H, W) with ``C_out = 2C`` when the variance is learned.
        """
        cfg = self.config
        if x_t.ndim != 4 or x_t.shape[1] != cfg.in_channels:
            raise ShapeError(
                f"x_t has shape {tuple(x_t.shape)}: expected (B, {cfg.in_channels}, H, W)."
            )
        if cfg.num_classes is None and class_labels is not None:
            raise InputError(
                "class_labels were given but the model is unconditional (num_classes=None)."
            )
        if cfg.num_classes is not None:
            if class_labels is None:
                raise InputError(
                    f"this model is class-conditional (num_classes={cfg.num_classes}): pass "
                    "class_labels, one index per image."
                )
            class_labels = torch.as_tensor(class_labels, device=x_t.device).long().reshape(-1)
            if class_labels.shape[0] != x_t.shape[0]:
                raise ShapeError(
                    f"class_labels has {class_labels.shape[0]} entries for a batch of "
                    f"{x_t.shape[0]} images."
                )
        try:  # the embedding refuses a bad class on the CPU (a device assert on a GPU)
            return self.unet(x_t, t, class_labels=class_labels).sample  # (B, C_out, H, W)
        except IndexError:
            n_classes = cfg.num_classes
            if (
                class_labels is not None
                and n_classes is not None
                and (int(class_labels.min()) < 0 or int(class_labels.max()) >= n_classes)
            ):
                raise InputError(
                    f"class_labels must lie in [0, {cfg.num_classes}); got "
                    f"[{int(class_labels.min())}, {int(class_labels.max())}]."
                ) from None
            raise


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
