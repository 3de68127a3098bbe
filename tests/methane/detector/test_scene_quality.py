"""Scene checks: pairs unlike the training pairs (misregistered, mostly invalid) are flagged."""

import json

import numpy as np
from typer.testing import CliRunner

from eoforge.cli.main import app
from eoforge.methane.detector.features import scene_constants
from eoforge.methane.detector.scene_quality import TRAINED_NOISE_RANGE, scene_report
from eoforge.methane.scenes import simulate_pair


def _report(target, reference, pair):
    return scene_report(scene_constants(target, reference, pair.sza, pair.vza))


def test_clean_pairs_of_every_surface_pass_within_the_trained_range():
    for surface in ("desert", "semi-arid", "vegetated", "urban"):
        pair = simulate_pair((128, 128), surface, 21)
        rep = _report(pair.target, pair.reference, pair)
        assert rep["warnings"] == [], (surface, rep)
        assert TRAINED_NOISE_RANGE[0] < rep["mbmp_noise"] < TRAINED_NOISE_RANGE[1]


def test_a_misregistered_reference_is_flagged():
    pair = simulate_pair((128, 128), "urban", 7)
    shifted = {b: np.roll(v, 1, axis=1) for b, v in pair.reference.items()}  # one pixel east
    rep = _report(pair.target, shifted, pair)
    assert rep["mbmp_noise"] > 0.03
    assert len(rep["warnings"]) == 1 and "misregistration" in rep["warnings"][0]


def test_a_mostly_cloudy_or_empty_pair_is_flagged():
    pair = simulate_pair((128, 128), "desert", 3)
    target = {b: v.copy() for b, v in pair.target.items()}
    for v in target.values():
        v[:80] = np.nan  # 62 % no data
    rep = _report(target, pair.reference, pair)
    assert abs(rep["valid_fraction"] - 48 / 128) < 0.02
    assert any("valid SWIR" in w for w in rep["warnings"])


def test_cli_detect_prints_the_warnings(tmp_path):
    import rasterio

    runner = CliRunner()
    res = runner.invoke(app, ["methane", "simulate", "--out", str(tmp_path / "sim"), "--surface",
                              "urban", "--size", "128", "--rate", "0", "--seed", "7"])  # fmt: skip
    assert res.exit_code == 0, res.output
    clean = tmp_path / "sim" / "reference.tif"
    ref = tmp_path / "sim" / "shifted.tif"
    with rasterio.open(clean) as src:  # misregister a copy of the reference by one pixel
        data, profile, desc = src.read(), src.profile, src.descriptions
    with rasterio.open(ref, "w", **profile) as dst:
        dst.write(np.roll(data, 1, axis=2))
        dst.descriptions = desc
    target = str(tmp_path / "sim" / "target.tif")
    res = runner.invoke(app, ["methane", "detect", target, "--reference", str(ref),
                              "--out", str(tmp_path / "det")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "warning: the pair's MBMP scatter" in res.output
    # two reference dates: the warning names the bad one; the GeoJSON keeps both reports
    res = runner.invoke(app, ["methane", "detect", target, "--reference", str(clean),
                              "--reference", str(ref), "--out", str(tmp_path / "det2")])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "warning: reference 2: the pair's MBMP scatter" in res.output
    assert "reference 1:" not in res.output
    scene = json.loads((tmp_path / "det2" / "plumes.geojson").read_text())["scene"]
    assert len(scene["per_reference"]) == 2 and scene["mbmp_noise"] > 0.03
