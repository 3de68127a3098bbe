"""Batched torch implementation of the detector input features (the maths: :mod:`.features`).

This is the only implementation of the features: training computes them on batches on the
training device, and ``detect`` calls it on the CPU through the NumPy-facing wrappers of
:mod:`.features` (batch of one). Tensors are (B, nb, H, W) with the bands in the order
``SWIR + context`` (B11, B12, then the context bands).

Scene constants, per item b of the batch, over the valid pixels V_b of its subsample:

    c_t, c_r = trimmed least-squares scales of R12 to R11 (:mod:`.robust_torch`, Varon 2021)
    med_mbsp = median_V (c_t R12 / R11 - 1),  med_mbmp = median_V (c_t R12/R11 - c_r R12'/R'11)
    med_b = median_V ln(R_b / R'_b),  sigma_MBMP = 1.4826 MAD(MBMP_i,j - MBMP_i,j+1) / sqrt(2)

``detect`` passes a regular subsample of at most ~1e6 pixels of the scene as V_b; training
crops (:func:`crop_constants`) fit c_t, c_r, med_b and sigma_MBMP on the subsample of every
``fit_step``-th row and column of the crop (at most ``CROP_FIT_PIXELS`` of :mod:`.training.bank_stream`)
and the MBSP/MBMP medians on all of its pixels.

Medians are NumPy's (the mean of the two middle values for an even count). The scene constants
are fitted in float64, the per-pixel features in float32, as the former NumPy code
did (its column inversion ran in float64: the float32 one differs by < 1e-6 mol/m2).

Several reference dates (K > 1, a stack R'_{b,k}, k = 1..K; the pair channels use k = 1). Per
reference k its own band scale c_r,k and log-change medians med_b,k are fitted like c_r and med_b
(on the same subsample, over the pixels valid in the target and in date k). Per pixel, over the
dates k whose pixel is valid (median and MAD over k are NumPy's; a pixel with no valid date is 0):

    rho_k = c_r,k R12'_k / R11'_k                      reference ratio of date k
    MBMP_stack = c_t R12 / R11 - median_k rho_k - med_stack,  med_stack its median over V
    spread = MAD_k rho_k                                (how much the dates disagree)
    D_b,stack = median_k (ln(R_b / R'_b,k) - med_b,k)   for each context band b

A surface change on one date of three moves one rho_k (or one log change) and leaves their
median and, to within noise, their MAD unchanged: a one-date change cannot raise a plume there.
"""

from __future__ import annotations

import math

import torch
from scipy.ndimage import gaussian_filter
from torch.nn import functional as F

from eoforge.methane.detector.inject_torch import retrieve_column
from eoforge.methane.detector.robust_torch import MAD_TO_SIGMA, fit_band_scale, masked_median

LOG_REF = math.log(0.25)
CLIP = 10.0
#: Keys of the scene-constant dict: (B,) tensors, and "med_change" (B, nb).
CONSTANT_KEYS = ("c_t", "c_r", "med_mbsp", "med_mbmp", "med_change", "amf", "noise",
                 "valid_fraction")  # fmt: skip
#: Keys of the reference-stack constants: "c_r_k" (B, K), "med_change_k" (B, K, nb),
#: "med_stack" (B,).
STACK_KEYS = ("c_r_k", "med_change_k", "med_stack")


def valid_pixels(*dates: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: finite and positive in every band of every (B, nb, H, W) date."""

    def positive_finite(d: torch.Tensor) -> torch.Tensor:  # NaN fails both tests, +inf the 2nd
        return (d.amin(dim=1) > 0) & (d.amax(dim=1) < torch.inf)

    ok = positive_finite(dates[0])
    for d in dates[1:]:
        ok = ok & positive_finite(d)
    return ok


def _mbmp_noise(
    t_right: torch.Tensor,
    r_right: torch.Tensor,
    t_left: torch.Tensor,
    r_left: torch.Tensor,
    c_t: torch.Tensor,
    c_r: torch.Tensor,
) -> torch.Tensor:
    """The noise level sigma_MBMP (B,) from horizontally adjacent pixel pairs.

    Args:
        t_right: (B, 2, h, w) target B11, B12 of the right pixel of each pair.
        r_right: (B, 2, h, w) reference B11, B12 of the right pixel.
        t_left: (B, 2, h, w) target of the left pixel.
        r_left: (B, 2, h, w) reference of the left pixel.
        c_t: (B,) target band scale.
        c_r: (B,) reference band scale.

    Returns:
        (B,) float64, 0 where fewer than 100 pairs are valid.
    """

    def mbmp(t: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        ok = valid_pixels(t, r)  # in the input dtype (cheaper), then float64
        t, r = t.to(torch.float64), r.to(torch.float64)
        m = c_t[:, None, None] * t[:, 1] / t[:, 0] - c_r[:, None, None] * r[:, 1] / r[:, 0]
        return torch.where(ok, m, torch.nan)

    d = (mbmp(t_left, r_left) - mbmp(t_right, r_right)).flatten(1)  # (B, N)
    fin = torch.isfinite(d)
    med = masked_median(d, fin)
    sigma = MAD_TO_SIGMA * masked_median((d - med[:, None]).abs(), fin) / math.sqrt(2.0)
    return torch.where(fin.sum(-1) >= 100, sigma, 0.0)


def scene_constants(
    t: torch.Tensor,
    r: torch.Tensor,
    t_right: torch.Tensor,
    r_right: torch.Tensor,
    amf: torch.Tensor,
    fit_step: int = 1,
) -> dict[str, torch.Tensor]:
    """Scene constants of a batch (module docstring), float64.

    Args:
        t: (B, nb, h, w) target-date subsample (every ``step`` rows and columns).
        r: (B, nb, h, w) reference-date subsample.
        t_right: (B, 2, h, wn) target B11/B12 one full-resolution pixel to the right of the
            first wn subsample columns (the noise pairs); wn <= w.
        r_right: Same for the reference.
        amf: (B,) air-mass factors.
        fit_step: The subsample constants (c_t, c_r, the medians of the log changes and the
            noise, from the pairs of the sampled pixels) use every ``fit_step``-th row and
            column of ``t`` and ``r``; med_mbsp and med_mbmp use all of them (a median of
            MBSP can sit in a gap between two surfaces, where a subsample moves it).

    Returns:
        Dict of :data:`CONSTANT_KEYS`.
    """
    ok = valid_pixels(t, r)  # (B, h, w)
    sub = (Ellipsis, slice(None, None, fit_step), slice(None, None, fit_step))
    wn = t_right[sub].shape[-1]
    noise_left = (t[:, :2][sub][..., :wn], r[:, :2][sub][..., :wn])
    t, r = t.to(torch.float64), r.to(torch.float64)
    ts, rs, oks = t[sub].flatten(2), r[sub].flatten(2), ok[sub].flatten(1)  # (B, nb, n)
    c_t = fit_band_scale(ts[:, 0], ts[:, 1], oks)
    c_r = fit_band_scale(rs[:, 0], rs[:, 1], oks)
    change = masked_median(torch.log(ts / rs), oks[:, None].expand_as(ts))  # (B, nb)
    noise = _mbmp_noise(t_right[sub], r_right[sub], *noise_left, c_t, c_r)
    ok = ok.flatten(1)  # (B, N)
    tf, rf = t.flatten(2), r.flatten(2)  # (B, nb, N)
    ratio_t = c_t[:, None] * tf[:, 1] / tf[:, 0]
    ratio_r = c_r[:, None] * rf[:, 1] / rf[:, 0]
    return {
        "c_t": c_t,
        "c_r": c_r,
        "med_mbsp": masked_median(ratio_t - 1.0, ok),
        "med_mbmp": masked_median(ratio_t - ratio_r, ok),
        "med_change": change,
        "amf": amf.to(torch.float64),
        "noise": noise,
        "valid_fraction": ok.to(torch.float64).mean(-1),
    }


def fit_step(h: int, w: int, max_pixels: int) -> int:
    """Stride of a regular subsample of an h x w grid that keeps at most ~``max_pixels`` pixels.

    The subsample takes every ``step`` rows and columns, step = max(1, ceil(sqrt(h w /
    max_pixels))).
    """
    return max(1, math.ceil(math.sqrt(h * w / max_pixels)))


def crop_constants(
    t: torch.Tensor,
    r: torch.Tensor,
    amf: torch.Tensor,
    max_fit_pixels: int | None = None,
    refs: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """:func:`scene_constants` of training crops, fitted on a regular subsample of each crop.

    Args:
        t: (B, nb, H, W) target dates.
        r: (B, nb, H, W) reference dates.
        amf: (B,) air-mass factors.
        max_fit_pixels: The subsample constants use at most ~this many pixels per item
            (:func:`fit_step`); None: every pixel.
        refs: (B, K, nb, H, W) reference stack: adds its :func:`stack_constants`.
    """
    h, w = t.shape[-2:]
    step = 1 if max_fit_pixels is None else fit_step(h, w, max_fit_pixels)
    const = scene_constants(t, r, t[:, :2, :, 1:], r[:, :2, :, 1:], amf, step)
    if refs is not None:
        const |= stack_constants(t, refs, const["c_t"], step)
    return const


def stack_ratios(refs: torch.Tensor, c_r_k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-date reference ratios rho_k of a (B, K, nb, H, W) stack and their validity.

    Returns:
        (rho, ok): rho_k = c_r,k R12'_k / R11'_k (B, K, H, W), float32 for a float32 stack
        (c_r,k rounded to float32; 1 where date k is invalid), and the validity (B, K, H, W).
    """
    b, k = refs.shape[:2]
    ok = valid_pixels(refs.flatten(0, 1)).view(b, k, *refs.shape[-2:])
    s = torch.where(ok[:, :, None], refs, 1.0)
    rho = c_r_k.to(torch.float32)[:, :, None, None] * s[:, :, 1] / s[:, :, 0]
    return rho, ok


def median_over_dates(x: torch.Tensor, ok: torch.Tensor) -> torch.Tensor:
    """NumPy median over the date axis 1 of (B, K, ...) values where ``ok`` (NaN if none).

    The mean of the two middle valid values of each pixel's dates sorted (invalid ones last),
    batched in torch on any device (few dates, many pixels).
    """
    s = torch.where(ok, x, torch.inf).sort(dim=1).values
    n = ok.sum(1, keepdim=True)
    lo = s.gather(1, (n - 1).clamp_min(0) // 2)
    hi = s.gather(1, (n // 2).clamp_max(x.shape[1] - 1))
    return torch.where(n > 0, 0.5 * (lo + hi), torch.nan).squeeze(1)


def stack_constants(
    t: torch.Tensor, refs: torch.Tensor, c_t: torch.Tensor, fit_step: int = 1
) -> dict[str, torch.Tensor]:
    """Reference-stack constants (:data:`STACK_KEYS`, float64) of a batch (module docstring).

    Args:
        t: (B, nb, h, w) target-date subsample.
        refs: (B, K, nb, h, w) reference dates on the same subsample.
        c_t: (B,) the target's band scale (:func:`scene_constants`).
        fit_step: The per-date scales and log-change medians use every ``fit_step``-th row and
            column; med_stack uses all pixels (as med_mbmp in :func:`scene_constants`).
    """
    b, k = refs.shape[:2]
    sub = (Ellipsis, slice(None, None, fit_step), slice(None, None, fit_step))
    tk = t[:, None].expand_as(refs).flatten(0, 1)  # (B K, nb, h, w)
    rk = refs.flatten(0, 1)
    oks = valid_pixels(tk[sub], rk[sub]).flatten(1)
    ts, rs = tk[sub].to(torch.float64).flatten(2), rk[sub].to(torch.float64).flatten(2)
    c_r_k = fit_band_scale(rs[:, 0], rs[:, 1], oks)
    change = masked_median(torch.log(ts / rs), oks[:, None].expand_as(ts))  # (B K, nb)
    rho, ok = stack_ratios(refs.to(torch.float64), c_r_k.view(b, k))
    ok_t = valid_pixels(t)
    td = t.to(torch.float64)
    ratio_t = c_t[:, None, None] * td[:, 1] / torch.where(ok_t, td[:, 0], 1.0)
    d = ratio_t - median_over_dates(rho.to(torch.float64), ok)  # NaN where no valid date
    sel = ok_t & ok.any(1)
    return {
        "c_r_k": c_r_k.view(b, k),
        "med_change_k": change.view(b, k, -1),
        "med_stack": masked_median(torch.where(sel, d, 0.0).flatten(1), sel.flatten(1)),
    }


def stack_channels(
    t: torch.Tensor, refs: torch.Tensor, const: dict[str, torch.Tensor], ratio_t: torch.Tensor
) -> list[torch.Tensor]:
    """The reference-stack channels (module docstring), unclipped, (B, H, W) each.

    20 MBMP_stack, 20 spread, 20 D_b,stack of each context band; 0 where no date is valid.
    """
    rho, ok = stack_ratios(refs, const["c_r_k"])
    some = ok.any(1)
    med = median_over_dates(rho, ok)
    mbmp = ratio_t - med - const["med_stack"].to(torch.float32)[:, None, None]
    spread = median_over_dates((rho - torch.where(some, med, 0.0)[:, None]).abs(), ok)
    lt = torch.log(torch.where(valid_pixels(t)[:, None], t, 1.0))[:, None, 2:]  # (B, 1, nc, H, W)
    lr = torch.log(torch.where(ok[:, :, None], refs[:, :, 2:], 1.0))
    mc = const["med_change_k"][:, :, 2:].to(torch.float32)[..., None, None]
    ch = median_over_dates(lt - lr - mc, ok[:, :, None].expand_as(lr))  # (B, nc, H, W)
    out = [20.0 * mbmp, 20.0 * spread] + [20.0 * ch[:, i] for i in range(ch.shape[1])]
    return [torch.where(some, c, 0.0) for c in out]


def gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian filter of (B, H, W) with edge replication, radius int(4 sigma + 1/2).

    SciPy's ``gaussian_filter(mode="nearest")`` itself on the CPU (~5x faster there), else
    :func:`smooth_torch`.
    """
    if x.device.type != "cpu":
        return smooth_torch(x, sigma)
    out = gaussian_filter(x.detach().numpy(), sigma=(0.0, sigma, sigma), mode="nearest")
    return torch.from_numpy(out)


def smooth_torch(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """:func:`gaussian_smooth` as two 1-D convolutions in torch (any device)."""
    radius = int(4.0 * float(sigma) + 0.5)
    k = torch.arange(-radius, radius + 1, dtype=torch.float64, device=x.device)
    k = torch.exp(-0.5 * (k / float(sigma)) ** 2)
    k = (k / k.sum()).to(x.dtype)
    y = x[:, None]  # (B, 1, H, W)
    y = F.conv2d(F.pad(y, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    y = F.conv2d(F.pad(y, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return y[:, 0]


def features(
    t: torch.Tensor,
    r: torch.Tensor,
    const: dict[str, torch.Tensor],
    smooth: float = 0.0,
    noise: bool = False,
    refs: torch.Tensor | None = None,
) -> torch.Tensor:
    """Detector inputs (B, C, H, W) float32 of batches of dates (channels: :mod:`.features`).

    Args:
        t: (B, nb, H, W) float32 target date, bands ``SWIR + context``.
        r: (B, nb, H, W) float32 reference date.
        const: Scene constants (:func:`scene_constants`).
        smooth: Sigma (px) of the smoothed MBMP column channel (0: none).
        noise: Add the MBMP noise-level channel.
        refs: (B, K, nb, H, W) float32 stack of K > 1 reference dates (``r`` is its first):
            adds the stack channels (module docstring); ``const`` then holds
            :data:`STACK_KEYS` too.
    """
    ok = valid_pixels(t, r)  # (B, H, W)
    st = torch.where(ok[:, None], t, 1.0)
    sr = torch.where(ok[:, None], r, 1.0)
    lt, lr = torch.log(st), torch.log(sr)

    def per_item(v: torch.Tensor) -> torch.Tensor:
        return v.to(torch.float32)[:, None, None]

    ratio_t = per_item(const["c_t"]) * st[:, 1] / st[:, 0]
    ratio_r = per_item(const["c_r"]) * sr[:, 1] / sr[:, 0]
    mbsp = ratio_t - 1.0 - per_item(const["med_mbsp"])
    mbmp = ratio_t - ratio_r - per_item(const["med_mbmp"])
    med = const["med_change"].to(torch.float32)[:, :, None, None]  # (B, nb, 1, 1)
    change = 20.0 * (lt - lr - med)  # (B, nb, H, W)
    chans = [(lt[:, i] - LOG_REF) / 0.5 for i in (0, 1)]
    chans += [(lr[:, i] - LOG_REF) / 0.5 for i in (0, 1)]
    chans += [change[:, 0], change[:, 1], 20.0 * mbsp, 20.0 * mbmp,
              retrieve_column(mbmp.clamp(-0.9, 10.0), const["amf"]),
              retrieve_column(mbsp.clamp(-0.9, 10.0), const["amf"])]  # fmt: skip
    chans += [change[:, i] for i in range(2, t.shape[1])]
    if refs is not None:
        chans += stack_channels(t, refs, const, ratio_t)
    n_out = len(chans) + (smooth > 0) + bool(noise) + 1
    out = torch.empty((t.shape[0], n_out, *ok.shape[1:]), dtype=torch.float32, device=t.device)
    for i, c in enumerate(chans):  # clipped, 0 on invalid pixels
        out[:, i] = torch.where(ok, c.clamp(-CLIP, CLIP), 0.0)
    k = len(chans)
    if smooth > 0:  # smoothed over the masked column; not re-masked (the shipped weights' input)
        out[:, k] = gaussian_smooth(out[:, 8], smooth)
        k += 1
    if noise:
        level = (100.0 * const["noise"]).clamp_max(CLIP).to(torch.float32)[:, None, None]
        out[:, k] = level * ok
    out[:, -1] = ok
    return out
