"""One monitoring task: detect plumes in one scene against its references, record the result.

:func:`process_scene` runs on a dask worker. It never raises for a bad input: a file that cannot
be read, is off the grid of its references or makes the detector fail gives a record with
``status: "error"`` and the one-line message. Every record is written atomically to
``OUT/scenes/<scene_id>.json``, so an interrupted run leaves only whole records (the resume
points of :func:`eoforge.methane.monitor.run.monitor`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from rasterio.transform import array_bounds
from rasterio.warp import transform_bounds
from scipy import ndimage

from eoforge.core.atomic import atomic_write_json
from eoforge.core.errors import InputError
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2 import check_same_grid, read_s2_safe
from eoforge.io.sentinel2_safe import safe_metadata
from eoforge.methane.detect.outputs import plumes_geojson, write_outputs
from eoforge.methane.detect.pipeline import DetectionResult, detect
from eoforge.methane.detector.weights import (
    Detector,
    default_weights_path,
    load_default_detector,
    load_detector,
)
from eoforge.methane.monitor.archive import Scene, cloud_mask
from eoforge.methane.pair_files import DETECTOR_BANDS, Bands, load_pair, load_reference

SCENES_DIR = "scenes"
"""Folder of the per-scene records inside the monitoring output folder."""

CLOUD_GROW_PX = 2
"""Pixels the target's cloud mask is grown by before plumes on clouds are dropped [INF]."""

_DETECTORS: dict[str, Detector] = {}
"""Detector per weights path, loaded once per worker process."""


def scene_record_path(out: Path, scene_id: str) -> Path:
    """``OUT/scenes/<scene_id>.json``."""
    return Path(out) / SCENES_DIR / f"{scene_id}.json"


def weights_id(weights: Path | None) -> str:
    """Identity of a detector: sha256 of its two files (the shipped ones when None)."""
    base = (default_weights_path() if weights is None else Path(weights)).with_suffix("")
    h = hashlib.sha256()
    for suffix in (".safetensors", ".json"):
        h.update(base.with_suffix(suffix).read_bytes())
    return h.hexdigest()[:16]


def _detector(weights: str | None) -> Detector:
    """The detector of ``weights`` (the shipped one when None), loaded once per process."""
    key = weights or ""
    if key not in _DETECTORS:
        _DETECTORS[key] = load_default_detector() if weights is None else load_detector(weights)
    return _DETECTORS[key]


def _is_safe(path: Path) -> bool:
    return path.is_dir() or path.suffix.upper() == ".SAFE"


def _read_safe(path: Path) -> tuple[Bands, GeoInfo, float | None, float]:
    """Detector bands, grid, SZA (None when the metadata lacks it) and VZA of a .SAFE."""
    bands, geo = read_s2_safe(path, DETECTOR_BANDS)
    meta = safe_metadata(path)
    return bands, geo, meta.get("sza"), meta.get("vza", 5.0)


def load_scene(path: Path, refs: list[Path]) -> tuple[Bands, list[Bands], GeoInfo, float, float]:
    """Target bands, reference bands (a list), grid, sza and vza of a scene and its references.

    GeoTIFFs go through :func:`~eoforge.methane.pair_files.load_pair` (and
    :func:`~eoforge.methane.pair_files.load_reference`); L1C ``.SAFE`` folders are read by
    :func:`~eoforge.io.sentinel2.read_s2_safe` with the angles of their metadata.
    """
    if not _is_safe(path) and not any(_is_safe(r) for r in refs):
        t, r0, geo, sza, vza = load_pair(path, refs[0])
        others = [load_reference(r, t, geo, path) for r in refs[1:]]
        return t, [r0, *others], geo, sza, vza
    sza_or_none: float | None
    if _is_safe(path):
        t, geo, sza_or_none, vza = _read_safe(path)
    else:
        t, _, geo, sza_or_none, vza = load_pair(path, path)
    if sza_or_none is None:
        raise InputError(f"no solar zenith angle in the metadata of {str(path)!r}.")
    out = []
    for r in refs:
        if _is_safe(r):
            bands, geo_r = _read_safe(r)[:2]
            check_same_grid(geo, geo_r, t["B11"].shape, bands["B11"].shape,
                            f"scene {str(path)!r} and reference {str(r)!r} are not on one grid")  # fmt: skip
        else:
            bands = load_reference(r, t, geo, path)
        out.append(bands)
    return t, out, geo, float(sza_or_none), float(vza)


def _bounds_lonlat(geo: GeoInfo, shape: tuple[int, int]) -> list[float] | None:
    """(west, south, east, north) of the grid in degrees, or None without a usable CRS."""
    if geo.crs is None:
        return None
    bounds = array_bounds(shape[0], shape[1], geo.transform)  # (west, south, east, north)
    try:
        return [float(v) for v in transform_bounds(geo.crs, "EPSG:4326", *bounds)]
    except Exception:  # a CRS PROJ cannot transform: no footprint, the scene counts nowhere
        return None


def _clear_plumes(result: DetectionResult, target: Bands) -> list[bool]:
    """Whether each plume lies mostly (>= half its pixels) off the target's clouds.

    Cloud edges and cloud textures against clear references are the main false plumes of a
    cloudy date; the cloud test is :func:`~.archive.cloud_mask`, grown by ``CLOUD_GROW_PX``.
    """
    cloud = ndimage.binary_dilation(cloud_mask(target), iterations=CLOUD_GROW_PX)
    return [float(cloud[result.labels == p.id].mean()) < 0.5 for p in result.plumes]


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def base_record(scene: Scene, refs: list[Scene], valid: float | None, fingerprint: str | None,
                scene_fingerprint: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The fields every scene record has (status still to be set)."""
    return {
        "scene_id": scene.scene_id, "path": str(scene.path), "date": scene.date.isoformat(),
        "site": scene.site, "status": None, "message": "",
        "references": [r.scene_id for r in refs],
        "reference_dates": [r.date.isoformat() for r in refs],
        "valid_fraction": valid, "plumes": [], "n_plumes": 0, "seconds": 0.0,
        "bounds_lonlat": None, "input_fingerprint": fingerprint,
        "scene_fingerprint": scene_fingerprint,
    }  # fmt: skip


def process_scene(scene: Scene, refs: list[Scene], valid: float | None, fingerprint: str,
                  weights: str | None, out: str, save_rasters: bool = False,
                  scene_fingerprint: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Detect plumes in ``scene`` against ``refs`` and write its record; never raises.

    Returns:
        The record (also written to ``OUT/scenes/<scene_id>.json``).
    """
    t0 = time.perf_counter()
    rec = base_record(scene, refs, valid, fingerprint, scene_fingerprint)
    try:
        t, ref_bands, geo, sza, vza = load_scene(Path(scene.path), [Path(r.path) for r in refs])
        result = detect(t, ref_bands, geo, sza, vza, model=_detector(weights), threads=1)
        rec["bounds_lonlat"] = _bounds_lonlat(geo, result.prob.shape)
        feats = plumes_geojson(result)["features"]
        clear = _clear_plumes(result, t)
        rec["masked_by_cloud"] = len(result.plumes) - sum(clear)
        rec["plumes"] = [
            {"date": rec["date"], "scene": scene.scene_id, "site": scene.site,
             "lon": p.lon, "lat": p.lat, "rate_kg_h": p.rate_kg_h, "sigma_kg_h": p.sigma_kg_h,
             "score": p.score, "area_m2": p.area_m2, "references": rec["references"],
             "geometry": f["geometry"]}
            for p, f, keep in zip(result.plumes, feats, clear, strict=True)
            if keep
        ]  # fmt: skip
        rec["n_plumes"] = len(rec["plumes"])
        rec["warnings"] = list(result.scene.get("warnings", []))
        if save_rasters:
            write_outputs(result, Path(out) / "rasters" / scene.scene_id)
        rec["status"] = "ok"
    except Exception as err:  # a bad file is a record, never the end of the run
        rec["status"] = "error"
        rec["message"] = _one_line(err)
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    atomic_write_json(scene_record_path(Path(out), scene.scene_id), rec)
    return rec
