"""The SAR metrics of diffusion.evaluate on real Sentinel-1 GRDH tiles: real-vs-real baselines
are small compared with planted changes (the reading scale recorded in benchmarks/RESULTS.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from eoforge.diffusion.evaluation.evaluate import evaluate
from eoforge.sar.readers import read_imagette
from eoforge.sar.realism import tiles

S1 = Path(__file__).resolve().parents[2] / "data" / "bigearthnet-s1"


@pytest.mark.realdata
def test_real_vs_real_baseline_small_against_planted_changes() -> None:
    files = sorted(S1.glob("*/*_VV.tif"))
    vv = np.stack([read_imagette(f, db=True) for f in files]).astype(np.float64)
    t = tiles(vv, 30)  # (96, 30, 30), 16 consecutive tiles per patch
    checker = (np.arange(len(t)) + np.arange(len(t)) // 4) % 2 == 0
    a, b = t[checker], t[~checker]
    kw = dict(kind="sar", feature_space=False)
    base = evaluate(a, b, **kw)
    gain = evaluate(10**0.1 * a, b, **kw)  # +1 dB
    boxcar = evaluate(tiles(ndimage.uniform_filter(vv, size=(1, 3, 3)), 30)[checker], b, **kw)
    # measured: baseline ENL ratio 0.90, W1 0.13 dB, PSD distance 0.09
    assert base["enl_ratio"] == pytest.approx(1.0, abs=0.2)
    assert base["log_hist_w1_db"] < 0.3
    assert base["psd_distance"] < 0.3
    assert gain["log_hist_w1_db"] == pytest.approx(1.0, abs=0.2)  # W1 of a pure shift = shift
    assert gain["psd_distance"] == pytest.approx(base["psd_distance"], abs=1e-9)  # dB offset
    assert boxcar["enl_ratio"] > 1.5 * base["enl_ratio"]
    assert boxcar["psd_distance"] > 5 * base["psd_distance"]
