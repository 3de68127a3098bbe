"""Encoder factory: build a ViT or ResNet backbone by name, with one input channel by default.

Every encoder maps ``(B, in_chans, H, W)`` images to ``(B, embed_dim)`` features (ViT: the
``[CLS]`` token; ResNet: global average pooling) and exposes ``.embed_dim``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from eoforge.core.errors import bad_value
from eoforge.nn.resnet import ResNet
from eoforge.nn.vit import VisionTransformer

#: Standard ViT widths (DeiT naming): name -> (embed_dim, depth, num_heads).
VIT_SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
}

#: ResNet variants: name -> (base_width, blocks per stage).
RESNETS: dict[str, tuple[int, tuple[int, ...]]] = {
    "resnet18": (64, (2, 2, 2, 2)),
    "resnet": (32, (2, 2, 2, 2)),
}

ENCODERS: tuple[str, ...] = (
    "vit-tiny/8", "vit-tiny/16", "vit-small/8", "vit-small/16", "vit-base/8", "vit-base/16",
    *RESNETS,
)  # fmt: skip


def build_encoder(
    name: str,
    in_chans: int = 1,
    img_size: int = 64,
    *,
    embed_dim: int | None = None,
    depth: int | None = None,
    num_heads: int | None = None,
    base_width: int | None = None,
) -> nn.Module:
    """Build an encoder by name.

    Args:
        name: One of :data:`ENCODERS`: ``"vit-{tiny,small,base}/{8,16}"`` (size/patch) or
            ``"resnet18"`` / ``"resnet"`` (ResNet-18 layout, base width 64 / 32).
        in_chans: Input channels.
        img_size: Nominal image size (ViT position embeddings; ignored by ResNets).
        embed_dim: Override the ViT width (small CPU models, tests).
        depth: Override the ViT depth.
        num_heads: Override the ViT head count.
        base_width: Override the ResNet base width.

    Returns:
        The encoder (``nn.Module`` with ``.embed_dim``).

    Raises:
        InputError: Unknown name or inconsistent overrides.
    """
    if in_chans < 1:
        raise bad_value("in_chans", in_chans, "a positive integer")
    if name in RESNETS:
        width, blocks = RESNETS[name]
        return ResNet(in_chans=in_chans, base_width=base_width or width, blocks=blocks)
    parts = name.split("/")
    size = parts[0].removeprefix("vit-") if parts[0].startswith("vit-") else None
    if len(parts) != 2 or size not in VIT_SIZES or parts[1] not in ("8", "16"):
        raise bad_value("encoder", name, f"one of {list(ENCODERS)}")
    dim, n_layers, heads = VIT_SIZES[size]
    if embed_dim is not None and num_heads is None:
        heads = max(1, embed_dim // 64)
    kwargs: dict[str, Any] = dict(
        img_size=img_size, patch_size=int(parts[1]), in_chans=in_chans,
        embed_dim=embed_dim or dim, depth=depth or n_layers, num_heads=num_heads or heads,
    )  # fmt: skip
    return VisionTransformer(**kwargs)


def embed_dim(encoder: nn.Module) -> int:
    """Feature width ``D`` of an encoder (its ``embed_dim`` attribute, module docstring).

    Raises:
        InputError: ``encoder`` has no integer ``embed_dim``.
    """
    width = getattr(encoder, "embed_dim", None)
    if isinstance(width, bool) or not isinstance(width, int):
        raise bad_value("encoder", type(encoder).__name__, "an encoder with an int .embed_dim")
    return width
