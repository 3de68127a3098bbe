"""Monitoring runs (eoforge.methane.monitor.run): cluster paths, resume, bad files, catalogue.

The archive: 2 sites (64 and 96 px grids) x 3 dates from ``simulate_to_files``: date 1 the
plume-free reference, date 2 the target with a planted 6000 kg/h plume, date 3 the reference
again. Truth: dates 1 have no reference, a plume on dates 2 and none on dates 3.

The LocalCluster path runs with worker processes (as users get it, ~6 s of start-up on the
shared 2-core machine); the other runs use an in-process LocalCluster started by the test and
passed by its address (the ``--scheduler`` path).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from eoforge.methane.monitor.run import monitor
from eoforge.methane.pair_files import simulate_to_files

RATE = 6000.0
DATES = ("20230101", "20230111", "20230121")


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for k, shape in enumerate((64, 96)):
        files = simulate_to_files(root.parent / f"sim{k}", rate_kg_h=RATE, seed=k, shape=shape)
        site = root / f"s{k}"
        site.mkdir()
        for date, kind in zip(DATES, ("reference", "target", "reference"), strict=True):
            shutil.copy(files[kind], site / f"s{k}_{date}.tif")
    return root


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:  # fmt: skip
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def local_run(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("local")
    calls: list[tuple[int, int]] = []
    summary = monitor(archive, out, workers=2, progress=lambda d, t: calls.append((d, t)))
    return out, summary, calls


def _scenes(out: Path) -> list[dict]:
    with open(out / "scenes.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "scenes").glob("*.json")}


def test_local_cluster_finds_the_planted_plumes(local_run):
    out, summary, calls = local_run
    rows = _scenes(out)
    assert len(rows) == 6 and summary["run"] == 4 and summary["skipped"] == 0
    assert calls[0] == (0, 4) and calls[-1] == (4, 4)
    status = {(r["path"][-12:-4], r["status"]) for r in rows}
    assert status == {(DATES[0], "no-reference"), (DATES[1], "ok"), (DATES[2], "ok")}
    by_date = {d: [int(r["n_plumes"]) for r in rows if r["date"].replace("-", "") == d]
               for d in DATES}  # fmt: skip
    assert by_date == {DATES[0]: [0, 0], DATES[1]: [1, 1], DATES[2]: [0, 0]}
    third = [r for r in rows if r["date"] == "2023-01-21"]
    assert all(len(r["references"].split(";")) == 2 for r in third)  # both earlier dates
    plumes = json.loads((out / "plumes.geojson").read_text())["features"]
    assert len(plumes) == 2
    for f in plumes:
        props = f["properties"]
        assert props["date"] == "2023-01-11" and 0.5 * RATE < props["rate_kg_h"] < 1.5 * RATE
        assert 6.5 < props["lon"] < 7.5 and 31 < props["lat"] < 32.5  # Hassi Messaoud grid
        assert f["geometry"]["type"] == "MultiPolygon"
    sources = json.loads((out / "sources.geojson").read_text())["features"]
    assert sources and all(s["properties"]["detection_dates"] == ["2023-01-11"] for s in sources)
    for s in sources:  # each source: seen on date 2 of 2 clear looks (dates 2 and 3)
        assert s["properties"]["n_revisits"] == 2
        assert s["properties"]["detection_frequency"] == pytest.approx(0.5)
    assert len(list((out / "figures").glob("site_*.png"))) == 2
    html = (out / "report.html").read_text()
    assert "Persistent sources" in html and html.count("<img") == 2


def test_scheduler_address_gives_the_same_records(archive, local_run, scheduler, tmp_path):
    out_local, _, _ = local_run
    summary = monitor(archive, tmp_path, scheduler=scheduler)
    assert summary["run"] == 4
    for path in (out_local / "scenes").glob("*.json"):
        a, b = (
            json.loads(path.read_text()),
            json.loads((tmp_path / "scenes" / path.name).read_text()),
        )
        assert a["status"] == b["status"] and a["references"] == b["references"]
        assert [p["rate_kg_h"] for p in a["plumes"]] == pytest.approx(
            [p["rate_kg_h"] for p in b["plumes"]], rel=1e-5)  # fmt: skip


def test_resume_skips_done_reruns_changed_and_picks_up_new(archive, scheduler, tmp_path):
    src = tmp_path / "archive"
    shutil.copytree(archive, src)
    out = tmp_path / "out"
    monitor(src, out, scheduler=scheduler)
    before = _mtimes(out)
    again = monitor(src, out, scheduler=scheduler)
    assert again["run"] == 0 and again["skipped"] == 6 and _mtimes(out) == before
    changed = src / "s0" / f"s0_{DATES[1]}.tif"  # the target of site 0, a reference of date 3
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    shutil.copy(src / "s1" / f"s1_{DATES[0]}.tif", src / "s1" / "s1_20230131.tif")  # new date
    third = monitor(src, out, scheduler=scheduler)
    after = _mtimes(out)
    rewritten = {n for n in after if after[n] != before.get(n)}
    assert third["run"] == 3 and third["skipped"] == 4 and len(after) == 7
    assert sorted(n.split("_")[1] for n in rewritten) == ["20230111", "20230121", "20230131"]
    assert len({n.split("_")[0] for n in rewritten}) == 2  # site 0's dates 2-3, site 1's new one
    assert len(_scenes(out)) == 7


def test_corrupt_files_are_error_rows_and_the_rest_completes(archive, scheduler, tmp_path):
    src = tmp_path / "archive"
    shutil.copytree(archive, src)
    (src / "s0" / "s0_20230105.tif").write_bytes(b"not a tiff at all")
    data = bytearray((src / "s1" / f"s1_{DATES[0]}.tif").read_bytes())
    n = len(data)  # a good header, garbled compressed pixels: fails in its detection task
    data[n // 3 : n // 3 + 4000] = np.random.default_rng(0).bytes(4000)
    (src / "s1" / "s1_20230125.tif").write_bytes(bytes(data))
    out = tmp_path / "out"
    summary = monitor(src, out, scheduler=scheduler)
    rows = _scenes(out)
    errors = [r for r in rows if r["status"] == "error"]
    assert len(rows) == 8 and len(errors) == 2
    assert all(r["message"] for r in errors)
    garbled = next(r for r in errors if r["path"].endswith("s1_20230125.tif"))
    assert garbled["date"] == "2023-01-25" and garbled["references"]  # scanned, then failed
    assert "RasterioIOError" in garbled["message"] and "\n" not in garbled["message"]
    assert {Path(r["path"]).name for r in errors} == {"s0_20230105.tif", "s1_20230125.tif"}
    assert summary["by_status"]["ok"] == 4 and summary["plumes"] == 2
    assert "Errors" in (out / "report.html").read_text()


def test_sources_match_the_planted_truth_of_a_series(scheduler, tmp_path):
    """simulate_series (2 sites x 6 dates, 128 px, clouds and intermittent 4000 kg/h sources):
    one source per site, at its place, with the true clear-sky detection frequency and the rate
    within 30 %; no source made of false plumes."""
    from eoforge.methane.monitor.series import simulate_series
    from eoforge.methane.monitor.sources import distance_m

    root = simulate_series(tmp_path / "series", n_sites=2, n_dates=6, size=128, seed=0)
    monitor(root, tmp_path / "out", scheduler=scheduler)
    truth = json.loads((root / "truth.json").read_text())
    found = [f["properties"] for f in
             json.loads((tmp_path / "out" / "sources.geojson").read_text())["features"]]  # fmt: skip
    assert len(found) == len(truth["sources"]) == 2
    for src in truth["sources"]:
        looks = [s["date"] for s in truth["scenes"] if s["site"] == src["site"]
                 and not s["cloudy"]][1:]  # the first date has no reference  # fmt: skip
        emitting = [d for d in src["dates_emitting"] if d in looks]
        [match] = [p for p in found if p["sites"] == [src["site"]]]
        assert distance_m(match["lon"], match["lat"], src["lon"], src["lat"]) < 500
        assert match["detection_dates"] == emitting and match["n_revisits"] == len(looks)
        assert match["mean_rate_kg_h"] == pytest.approx(src["rate_kg_h"], rel=0.3)


def test_readme_monitoring_example_runs_as_written(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from eoforge.cli.main import app
    from tests.methane.test_readme_examples import block_after, commands

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EOFORGE_PROGRESS", "0")
    cmds = commands(block_after("### Monitoring", "bash"))
    assert [c[:2] for c in cmds] == [["methane", "simulate-series"], ["methane", "monitor"]]
    for args in cmds:
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") :])
    assert summary["scenes"] == 10 and summary["by_status"]["no-reference"] == 2
    out = tmp_path / "runs" / "ch4-monitor"
    for name in ("scenes.csv", "plumes.geojson", "sources.geojson", "report.html"):
        assert (out / name).is_file()
