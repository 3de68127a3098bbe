"""Evaluation protocol: Q50 interpolation, FP budget and equal-recall logic."""

import numpy as np
import pytest
import torch

from eoforge.methane.detector import load_default_detector
from eoforge.methane.evaluate import heldout
from eoforge.methane.evaluate.benchmark import evaluate_detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.evaluate.scan import rate_at
from eoforge.methane.evaluate.stats import fp_bootstrap, wilson_interval

torch.set_num_threads(1)


def test_rate_at_interpolates_log_linearly():
    rates = np.array([100.0, 1000.0, 10000.0])
    assert rate_at(np.array([0.0, 1.0, 1.0]), rates) == pytest.approx(np.sqrt(100 * 1000))
    assert rate_at(np.array([0.6, 1.0, 1.0]), rates) == 100.0
    assert rate_at(np.array([0.0, 0.1, 0.2]), rates) is None


def test_small_evaluation_respects_the_budget_and_equal_recall(tmp_path):
    cfg = EvaluateConfig(n_negative=4, n_per_rate=2, rates=(300.0, 3000.0), shape=96, seed=1)
    s = evaluate_detector(cfg, tmp_path / "eval", model=load_default_detector())
    area = 4 * (96 * 0.02) ** 2
    assert s["scanned_negative_km2"] == pytest.approx(area)
    # FP counts are integers per scanned area; at the chosen threshold within the budget
    assert s["fp_per_100km2_at_threshold"] <= cfg.fp_budget + 1e-9
    assert (s["fp_per_100km2_at_threshold"] * area / 100.0) == pytest.approx(
        round(s["fp_per_100km2_at_threshold"] * area / 100.0)
    )
    assert s["recall_mbmp_at_equal_recall"] >= s["recall_detector"] - 1e-9
    assert (tmp_path / "eval" / "figures" / "pod_vs_rate.png").is_file()
    assert (tmp_path / "eval" / "metrics.json").is_file()
    lo, hi = s["fp_per_100km2_ci90"]
    assert lo <= s["fp_per_100km2_at_threshold"] <= hi
    for pod, (p_lo, p_hi) in zip(s["pod_detector"], s["pod_detector_ci90"], strict=True):
        assert 0 <= p_lo <= pod <= p_hi <= 1
    # Selecting on the bootstrap's 90 % quantile can only raise the threshold.
    sure = evaluate_detector(cfg.updated(fp_confidence=0.9), model=load_default_detector())
    assert sure["threshold"] >= s["threshold"] and sure["fp_confidence"] == 0.9
    assert sure["fp_per_100km2_ci90"][1] <= cfg.fp_budget + 1e-9 or sure["threshold"] > 0.999


def test_fp_bootstrap_resamples_scenes_not_plumes():
    # Equal counts in every scene: no spread at all.
    flat = fp_bootstrap(np.full((20, 3), 2), seed=0)
    assert flat.shape == (2000, 3) and np.all(flat == 40)
    # All 20 false plumes in one of 20 scenes: totals are 20 x Binomial(20, 1/20), so the 90 %
    # interval is [0, 60], far wider than a Poisson interval for 20 counts (13-28).
    one = np.zeros((20, 1), dtype=int)
    one[7] = 20
    totals = fp_bootstrap(one, seed=0)[:, 0]
    assert np.all(totals % 20 == 0) and totals.mean() == pytest.approx(20, rel=0.1)
    assert np.quantile(totals, [0.05, 0.95]).tolist() == [0.0, 60.0]


def test_scene_options_reach_every_simulated_scene(monkeypatch):
    seen = []
    for name in ("simulate_pair", "simulate_plume_pair"):
        real = getattr(heldout, name)

        def spy(*args, _real=real, **kwargs):
            seen.append(kwargs)
            return _real(*args, **kwargs)

        monkeypatch.setattr(heldout, name, spy)
    det = load_default_detector()
    cfg = EvaluateConfig(n_negative=1, n_per_rate=1, rates=(3000.0,), shape=64, noise_scale=0.5)
    evaluate_detector(cfg, model=det)
    assert [k.get("noise_scale") for k in seen] == [0.5, 0.5]
    assert not any("confounders" in k or "cloud_fraction" in k for k in seen)  # plain scenes
    seen.clear()
    hard = cfg.model_copy(update={"n_negative": 3, "confounders_max": 3, "cloud_prob": 1.0})
    evaluate_detector(hard, model=det)
    assert all(0 <= k["confounders"] <= 3 and 0 <= k["cloud_fraction"] <= 0.3 for k in seen)
    with pytest.raises(ValueError, match="noise_scale"):
        EvaluateConfig(noise_scale=-1.0)


@pytest.mark.parametrize(("hits", "n"), [(0, 10), (5, 10), (9, 10), (30, 30), (7, 60)])
def test_wilson_interval_matches_scipy(hits, n):
    from scipy.stats import binomtest

    ref = binomtest(hits, n).proportion_ci(confidence_level=0.9, method="wilson")
    assert wilson_interval(hits, n, 0.9) == pytest.approx((ref.low, ref.high), abs=1e-12)
