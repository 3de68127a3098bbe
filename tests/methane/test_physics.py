"""Band physics: air-mass factor, B11/B12 CH4 transmittance, plume injection."""

from __future__ import annotations

import numpy as np
import pytest

from eoforge.core.errors import InputError, ShapeError
from eoforge.methane.physics import (
    BANDS,
    SATELLITES,
    air_mass_factor,
    band_table,
    band_transmittance,
    fractional_signal,
    inject_plume,
    transmittance_slope,
)

# Orbio Project-Eucalyptus S2 LUT (notes/methane.md section 2.3), one geometry, AMF ~2:
# (dOmega mol/m2, nB_B12, nB_B11).
ORBIO = np.array(
    [
        [0.1, 0.9936, 0.9990],
        [0.5, 0.9700, 0.9952],
        [1.0, 0.9441, 0.9911],
        [2.0, 0.9011, 0.9840],
        [5.0, 0.8109, 0.9671],
        [10.0, 0.7198, 0.9449],
    ]
)
# Gorroño et al. (2023) S2A LUT as shipped in marss2l 0.2.12 (integrated_transmittances.json),
# T / T(1800 ppb) at XCH4 enhancements (ppb), read at two AMFs: (amf, dXCH4, T_B12, T_B11).
GORRONO = np.array(
    [
        [2.0, 1345.7, 0.97175, 0.99531],
        [2.0, 3166.9, 0.93996, 0.99003],
        [2.0, 6478.1, 0.89398, 0.98214],
        [3.9238, 1346.9, 0.95042, 0.99258],
        [3.9238, 3168.8, 0.89943, 0.98436],
        [3.9238, 6481.4, 0.83211, 0.97203],
    ]
)
DRY_AIR_COLUMN = 3.57e5  # mol/m2 (notes section 2.3): 1 ppb XCH4 = 3.57e-4 mol/m2


def test_air_mass_factor_closed_forms():
    assert air_mass_factor(0.0, 0.0) == pytest.approx(2.0, abs=1e-15)
    assert air_mass_factor(60.0, 0.0) == pytest.approx(3.0, abs=1e-12)
    assert air_mass_factor(60.0, 60.0) == pytest.approx(4.0, abs=1e-12)
    amf = air_mass_factor(np.array([0.0, 60.0]), np.array([[0.0], [60.0]]))
    np.testing.assert_allclose(amf, [[2.0, 3.0], [3.0, 4.0]], atol=1e-12)


@pytest.mark.parametrize("sza, vza", [(90.0, 0.0), (-1.0, 0.0), (30.0, np.nan), (10.0, 95.0)])
def test_air_mass_factor_rejects_bad_angles(sza, vza):
    with pytest.raises(InputError, match="degrees"):
        air_mass_factor(sza, vza)


@pytest.mark.parametrize("satellite", SATELLITES)
@pytest.mark.parametrize("band", BANDS)
def test_transmittance_is_one_at_zero_and_monotone(satellite, band):
    for amf in (2.0, 2.7, 6.0):
        assert band_transmittance(0.0, band, amf, satellite) == pytest.approx(1.0, abs=1e-12)
    col = np.linspace(-1.0, 40.0, 2001)
    t = band_transmittance(col, band, 2.5, satellite)
    assert np.all(np.diff(t) < 0)
    assert np.all(t[col < 0] > 1.0) and np.all(t[col > 0] < 1.0)


@pytest.mark.parametrize("satellite", SATELLITES)
def test_b12_absorbs_more_than_b11(satellite):
    col = np.linspace(0.05, 30.0, 300)
    a12 = 1.0 - band_transmittance(col, "B12", 2.3, satellite)
    a11 = 1.0 - band_transmittance(col, "B11", 2.3, satellite)
    assert np.all(a12 > 3.0 * a11)
    assert np.all(fractional_signal(col, 2.3, satellite) < 0)


def test_amf_enters_through_slant_column_only():
    col = np.linspace(0.0, 8.0, 50)
    for band in BANDS:
        np.testing.assert_allclose(
            band_transmittance(col, band, 3.0), band_transmittance(1.5 * col, band, 2.0), rtol=1e-12
        )
    assert transmittance_slope("B12", 3.0) / transmittance_slope("B12", 2.0) == pytest.approx(1.5)


@pytest.mark.parametrize("satellite", SATELLITES)
@pytest.mark.parametrize("band", BANDS)
def test_table_reproduces_modtran_band_ratios_at_lut_nodes(satellite, band):
    # The MAG1C MODTRAN band ratios are the model's source; interpolation error is < 2e-5.
    tab = band_table(band, satellite)
    t = band_transmittance(tab.lut_nodes / 2.0, band, 2.0, satellite)
    np.testing.assert_allclose(t, tab.modtran_band_ratio, atol=2e-5)


@pytest.mark.parametrize("satellite", SATELLITES)
@pytest.mark.parametrize("band", BANDS)
def test_small_column_slope_matches_finite_difference(satellite, band):
    h = 1e-4
    for amf in (2.0, 3.4):
        fd = (
            band_transmittance(h, band, amf, satellite)
            - band_transmittance(-h, band, amf, satellite)
        ) / (2 * h)
        assert fd == pytest.approx(transmittance_slope(band, amf, satellite), rel=1e-4)


def test_sensitivity_magnitudes_match_the_notes():
    # notes section 2.3: ~ -6.5 %/(mol/m2) for B12 and -1.0 % for B11 near zero (AMF ~2);
    # a 1 mol/m2 enhancement darkens B12 by a few percent.
    assert -0.075 < transmittance_slope("B12", 2.0) < -0.055
    assert -0.013 < transmittance_slope("B11", 2.0) < -0.008
    assert 0.93 < band_transmittance(1.0, "B12", 2.0) < 0.96
    # S2B's B12 sits ~17 nm bluer, where CH4 absorbs less: k12(S2B)/k12(S2A) = 0.0421/0.0548 in
    # the linear constants quoted in the notes.
    ratio = transmittance_slope("B12", 2.0, "S2B") / transmittance_slope("B12", 2.0, "S2A")
    assert ratio == pytest.approx(0.0421 / 0.0548, rel=0.05)


def test_against_orbio_table():
    col, t12, t11 = ORBIO.T
    a12 = 1.0 - band_transmittance(col, "B12", 2.0)
    a11 = 1.0 - band_transmittance(col, "B11", 2.0)
    np.testing.assert_allclose(a12 / (1.0 - t12), 1.0, atol=0.04)
    np.testing.assert_allclose(a11 / (1.0 - t11), 1.0, atol=0.09)


def test_against_gorrono_lut_over_amf():
    amf, dx, t12, t11 = GORRONO.T
    col = dx * 1e-9 * DRY_AIR_COLUMN
    ours12 = np.array([band_transmittance(c, "B12", a) for c, a in zip(col, amf, strict=True)])
    ours11 = np.array([band_transmittance(c, "B11", a) for c, a in zip(col, amf, strict=True)])
    r12 = (1.0 - ours12) / (1.0 - t12)
    r11 = (1.0 - ours11) / (1.0 - t11)
    assert np.all((r12 > 0.97) & (r12 < 1.08)), r12
    assert np.all((r11 > 0.97) & (r11 < 1.22)), r11
    m_ref = t12 / t11 - 1.0
    m_ours = np.array([fractional_signal(c, a) for c, a in zip(col, amf, strict=True)])
    np.testing.assert_allclose(m_ours / m_ref, 1.0, atol=0.05)


def test_band_average_is_a_mean_of_exponentials_not_exp_of_mean():
    # Jensen: sum w exp(-tau) >= exp(-sum w tau); B12 saturates strongly at large columns.
    col = np.array([0.5, 2.0, 10.0, 20.0])
    lin = np.exp(transmittance_slope("B12", 2.0) * col)
    t = band_transmittance(col, "B12", 2.0)
    assert np.all(t > lin)
    assert t[2] / lin[2] > 1.3


def test_broadcasting_and_dtype():
    col = np.linspace(0, 3, 12, dtype=np.float32).reshape(3, 4)
    amf = np.array([2.0, 2.5, 3.0, 3.5])
    t = band_transmittance(col, "B12", amf)
    assert t.shape == (3, 4) and t.dtype == np.float32
    assert t[1, 2] == pytest.approx(band_transmittance(float(col[1, 2]), "B12", 3.0), rel=1e-6)


def test_transmittance_rejects_bad_inputs():
    with pytest.raises(InputError, match="band"):
        band_transmittance(1.0, "B8A", 2.0)
    with pytest.raises(InputError, match="amf"):
        band_transmittance(1.0, "B12", 1.5)
    with pytest.raises(InputError, match="satellite"):
        band_transmittance(1.0, "B12", 2.0, satellite="L8")


def _scene(shape=(20, 30)):
    rng = np.random.default_rng(3)
    return {
        "B02": rng.uniform(0.05, 0.1, shape),
        "B11": rng.uniform(0.2, 0.4, shape),
        "B12": rng.uniform(0.15, 0.3, shape),
    }


def test_inject_plume_dict_only_touches_swir_and_valid_pixels():
    scene = _scene()
    before = {k: v.copy() for k, v in scene.items()}
    column = np.zeros((20, 30))
    column[5:10, 5:15] = 2.0
    valid = np.ones((20, 30), dtype=bool)
    valid[7, :] = False
    out = inject_plume(scene, column, 2.4, valid_mask=valid)
    for k in scene:
        np.testing.assert_array_equal(scene[k], before[k])  # input untouched
    np.testing.assert_array_equal(out["B02"], scene["B02"])
    for band in BANDS:
        t = band_transmittance(2.0, band, 2.4)
        np.testing.assert_allclose(out[band][5, 5:15], scene[band][5, 5:15] * t, rtol=1e-12)
        np.testing.assert_array_equal(out[band][7], scene[band][7])
        np.testing.assert_array_equal(out[band][0], scene[band][0])


def test_inject_plume_array_and_uint16():
    scene = _scene((8, 9))
    dn = np.stack([np.round(scene[b] * 10000).astype(np.uint16) for b in ("B02", "B11", "B12")])
    dn[:, 0, 0] = 0  # no-data stays no-data
    column = np.full((8, 9), 3.0)
    out = inject_plume(dn, column, 2.0, band_names=["B02", "B11", "B12"])
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0], dn[0])
    expect = np.rint(dn[2] * band_transmittance(3.0, "B12", 2.0)).astype(np.uint16)
    np.testing.assert_array_equal(out[2], expect)
    assert out[1, 0, 0] == 0 and out[2, 0, 0] == 0
    only_b12 = inject_plume(dn[1:], column, 2.0, bands=("B12",), band_names=["B11", "B12"])
    np.testing.assert_array_equal(only_b12[0], dn[1])


def test_inject_plume_errors():
    scene = _scene((4, 5))
    with pytest.raises(ShapeError, match="column"):
        inject_plume(scene, np.zeros((5, 4)), 2.0)
    with pytest.raises(InputError, match="not in the reflectance"):
        inject_plume({"B11": scene["B11"]}, np.zeros((4, 5)), 2.0)
    with pytest.raises(InputError, match="band_names"):
        inject_plume(np.zeros((3, 4, 5)), np.zeros((4, 5)), 2.0)
    with pytest.raises(ShapeError, match="valid_mask"):
        inject_plume(scene, np.zeros((4, 5)), 2.0, valid_mask=np.ones((2, 2), bool))
