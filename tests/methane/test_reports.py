"""``report.html`` of ``methane detect``, ``evaluate`` and ``train``: present, with their figures
and tables (the evaluation's true rates beside the estimates)."""

import base64
import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from eoforge.methane.detector.training.report import read_loss_log, write_train_report
from eoforge.methane.pair_files import simulate_to_files

torch.set_num_threads(1)
runner = CliRunner()


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["methane", *args])


def figures(html: str) -> list[bytes]:
    """The decoded PNGs embedded in a report."""
    return [
        base64.b64decode(m) for m in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    ]


def table_column(html: str, header: str) -> list[str]:
    """Cells of the column ``header`` of the first table that has it."""
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        heads = [h for h in re.findall(r"<th class='l'>(.*?)</th>", table)]
        if header in heads:
            k = heads.index(header)
            rows = re.findall(r"<tr>(.*?)</tr>", table)[1:]
            return [re.findall(r"<td[^>]*>(.*?)</td>", r)[k] for r in rows]
    raise AssertionError(f"no table with column {header!r}")


def test_detect_writes_a_report_with_the_maps_and_the_plume_table(tmp_path):
    from eoforge.methane.detector import save_detector
    from tests.methane.detect.test_pipeline import prior_detector

    sim = tmp_path / "sim"
    simulate_to_files(sim, rate_kg_h=8000.0, seed=11, shape=96, wind_speed=2.5)
    weights = save_detector(prior_detector(), tmp_path / "prior")
    out = tmp_path / "det"
    res = invoke("detect", str(sim / "target.tif"), "--reference", str(sim / "reference.tif"),
                 "--out", str(out), "--wind-speed", "2.5", "--tile", "128", "--min-area", "8",
                 "--weights", str(weights))  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    pngs = figures(html)
    assert len(pngs) == 1 and pngs[0] == (out / "detection.png").read_bytes()
    assert "mol/m2" in html and "plume probability" in html
    doc = json.loads((out / "plumes.geojson").read_text())
    rates = table_column(html, "rate (kg/h)")
    assert len(rates) == len(doc["features"]) >= 1
    for cell, feat in zip(rates, doc["features"], strict=True):
        assert float(cell) == pytest.approx(feat["properties"]["rate_kg_h"], rel=1e-3)
    assert "report.html" in res.output


def test_evaluate_report_puts_each_true_rate_beside_its_estimate(tmp_path):
    from eoforge.methane.evaluate.benchmark import evaluate_to

    out = tmp_path / "eval"
    evaluate_to(out, n_negative=1, n_per_rate=2, shape=64, rates=(2500.0, 8000.0), threshold=0.5)
    summary = json.loads((out / "metrics.json").read_text())
    plumes = json.loads((out / "plumes.json").read_text())
    html = (out / "report.html").read_text()
    assert len(figures(html)) == 1
    assert figures(html)[0] == (out / "figures" / "pod_vs_rate.png").read_bytes()
    # one row per simulated plume, with its planted rate
    truth = [float(c) for c in table_column(html, "true rate (kg/h)")]
    assert truth == [2500.0, 2500.0, 8000.0, 8000.0] == [p["true_rate_kg_h"] for p in plumes]
    estimates = table_column(html, "estimated rate (kg/h)")
    detected = [p for p in plumes if p["detected"]]
    assert sum(c != "not detected" for c in estimates) == len(detected) == summary["n_quantified"]
    assert len(detected) >= 2  # the 8000 kg/h plumes at threshold 0.5
    errors = [abs(p["relative_error"]) for p in detected]
    assert np.median(errors) == pytest.approx(summary["rate_error_median"])
    for cell, p in zip(estimates, plumes, strict=True):
        if p["detected"]:
            assert float(cell) == pytest.approx(p["estimated_rate_kg_h"], abs=0.5)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "report.html" in manifest["files"]


def test_train_report_draws_the_logged_loss(tmp_path):
    """A planted CSV log (two sessions, a step logged twice): the curve holds each step once."""
    for version, steps in (("version_0", range(9, 60, 10)), ("version_1", range(49, 100, 10))):
        folder = tmp_path / "logs" / version
        folder.mkdir(parents=True)
        lines = ["epoch,loss,loss_bce,loss_col,loss_dice,step"]
        lines += [f"0,{1.0 / (s + 1)},{0.5 / (s + 1)},,0.1,{s}" for s in steps]
        lines += ["0,,,,,200"]  # a row without a loss (e.g. another metric)
        (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    log = read_loss_log(tmp_path)
    np.testing.assert_array_equal(log["step"], np.arange(9, 100, 10))
    np.testing.assert_allclose(log["loss"], 1.0 / (np.arange(9, 100, 10) + 1))
    assert np.isnan(log["loss_col"]).all()
    path = write_train_report(tmp_path)
    html = path.read_text()
    assert figures(html)[0] == (tmp_path / "figures" / "training_loss.png").read_bytes()
    assert "steps 9-99" in html


def test_train_command_writes_its_report(tmp_path):
    run = tmp_path / "train"
    res = invoke("train", "--out", str(run), "--steps", "10", "--batch-size", "1", "--patch",
                 "32", "--threads", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    html = (run / "report.html").read_text()
    assert len(figures(html)) == 1 and (run / "figures" / "training_loss.png").is_file()
    assert "final_loss" in html
