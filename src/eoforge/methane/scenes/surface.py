"""Surface layouts of the synthetic scenes: desert, semi-arid, vegetated and urban, on two dates.

A surface is linear spectral mixing of end-members (:mod:`.spectra`) with spatial layouts
drawn from :mod:`.fields`, times a brightness texture common to all bands, so the bands are
correlated the way real ones are (same objects, different spectra):

    R_b(x) = [sum_k a_k(x) E_k,b] * S(x) * exp(sigma_t t_1(x)) * (1 + sigma_s l_b t_2(x)) * G(x),

with abundances a_k (softmax of smooth power-law logits, or one-hot parcel classes), dune shading
S, fractal brightness texture t_1 (beta = 2.2, full resolution), a weak band-specific texture t_2
with loadings l_b, and a smooth local-change field G of the date.

* desert: sand / desert-pavement mixture with sun-shaded dune ridges, tracks and well pads;
* semi-arid: soil / dry grass / shrub mixture with tracks and pads (Permian-like);
* vegetated: rectangular field parcels (crop, bare, stubble, shrub, forest) with woodland patches
  and roads;
* urban: street grid of blocks with buildings (roof, concrete, asphalt, gardens) and parks.

The reference date differs by realistic amounts that grow with the time gap ``c = min(1,
sqrt(gap / 30 d))``: vegetation green-up or senescence (shrub logit shift), harvested or ploughed
parcels (a fraction ~0.8 % per day of parcels change class, capped at 25 %), a few new buildings,
a smooth local brightness change of ~1 % c, and dune shading under the other date's sun.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from eoforge.methane.scenes.fields import coords, hash_choice, parcels, power_law_fields
from eoforge.methane.scenes.spectra import ENDMEMBERS

SURFACES = ("desert", "semi-arid", "vegetated", "urban")
_NAMES = tuple(ENDMEMBERS)
_SPECTRA = np.asarray([ENDMEMBERS[n] for n in _NAMES], dtype=np.float32)  # (K, 6)
_TEXTURE_STD = {"desert": 0.05, "semi-arid": 0.07, "vegetated": 0.06, "urban": 0.12}


def _idx(name: str) -> int:
    return _NAMES.index(name)


@dataclass
class Surface:
    """Two-date surface model; :meth:`band` renders one band of one date on demand."""

    shape: tuple[int, int]
    texture: np.ndarray  # (H, W) brightness multiplier exp(sigma_t t_1), static
    spectral_texture: np.ndarray  # (H, W) standardised field t_2, static
    loadings: np.ndarray  # (6,) band loadings l_b * sigma_s
    labels: dict[str, np.ndarray] = field(default_factory=dict)  # date -> (H, W) int8 classes
    mix: dict[str, list[tuple[int, np.ndarray]]] = field(default_factory=dict)  # date -> weights
    overlay: tuple[np.ndarray, np.ndarray] | None = None  # (flat indices, (6,) spectrum)
    multiplier: dict[str, np.ndarray] = field(default_factory=dict)  # date -> S * G * texture
    info: dict = field(default_factory=dict)
    spectra: np.ndarray = field(default_factory=lambda: _SPECTRA)  # (K, 6) this scene's spectra

    def band(self, i: int, date: str) -> np.ndarray:
        """Surface reflectance of band index ``i`` on ``date`` ("target" or "reference")."""
        if date in self.labels:
            out = self.spectra[:, i][self.labels[date]]
        else:
            (k0, w0), *rest = self.mix[date]
            out = self.spectra[k0, i] * w0
            for k, w in rest:
                out += self.spectra[k, i] * w
        if self.overlay is not None:
            out.ravel()[self.overlay[0]] = self.overlay[1][i]
        out *= self.multiplier.get(date, self.texture)
        t2 = self.loadings[i] * self.spectral_texture
        t2 += 1.0
        out *= t2
        return out


def _softmax(logits: list[np.ndarray]) -> list[np.ndarray]:
    m = logits[0].copy()
    for lg in logits[1:]:
        np.maximum(m, lg, out=m)
    ex = [np.exp(lg - m) for lg in logits]
    inv = ex[0].copy()
    for e in ex[1:]:
        inv += e
    np.reciprocal(inv, out=inv)
    for e in ex:
        e *= inv
    return ex


def _tracks(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Flat indices of a few straight 1-pixel tracks and small square well pads (oil and gas)."""
    h, w = shape
    n_tiles = max(1.0, h * w / 256.0**2)
    idx: list[np.ndarray] = []
    for _ in range(int(min(12, rng.poisson(1.5 * n_tiles)))):
        t = rng.uniform(0, np.pi)
        centre = (rng.uniform(0, h), rng.uniform(0, w))
        s = np.arange(-np.hypot(h, w), np.hypot(h, w), 0.5)
        r = np.rint(centre[0] + s * np.sin(t)).astype(np.int64)
        c = np.rint(centre[1] + s * np.cos(t)).astype(np.int64)
        ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
        idx.append(r[ok] * w + c[ok])
    for _ in range(int(min(200, rng.poisson(2.0 * n_tiles)))):
        r0, c0, side = int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(3, 7))
        rr, cc = np.meshgrid(np.arange(r0, min(h, r0 + side)), np.arange(c0, min(w, c0 + side)))
        idx.append((rr * w + cc).ravel())
    return np.unique(np.concatenate(idx)) if idx else np.zeros(0, dtype=np.int64)


def _dunes(
    shape: tuple[int, int],
    rng: np.random.Generator,
    sand: np.ndarray,
    sza_t: float,
    sza_r: float,
    saa: float,
) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """Shading of dune ridges: 1 + A sin(2 pi u / lambda + phi(x)) cos(orient - saa) tan(sza)."""
    r, c = coords(shape)
    orient = rng.uniform(0.0, 180.0)
    lam = rng.uniform(12.0, 40.0)
    t = np.deg2rad(orient)
    u = r * np.float32(np.cos(t)) + c * np.float32(np.sin(t))
    meander = power_law_fields(shape, 3.5, rng, n=1)[0]
    slope = np.sin(2 * np.pi * u / lam + 1.5 * meander) * np.clip(sand, 0.0, 1.0)
    geom = np.cos(np.deg2rad(orient - saa))

    def shade(sza: float) -> np.ndarray:
        return (1.0 + 0.08 * geom * np.tan(np.deg2rad(sza)) * slope).astype(np.float32)

    return shade(sza_t), shade(sza_r), {"dune_orientation_deg": orient, "dune_wavelength_px": lam}


def _mixture_surface(
    surface: str,
    shape: tuple[int, int],
    rng: np.random.Generator,
    change: float,
    sza_t: float,
    sza_r: float,
    saa: float,
) -> Surface:
    """Desert or semi-arid surface: a softmax mixture of end-members with tracks and pads."""
    f = power_law_fields(shape, 3.2, rng, n=4)
    if surface == "desert":
        members = [_idx("sand"), _idx("gravel")]
        logits: list[np.ndarray] = [1.0 + 1.6 * f[0], np.zeros(shape, np.float32)]
        dyn = 0  # index into logits that changes between dates (sand drift)
        amp = 0.2
    else:
        members = [_idx("soil"), _idx("dry_grass"), _idx("shrub")]
        fine = power_law_fields(shape, 2.6, rng, n=1, corr_px=20.0)[0]
        logits = [0.6 + 1.0 * f[0], 0.2 + 1.0 * f[1], -0.8 + 0.9 * f[2] + 0.6 * fine]
        dyn, amp = 2, 0.6
    w_t = _softmax(logits)
    logits_r = list(logits)
    logits_r[dyn] = logits[dyn] + np.float32(amp * change * rng.choice([-1.0, 1.0])) * (
        0.5 + 0.5 * f[3]
    )
    w_r = _softmax(logits_r)
    track = _tracks(shape, rng)
    k_track = _idx("gravel") if surface == "desert" else _idx("soil")
    track_spec = 0.6 * _SPECTRA[_idx("concrete")] + 0.4 * _SPECTRA[k_track]
    s = Surface(shape, *_textures(surface, shape, rng))
    s.mix = {"target": list(zip(members, w_t, strict=True))}
    s.mix["reference"] = list(zip(members, w_r, strict=True))
    s.overlay = (track, track_spec)
    if surface == "desert":
        sh_t, sh_r, info = _dunes(shape, rng, w_t[0], sza_t, sza_r, saa)
        s.multiplier = {"target": sh_t * s.texture, "reference": sh_r * s.texture}
        s.info.update(info)
    return s


def _parcel_surface(
    surface: str, shape: tuple[int, int], rng: np.random.Generator, change: float
) -> Surface:
    """Vegetated or urban surface: one end-member per parcel, with woods/parks and roads."""
    if surface == "vegetated":
        ids, road = parcels(shape, rng, (10.0, 40.0), (8.0, 40.0), road_px=0.7)
        classes = np.array([_idx(n) for n in ("crop", "bare_field", "dry_grass", "shrub")])
        probs = np.array([0.45, 0.22, 0.18, 0.15])
        flip = min(0.25, 0.008 * 30.0 * change**2)
        wood = power_law_fields(shape, 3.2, rng, n=1)[0] > 1.0
        park_class, road_class = _idx("forest"), _idx("asphalt")
    else:
        ids, road = parcels(shape, rng, (5.0, 10.0), (5.0, 12.0), road_px=1.0)
        fine, _ = parcels(shape, rng, (1.5, 3.0), (1.5, 4.0), angle_deg=None)
        ids = ids * 7919 + fine
        classes = np.array([_idx(n) for n in ("roof", "concrete", "asphalt", "shrub", "soil")])
        probs = np.array([0.45, 0.25, 0.1, 0.12, 0.08])
        flip = 0.02 * change
        wood = power_law_fields(shape, 3.2, rng, n=1)[0] > 1.4
        park_class, road_class = _idx("crop"), _idx("asphalt")
    seed_t, seed_r = (int(x) for x in rng.integers(0, 2**62, size=2))
    lab_t = classes[hash_choice(ids, probs, seed_t)]
    changed = hash_choice(ids, np.array([1.0 - flip, flip]), seed_r ^ 0x5A5A) == 1
    lab_r = np.where(changed, classes[hash_choice(ids, probs, seed_r)], lab_t)
    labels = {}
    for date, lab in (("target", lab_t), ("reference", lab_r)):
        lab = np.where(wood, park_class, lab)
        labels[date] = np.where(road, road_class, lab).astype(np.int8)
    s = Surface(shape, *_textures(surface, shape, rng))
    s.labels = labels
    s.info["changed_parcel_fraction"] = float(flip)
    return s


def _textures(
    surface: str, shape: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Brightness texture exp(sigma_t t_1), spectral texture t_2 and band loadings l_b."""
    t1, t2 = power_law_fields(shape, 2.2, rng, n=2, corr_px=64.0, max_size=None)
    tex = np.exp(np.float32(_TEXTURE_STD[surface]) * t1).astype(np.float32)
    loadings = (0.015 * rng.standard_normal(6)).astype(np.float32)
    return tex, t2, loadings


def scene_spectra(rng: np.random.Generator) -> np.ndarray:
    """This scene's end-member spectra, drawn around the library values.

    The library values times (1 + 0.04 N(0, 1)) per band, and the SWIR-2 of soils, sands and pavements times U(0.88, 1.03) (clay and carbonate absorption
    near 2.2-2.3 um varies with the mineralogy), so B12/B11 of bare surfaces spans ~0.75-0.9.
    """
    spectra = _SPECTRA * (1.0 + 0.04 * rng.standard_normal(_SPECTRA.shape)).astype(np.float32)
    for name in ("sand", "gravel", "soil", "bare_field"):
        spectra[_idx(name), 5] *= np.float32(rng.uniform(0.88, 1.03))
    return spectra


def make_surface(
    surface: str,
    shape: tuple[int, int],
    rng: np.random.Generator,
    change: float,
    sza_target: float,
    sza_reference: float,
    saa: float,
) -> Surface:
    """Draw the two-date surface model (see module docstring).

    Args:
        surface: One of :data:`SURFACES`.
        shape: (H, W).
        rng: Generator.
        change: Amount of change between dates in [0, 1].
        sza_target: Solar zenith of the target date (degrees).
        sza_reference: Solar zenith of the reference date.
        saa: Solar azimuth (degrees clockwise from north).

    Returns:
        The :class:`Surface`.
    """
    spectra = scene_spectra(rng)
    if surface in ("desert", "semi-arid"):
        s = _mixture_surface(surface, shape, rng, change, sza_target, sza_reference, saa)
    else:
        s = _parcel_surface(surface, shape, rng, change)
    s.spectra = spectra
    if s.overlay is not None:
        s.overlay = (
            s.overlay[0],
            s.overlay[1] * spectra[_idx("concrete")] / _SPECTRA[_idx("concrete")],
        )
    g = power_law_fields(shape, 3.5, rng, n=1)[0]
    g *= np.float32(0.01 * change)
    g += 1.0
    s.multiplier.setdefault("target", s.texture)
    s.multiplier["reference"] = s.multiplier.get("reference", s.texture) * g
    return s
