"""L-moments, kappa distribution, discordancy and heterogeneity (Hosking & Wallis 1997)."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
from scipy import integrate, special, stats

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.margins.kappa import fit_kappa_lmoments, kappa_lmoments, kappa_ppf
from eoforge.extremes.margins.lmoments import (
    _sorted_rows_lmoments,
    discordancy,
    discordancy_critical_value,
    heterogeneity,
    sample_lmoments,
    site_lmoment_ratios,
)

# --------------------------------------------------------------------------- sample L-moments


@pytest.mark.parametrize(
    ("draw", "l2", "t3", "t4"),
    [
        (lambda rng, n: rng.exponential(size=n), 0.5, 1 / 3, 1 / 6),
        (lambda rng, n: rng.uniform(size=n), 1 / 6, 0.0, 0.0),
        (lambda rng, n: rng.gumbel(size=n), np.log(2), 0.1699, 0.1504),
    ],
    ids=["exponential", "uniform", "gumbel"],
)
def test_sample_lmoments_match_closed_forms(draw, l2: float, t3: float, t4: float) -> None:
    x = draw(np.random.default_rng(0), 200_000)
    lm = sample_lmoments(x)
    assert lm.l2 == pytest.approx(l2, abs=5e-3)
    assert lm.t3 == pytest.approx(t3, abs=5e-3)
    assert lm.t4 == pytest.approx(t4, abs=5e-3)
    assert lm.t == pytest.approx(lm.l2 / lm.l1)


def test_sample_lmoments_equal_brute_force_subsample_definition() -> None:
    # Hosking (1990): l_r = average over all r-subsets of the r-th order differences, e.g.
    # l3 = C(n,3)^-1 sum_{i<j<k} (x_k - 2 x_j + x_i) / 3 over sorted x.
    x = np.sort(np.random.default_rng(1).gamma(2.0, size=9))
    n = x.size
    l2 = np.mean([(b - a) / 2 for a, b in combinations(x, 2)])
    l3 = np.mean([(c - 2 * b + a) / 3 for a, b, c in combinations(x, 3)])
    l4 = np.mean([(d - 3 * c + 3 * b - a) / 4 for a, b, c, d in combinations(x, 4)])
    assert len(list(combinations(range(n), 4))) == special.comb(n, 4)
    lm = sample_lmoments(np.concatenate([x[::-1], [np.nan]]))  # order and NaN do not matter
    assert lm.n == 9
    np.testing.assert_allclose([lm.l2, lm.t3, lm.t4], [l2, l3 / l2, l4 / l2], rtol=1e-12)


def test_small_sample_lmoments_are_unbiased() -> None:
    # E[l_r] = lambda_r for every n: exponential lambda = (1, 1/2, 1/6, 1/12), n = 6
    rng = np.random.default_rng(2)
    xs = np.sort(rng.exponential(size=(200_000, 6)), axis=-1)
    lm = _sorted_rows_lmoments(xs)  # batched estimator used by the H simulation
    np.testing.assert_allclose(lm[:3, 2:], [sample_lmoments(r).ratios for r in xs[:3]])
    l3 = lm[:, 3] * lm[:, 1]
    l4 = lm[:, 4] * lm[:, 1]
    means = [lm[:, 0].mean(), lm[:, 1].mean(), l3.mean(), l4.mean()]
    np.testing.assert_allclose(means, [1, 1 / 2, 1 / 6, 1 / 12], atol=4e-3)


# --------------------------------------------------------------------------- kappa distribution


@pytest.mark.parametrize("k", [-0.3, -0.1, 0.05, 0.25])
def test_kappa_special_cases(k: float) -> None:
    # h = 0 GEV (Hosking k = -xi)
    t3_gev = 2 * (1 - 3.0**-k) / (1 - 2.0**-k) - 3
    t4_gev = (5 * (1 - 4.0**-k) - 10 * (1 - 3.0**-k) + 6 * (1 - 2.0**-k)) / (1 - 2.0**-k)
    np.testing.assert_allclose(kappa_lmoments(k, 0.0)[2:], [t3_gev, t4_gev], rtol=1e-9)
    # h = -1 GLO: t3 = -k, t4 = (1 + 5 k^2) / 6
    np.testing.assert_allclose(kappa_lmoments(k, -1.0)[2:], [-k, (1 + 5 * k**2) / 6], atol=1e-9)
    # h = 1 GPD: t3 = (1 - k)/(3 + k), t4 = (1 - k)(2 - k)/((3 + k)(4 + k))
    gpd = [(1 - k) / (3 + k), (1 - k) * (2 - k) / ((3 + k) * (4 + k))]
    np.testing.assert_allclose(kappa_lmoments(k, 1.0)[2:], gpd, rtol=1e-9)


def test_kappa_gumbel_limit() -> None:
    lam = kappa_lmoments(0.0, 0.0, xi=2.0, alpha=3.0)
    np.testing.assert_allclose(
        lam, [2 + 3 * np.euler_gamma, 3 * np.log(2), 0.1699250, 0.1503750], rtol=1e-6
    )


@pytest.mark.parametrize(("k", "h"), [(0.1, 0.3), (-0.2, -0.5), (0.2, -1.0), (0.05, 3.0)])
def test_kappa_ppf_and_lmoments_against_scipy_kappa4(k: float, h: float) -> None:
    # scipy.stats.kappa4 uses the same (h, k) parameterisation: an independent implementation
    p = np.linspace(0.001, 0.999, 41)
    np.testing.assert_allclose(
        kappa_ppf(p, 1.0, 2.0, k, h), stats.kappa4.ppf(p, h, k, loc=1.0, scale=2.0), rtol=1e-9
    )
    # L-moments by quadrature of scipy's quantile function against shifted Legendre polynomials
    lam = [
        integrate.quad(lambda f, r=r: stats.kappa4.ppf(f, h, k) * special.eval_sh_legendre(r, f),
                       0, 1, limit=200)[0]
        for r in range(4)
    ]  # fmt: skip
    expected = [lam[0], lam[1], lam[2] / lam[1], lam[3] / lam[1]]
    np.testing.assert_allclose(kappa_lmoments(k, h), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("k", "h"), [(0.1, 0.3), (-0.2, -0.5), (0.3, 1.0), (-0.1, 2.0), (0.2, -0.9), (0.0, 0.0)]
)
def test_kappa_fit_round_trip(k: float, h: float) -> None:
    lam = kappa_lmoments(k, h, xi=3.0, alpha=2.0)
    fit = fit_kappa_lmoments(*lam)
    assert not fit.is_glo
    np.testing.assert_allclose([fit.k, fit.h], [k, h], atol=1e-6)
    np.testing.assert_allclose([fit.xi, fit.alpha], [3.0, 2.0], rtol=1e-6)


def test_kappa_fit_falls_back_to_glo_above_glo_line() -> None:
    t3 = 0.2
    t4 = (1 + 5 * t3**2) / 6 + 0.02  # above the GLO line: no kappa with h >= -1
    fit = fit_kappa_lmoments(1.0, 0.3, t3, t4)
    assert fit.is_glo and fit.h == -1.0 and fit.k == pytest.approx(-t3)
    np.testing.assert_allclose(kappa_lmoments(fit.k, fit.h, fit.xi, fit.alpha)[:3], [1, 0.3, t3])
    with pytest.raises(InputError, match="l2"):
        fit_kappa_lmoments(1.0, -0.1, 0.1, 0.1)


# --------------------------------------------------------------------------- discordancy


def _region(n_years: int, n_sites: int, seed: int, xi=0.1, cv_scale=None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = np.full(n_sites, 3.0) if cv_scale is None else np.asarray(cv_scale, dtype=float)
    x = stats.genextreme.rvs(-xi, loc=10.0, scale=scale, size=(n_years, n_sites), random_state=rng)
    return x * rng.uniform(0.5, 2.0, n_sites)  # index-flood: site-specific multipliers


def test_discordancy_flags_planted_outlier() -> None:
    x = _region(60, 20, seed=3)
    # site 7: much heavier tail and larger variability than the rest
    x[:, 7] = stats.genextreme.rvs(-0.6, loc=10, scale=9, size=60, random_state=4) + 20
    ratios, n = site_lmoment_ratios(x)
    d = discordancy(ratios)
    crit = discordancy_critical_value(20)
    assert crit == 3.0
    assert d[7] > crit
    assert np.all(np.delete(d, 7) < crit)
    assert d.sum() == pytest.approx(20)  # sum_i D_i = N identically
    assert np.all(n == 60)


def test_discordancy_critical_values_and_errors() -> None:
    assert discordancy_critical_value(5) == 1.333
    assert discordancy_critical_value(14) == 2.971
    assert discordancy_critical_value(100) == 3.0
    assert discordancy_critical_value(4) == 1.0  # D_i <= (N-1)/3: nothing can be flagged
    with pytest.raises(ShapeError, match="N >= 4"):
        discordancy(np.zeros((3, 3)))
    with pytest.raises(InputError, match="collinear"):
        discordancy(np.tile([0.2, 0.1, 0.1], (6, 1)))
    with pytest.raises(InputError, match="NaN"):
        discordancy(np.array([[0.2, 0.1, np.nan]] * 6))


# --------------------------------------------------------------------------- heterogeneity


def test_h_small_for_homogeneous_and_large_for_heterogeneous_regions() -> None:
    h_homog = [heterogeneity(_region(50, 15, seed=s), random_state=s).H1 for s in range(6)]
    assert np.mean(np.abs(h_homog)) < 1.5
    # L-CV grows from site to site (scale 1 -> 6 at fixed location)
    h_het = [
        heterogeneity(_region(50, 15, seed=s, cv_scale=np.linspace(1, 6, 15)), random_state=s).H1
        for s in range(3)
    ]
    assert min(h_het) > 2


def test_h_is_scale_free_and_reproducible() -> None:
    x = _region(40, 10, seed=9)
    x[:5, 2] = np.nan  # unequal record lengths are allowed
    r = heterogeneity(x, n_sim=200, random_state=1)
    r2 = heterogeneity(x * np.arange(1, 11), n_sim=200, random_state=1)  # index-flood invariance
    np.testing.assert_allclose(r.H1, r2.H1, rtol=1e-9)
    assert r.record_lengths[2] == 35
    assert r.n_sim == 200 and r.verdict in {
        "acceptably homogeneous",
        "possibly heterogeneous",
        "definitely heterogeneous",
    }
    np.testing.assert_allclose(r.H1, (r.V - r.mu_V) / r.sigma_V, rtol=1e-12)


def test_h_simulation_matches_direct_loop_with_scipy_kappa4() -> None:
    # mu_V, sigma_V against a plain loop: scipy.stats.kappa4 draws and sample_lmoments per site
    x = _region(30, 8, seed=12)
    r = heterogeneity(x, n_sim=400, random_state=0)
    kap = r.kappa
    rng = np.random.default_rng(99)
    n = r.record_lengths
    v = []
    for _ in range(400):
        t = np.array(
            [
                sample_lmoments(
                    stats.kappa4.rvs(kap.h, kap.k, kap.xi, kap.alpha, size=m, random_state=rng)
                ).t
                for m in n
            ]
        )
        tr = n @ t / n.sum()
        v.append(np.sqrt(n @ (t - tr) ** 2 / n.sum()))
    v = np.array(v)
    se = v.std(ddof=1) / np.sqrt(400)
    assert abs(r.mu_V - v.mean()) < 4 * np.sqrt(2) * se
    assert r.sigma_V == pytest.approx(v.std(ddof=1), rel=0.2)


def test_heterogeneity_input_errors() -> None:
    with pytest.raises(ShapeError):
        heterogeneity(np.ones(30))
    with pytest.raises(InputError, match="at least 2 sites"):
        heterogeneity(_region(30, 1, seed=0))
    with pytest.raises(InputError, match="n_sim"):
        heterogeneity(_region(30, 4, seed=0), n_sim=1)
    x = _region(30, 4, seed=0)
    x[:, 1] = 5.0
    with pytest.raises(InputError, match="site \\(column\\) 1"):
        heterogeneity(x)
