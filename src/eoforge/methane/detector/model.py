"""Plume segmentation network: a small U-Net in plain torch with two heads.

Architecture (U-Net, Ronneberger et al. 2015; two heads as in Orbio's Project Eucalyptus and the
"probability + column" reconstruction of Rouet-Leduc, Kerdreux et al., arXiv 2308.11003):

    x (B, C, H, W) -> [ConvBlock w_0] -> down -> [ConvBlock w_1] -> ... -> [ConvBlock w_L]
                   -> up + skip -> [ConvBlock w_{L-1}] -> ... -> [ConvBlock w_0]
    logits  = Conv1x1(features) + S_0(x)   (B, 1, H, W)   plume probability p = sigmoid(logits)
    column  = Conv1x1(features) + S_1(x)   (B, 1, H, W)   column enhancement dOmega in mol/m2

S is a linear 1x1 shortcut from the inputs to both heads. With ``prior_channel`` set (the
smoothed MBMP column channel of :mod:`.features`), it starts as the classical retrieval:
column = dOmega_MBMP and logits = k (dOmega_MBMP - dOmega_0) (k = 10 per mol/m2, dOmega_0 =
0.45 mol/m2), so training starts from the MBMP baseline and learns the corrections (confounders,
clouds, plume shape) instead of rediscovering the retrieval.

Two architectures share the decoder, the heads and the shortcut (``UNetSpec.architecture``):

- ``"unet"`` (the default, small enough to train on a laptop CPU): encoder level i is one
  ConvBlock(w_{i-1} -> w_i).
- ``"resunet"`` (the larger detector for GPU training): a residual conv encoder with a U-Net
  decoder. Encoder level i is a stem (3x3 conv w_{i-1} -> w_i, LayerNorm, SiLU) followed by
  ``blocks[i]`` residual blocks h <- h + Conv(SiLU(LN(Conv(SiLU(LN(h)))))), whose last conv starts
  at zero so that each block starts as the identity (the deep encoder trains like a shallow one at
  first). With widths (32, 64, 128, 256, 256) and blocks (1, 1, 2, 2, 2) it has 9.2 M
  parameters (v11: 67 k) and costs 25 GFLOP per 128 px sample forward + backward (v11: 1.4). A ViT encoder was not chosen: global attention would break the locality that makes
  tiled inference equal whole-image inference.

Each ConvBlock is two (3x3 conv -> channel LayerNorm -> SiLU). The normalisation is a per-pixel
LayerNorm over channels (y = (x - mean_c x) / sqrt(var_c x + eps) * gamma + beta), not GroupNorm
or BatchNorm: it uses no statistics over space or batch, so the network is a purely local,
translation-equivariant operator and a tiled prediction equals the whole-image prediction away
from the tile borders (see :mod:`.infer`). H and W must be multiples of 2^(levels - 1); the
inference code pads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from eoforge.core.errors import ShapeError, bad_value


@dataclass(frozen=True)
class UNetSpec:
    """Hyper-parameters of :class:`PlumeUNet` (saved with the weights).

    Attributes:
        in_channels: Input channels C (from :mod:`.features`).
        widths: Channels per level, finest first (e.g. (16, 32, 64): three levels).
        prior_channel: Input channel of the smoothed MBMP column the shortcut starts from.
        architecture: ``"unet"`` or ``"resunet"`` (module docstring).
        blocks: Residual blocks per encoder level (``"resunet"`` only); empty: one per level.
    """

    in_channels: int = 12
    widths: tuple[int, ...] = (16, 32, 64)
    prior_channel: int | None = None
    architecture: str = "unet"
    blocks: tuple[int, ...] = ()

    def level_blocks(self) -> tuple[int, ...]:
        """Residual blocks of each encoder level (zeros for ``"unet"``)."""
        if self.architecture == "unet":
            return (0,) * len(self.widths)
        return self.blocks or (1,) * len(self.widths)

    def to_dict(self) -> dict:
        """JSON-safe dict."""
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["blocks"] = list(self.blocks)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> UNetSpec:
        """Inverse of :meth:`to_dict`; specs saved before ``architecture`` existed are U-Nets."""
        prior = d.get("prior_channel")
        return cls(
            in_channels=int(d["in_channels"]),
            widths=tuple(int(w) for w in d["widths"]),
            prior_channel=None if prior is None else int(prior),
            architecture=str(d.get("architecture", "unet")),
            blocks=tuple(int(b) for b in d.get("blocks", ())),
        )


ARCHITECTURES = ("unet", "resunet")


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis of a (B, C, H, W) tensor, independently per pixel."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The normalised (B, C, H, W) tensor."""
        # x: (B, C, H, W) -> (B, H, W, C) for the fused layer_norm kernel, and back.
        y = F.layer_norm(x.permute(0, 2, 3, 1), (x.shape[1],), self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


class ConvBlock(nn.Sequential):
    """Two (3x3 conv, channel LayerNorm, SiLU) layers."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            ChannelLayerNorm(c_out),
            nn.SiLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            ChannelLayerNorm(c_out),
            nn.SiLU(),
        )


class ResBlock(nn.Module):
    """h + Conv(SiLU(LN(Conv(SiLU(LN(h)))))), the last conv zero-initialised (identity at start)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        first = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        last = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        nn.init.zeros_(last.weight)
        self.body = nn.Sequential(
            ChannelLayerNorm(channels),
            nn.SiLU(),
            first,
            ChannelLayerNorm(channels),
            nn.SiLU(),
            last,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The residual sum h + body(h), (B, C, H, W)."""
        return x + self.body(x)  # (B, C, H, W)


class ResLevel(nn.Sequential):
    """A ``resunet`` encoder level: stem (3x3 conv, LayerNorm, SiLU) then ``n`` ResBlocks.

    The stem convolution is element 0, as in :class:`ConvBlock`, so that the first layer that
    sees the inputs is ``down.0.0`` in both architectures.
    """

    def __init__(self, c_in: int, c_out: int, n: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            ChannelLayerNorm(c_out),
            nn.SiLU(),
            *[ResBlock(c_out) for _ in range(n)],
        )


def check_widths(widths: tuple[int, ...]) -> tuple[int, ...]:
    """Return ``widths`` if they make a network (>= 2 levels of >= 4 channels), else raise."""
    if len(widths) < 2 or any(w < 4 for w in widths):
        raise bad_value("widths", widths, "at least two levels of >= 4 channels each")
    return widths


def check_spec(spec: UNetSpec) -> None:
    """Raise :class:`InputError` (a ValueError) naming the first invalid field of ``spec``."""
    if spec.in_channels < 1:
        raise bad_value("in_channels", spec.in_channels, "a positive channel count")
    check_widths(spec.widths)
    if spec.architecture not in ARCHITECTURES:
        raise bad_value("architecture", spec.architecture, " or ".join(ARCHITECTURES))
    if spec.blocks and spec.architecture != "resunet":
        raise bad_value("blocks", spec.blocks, "() for architecture unet",
                        "Residual blocks apply to architecture resunet.")  # fmt: skip
    if spec.blocks and (len(spec.blocks) != len(spec.widths) or min(spec.blocks) < 0):
        raise bad_value("blocks", spec.blocks, f"{len(spec.widths)} counts >= 0, one per width")


def _encoder(spec: UNetSpec) -> nn.ModuleList:
    c_in = (spec.in_channels, *spec.widths[:-1])
    if spec.architecture == "unet":
        return nn.ModuleList([ConvBlock(c, w) for c, w in zip(c_in, spec.widths, strict=True)])
    levels = zip(c_in, spec.widths, spec.level_blocks(), strict=True)
    return nn.ModuleList([ResLevel(c, w, n) for c, w, n in levels])


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The bias of a convolution made with one (torch types ``Conv2d.bias`` as optional)."""
    if conv.bias is None:
        raise ValueError("the convolution has no bias: build it with bias=True.")
    return conv.bias


class PlumeUNet(nn.Module):
    """U-Net with a plume-logit head and a column head (module docstring).

    Args:
        spec: Architecture; ``UNetSpec()`` by default.
    """

    def __init__(self, spec: UNetSpec | None = None) -> None:
        super().__init__()
        spec = UNetSpec() if spec is None else spec
        check_spec(spec)
        self.spec = spec
        w = spec.widths
        self.down = _encoder(spec)
        self.up = nn.ModuleList(
            [nn.ConvTranspose2d(w[i], w[i - 1], 2, stride=2) for i in range(len(w) - 1, 0, -1)]
        )
        self.dec = nn.ModuleList(
            [ConvBlock(2 * w[i - 1], w[i - 1]) for i in range(len(w) - 1, 0, -1)]
        )
        self.head_logit = nn.Conv2d(w[0], 1, 1)
        self.head_column = nn.Conv2d(w[0], 1, 1)
        self.shortcut = nn.Conv2d(spec.in_channels, 2, 1)
        nn.init.zeros_(self.shortcut.weight)
        nn.init.zeros_(_bias(self.shortcut))
        # Start from a low plume prior (p ~ 1 %), which stabilises the first steps of training.
        nn.init.constant_(_bias(self.head_logit), -4.6)
        if spec.prior_channel is not None:
            if not 0 <= spec.prior_channel < spec.in_channels:
                raise bad_value("prior_channel", spec.prior_channel, "an input channel index")
            with torch.no_grad():
                self.shortcut.weight[0, spec.prior_channel] = 10.0
                _bias(self.shortcut)[0] = -4.5
                self.shortcut.weight[1, spec.prior_channel] = 1.0
                _bias(self.head_logit).zero_()

    @property
    def multiple(self) -> int:
        """H and W must be multiples of this (2^(levels - 1))."""
        return 2 ** (len(self.spec.widths) - 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits, column), each (B, H, W), for inputs x of shape (B, C, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.spec.in_channels:
            raise ShapeError(
                f"input has shape {tuple(x.shape)}; expected (B, {self.spec.in_channels}, H, W)."
            )
        if x.shape[-2] % self.multiple or x.shape[-1] % self.multiple:
            raise ShapeError(
                f"H, W = {tuple(x.shape[-2:])} must be multiples of {self.multiple}; pad the input."
            )
        skips = []
        h = x
        for i, block in enumerate(self.down):
            if i > 0:
                h = F.max_pool2d(h, 2)  # (B, w_{i-1}, H / 2^i, W / 2^i)
            h = block(h)  # (B, w_i, H / 2^i, W / 2^i)
            skips.append(h)
        skips.pop()
        for up, dec in zip(self.up, self.dec, strict=True):
            h = up(h)  # (B, w_{i-1}, 2h, 2w)
            h = dec(torch.cat([h, skips.pop()], dim=1))
        prior = self.shortcut(x)  # (B, 2, H, W)
        logits = self.head_logit(h)[:, 0] + prior[:, 0]  # (B, H, W)
        column = self.head_column(h)[:, 0] + prior[:, 1]  # (B, H, W) mol/m2
        return logits, column


def insert_input_channel(model: PlumeUNet, index: int) -> PlumeUNet:
    """A copy of ``model`` taking one more input channel, at ``index``, with zero weights.

    The copy computes exactly what ``model`` computes on the other channels, so a trained
    detector can be fine-tuned with a new input (e.g. the noise-level channel of
    :mod:`.features`) starting from its current behaviour. The only layers that see the raw
    inputs are the first convolution and the 1x1 shortcut; their weights get a zero slice.
    """
    spec = model.spec
    if not 0 <= index <= spec.in_channels:
        raise bad_value("index", index, f"a channel position in [0, {spec.in_channels}]")
    prior = spec.prior_channel
    if prior is not None and prior >= index:
        prior += 1
    new = PlumeUNet(replace(spec, in_channels=spec.in_channels + 1, prior_channel=prior))
    state = model.state_dict()
    for key in ("down.0.0.weight", "shortcut.weight"):
        w = state[key]  # (out, C, k, k)
        zero = torch.zeros_like(w[:, :1])
        state[key] = torch.cat([w[:, :index], zero, w[:, index:]], dim=1)
    new.load_state_dict(state)
    return new.train(model.training)
