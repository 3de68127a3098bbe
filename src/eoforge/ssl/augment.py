r"""Multi-crop SAR augmentations on batched tensors (no torchvision), seeded by a generator.

Inputs are standardised decibel images ``z = (10 log10 sigma0 - mu_dB) / sigma_dB`` (see
:class:`eoforge.sar.normalise.DbNormaliser`), shape ``(B, 1, H, W)``. Each view of each image gets
its own random parameters; everything runs on the images' device in a few batched calls:

* random resized crop + dihedral transform (flips, 90-degree rotations) as one affine resampling
  (``grid_sample``, bilinear): the crop covers a fraction ``s ~ U(scale)`` of the area with aspect
  ``r``, log-uniform in ``ratio``;
* Gaussian blur with probability ``blur_prob``, ``sigma ~ U(blur_sigma)`` pixels;
* speckle re-noise with probability ``speckle_prob``: multiplying sigma0 by
  :math:`G \sim \Gamma(L, 1/L)` adds :math:`10 \log_{10} G / \sigma_{dB}` to ``z``
  (``G`` drawn exactly as the mean of ``L`` unit exponentials);
* gain jitter :math:`z \mathrel{+}= \epsilon / \sigma_{dB}`, :math:`\epsilon \sim
  \mathcal N(0, \text{gain\_db}^2)` dB (a calibration offset), and contrast jitter
  :math:`z \leftarrow \bar z + (z - \bar z) e^{\delta}`, :math:`\delta \sim
  \mathcal N(0, \text{contrast}^2)`.

No hue, grey-scale or solarisation (one channel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from eoforge.core.errors import ShapeError, bad_value


def _uniform(
    n: int, lo: float, hi: float, gen: torch.Generator, device: torch.device
) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=gen, device=device)


def _dihedral(
    n: int, flip: bool, rot90: bool, gen: torch.Generator, device: torch.device
) -> torch.Tensor:
    """(n, 2, 2) random elements of the dihedral group of the square."""
    k = torch.randint(0, 4 if rot90 else 1, (n,), generator=gen, device=device)
    ang = k.float() * (math.pi / 2)
    c, s = torch.cos(ang).round(), torch.sin(ang).round()
    rot = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)  # (n, 2, 2)
    f = torch.ones(n, device=device)
    if flip:
        f = torch.where(torch.rand(n, generator=gen, device=device) < 0.5, -f, f)
    refl = torch.diag_embed(torch.stack([f, torch.ones_like(f)], -1))  # (n, 2, 2)
    return rot @ refl


def random_resized_crop(
    x: torch.Tensor,
    size: int,
    scale: tuple[float, float],
    gen: torch.Generator,
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    flip: bool = True,
    rot90: bool = True,
) -> torch.Tensor:
    """Random resized crops (plus flips/rotations) of each image: (B, C, H, W) -> (B, C, s, s)."""
    B = x.shape[0]
    dev = x.device
    area = _uniform(B, scale[0], scale[1], gen, dev)
    log_r = _uniform(B, math.log(ratio[0]), math.log(ratio[1]), gen, dev)
    w = torch.sqrt(area * torch.exp(log_r)).clamp(max=1.0)  # half-width in [-1, 1] units
    h = torch.sqrt(area / torch.exp(log_r)).clamp(max=1.0)
    cx = (2 * torch.rand(B, generator=gen, device=dev) - 1) * (1 - w)
    cy = (2 * torch.rand(B, generator=gen, device=dev) - 1) * (1 - h)
    R = _dihedral(B, flip, rot90, gen, dev)  # (B, 2, 2)
    theta = torch.cat(
        [torch.diag_embed(torch.stack([w, h], -1)) @ R, torch.stack([cx, cy], -1)[..., None]], -1
    )  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), [B, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def gaussian_blur(
    x: torch.Tensor, sigma: torch.Tensor, kernel_size: int | None = None
) -> torch.Tensor:
    """Blur image ``i`` with an isotropic Gaussian of std ``sigma[i]`` pixels (0 = no blur)."""
    B, C, H, W = x.shape
    k = kernel_size or 2 * math.ceil(3 * float(sigma.max().clamp(min=0.1))) + 1
    r = torch.arange(k, device=x.device, dtype=x.dtype) - (k - 1) / 2  # (k,)
    s = sigma.to(x.dtype).clamp(min=1e-3)[:, None]
    g = torch.exp(-0.5 * (r[None] / s) ** 2)  # (B, k)
    g = g / g.sum(-1, keepdim=True)
    kern = (g[:, :, None] * g[:, None, :]).repeat_interleave(C, 0)[:, None]  # (B*C, 1, k, k)
    xp = F.pad(x.reshape(1, B * C, H, W), [k // 2] * 4, mode="replicate")
    return F.conv2d(xp, kern, groups=B * C).reshape(B, C, H, W)


@dataclass(frozen=True)
class MultiCropAugment:
    """DINO multi-crop with SAR-appropriate augmentations (see module docstring).

    Args:
        n_global: Number of global views (2 in DINO).
        n_local: Number of local views.
        global_size: Side of global views (pixels).
        local_size: Side of local views.
        global_scale: Area fraction range of global crops.
        local_scale: Area fraction range of local crops.
        ratio: Aspect-ratio range of the crops.
        flip: Random horizontal flips.
        rot90: Random 90-degree rotations (with flips: the 8 dihedral transforms).
        gain_db: Std of the gain offset in dB.
        contrast: Std of the log contrast factor.
        speckle_prob: Probability of re-noising a view with speckle.
        speckle_looks: Looks ``L`` of the re-noising speckle (integer >= 1).
        blur_prob: Probability of blurring a view.
        blur_sigma: Range of the blur std in pixels.
        db_scale: ``sigma_dB`` of the normaliser (dB per normalised unit).
    """

    n_global: int = 2
    n_local: int = 4
    global_size: int = 32
    local_size: int = 16
    global_scale: tuple[float, float] = (0.4, 1.0)
    local_scale: tuple[float, float] = (0.05, 0.4)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: bool = True
    rot90: bool = True
    gain_db: float = 1.0
    contrast: float = 0.1
    speckle_prob: float = 0.3
    speckle_looks: int = 4
    blur_prob: float = 0.3
    blur_sigma: tuple[float, float] = (0.1, 1.0)
    db_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.n_global < 1 or self.n_local < 0:
            raise bad_value("n_global/n_local", (self.n_global, self.n_local), ">= 1 and >= 0")
        for name in ("global_scale", "local_scale"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi <= 1:
                raise bad_value(name, (lo, hi), "0 < low <= high <= 1")
        if self.speckle_looks < 1 or self.db_scale <= 0:
            raise bad_value("speckle_looks/db_scale", (self.speckle_looks, self.db_scale), "> 0")

    def _photometric(self, v: torch.Tensor, gen: torch.Generator, size: int) -> torch.Tensor:
        B, dev = v.shape[0], v.device
        if self.blur_prob > 0:
            sig = _uniform(B, *self.blur_sigma, gen, dev)
            keep = torch.rand(B, generator=gen, device=dev) < self.blur_prob
            v = gaussian_blur(v, torch.where(keep, sig, torch.zeros_like(sig)))
        if self.speckle_prob > 0:
            u = torch.rand((self.speckle_looks, *v.shape), generator=gen, device=dev)
            g = -torch.log(u.clamp_min(1e-12)).mean(0)  # Gamma(L, 1/L), mean 1
            on = torch.rand(B, generator=gen, device=dev) < self.speckle_prob
            v = v + on[:, None, None, None] * 10.0 * torch.log10(g) / self.db_scale
        mean = v.mean(dim=(1, 2, 3), keepdim=True)
        c = torch.exp(self.contrast * torch.randn(B, generator=gen, device=dev))[
            :, None, None, None
        ]
        gain = self.gain_db * torch.randn(B, generator=gen, device=dev)[:, None, None, None]
        return mean + (v - mean) * c + gain / self.db_scale

    def __call__(self, x: torch.Tensor, gen: torch.Generator) -> list[torch.Tensor]:
        """Views of a batch: ``n_global`` tensors (B, C, g, g) then ``n_local`` (B, C, l, l).

        Args:
            x: (B, C, H, W) standardised dB images.
            gen: Generator on ``x.device`` (the only source of randomness).
        """
        if x.ndim != 4:
            raise ShapeError(f"augment expects (batch, channels, H, W), got {tuple(x.shape)}.")
        x = x.float()
        views = []
        for i in range(self.n_global + self.n_local):
            is_global = i < self.n_global
            size = self.global_size if is_global else self.local_size
            scale = self.global_scale if is_global else self.local_scale
            v = random_resized_crop(x, size, scale, gen, self.ratio, self.flip, self.rot90)
            views.append(self._photometric(v, gen, size))
        return views
