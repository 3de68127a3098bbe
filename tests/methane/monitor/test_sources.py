"""Source linking (eoforge.methane.monitor.sources) on planted plume records, and the catalogue
files and the CLI's up-front checks of ``eoforge methane monitor``."""

from __future__ import annotations

import csv
import json
import math

import pytest
from typer.testing import CliRunner

from eoforge.cli._common import _discard_new_run
from eoforge.cli.main import app
from eoforge.methane.monitor.catalogue import write_catalogue
from eoforge.methane.monitor.sources import distance_m, link_plumes, source_table

LON, LAT = 7.0, 31.7
M_PER_DEG_LAT = math.pi * 6_371_008.8 / 180.0


def _offset(dx_m: float, dy_m: float) -> tuple[float, float]:
    return (LON + dx_m / (M_PER_DEG_LAT * math.cos(math.radians(LAT))),
            LAT + dy_m / M_PER_DEG_LAT)  # fmt: skip


def _scene(date: str, plumes=(), valid=1.0, status="ok", bounds=(6.9, 31.6, 7.1, 31.8)) -> dict:
    recs = []
    for dx, dy, rate in plumes:
        lon, lat = _offset(dx, dy)
        recs.append({"date": date, "scene": f"A_{date}", "site": "A", "lon": lon, "lat": lat,
                     "rate_kg_h": rate, "sigma_kg_h": 0.3 * rate, "score": 0.9 if rate >= 500 else 0.6,
                     "area_m2": 8e4, "references": [], "geometry": None})  # fmt: skip
    return {"scene_id": f"A_{date}", "date": date, "site": "A", "status": status,
            "message": "", "references": [], "valid_fraction": valid, "plumes": recs,
            "n_plumes": len(recs), "seconds": 0.1, "bounds_lonlat": list(bounds),
            "path": f"/x/A_{date}.tif"}  # fmt: skip


def _planted() -> list[dict]:
    """Source 1 at (LON, LAT): 3 detections on 5 clear looks (jitter < 150 m, one date split in
    two pieces); source 2 2 km east: 1 detection; one cloudy scene, one off-footprint scene, one
    no-reference scene, none of which is a clear-sky look."""
    return [
        _scene("2023-01-01", status="no-reference"),
        _scene("2023-01-06", [(0, 0, 1000.0)]),
        _scene("2023-01-11", [(120, -80, 1200.0), (40, 60, 300.0), (2000, 0, 800.0)]),
        _scene("2023-01-16"),
        _scene("2023-01-21", [(-90, 100, 1400.0)]),
        _scene("2023-01-26"),
        _scene("2023-01-31", valid=0.2),  # cloudy
        _scene("2023-02-05", bounds=(8.0, 32.0, 8.1, 32.1)),  # does not cover the sources
    ]


def test_distance_matches_the_sphere():
    assert distance_m(LON, LAT, LON, LAT + 1.0) == pytest.approx(M_PER_DEG_LAT, rel=1e-9)
    assert distance_m(*_offset(0, 0), *_offset(300, 400)) == pytest.approx(500.0, rel=1e-3)


def test_link_plumes_groups_by_place_not_by_date():
    plumes = [p for s in _planted() for p in s["plumes"]]
    groups = link_plumes(plumes, 500.0)
    assert sorted(len(g) for g in groups) == [1, 4]
    assert len(link_plumes(plumes, 50.0)) > 2  # a tighter distance splits the jittered source
    assert len(link_plumes(plumes, 5000.0)) == 1


def test_source_table_on_planted_truth():
    rows = sorted(source_table(_planted(), 500.0, 0.5), key=lambda r: -r["n_detections"])
    assert len(rows) == 2
    a, b = rows
    assert a["n_detections"] == 3 and a["n_revisits"] == 5
    assert a["detection_frequency"] == pytest.approx(0.6)
    assert (a["first_seen"], a["last_seen"]) == ("2023-01-06", "2023-01-21")
    assert a["mean_rate_kg_h"] == pytest.approx(1200.0)  # the split date counts its best piece
    assert a["rate_se_kg_h"] == pytest.approx(200.0 / math.sqrt(3))  # s = 200 kg/h, n = 3
    assert distance_m(a["lon"], a["lat"], LON, LAT) < 150
    assert b["n_detections"] == 1 and b["n_revisits"] == 5
    assert b["mean_rate_kg_h"] == 800.0 and b["rate_se_kg_h"] == pytest.approx(240.0)
    assert distance_m(b["lon"], b["lat"], *_offset(2000, 0)) < 1


def test_catalogue_files(tmp_path):
    paths = write_catalogue(tmp_path, _planted(), min_valid=0.5, link_distance_m=500.0)
    assert paths["n_sources"] == 2
    with open(tmp_path / "scenes.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["date"] for r in rows] == sorted(r["date"] for r in rows) and len(rows) == 8
    assert [int(r["n_plumes"]) for r in rows][:3] == [0, 1, 3]
    feats = json.loads((tmp_path / "plumes.geojson").read_text())["features"]
    assert len(feats) == 5 and feats[0]["properties"]["site"] == "A"
    srcs = json.loads((tmp_path / "sources.geojson").read_text())["features"]
    assert {f["properties"]["n_detections"] for f in srcs} == {1, 3}
    assert (tmp_path / "figures" / "site_A.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary file left behind


@pytest.mark.parametrize(
    ("args", "option"),
    [(["--references", "0"], "--references"), (["--min-valid", "1.5"], "--min-valid"),
     (["--workers", "0"], "--workers"), (["--link-distance", "0"], "--link-distance"),
     (["--scheduler", "nowhere"], "--scheduler")],
)  # fmt: skip
def test_cli_refuses_bad_options_up_front(tmp_path, args, option):
    (tmp_path / "in").mkdir()
    res = CliRunner().invoke(app, ["methane", "monitor", str(tmp_path / "in"), "--out",
                                   str(tmp_path / "out"), *args])  # fmt: skip
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {option}=")
    assert not (tmp_path / "out").exists()


def test_interrupted_monitor_keeps_its_scene_records(tmp_path):
    """Ctrl-C after some scenes: fail_on_error must not remove the resume points."""
    (tmp_path / "scenes").mkdir()
    (tmp_path / "scenes" / "a.json").write_text("{}")
    assert not _discard_new_run(tmp_path, None) and (tmp_path / "scenes" / "a.json").exists()
