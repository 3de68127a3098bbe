"""Persistent sources: plumes of different dates at one place, with their detection statistics.

Linking (greedy, in date order): a plume joins the source whose mean position is nearest, if
that is within ``link_distance_m`` (local equirectangular metres on the WGS84 sphere, exact to
< 0.1 % at these distances), else it starts a new source. Plumes of one date in one source
(a plume split in pieces) count as one detection, the piece with the highest score giving its
rate.

Per source: first/last date seen, ``n_detections`` (dates with a plume), ``n_revisits`` (dates
with a clear-sky look: an ``ok`` scene of valid fraction >= ``min_valid`` whose footprint holds
the source, plus the detection dates), ``detection_frequency`` = n_detections / n_revisits,
and the mean rate over the detection dates with its standard error s / sqrt(n) (n >= 2; for one
detection, that plume's own 1 sigma).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

EARTH_RADIUS_M = 6_371_008.8
LINK_DISTANCE_M = 1000.0
"""Default linking distance (m). A plume's probability-weighted centroid lies downwind of its
source (200-280 m for 4000 kg/h at 3 m/s on the simulated series), so two dates with opposite
winds put the same source's centroids ~550 m apart: 500 m split one source in two there."""


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Equirectangular distance in metres (accurate for the short distances linked here)."""
    phi = math.radians(0.5 * (lat1 + lat2))
    dx = math.radians(lon2 - lon1) * math.cos(phi)
    dy = math.radians(lat2 - lat1)
    return EARTH_RADIUS_M * math.hypot(dx, dy)


def link_plumes(
    plumes: Iterable[dict], link_distance_m: float = LINK_DISTANCE_M
) -> list[list[dict]]:
    """Group plume records (``lon``, ``lat``, ``date``) into sources (module docstring).

    Plumes without coordinates are left out. Returns the groups in order of first detection.
    """
    groups: list[dict] = []  # {"members": [...], "lon": mean, "lat": mean}
    located = [p for p in plumes if p.get("lon") is not None and p.get("lat") is not None]
    for p in sorted(located, key=lambda p: (p["date"], -float(p.get("score") or 0))):
        best, best_d = None, float(link_distance_m)
        for g in groups:
            d = distance_m(g["lon"], g["lat"], p["lon"], p["lat"])
            if d <= best_d:
                best, best_d = g, d
        if best is None:
            groups.append({"members": [p], "lon": p["lon"], "lat": p["lat"]})
        else:
            best["members"].append(p)
            n = len(best["members"])
            best["lon"] += (p["lon"] - best["lon"]) / n
            best["lat"] += (p["lat"] - best["lat"]) / n
    return [g["members"] for g in groups]


def _covers(bounds: list[float] | None, lon: float, lat: float) -> bool:
    if not bounds:
        return False
    w, s, e, n = bounds
    return w <= lon <= e and s <= lat <= n


def source_table(scenes: list[dict], link_distance_m: float = LINK_DISTANCE_M,
                 min_valid: float = 0.5) -> list[dict]:  # fmt: skip
    """One row per source from the scene records (module docstring).

    Args:
        scenes: Scene records (``status``, ``date``, ``valid_fraction``, ``bounds_lonlat``,
            ``plumes``) as written by :func:`~.tasks.process_scene`.
        link_distance_m: Linking distance (m).
        min_valid: Least valid fraction of a clear-sky revisit.
    """
    plumes = [p for s in scenes if s.get("status") == "ok" for p in s.get("plumes", [])]
    clear = [s for s in scenes if s.get("status") == "ok"
             and (s.get("valid_fraction") or 0.0) >= min_valid]  # fmt: skip
    rows = []
    for k, members in enumerate(link_plumes(plumes, link_distance_m), start=1):
        per_date: dict[str, dict] = {}
        for p in members:
            if p["date"] not in per_date or p["score"] > per_date[p["date"]]["score"]:
                per_date[p["date"]] = p
        dates = sorted(per_date)
        lon = sum(p["lon"] for p in members) / len(members)
        lat = sum(p["lat"] for p in members) / len(members)
        looks = {s["date"] for s in clear if _covers(s.get("bounds_lonlat"), lon, lat)}
        looks |= set(dates)
        rates = [float(per_date[d]["rate_kg_h"]) for d in dates]
        n = len(rates)
        mean = sum(rates) / n
        if n >= 2:
            sd = math.sqrt(sum((r - mean) ** 2 for r in rates) / (n - 1))
            se = sd / math.sqrt(n)
        else:
            se = float(per_date[dates[0]].get("sigma_kg_h") or float("nan"))
        rows.append({
            "id": k, "lon": lon, "lat": lat, "first_seen": dates[0], "last_seen": dates[-1],
            "n_detections": n, "n_revisits": len(looks), "detection_frequency": n / len(looks),
            "mean_rate_kg_h": mean, "rate_se_kg_h": se,
            "sites": sorted({p["site"] for p in members}),
            "detection_dates": dates, "scenes": sorted({p["scene"] for p in members}),
        })  # fmt: skip
    return rows


def sources_geojson(rows: list[dict]) -> dict:
    """A FeatureCollection of source points (EPSG:4326) with their statistics."""
    feats = [{"type": "Feature", "id": r["id"],
              "geometry": {"type": "Point", "coordinates": [r["lon"], r["lat"]]},
              "properties": dict(r)} for r in rows]  # fmt: skip
    return {"type": "FeatureCollection", "crs_name": "EPSG:4326", "features": feats}
