"""Varon et al. (2021) retrievals on scenes with injected plumes of known column."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from eoforge.core.errors import InputError, ShapeError
from eoforge.methane.physics import (
    SATELLITES,
    band_transmittance,
    fractional_signal,
    inject_plume,
    transmittance_slope,
)
from eoforge.methane.plumes import gaussian_plume, plume_mass_kg
from eoforge.methane.retrievals import fit_band_scale, mbmp, mbsp, retrieve_column, sbmp

SHAPE = (96, 128)
AMF = 2.35


def _texture(seed: int, sigma: float = 4.0) -> np.ndarray:
    field = gaussian_filter(np.random.default_rng(seed).standard_normal(SHAPE), sigma)
    return field / field.std()


def _surface(b12_texture: float = 0.0) -> dict[str, np.ndarray]:
    """Smooth desert-like surface: B12 = a * B11, optionally with its own spectral texture."""
    b11 = 0.30 * (1.0 + 0.15 * _texture(1))
    b12 = 0.72 * b11 * (1.0 + b12_texture * _texture(2))
    return {"B11": b11, "B12": b12}


def _blob(peak: float = 2.0) -> np.ndarray:
    r, c = np.indices(SHAPE)
    blob = peak * np.exp(-((r - 40) ** 2 + (c - 60) ** 2) / (2 * 6.0**2))
    return np.where(blob > 1e-3, blob, 0.0)  # compact support: a clean off-plume set


def test_fit_band_scale_is_least_squares_through_origin():
    rng = np.random.default_rng(0)
    den = rng.uniform(0.1, 0.4, 500)
    num = 1.3 * den + rng.normal(0, 0.01, 500)
    expect = np.linalg.lstsq(den[:, None], num, rcond=None)[0][0]
    assert fit_band_scale(num, den, robust=False) == pytest.approx(expect, rel=1e-12)


def test_mbsp_recovers_injected_column_noise_free():
    column = _blob()
    scene = inject_plume(_surface(), column, AMF)
    dr, c = mbsp(scene["B11"], scene["B12"], return_scale=True)
    assert c == pytest.approx(1 / 0.72, rel=1e-9)  # the plume is trimmed from the fit
    got = retrieve_column(dr, AMF)
    np.testing.assert_allclose(got, column, atol=1e-7)
    # Without trimming the plume biases c and the whole retrieval.
    biased = retrieve_column(mbsp(scene["B11"], scene["B12"], robust=False), AMF)
    assert np.abs(biased - column).max() > 100 * np.abs(got - column).max()
    # A known plume footprint as mask does the same job as the robust fit.
    masked = retrieve_column(mbsp(scene["B11"], scene["B12"], mask=column == 0, robust=False), AMF)
    np.testing.assert_allclose(masked, column, atol=1e-3)


def test_mbmp_with_same_surface_reference_removes_surface_texture():
    surface = _surface(b12_texture=0.01)  # 1 % spectral texture in B12 only
    column = _blob()
    target = inject_plume(surface, column, AMF)
    # Same surface and same fit pixels on both dates: dR_MBMP = (1 + eps) m(dOmega) exactly,
    # with eps = dR_MBSP(reference) the surface's spectral texture.
    off = column == 0
    eps = mbsp(surface["B11"], surface["B12"], mask=off, robust=False)
    np.testing.assert_allclose(
        mbmp(target, surface, mask=off, robust=False),
        (1 + eps) * fractional_signal(column, AMF),
        atol=1e-12,
    )
    got = retrieve_column(mbmp(target, surface), AMF)
    plume = column > 0.2
    rel = np.abs(got[plume] - column[plume]) / column[plume]
    assert np.all(rel <= np.abs(eps[plume]) + 0.01)  # error = local surface texture, no more
    assert np.abs(got[off]).max() < 1e-9  # trimming excluded the whole plume from both fits
    # MBSP alone leaves the surface texture in the retrieval (~0.03 / 0.064 per mol/m2).
    single = retrieve_column(mbsp(target["B11"], target["B12"]), AMF)
    assert np.abs(single[off]).max() > 0.2
    # (b11, b12) tuples are accepted too.
    np.testing.assert_allclose(
        mbmp((target["B11"], target["B12"]), (surface["B11"], surface["B12"])),
        mbmp(target, surface),
    )


def test_end_to_end_mass_of_a_gaussian_plume():
    column = gaussian_plume(3000.0, 4.0, 250.0, shape=SHAPE, source=(48, 20))
    target = inject_plume(_surface(), column, AMF)
    got = retrieve_column(mbsp(target["B11"], target["B12"]), AMF)
    assert plume_mass_kg(got) == pytest.approx(plume_mass_kg(column), rel=1e-4)


@pytest.mark.parametrize("satellite", SATELLITES)
def test_round_trip_through_the_band_model(satellite):
    col = np.concatenate([np.linspace(-1.0, 0.0, 101), np.geomspace(1e-4, 60.0, 400)])
    for amf in (2.0, 2.7, 5.5):
        m = fractional_signal(col, amf, satellite)
        np.testing.assert_allclose(retrieve_column(m, amf, satellite), col, atol=1e-6, rtol=1e-9)
        b12 = band_transmittance(col, "B12", amf, satellite) - 1.0
        np.testing.assert_allclose(
            retrieve_column(b12, amf, satellite, signal="B12"), col, atol=1e-6, rtol=1e-9
        )
    amf_map = np.linspace(2.0, 4.0, col.size)
    np.testing.assert_allclose(
        retrieve_column(fractional_signal(col, amf_map, satellite), amf_map, satellite),
        col,
        atol=1e-6,
    )


def test_small_signal_inverts_linearly():
    k = transmittance_slope("B12", AMF) - transmittance_slope("B11", AMF)
    dr = np.array([-1e-4, 1e-4])
    np.testing.assert_allclose(retrieve_column(dr, AMF), dr / k, rtol=1e-3)


def test_retrieve_column_invalid_signals():
    out = retrieve_column(np.array([np.nan, -1.0, -1.5, 0.0]), AMF)
    assert np.isnan(out[:3]).all() and out[3] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(InputError, match="signal"):
        retrieve_column(0.0, AMF, signal="B11")
    with pytest.raises(InputError, match="amf"):
        retrieve_column(0.0, 1.0)


def test_sbmp_recovers_column_with_reference():
    surface = _surface(b12_texture=0.02)
    column = _blob(1.0)
    target = inject_plume(surface, column, AMF)
    got = retrieve_column(sbmp(target["B12"], surface["B12"]), AMF, signal="B12")
    np.testing.assert_allclose(got, column, atol=1e-6)


def test_retrieval_input_errors():
    with pytest.raises(ShapeError):
        mbsp(np.ones((4, 4)), np.ones((4, 5)))
    with pytest.raises(InputError, match="valid pixels"):
        mbsp(np.zeros((4, 4)), np.ones((4, 4)))
    with pytest.raises(InputError, match="B12"):
        mbmp({"B11": np.ones((4, 4))}, {"B11": np.ones((4, 4)), "B12": np.ones((4, 4))})
    dr = mbsp(np.where(np.eye(12, dtype=bool), 0.0, 0.3), np.full((12, 12), 0.2))
    assert np.isnan(np.diag(dr)).all() and np.isfinite(dr[0, 1])
