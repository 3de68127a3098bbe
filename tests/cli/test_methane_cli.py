"""End-to-end: ``eoforge methane`` simulate -> detect on GeoTIFFs the CLI writes; errors."""

import json
import re

import numpy as np
import pytest
import rasterio
import torch
from typer.testing import CliRunner

torch.set_num_threads(1)
runner = CliRunner()


def flat(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["methane", *args])


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim")
    res = invoke("simulate", "--out", str(out), "--surface", "semi-arid", "--rate", "8000",
                 "--seed", "11", "--size", "160", "--wind-speed", "2.5")  # fmt: skip
    assert res.exit_code == 0, res.output
    return out


def test_simulate_writes_a_tagged_pair_and_truth(scene):
    truth = json.loads((scene / "truth.json").read_text())
    assert truth["emission_rate_kg_h"] == 8000.0 and truth["plume_pixels"] > 20
    with rasterio.open(scene / "target.tif") as t, rasterio.open(scene / "reference.tif") as r:
        assert t.count == 6 and "B12" in t.descriptions
        assert t.transform == r.transform and t.crs == r.crs
        assert float(t.tags()["SZA"]) == pytest.approx(truth["sza"], abs=1e-3)
        b12 = t.descriptions.index("B12") + 1
        assert np.all(t.read(b12) > 0)


def test_detect_end_to_end(scene, tmp_path):
    """CLI pipeline with a deterministic detector (MBMP prior only) saved as weights files."""
    from eoforge.methane.detector import save_detector
    from tests.methane.detect.test_pipeline import prior_detector

    weights = save_detector(prior_detector(), tmp_path / "prior")
    out = tmp_path / "det"
    res = invoke("detect", str(scene / "target.tif"), "--reference", str(scene / "reference.tif"),
                 "--out", str(out), "--wind-speed", "2.5", "--tile", "128", "--min-area", "8",
                 "--weights", str(weights))  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((out / "plumes.geojson").read_text())
    assert len(doc["features"]) >= 1
    with rasterio.open(scene / "truth_column.tif") as src:
        truth = src.read(1)
        transform = src.transform
    # one detected plume's centroid lies on the true plume (within 3 pixels)
    r, c = np.nonzero(truth > 0.02)

    def dist(f):
        return np.min(np.hypot(r - f["properties"]["row"], c - f["properties"]["col"]))

    best = min(doc["features"], key=dist)
    assert dist(best) < 3
    row, col = best["properties"]["row"], best["properties"]["col"]
    x, y = transform * (col + 0.5, row + 0.5)
    assert best["properties"]["x"] == pytest.approx(x) and best["properties"]["y"] == pytest.approx(
        y
    )
    for name in ("probability.tif", "column.tif", "detection.png"):
        assert (out / name).is_file()


def test_detect_errors_are_clear(scene, tmp_path):
    res = invoke("detect", str(tmp_path / "nope.tif"), "--reference", str(scene / "reference.tif"))
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    # a reference on another grid (shifted origin)
    with rasterio.open(scene / "reference.tif") as src:
        profile, data, desc = src.profile, src.read(), src.descriptions
    profile["transform"] = profile["transform"] * rasterio.Affine.translation(3, 0)
    with rasterio.open(tmp_path / "shifted.tif", "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = desc
    res = invoke("detect", str(scene / "target.tif"), "--reference", str(tmp_path / "shifted.tif"),
                 "--out", str(tmp_path / "x"))  # fmt: skip
    assert res.exit_code == 2 and "same grid" in flat(res.output)
    # a file without B12
    profile.update(count=1, transform=rasterio.Affine(20, 0, 300000, 0, -20, 3512000))
    with rasterio.open(tmp_path / "one.tif", "w", **profile) as dst:
        dst.write(data[:1])
        dst.descriptions = ("B02",)
    res = invoke("detect", str(tmp_path / "one.tif"), "--reference", str(scene / "reference.tif"))
    assert res.exit_code == 2 and "B1" in flat(res.output)
    res = invoke("detect", str(scene / "target.tif"), "--reference", str(scene / "reference.tif"),
                 "--threshold", "2")  # fmt: skip
    assert res.exit_code == 2 and "threshold" in flat(res.output)


def test_train_and_evaluate_commands(tmp_path):
    run = tmp_path / "train"
    res = invoke("train", "--out", str(run), "--steps", "2", "--batch-size", "2", "--patch", "64",
                 "--threads", "1")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert (run / "detector.safetensors").is_file() and (run / "config.yaml").is_file()
    res = invoke("evaluate", "--weights", str(run / "detector.safetensors"), "--out",
                 str(tmp_path / "eval"), "--n-negative", "2", "--n-per-rate", "1", "--size", "64")  # fmt: skip
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert len(metrics["pod_detector"]) == len(metrics["rates_kg_h"])
    assert all(0.0 <= p <= 1.0 for p in metrics["pod_mbmp_baseline"])
