r"""Small ResNet encoder (ResNet-18 layout) in plain torch, for single-channel images.

He et al. (2016): residual units :math:`y = \mathrm{ReLU}(x + F(x))` with
:math:`F = \mathrm{BN} \circ \mathrm{conv}_{3\times3} \circ \mathrm{ReLU} \circ \mathrm{BN}
\circ \mathrm{conv}_{3\times3}` (basic blocks), four stages of ``blocks`` units whose width
doubles and resolution halves, then global average pooling: the encoder output is
:math:`y = \frac{1}{HW}\sum_{h,w} f_{h,w}` of the last stage. The stem is a stride-1 3x3
convolution (CIFAR style) because SAR imagettes here are small (32-128 px); the last stage has
``8 * base_width`` channels (512 for the ResNet-18 default ``base_width=64``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from eoforge.core.errors import ShapeError, bad_value


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm and an identity (or 1x1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, H, W) -> (B, C_out, H / stride, W / stride), residual added, ReLU."""
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """ResNet encoder returning globally pooled features.

    Args:
        in_chans: Input channels.
        base_width: Width of the first stage (doubles at each stage).
        blocks: Basic blocks per stage (``(2, 2, 2, 2)`` is ResNet-18).

    Attributes:
        embed_dim: Output feature size (``8 * base_width`` for four stages).
    """

    def __init__(
        self, in_chans: int = 1, base_width: int = 64, blocks: Sequence[int] = (2, 2, 2, 2)
    ) -> None:
        super().__init__()
        if base_width < 1 or not blocks or min(blocks) < 1:
            raise bad_value("blocks/base_width", (blocks, base_width), "positive integers")
        self.in_chans = in_chans
        self.stem = nn.Sequential(
            nn.Conv2d(in_chans, base_width, 3, 1, 1, bias=False),
            nn.BatchNorm2d(base_width),
            nn.ReLU(inplace=True),
        )
        stages = []
        c_in = base_width
        for i, n in enumerate(blocks):
            c_out = base_width * 2**i
            units = [BasicBlock(c_in, c_out, 1 if i == 0 else 2)]
            units += [BasicBlock(c_out, c_out, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            c_in = c_out
        self.stages = nn.Sequential(*stages)
        self.embed_dim = c_in
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features: (B, C, H, W) -> (B, embed_dim)."""
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise ShapeError(
                f"ResNet expects (batch, {self.in_chans}, H, W) images, got {tuple(x.shape)}."
            )
        f = self.stages(self.stem(x))  # (B, embed_dim, H / 2^(stages-1), W / 2^(stages-1))
        return f.mean(dim=(2, 3))
