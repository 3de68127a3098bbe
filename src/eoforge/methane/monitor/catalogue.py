"""The monitoring catalogue, rebuilt from the per-scene records, every file written atomically.

- ``plumes.geojson``: one feature per plume (outline in EPSG:4326; properties ``date``,
  ``scene``, ``site``, ``lon``, ``lat``, ``rate_kg_h``, ``sigma_kg_h``, ``score``, ``area_m2``,
  ``references``);
- ``scenes.csv``: one row per scene (date, site, status ok/no-reference/error, message,
  references, valid fraction, number of plumes, seconds);
- ``plumes.parquet``: a GeoParquet copy of the plume table, only when geopandas and pyarrow
  import;
- ``sources.geojson``: persistent sources (:mod:`.sources`);
- ``figures/site_<site>.png`` and ``report.html`` (:mod:`.report`).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from eoforge.core.atomic import atomic_path, atomic_write_json, atomic_write_text
from eoforge.methane.monitor.report import write_report
from eoforge.methane.monitor.sources import LINK_DISTANCE_M, source_table, sources_geojson
from eoforge.methane.monitor.tasks import SCENES_DIR

SCENE_COLUMNS = ("scene_id", "date", "site", "status", "message", "references",
                 "valid_fraction", "n_plumes", "seconds", "path")  # fmt: skip
PLUME_PROPERTIES = ("date", "scene", "site", "lon", "lat", "rate_kg_h", "sigma_kg_h", "score",
                    "area_m2", "references")  # fmt: skip


def read_records(out: Path) -> list[dict]:
    """Every scene record in ``OUT/scenes`` (unreadable ones are skipped)."""
    records = []
    for path in sorted((Path(out) / SCENES_DIR).glob("*.json")):
        try:
            records.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    return records


def _sort_key(rec: dict) -> tuple:
    return (rec.get("site") or "~", rec.get("date") or "", rec.get("scene_id") or "")


def plumes_geojson(records: list[dict]) -> dict:
    """FeatureCollection of every plume of the ``ok`` records."""
    feats: list[dict[str, Any]] = []
    for rec in records:
        for p in rec.get("plumes", []) if rec.get("status") == "ok" else []:
            props = {k: p.get(k) for k in PLUME_PROPERTIES}
            feats.append({"type": "Feature", "id": len(feats) + 1,
                          "geometry": p.get("geometry"), "properties": props})  # fmt: skip
    return {"type": "FeatureCollection", "crs_name": "EPSG:4326", "features": feats}


def scenes_csv(records: list[dict]) -> str:
    """scenes.csv text: one row per scene, references joined by ';'."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SCENE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        row = {k: rec.get(k) for k in SCENE_COLUMNS}
        row["references"] = ";".join(rec.get("references") or [])
        vf = rec.get("valid_fraction")
        row["valid_fraction"] = "" if vf is None else f"{vf:.4f}"
        writer.writerow(row)
    return buf.getvalue()


def _write_parquet(path: Path, collection: dict) -> Path | None:
    """GeoParquet copy of the plume table; None when geopandas/pyarrow are not installed."""
    try:
        import geopandas
        import pyarrow  # noqa: F401
    except ImportError:
        return None
    feats = collection["features"]
    if feats:
        frame = geopandas.GeoDataFrame.from_features(feats, crs="EPSG:4326")
    else:
        frame = geopandas.GeoDataFrame({k: [] for k in PLUME_PROPERTIES}, geometry=[],
                                       crs="EPSG:4326")  # fmt: skip
    frame["references"] = [";".join(r or []) for r in frame["references"]]
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp)
    return path


def write_catalogue(out: Path, records: list[dict], *, min_valid: float = 0.5,
                    link_distance_m: float = LINK_DISTANCE_M) -> dict:  # fmt: skip
    """Write the catalogue files of ``records`` into ``out`` (module docstring).

    Returns:
        Mapping output kind -> path, and ``n_sources``.
    """
    out = Path(out)
    records = sorted(records, key=_sort_key)
    collection = plumes_geojson(records)
    sources = source_table(records, link_distance_m, min_valid)
    paths: dict = {
        "plumes": atomic_write_json(out / "plumes.geojson", collection),
        "scenes": atomic_write_text(out / "scenes.csv", scenes_csv(records)),
        "sources": atomic_write_json(out / "sources.geojson", sources_geojson(sources)),
    }
    parquet = _write_parquet(out / "plumes.parquet", collection)
    if parquet is not None:
        paths["parquet"] = parquet
    paths.update(write_report(out, records, sources, min_valid=min_valid))
    paths["n_sources"] = len(sources)
    return paths
