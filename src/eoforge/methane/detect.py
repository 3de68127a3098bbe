"""Plume detection on a georeferenced Sentinel-2 pair: probability map -> plumes -> kg/h.

Pipeline (Rouet-Leduc, Kerdreux et al., arXiv 2308.11003, as reconstructed in the project notes):

1. the detector (:mod:`.detector`) gives a plume probability p and a column enhancement
   dOmega (mol/m2) per pixel, by blended tiles;
2. plumes are the 8-connected components of {p > threshold} with at least ``min_area_px``
   pixels; each gets a score max_i p_i, a probability-weighted centroid, an area
   n_pixels * |pixel area| (m2) and a polygon outline;
3. each plume's emission rate and uncertainty come from the integrated mass enhancement of
   the detector's column inside the component grown by a few pixels, Q = U_eff IME / L, with
   U_eff = a U10 + b calibrated for this detector's masks (:mod:`.detector.rates`; the
   calibration is saved with the weights).

:func:`write_outputs` writes the probability and column GeoTIFFs on the input grid, a GeoJSON
FeatureCollection of the plumes (EPSG:4326 when the raster CRS can be transformed, else the
raster CRS, named in the file) and a PNG map, all atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from eoforge.core.atomic import atomic_write_bytes, atomic_write_json
from eoforge.core.errors import InputError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.io.raster import GeoInfo, write_geotiff
from eoforge.methane.detector.infer import predict
from eoforge.methane.detector.weights import Detector, load_default_detector


@dataclass(frozen=True)
class Plume:
    """One detected plume (coordinates of the probability-weighted centroid)."""

    id: int
    row: float
    col: float
    x: float
    y: float
    lon: float | None
    lat: float | None
    n_pixels: int
    area_m2: float
    score: float
    rate_kg_h: float
    sigma_kg_h: float
    geometry: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class DetectionResult:
    """Maps and plumes of one detection run."""

    prob: np.ndarray
    column: np.ndarray
    plumes: list[Plume]
    geo: GeoInfo
    threshold: float
    wind_speed: float
    labels: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    def table(self) -> list[dict]:
        """The plumes as plain dicts (no geometry), e.g. for a report table."""
        return [{k: v for k, v in asdict(p).items() if k != "geometry"} for p in self.plumes]


def _pixel_size(geo: GeoInfo) -> tuple[float, float]:
    a = geo.transform
    return abs(float(a.a)), abs(float(a.e))  # type: ignore[attr-defined]


def _to_lonlat(geo: GeoInfo, xs: list[float], ys: list[float]):
    """Transform CRS coordinates to EPSG:4326, or None if the CRS is unknown/untransformable."""
    if geo.crs is None or not xs:
        return None
    from rasterio.warp import transform

    try:
        lon, lat = transform(geo.crs, "EPSG:4326", xs, ys)
    except Exception:  # any CRS that PROJ cannot transform falls back to the raster CRS
        return None
    return list(lon), list(lat)


def _outline(labels: np.ndarray, k: int, box: tuple[slice, slice], geo: GeoInfo) -> dict:
    """MultiPolygon (raster CRS) of component ``k`` inside its bounding box."""
    from rasterio.features import shapes
    from rasterio.windows import Window, transform

    win = Window(box[1].start, box[0].start, box[1].stop - box[1].start,
                 box[0].stop - box[0].start)  # fmt: skip
    sub = (labels[box] == k).astype(np.uint8)
    parts = shapes(sub, mask=sub.astype(bool), connectivity=8,
                   transform=transform(win, geo.transform))  # fmt: skip
    polys = [g["coordinates"] for g, v in parts if v == 1]
    return {"type": "MultiPolygon", "coordinates": polys}


def detect(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    geo: GeoInfo,
    sza: float,
    vza: float,
    *,
    threshold: float | None = None,
    min_area_px: int = 4,
    wind_speed: float = 3.0,
    wind_speed_std: float | None = None,
    model: Detector | None = None,
    tile: int = 512,
    overlap: int = 64,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
) -> DetectionResult:
    """Detect and quantify methane plumes in a target/reference pair (module docstring).

    Args:
        target: Target-date bands (B11, B12, B8A, B04), band -> (H, W) reflectance.
        reference: Plume-free reference-date bands on the same grid.
        geo: Georeferencing of the grid (e.g. from ``read_s2_geotiff``).
        sza: Solar zenith angle (degrees).
        vza: Viewing zenith angle (degrees).
        threshold: Probability above which a pixel belongs to a plume, in (0, 1); default: the
            detector's calibrated threshold (:attr:`Detector.threshold`).
        min_area_px: Smallest plume kept, in pixels.
        wind_speed: 10 m wind speed at the scene (m/s), e.g. from ERA5.
        wind_speed_std: Its uncertainty (m/s); default: quantify_plume's default.
        model: Detector; default: the shipped one.
        tile: Inference window (pixels).
        overlap: Window overlap (pixels).
        threads: Torch threads (default: all cores).
        progress: Optional ``progress(done, total)`` callback over windows.

    Returns:
        A :class:`DetectionResult`.
    """
    from eoforge.methane.detector.rates import background_std, quantify_detection

    if model is None:
        model = load_default_detector()
    if threshold is None:
        threshold = model.threshold
    if not 0.0 < float(threshold) < 1.0:
        raise bad_value("threshold", threshold, "a probability in (0, 1)")
    if int(min_area_px) != min_area_px or min_area_px < 1:
        raise bad_value("min_area_px", min_area_px, "a positive number of pixels")
    if not np.isfinite(wind_speed) or wind_speed <= 0:
        raise bad_value("wind_speed", wind_speed, "a positive 10 m wind speed in m/s")
    prob, column = predict(target, reference, sza, vza, model=model, tile=tile,
                           overlap=overlap, threads=threads, progress=progress)  # fmt: skip
    dx, dy = _pixel_size(geo)
    labels, _ = ndimage.label(prob > threshold, structure=np.ones((3, 3), dtype=bool))
    boxes = ndimage.find_objects(labels)
    kept: list[tuple[int, tuple[slice, slice], np.ndarray]] = []
    for k, box in enumerate(boxes, start=1):
        comp = labels[box] == k
        if comp.sum() >= min_area_px:
            kept.append((k, box, comp))
        else:
            labels[box][comp] = 0
    rows, cols, xs, ys = [], [], [], []
    for _, box, comp in kept:
        w = prob[box] * comp
        r, c = np.nonzero(comp)
        r0 = float(np.sum(w[r, c] * (r + box[0].start)) / np.sum(w[r, c]))
        c0 = float(np.sum(w[r, c] * (c + box[1].start)) / np.sum(w[r, c]))
        x, y = geo.transform * (c0 + 0.5, r0 + 0.5)  # type: ignore[operator]
        rows.append(r0)
        cols.append(c0)
        xs.append(float(x))
        ys.append(float(y))
    lonlat = _to_lonlat(geo, xs, ys)
    lut = np.zeros(len(boxes) + 1, dtype=np.int32)  # renumber kept components 1..n (= plume id)
    for i, (k, _, _) in enumerate(kept):
        lut[k] = i + 1
    labels = lut[labels]
    plumes: list[Plume] = []
    noise_std = background_std(column, labels)
    grow = model.rate_calibration.grow_px + 1
    for i, (_, box, comp) in enumerate(kept):
        ebox = tuple(slice(max(0, b.start - grow), min(n, b.stop + grow))
                     for b, n in zip(box, labels.shape, strict=True))  # fmt: skip
        rate = quantify_detection(column[ebox], labels[ebox], [i + 1], wind_speed,
                                  model.rate_calibration, pixel_size=float(np.sqrt(dx * dy)),
                                  wind_speed_std=wind_speed_std, noise_std=noise_std)  # fmt: skip
        plumes.append(
            Plume(
                id=i + 1,
                row=rows[i],
                col=cols[i],
                x=xs[i],
                y=ys[i],
                lon=None if lonlat is None else float(lonlat[0][i]),
                lat=None if lonlat is None else float(lonlat[1][i]),
                n_pixels=int(comp.sum()),
                area_m2=float(comp.sum() * dx * dy),
                score=float(prob[box][comp].max()),
                rate_kg_h=float(rate.rate_kg_h),
                sigma_kg_h=float(rate.sigma_kg_h),
                geometry=_outline(labels, i + 1, box, geo),
            )
        )
    return DetectionResult(prob, column, plumes, geo, float(threshold), float(wind_speed), labels)


def plumes_geojson(result: DetectionResult) -> dict:
    """GeoJSON FeatureCollection of the plumes (EPSG:4326 if possible, else the raster CRS)."""
    from rasterio.warp import transform_geom

    geo = result.geo
    to_wgs84 = all(p.lon is not None for p in result.plumes) and geo.crs is not None
    feats = []
    for p in result.plumes:
        geom = p.geometry
        if to_wgs84:
            geom = transform_geom(geo.crs, "EPSG:4326", geom)
        props = {k: v for k, v in asdict(p).items() if k != "geometry"}
        feats.append({"type": "Feature", "id": p.id, "geometry": geom, "properties": props})
    doc: dict = {"type": "FeatureCollection", "features": feats}
    if to_wgs84 or (geo.crs is not None and not result.plumes):
        doc["crs_name"] = "EPSG:4326"
    else:
        name = geo.crs.to_string() if geo.crs is not None else None
        doc["crs"] = {"type": "name", "properties": {"name": name or "pixel coordinates"}}
    doc["threshold"] = result.threshold
    doc["wind_speed_m_s"] = result.wind_speed
    return doc


def _figure_png(result: DetectionResult) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    im0 = axes[0].imshow(result.prob, vmin=0, vmax=1, cmap="magma")
    fig.colorbar(im0, ax=axes[0], label="plume probability")
    vmax = max(0.1, float(np.nanpercentile(result.column, 99.9)))
    im1 = axes[1].imshow(result.column, vmin=0, vmax=vmax, cmap="viridis")
    fig.colorbar(im1, ax=axes[1], label="column enhancement (mol/m2)")
    for ax in axes:
        if result.labels is not None and result.plumes:
            ax.contour(result.labels > 0, levels=[0.5], colors="w", linewidths=0.7)
        for p in result.plumes:
            ax.annotate(f"{p.id}: {p.rate_kg_h:.0f}±{p.sigma_kg_h:.0f} kg/h", (p.col, p.row),
                        color="w", fontsize=8, xytext=(5, 5), textcoords="offset points")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_title(f"probability (threshold {result.threshold:g})")
    axes[1].set_title(f"{len(result.plumes)} plume(s), wind {result.wind_speed:g} m/s")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def write_outputs(result: DetectionResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write probability.tif, column.tif, plumes.geojson and detection.png into ``out_dir``.

    Returns:
        Mapping output kind -> path.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {str(out)!r} is a file; pass a folder.")
    out.mkdir(parents=True, exist_ok=True)

    def info(desc: str) -> GeoInfo:
        return GeoInfo(result.geo.transform, result.geo.crs, None, (desc,))

    paths = {
        "probability": write_geotiff(out / "probability.tif",
                                     result.prob.astype(np.float32), info("plume_probability")),
        "column": write_geotiff(out / "column.tif", result.column.astype(np.float32),
                                info("ch4_column_enhancement_mol_m2")),
        "plumes": atomic_write_json(out / "plumes.geojson", plumes_geojson(result)),
        "figure": atomic_write_bytes(out / "detection.png", _figure_png(result)),
    }  # fmt: skip
    return paths


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
    from eoforge.core.errors import ShapeError
    from eoforge.io.sentinel2 import read_s2_geotiff

    t, geo_t = read_s2_geotiff(target, bands)
    r, geo_r = read_s2_geotiff(reference, bands)
    shape_t, shape_r = np.shape(t[bands[0]]), np.shape(r[bands[0]])
    same_transform = np.allclose(tuple(geo_t.transform)[:6], tuple(geo_r.transform)[:6])
    if shape_t != shape_r or not same_transform or geo_t.crs != geo_r.crs:
        raise ShapeError(
            f"target {str(target)!r} ({shape_t}, {geo_t.crs}, origin "
            f"{geo_t.transform.c:.1f},{geo_t.transform.f:.1f}) and reference {str(reference)!r} "
            f"({shape_r}, {geo_r.crs}, origin {geo_r.transform.c:.1f},{geo_r.transform.f:.1f}) "
            "are not on the same grid; warp the reference onto the target grid first."
        )  # type: ignore[attr-defined]
    tags = _angle_tags(Path(target))
    sza = tags.get("sza") if sza is None else sza
    vza = tags.get("vza", 5.0) if vza is None else vza
    if sza is None:
        raise InputError(
            f"no solar zenith angle for {str(target)!r}: pass --sza (degrees, from the "
            "granule metadata MTD_TL.xml) or tag the GeoTIFF with SZA."
        )
    return t, r, geo_t, float(sza), float(vza)


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
