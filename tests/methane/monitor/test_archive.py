"""Monitoring archive: scene dates from each source, sites by grid, references, fingerprints,
and the synthetic series read back against its truth."""

from __future__ import annotations

import datetime
import json
import os

import numpy as np
import pytest
import rasterio
from typer.testing import CliRunner

from eoforge.core.errors import InputError
from eoforge.io.raster import GeoInfo
from eoforge.methane import scenes
from eoforge.methane.monitor.archive import (
    Scene,
    choose_references,
    date_from_name,
    date_from_safe_name,
    input_fingerprint,
    parse_iso_date,
    scan_archive,
    valid_fraction,
)
from eoforge.methane.monitor.series import simulate_series
from eoforge.methane.pair_files import write_scene

D = datetime.date
SAFE = "S2A_MSIL1C_20220601T103631_N0400_R008_T32RNP_20220603T123456.SAFE"


def _tif(path, west=300000.0, size=32, seed=0, cloud=0.0, **tags):
    pair = scenes.simulate_pair((size, size), "semi-arid", seed, cloud_fraction=(cloud, 0.0))
    geo = GeoInfo.from_bounds(west=west, north=3512000.0, resolution=20.0, crs="EPSG:32632")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_scene(path, pair.target, geo, SZA="30", **tags)


def test_date_parsers():
    assert date_from_safe_name(SAFE) == D(2022, 6, 1)  # the sensing date, not the 3rd
    assert date_from_safe_name("S2B_MSIL2A_20231231T000000_N0509_R1_T1_X.SAFE") == D(2023, 12, 31)
    assert date_from_safe_name("scene_20220601.tif") is None
    assert parse_iso_date("2022-06-01") == D(2022, 6, 1)
    assert parse_iso_date("2022-06-01T23:59:59Z") == D(2022, 6, 1)
    assert parse_iso_date("2022-06-01T10:36:31.5+02:00") == D(2022, 6, 1)
    assert parse_iso_date("June") is None
    assert date_from_name("a_20221301_b_20220115.tif") == D(2022, 1, 15)  # month 13 skipped
    assert date_from_name("S2_20220601103631.tif") == D(2022, 6, 1)  # first 8 of a long run
    assert date_from_name("tile_123_x.tif") is None


def test_each_date_source_and_error_entries(tmp_path):
    root = tmp_path / "in"
    _tif(root / "a" / "scene_20220105.tif")  # name only
    _tif(root / "a" / "x_20990101.tif", ACQUISITION_DATE="2022-01-10T10:30:00Z")  # tag wins
    _tif(root / "a" / "nodate.tif")
    _tif(root / "a" / "bad_tag_20220101.tif", ACQUISITION_DATE="soon")
    (root / "a" / "corrupt_20220120.tif").write_bytes(b"not a tiff at all")
    (root / "a" / ".tmp_20220121.tif").write_bytes(b"hidden temporary file: skipped")
    (root / "notes.txt").write_text("ignored")
    found, errors = scan_archive(root)
    assert [(s.path.name, s.date) for s in found] == [
        ("scene_20220105.tif", D(2022, 1, 5)), ("x_20990101.tif", D(2022, 1, 10))]  # fmt: skip
    bad = {p.name: msg for p, msg in errors}
    assert set(bad) == {"nodate.tif", "bad_tag_20220101.tif", "corrupt_20220120.tif"}
    assert "no date" in bad["nodate.tif"] and "ACQUISITION_DATE" in bad["bad_tag_20220101.tif"]
    assert "not a readable raster" in bad["corrupt_20220120.tif"]


def test_safe_name_date_and_grid(tmp_path):
    from rasterio.transform import from_origin

    img = tmp_path / SAFE / "GRANULE" / "L1C_T32RNP_A1_20220601T103631" / "IMG_DATA"
    img.mkdir(parents=True)
    (tmp_path / SAFE / "MTD_MSIL1C.xml").write_text(
        "<n1:Level-1C_User_Product xmlns:n1='x'><PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>"
        "<QUANTIFICATION_VALUE>10000</QUANTIFICATION_VALUE></n1:Level-1C_User_Product>"
    )
    rng = np.random.default_rng(0)
    for band, res, n in (("B04", 10, 64), ("B8A", 20, 32), ("B11", 20, 32), ("B12", 20, 32)):
        dn = rng.integers(2000, 3000 if band == "B04" else 4000, (n, n)).astype(np.uint16)
        dn[0, : 4 if band == "B11" else 0] = 0  # 4 no-data pixels in B11
        with rasterio.open(img / f"T32RNP_20220601T103631_{band}.jp2", "w", driver="GTiff",
                           height=n, width=n, count=1, dtype="uint16", crs="EPSG:32632",
                           transform=from_origin(600000.0, 3500000.0, res, res)) as dst:  # fmt: skip
            dst.write(dn[None])
    found, errors = scan_archive(tmp_path)
    assert errors == [] and len(found) == 1  # band files inside the .SAFE are not scenes
    assert found[0].date == D(2022, 6, 1) and found[0].path.name == SAFE
    assert valid_fraction(found[0]) == 1.0 - 4 / 32**2  # red <= 0.2 after the offset: clear
    before = input_fingerprint(found[0], [], "w")
    os.utime(img / "T32RNP_20220601T103631_B12.jp2", ns=(1, 1))  # a band file inside changed
    assert input_fingerprint(found[0], [], "w") != before


def test_sites_by_grid_are_stable_and_distinct(tmp_path):
    for d in ("20220101", "20220111"):
        _tif(tmp_path / "one" / f"a_{d}.tif", west=300000.0)
        _tif(tmp_path / "two" / f"b_{d}.tif", west=400000.0)
    _tif(tmp_path / "three" / "c_20220101.tif", west=300000.0, size=48)  # same origin, new shape
    found, errors = scan_archive(tmp_path)
    assert errors == []
    sites = {s.path.parent.name: s.site for s in found}
    assert len(set(sites.values())) == 3 and all(v.startswith("site-") for v in sites.values())
    again, _ = scan_archive(tmp_path)
    assert [s.scene_id for s in again] == [s.scene_id for s in found]  # stable across runs
    assert len({s.scene_id for s in found}) == len(found)
    assert [(s.site, s.date) for s in found] == sorted((s.site, s.date) for s in found)


def _scene(site, day, name=None):
    d = D(2022, 1, day)
    return Scene(path=__import__("pathlib").Path(name or f"{site}_{day}.tif"), date=d, site=site,
                 scene_id=f"{site}_{d:%Y%m%d}_x")  # fmt: skip


def test_choose_references_skips_cloudy_later_and_same_date():
    s = [_scene("A", d) for d in (1, 6, 11, 16, 21, 26)] + [_scene("B", 3), _scene("B", 8)]
    same_day = Scene(s[3].path.with_name("twin.tif"), s[3].date, "A", "A_20220116_y")
    valid = {x.scene_id: 1.0 for x in s} | {s[2].scene_id: 0.2, same_day.scene_id: 1.0}
    refs = choose_references([*s, same_day], k=3, min_valid=0.5, valid=valid)
    day = {x.scene_id: x.date.day for x in [*s, same_day]}
    assert refs[s[0].scene_id] == []  # the first date has no reference
    assert [day[r.scene_id] for r in refs[s[1].scene_id]] == [1]
    assert [day[r.scene_id] for r in refs[s[3].scene_id]] == [6, 1]  # 11 is cloudy; no 16 twin
    assert [day[r.scene_id] for r in refs[s[5].scene_id]] == [21, 16, 16]  # 3 most recent
    assert [r.site for r in refs[s[7].scene_id]] == ["B"]  # never another site's scene
    with pytest.raises(InputError, match="references=0"):
        choose_references(s, k=0)


def test_choose_references_measures_valid_fraction(tmp_path):
    _tif(tmp_path / "a_20220101.tif", seed=1)
    _tif(tmp_path / "a_20220106.tif", seed=1, cloud=0.85)
    _tif(tmp_path / "a_20220111.tif", seed=1)
    found, _ = scan_archive(tmp_path)
    fr = [valid_fraction(s) for s in found]
    assert fr[0] > 0.99 and fr[1] < 0.5 and fr[2] > 0.99
    refs = choose_references(found, k=2)
    assert [r.date.day for r in refs[found[2].scene_id]] == [1]  # the cloudy 6th is skipped


def test_input_fingerprint_changes(tmp_path):
    a = _tif(tmp_path / "a_20220101.tif")
    _tif(tmp_path / "a_20220106.tif")
    found, _ = scan_archive(tmp_path)
    f0 = input_fingerprint(found[1], found[:1], "weights-1")
    assert input_fingerprint(found[1], found[:1], "weights-1") == f0
    assert input_fingerprint(found[1], found[:1], "weights-2") != f0
    assert input_fingerprint(found[1], [], "weights-1") != f0
    st = a.stat()
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # the reference was touched
    assert input_fingerprint(found[1], found[:1], "weights-1") != f0


def test_simulate_series_matches_truth(tmp_path):
    root = simulate_series(tmp_path / "arc", n_sites=2, n_dates=4, size=64, seed=3,
                           cloud_prob=0.5, plume_prob=0.6, rate_kg_h=20000.0)  # fmt: skip
    truth = json.loads((root / "truth.json").read_text())
    found, errors = scan_archive(root)
    assert errors == [] and len(found) == 8 == len(truth["scenes"])
    by_path = {os.path.relpath(s.path, root): s for s in found}
    for rec in truth["scenes"]:
        s = by_path[rec["path"]]
        assert (s.site, s.date.isoformat()) == (rec["site"], rec["date"])
        v = valid_fraction(s)
        assert (v < 0.5) == rec["cloudy"], (rec, v)  # a cloudy date is never a reference
        assert (rec["plume_pixels"] > 0) <= rec["plume"]
    assert {s["site"] for s in truth["sources"]} == {s.site for s in found}
    for src in truth["sources"]:
        emitting = {r["date"] for r in truth["scenes"] if r["site"] == src["site"] and r["plume"]}
        assert set(src["dates_emitting"]) == emitting
        first = min(r["date"] for r in truth["scenes"] if r["site"] == src["site"])
        assert first not in emitting  # the first date is clear and plume-free
    # the source is where truth says: the plume darkens B12/B11 around it on an emitting date
    rec = max((r for r in truth["scenes"] if r["plume"] and not r["cloudy"]),
              key=lambda r: r["plume_pixels"])  # fmt: skip
    src = next(s for s in truth["sources"] if s["site"] == rec["site"])
    clear = next(r for r in truth["scenes"] if r["site"] == rec["site"] and not r["plume"])
    with rasterio.open(root / rec["path"]) as a, rasterio.open(root / clear["path"]) as b:
        assert a.tags()["ACQUISITION_DATE"] == rec["date"]
        i11, i12 = (list(a.descriptions).index(x) + 1 for x in ("B11", "B12"))
        ratio = (a.read(i12) / a.read(i11)) / (b.read(i12) / b.read(i11))
    r, c = src["row"], src["col"]
    at_source = ratio[r - 2 : r + 3, c - 2 : c + 3].mean()
    assert at_source < np.median(ratio) - 0.01, (at_source, np.median(ratio))


def test_simulate_series_cli(tmp_path):
    from eoforge.cli.main import app

    res = CliRunner().invoke(app, ["methane", "simulate-series", "--out", str(tmp_path / "s"),
                                   "--sites", "1", "--dates", "2", "--size", "32"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert len(json.loads((tmp_path / "s" / "truth.json").read_text())["scenes"]) == 2
    res = CliRunner().invoke(app, ["methane", "simulate-series", "--out", str(tmp_path / "t"),
                                   "--cloud-prob", "2"])  # fmt: skip
    assert res.exit_code == 2 and "--cloud-prob=2" in res.output


def test_date_seed_keeps_the_site_and_redraws_the_revisit():
    a, b = (scenes.simulate_pair((48, 48), "urban", 5, date_seed=d) for d in (1, 2))
    plain = scenes.simulate_pair((48, 48), "urban", 5)
    other = scenes.simulate_pair((48, 48), "urban", 6, date_seed=1)
    assert np.array_equal(a.masks["water"], b.masks["water"]) and a.sza == b.sza
    revisit = np.abs(a.target["B11"] - b.target["B11"]).mean()  # noise and path only
    assert 0 < revisit < 0.2 * np.abs(a.target["B11"] - other.target["B11"]).mean()
    assert not np.array_equal(plain.target["B11"], a.target["B11"])
    with pytest.raises(InputError, match="date_seed"):
        scenes.simulate_pair((16, 16), "urban", 5, date_seed=-1)
