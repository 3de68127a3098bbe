"""Synthetic plumes: flux and mass conservation, dispersion, wind convention, seeding, errors."""

from __future__ import annotations

import numpy as np
import pytest

from eoforge.core.errors import InputError, ShapeError
from eoforge.methane.physics import M_CH4
from eoforge.methane.plumes import (
    Puffs,
    briggs_sigma_y,
    downwind_unit,
    emission_rate_mol_s,
    gaussian_plume,
    gaussian_puffs,
    plume_mass_kg,
    psf_blur,
    render_puffs,
    simulate_puffs,
)

DX = 20.0


def test_unit_conversions():
    # notes section 2.3: 1 mol/s of CH4 = 57.75 kg/h.
    assert emission_rate_mol_s(57.744) == pytest.approx(1.0, rel=1e-12)
    col = np.zeros((20, 20))
    col[5:15, 5:15] = 1.0  # 100 pixels of 400 m2 at 1 mol/m2
    assert plume_mass_kg(col, DX) == pytest.approx(100 * 400 * M_CH4, rel=1e-12)


def test_steady_plume_conserves_flux_across_the_wind():
    q = emission_rate_mol_s(1500.0)
    u = 3.0
    col = gaussian_plume(1500.0, u, 270.0, shape=(80, 160), pixel_size=DX, source=(40, 10))
    # Wind from the west: every pixel column downwind is a crosswind line.
    for j in (11, 12, 20, 50, 100):
        assert u * col[:, j].sum() * DX == pytest.approx(q, rel=1e-9)
    # Far downwind sigma_y ~ 10 px and the crosswind tails beyond 4 sigma leave the grid.
    assert u * col[:, 150].sum() * DX == pytest.approx(q, rel=1e-4)
    assert np.all(col[:, :10] == 0)  # nothing upwind
    # Wind from the north, plume along rows; a different stability class.
    col = gaussian_plume(1500.0, u, 0.0, shape=(120, 200), source=(5, 100), stability="B")
    for i in (10, 60, 110):
        assert u * col[i, :].sum() * DX == pytest.approx(q, rel=1e-9)


def test_steady_plume_matches_the_analytic_column():
    q, u, s_src = emission_rate_mol_s(2000.0), 4.0, 20
    col = gaussian_plume(2000.0, u, 270.0, shape=(101, 200), source=(50, s_src), stability="C")
    for j in (50, 80, 150):
        s = (j - s_src) * DX
        sig = briggs_sigma_y(s, "C")
        # pixel averaging adds DX^2 / 12 to the crosswind variance
        y = (np.arange(101) - 50) * DX
        var = np.sum(col[:, j] * y**2) / col[:, j].sum()
        assert var == pytest.approx(sig**2 + DX**2 / 12, rel=2e-3)
        peak = q / (np.sqrt(2 * np.pi) * sig * u)
        assert col[50, j] == pytest.approx(peak, rel=5e-3)


def test_steady_plume_total_mass_for_any_direction():
    q, u, length = emission_rate_mol_s(800.0), 2.5, 900.0
    for direction in (30.0, 135.0, 222.0, 301.0):
        col = gaussian_plume(800.0, u, direction, shape=(128, 128), length_m=length)
        assert plume_mass_kg(col) == pytest.approx(q / u * length * M_CH4, rel=1e-9)


@pytest.mark.parametrize("direction", [0.0, 45.0, 90.0, 180.0, 270.0, 333.0])
def test_plume_goes_downwind(direction):
    src = np.array([64.0, 64.0])
    d = downwind_unit(direction)
    r, c = np.indices((129, 129))
    for col in (
        gaussian_plume(1000.0, 3.0, direction, shape=(129, 129), source=tuple(src)),
        gaussian_puffs(
            1000.0, 3.0, direction, 600.0, 2.0, (129, 129), source=tuple(src), random_state=1
        ),
    ):
        centroid = np.array([(col * r).sum(), (col * c).sum()]) / col.sum()
        offset = centroid - src
        assert offset @ d / np.linalg.norm(offset) > 0.99
    # Meteorological convention: a westerly (270) blows toward the east, i.e. +column.
    np.testing.assert_allclose(downwind_unit(270.0), [0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(downwind_unit(0.0), [1.0, 0.0], atol=1e-12)


def test_puff_mass_equals_rate_times_release_time_when_inside():
    q_kg_h, duration = 1200.0, 900.0
    col = gaussian_puffs(
        q_kg_h, 2.0, 250.0, duration, 1.0, (150, 150), DX, random_state=0, source=(75, 40)
    )
    assert plume_mass_kg(col, DX) == pytest.approx(q_kg_h * duration / 3600.0, rel=1e-6)


def test_puff_mass_counts_only_puffs_still_inside():
    q_kg_h, duration, dt, shape = 1000.0, 1800.0, 2.0, (60, 60)
    kw = dict(duration_s=duration, dt=dt, random_state=7, source=(30.0, 30.0))
    puffs = simulate_puffs(q_kg_h, 5.0, 270.0, pixel_size=DX, **kw)
    col = render_puffs(puffs, shape, DX)
    inside = (
        (puffs.rows > -0.5)
        & (puffs.rows < shape[0] - 0.5)
        & (puffs.cols > -0.5)
        & (puffs.cols < shape[1] - 0.5)
    )
    assert 0 < inside.sum() < len(puffs.rows)  # some puffs have left the grid
    expected_kg = q_kg_h / 3600.0 * dt * inside.sum()
    assert plume_mass_kg(col, DX) == pytest.approx(expected_kg, rel=0.02)
    np.testing.assert_array_equal(col, gaussian_puffs(q_kg_h, 5.0, 270.0, shape=shape, **kw))


def test_render_single_puff_moments():
    puff = Puffs(
        rows=np.array([30.3]),
        cols=np.array([25.8]),
        sigma_m=np.array([100.0]),
        mass_mol=np.array([2.0]),
        age_s=np.array([10.0]),
    )
    col = render_puffs(puff, (64, 64), DX)
    r, c = np.indices(col.shape)
    w = col / col.sum()
    assert col.sum() * DX**2 == pytest.approx(2.0, rel=1e-6)  # 5.3 sigma from the edge
    assert (w * r).sum() == pytest.approx(30.3, abs=1e-5)
    assert (w * c).sum() == pytest.approx(25.8, abs=1e-5)
    assert (w * (r - 30.3) ** 2).sum() == pytest.approx((100 / DX) ** 2 + 1 / 12, rel=1e-4)


def test_ou_wind_statistics():
    dt, tau, sig = 5.0, 60.0, 0.5
    p = simulate_puffs(100.0, 4.0, 270.0, 1e5, dt, DX, random_state=11, ou_sigma=sig, ou_tau=tau)
    # puff k and k+1 differ by the wind during step k
    vel = np.stack([p.rows[:-1] - p.rows[1:], p.cols[:-1] - p.cols[1:]], axis=1) * DX / dt
    w = vel - 4.0 * downwind_unit(270.0)
    assert np.std(w, axis=0) == pytest.approx([sig, sig], rel=0.1)
    lag = int(tau / dt)
    rho = np.mean([np.corrcoef(w[:-lag, i], w[lag:, i])[0, 1] for i in range(2)])
    assert rho == pytest.approx(np.exp(-1.0), abs=0.08)


def test_puffs_are_deterministic_under_seeds():
    kw = dict(duration_s=300.0, dt=2.0, shape=(40, 40))
    a = gaussian_puffs(500.0, 3.0, 200.0, random_state=5, **kw)
    b = gaussian_puffs(500.0, 3.0, 200.0, random_state=5, **kw)
    c = gaussian_puffs(500.0, 3.0, 200.0, random_state=6, **kw)
    d = gaussian_puffs(500.0, 3.0, 200.0, random_state=np.random.default_rng(5), **kw)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, d)
    assert not np.allclose(a, c)


def test_psf_blur_preserves_mass():
    col = gaussian_plume(2000.0, 2.0, 300.0, shape=(50, 70), source=(45, 5))
    col[0, 0] = 3.0  # mass touching the border too
    for sigma in (0.52, 1.5, 4.0):
        out = psf_blur(col, sigma)
        assert out.sum() == pytest.approx(col.sum(), rel=1e-12)
        assert out.max() < col.max()
    np.testing.assert_array_equal(psf_blur(col, 0.0), col)


def test_zero_emission_gives_empty_maps():
    assert not gaussian_plume(0.0, 3.0, 90.0, shape=(10, 10)).any()
    assert not gaussian_puffs(0.0, 3.0, 90.0, 60.0, 1.0, (10, 10), random_state=0).any()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(emission_rate_kg_h=-1.0), InputError, "emission_rate_kg_h"),
        (dict(wind_speed=0.0), InputError, "wind_speed"),
        (dict(wind_speed=np.nan), InputError, "wind_speed"),
        (dict(wind_direction_deg=np.inf), InputError, "wind_direction_deg"),
        (dict(shape=(0, 5)), ShapeError, "shape"),
        (dict(shape=(10,)), ShapeError, "shape"),
        (dict(shape=(10.5, 4)), ShapeError, "shape"),
        (dict(pixel_size=-20.0), InputError, "pixel_size"),
    ],
)
def test_plume_errors(kwargs, error, match):
    args = dict(emission_rate_kg_h=100.0, wind_speed=3.0, wind_direction_deg=10.0, shape=(8, 8))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        gaussian_plume(**args)
    with pytest.raises(error, match=match):
        gaussian_puffs(**args, duration_s=60.0, dt=1.0, random_state=0)


def test_other_errors():
    with pytest.raises(InputError, match="stability"):
        gaussian_plume(100.0, 3.0, 0.0, shape=(8, 8), stability="G")
    with pytest.raises(InputError, match="duration_s"):
        gaussian_puffs(100.0, 3.0, 0.0, duration_s=0.5, dt=1.0, shape=(8, 8))
    with pytest.raises(InputError, match="sigma_px"):
        psf_blur(np.zeros((4, 4)), -1.0)
    with pytest.raises(ShapeError):
        psf_blur(np.zeros((2, 4, 4)), 1.0)
