"""SAR/InSAR statistics against closed forms, brute force and SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from eoforge.core.errors import InputError, ShapeError
from eoforge.sar.insar import powerlaw_field, wrap
from eoforge.sar.stats import (
    circular_mean,
    circular_std,
    circular_variance,
    enl,
    log_intensity_histogram_distance,
    phase_residues,
    psd_distance,
    radial_power_spectrum,
    residue_map,
    resultant_length,
    semivariogram,
)


def _speckle(looks: int, shape: tuple[int, ...], seed: int = 0, mean: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).gamma(looks, mean / looks, size=shape)


@pytest.mark.parametrize("looks", [1, 4, 16])
def test_enl_of_gamma_speckle_is_the_number_of_looks(looks: int) -> None:
    x = _speckle(looks, (4, 128, 128), seed=looks, mean=3.0)
    assert enl(x) == pytest.approx(looks, rel=0.04)
    # Windowed median on a heterogeneous scene (reflectivity steps between 16x16 blocks).
    reflect = np.kron(np.random.default_rng(1).uniform(0.2, 5.0, (8, 8)), np.ones((16, 16)))
    scene = reflect * _speckle(looks, (128, 128), seed=10 + looks)
    assert enl(scene, window=16) == pytest.approx(looks, rel=0.12)
    assert enl(scene) < 0.7 * looks  # the global ENL sees the texture


def test_enl_rejects_bad_input() -> None:
    with pytest.raises(InputError, match="dB"):
        enl(-np.ones((8, 8)))
    with pytest.raises(InputError, match="window"):
        enl(np.ones((8, 8)), window=32)
    with pytest.raises(ShapeError):
        enl(np.ones((2, 3, 8, 8)))


@pytest.mark.parametrize("metric", ["wasserstein", "js"])
def test_histogram_distance_zero_for_identical_and_grows_with_shift(metric: str) -> None:
    a = _speckle(4, (20000,), seed=1)
    assert log_intensity_histogram_distance(a, a.copy(), metric=metric) == pytest.approx(
        0, abs=1e-12
    )
    d = [
        log_intensity_histogram_distance(a, a * 10 ** (s / 10), metric=metric) for s in (0.5, 1, 3)
    ]
    assert 0 < d[0] < d[1] < d[2]
    if metric == "wasserstein":  # a pure shift of c dB moves the distribution by exactly c
        np.testing.assert_allclose(d, [0.5, 1.0, 3.0], rtol=1e-9)
    # Different numbers of looks: same mean, different dB spread.
    assert log_intensity_histogram_distance(a, _speckle(1, (20000,), 2), metric=metric) > d[0]


def test_radial_psd_of_white_noise_is_flat_at_the_variance() -> None:
    x = np.random.default_rng(0).normal(0, 2.0, (16, 64, 64))
    for window in ("hann", None):
        f, p = radial_power_spectrum(x, window=window)
        assert f.shape == p.shape == (32,) and f[0] == pytest.approx(1 / 64)
        assert np.mean(p) / 4.0 == pytest.approx(1.0, abs=0.03)
        assert np.all(np.abs(p / 4.0 - 1) < 0.3), (window, p)
        assert abs(np.polyfit(np.log(f), np.log(p), 1)[0]) < 0.05


@pytest.mark.parametrize("beta", [8 / 3, 2.0])
def test_radial_psd_of_power_law_field_has_the_planted_slope(beta: float) -> None:
    x = powerlaw_field((128, 128), beta, random_state=3, n=8)
    f, p = radial_power_spectrum(x, window=None)
    sel = (f > 0.02) & (f < 0.4)
    slope = np.polyfit(np.log(f[sel]), np.log(p[sel]), 1)[0]
    assert slope == pytest.approx(-beta, abs=0.1)


def test_psd_distance_zero_for_identical_and_ln2_for_double_power() -> None:
    x = powerlaw_field((64, 64), 2.0, random_state=1, n=4)
    assert psd_distance(x, x.copy()) == pytest.approx(0.0, abs=1e-12)
    assert psd_distance(x, np.sqrt(2) * x) == pytest.approx(np.log(2), rel=1e-9)
    smoother = powerlaw_field((64, 64), 3.0, random_state=1, n=4)
    assert psd_distance(x, smoother) > psd_distance(
        x, powerlaw_field((64, 64), 2.2, random_state=1, n=4)
    )
    with pytest.raises(ShapeError, match="equal sizes"):
        psd_distance(x, x[:, :32, :32])


def _brute_semivariogram(z: np.ndarray, lags: np.ndarray, tol: float) -> np.ndarray:
    h, w = z.shape
    rr, cc = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    pos = np.stack([rr.ravel(), cc.ravel()], 1).astype(float)
    v = z.ravel()
    ok = np.isfinite(v)
    pos, v = pos[ok], v[ok]
    d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
    sq = (v[:, None] - v[None]) ** 2
    return np.array([sq[(d >= g - tol) & (d < g + tol)].mean() / 2 for g in lags])


def test_semivariogram_equals_brute_force_pairs_with_missing_pixels() -> None:
    z = np.random.default_rng(5).normal(size=(12, 15)).cumsum(0)
    z[3, 4] = z[7, 10] = np.nan
    lags = np.array([1.0, 2.0, 3.5, 6.0])
    np.testing.assert_allclose(
        semivariogram(z, lags), _brute_semivariogram(z, lags, 0.5), rtol=1e-9
    )


def test_semivariogram_of_planted_fields() -> None:
    noise = np.random.default_rng(0).normal(0, 1.5, (4, 64, 64))
    np.testing.assert_allclose(semivariogram(noise, [1, 4, 10]), 2.25, rtol=0.05)
    # Linear ramp along columns: gamma = c^2 E[dx^2] / 2 with E[dx^2] ~ h^2/2 on a ring.
    ramp = np.tile(0.3 * np.arange(64.0), (64, 1))
    g = semivariogram(ramp, [4, 8, 12], tolerance=0.25)
    np.testing.assert_allclose(g, 0.09 * np.array([4, 8, 12.0]) ** 2 / 4, rtol=0.08)
    # Power-law spectrum |k|^-beta gives gamma ~ h^(beta - 2).
    field = powerlaw_field((256, 256), 8 / 3, random_state=2, n=4)
    lags = np.arange(8, 33, 2)  # above the pixel scale, where the asymptote holds
    slope = np.polyfit(np.log(lags), np.log(semivariogram(field, lags)), 1)[0]
    assert slope == pytest.approx(2 / 3, abs=0.1)


def test_phase_residues_zero_for_smooth_ramp_and_find_planted_vortices() -> None:
    rr, cc = np.mgrid[0:32, 0:32].astype(float)
    ramp = wrap(0.9 * cc + 0.4 * rr)
    assert phase_residues(ramp) == 0.0
    vortex = np.arctan2(rr - 10.5, cc - 12.5) - np.arctan2(rr - 20.5, cc - 5.5) + 0.9 * cc
    q = residue_map(wrap(vortex))
    assert q.shape == (31, 31)
    assert q[10, 12] == 1 and q[20, 5] == -1
    assert np.abs(q).sum() == 2
    assert phase_residues(wrap(vortex)) == pytest.approx(2 / 31**2)
    noise = np.random.default_rng(0).uniform(-np.pi, np.pi, (64, 64))
    assert phase_residues(noise) == pytest.approx(1 / 3, abs=0.02)


def test_circular_statistics_match_scipy() -> None:
    rng = np.random.default_rng(4)
    phase = wrap(rng.vonmises(2.8, 1.5, size=(3, 500)))
    assert circular_mean(phase) == pytest.approx(wrap(sps.circmean(phase, np.pi, -np.pi)))
    assert circular_variance(phase) == pytest.approx(sps.circvar(phase, np.pi, -np.pi))
    assert circular_std(phase) == pytest.approx(sps.circstd(phase, np.pi, -np.pi))
    np.testing.assert_allclose(
        circular_variance(phase, axis=1), sps.circvar(phase, np.pi, -np.pi, axis=1)
    )
    assert resultant_length(np.full(10, 1.3)) == pytest.approx(1.0)
    assert circular_mean(np.array([np.pi - 0.1, -np.pi + 0.1])) == pytest.approx(np.pi)
