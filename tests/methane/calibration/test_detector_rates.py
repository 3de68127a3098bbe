"""Calibration of a detector: U_eff for its masks, the threshold scan, the CLI."""

import shutil

import pytest
import torch
from typer.testing import CliRunner

from eoforge.cli.main import app
from eoforge.core.errors import InputError
from eoforge.methane.calibration.detector import calibrate_detector
from eoforge.methane.calibration.detector_rates import calibrate_detector_rates
from eoforge.methane.detector import load_default_detector
from eoforge.methane.detector.weights import default_weights_path, load_detector

torch.set_num_threads(1)


def test_calibration_needs_detections_and_a_valid_threshold():
    det = load_default_detector()
    with pytest.raises(InputError, match="too few"):
        calibrate_detector_rates(det, seeds=range(3), rate_range=(1.0, 2.0))
    with pytest.raises(InputError, match="threshold"):
        calibrate_detector(det, threshold=1.5)


def test_cli_calibrate_rewrites_the_json(tmp_path):
    for suffix in (".safetensors", ".json"):
        shutil.copy(default_weights_path().with_suffix(suffix), tmp_path / f"d{suffix}")
    res = CliRunner().invoke(app, ["methane", "calibrate", str(tmp_path / "d.safetensors"),
                                   "--threshold", "0.9", "--n-rate-cases", "8"])  # fmt: skip
    assert res.exit_code == 0, res.output
    back = load_detector(tmp_path / "d.safetensors")
    assert back.threshold == 0.9 and back.rate_calibration.n >= 3
    assert "1000-1007" in back.calibration["rate_calibration"]
    # a changed threshold does not inherit the old scan's provenance
    assert back.calibration["threshold"].startswith("0.9, set by the user")


def test_cli_calibrate_scan_reports_the_fp_interval_and_confidence_rule(tmp_path):
    for suffix in (".safetensors", ".json"):
        shutil.copy(default_weights_path().with_suffix(suffix), tmp_path / f"d{suffix}")
    res = CliRunner().invoke(app, ["methane", "calibrate", str(tmp_path / "d.safetensors"),
                                   "--n-negative", "3", "--size", "64", "--n-rate-cases", "8",
                                   "--fp-confidence", "0.9"])  # fmt: skip
    assert res.exit_code == 0, res.output
    note = load_detector(tmp_path / "d.safetensors").calibration["threshold"]
    assert "bootstrap confidence 0.9" in note and "90 % interval" in note
