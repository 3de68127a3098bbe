"""Input channels of the plume detector, built from a target/reference Sentinel-2 pair.

With R_b the target-date and R'_b the reference-date reflectance of band b, AMF the air-mass
factor (``physics.air_mass_factor``), and scene-wide constants fitted once per scene:

    c_t = argmin sum (c R12 - R11)^2,  c_r likewise on the reference   (Varon et al. 2021 MBSP)
    MBSP_t = c_t R12 / R11 - 1
    MBMP   = (c_t R12 / R11) - (c_r R12' / R11') - med        (MBMP, median-centred)
    dOmega_MBMP = retrieve_column(MBMP, AMF),  dOmega_MBSP = retrieve_column(MBSP_t - med, AMF)
    D_b = ln(R_b / R'_b) - med_b                               (temporal log change of band b)

Channels (in this order; ``channel_names``) and their fixed normalisation (chosen so each is
O(1) on typical scenes; constants, not per-scene statistics, so tiles and whole images agree):

    0-3   ln R11, ln R12, ln R'11, ln R'12         (ln R - ln 0.25) / 0.5
    4-5   D_B11, D_B12                              x 20   (a 5 % change -> 1)
    6     MBSP_t - med                              x 20
    7     MBMP                                      x 20
    8-9   dOmega_MBMP, dOmega_MBSP (mol/m2)         / 1    (clipped to +-10)
    10..  D_b of each context band (B8A, B04)       x 20   (albedo/shadow changes darken these too)
    (K>1) with K > 1 reference dates (``reference_dates``; the channels above use the first):
          MBMP_stack x 20, spread (MAD over k of the reference ratios) x 20 and, per context
          band, the median over k of D_b,k x 20 (:mod:`.features_torch`: a change on one
          reference date of three leaves them unchanged)
    (opt) G_s * dOmega_MBMP, Gaussian-smoothed (sigma s px) when ``smooth`` > 0: a matched-filter
          hint that raises the per-pixel SNR of extended plumes and speeds up training
    (opt) sigma_MBMP, the scene's MBMP noise level, x 100 (constant over the scene), when
          ``noise`` is set: lets one network serve scenes of different sensor noise (below)
    last  valid mask (finite, positive reflectances) 0/1

The noise level is a robust standard deviation of the MBMP difference between horizontally
adjacent pixels, sigma_MBMP = 1.4826 MAD(MBMP_i,j - MBMP_i,j+1) / sqrt(2). Plumes, surfaces
and confounders are smooth on the 20 m grid and mostly cancel in the difference, so it measures
the pixel-scale noise of the retrieval: sensor noise plus the texture left by misregistration.
It is ~0.4 % over a desert at in-flight noise and ~0.8 % at the MSI requirement, more over
vegetation and towns. It is a scene-wide constant (one value from the scene's subsample), not a
local estimate: a local one would rise on plume edges and hide the plume it measures.

Every channel is clipped to [-10, 10] and set to 0 where the pixel is invalid. The scene-wide
constants (c_t, c_r and the medians) are fitted on a regular subsample of at most ~1e6 valid
pixels (:func:`scene_constants`), so the features of a 5490 x 5490 tile can be computed block
by block (:func:`compute_features` on windows) in bounded memory.

One implementation: the arithmetic lives in :mod:`.features_torch`, batched in torch, which the
training stream calls on its device; the NumPy-facing functions here (used by ``detect``) only
convert arrays and call it on a batch of one on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from eoforge.core.errors import InputError, ShapeError
from eoforge.methane.detector import features_torch as ft
from eoforge.methane.physics import air_mass_factor

SWIR = ("B11", "B12")
DEFAULT_CONTEXT = ("B8A", "B04")
_LOG_REF = ft.LOG_REF
_CLIP = ft.CLIP
_MAX_FIT_PIXELS = 1_000_000


def channel_names(
    context: Sequence[str] = DEFAULT_CONTEXT,
    smooth: float = 0.0,
    noise: bool = False,
    reference_dates: int = 1,
) -> list[str]:
    """Names of the input channels for these context bands and reference dates (module docstring).

    Args:
        context: Context bands whose temporal change is a channel.
        smooth: Sigma of the smoothed MBMP column channel (0: no such channel).
        noise: With the MBMP noise-level channel.
        reference_dates: K; K > 1 adds the reference-stack channels.
    """
    stack = ["mbmp_stack", "spread_stack", *(f"d{b}_stack" for b in context)]
    return (
        ["lnB11_t", "lnB12_t", "lnB11_r", "lnB12_r", "dB11", "dB12", "mbsp", "mbmp",
         "col_mbmp", "col_mbsp"]
        + [f"d{b}" for b in context]
        + (stack if reference_dates > 1 else [])
        + (["col_mbmp_smooth"] if smooth > 0 else [])
        + (["noise"] if noise else [])
        + ["valid"]
    )  # fmt: skip


def n_channels(
    context: Sequence[str] = DEFAULT_CONTEXT,
    smooth: float = 0.0,
    noise: bool = False,
    reference_dates: int = 1,
) -> int:
    """Number of input channels C (the arguments of :func:`channel_names`)."""
    return len(channel_names(context, smooth, noise, reference_dates))


@dataclass(frozen=True)
class SceneConstants:
    """Scene-wide constants of the features (module docstring)."""

    c_t: float
    c_r: float
    med_mbsp: float
    med_mbmp: float
    med_change: dict[str, float]
    amf: float
    noise: float = 0.0
    valid_fraction: float = 1.0
    stack: dict[str, list[float] | list[list[float]]] | None = None
    """With several reference dates: the :data:`.features_torch.STACK_KEYS` as lists."""


def check_pair(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    context: Sequence[str] = DEFAULT_CONTEXT,
) -> tuple[int, int]:
    """Check that both dates hold the needed bands on one grid; return the grid (H, W).

    Raises:
        InputError: If a band is missing.
        ShapeError: If bands or dates disagree in shape.
    """
    needed = list(SWIR) + list(context)
    for name, bands in (("target", target), ("reference", reference)):
        missing = [b for b in needed if b not in bands]
        if missing:
            raise InputError(
                f"the {name} image lacks bands {missing} (it has {sorted(bands)}); the detector "
                f"needs {needed}. Pass a GeoTIFF whose band descriptions name them."
            )
    shapes = {f"{n}.{b}": np.shape(d[b]) for n, d in (("target", target),
              ("reference", reference)) for b in needed}  # fmt: skip
    if len(set(shapes.values())) != 1:
        raise ShapeError(
            f"target and reference bands must share one grid, got shapes {shapes}; resample or "
            "crop them to the same 20 m grid first."
        )
    shape = next(iter(shapes.values()))
    if len(shape) != 2:
        raise ShapeError(f"bands must be 2-D (H, W) arrays, got shape {shape}.")
    return int(shape[0]), int(shape[1])


def valid_pixels(*arrays: np.ndarray) -> np.ndarray:
    """Pixels the detector can use: finite, positive reflectance in every band given."""
    ok = np.ones(arrays[0].shape, dtype=bool)
    for a in arrays:
        ok &= np.isfinite(a) & (a > 0)
    return ok


def _subsample(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    bands: Sequence[str],
    step: int,
) -> tuple[torch.Tensor, ...]:
    """Regular subsamples of both dates and the SWIR right neighbours of their pixels.

    Returns:
        (t, r, t_right, r_right): (1, nb, h, w) subsamples of both dates (every ``step`` rows
        and columns) and the (1, 2, h, wn) SWIR right neighbours of their first wn columns
        (the noise pairs), in the bands' common dtype (the constants are fitted in float64,
        converted exactly from it).
    """
    w = np.shape(target["B11"])[1]
    right = np.arange(0, w - 1, step) + 1
    every = slice(None, None, step)
    return (_grab(target, bands, every, step), _grab(reference, bands, every, step),
            _grab(target, SWIR, right, step), _grab(reference, SWIR, right, step))  # fmt: skip


def _grab(
    d: Mapping[str, np.ndarray], names: Sequence[str], cols: slice | np.ndarray, step: int
) -> torch.Tensor:
    """(1, nb, h, w) bands ``names`` of every ``step``-th row at columns ``cols``."""
    out = np.stack([np.asarray(d[b][::step][:, cols]) for b in names])[None]
    return torch.from_numpy(out if out.dtype in (np.float32, np.float64) else
                            out.astype(np.float64))  # fmt: skip


def scene_constants(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    sza: float,
    vza: float,
    context: Sequence[str] = DEFAULT_CONTEXT,
    references: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> SceneConstants:
    """Fit the scene-wide constants c_t, c_r and the medians on a subsample of valid pixels.

    :func:`.features_torch.scene_constants` on a batch of one, on the CPU; with several
    ``references`` (K > 1 dates, the first being ``reference``) their stack constants too.

    Args:
        target: Target-date bands, band name -> (H, W) reflectance.
        reference: Reference-date bands on the same grid.
        sza: Solar zenith angle (degrees).
        vza: Viewing zenith angle (degrees).
        context: Context bands.
        references: K > 1 reference dates (the first being ``reference``).

    Raises:
        InputError: If fewer than 100 sampled pixels are valid in both dates.
    """
    h, w = check_pair(target, reference, context)
    step = ft.fit_step(h, w, _MAX_FIT_PIXELS)
    bands = list(SWIR) + list(context)
    t, r, t_right, r_right = _subsample(target, reference, bands, step)
    n_ok = int(ft.valid_pixels(t, r).sum())
    if n_ok < 100:
        raise InputError(
            f"only {n_ok} sampled pixels are valid (finite, positive reflectance) in "
            "both dates; check the no-data value and the cloud cover of the pair."
        )
    amf = torch.tensor([float(air_mass_factor(sza, vza))], dtype=torch.float64)
    c = ft.scene_constants(t, r, t_right, r_right, amf)
    stack = None
    if references is not None and len(references) > 1:
        for ref in references:
            check_pair(target, ref, context)
        every = slice(None, None, step)
        refs = torch.stack([_grab(d, bands, every, step)[0] for d in references])[None]
        stack = {k: v[0].tolist() for k, v in ft.stack_constants(t, refs, c["c_t"]).items()}
    one = {k: v[0] for k, v in c.items()}  # the batch's one item
    return SceneConstants(
        c_t=float(one["c_t"]), c_r=float(one["c_r"]), med_mbsp=float(one["med_mbsp"]),
        med_mbmp=float(one["med_mbmp"]),
        med_change=dict(zip(bands, one["med_change"].tolist(), strict=True)),
        amf=float(one["amf"]), noise=float(one["noise"]),
        valid_fraction=float(one["valid_fraction"]), stack=stack,
    )  # fmt: skip


def constants_tensors(
    const: SceneConstants, context: Sequence[str] = DEFAULT_CONTEXT
) -> dict[str, torch.Tensor]:
    """The :class:`SceneConstants` as the batch-of-one tensors of :mod:`.features_torch`."""
    bands = list(SWIR) + list(context)
    one = {k: torch.tensor([float(getattr(const, k))], dtype=torch.float64)
           for k in ft.CONSTANT_KEYS if k != "med_change"}  # fmt: skip
    one["med_change"] = torch.tensor([[const.med_change[b] for b in bands]], dtype=torch.float64)
    for k, v in (const.stack or {}).items():
        one[k] = torch.tensor([v], dtype=torch.float64)
    return one


def compute_features(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    const: SceneConstants,
    window: tuple[slice, slice] | None = None,
    context: Sequence[str] = DEFAULT_CONTEXT,
    smooth: float = 0.0,
    noise: bool = False,
    references: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> np.ndarray:
    """Features (C, h, w) float32 of ``window`` (default: whole grid) given the scene constants.

    :func:`.features_torch.features` on a batch of one, on the CPU. The smoothed channel sees
    only the window, so it differs from the whole-image one within ~3 ``smooth`` pixels of the
    window edges, where tiled inference gives zero weight anyway.

    Args:
        target: Target-date bands, band name -> (H, W) reflectance.
        reference: Reference-date bands on the same grid.
        const: The scene constants (:func:`scene_constants`).
        window: (rows, cols) slices of the grid.
        context: Context bands.
        smooth: Sigma of the smoothed MBMP column channel (0: none).
        noise: Add the MBMP noise-level channel.
        references: K > 1 reference dates (the first being ``reference``; ``const`` then has
            their stack constants): adds the stack channels.
    """
    win = (slice(None), slice(None)) if window is None else window
    bands = list(SWIR) + list(context)

    def date(d: Mapping[str, np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(d[b][win], dtype=np.float32)
                                          for b in bands]))[None]  # fmt: skip

    refs = None
    if references is not None and len(references) > 1:
        if const.stack is None:
            raise InputError(
                "the scene constants lack the reference stack's: fit them with "
                "scene_constants(..., references=) on the same references."
            )
        refs = torch.stack([date(d)[0] for d in references])[None]  # (1, K, nb, h, w)
    x = ft.features(date(target), date(reference), constants_tensors(const, context), smooth,
                    noise, refs)  # fmt: skip
    return x[0].numpy()


def build_inputs(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    sza: float,
    vza: float,
    context: Sequence[str] = DEFAULT_CONTEXT,
    smooth: float = 0.0,
    noise: bool = False,
    references: Sequence[Mapping[str, np.ndarray]] | None = None,
) -> np.ndarray:
    """Detector inputs (C, H, W) float32 of a scene pair (module docstring).

    Args:
        target: Target-date bands, band name -> (H, W) reflectance (needs B11, B12 and
            ``context``).
        reference: Reference-date (plume-free) bands on the same grid.
        sza: Solar zenith angle (degrees).
        vza: Viewing zenith angle (degrees).
        context: Extra bands whose temporal change is given to the network.
        smooth: Sigma (pixels) of the smoothed MBMP column channel (0: no such channel).
        noise: Add the scene's MBMP noise-level channel.
        references: K > 1 reference dates (the first being ``reference``): adds the stack
            channels.

    Returns:
        (C, H, W) float32 array, channels named by :func:`channel_names`.
    """
    const = scene_constants(target, reference, sza, vza, context, references)
    return compute_features(target, reference, const, None, context, smooth, noise, references)
