"""Synthetic Sentinel-2 scene pairs: determinism, spectra, clouds, confounders, plume recovery."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from eoforge.core.errors import InputError
from eoforge.methane.physics import inject_plume
from eoforge.methane.retrievals import mbmp, retrieve_column
from eoforge.methane.scenes import ScenePair, simulate_pair, simulate_plume_pair
from eoforge.methane.scenes.fields import power_law_fields, shift_image, translate
from eoforge.methane.scenes.spectra import S2_BANDS, noise_sigma

SHAPE = (128, 128)
# documented ranges (scenes.py docstring): median B12/B11, median B8A/B04, median B11
RANGES = {
    "desert": {"swir": (0.7, 0.92), "nir_red": (1.0, 1.6), "b11": (0.4, 0.65)},
    "semi-arid": {"swir": (0.65, 0.85), "nir_red": (1.3, 2.2), "b11": (0.2, 0.4)},
    "vegetated": {"swir": (0.38, 0.75), "nir_red": (2.0, 10.0), "b11": (0.12, 0.3)},
    "urban": {"swir": (0.8, 0.95), "nir_red": (1.0, 1.7), "b11": (0.15, 0.35)},
}


def test_pair_is_deterministic_per_seed_and_complete():
    a = simulate_pair(SHAPE, "semi-arid", 3, cloud_fraction=0.1, confounders=2)
    b = simulate_pair(SHAPE, "semi-arid", 3, cloud_fraction=0.1, confounders=2)
    c = simulate_pair(SHAPE, "semi-arid", 4, cloud_fraction=0.1, confounders=2)
    assert isinstance(a, ScenePair)
    assert set(a.target) == set(S2_BANDS) == set(a.reference)
    for band in S2_BANDS:
        np.testing.assert_array_equal(a.target[band], b.target[band])
        np.testing.assert_array_equal(a.reference[band], b.reference[band])
        assert a.target[band].dtype == np.float32 and a.target[band].shape == SHAPE
        assert a.target[band].min() >= 0.0 and a.target[band].max() <= 1.0
        assert not np.array_equal(a.target[band], c.target[band])
    np.testing.assert_array_equal(a.valid, b.valid)
    assert a.valid.dtype == bool and a.shape == SHAPE
    assert a.amf == pytest.approx(1 / np.cos(np.deg2rad(a.sza)) + 1 / np.cos(np.deg2rad(a.vza)))
    # clouds of the scene do not change the surface elsewhere: independent random streams
    clear = simulate_pair(SHAPE, "semi-arid", 3, confounders=2)
    same = a.valid & ~a.masks["cloud_target"] & ~a.masks["shadow_target"]
    np.testing.assert_array_equal(a.target["B04"][same], clear.target["B04"][same])


@pytest.mark.parametrize("surface", list(RANGES))
@pytest.mark.parametrize("seed", [11, 12])
def test_band_statistics_within_documented_ranges(surface, seed):
    p = simulate_pair(SHAPE, surface, seed, water_fraction=0.0)
    t = p.target
    stats = {
        "swir": np.median(t["B12"] / t["B11"]),
        "nir_red": np.median(t["B8A"] / t["B04"]),
        "b11": np.median(t["B11"]),
    }
    for key, (lo, hi) in RANGES[surface].items():
        assert lo <= stats[key] <= hi, (surface, key, stats[key])
    # the bands share the spatial structure: SWIR bands strongly correlated
    assert np.corrcoef(t["B11"].ravel(), t["B12"].ravel())[0, 1] > 0.7
    # the reference differs from the target by small radiometric changes only
    rel = np.median(np.abs(p.reference["B11"] / t["B11"] - 1.0))
    assert rel < 0.06


def test_surfaces_are_spectrally_distinct():
    veg = simulate_pair(SHAPE, "vegetated", 1, water_fraction=0.0).target
    des = simulate_pair(SHAPE, "desert", 1).target
    # red edge of vegetation; bright, red-rising desert
    assert np.median(veg["B8A"] / veg["B04"]) > 2 * np.median(des["B8A"] / des["B04"])
    assert np.median(des["B04"]) > np.median(des["B02"])


def test_water_is_dark_in_swir_and_invalid():
    p = simulate_pair(SHAPE, "vegetated", 2, water_fraction=0.1)
    water = p.masks["water"]
    assert 0.05 < water.mean() < 0.15
    assert not p.valid[water].any()
    assert np.median(p.target["B12"][water]) < 0.02 < np.median(p.target["B12"][~water])


def test_clouds_brighten_all_bands_are_masked_and_cast_shadows_away_from_sun():
    kw = dict(sza=30.0, saa=180.0, cloud_fraction=(0.15, 0.0))
    cloudy = simulate_pair((256, 256), "semi-arid", 5, **kw)
    clear = simulate_pair((256, 256), "semi-arid", 5, **{**kw, "cloud_fraction": 0.0})
    cloud = cloudy.masks["cloud_target"]
    assert 0.08 < cloud.mean() < 0.3
    assert not cloudy.valid[cloud].any()
    core = ndimage.binary_erosion(cloud, iterations=2)
    for band in S2_BANDS:
        assert np.mean(cloudy.target[band][core]) > 1.3 * np.mean(clear.target[band][core])
    # sun in the south (azimuth 180): shadows fall north, i.e. toward smaller rows
    d_row, d_col = cloudy.metadata["clouds_target"]["shadow_offset_px"]
    assert d_row < 0 and d_col == 0
    shadow = cloudy.masks["shadow_target"]
    assert shadow.any() and not cloudy.valid[shadow].any()
    np.testing.assert_array_equal(shadow, translate(cloud, d_row, d_col) & ~cloud)
    for band in S2_BANDS:
        assert np.mean(cloudy.target[band][shadow]) < 0.8 * np.mean(clear.target[band][shadow])


def test_confounders_darken_b12_relative_to_b11_without_methane():
    kinds = ["albedo", "shadow", "wet_soil", "burn_scar"]
    p = simulate_pair(SHAPE, "desert", 7, confounders=kinds, noise_scale=0.0)
    q = simulate_pair(SHAPE, "desert", 7, noise_scale=0.0)
    assert [c["kind"] for c in p.metadata["confounders"]] == kinds
    # random confounders draw from their own stream: geometry and gains are unchanged
    r = simulate_pair(SHAPE, "desert", 7, confounders=3, noise_scale=0.0)
    assert r.sza == q.sza and r.metadata["gain_reference"] == q.metadata["gain_reference"]
    m = p.masks["confounder"]
    assert 0.005 < m.mean() < 0.5
    ratio = (p.target["B12"] / p.target["B11"]) / (q.target["B12"] / q.target["B11"])
    assert np.mean(ratio[m]) < 0.97
    np.testing.assert_allclose(ratio[~ndimage.binary_dilation(m, iterations=3)], 1.0, atol=1e-6)
    # all bands darken too (unlike methane, which leaves the VNIR untouched)
    assert np.mean(p.target["B04"][m]) < np.mean(q.target["B04"][m])
    # the MBMP signal is negative there: a methane-like false positive
    dr = mbmp(p.target, p.reference, mask=p.valid)
    assert np.median(dr[m]) < -0.02 < np.median(dr[~m])


def test_noise_follows_documented_snr():
    kw = dict(quantize=False, misregistration_px=0.0)
    noisy = simulate_pair(SHAPE, "semi-arid", 8, **kw)
    clean = simulate_pair(SHAPE, "semi-arid", 8, noise_scale=0.0, **kw)
    for i, band in enumerate(S2_BANDS):
        z = (noisy.target[band] - clean.target[band]) / noise_sigma(clean.target[band], i)
        assert abs(np.std(z) - 1.0) < 0.05
        assert abs(np.mean(z)) < 0.05
    # SWIR SNR ~ 100 at the reference radiance (0.05 reflectance), ~ 240 at 0.3
    assert 0.3 / noise_sigma(np.float32(0.3), 4) == pytest.approx(100 * np.sqrt(0.3 / 0.051))


def test_plume_is_recovered_by_mbmp_on_noise_free_scene():
    kw = dict(noise_scale=0.0, quantize=False, misregistration_px=0.0, time_gap_days=0.0,
              atmosphere_std=0.0)  # fmt: skip
    pair, column, mask, params = simulate_plume_pair(
        SHAPE, "desert", 2, emission_rate_kg_h=3000.0, wind_speed=3.0, **kw
    )
    assert params["emission_rate_kg_h"] == 3000.0 and mask.any()
    dr = mbmp(pair.target, pair.reference, mask=pair.valid & ~mask)
    retrieved = retrieve_column(dr, pair.amf)
    strong = column > 0.3
    assert strong.sum() > 10
    rel = np.median(np.abs(retrieved[strong] / column[strong] - 1.0))
    assert rel < 0.03
    on = mask & pair.valid
    assert np.sum(retrieved[on]) == pytest.approx(np.sum(column[on]), rel=0.05)
    # the background is the plume-free pair of the same seed; only B11/B12 change
    neg = simulate_pair(SHAPE, "desert", 2, **kw)
    np.testing.assert_array_equal(pair.target["B04"], neg.target["B04"])
    np.testing.assert_array_equal(pair.reference["B12"], neg.reference["B12"])
    expected = inject_plume(
        {"B12": neg.target["B12"] - 5e-4 * 0}, column, pair.amf, ("B12",), pair.valid
    )["B12"]
    assert np.max(np.abs(expected - pair.target["B12"])) < 2e-3  # up to the path term


def test_gaussian_model_and_errors():
    _, column, _, params = simulate_plume_pair(
        (64, 96), "urban", 0, emission_rate_kg_h=1000.0, wind_direction=270.0,
        model="gaussian", source=(32.0, 20.0),
    )  # fmt: skip
    assert column[32, 40] > 0 and column[32, 5] == pytest.approx(0.0, abs=1e-9)
    assert params["source"] == (32.0, 20.0)
    with pytest.raises(InputError, match="surface"):
        simulate_pair(SHAPE, "tundra")
    with pytest.raises(InputError, match="cloud_fraction"):
        simulate_pair(SHAPE, cloud_fraction=1.5)
    with pytest.raises(InputError, match="confounders"):
        simulate_pair(SHAPE, confounders=["smoke"])
    with pytest.raises(InputError, match="model"):
        simulate_plume_pair(SHAPE, model="les")
    with pytest.raises(InputError, match="scene_kwargs"):
        simulate_plume_pair(SHAPE, clouds=0.2)
    with pytest.raises(InputError, match="bands"):
        simulate_pair(SHAPE, bands=("B05",))
    sub = simulate_pair(SHAPE, "desert", 0, bands=("B11", "B12"))
    assert set(sub.target) == {"B11", "B12"}
    with pytest.raises(InputError, match="not simulated"):
        sub.stack("target", ("B04",))
    assert sub.stack("reference").shape == (2, *SHAPE)


def test_power_law_field_spectrum_slope():
    rng = np.random.default_rng(0)
    beta = 3.0
    fields = power_law_fields((256, 256), beta, rng, n=4, corr_px=1e6, max_size=None)
    power = np.mean([np.abs(np.fft.fft2(f)) ** 2 for f in fields], axis=0)
    k = np.hypot(*np.meshgrid(np.fft.fftfreq(256), np.fft.fftfreq(256), indexing="ij"))
    sel = (k > 0.02) & (k < 0.2)
    slope = np.polyfit(np.log(k[sel]), np.log(power[sel]), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.15)
    for f in fields:
        assert abs(f.mean()) < 1e-3 and f.std() == pytest.approx(1.0, rel=0.05)
    # Fourier-interpolated (large-grid) fields keep unit variance and smoothness
    (big,) = power_law_fields((600, 500), 3.5, rng, n=1, max_size=128)
    assert big.shape == (600, 500) and big.std() == pytest.approx(1.0, rel=0.1)


def test_shift_image_matches_scipy_in_the_interior():
    img = np.random.default_rng(1).random((40, 50)).astype(np.float32)
    for d in [(0.3, -0.7), (-1.25, 2.5), (0.0, 0.4)]:
        ours = shift_image(img, *d)
        ref = ndimage.shift(img, d, order=1, mode="nearest", prefilter=False)
        np.testing.assert_allclose(ours[4:-4, 4:-4], ref[4:-4, 4:-4], atol=1e-6)


def test_large_grid_path_pooled_noise_and_truncated_fields():
    # >= 1 M pixels: noise from shifted copies of one pool, fields from truncated spectra
    shape = (1050, 1000)
    kw = dict(bands=("B11", "B12"), quantize=False, misregistration_px=0.0)
    noisy = simulate_pair(shape, "desert", 4, **kw)
    clean = simulate_pair(shape, "desert", 4, noise_scale=0.0, **kw)
    assert set(noisy.target) == {"B11", "B12"} and noisy.shape == shape
    z11 = (noisy.target["B11"] - clean.target["B11"]) / noise_sigma(clean.target["B11"], 4)
    z12 = (noisy.reference["B12"] - clean.reference["B12"]) / noise_sigma(clean.reference["B12"], 5)
    assert abs(np.std(z11) - 1.0) < 0.02 and abs(np.std(z12) - 1.0) < 0.02
    assert abs(np.corrcoef(z11.ravel(), z12.ravel())[0, 1]) < 0.01  # independent draws


def test_windowed_puff_rendering_matches_full_grid_rendering():
    from eoforge.methane.plumes import gaussian_puffs, puff_column

    args = (2000.0, 3.0, 250.0)
    src = (60.0, 40.0)
    full = gaussian_puffs(*args, duration_s=900.0, shape=(150, 170), random_state=7, source=src)
    win = puff_column(*args, (150, 170), 20.0, src, np.random.default_rng(7), 900.0)
    np.testing.assert_allclose(win, full, atol=1e-4 * full.max())
    assert win.sum() == pytest.approx(full.sum(), rel=1e-3)


def test_scene_options_are_the_one_set_of_simulate_pair_defaults():
    import dataclasses
    import inspect

    from eoforge.methane.scenes import SceneOptions

    keywords = {
        name: p.default
        for name, p in inspect.signature(simulate_pair).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }
    defaults = SceneOptions()
    assert keywords == {f.name: getattr(defaults, f.name) for f in dataclasses.fields(defaults)}


def test_seeded_draws_are_those_of_the_former_single_function_renderer():
    # planted values: drawn by the renderer before it was split into named steps (same seed,
    # same options); every component keeps its own stream and its draws in the same order
    pair = simulate_pair((48, 48), "desert", 5, cloud_fraction=0.3, confounders=2, date_seed=3)
    m = pair.metadata
    assert (m["sza"], m["vza"], m["saa"]) == pytest.approx(
        (36.12473902497767, 8.289509596222825, 105.09402504826082), rel=1e-12
    )
    assert m["sza_reference"] == pytest.approx(34.07714442233466, rel=1e-12)
    assert m["gain_reference"][0] == pytest.approx(1.009800695299384, rel=1e-12)
    assert m["gain_reference"][5] == pytest.approx(1.0098310566969506, rel=1e-12)
    assert m["path_scale"] == pytest.approx([1.008353807502104, 1.0929840939446085], rel=1e-12)
    assert m["misregistration_px"] == pytest.approx([-0.01440106607563168, 0.08551520887569806])
    assert m["clouds_target"]["cloud_height_m"] == pytest.approx(1185.5504080504072, rel=1e-12)
    assert [c["kind"] for c in m["confounders"]] == ["burn_scar", "wet_soil"]
    assert m["confounders"][1]["strength"] == pytest.approx(0.7301494050941169, rel=1e-12)
    assert float(pair.target["B12"].astype(np.float64).mean()) == pytest.approx(0.396915, abs=2e-6)
    assert float(pair.reference["B11"].astype(np.float64).mean()) == pytest.approx(
        0.533021, abs=2e-6
    )
    _, _, _, params = simulate_plume_pair(
        (48, 48), "desert", 5, cloud_fraction=0.3, confounders=2, date_seed=3
    )
    assert params["wind_direction"] == pytest.approx(141.7003275163057, rel=1e-12)
    assert params["source"] == pytest.approx((19.07289821743749, 27.628247734098217), rel=1e-12)
    assert params["mass_on_grid_kg"] == pytest.approx(43.32799865137178, rel=1e-9)
