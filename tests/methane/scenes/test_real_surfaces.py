"""Methane detection on real Sentinel-2 surfaces (BigEarthNet L2A patches, tests/data).

Figures quoted here come from ``python benchmarks/methane_real_surfaces.py``
(benchmarks/RESULTS.md, "Methane on real surfaces").
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from eoforge.methane.scenes.real_surfaces import (
    fourier_shift,
    list_patches,
    make_pair,
    measure_shift,
    read_patch,
    solar_zenith,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "bigearthnet-s2"
PASTURE = DATA / "S2A_MSIL2A_20170617T113321_4_55"
FARMLAND = DATA / "S2A_MSIL2A_20170613T101031_87_48"
CULTIVATION = DATA / "S2A_MSIL2A_20171221T112501_56_35"
SNOW = DATA / "S2B_MSIL2A_20180204T94161_57_38"


@pytest.fixture(scope="module")
def detector():
    from eoforge.methane.detector.weights import load_default_detector

    return load_default_detector()


def _detect(pair, det):
    from eoforge.methane.detect.pipeline import detect

    return detect(pair.target, pair.reference, pair.geo, pair.sza, pair.vza, model=det, threads=1)


def test_fourier_shift_integer_shift_is_exact_translation():
    img = np.random.default_rng(0).random((20, 24)).astype(np.float32)
    out = fourier_shift(img, 2.0, -3.0)  # out(r, c) = img(r - 2, c + 3)
    np.testing.assert_allclose(out[2:, :-3], img[:-2, 3:], atol=1e-5)


def test_solar_zenith_matches_closed_forms():
    # June solstice, 12:00 UTC on the Greenwich meridian: the sun is overhead the tropic
    # (23.44 N) up to the equation of time (-1.7 min -> 0.4 deg of hour angle)
    assert solar_zenith(datetime(2017, 6, 21, 12, 0), 0.0, 23.44) < 0.6
    # equinox noon at 45 N: zenith = latitude (declination ~0)
    assert solar_zenith(datetime(2017, 3, 20, 12, 7), 0.0, 45.0) == pytest.approx(45.0, abs=0.6)


@pytest.mark.realdata
def test_read_patch_grid_and_sun():
    patch = read_patch(SNOW)
    assert all(a.shape == (60, 60) for a in patch.bands.values())  # B04 averaged from 120 x 120
    assert abs(patch.geo.transform.a) == 20.0 and patch.satellite == "S2B"
    # 2018-02-04 09:42 UTC at ~62.7 N in Finland: the sun is ~10.6 deg high
    assert 78.0 < patch.sza < 81.0
    assert len(list_patches(DATA)) == 6


@pytest.mark.realdata
def test_pair_reproduces_planted_shift_and_gain():
    patch = read_patch(FARMLAND)
    planted = (0.3, -0.2)
    gains = {"B04": 1.0, "B8A": 0.99, "B11": 1.02, "B12": 0.985}
    pair = make_pair(patch, 0, noise_scale=0.0, shift=planted, gain=gains)
    sl = (slice(4, -4), slice(4, -4))
    for b in ("B11", "B12", "B8A"):
        # the shift, measured by an independent estimator (Lucas-Kanade on a bilinear warp)
        d = measure_shift(pair.reference[b], pair.target[b])
        assert d == pytest.approx(planted, abs=0.03), b
        ratio = pair.reference[b][sl].mean() / pair.target[b][sl].mean()
        assert ratio == pytest.approx(gains[b], abs=0.003), b
    # sensor noise: with no shift or gain the dates differ by two independent noise draws
    noisy = make_pair(patch, 1, noise_scale=1.0, shift=(0.0, 0.0), gain={})
    from eoforge.methane.scenes.spectra import S2_BANDS, noise_sigma

    r = patch.bands["B11"]
    sigma = np.sqrt(2.0) * noise_sigma(r, S2_BANDS.index("B11"), 1.0)
    z = (noisy.target["B11"] - noisy.reference["B11"]) / sigma
    assert np.std(z) == pytest.approx(1.0, abs=0.06)


@pytest.mark.realdata
def test_detector_on_plume_free_real_pairs_at_inflight_noise(detector):
    """Two pairs stay silent; the cultivation patch fires on a pair whose reference is shifted
    by 0.24 px (benchmark: 59 of the 74 false plumes at in-flight noise and 0.1 px are on this
    patch),
    and not on the same pair without the shift: misregistration over real texture."""
    for folder in (PASTURE, FARMLAND):
        res = _detect(make_pair(read_patch(folder), 10_001, noise_scale=0.5), detector)
        assert res.plumes == [] and float(res.prob.max()) < 0.1
    patch = read_patch(CULTIVATION)
    shifted = make_pair(patch, 10_000, noise_scale=0.5)
    assert np.hypot(*shifted.shift_px) == pytest.approx(0.24, abs=0.01)
    assert len(_detect(shifted, detector).plumes) == 1
    aligned = make_pair(patch, 10_000, noise_scale=0.5, shift=(0.0, 0.0))
    assert _detect(aligned, detector).plumes == []


@pytest.mark.realdata
def test_injected_plume_detected_with_rate(detector):
    """A 6000 kg/h plume injected into the real pasture patch is found; its rate is within
    -50/+50 % (benchmark, all patches at in-flight noise: median estimate/true 0.7x)."""
    from eoforge.methane.evaluate.real_surfaces import score_injection, truth_mask

    pair = make_pair(read_patch(PASTURE), 20_000, noise_scale=0.5, emission_rate_kg_h=6000.0)
    assert truth_mask(pair).sum() > 50
    # the plume darkens B12 of the target where it lies, not elsewhere
    assert pair.target["B12"][pair.column > 0.5].mean() < pair.reference["B12"][
        pair.column > 0.5].mean()  # fmt: skip
    res = _detect(pair, detector)
    hit, rate, n_other = score_injection(pair, res, detector)
    assert hit and n_other == 0
    assert 3000.0 < rate < 9000.0


@pytest.mark.realdata
def test_realism_statistics_of_real_patches():
    """Benchmark table: real B11 spectral slopes 2.9-3.5, steeper than every simulated surface
    (medians 0.6-2.3); B12/B11 median 0.49-0.62 on the snow-free patches, 1.1 on snow."""
    from eoforge.methane.scenes.realism import texture_stats

    stats = {p.name: texture_stats(p.bands["B11"], p.bands["B12"])
             for p in map(read_patch, list_patches(DATA))}  # fmt: skip
    betas = [s["B11_beta"] for s in stats.values()]
    assert min(betas) > 2.7 and max(betas) < 3.8
    ratios = {k: s["ratio_median"] for k, s in stats.items()}
    snow = ratios.pop(SNOW.name)
    assert snow > 1.0
    assert all(0.45 < r < 0.65 for r in ratios.values())
