"""Synthetic Sentinel-1 wave-mode (WV) imagettes with the ten TenGeoP-SARwv phenomena.

An imagette is built in five steps (all vectorised over blocks of imagettes):

1. a sea state per imagette (wind, wind sea and swell; :func:`eoforge.sar.phenomena.sample_sea_state`);
2. a sea surface from the sum of two directional JONSWAP spectra (:mod:`eoforge.sar.spectra`),
   whose significant wave height ``Hs = 4 sqrt(m0)`` is the ``hs`` target;
3. its SAR image by the quasi-linear transfer (tilt + hydrodynamic + velocity bunching, azimuth
   cutoff), applied as ``sigma = sigma0 exp(m - var(m)/2)`` (positive, mean-preserving);
4. the mean backscatter from the local wind by :func:`nrcs_vv` and the class pattern
   (:mod:`eoforge.sar.phenomena`), plus the noise floor ``NESZ`` (-25 dB);
5. multiplicative speckle ``Gamma(L, 1/L)`` with ``L = looks`` (ENL = L).

Geometry: pixel 50 m by default (the resolution OceanSAR-1 was trained at; real WV imagettes are
20 km at 5 m and are block-averaged to it), incidence 36.5 deg (WV2), ``beta = R/V = 115 s``.
The ``wind_speed`` target is the imagette-mean surface wind (after the pattern's local changes).

Class prior ``"long-tail"``: Zipf ``p_r ∝ r^-1.7`` over the ranks in :data:`LONG_TAIL_RANK`
(pure waves 56 %, ..., icebergs 1.1 %), a heavy tail like the real WV archive's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.atomic import atomic_write_with
from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.core.seeding import RandomState, as_generator
from eoforge.sar import phenomena, spectra

CLASSES: tuple[str, ...] = (
    "pure_ocean_waves",
    "wind_streaks",
    "micro_convective_cells",
    "rain_cells",
    "biological_slicks",
    "sea_ice",
    "icebergs",
    "low_wind_area",
    "atmospheric_front",
    "oceanic_front",
)
"""The ten TenGeoP-SARwv classes, in label order."""

LONG_TAIL_RANK: dict[str, int] = {
    "pure_ocean_waves": 1,
    "wind_streaks": 2,
    "micro_convective_cells": 3,
    "low_wind_area": 4,
    "rain_cells": 5,
    "atmospheric_front": 6,
    "biological_slicks": 7,
    "sea_ice": 8,
    "oceanic_front": 9,
    "icebergs": 10,
}
"""Frequency rank of each class in the ``"long-tail"`` prior (1 = most common)."""

ZIPF_EXPONENT = 1.7
NESZ_DB = -25.0
_BLOCK = 256


def class_prior(prior: str | Sequence[float] = "long-tail") -> np.ndarray:
    """Class probabilities ``(10,)`` in :data:`CLASSES` order.

    Args:
        prior: ``"long-tail"`` (Zipf ``r^-1.7`` over :data:`LONG_TAIL_RANK`), ``"uniform"``, or
            ten non-negative weights (normalised).
    """
    if isinstance(prior, str):
        if prior == "uniform":
            return np.full(len(CLASSES), 1.0 / len(CLASSES))
        if prior == "long-tail":
            w = np.array([LONG_TAIL_RANK[c] ** -ZIPF_EXPONENT for c in CLASSES])
            return w / w.sum()
        raise bad_value("class_prior", prior, "'long-tail', 'uniform' or 10 weights")
    w = np.asarray(prior, dtype=np.float64)
    if w.shape != (len(CLASSES),) or not np.all(np.isfinite(w)) or w.min() < 0 or w.sum() <= 0:
        raise bad_value(
            "class_prior", prior, f"{len(CLASSES)} non-negative weights with a positive sum"
        )
    return w / w.sum()


def nrcs_vv(
    wind: np.ndarray, incidence_deg: float = 36.5, phi: np.ndarray | float = 0.0
) -> np.ndarray:
    """CMOD-like C-band VV NRCS (linear) versus 10-m wind speed.

    ``sigma0 = s_ref(theta) (U/10)^gamma(theta) U^4/(U^4 + 2^4) (1 + 0.1 cos phi + 0.25 cos 2 phi)``
    with ``s_ref`` = ``-13 - 0.45 (theta - 36.5)`` dB and ``gamma = 1.2 + 0.017 theta`` (theta in deg),
    ``phi`` the wind direction relative to the look direction. Strictly increasing in ``U`` at
    fixed ``theta, phi``: upwind at 36.5 deg about -22 dB at 3 m/s, -11.7 dB at 10 m/s and
    -6.2 dB at 20 m/s (-13 dB at 10 m/s averaged over directions);
    the ``U^4/(U^4+16)`` factor is the loss of Bragg waves below ~2 m/s.
    """
    u = np.maximum(np.asarray(wind, dtype=np.float64), 1e-3)
    s_ref = 10.0 ** ((-13.0 - 0.45 * (incidence_deg - 36.5)) / 10.0)
    gamma = 1.2 + 0.017 * incidence_deg
    directional = 1.0 + 0.1 * np.cos(phi) + 0.25 * np.cos(2.0 * np.asarray(phi))
    return s_ref * (u / 10.0) ** gamma * u**4 / (u**4 + 16.0) * directional


@dataclass(frozen=True, eq=False)  # arrays: compare fields explicitly, hash by identity
class WVSet:
    """A set of WV imagettes with labels and geophysical targets.

    Attributes:
        images: ``(n, H, W)`` float32 linear sigma0 (> 0).
        labels: ``(n,)`` int64 class indices into ``classes`` (-1 = unlabelled).
        wind_speed: ``(n,)`` float32 wind speed (m/s), NaN if unknown.
        hs: ``(n,)`` float32 significant wave height (m), NaN if unknown.
        duplicate_of: ``(n,)`` int64 index of the imagette this one nearly copies, -1 if none.
        classes: Class names.
        attrs: Free metadata (generator parameters, source folder, ...), JSON-safe.
        incidence: Optional ``(n,)`` float32 incidence angle (deg) of each imagette, i.e. its
            beam (WV1 ~ 23.5, WV2 ~ 36.5); ``None`` if unknown.
    """

    images: np.ndarray
    labels: np.ndarray
    wind_speed: np.ndarray
    hs: np.ndarray
    duplicate_of: np.ndarray
    classes: tuple[str, ...] = CLASSES
    attrs: Mapping[str, Any] = field(default_factory=dict)
    incidence: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.images.ndim != 3:
            raise ShapeError(f"images must be (n, H, W); got shape {self.images.shape}.")
        n = self.images.shape[0]
        for name in ("labels", "wind_speed", "hs", "duplicate_of", "incidence"):
            arr = getattr(self, name)
            if arr is not None and arr.shape != (n,):
                raise ShapeError(f"{name} has shape {arr.shape}; expected ({n},) like images.")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, indices: Sequence[int] | np.ndarray) -> WVSet:
        """The imagettes at ``indices`` (order kept).

        ``duplicate_of`` is re-indexed (-1 when the original is not in the subset).
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise bad_value("indices", f"range [{idx.min()}, {idx.max()}]", f"in [0, {len(self)})")
        idx = idx % max(len(self), 1)
        new_pos = np.full(len(self), -1, dtype=np.int64)
        new_pos[idx] = np.arange(idx.size)
        dup = self.duplicate_of[idx]
        dup = np.where(dup >= 0, new_pos[np.maximum(dup, 0)], -1)
        inc = None if self.incidence is None else self.incidence[idx]
        return WVSet(self.images[idx], self.labels[idx], self.wind_speed[idx], self.hs[idx],
                     dup.astype(np.int64), self.classes, dict(self.attrs), inc)  # fmt: skip

    def class_counts(self) -> np.ndarray:
        """``(len(classes),)`` int64 number of imagettes per class (unlabelled ones not counted)."""
        lab = self.labels[self.labels >= 0]
        return np.bincount(lab, minlength=len(self.classes)).astype(np.int64)


def _render(
    name: str,
    b: int,
    grid: phenomena.Grid,
    rng: np.random.Generator,
    incidence: float,
    beta: float,
    looks: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``b`` imagettes of class ``name``: images ``(b, N, N)``, wind ``(b,)``, hs ``(b,)``."""
    kx, ky, dk = grid.k()
    st = phenomena.sample_sea_state(name, b, rng)
    sc_ws, mw_ws = spectra.jonswap_moments(st["ws_hs"], st["ws_wavelength"])
    sc_sw, mw_sw = spectra.jonswap_moments(st["sw_hs"], st["sw_wavelength"])
    f = spectra.directional_spectrum(
        kx, ky, st["ws_hs"], st["ws_wavelength"], st["wind_dir"], 2.0, scale=sc_ws
    )
    f += spectra.directional_spectrum(
        kx, ky, st["sw_hs"], st["sw_wavelength"], st["sw_dir"], st["sw_spread"], scale=sc_sw
    )
    a = spectra.random_amplitudes(f, dk, rng)  # (b, N, N) complex
    xi = np.hypot(
        spectra.azimuth_displacement_std(mw_ws, st["wind_dir"], 2.0, incidence, beta),
        spectra.azimuth_displacement_std(mw_sw, st["sw_dir"], st["sw_spread"], incidence, beta),
    )
    transfer = spectra.sar_transfer_function(kx, ky, incidence, beta)
    eff = phenomena.pattern(name, grid, st, rng)
    m = spectra.sar_modulation(a, transfer, ky, xi) * eff.wave_damping  # (b, N, N)
    wind = st["wind"][:, None, None] * eff.wind_factor
    sigma = nrcs_vv(wind, incidence, st["wind_dir"][:, None, None]) * eff.gain
    sigma *= np.exp(m - 0.5 * m.var(axis=(1, 2), keepdims=True))
    if eff.ice_fraction is not None:
        sigma = (1.0 - eff.ice_fraction) * sigma + eff.ice_fraction * eff.ice_sigma0
    sigma += 10.0 ** (NESZ_DB / 10.0)
    return speckle(sigma, looks, rng), wind.mean(axis=(1, 2)), st["hs"]


def speckle(intensity: np.ndarray, looks: float, rng: RandomState = None) -> np.ndarray:
    """Multiplicative fully developed speckle: ``I = sigma * n``, ``n ~ Gamma(L, 1/L)``.

    ``E[n] = 1`` and ``var(n) = 1/L``, so a homogeneous area has ``ENL = mean^2 / var = L``.

    Args:
        intensity: Noise-free intensities (any shape, >= 0).
        looks: Number of looks ``L > 0``.
        rng: Seed or generator.

    Returns:
        float32 speckled intensities, same shape.
    """
    if not looks > 0:
        raise bad_value("looks", looks, "a positive number of looks")
    gen = as_generator(rng)
    return (intensity * gen.gamma(looks, 1.0 / looks, np.shape(intensity))).astype(np.float32)


def _near_copies(
    images: np.ndarray, rng: np.random.Generator, max_shift: int = 2, noise: float = 0.05
) -> np.ndarray:
    """Copies shifted by up to ``max_shift`` pixels (circular) with ``noise`` multiplicative jitter."""
    out = np.empty_like(images)
    shifts = rng.integers(-max_shift, max_shift + 1, (len(images), 2))
    for i, (dy, dx) in enumerate(shifts):
        out[i] = np.roll(images[i], (int(dy), int(dx)), axis=(0, 1))
    return (out * np.exp(noise * rng.standard_normal(out.shape))).astype(np.float32)


def _check_synth(
    n: int,
    size: int,
    looks: int,
    duplicate_fraction: float,
    incidence: float | Sequence[float],
    beta: float,
) -> tuple[float, ...]:
    """Refuse bad :func:`synth_wv` arguments; the incidence angles (beams) as a tuple."""
    if not (isinstance(n, int | np.integer) and n >= 1):
        raise bad_value("n", n, "a positive int")
    if not (isinstance(size, int | np.integer) and 8 <= size <= 4096):
        raise bad_value("size", size, "an int in [8, 4096]", "Use e.g. --size 64.")
    if not (isinstance(looks, int | np.integer) and looks >= 1):
        raise bad_value("looks", looks, "an int >= 1 (equivalent number of looks)")
    if not (0.0 <= duplicate_fraction < 1.0):
        raise bad_value("duplicate_fraction", duplicate_fraction, "a float in [0, 1)")
    beams = tuple(float(a) for a in np.atleast_1d(np.asarray(incidence, dtype=np.float64)))
    if not beams or not all(0.0 < a < 60.0 for a in beams):
        raise bad_value("incidence", incidence, "one or more angles in (0, 60) degrees")
    if not (beta >= 0 and math.isfinite(beta)):
        raise bad_value("beta", beta, "a non-negative number of seconds")
    return beams


def _render_originals(
    n: int,
    labels: np.ndarray,
    beam: np.ndarray,
    beams: tuple[float, ...],
    grid: phenomena.Grid,
    rng: np.random.Generator,
    beta: float,
    looks: int,
    progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images ``(n, N, N)``, wind and Hs ``(n,)`` with the originals (``labels``) rendered first.

    Rendered class by class and beam by beam in blocks of ``_BLOCK``; the slots after the
    originals are left for the near-copies.
    """
    size = grid.size
    images = np.empty((n, size, size), dtype=np.float32)
    wind = np.empty(n, dtype=np.float32)
    hs = np.empty(n, dtype=np.float32)
    done = 0
    for c, name in enumerate(CLASSES):
        for b, angle in enumerate(beams):
            idx = np.flatnonzero((labels == c) & (beam == b))
            for start in range(0, idx.size, _BLOCK):
                block = idx[start : start + _BLOCK]
                img, w, h = _render(name, block.size, grid, rng, angle, beta, looks)
                images[block], wind[block], hs[block] = img, w, h
                done += block.size
                if progress is not None:
                    progress(done, n)
    return images, wind, hs


def synth_wv(
    n: int,
    *,
    size: int = 64,
    seed: RandomState = 0,
    class_prior: str | Sequence[float] = "long-tail",
    duplicate_fraction: float = 0.05,
    looks: int = 1,
    progress: Callable[[int, int], None] | None = None,
    pixel_size: float = 50.0,
    incidence: float | Sequence[float] = 36.5,
    beta: float = 115.0,
) -> WVSet:
    """Generate ``n`` synthetic WV imagettes (see the module docstring for the physics).

    Args:
        n: Number of imagettes (duplicates included).
        size: Pixels per side.
        seed: Seed or generator (same seed, same set).
        class_prior: ``"long-tail"``, ``"uniform"`` or ten class weights (:func:`class_prior`).
        duplicate_fraction: Share of the set made of near-copies (1-2 pixel shift, 5 % jitter) of
            other imagettes, recorded in ``duplicate_of``.
        looks: Number of looks ``L`` of the speckle ``Gamma(L, 1/L)``.
        progress: Optional ``progress(done, total)`` callback.
        pixel_size: Pixel spacing in metres.
        incidence: Incidence angle in degrees (WV1 ~ 23.5, WV2 ~ 36.5), or several angles
            (e.g. ``(23.5, 36.5)``, the alternating WV1/WV2 beams): each imagette then draws
            one uniformly; recorded in ``WVSet.incidence``.
        beta: Range-to-velocity ratio ``R/V`` in seconds (0 disables velocity bunching).

    Returns:
        The :class:`WVSet`.
    """
    beams = _check_synth(n, size, looks, duplicate_fraction, incidence, beta)
    prior = globals()["class_prior"](class_prior)
    rng = as_generator(seed)
    grid = phenomena.Grid(int(size), float(pixel_size))
    grid.k()  # validates pixel_size
    n_dup = round(duplicate_fraction * n) if n > 1 else 0
    n_orig = n - n_dup
    # bookkeeping draws first, so they do not depend on what rendering consumes
    labels = rng.choice(len(CLASSES), size=n_orig, p=prior).astype(np.int64)
    src = rng.integers(0, n_orig, n_dup)
    perm = rng.permutation(n)  # new position i holds old perm[i]
    beam = rng.integers(0, len(beams), n_orig) if len(beams) > 1 else np.zeros(n_orig, np.int64)
    images, wind, hs = _render_originals(
        n, labels, beam, beams, grid, rng, beta, int(looks), progress
    )
    images[n_orig:] = _near_copies(images[src], rng)
    wind[n_orig:], hs[n_orig:] = wind[src], hs[src]
    labels = np.concatenate([labels, labels[src]])
    angles = np.asarray(beams, dtype=np.float32)[np.concatenate([beam, beam[src]])]
    dup = np.concatenate([np.full(n_orig, -1, np.int64), src.astype(np.int64)])
    inv = np.argsort(perm)
    dup = dup[perm]
    dup = np.where(dup >= 0, inv[np.maximum(dup, 0)], -1)
    if progress is not None:
        progress(n, n)
    attrs = dict(source="eoforge.sar.wv.synth_wv", pixel_size=float(pixel_size),
                 incidence=list(beams), beta=float(beta), looks=int(looks),
                 class_prior=prior.tolist(), duplicate_fraction=float(duplicate_fraction),
                 seed=seed if isinstance(seed, int) else None)  # fmt: skip
    return WVSet(images[perm], labels[perm], wind[perm], hs[perm], dup.astype(np.int64),
                 CLASSES, attrs, angles[perm])  # fmt: skip


def _example_title(wvset: WVSet, i: int, c: int) -> str:
    """``class`` and, where known, the imagette's wind speed U10 (m/s) and Hs (m)."""
    name = wvset.classes[c].replace("_", " ") if c >= 0 else "unlabelled"
    known = [
        f"{sym} {float(v[i]):.1f} {unit}"
        for sym, v, unit in (("U10", wvset.wind_speed, "m/s"), ("Hs", wvset.hs, "m"))
        if v is not None and np.isfinite(v[i])
    ]
    return f"{name}\n{', '.join(known)}" if known else name


def plot_examples(wvset: WVSet, path: str | Path, *, seed: RandomState = 0) -> Path:
    """Save a figure with one imagette (in dB) per class present, written atomically.

    Args:
        wvset: The imagettes.
        path: Output image (``.png``, ``.pdf``, ...).
        seed: Picks which example of each class is shown.

    Returns:
        ``path``.
    """
    import matplotlib.pyplot as plt

    fig = examples_figure(wvset, seed=seed)
    out = Path(path)
    atomic_write_with(out, lambda tmp: fig.savefig(tmp, dpi=110))
    plt.close(fig)
    return out


def examples_figure(wvset: WVSet, *, seed: RandomState = 0) -> Any:
    """The figure of :func:`plot_examples`: one imagette per class in dB, each with a colourbar.

    Each is titled with its class, U10 (m/s) and Hs (m); "synthetic" in the title for generated
    sets.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if len(wvset) == 0:
        raise InputError("wvset is empty: nothing to plot.")
    rng = as_generator(seed)
    present = [c for c in range(len(wvset.classes)) if np.any(wvset.labels == c)]
    picks = [int(rng.choice(np.flatnonzero(wvset.labels == c))) for c in present]
    if not picks:
        picks, present = [0], [-1]
    ncol = min(5, len(picks))
    nrow = math.ceil(len(picks) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 2.5 * nrow), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i, c in zip(axes.ravel(), picks, present, strict=False):
        db = 10.0 * np.log10(np.maximum(wvset.images[i], 1e-6))
        lo, hi = np.percentile(db, [1, 99])
        im = ax.imshow(db, cmap="gray", vmin=lo, vmax=hi)
        cbar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
        cbar.ax.tick_params(labelsize=6)
        cbar.set_label("sigma0 (dB)", fontsize=6)
        ax.set_title(_example_title(wvset, i, c), fontsize=7)
    if wvset.attrs.get("source") == "eoforge.sar.wv.synth_wv":
        fig.suptitle("synthetic WV imagettes (one per class)", fontsize=9)
    fig.tight_layout()
    return fig
