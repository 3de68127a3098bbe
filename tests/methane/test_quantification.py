"""IME emission rates: closed forms and a planted calibration."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from eoforge.core.errors import InputError, ShapeError
from eoforge.methane.physics import M_CH4
from eoforge.methane.quantification import (
    U_EFF_A,
    U_EFF_B,
    fit_effective_wind,
    integrated_mass,
    quantify_plume,
    shifted_mask_noise,
)


def _square(value: float = 0.4, offset: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    col = np.full((60, 60), offset)
    mask = np.zeros((60, 60), dtype=bool)
    mask[20:30, 25:41] = True  # 160 pixels
    col[mask] += value
    return col, mask


def test_closed_form_rate_of_a_uniform_plume():
    col, mask = _square(0.4)
    r = quantify_plume(col, mask, wind_speed=4.0, pixel_size=20.0, background="none")
    ime = 0.4 * 160 * 400.0 * M_CH4
    length = np.sqrt(160) * 20.0
    u_eff = U_EFF_A * 4.0 + U_EFF_B
    assert r.ime_kg == pytest.approx(ime)
    assert r.length_m == pytest.approx(length) and r.area_m2 == pytest.approx(160 * 400.0)
    assert r.u_eff == pytest.approx(u_eff) and r.n_pixels == 160
    assert r.rate_kg_h == pytest.approx(u_eff * ime / length * 3600.0)
    # noise-free background: only the wind and calibration terms remain
    assert r.relative_errors["retrieval"] == pytest.approx(0.0)
    assert r.relative_errors["wind"] == pytest.approx(U_EFF_A * 0.3 * 4.0 / u_eff)
    expected = r.rate_kg_h * np.hypot(r.relative_errors["wind"], r.relative_errors["calibration"])
    assert r.sigma_kg_h == pytest.approx(expected)
    # a constant retrieval bias is removed by the local background, not without it
    biased, _ = _square(0.4, offset=0.05)
    assert quantify_plume(biased, mask, 4.0).ime_kg == pytest.approx(ime)
    assert quantify_plume(biased, mask, 4.0, background="none").ime_kg > 1.1 * ime
    # explicit coefficients and wind error
    r2 = quantify_plume(col, mask, 4.0, wind_speed_std=0.0, a=0.33, b=0.45, background="none")
    assert r2.u_eff == pytest.approx(0.33 * 4 + 0.45) and r2.relative_errors["wind"] == 0.0


def test_retrieval_noise_term_uses_background_std():
    rng = np.random.default_rng(0)
    col, mask = _square(0.4)
    col = col + rng.normal(0.0, 0.1, col.shape)
    r = quantify_plume(col, mask, 4.0, noise="independent")
    assert r.background_std == pytest.approx(0.1, rel=0.1)
    sigma_ime = M_CH4 * 400.0 * r.background_std * np.sqrt(160)
    assert r.relative_errors["retrieval"] == pytest.approx(sigma_ime / r.ime_kg)
    ime, _, n = integrated_mass(col, mask, background="none")
    assert n == 160 and ime == pytest.approx(np.sum(col[mask]) * 400 * M_CH4)
    # translated masks on white noise: var = N s^2 + N^2 var(ring median), var(median of n)
    # = (pi / 2) s^2 / n: the independent-pixel formula plus the background subtraction
    big = np.zeros((200, 200), dtype=bool)
    big[90:100, 95:111] = True
    n_ring = int((ndimage.binary_dilation(big, iterations=5) & ~big).sum())
    white = rng.normal(0.0, 0.1, big.shape)
    s_white = shifted_mask_noise(white, big)
    expected = 0.1 * np.sqrt(160 + 160**2 * np.pi / 2 / n_ring)
    assert s_white == pytest.approx(expected, rel=0.25)
    # ... and a larger one for spatially correlated noise, which sqrt(N) underestimates
    smooth = ndimage.gaussian_filter(rng.normal(0.0, 1.0, big.shape), 3.0)
    smooth *= 0.1 / smooth.std()
    assert shifted_mask_noise(smooth, big) > 3 * s_white
    assert shifted_mask_noise(white, np.ones_like(big)) is None  # no room: caller falls back
    assert shifted_mask_noise(np.where(big, white, 0.0), big) is None  # flat: falls back
    zeroed = quantify_plume(np.where(big, 0.5 + white, 0.0), big, 4.0, background_std=0.1)
    assert zeroed.relative_errors["retrieval"] == pytest.approx(
        M_CH4 * 400.0 * 0.1 * np.sqrt(160) / zeroed.ime_kg
    )


def test_fit_effective_wind_recovers_planted_coefficients():
    rng = np.random.default_rng(1)
    u10 = rng.uniform(1.0, 8.0, 200)
    exact = fit_effective_wind(u10, 0.4 * u10 + 0.3)
    assert exact.a == pytest.approx(0.4) and exact.b == pytest.approx(0.3)
    assert exact.rel_std == pytest.approx(0.0, abs=1e-9)
    noisy = fit_effective_wind(u10, (0.4 * u10 + 0.3) * np.exp(rng.normal(0, 0.1, 200)))
    assert noisy.a == pytest.approx(0.4, abs=0.03) and noisy.rel_std == pytest.approx(0.1, rel=0.2)
    with pytest.raises(InputError, match="calibration cases"):
        fit_effective_wind([1.0, 2.0], [1.0, 2.0])


def test_errors_are_clear():
    col, mask = _square()
    with pytest.raises(InputError, match="empty"):
        quantify_plume(col, np.zeros_like(mask), 3.0)
    with pytest.raises(InputError, match="boolean"):
        quantify_plume(col, mask.astype(int), 3.0)
    with pytest.raises(ShapeError):
        quantify_plume(col[:10], mask, 3.0)
    with pytest.raises(InputError, match="wind_speed"):
        quantify_plume(col, mask, -1.0)
    with pytest.raises(InputError, match="U_eff"):
        quantify_plume(col, mask, 1.0, a=0.1, b=-0.5)
