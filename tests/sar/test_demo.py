"""The SAR demo stage writes its store and figures and reports checks that hold."""

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.sar.demo import LOOKS, N_IMAGETTES, stage
from eoforge.sar.store import load_wv


def test_stage(tmp_path):
    run = RunDir(tmp_path / "demo")
    report = Report("test")
    metrics = stage(run, report, seed=0)
    assert len(load_wv(run.path / "sar" / "wv.zarr")) == N_IMAGETTES
    assert (run.figures / "sar_examples.png").stat().st_size > 10_000
    assert (run.figures / "sar_classes_nrcs.png").exists()
    assert abs(metrics["hs_from_surface_over_true"] - 1) < 0.03
    assert abs(metrics["enl_measured"] - LOOKS) < 0.05 * LOOKS
    assert metrics["corr_wind_mean_db"] > 0.7
    assert 0.005 < metrics["rarest_class_share"] < 0.02
    assert metrics["near_duplicates"] == round(0.05 * N_IMAGETTES)
    html = report.render()
    assert "SAR wave-mode imagettes" in html and html.count("<img") == 2
