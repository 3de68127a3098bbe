"""Files of a detection: probability and column GeoTIFFs, a GeoJSON of plumes and a PNG map.

:func:`write_outputs` writes the probability and column GeoTIFFs on the input grid, a GeoJSON
FeatureCollection of the plumes (EPSG:4326 when the raster CRS can be transformed, else the
raster CRS, named in the file) and a PNG map, all atomically.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
from rasterio.warp import transform_geom

from eoforge.core.atomic import atomic_write_bytes, atomic_write_json
from eoforge.core.errors import InputError
from eoforge.core.report import Report, figure_png
from eoforge.io.raster import GeoInfo, write_geotiff
from eoforge.methane.detect.pipeline import DetectionResult


def plumes_geojson(result: DetectionResult) -> dict:
    """GeoJSON FeatureCollection of the plumes (EPSG:4326 if possible, else the raster CRS)."""
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
    doc["scene"] = result.scene
    return doc


def _figure_png(result: DetectionResult) -> bytes:
    import matplotlib  # deferred: the Agg backend is chosen before pyplot loads

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5), constrained_layout=True)
    im0 = axes[0].imshow(result.prob, vmin=0, vmax=1, cmap="magma")
    fig.colorbar(im0, ax=axes[0], label=f"plume probability (threshold {result.threshold:g})")
    vmax = max(0.1, float(np.nanpercentile(result.column, 99.9)))
    im1 = axes[1].imshow(result.column, vmin=0, vmax=vmax, cmap="viridis")
    fig.colorbar(im1, ax=axes[1], label="column enhancement (mol/m2)")
    for ax in axes:
        if result.plumes:
            ax.contour(result.labels > 0, levels=[0.5], colors="w", linewidths=0.7)
        for p in result.plumes:
            ax.annotate(f"{p.id}: {p.rate_kg_h:.0f}±{p.sigma_kg_h:.0f} kg/h", (p.col, p.row),
                        color="w", fontsize=8, xytext=(5, 5), textcoords="offset points")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
    return figure_png(fig, dpi=90, tight=False)


def write_outputs(result: DetectionResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the files of a detection into ``out_dir``.

    They are probability.tif, column.tif, plumes.geojson, detection.png and report.html
    (:func:`write_report`).

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
        "figure": atomic_write_bytes(out / "detection.png", png := _figure_png(result)),
    }  # fmt: skip
    paths["report"] = write_report(result, out / "report.html", png)
    return paths


def write_report(result: DetectionResult, path: str | os.PathLike[str], png: bytes) -> Path:
    """Write ``report.html``: the maps, the plume table with units, and the scene checks.

    Args:
        result: The detection.
        path: Output HTML file.
        png: The detection figure (PNG bytes).

    Returns:
        The path.
    """
    n = len(result.plumes)
    report = Report("eoforge methane detect",
                    f"{n} plume(s) at probability threshold {result.threshold:g}, "
                    f"10 m wind {result.wind_speed:g} m/s")  # fmt: skip
    report.section("Maps").add_png(
        png, "Left: plume probability (0-1). Right: methane column enhancement (mol/m2). White "
        "outlines: the detected plumes, labelled 'id: rate ± 1 sigma kg/h'.",
    )  # fmt: skip
    report.section("Plumes")
    if result.plumes:
        units = {"lon": "lon (deg)", "lat": "lat (deg)", "n_pixels": "pixels",
                 "area_m2": "area (m2)", "score": "score (max prob.)",
                 "rate_kg_h": "rate (kg/h)", "sigma_kg_h": "1 sigma (kg/h)"}  # fmt: skip
        rows = [{"id": p.id} | {label: getattr(p, k) for k, label in units.items()}
                for p in result.plumes]  # fmt: skip
        report.add_table(rows, caption="Detected plumes (centroid in lon/lat)")
    else:
        report.add_text("No plume above the threshold.")
    scene = result.scene
    report.section("Scene checks")
    scalars = {k: v for k, v in scene.items() if isinstance(v, int | float | str)}
    if scalars:
        report.add_table(scalars, caption="Scene checks (plumes.geojson 'scene')")
    for key in ("warnings", "input_resampled"):
        for line in scene.get(key, []):
            report.add_text(f"{'warning' if key == 'warnings' else 'input'}: {line}")
    return report.write(path)
