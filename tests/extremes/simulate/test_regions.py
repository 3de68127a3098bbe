"""Simulated regions: GEV margins, planted dependence (closed-form extremal coefficients), layout."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.spatial.distance import cdist

from eoforge.core.errors import InputError
from eoforge.extremes.dissimilarity.matrix import dissimilarity_matrix
from eoforge.extremes.margins.pwm import gev_pwm_ratio, pwm_ratio
from eoforge.extremes.simulate.regions import (
    SimulatedRegions,
    brown_resnick_frechet,
    positive_stable,
    schlather_frechet,
    simulate_regions,
    simulate_scenario,
)


def _theta(maxima: np.ndarray) -> np.ndarray:
    """Extremal coefficients from the F-madogram: theta = (1 + 2 nu) / (1 - 2 nu)."""
    nu = dissimilarity_matrix(maxima, "fmadogram")
    return (1 + 2 * nu) / (1 - 2 * nu)


def _pair_means(theta: np.ndarray, labels: np.ndarray) -> dict[tuple[int, int], float]:
    iu = np.triu_indices(labels.size, 1)
    a, b = labels[iu[0]], labels[iu[1]]
    out = {}
    for r in np.unique(labels):
        for s in np.unique(labels):
            m = (a == min(r, s)) & (b == max(r, s)) | (a == max(r, s)) & (b == min(r, s))
            out[(int(r), int(s))] = float(theta[iu][m].mean())
    return out


def test_kanter_positive_stable_laplace_transform() -> None:
    rng = np.random.default_rng(0)
    for alpha in (0.3, 0.6, 0.9):
        s = positive_stable(alpha, 200_000, rng)
        for t in (0.5, 1.0, 2.0):
            v = np.exp(-t * s)
            assert abs(v.mean() - np.exp(-(t**alpha))) < 4 * v.std() / np.sqrt(v.size)


def test_layout_shapes_labels_and_determinism() -> None:
    sim = simulate_regions(60, 30, 3, random_state=1)
    assert isinstance(sim, SimulatedRegions)
    assert sim.maxima.shape == (30, 60) and sim.coords.shape == (60, 2)
    assert np.bincount(sim.labels).tolist() == [20, 20, 20]
    strip = np.floor(sim.coords[:, 0] / (10 / 3)).astype(int)
    assert np.array_equal(strip, sim.labels)
    assert sim.maxima.min() >= 0
    for name in ("loc", "scale", "shape", "site_scale"):
        assert getattr(sim, name).shape == (60,)
    assert np.all((sim.site_scale >= 1) & (sim.site_scale <= 5))
    again = simulate_regions(60, 30, 3, random_state=1)
    assert np.array_equal(sim.maxima, again.maxima) and np.array_equal(sim.coords, again.coords)
    assert not np.array_equal(sim.maxima, simulate_regions(60, 30, 3, random_state=2).maxima)
    quad = simulate_regions(40, 10, 4, layout="quadrants", random_state=np.random.default_rng(3))
    q = (quad.coords[:, 0] >= 5).astype(int) + 2 * (quad.coords[:, 1] >= 5)
    assert np.array_equal(q, quad.labels)


def test_margins_are_gev_with_the_planted_shape_and_rfa_homogeneous() -> None:
    shapes = (0.0, 0.25)
    sim = simulate_regions(8, 3000, 2, shapes=shapes, dependence="independent", random_state=4)
    for r, xi in enumerate(shapes):
        idx = np.flatnonzero(sim.labels == r)
        pooled = (sim.maxima[:, idx] / sim.site_scale[idx]).ravel()  # one law per region
        ks = stats.kstest(pooled, stats.genextreme(-xi, loc=3.0, scale=1.0).cdf)
        assert ks.pvalue > 0.01
        omegas = [pwm_ratio(sim.maxima[:, s]) for s in idx]
        assert abs(np.mean(omegas) - gev_pwm_ratio(xi)) < 0.03
        assert np.allclose(sim.shape[idx], xi)
        assert np.allclose(sim.loc[idx] / sim.scale[idx], 3.0)


def test_logistic_extremal_coefficients_within_and_across_regions() -> None:
    alphas = (0.3, 0.7)
    sim = simulate_regions(20, 2000, 2, alpha=alphas, random_state=5)
    th = _pair_means(_theta(sim.maxima), sim.labels)
    assert th[(0, 0)] == pytest.approx(2**0.3, abs=0.03)
    assert th[(1, 1)] == pytest.approx(2**0.7, abs=0.03)
    assert th[(0, 1)] == pytest.approx(2.0, abs=0.03)  # regions independent


@pytest.mark.parametrize(
    ("model", "theory"),
    [
        (brown_resnick_frechet, lambda h: 2 * stats.norm.cdf(np.sqrt(h / 2.0) / 2)),
        (schlather_frechet, lambda h: 1 + np.sqrt((1 - np.exp(-h / 2.0)) / 2)),
    ],
)
def test_max_stable_fields_match_theta_of_distance(model, theory) -> None:
    rng = np.random.default_rng(6)
    coords = rng.uniform(0, 5, (40, 2))
    z = model(coords, 800, 2.0, 1.0, rng)  # range 2, smoothness 1
    assert abs(np.exp(-1.0 / z).mean() - 0.5) < 0.02  # unit-Frechet margins
    h = cdist(coords, coords)[np.triu_indices(40, 1)]
    th = _theta(z)[np.triu_indices(40, 1)]
    for lo, hi in [(0, 1), (1, 2), (2, 4)]:
        m = (h >= lo) & (h < hi)
        assert th[m].mean() == pytest.approx(theory(h[m]).mean(), abs=0.05)


def test_scenarios_plant_margins_or_dependence() -> None:
    kw = {"n_sites": 30, "n_years": 1500, "n_regions": 2, "alpha": 0.5}
    margins = simulate_scenario("margins", random_state=7, **kw)
    assert np.ptp(margins.shape) > 0.2 and np.all(margins.groups == 0)
    th = _pair_means(_theta(margins.maxima), margins.labels)
    assert th[(0, 1)] == pytest.approx(2**0.5, abs=0.04)  # same dependence across regions
    dep = simulate_scenario("dependence", random_state=8, **kw)
    assert np.ptp(dep.shape) == 0 and np.array_equal(dep.groups, dep.labels)
    th = _pair_means(_theta(dep.maxima), dep.labels)
    assert th[(0, 0)] == pytest.approx(2**0.5, abs=0.04)
    assert th[(0, 1)] == pytest.approx(2.0, abs=0.04)
    both = simulate_scenario("both", random_state=9, n_sites=30, n_years=20)
    assert np.ptp(both.shape) > 0.2 and np.array_equal(both.groups, both.labels)
    br = simulate_scenario("dependence", 24, 20, 2, dependence="brown-resnick", random_state=1)
    assert br.maxima.shape == (20, 24) and np.all(np.isnan(br.alpha))


def test_simulation_bad_input() -> None:
    with pytest.raises(InputError, match="alpha"):
        simulate_regions(20, 10, 2, alpha=0.0)
    with pytest.raises(InputError, match="alpha"):
        simulate_regions(20, 10, 2, alpha=(0.3, 0.6), independent_regions=False)
    with pytest.raises(InputError, match="quadrants"):
        simulate_regions(20, 10, 3, layout="quadrants")
    with pytest.raises(InputError, match="shapes"):
        simulate_regions(20, 10, 2, shapes=(0.1, 0.2, 0.3))
    with pytest.raises(InputError, match="dependence"):
        simulate_regions(20, 10, 2, dependence="smith")
    with pytest.raises(InputError, match="scale_range"):
        simulate_regions(20, 10, 2, scale_range=(0.0, 2.0))
    with pytest.raises(InputError, match="n_sites"):
        simulate_regions(3, 10, 2)
    with pytest.raises(InputError, match="smoothness"):
        simulate_regions(20, 10, 2, dependence="schlather", smoothness=2.5)
    with pytest.raises(InputError, match="kind"):
        simulate_scenario("shape")
    with pytest.raises(InputError, match="independent_regions"):
        simulate_scenario("margins", independent_regions=True)
