import json

from typer.testing import CliRunner

from eoforge.cli.main import app


def test_demo_writes_report_and_manifest(tmp_path):
    out = tmp_path / "demo"
    res = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    manifest = json.loads((out / "manifest.json").read_text())
    assert "report.html" in manifest["files"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["stages"]) == {t["stage"] for t in metrics["timings"]}
