r"""Vision Transformer (ViT) encoder in plain torch, for single- or multi-channel images.

Dosovitskiy et al. (2021): the image is cut into ``p x p`` patches, each linearly embedded; a
learned ``[CLS]`` token and position embeddings are added and the sequence goes through ``L``
pre-norm transformer blocks

.. math::

    z'_\ell = z_{\ell-1} + \mathrm{MSA}(\mathrm{LN}(z_{\ell-1})), \qquad
    z_\ell = z'_\ell + \mathrm{MLP}(\mathrm{LN}(z'_\ell)),

and the encoder output is :math:`y = \mathrm{LN}(z_L^0)` (the ``[CLS]`` token). Position embeddings
are interpolated (bicubic) when the input size differs from ``img_size``, so the same network
embeds DINO's global and local crops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from eoforge.core.errors import ShapeError, bad_value


class Attention(nn.Module):
    r"""Multi-head self-attention, :math:`\mathrm{softmax}(QK^T/\sqrt{d_h})V` per head."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise bad_value("num_heads", num_heads, f"a divisor of embed_dim={dim}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Multi-head self-attention over the tokens: (B, N, C) -> (B, N, C)."""
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, N, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, C/heads)
        return self.proj(out.transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    """Pre-norm transformer block: attention and a GELU MLP, each with a residual connection."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pre-norm block ``x + attn(norm(x))``, then ``+ mlp(norm(.))``: (B, N, C) -> (B, N, C)."""
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT encoder returning the ``[CLS]`` embedding.

    Args:
        img_size: Nominal input size (position embeddings are learned for it).
        patch_size: Patch side ``p`` (the input side must be a multiple of it).
        in_chans: Input channels (1 for single-polarisation SAR).
        embed_dim: Token width ``D``.
        depth: Number of blocks ``L``.
        num_heads: Attention heads.
        mlp_ratio: MLP hidden width as a multiple of ``D``.

    Attributes:
        embed_dim: Output feature size (``D``).
    """

    def __init__(
        self,
        img_size: int = 64,
        patch_size: int = 8,
        in_chans: int = 1,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        if img_size % patch_size:
            raise bad_value(
                "img_size", img_size, f"a multiple of patch_size={patch_size}",
                "Pick an image size divisible by the patch size.",
            )  # fmt: skip
        self.patch_size = patch_size
        self.in_chans = in_chans
        self.embed_dim = embed_dim
        self.grid = img_size // patch_size
        self.patch_embed = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + self.grid**2, embed_dim))
        self.blocks = nn.ModuleList([Block(embed_dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.apply(_init_weights)

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        """Position embeddings for a ``gh x gw`` patch grid (bicubic interpolation if needed)."""
        if (gh, gw) == (self.grid, self.grid):
            return self.pos_embed
        cls_pos, patch_pos = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        D = patch_pos.shape[-1]
        patch_pos = patch_pos.reshape(1, self.grid, self.grid, D).permute(0, 3, 1, 2)
        patch_pos = F.interpolate(patch_pos, size=(gh, gw), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, patch_pos.permute(0, 2, 3, 1).reshape(1, gh * gw, D)], dim=1)

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All output tokens after the final norm: (B, C, H, W) -> (B, 1 + H/p * W/p, D)."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ShapeError(
                f"ViT expects (batch, {self.in_chans}, H, W) images, got shape {tuple(x.shape)}."
            )
        if x.shape[-1] % self.patch_size or x.shape[-2] % self.patch_size:
            raise ShapeError(
                f"image size {tuple(x.shape[-2:])} is not a multiple of patch size "
                f"{self.patch_size}; crop or resize the input."
            )
        t = self.patch_embed(x)  # (B, D, H/p, W/p)
        gh, gw = t.shape[-2:]
        t = t.flatten(2).transpose(1, 2)  # (B, N, D)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1)  # (B, 1+N, D)
        t = t + self._pos_embed(gh, gw)
        for blk in self.blocks:
            t = blk(t)
        return self.norm(t)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[CLS]`` embedding: (B, C, H, W) -> (B, D)."""
        return self.forward_tokens(x)[:, 0]


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Conv2d):
        nn.init.trunc_normal_(
            m.weight, std=math.sqrt(2.0 / (m.in_channels * m.kernel_size[0] ** 2))
        )
        if m.bias is not None:
            nn.init.zeros_(m.bias)
