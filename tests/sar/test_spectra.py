"""Wave spectra and sea surfaces: Hs = 4 sqrt(m0), spreading normalisation, SAR transfer."""

import math

import numpy as np
import pytest
from scipy import integrate

from eoforge.sar import spectra


def test_spreading_integrates_to_one_and_peaks_at_mean_direction():
    for s in (1.0, 2.0, 8.5, 30.0):
        total, _ = integrate.quad(lambda t, s=s: spectra.spreading(t, 0.3, s), -np.pi + 0.3,
                                  np.pi + 0.3)  # fmt: skip
        assert total == pytest.approx(1.0, rel=1e-6)
    theta = np.linspace(-np.pi, np.pi, 721)
    assert theta[np.argmax(spectra.spreading(theta, 0.5, 10.0))] == pytest.approx(0.5, abs=0.01)


def test_jonswap_normalisation_matches_scipy_quadrature():
    hs, lam = 3.0, 200.0
    scale, m_w2 = spectra.jonswap_moments([hs], [lam], gamma=3.3)
    kp = 2 * np.pi / lam
    wp = math.sqrt(spectra.G * kp)

    def s_k(k):
        w = math.sqrt(spectra.G * k)
        return scale[0] * spectra._jonswap_shape(np.array(w), wp, 3.3) * spectra.G / (2 * w)

    m0, _ = integrate.quad(s_k, 0.05 * kp, 200 * kp, limit=400, points=[kp])
    assert 4 * math.sqrt(m0) == pytest.approx(hs, rel=2e-3)
    mv, _ = integrate.quad(lambda k: spectra.G * k * s_k(k), 0.05 * kp, 60 * kp, limit=400,
                           points=[kp])  # fmt: skip
    assert m_w2[0] == pytest.approx(mv, rel=2e-3)


def test_elevation_field_recovers_hs():
    """Hs = 4 sqrt(m0): 4 std(eta) of generated surfaces equals the spectrum's Hs."""
    kx, ky, dk = spectra.wavenumber_grid(256, 10.0)
    b = 24
    hs = np.linspace(1.0, 4.0, b)
    f = spectra.directional_spectrum(kx, ky, hs, np.full(b, 150.0), np.linspace(0, 6, b), 10.0)
    m0_grid = f.sum(axis=(1, 2)) * dk * dk
    np.testing.assert_allclose(4 * np.sqrt(m0_grid), hs, rtol=0.02)  # the grid resolves it
    eta = spectra.elevation(spectra.random_amplitudes(f, dk, np.random.default_rng(0)))
    ratio = spectra.significant_wave_height(eta) / hs
    assert ratio.mean() == pytest.approx(1.0, abs=0.03)
    # each realisation: var(eta) is an unbiased estimate of m0 on the grid
    np.testing.assert_allclose((eta**2).mean(axis=(1, 2)).mean() / m0_grid.mean(), 1, atol=0.08)


def test_surface_wavelength_and_direction_follow_the_spectrum():
    kx, ky, dk = spectra.wavenumber_grid(128, 10.0)
    f = spectra.directional_spectrum(kx, ky, [2.0], [200.0], [np.pi / 2], [40.0])
    eta = spectra.elevation(spectra.random_amplitudes(f, dk, np.random.default_rng(1)))[0]
    p = np.abs(np.fft.fft2(eta)) ** 2
    i = np.unravel_index(np.argmax(p), p.shape)
    k_peak = np.hypot(kx[i], ky[i])
    assert 2 * np.pi / k_peak == pytest.approx(200.0, rel=0.25)
    assert abs(ky[i]) > 3 * abs(kx[i])  # travelling along azimuth (rows)


def test_transfer_function_terms():
    kx, ky, _ = spectra.wavenumber_grid(64, 50.0)
    t0 = spectra.sar_transfer_function(kx, ky, 30.0, beta=0.0)
    # pure range waves: tilt = 4i k cot / (1 + sin^2), hydro real-dominated
    j = 3
    k = kx[0, j]
    tilt = 4 * k / math.tan(math.radians(30)) / (1 + math.sin(math.radians(30)) ** 2)
    assert t0[0, j].imag == pytest.approx(tilt + 4.5 * k * math.sqrt(9.81 * k) * -0.5
                                          / (9.81 * k + 0.25), rel=1e-9)  # fmt: skip
    # azimuth waves: no tilt/hydro, only velocity bunching (proportional to beta)
    assert t0[j, 0] == 0
    t1 = spectra.sar_transfer_function(kx, ky, 30.0, beta=100.0)
    t2 = spectra.sar_transfer_function(kx, ky, 30.0, beta=200.0)
    assert abs(t2[j, 0]) == pytest.approx(2 * abs(t1[j, 0]))
    assert t1[0, 0] == 0


def test_azimuth_cutoff_grows_with_sea_state_and_damps_azimuth_waves():
    _, m1 = spectra.jonswap_moments([1.0], [200.0])
    _, m2 = spectra.jonswap_moments([4.0], [200.0])
    assert m2[0] == pytest.approx(16 * m1[0])
    xi1 = spectra.azimuth_displacement_std(m1, 0.0, 10.0, 36.5)
    xi2 = spectra.azimuth_displacement_std(m2, 0.0, 10.0, 36.5)
    assert xi2[0] == pytest.approx(4 * xi1[0])
    kx, ky, dk = spectra.wavenumber_grid(64, 50.0)
    f = spectra.directional_spectrum(kx, ky, [2.0], [250.0], [np.pi / 2], [20.0])
    a = spectra.random_amplitudes(f, dk, np.random.default_rng(0))
    tr = spectra.sar_transfer_function(kx, ky, 36.5)
    strong = spectra.sar_modulation(a, tr, ky, np.array([0.0])).std()
    weak = spectra.sar_modulation(a, tr, ky, np.array([100.0])).std()
    assert weak < 0.3 * strong
