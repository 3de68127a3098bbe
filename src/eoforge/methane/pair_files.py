"""Scene pairs on disk: read a target/reference GeoTIFF pair, or simulate one into files."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

from eoforge.core.atomic import atomic_path, atomic_write_json
from eoforge.core.errors import InputError, bad_value
from eoforge.io.raster import GeoInfo, write_geotiff
from eoforge.io.sentinel2 import check_same_grid, read_s2_geotiff, write_s2_geotiff
from eoforge.methane import scenes

DETECTOR_BANDS = ("B11", "B12", "B8A", "B04")
SIM_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
PIXEL_M = 20.0
"""The detector's pixel size (m): its features, plume areas and emission rates assume it."""
Bands = dict[str, np.ndarray]
"""Band name -> (H, W) reflectance."""
_WARP = "gdalwarp -t_srs EPSG:326xx -tr 20 20 in.tif out.tif (xx: the UTM zone)"


def check_grid(geo: GeoInfo, path: str | os.PathLike[str]) -> int:
    """Check that a grid is a north-up projected grid in metres at 20 m, or 20 m / k.

    Returns:
        The integer block factor k to average the bands by (1: already at 20 m).

    Raises:
        InputError: Missing georeferencing, a geographic or non-metre CRS, a rotated grid, or
            a pixel size that is not 20 m / k.
    """
    name = repr(str(path))
    crs, t = geo.crs, geo.transform
    missing = [what for what, gone in (("CRS", crs is None), ("geotransform", t is None or
               Affine(*tuple(t)[:6]) == Affine.identity())) if gone]  # fmt: skip
    if missing or crs is None:
        raise InputError(f"{name} has no georeferencing (no {' and no '.join(missing)}): the "
                         f"detector needs a projected CRS in metres at 20 m; georeference and "
                         f"warp it, e.g. {_WARP}.")  # fmt: skip
    if crs.is_geographic or not crs.is_projected:
        raise InputError(f"{name} is on a geographic grid ({crs.to_string()}, degrees): the "
                         f"detector needs a projected CRS in metres at 20 m; warp it, e.g. "
                         f"{_WARP}.")  # fmt: skip
    unit, factor = crs.linear_units_factor
    if abs(factor - 1.0) > 1e-9:
        raise InputError(f"{name} has CRS units {unit!r} ({crs.to_string()}), not metres; "
                         f"warp it, e.g. {_WARP}.")  # fmt: skip
    if abs(t.b) > 1e-9 * abs(t.a) or abs(t.d) > 1e-9 * abs(t.e):
        raise InputError(f"{name} is on a rotated grid; warp it north-up, e.g. {_WARP}.")
    dx, dy = abs(float(t.a)), abs(float(t.e))
    k = round(PIXEL_M / dx) if dx > 0 else 0
    if k >= 1 and abs(dx - dy) <= 1e-6 * dx and abs(k * dx - PIXEL_M) <= 1e-6 * PIXEL_M:
        return k
    raise InputError(f"{name} has {dx:g} x {dy:g} m pixels: the detector needs 20 m (finer grids "
                     f"of 20/k m, e.g. 10 m, are averaged k x k); warp it, e.g. {_WARP}.")  # fmt: skip


def _block_mean(bands: Bands, geo: GeoInfo, k: int) -> tuple[Bands, GeoInfo]:
    """Average every band over k x k blocks.

    A pixel's footprint is kept; edge rows/cols that do not fill a block are dropped, so the
    grid origin stays.
    """
    out = {}
    for b, a in bands.items():
        h, w = (a.shape[0] // k) * k, (a.shape[1] // k) * k
        out[b] = a[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3), dtype=np.float32)
    return out, GeoInfo(geo.transform @ Affine.scale(k), geo.crs, geo.nodata, geo.descriptions)


def read_detector_bands(
    path: str | os.PathLike[str],
    bands: tuple[str, ...] = DETECTOR_BANDS,
    quantification: float | None = None,
    notes: list[str] | None = None,
) -> tuple[Bands, GeoInfo]:
    """Read a GeoTIFF's bands for the detector: reflectance on a 20 m projected grid.

    The reflectance scale is checked by :func:`~eoforge.io.sentinel2.read_s2_geotiff`; the grid
    must be projected in metres (not lat/lon, not without georeferencing). A grid of 20/k m
    (10 m: k = 2) is averaged over k x k blocks to 20 m, which ``notes`` records; other pixel
    sizes are refused with the gdalwarp command that fixes them.

    Raises:
        InputError: Wrong grid or reflectance scale (one line naming the file and the fix).
    """
    data, geo = read_s2_geotiff(path, bands, quantification=quantification)
    k = check_grid(geo, path)
    if k > 1:
        shape = np.shape(data[bands[0]])
        data, geo = _block_mean(data, geo, k)
        msg = (f"{str(path)!r}: {PIXEL_M / k:g} m pixels averaged {k} x {k} to 20 m "
               f"({shape[0]} x {shape[1]} -> {np.shape(data[bands[0]])[0]} x "
               f"{np.shape(data[bands[0]])[1]} px)")  # fmt: skip
        if notes is not None:
            notes.append(msg)
    return data, geo


def _angle_tags(path: Path) -> dict[str, float]:
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
    *,
    quantification: float | None = None,
    notes: list[str] | None = None,
) -> tuple[Bands, Bands, GeoInfo, float, float]:
    """Read a target/reference GeoTIFF pair on one grid, with the sun/view zenith angles.

    Angles not given are read from the target's tags (``SZA``/``VZA``, as written by
    ``eoforge methane simulate``). Each file is read by :func:`read_detector_bands`: checked
    reflectance scale (``quantification`` overrides the file's), a projected 20 m grid (10 m
    averaged 2 x 2, recorded in ``notes``).

    Returns:
        ``(target_bands, reference_bands, geo, sza, vza)``.

    Raises:
        ShapeError: If the two files are not on the same grid (shape, transform or CRS).
        InputError: If a band or an angle is missing, or the grid or reflectance scale is wrong.
    """
    t, geo_t = read_detector_bands(target, bands, quantification, notes)
    r = load_reference(reference, t, geo_t, target, bands, quantification=quantification,
                       notes=notes)  # fmt: skip
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
    target_bands: Bands,
    target_geo: GeoInfo,
    target: str | os.PathLike[str],
    bands: tuple[str, ...] = DETECTOR_BANDS,
    *,
    quantification: float | None = None,
    notes: list[str] | None = None,
) -> Bands:
    """Read one more reference date for an already read target (same checks as load_pair).

    Raises:
        ShapeError: If the file is not on the target's grid.
        InputError: If its grid or reflectance scale is wrong.
    """
    r, geo_r = read_detector_bands(reference, bands, quantification, notes)
    check_same_grid(target_geo, geo_r, np.shape(target_bands[bands[0]]), np.shape(r[bands[0]]),
                    f"target {str(target)!r} and reference {str(reference)!r} are not on the same "
                    "grid (warp the reference onto the target grid first)")  # fmt: skip
    return r


def write_scene(path: str | os.PathLike[str], bands: Bands, geo: GeoInfo, **tags: str) -> Path:
    """Write simulated bands as one GeoTIFF that ``detect`` reads (atomic).

    The :data:`SIM_BANDS` present are written, tagged with ``tags`` (e.g. SZA, VZA,
    ACQUISITION_DATE).
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        write_s2_geotiff(tmp, {b: bands[b] for b in SIM_BANDS if b in bands}, geo)
        with rasterio.open(tmp, "r+") as dst:
            dst.update_tags(**tags)
    return path


def simulate_to_files(
    out_dir: str | os.PathLike[str],
    surface: str = "semi-arid",
    rate_kg_h: float = 1500.0,
    seed: int = 0,
    shape: int = 256,
    wind_speed: float = 3.0,
    wind_direction: float = 270.0,
) -> dict[str, Path]:
    """Simulate a pair and write it with its truth into ``out_dir``; rate 0 = no plume.

    Written: ``target.tif``, ``reference.tif`` (6 bands each, tagged with SZA/VZA),
    ``truth_column.tif`` and ``truth.json``. The grid is a 20 m UTM zone 32N grid near Hassi Messaoud (Algeria).
    """
    if int(shape) != shape or shape < 32:
        raise bad_value("shape", shape, "a scene side of at least 32 pixels")
    if rate_kg_h < 0:
        raise bad_value("rate", rate_kg_h, "an emission rate >= 0 kg/h")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
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
        paths[name] = write_scene(out / f"{name}.tif", bands, geo, SZA=f"{pair.sza:.4f}",
                                  VZA=f"{pair.vza:.4f}", SURFACE=surface)  # fmt: skip
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
