import json

from typer.testing import CliRunner

from eoforge.cli.main import app
from tests.core.test_report import _chromium, render_in_browser


def test_demo_writes_report_scored_against_truth(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    manifest = json.loads((out / "manifest.json").read_text())
    assert "report.html" in manifest["files"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["stages"]) == {t["stage"] for t in metrics["timings"]}
    ext = metrics["stages"]["extremes"]
    assert ext["ari_consensus_all_vs_truth"] > 0.95
    assert ext["ari_consensus_all_vs_truth"] > ext["ari_single_model_vs_truth"]
    assert abs(ext["detected_changed_cells"] - ext["planted_changed_cells"]) <= 2
    if _chromium():
        dom, _ = render_in_browser(tmp_path, out / "report.html")
        n = html.count("<img ")
        assert n >= 3 and f"figures: {n}/{n} decoded" in dom
