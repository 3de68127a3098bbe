"""GEV maximum likelihood: R evd::fgev cross-check, planted parameters, scipy, input errors."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from eoforge.core.errors import InputError
from eoforge.extremes.margins.gev import (
    fit_gev,
    gev_cdf,
    gev_logpdf,
    gev_ppf,
    return_level,
    return_level_se,
)


def _sample(xi: float, n: int, seed: int, loc: float = 20.0, scale: float = 5.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return stats.genextreme.rvs(-xi, loc=loc, scale=scale, size=n, random_state=rng)


# --------------------------------------------------------------------------- R cross-check

_R_SCRIPT = """
suppressMessages(library(evd))
args <- commandArgs(trailingOnly = TRUE)
x <- scan(args[1], quiet = TRUE)
f <- fgev(x, control = list(reltol = 1e-14, maxit = 10000))
cat(sprintf("%.12g", c(f$estimate, f$std.err, logLik(f))), sep = "\\n")
"""


def _r_evd_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    res = subprocess.run(
        ["Rscript", "-e", "library(evd)"], capture_output=True, text=True, timeout=60
    )
    return res.returncode == 0


@pytest.fixture(scope="module")
def r_fgev(tmp_path_factory: pytest.TempPathFactory):
    if not _r_evd_available():
        pytest.skip("Rscript or the R package evd is missing")
    folder = tmp_path_factory.mktemp("fgev")
    script = folder / "fit.R"
    script.write_text(_R_SCRIPT)

    def run(x: np.ndarray) -> np.ndarray:
        data = Path(folder) / "x.txt"
        np.savetxt(data, x, fmt="%.17g")
        out = subprocess.run(
            ["Rscript", str(script), str(data)],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return np.array([float(v) for v in out.stdout.split()])

    return run


@pytest.mark.r
@pytest.mark.parametrize(
    ("xi", "n", "seed"),
    [(-0.25, 60, 1), (0.0, 100, 2), (0.2, 150, 3), (0.4, 200, 4)],
)
def test_fit_gev_matches_r_evd_fgev(r_fgev, xi: float, n: int, seed: int) -> None:
    x = _sample(xi, n, seed)
    ref = r_fgev(x)  # loc, scale, shape, se(loc), se(scale), se(shape), loglik
    fit = fit_gev(x)
    ours = np.array(fit.params)
    # evd's shape has our sign (> 0 heavy tail); compare shape on the scale of the scale
    np.testing.assert_allclose(ours[:2], ref[:2], rtol=1e-4)
    assert abs(ours[2] - ref[2]) < 1e-4 * max(1.0, abs(ref[2]))
    np.testing.assert_allclose(fit.se, ref[3:6], rtol=0.01)
    # both maximise the same likelihood: ours can only be higher (up to rounding)
    assert fit.loglik >= ref[6] - 1e-6
    assert fit.loglik == pytest.approx(ref[6], abs=1e-4)


# --------------------------------------------------------------------------- planted truth


def test_large_sample_recovers_planted_parameters() -> None:
    truth = (20.0, 5.0, 0.15)
    x = _sample(truth[2], 20_000, seed=11, loc=truth[0], scale=truth[1])
    fit = fit_gev(x)
    assert fit.converged
    # within 4 standard errors of the truth, and the SEs have the asymptotic size
    z = (np.array(fit.params) - np.array(truth)) / fit.se
    assert np.all(np.abs(z) < 4), z
    assert 0.02 < fit.se[0] < 0.1
    assert abs(fit.xi - truth[2]) < 0.02


@pytest.mark.parametrize("xi", [-0.3, 0.0, 0.1, 0.35])
def test_loglik_at_least_scipy_genextreme(xi: float) -> None:
    x = _sample(xi, 80, seed=int(100 * (xi + 1)))
    fit = fit_gev(x)
    c, loc, scale = stats.genextreme.fit(x)
    ll_scipy = float(np.sum(stats.genextreme.logpdf(x, c, loc, scale)))
    assert fit.loglik >= ll_scipy - 1e-6
    # our log-likelihood value is scipy's density at our estimates (sign flip c = -xi)
    ll_ours_in_scipy = float(np.sum(stats.genextreme.logpdf(x, -fit.xi, fit.loc, fit.scale)))
    assert fit.loglik == pytest.approx(ll_ours_in_scipy, rel=1e-10)


def test_standard_errors_match_simulated_spread() -> None:
    # the inverse observed information predicts the sampling spread of the MLE
    truth = (0.0, 1.0, 0.1)
    fits = [fit_gev(_sample(truth[2], 200, seed=s, loc=0.0, scale=1.0)) for s in range(200)]
    est = np.array([f.params for f in fits])
    mean_se = np.mean([f.se for f in fits], axis=0)
    np.testing.assert_allclose(est.std(axis=0, ddof=1), mean_se, rtol=0.2)


def test_nan_dropped_and_gumbel_limit_is_smooth() -> None:
    x = _sample(0.0, 120, seed=5)
    with_nan = np.concatenate([x, [np.nan, np.nan]])
    fit = fit_gev(with_nan)
    assert fit.n == 120
    assert fit.params == pytest.approx(fit_gev(x).params, rel=1e-9)
    # log density is continuous through xi = 0 (Gumbel) and matches scipy on both sides
    for xi in (-1e-9, 0.0, 1e-9):
        np.testing.assert_allclose(
            gev_logpdf(x, 20.0, 5.0, xi), stats.gumbel_r.logpdf(x, 20.0, 5.0), rtol=1e-8
        )


def test_cdf_ppf_and_return_level() -> None:
    p = np.array([0.01, 0.5, 0.9, 0.99])
    for xi in (-0.2, 0.0, 0.3):
        q = gev_ppf(p, 10.0, 2.0, xi)
        np.testing.assert_allclose(q, stats.genextreme.ppf(p, -xi, 10.0, 2.0), rtol=1e-12)
        np.testing.assert_allclose(gev_cdf(q, 10.0, 2.0, xi), p, rtol=1e-12)
    # outside the support: 0 below the lower end point (xi > 0), 1 above the upper one (xi < 0)
    assert gev_cdf(np.array([0.0]), 10.0, 2.0, 0.5)[0] == 0.0
    assert gev_cdf(np.array([30.0]), 10.0, 2.0, -0.5)[0] == 1.0

    fit = fit_gev(_sample(0.1, 100, seed=8))
    rl = return_level(fit, np.array([2.0, 100.0]))
    np.testing.assert_allclose(
        rl, stats.genextreme.ppf([0.5, 0.99], -fit.xi, fit.loc, fit.scale), rtol=1e-12
    )
    assert isinstance(return_level(fit, 50), float)
    se = return_level_se(fit, np.array([2.0, 100.0]))
    assert 0 < se[0] < se[1]  # longer periods are less certain
    with pytest.raises(InputError, match="period"):
        return_level(fit, 1.0)


# --------------------------------------------------------------------------- input errors


def test_clear_errors_on_bad_input() -> None:
    with pytest.raises(InputError, match="constant"):
        fit_gev(np.full(30, 3.0))
    with pytest.raises(InputError, match="at least 10"):
        fit_gev(np.arange(9.0))
    with pytest.raises(InputError, match="at least 10"):
        fit_gev(np.concatenate([np.arange(5.0), np.full(20, np.nan)]))
    with pytest.raises(InputError, match="inf"):
        fit_gev(np.concatenate([np.arange(20.0), [np.inf]]))


def test_unbounded_likelihood_is_reported_not_hidden() -> None:
    # 10 values from a short-tailed GEV: the fit runs to xi ~ -1, where the likelihood is
    # unbounded; the result says so (converged False, NaN SEs) and its loglik stays finite
    x = _sample(-0.8, 10, seed=0, loc=1e4, scale=1.0)
    fit = fit_gev(x)
    assert fit.xi < -0.99
    assert not fit.converged
    assert np.all(np.isnan(fit.se))
    assert np.isfinite(fit.loglik)
