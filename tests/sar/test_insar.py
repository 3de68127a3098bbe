"""InSAR phase tools and synthetic interferograms against closed forms."""

from __future__ import annotations

import numpy as np
import pytest

from eoforge.core.errors import InputError, ShapeError
from eoforge.sar.insar import (
    C_BAND_WAVELENGTH,
    decorrelation_noise,
    displacement_to_phase,
    from_cos_sin,
    los_vector,
    mogi,
    screw_dislocation,
    synth_interferograms,
    to_cos_sin,
    wrap,
)
from eoforge.sar.stats import circular_std, phase_residues


def test_wrap_range_and_round_trips() -> None:
    phi = np.linspace(-20, 20, 4001)
    w = wrap(phi)
    assert w.min() > -np.pi and w.max() <= np.pi
    np.testing.assert_allclose(np.exp(1j * w), np.exp(1j * phi), atol=1e-12)
    assert (
        wrap(np.pi) == np.pi and wrap(-np.pi) == np.pi and wrap(3 * np.pi) == pytest.approx(np.pi)
    )
    np.testing.assert_allclose(wrap(w), w)
    stack = np.random.default_rng(0).uniform(-9, 9, (3, 8, 8))
    cs = to_cos_sin(stack)
    assert cs.shape == (3, 2, 8, 8)
    np.testing.assert_allclose(from_cos_sin(cs), wrap(stack), atol=1e-12)
    np.testing.assert_allclose(from_cos_sin(3 * cs[:, 0], 3 * cs[:, 1]), wrap(stack), atol=1e-12)
    assert to_cos_sin(stack[0]).shape == (2, 8, 8)
    with pytest.raises(ShapeError):
        from_cos_sin(np.zeros((3, 8, 8)))


def test_mogi_matches_its_closed_form() -> None:
    d, dv, nu = 2000.0, 3e6, 0.25
    x, y = np.meshgrid(np.linspace(-10e3, 10e3, 201), np.linspace(-10e3, 10e3, 201))
    u = mogi(x, y, x0=500.0, y0=-1000.0, depth=d, dvolume=dv, nu=nu)
    assert u.shape == (3, 201, 201)
    uz = u[2]
    r, c = np.unravel_index(np.argmax(uz), uz.shape)
    assert (x[r, c], y[r, c]) == (500.0, -1000.0)
    assert uz.max() == pytest.approx((1 - nu) * dv / (np.pi * d**2))
    # Radial decay (1 + r^2/d^2)^(-3/2) and horizontal/vertical ratio r/d.
    rr = np.hypot(x - 500, y + 1000)
    np.testing.assert_allclose(uz / uz.max(), (1 + rr**2 / d**2) ** -1.5, rtol=1e-12)
    np.testing.assert_allclose(np.hypot(u[0], u[1]), uz * rr / d, rtol=1e-12, atol=1e-15)
    # Symmetry about the source: uz even, horizontal components odd.
    sym = mogi(np.array([1e3, -1e3]), np.array([0.0, 0.0]), depth=d, dvolume=dv)
    assert sym[2, 0] == pytest.approx(sym[2, 1]) and sym[0, 0] == pytest.approx(-sym[0, 1])
    assert np.all(mogi(x, y, depth=d, dvolume=-dv)[2] < 0)


def test_screw_dislocation_is_arctan_profile_across_the_fault() -> None:
    xp = np.linspace(-30e3, 30e3, 61)
    u = screw_dislocation(xp, np.zeros_like(xp), strike_deg=0.0, slip=0.1, locking_depth=5e3)
    # Fault along north: displacement is north-south only, (s/pi) arctan(x/D), antisymmetric.
    np.testing.assert_allclose(u[0], 0, atol=1e-15)
    np.testing.assert_allclose(u[1], -(0.1 / np.pi) * np.arctan(xp / 5e3), rtol=1e-12)
    assert u[1, 0] - u[1, -1] == pytest.approx(0.1 * 2 / np.pi * np.arctan(6.0))


def test_los_geometry_and_phase_conversion() -> None:
    e = los_vector(39.0, -170.0)
    assert np.linalg.norm(e) == pytest.approx(1.0)
    assert e[2] == pytest.approx(np.cos(np.deg2rad(39))) and e[0] > 0.6  # descending looks west
    assert los_vector(30.0, -10.0)[0] < 0  # ascending looks east
    # Half a wavelength of LOS motion is one fringe (2 pi).
    assert displacement_to_phase(C_BAND_WAVELENGTH / 2) == pytest.approx(2 * np.pi)


def test_decorrelation_noise_matches_coherence() -> None:
    phi = np.random.default_rng(0).uniform(-3, 3, (200, 200))
    np.testing.assert_allclose(
        wrap(decorrelation_noise(phi, 1.0, random_state=1) - phi), 0, atol=1e-9
    )
    err0 = decorrelation_noise(phi, 0.0, looks=1, random_state=2) - phi
    assert circular_std(err0) > 2.5  # uniform phase
    # Many looks: phase std -> sqrt(1 - g^2) / (g sqrt(2 L)) (Cramer-Rao bound).
    g, L = 0.8, 32
    err = decorrelation_noise(phi, g, looks=L, random_state=3) - phi
    expected = np.sqrt(1 - g**2) / (g * np.sqrt(2 * L))
    assert np.std(wrap(err)) == pytest.approx(expected, rel=0.08)
    assert abs(np.mean(wrap(err))) < 0.01
    with pytest.raises(InputError, match="coherence"):
        decorrelation_noise(phi, 1.5)


def test_synth_interferograms_contents_and_determinism() -> None:
    out = synth_interferograms(6, size=32, seed=3, sources=("mogi", "dislocation"))
    for key in ("unwrapped", "wrapped", "coherence", "deformation"):
        assert out[key].shape == (6, 32, 32) and out[key].dtype == np.float32
    assert len(out["params"]) == 6 and {p["kind"] for p in out["params"]} <= {"mogi", "dislocation"}
    assert out["wrapped"].min() >= -np.pi and out["wrapped"].max() <= np.pi
    assert out["coherence"].min() >= 0.3 and out["coherence"].max() <= 0.95
    again = synth_interferograms(6, size=32, seed=3, sources=("mogi", "dislocation"))
    np.testing.assert_array_equal(out["wrapped"], again["wrapped"])
    # The stored parameters reproduce the deformation phase.
    size, px = 32, out["settings"]["pixel_size"]
    coords = (np.arange(size) + 0.5) * px
    x, y = np.meshgrid(coords, coords[::-1])
    los = los_vector()
    for i, p in enumerate(out["params"]):
        kw = {k: v for k, v in p.items() if k != "kind"}
        disp = mogi(x, y, **kw) if p["kind"] == "mogi" else screw_dislocation(x, y, **kw)
        expected = displacement_to_phase(np.tensordot(los, disp, axes=1))
        np.testing.assert_allclose(out["deformation"][i], expected, rtol=1e-5, atol=1e-5)


def test_synth_without_noise_wraps_the_unwrapped_phase() -> None:
    out = synth_interferograms(3, size=32, seed=1, coherence=(1.0, 1.0), turbulence_std=0.5)
    diff = wrap(out["wrapped"].astype(float) - out["unwrapped"])
    np.testing.assert_allclose(diff, 0, atol=1e-4)
    assert phase_residues(out["wrapped"]) == 0.0
    noisy = synth_interferograms(3, size=32, seed=1, coherence=(0.2, 0.3), looks=1)
    assert phase_residues(noisy["wrapped"]) > 0.05
    strat = synth_interferograms(2, size=32, seed=1, stratified=2.0, turbulence_std=0.0,
                                 sources=("none",), coherence=(1.0, 1.0))  # fmt: skip
    np.testing.assert_allclose(strat["unwrapped"], 2.0 * strat["topography"], rtol=1e-5, atol=1e-5)
    with pytest.raises(InputError, match="sources"):
        synth_interferograms(2, sources=("okada",))
