"""Real ENVISAT unwrapped interferograms (tests/data/pyrate-small, PyRate's test set) through the
GAMMA reader and the InSAR statistics; where the synthetic generator differs is measured in
benchmarks/sar_realism.py (benchmarks/RESULTS.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.sar import gamma, stats
from eoforge.sar.insar import synth_interferograms, wrap
from eoforge.sar.realism import insar_statistics

DATA = Path(__file__).resolve().parents[1] / "data" / "pyrate-small"
PAR = DATA / "20060619_utm_dem.par"

pytestmark = pytest.mark.realdata


def load() -> np.ndarray:
    files = sorted((DATA / "unw").glob("*_utm.unw"))
    assert len(files) == 17
    return np.stack([gamma.read_raster(f, PAR) for f in files])


def test_gamma_reader_header_orientation_and_size_check(tmp_path: Path) -> None:
    par = gamma.read_par(PAR)
    assert gamma.raster_shape(par) == (72, 47)  # nlines x width
    phase = load()
    assert phase.shape == (17, 72, 47)
    assert np.isnan(phase).sum() == 4719  # zeros (no data) -> NaN
    # the header's orientation is the smooth one: neighbour differences are 2-4x smaller than
    # with the transposed reading (47 rows x 72 columns) of the same bytes
    raw = np.fromfile(sorted((DATA / "unw").glob("*.unw"))[0], dtype=">f4")

    def rough(x: np.ndarray) -> float:
        return float(np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean())

    assert 2 * rough(raw.reshape(72, 47)) < rough(raw.reshape(47, 72))
    bad = tmp_path / "short.unw"
    bad.write_bytes(raw[:-1].astype(">f4").tobytes())
    with pytest.raises(InputError, match="4 x 72 x 47"):
        gamma.read_raster(bad, par)


def test_rewrapped_real_unwrapped_phase_has_residues_only_at_jumps() -> None:
    """Wrapping a smooth unwrapped field gives no residue: a 2x2 loop whose four differences
    are all below pi integrates to 0. 16 of the 17 real interferograms have none; the one with
    a neighbour jump of 3.84 rad (> pi, an unwrapping discontinuity) has one +1/-1 pair there."""
    phase = load()
    per_ifg = []
    for p in phase:
        q = stats.residue_map(wrap(p))
        corners = [p[:-1, :-1], p[:-1, 1:], p[1:, 1:], p[1:, :-1]]
        jumps = np.zeros(q.shape, bool)
        for u, v in zip(corners, corners[1:] + corners[:1], strict=True):
            jumps |= np.abs(v - u) > np.pi
        assert not np.any(q[~jumps])  # residues only in loops holding a jump > pi
        assert q.sum() == 0  # net charge 0: residues come in dipoles
        per_ifg.append(stats.phase_residues(wrap(p)))
    assert sum(r == 0 for r in per_ifg) == 16
    assert 0 < max(per_ifg) < 1e-3  # 2 residues in 2418 complete loops
    # NaN-aware density: no-data loops are left out of the denominator
    assert stats.phase_residues(wrap(phase)) == pytest.approx(2 / 49_648, rel=1e-9)


def test_real_phase_circular_statistics_consistent_with_linear_ones() -> None:
    """Gradients of real unwrapped phase are small (std 0.18 rad), so the circular variance of
    the *wrapped* neighbour differences, 1 - |E exp(i d)|, equals var(d)/2 to second order, and
    equals the semivariogram at lag 1 (4-neighbour pairs) of the *unwrapped* phase."""
    phase = load()
    s = insar_statistics(phase)
    gamma1 = stats.semivariogram(phase, [1.0], tolerance=0.3)[0]
    assert s["gradient_circvar"] == pytest.approx(gamma1, rel=0.05)
    assert s["gradient_circvar"] == pytest.approx(s["grad_std"] ** 2 / 2, rel=0.05)
    # wrapping changes no circular statistic of the values themselves
    assert stats.circular_variance(wrap(phase[0][np.isfinite(phase[0])])) == pytest.approx(
        stats.circular_variance(phase[0][np.isfinite(phase[0])]), abs=1e-12
    )


def test_generator_atmosphere_matches_real_shape_but_defaults_are_rougher() -> None:
    """Real ENVISAT phase (no deformation, near Sydney): semivariogram slope 0.88 over 1-4 px
    (beta = 2.88, close to the generator's Kolmogorov 8/3), phase std 0.63 rad. The generator's
    atmosphere alone at that std is within a factor 1.5 of the real semivariogram; its defaults
    (deformation sources + 1 rad turbulence) are 5.8x (lag 1) to 10x (lag 16) above it."""
    real = insar_statistics(load())
    assert 2 / 3 - 0.2 < real["semivariogram_slope"] < 5 / 3
    h, w = 72, 47
    atm = synth_interferograms(17, size=h, seed=0, sources=("none",), turbulence_std=0.55)
    gen = synth_interferograms(17, size=h, seed=0)
    s_atm = insar_statistics(atm["unwrapped"][:, :, :w])
    s_gen = insar_statistics(gen["unwrapped"][:, :, :w])
    for lag in (1, 4, 16):
        assert s_atm[f"gamma_{lag}"] == pytest.approx(real[f"gamma_{lag}"], rel=0.5)
        assert s_gen[f"gamma_{lag}"] > 4 * real[f"gamma_{lag}"]
    assert abs(s_atm["semivariogram_slope"] - real["semivariogram_slope"]) < 0.15
