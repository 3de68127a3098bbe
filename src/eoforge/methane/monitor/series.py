"""A synthetic monitoring archive with a known truth: sites x revisit dates, clouds, plumes.

Each site is one 20 m grid (UTM 32N, 60 km apart, so each site is its own grid and
:func:`~eoforge.methane.monitor.archive.scan_archive` finds one site per folder) with one surface
type (cycling through :data:`~eoforge.methane.scenes.surface.SURFACES`) and one persistent
source at a fixed pixel. Its dates are 5 days apart (the Sentinel-2 revisit). Every date is the
target date of :func:`eoforge.methane.scenes.simulate_plume_pair` (or ``simulate_pair`` when the
source is off) with the site's seed (same surface, water and geometry on every date) and the
date's ``date_seed`` (independent clouds, radiometry, noise and plume turbulence); the wind
blows at 3 m/s (``detect``'s default) from a direction drawn per date. The source stands on
land (water is the same on every date).

Truth per date: the source emits with probability ``plume_prob`` (never on the first date, which
is kept clear so that every site has a reference); a date is cloudy with probability
``cloud_prob``, with a cloud cover drawn in U(0.7, 0.9) (valid fraction 0.15-0.42 on the four
surfaces: never a usable reference at ``min_valid = 0.5``); other dates are cloud-free. A plume
under a cloud is not visible: ``plume_pixels`` says how much of it is (pixels of its mask on
clear land).

Known gap: the dates of one site share their surface exactly; only the noise, the path
reflectance, clouds and the plume differ, so the series is easier than real revisits (no
surface change, BRDF, gain or water-vapour change between dates).
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.warp import transform

from eoforge.core.atomic import atomic_write_json
from eoforge.core.errors import bad_value
from eoforge.io.raster import GeoInfo
from eoforge.methane import scenes
from eoforge.methane.monitor.archive import site_id
from eoforge.methane.pair_files import write_scene

START = datetime.date(2023, 1, 3)
REVISIT_DAYS = 5
CLOUDY_COVER = (0.7, 0.9)
WIND_SPEED = 3.0
_SITE_SPACING_M = 60000.0
_CRS = "EPSG:32632"


@dataclass(frozen=True)
class _Spec:
    """The options of a series (see :func:`simulate_series`)."""

    n_dates: int
    size: int
    cloud_prob: float
    plume_prob: float
    rate_kg_h: float


def _check(
    n_sites: int,
    n_dates: int,
    size: int,
    cloud_prob: float,
    plume_prob: float,
    rate_kg_h: float,
) -> None:
    for name, v, lo in (("n_sites", n_sites, 1), ("n_dates", n_dates, 1), ("size", size, 32)):
        if isinstance(v, bool) or int(v) != v or v < lo:
            raise bad_value(name, v, f"a whole number >= {lo}")
    for name, p in (("cloud_prob", cloud_prob), ("plume_prob", plume_prob)):
        if not 0.0 <= float(p) <= 1.0:
            raise bad_value(name, p, "a probability in [0, 1]")
    if not (np.isfinite(rate_kg_h) and rate_kg_h > 0):
        raise bad_value("rate_kg_h", rate_kg_h, "an emission rate > 0 kg/h")


def _lonlat(crs: str, x: float, y: float) -> tuple[float, float]:
    lon, lat = transform(crs, "EPSG:4326", [x], [y])
    return float(lon[0]), float(lat[0])


def simulate_series(
    out: Path,
    *,
    n_sites: int = 3,
    n_dates: int = 6,
    size: int = 256,
    seed: int = 0,
    cloud_prob: float = 0.2,
    plume_prob: float = 0.5,
    rate_kg_h: float = 4000.0,
) -> Path:
    """Write a synthetic archive (module docstring) and its ``truth.json``; returns ``out``.

    Layout: ``OUT/<site>/<site>_<YYYYMMDD>.tif`` (6 bands, tags ``ACQUISITION_DATE``, ``SZA``,
    ``VZA``, ``SURFACE``), with ``<site>`` the archive's site id of the grid, and ``OUT/truth.json``
    ``{"sources": [{"site", "lon", "lat", "rate_kg_h", "dates_emitting": [ISO...], "row", "col",
    "surface"}], "scenes": [{"path" (relative to OUT), "date", "site", "plume", "cloudy",
    "cloud_fraction", "plume_pixels", "wind_direction"}], ...}``.
    """
    _check(n_sites, n_dates, size, cloud_prob, plume_prob, rate_kg_h)
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise bad_value("seed", seed, "a non-negative int")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([int(seed), 14])
    spec = _Spec(int(n_dates), int(size), cloud_prob, plume_prob, rate_kg_h)
    sources, records = [], []
    for i in range(int(n_sites)):
        source, site_records = _simulate_site(out, i, spec, rng)
        sources.append(source)
        records += site_records
    truth = {
        "seed": int(seed), "size": int(size), "pixel_size_m": 20.0, "crs": _CRS,
        "wind_speed": WIND_SPEED, "cloud_prob": float(cloud_prob),
        "plume_prob": float(plume_prob), "sources": sources, "scenes": records,
    }  # fmt: skip
    atomic_write_json(out / "truth.json", truth)
    return out


def _simulate_site(
    out: Path, i: int, spec: _Spec, rng: np.random.Generator
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Site ``i``: its source record and the records of its dates (their scenes written)."""
    size = spec.size
    surface = scenes.SURFACES[i % len(scenes.SURFACES)]
    site_seed = int(rng.integers(0, 2**31 - 1))
    west, north = 300000.0 + _SITE_SPACING_M * i, 3512000.0 - 0.5 * _SITE_SPACING_M * i
    geo = GeoInfo.from_bounds(west=west, north=north, resolution=20.0, crs=_CRS)
    site = site_id(geo.crs, geo.transform, (size, size))
    land = ~scenes.simulate_pair((size, size), surface, site_seed).masks["water"]
    for _ in range(100):  # the source stands on land (a plume over water is not seen)
        row, col = (int(v) for v in rng.integers(int(0.3 * size), int(0.7 * size), 2))
        if land[row, col]:
            break
    lon, lat = _lonlat(_CRS, west + 20.0 * (col + 0.5), north - 20.0 * (row + 0.5))
    folder = out / site
    folder.mkdir(exist_ok=True)
    records = []
    for j in range(spec.n_dates):
        date = START + datetime.timedelta(days=REVISIT_DAYS * j)
        cloudy = j > 0 and rng.random() < spec.cloud_prob
        plume = j > 0 and rng.random() < spec.plume_prob
        cover = float(rng.uniform(*CLOUDY_COVER)) if cloudy else 0.0
        direction = float(rng.uniform(0.0, 360.0))
        if plume:
            pair, _, mask, _ = scenes.simulate_plume_pair(
                (size, size), surface, site_seed, emission_rate_kg_h=spec.rate_kg_h,
                wind_speed=WIND_SPEED, wind_direction=direction, source=(row, col),
                cloud_fraction=(cover, 0.0), date_seed=j + 1,
            )  # fmt: skip
            n_plume = int(np.sum(mask))
        else:
            pair = scenes.simulate_pair((size, size), surface, site_seed,
                                        cloud_fraction=(cover, 0.0), date_seed=j + 1)  # fmt: skip
            n_plume = 0
        path = folder / f"{site}_{date:%Y%m%d}.tif"
        write_scene(path, pair.target, geo, ACQUISITION_DATE=date.isoformat(),
                    SZA=f"{pair.sza:.4f}", VZA=f"{pair.vza:.4f}", SURFACE=surface)  # fmt: skip
        records.append({
            "path": os.path.relpath(path, out), "date": date.isoformat(), "site": site,
            "plume": bool(plume), "cloudy": bool(cloudy), "cloud_fraction": cover,
            "plume_pixels": n_plume, "wind_direction": direction if plume else None,
        })  # fmt: skip
    source = {
        "site": site, "lon": lon, "lat": lat, "rate_kg_h": float(spec.rate_kg_h),
        "dates_emitting": [r["date"] for r in records if r["plume"]], "row": row, "col": col,
        "surface": surface,
    }  # fmt: skip
    return source, records
