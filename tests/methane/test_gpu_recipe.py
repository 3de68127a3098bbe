"""scripts/train_detector_gpu.sh: its training configs are valid DetectorConfigs of the larger
detector, and its results table compares the new weights with v11 by the stated rule."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from eoforge.methane.detector.model import n_parameters
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.module import DetectorModule

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "train_detector_gpu.sh"


def _results_row():
    spec = importlib.util.spec_from_file_location("results_row", SCRIPT.with_name(
        "detector_results_row.py"))  # fmt: skip
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
@pytest.mark.parametrize(("tiny", "params"), [("0", 9_175_232), ("1", 53_016)])
def test_the_recipe_configs_are_valid_and_build_the_larger_detector(tmp_path, tiny, params):
    env = {"PATH": "/usr/bin:/bin", "TINY": tiny, "RECIPE_ONLY": "1", "OUT": str(tmp_path / "r")}
    res = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                         cwd=ROOT, check=True)  # fmt: skip
    cfg = DetectorConfig.load(res.stdout.strip())
    assert cfg.architecture == "resunet" and cfg.precision == "auto" and cfg.channels_last
    assert n_parameters(DetectorModule(cfg).net) == params
    if tiny == "0":
        assert (cfg.steps, cfg.batch_size, cfg.patch, cfg.widths[-1]) == (3000, 128, 128, 256)


def _summary(q50, fp, recall=0.3):
    return {"threshold": 0.8, "fp_per_100km2_at_threshold": fp, "fp_per_100km2_ci90": [0, 3],
            "q50_detector_kg_h": q50, "recall_detector": recall,
            "fp_ratio_mbmp_over_detector": None, "rate_error_median": 0.2, "n_quantified": 5}  # fmt: skip


def test_new_weights_beat_v11_only_with_a_lower_q50_within_the_budget():
    rr = _results_row()
    v11 = _summary(1900.0, 1.8)
    assert rr.beats(_summary(1200.0, 1.9), v11)
    assert not rr.beats(_summary(1200.0, 2.5), v11)  # over the false-positive budget
    assert not rr.beats(_summary(2500.0, 1.0), v11)
    assert not rr.beats(_summary(None, 0.0), v11)  # never reaches 50 % detection
    assert rr.beats(_summary(1900.0, 1.0, recall=0.4), v11)  # same Q50, more plumes found
    assert rr.beats(_summary(5000.0, 1.0), _summary(None, 0.5))
    assert rr.row("new/x", _summary(None, 1.0)).startswith(
        "| new/x | 0.800 | 1.00 (0.00-3.00) | n/a"
    )
