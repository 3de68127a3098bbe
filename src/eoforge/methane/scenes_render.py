"""Rendering core of the synthetic scene pairs: :class:`ScenePair` and the band-by-band pipeline.

The pipeline and its defaults are documented in :mod:`eoforge.methane.scenes`, the public entry
point (:func:`~eoforge.methane.scenes.simulate_pair`,
:func:`~eoforge.methane.scenes.simulate_plume_pair`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from eoforge.core.errors import InputError, bad_value
from eoforge.methane.physics import SATELLITES, air_mass_factor, inject_plume
from eoforge.methane.scenes_effects import (
    NoiseSource,
    apply_confounders,
    clouds,
    confounders,
    water_mask,
)
from eoforge.methane.scenes_fields import power_law_fields, shift_image
from eoforge.methane.scenes_spectra import (
    CLOUD_SPECTRUM,
    CONFOUNDERS,
    PATH_REFLECTANCE,
    S2_BANDS,
    SHADOW_DIFFUSE,
    noise_sigma,
    spectrum,
)
from eoforge.methane.scenes_surface import SURFACES, make_surface

VAPOUR_LOADING = (0.0, 0.0, 0.0, 0.05, 0.35, 1.0)
"""Relative response of each band to the between-date atmospheric/BRDF residual field [INF:
water-vapour absorption is strongest in B12, weaker in B11, negligible in the VNIR]."""
_WATER_DEFAULT = {"desert": 0.0, "semi-arid": 0.01, "vegetated": 0.03, "urban": 0.02}
_MASK_KEYS = ("cloud_target", "cloud_reference", "shadow_target", "shadow_reference", "water")


@dataclass(frozen=True)
class ScenePair:
    """A simulated target/reference pair of Sentinel-2 20 m scenes.

    Attributes:
        target: Band name -> (H, W) float32 TOA-like reflectance of the target date.
        reference: Same for the earlier, plume-free reference date.
        valid: (H, W) bool, clear land on both dates (no cloud, cloud shadow or water).
        sza: Solar zenith angle of the target date (degrees).
        vza: Viewing zenith angle (degrees).
        surface: Surface type.
        metadata: Everything drawn (geometry, gains, clouds, confounders, seed...).
        masks: (H, W) bool masks: cloud_target, cloud_reference, shadow_target,
            shadow_reference, water, confounder.
    """

    target: dict[str, np.ndarray]
    reference: dict[str, np.ndarray]
    valid: np.ndarray
    sza: float
    vza: float
    surface: str
    metadata: dict = field(default_factory=dict)
    masks: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Grid (H, W)."""
        return self.valid.shape

    @property
    def amf(self) -> float:
        """Two-way air-mass factor 1/cos(SZA) + 1/cos(VZA) of the target date."""
        return float(air_mass_factor(self.sza, self.vza))

    def stack(self, date: str = "target", bands: Sequence[str] = ("B11", "B12")) -> np.ndarray:
        """(C, H, W) float32 stack of ``bands`` of ``date`` ("target" or "reference")."""
        src = {"target": self.target, "reference": self.reference}.get(date)
        if src is None:
            raise bad_value("date", date, "'target' or 'reference'")
        missing = [b for b in bands if b not in src]
        if missing:
            raise InputError(f"bands {missing} were not simulated; pass bands=... to simulate.")
        return np.stack([src[b] for b in bands])


def _check_fraction(name: str, value: float) -> float:
    v = float(value)
    if not 0.0 <= v < 1.0:
        raise bad_value(name, value, "a fraction in [0, 1)")
    return v


def _options(
    surface, cloud_fraction, confounders_, time_gap_days, bands, satellite, rng, rng_kinds
):
    if surface is None:
        surface = SURFACES[int(rng.integers(len(SURFACES)))]
    if surface not in SURFACES:
        raise bad_value("surface", surface, f"one of {SURFACES} (or None for a random one)")
    cf = cloud_fraction if isinstance(cloud_fraction, tuple | list) else (cloud_fraction,) * 2
    if len(cf) != 2:
        raise bad_value("cloud_fraction", cloud_fraction, "a fraction or (target, reference)")
    cf = tuple(_check_fraction("cloud_fraction", v) for v in cf)
    if isinstance(confounders_, bool | int | np.integer):
        if int(confounders_) < 0:
            raise bad_value("confounders", confounders_, "a count >= 0 or a list of kinds")
        kinds = [str(k) for k in rng_kinds.choice(list(CONFOUNDERS), size=int(confounders_))]
    else:
        kinds = [str(k) for k in confounders_]
        bad = [k for k in kinds if k not in CONFOUNDERS]
        if bad:
            raise bad_value("confounders", bad, f"kinds among {tuple(CONFOUNDERS)} or a count")
    gap = float(time_gap_days)
    if not np.isfinite(gap) or gap < 0:
        raise bad_value("time_gap_days", time_gap_days, "a number of days >= 0")
    bad_bands = [b for b in bands if b not in S2_BANDS]
    if bad_bands or not bands:
        raise bad_value("bands", bands, f"a non-empty subset of {S2_BANDS}")
    if satellite not in SATELLITES:
        raise bad_value("satellite", satellite, f"one of {SATELLITES}")
    return surface, cf, kinds, gap


def _angle(name: str, value: float | None, lo: float, hi: float, rng) -> float:
    if value is None:
        return float(rng.uniform(lo, hi))
    v = float(value)
    if not 0.0 <= v < 90.0:
        raise bad_value(name, value, "a zenith angle in degrees within [0, 90)")
    return v


def _simulate(shape, surface, seed, opts, plume=None) -> tuple[ScenePair, dict]:
    """Render a pair; ``plume(valid_target, amf, rng) -> column`` injects methane if given."""
    if len(tuple(shape)) != 2 or any(int(n) != n or n < 8 for n in shape):
        raise bad_value("shape", shape, "(H, W) with ints >= 8")
    shape = (int(shape[0]), int(shape[1]))
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(0, 2**31 - 1))
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise bad_value("seed", seed, "a non-negative int")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(8)]
    g_opt, g_surf, g_water, g_cloud, g_conf, g_rad, g_noise, g_plume = streams
    if opts.get("date_seed") is not None:  # another revisit of the same site
        ds = opts["date_seed"]
        if not isinstance(ds, int | np.integer) or isinstance(ds, bool) or ds < 0:
            raise bad_value("date_seed", ds, "a non-negative int (or None)")
        per_date = np.random.SeedSequence([int(seed), int(ds)]).spawn(5)
        g_cloud, g_conf, g_rad, g_noise, g_plume = (np.random.default_rng(s) for s in per_date)
    surface, cf, kinds, gap = _options(
        surface, opts["cloud_fraction"], opts["confounders"], opts["time_gap_days"],
        opts["bands"], opts["satellite"], g_opt, g_conf,
    )  # fmt: skip
    sza = _angle("sza", opts["sza"], 20.0, 60.0, g_opt)
    vza = _angle("vza", opts["vza"], 0.0, 11.0, g_opt)
    saa = float(g_opt.uniform(100.0, 260.0) if opts["saa"] is None else opts["saa"])
    sza_ref = float(np.clip(sza + g_opt.normal(0.0, 4.0), 5.0, 75.0))
    change = float(min(1.0, np.sqrt(gap / 30.0)))
    amf = float(air_mass_factor(sza, vza))
    px = float(opts["pixel_size"])

    surf = make_surface(surface, shape, g_surf, change, sza, sza_ref, saa)
    wf = _WATER_DEFAULT[surface] if opts["water_fraction"] is None else opts["water_fraction"]
    water = water_mask(shape, g_water, _check_fraction("water_fraction", wf))
    cloud_t, shadow_t, cinfo_t = clouds(shape, g_cloud, cf[0], sza, saa, px)
    cloud_r, shadow_r, cinfo_r = clouds(shape, g_cloud, cf[1], sza_ref, saa, px)
    masks = {k: np.zeros(shape, dtype=bool) for k in (*_MASK_KEYS, "confounder")}
    masks["water"] = water
    for key, a in (("cloud_target", cloud_t), ("cloud_reference", cloud_r)):
        if a is not None:
            masks[key] = a > 0.0
    for key, a, c in (("shadow_target", shadow_t, "cloud_target"),
                      ("shadow_reference", shadow_r, "cloud_reference")):  # fmt: skip
        if a is not None:
            masks[key] = (a > 0.0) & ~masks[c]
    clear_t = ~(masks["cloud_target"] | masks["shadow_target"] | water)
    valid = clear_t & ~(masks["cloud_reference"] | masks["shadow_reference"])
    patches = confounders(shape, g_conf, kinds, allowed=~water)
    for p in patches:
        masks["confounder"][p["window"]] |= p["weights"] > 0.0
    column = plume(clear_t, amf, g_plume) if plume is not None else None
    cloud_t, shadow_t, cloud_r, shadow_r = (
        None if x is None else (np.flatnonzero(x), x.ravel()[np.flatnonzero(x)])
        for x in (cloud_t, shadow_t, cloud_r, shadow_r)
    )

    gain = 1.0 + g_rad.normal(0.0, 0.02 * change) + g_rad.normal(0.0, 0.004 * change, 6)
    path_scale = 1.0 + g_rad.normal(0.0, 0.05, 2)
    shift = (
        g_rad.normal(0.0, opts["misregistration_px"], 2) if opts["misregistration_px"] else (0, 0)
    )
    vapour = None
    if opts["atmosphere_std"] > 0:
        vapour = power_law_fields(shape, 3.5, g_rad, n=1)[0]
        vapour *= np.float32(opts["atmosphere_std"])
    noise = NoiseSource(shape, g_noise)
    water_spec = spectrum("water") * surf.texture[water][:, None] if water.any() else None
    out: dict[str, dict[str, np.ndarray]] = {"target": {}, "reference": {}}
    for b in opts["bands"]:
        i = S2_BANDS.index(b)
        for d, date in enumerate(("target", "reference")):
            r = surf.band(i, date)
            if water_spec is not None:
                r[water] = water_spec[:, i]
            if date == "target":
                apply_confounders(r, i, patches)
                if column is not None and b in ("B11", "B12"):
                    r = inject_plume({b: r}, column, amf, (b,), clear_t, opts["satellite"])[b]
                g = 1.0
            else:
                g = gain[i]
                if vapour is not None and VAPOUR_LOADING[i] > 0:
                    r *= 1.0 + np.float32(VAPOUR_LOADING[i]) * vapour
            r *= np.float32(g)
            r += np.float32(PATH_REFLECTANCE[i] * path_scale[d])
            a, s, info = (cloud_t, shadow_t, cinfo_t) if d == 0 else (cloud_r, shadow_r, cinfo_r)
            if s is not None:  # sparse: only the shadowed / cloudy pixels are touched
                j, sj = s
                r.ravel()[j] *= 1.0 - sj * np.float32(1.0 - SHADOW_DIFFUSE[i])
            if a is not None:
                j, aj = a
                top = np.float32(info["cloud_top_reflectance"] * CLOUD_SPECTRUM[i])
                r.ravel()[j] += aj * (top - r.ravel()[j])
            if date == "reference":
                r = shift_image(r, float(shift[0]), float(shift[1]))
            if opts["noise_scale"] > 0:
                sig = noise_sigma(r, i, opts["noise_scale"])
                sig *= noise.draw()
                r += sig
            if opts["quantize"]:
                r *= np.float32(1e4)
                np.rint(r, out=r)
                r *= np.float32(1e-4)
            out[date][b] = np.clip(r, 0.0, 1.0, out=r)

    metadata = {
        "seed": int(seed), "surface": surface, "sza": sza, "vza": vza, "saa": saa,
        "sza_reference": sza_ref, "amf": amf, "time_gap_days": gap, "change": change,
        "satellite": opts["satellite"], "pixel_size": px, "cloud_fraction": cf,
        "gain_reference": gain.tolist(), "path_scale": path_scale.tolist(),
        "misregistration_px": [float(shift[0]), float(shift[1])],
        "clouds_target": cinfo_t, "clouds_reference": cinfo_r,
        "confounders": [{k: v for k, v in p.items() if k not in ("weights", "window")}
                        for p in patches],
        "surface_info": surf.info, "noise_scale": float(opts["noise_scale"]),
        "quantize": bool(opts["quantize"]), "bands": tuple(opts["bands"]),
    }  # fmt: skip
    pair = ScenePair(out["target"], out["reference"], valid, sza, vza, surface, metadata, masks)
    return pair, {"column": column, "clear_target": clear_t, "amf": amf}
