"""Scene pairs on disk: read a target/reference GeoTIFF pair, or simulate one into files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from eoforge.core.atomic import atomic_write_json
from eoforge.core.errors import InputError, bad_value
from eoforge.io.raster import GeoInfo, write_geotiff

DETECTOR_BANDS = ("B11", "B12", "B8A", "B04")
SIM_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")


def _angle_tags(path: Path) -> dict[str, float]:
    import rasterio

    with rasterio.open(path) as src:
        tags = src.tags()
    out = {}
    for key, names in (("sza", ("SZA", "MEAN_SOLAR_ZENITH_ANGLE", "s2:mean_solar_zenith")),
                       ("vza", ("VZA", "MEAN_VIEWING_ZENITH_ANGLE"))):  # fmt: skip
        for n in names:
            if n in tags:
                out[key] = float(tags[n])
                break
    return out


def load_pair(
    target: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    sza: float | None = None,
    vza: float | None = None,
    bands: tuple[str, ...] = DETECTOR_BANDS,
) -> tuple[dict, dict, GeoInfo, float, float]:
    """Read a target/reference GeoTIFF pair on one grid, with the sun/view zenith angles.

    Angles not given are read from the target's tags (``SZA``/``VZA``, as written by
    ``eoforge methane simulate``).

    Returns:
        ``(target_bands, reference_bands, geo, sza, vza)``.

    Raises:
        ShapeError: If the two files are not on the same grid (shape, transform or CRS).
        InputError: If a band or an angle is missing.
    """
    from eoforge.io.sentinel2 import read_s2_geotiff

    t, geo_t = read_s2_geotiff(target, bands)
    r = load_reference(reference, t, geo_t, target, bands)
    tags = _angle_tags(Path(target))
    sza = tags.get("sza") if sza is None else sza
    vza = tags.get("vza", 5.0) if vza is None else vza
    if sza is None:
        raise InputError(
            f"no solar zenith angle for {str(target)!r}: pass --sza (degrees, from the "
            "granule metadata MTD_TL.xml) or tag the GeoTIFF with SZA."
        )
    return t, r, geo_t, float(sza), float(vza)


def load_reference(
    reference: str | os.PathLike[str],
    target_bands: dict,
    target_geo: GeoInfo,
    target: str | os.PathLike[str],
    bands: tuple[str, ...] = DETECTOR_BANDS,
) -> dict:
    """Read one more reference date for an already read target (same checks as load_pair).

    Raises:
        ShapeError: If the file is not on the target's grid.
    """
    from eoforge.io.sentinel2 import check_same_grid, read_s2_geotiff

    r, geo_r = read_s2_geotiff(reference, bands)
    check_same_grid(target_geo, geo_r, np.shape(target_bands[bands[0]]), np.shape(r[bands[0]]),
                    f"target {str(target)!r} and reference {str(reference)!r} are not on the same "
                    "grid (warp the reference onto the target grid first)")  # fmt: skip
    return r


def simulate_to_files(
    out_dir: str | os.PathLike[str],
    surface: str = "semi-arid",
    rate_kg_h: float = 1500.0,
    seed: int = 0,
    shape: int = 256,
    wind_speed: float = 3.0,
    wind_direction: float = 270.0,
) -> dict[str, Path]:
    """Simulate a pair and write ``target.tif``, ``reference.tif`` (6 bands each, tagged with
    SZA/VZA), ``truth_column.tif`` and ``truth.json`` into ``out_dir``; rate 0 = no plume.

    The grid is a 20 m UTM zone 32N grid near Hassi Messaoud (Algeria).
    """
    import rasterio

    from eoforge.core.atomic import atomic_path
    from eoforge.io.sentinel2 import write_s2_geotiff
    from eoforge.methane import scenes

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rate_kg_h < 0:
        raise bad_value("rate", rate_kg_h, "an emission rate >= 0 kg/h")
    if rate_kg_h > 0:
        pair, column, mask, params = scenes.simulate_plume_pair(
            (shape, shape), surface, seed, emission_rate_kg_h=rate_kg_h, wind_speed=wind_speed,
            wind_direction=wind_direction,
        )  # fmt: skip
    else:
        pair, params = scenes.simulate_pair((shape, shape), surface, seed), {}
        column, mask = np.zeros((shape, shape)), np.zeros((shape, shape), dtype=bool)
    geo = GeoInfo.from_bounds(west=300000.0, north=3512000.0, resolution=20.0, crs="EPSG:32632")
    paths = {}
    for name, bands in (("target", pair.target), ("reference", pair.reference)):
        path = out / f"{name}.tif"
        with atomic_path(path) as tmp:
            write_s2_geotiff(tmp, {b: bands[b] for b in SIM_BANDS if b in bands}, geo)
            with rasterio.open(tmp, "r+") as dst:
                dst.update_tags(SZA=f"{pair.sza:.4f}", VZA=f"{pair.vza:.4f}", SURFACE=surface)
        paths[name] = path
    info = GeoInfo(geo.transform, geo.crs, None, ("true_ch4_column_mol_m2",))
    paths["truth_column"] = write_geotiff(out / "truth_column.tif",
                                          np.asarray(column, dtype=np.float32), info)  # fmt: skip
    truth = {
        "surface": surface, "seed": seed, "emission_rate_kg_h": rate_kg_h,
        "wind_speed": wind_speed, "wind_direction": wind_direction, "sza": pair.sza,
        "vza": pair.vza, "plume_pixels": int(np.sum(mask)),
        "params": {k: v for k, v in dict(params).items() if np.isscalar(v) or v is None},
    }  # fmt: skip
    paths["truth"] = atomic_write_json(out / "truth.json", truth)
    return paths
