"""Batched torch band physics for the training stream and the features: injection, noise, column.

The transmittance model is the one of :mod:`eoforge.methane.physics`, read from the same shipped
table: ln T_b(x) piecewise linear on the slant-column nodes x_k (mol/m2), extended beyond both
ends with the end slopes, x = AMF * dOmega. Here it is evaluated on tensors of any device:

    T_b(x) = exp(interp(x; x_k, ln T_b,k))
    m(x)   = T_B12 / T_B11 - 1                   (the MBSP/MBMP signal model)
    dOmega = interp(ln(1 + dR); d_k, x_k) / AMF,  d_k = ln T_B12,k - ln T_B11,k (decreasing)

Injection of a plume column dOmega into a rendered date whose band b carries an additive path
reflectance p_b (the scene's Rayleigh/aerosol term; :mod:`eoforge.methane.scenes.render` adds it
after the surface is darkened) is

    R_b <- (R_b - p_b) T_b(AMF dOmega) + p_b      on clear pixels, R_b elsewhere,

which equals the scene generator's order (darken the surface, then add the path). Fresh sensor
noise then follows :func:`eoforge.methane.scenes.spectra.noise_sigma`,

    R <- R + s k_b sqrt(max(R, 0)) eps,  eps ~ N(0, 1),  k_b = sqrt(rho_ref,b) / SNR_b,

with s the noise scale, then L1C quantisation R <- round(1e4 R) / 1e4 and clipping to [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import torch

from eoforge.methane.physics import band_table
from eoforge.methane.scenes.spectra import S2_BANDS, noise_coefficient


class Grid(NamedTuple):
    """A piecewise-linear table with a uniform bucket index over its nodes.

    Nodes ``xp`` increasing, values ``fp`` (:func:`make_grid`, :func:`interp_grid`).
    """

    xp: torch.Tensor  # (n,)
    fp: torch.Tensor  # (n,)
    slope: torch.Tensor  # (n - 1,) of each segment
    nxt: torch.Tensor  # (n - 1,) right node of each segment, +inf for the last one
    start: torch.Tensor  # (M,) int64, a segment at or left of those of the bucket's values
    x0: float
    inv_h: float
    steps: int


def make_grid(xp: np.ndarray, fp: np.ndarray, device: str, dtype: torch.dtype) -> Grid:
    """The table (xp, fp) with its bucket index, as tensors of ``dtype`` on ``device``.

    M buckets of width h = the smallest node spacing from xp[0]; bucket b starts at the segment
    of xp[0] + (b - 1) h (one bucket of slack for the rounding of the bucket number), and
    ``steps`` is the most nodes any value may lie beyond it.
    """
    xp, fp = np.array(xp, np.float64), np.array(fp, np.float64)  # copies: positive strides
    h = float(np.diff(xp).min())
    m = int(np.ceil((xp[-1] - xp[0]) / h)) + 2
    edges = xp[0] + h * np.arange(m)

    def segment(v: np.ndarray) -> np.ndarray:
        return np.clip(np.searchsorted(xp, v, side="right") - 1, 0, len(xp) - 2)

    start = segment(edges - h)
    steps = int((segment(edges + 2 * h) - start).max())
    nxt = np.append(xp[1:-1], np.inf)

    def dev(a: np.ndarray, dt: torch.dtype = dtype) -> torch.Tensor:
        return torch.as_tensor(a, dtype=dt, device=device)

    return Grid(dev(xp), dev(fp), dev(np.diff(fp) / np.diff(xp)), dev(nxt),
                dev(start, torch.int64), float(xp[0]), 1.0 / h, steps)  # fmt: skip


def interp_grid(x: torch.Tensor, grid: Grid) -> torch.Tensor:
    """Piecewise-linear interpolation of the table at x, extended by the end slopes.

    NaN stays NaN; the result has the dtype of the grid, on any device. The segment j with
    xp[j] <= x < xp[j + 1] is found from the bucket of x and at most ``steps`` comparisons (no
    search, no host sync); then fp[j] + slope[j] (x - xp[j]), which is also the extrapolation
    outside the nodes.
    """
    v = x.reshape(-1)
    u = ((v - grid.x0) * grid.inv_h).nan_to_num_(0.0, 0.0, 0.0)
    j = grid.start.index_select(0, u.clamp_(0, grid.start.numel() - 1).long())
    for _ in range(grid.steps):
        j += grid.nxt.index_select(0, j) <= v
    out = torch.addcmul(grid.fp.index_select(0, j), grid.slope.index_select(0, j),
                        v - grid.xp.index_select(0, j))  # fmt: skip
    return out.reshape(x.shape)


@lru_cache(maxsize=32)
def _table(band: str, satellite: str, device: str, dtype: torch.dtype) -> Grid:
    """The log transmittance ln T_b on the slant-column nodes, as a :class:`Grid`."""
    t = band_table(band, satellite)
    return make_grid(t.x, t.ln_t, device, dtype)


@lru_cache(maxsize=32)
def _retrieval(satellite: str, device: str, dtype: torch.dtype) -> Grid:
    """Slant column x on the nodes d_k = ln T_B12,k - ln T_B11,k (reversed to increase)."""
    t12, t11 = band_table("B12", satellite), band_table("B11", satellite)
    return make_grid((t12.ln_t - t11.ln_t)[::-1], t12.x[::-1], device, dtype)


def ln_transmittance(slant: torch.Tensor, band: str, satellite: str = "S2A") -> torch.Tensor:
    """The log transmittance ln T_b at slant columns x = AMF * dOmega (mol/m2).

    Args:
        slant: Slant columns x (mol/m2), any shape; the result has its dtype and device.
        band: Sentinel-2 band name.
        satellite: ``"S2A"`` or ``"S2B"``.
    """
    return interp_grid(slant, _table(band, satellite, str(slant.device), slant.dtype))


def fractional_signal(slant: torch.Tensor, satellite: str = "S2A") -> torch.Tensor:
    """The fractional signal m = T_B12 / T_B11 - 1 at slant columns x (module docstring)."""
    return torch.expm1(ln_transmittance(slant, "B12", satellite)
                       - ln_transmittance(slant, "B11", satellite))  # fmt: skip


def retrieve_column(
    delta_r: torch.Tensor, amf: torch.Tensor, satellite: str = "S2A"
) -> torch.Tensor:
    """The column dOmega (mol/m2) whose signal m equals ``delta_r`` (NaN where dR <= -1 or NaN).

    Args:
        delta_r: (B, ...) fractional signal (float32 or float64: the dtype of the result).
        amf: (B,) air-mass factors.
        satellite: ``"S2A"`` or ``"S2B"``.
    """
    dr = delta_r
    ok = dr > -1.0
    target = torch.where(ok, torch.log1p(torch.where(ok, dr, 0.0)), torch.nan)
    x = interp_grid(target, _retrieval(satellite, str(dr.device), dr.dtype))
    amf = amf.to(dr.dtype).reshape(-1, *([1] * (dr.ndim - 1)))
    return torch.where(torch.isnan(target), torch.nan, x) / amf


def inject(
    bands: torch.Tensor,
    names: Sequence[str],
    column: torch.Tensor,
    amf: torch.Tensor,
    clear: torch.Tensor,
    path: torch.Tensor | None = None,
    satellite: str = "S2A",
) -> torch.Tensor:
    """Darken B11/B12 of a batch of dates by the plume's transmittances (module docstring).

    Args:
        bands: (B, nb, H, W) float32 reflectances of one date, bands named by ``names``.
        names: Band names of the nb channels.
        column: (B, H, W) dOmega (mol/m2).
        amf: (B,) air-mass factors.
        clear: (B, H, W) bool, pixels that may receive methane (clear land).
        path: (B, nb) additive path reflectance of each band (default 0).
        satellite: ``"S2A"`` or ``"S2B"``.

    Returns:
        A new (B, nb, H, W) tensor.
    """
    out = bands.clone()
    slant = column.to(torch.float64) * amf.to(torch.float64)[:, None, None]  # (B, H, W)
    for b in ("B11", "B12"):
        i = list(names).index(b)
        t = torch.exp(ln_transmittance(slant, b, satellite)).to(bands.dtype)
        t = torch.where(clear, t, torch.ones_like(t))
        p = 0.0 if path is None else path[:, i, None, None].to(bands.dtype)
        out[:, i] = (bands[:, i] - p) * t + p
    return out


@lru_cache(maxsize=16)
def _coefficients(names: tuple[str, ...], device: str, dtype: torch.dtype) -> torch.Tensor:
    """k_b of each band, made once per device (no host-to-device copy per batch)."""
    k = np.array([noise_coefficient(S2_BANDS.index(b)) for b in names])
    return torch.as_tensor(k, dtype=dtype, device=device)


def add_noise(
    bands: torch.Tensor,
    names: Sequence[str],
    scale: torch.Tensor,
    generator: torch.Generator | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """Fresh sensor noise, L1C quantisation and clipping (module docstring).

    Args:
        bands: (B, nb, H, W) float32 noise-free reflectances.
        names: Band names of the nb channels (among the S2 bands).
        scale: (B,) noise scale per item (1: MSI requirement).
        generator: Torch generator on the device of ``bands``.
        quantize: Round to the L1C step of 1e-4.
    """
    k = _coefficients(tuple(names), str(bands.device), bands.dtype)  # (nb,)
    eps = torch.randn(bands.shape, generator=generator, device=bands.device, dtype=bands.dtype)
    sig = bands.clamp_min(0.0).sqrt() * (k[None, :, None, None] * scale[:, None, None, None])
    out = bands + sig * eps
    if quantize:
        out = torch.round(out * 1e4) * 1e-4
    return out.clamp(0.0, 1.0)
