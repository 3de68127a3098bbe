"""RFA-madogram, F-madogram and PWM-ratio dissimilarities.

Oracles: closed forms checked by Monte Carlo (tolerance from replicate standard errors), the 1-D
integral of the general GEV case (scipy quad), the naive per-pair searchsorted implementation,
scipy rank/cdist, brute force over all breakpoints, and (optional) R's ecdf on evd's data.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats
from scipy.spatial.distance import cdist

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.dissimilarity import _kernels
from eoforge.extremes.dissimilarity.checks import validate_maxima
from eoforge.extremes.dissimilarity.disk import dissimilarity_matrix_to_disk
from eoforge.extremes.dissimilarity.matrix import dissimilarity_matrix
from eoforge.extremes.dissimilarity.pair import rfa_madogram
from eoforge.extremes.margins.pwm import pwm_ratio
from eoforge.extremes.simulate.regions import logistic_frechet


def _logistic_pair(n: int, alpha: float, rng: np.random.Generator) -> np.ndarray:
    return logistic_frechet(n, 2, alpha, rng)


def _mc(stat, n_rep: int, seed: int) -> tuple[float, float]:
    """Mean and standard error of ``stat(rng)`` over independent replicates."""
    rng = np.random.default_rng(seed)
    vals = np.array([stat(rng) for _ in range(n_rep)])
    return float(vals.mean()), float(vals.std(ddof=1) / np.sqrt(n_rep))


def _nu(theta: float) -> float:
    return (theta - 1.0) / (2.0 * (theta + 1.0))


# ----------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("alpha", [0.3, 0.6, 0.9])
def test_logistic_rfa_homogeneous_pair_gives_fmadogram(alpha: float) -> None:
    # X2 =d (5/2) X1 (same GEV up to scale): D at the mean-ratio c = (theta-1)/(2(theta+1))
    xi, T = 0.1, 4000

    def stat(rng):
        z = _logistic_pair(T, alpha, rng)
        g = 3.0 + np.expm1(xi * np.log(z)) / xi
        return rfa_madogram(2.0 * g[:, 0], 5.0 * g[:, 1])

    mean, se = _mc(stat, 12, seed=int(alpha * 10))
    assert abs(mean - _nu(2.0**alpha)) < 4 * se + 1.0 / T


@pytest.mark.parametrize("c", [1.0, 1.5, 1.8, 2.5])
def test_pure_scale_gev_pair_fixed_c(c: float) -> None:
    # X_i = s_i Z_i^xi: D_c = (k-1)/(2(k+1)), k = (a^(1/alpha) + a^(-1/alpha))^alpha,
    # a = (c s1/s2)^(-1/xi)
    alpha, xi, s1, s2, T = 0.6, 0.2, 2.0, 3.0, 4000
    a = (c * s1 / s2) ** (-1.0 / xi)
    k = (a ** (1 / alpha) + a ** (-1 / alpha)) ** alpha

    def stat(rng):
        z = _logistic_pair(T, alpha, rng)
        return rfa_madogram(s1 * z[:, 0] ** xi, s2 * z[:, 1] ** xi, c)

    mean, se = _mc(stat, 12, seed=int(c * 10))
    assert abs(mean - (k - 1) / (2 * (k + 1))) < 4 * se + 1.0 / T


def test_general_gev_margins_match_the_integral() -> None:
    # D_c = 1/2 - int_0^1 exp(-l(-log F1(F2^-1(u)/c), -log F2(c F1^-1(u)))) du, logistic l
    alpha, c, T = 0.6, 1.3, 4000
    g1 = stats.genextreme(-0.1, loc=10.0, scale=3.0)  # scipy c = -xi
    g2 = stats.genextreme(-0.25, loc=12.0, scale=5.0)

    def ell(x, y):
        return (x ** (1 / alpha) + y ** (1 / alpha)) ** alpha

    def integrand(u):
        return np.exp(-ell(-np.log(g1.cdf(g2.ppf(u) / c)), -np.log(g2.cdf(c * g1.ppf(u)))))

    theory = 0.5 - integrate.quad(integrand, 0.0, 1.0, limit=200)[0]

    def stat(rng):
        u = np.exp(-1.0 / _logistic_pair(T, alpha, rng))  # uniform margins, logistic copula
        return rfa_madogram(g1.ppf(u[:, 0]), g2.ppf(u[:, 1]), c)

    mean, se = _mc(stat, 12, seed=5)
    assert 0.05 < theory < 0.45
    assert abs(mean - theory) < 4 * se + 1.0 / T


def test_min_scale_recovers_fmadogram_in_pure_scale_case() -> None:
    alpha, xi, s1, s2, T = 0.6, 0.2, 2.0, 3.0, 4000

    def stat(rng):
        z = _logistic_pair(T, alpha, rng)
        x, y = s1 * z[:, 0] ** xi, s2 * z[:, 1] ** xi
        d_min, c = rfa_madogram(x, y, "min", return_scale=True)
        fmado = dissimilarity_matrix(np.stack([x, y], 1), "fmadogram")[0, 1]
        assert d_min <= rfa_madogram(x, y) + 1e-15
        assert abs(c - s2 / s1) < 0.05
        assert abs(d_min - fmado) < 0.01
        return d_min

    mean, se = _mc(stat, 6, seed=7)
    assert abs(mean - _nu(2.0**alpha)) < 4 * se + 2.0 / T


def test_min_scale_equals_brute_force_minimum_over_breakpoints() -> None:
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x = rng.gamma(2.0, size=30)
        y = 3.0 * rng.gamma(1.5, size=30) + 0.5 * x
        d, c = rfa_madogram(x, y, "min", return_scale=True)
        c0 = y.mean() / x.mean()
        br = np.unique(np.divide.outer(y, x))
        br = br[(br > c0 / 10) & (br < c0 * 10)]
        brute = _kernels.cross_ecdf_d(np.sort(x), np.sort(y), x, y, np.sqrt(br[:-1] * br[1:]))
        assert d == pytest.approx(brute.min(), abs=1e-12)
        assert d == pytest.approx(rfa_madogram(x, y, c), abs=1e-12)
        assert d <= rfa_madogram(x, y) + 1e-15


def test_scaled_copy_is_zero_and_self_is_zero() -> None:
    rng = np.random.default_rng(0)
    x = rng.gamma(2.0, size=200)
    assert rfa_madogram(x, x) == 0.0
    assert rfa_madogram(x, 4.0 * x) == 0.0  # exact in floating point
    assert rfa_madogram(x, 3.7 * x) <= 1.0 / (2 * 200)  # rounding can split a tie: one step
    assert rfa_madogram(x, 3.7 * x, 3.7) <= 1.0 / (2 * 200)
    assert rfa_madogram(x, 3.7 * x, "min") <= rfa_madogram(x, 3.7 * x)


def test_symmetry_scale_invariance_and_range() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.gamma(rng.uniform(0.5, 3), size=60) * rng.uniform(0.1, 10)
        y = rng.gamma(rng.uniform(0.5, 3), size=60) * rng.uniform(0.1, 10) + 0.3 * x
        d = rfa_madogram(x, y)
        assert d == rfa_madogram(y, x)
        assert d == pytest.approx(rfa_madogram(3.0 * x, 7.0 * y), abs=1e-12)
        c = rng.uniform(0.2, 5)
        assert rfa_madogram(x, y, c) == pytest.approx(rfa_madogram(y, x, 1 / c), abs=1e-12)
        for scale in ("mean_ratio", "min", c):
            assert 0.0 <= rfa_madogram(x, y, scale) <= 0.5
    x = rng.uniform(0, 1, 500)
    y = rng.uniform(0, 1, 500)
    assert rfa_madogram(x, y, 1e4) > 0.499  # F2(c x) = 1 and F1(y/c) ~ 0


def test_missing_years_use_pairwise_complete_years_and_own_ecdfs() -> None:
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, size=40)
    y = rng.gamma(2.0, size=40) + x
    x[[1, 5]] = np.nan
    y[[5, 9, 11]] = np.nan
    fx, fy = np.isfinite(x), np.isfinite(y)
    both = fx & fy
    u, v = x / np.mean(x[fx]), y / np.mean(y[fy])
    g_y = np.array([np.mean(v[fy] <= s) for s in u[both]])  # ecdf of y's own 37 values
    g_x = np.array([np.mean(u[fx] <= s) for s in v[both]])  # ecdf of x's own 38 values
    assert rfa_madogram(x, y) == pytest.approx(0.5 * np.mean(np.abs(g_y - g_x)), abs=1e-15)


# ----------------------------------------------------------------------------- matrices


def _maxima(T: int, n: int, seed: int, nan_frac: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = logistic_frechet(T, n, 0.7, rng) ** 0.15 * rng.uniform(1, 5, n)
    z += 0.3 * rng.gamma(2.0, size=(T, n))  # shapes differ between sites
    if nan_frac:
        z[rng.random((T, n)) < nan_frac] = np.nan
    return z


@pytest.mark.parametrize("nan_frac", [0.0, 0.15])
def test_matrix_kernel_equals_naive_per_pair(nan_frac: float) -> None:
    x = _maxima(50, 40, seed=3, nan_frac=nan_frac)
    d = dissimilarity_matrix(x, block_size=7)
    ref = _kernels.rfa_matrix_naive(x)
    assert np.abs(d - ref).max() < 1e-12
    assert np.array_equal(d, d.T) and np.all(np.diag(d) == 0)
    assert d.min() >= 0 and d.max() <= 0.5


def test_matrix_kernel_handles_ties_like_naive() -> None:
    x = np.round(_maxima(40, 30, seed=4), 1)  # ties within and between sites
    x[:, 5] = x[:, 4] * 2.0  # exact cross-site ties after normalisation
    d = dissimilarity_matrix(x)
    assert np.abs(d - _kernels.rfa_matrix_naive(x)).max() < 1e-12
    assert d[4, 5] == 0.0


@pytest.mark.parametrize("T", [10, 11, 13, 64])
def test_matrix_kernel_exact_on_heavy_ties_and_uneven_missing(T: int) -> None:
    # odd and even n_i + n_j, equal means (identical normalised values), many ties
    rng = np.random.default_rng(T)
    base = rng.integers(1, 5, T).astype(float)
    base[:2] = [1.0, 4.0]
    x = np.stack([rng.permutation(base) for _ in range(20)], 1)
    x = np.hstack([x, rng.integers(0, 6, (T, 20)).astype(float)])
    x[:, 10:][rng.random((T, 30)) < 0.15] = np.nan
    x = x[:, validate_maxima(x, min_years=5)]
    d = dissimilarity_matrix(x, min_common_years=3, block_size=9)
    assert np.abs(d - _kernels.rfa_matrix_naive(x)).max() < 1e-12
    assert d[0, 1] == pytest.approx(_kernels.rfa_pair_naive(x[:, 0], x[:, 1]), abs=0)


@pytest.mark.parametrize("T", [5, 6, 7, 8])
def test_pair_kernel_sees_a_single_cross_site_tie_anywhere(T: int) -> None:
    # sites 2k and 2k+1 share exactly one value, at random ranks (e.g. at the merge split)
    rng = np.random.default_rng(T)
    x = rng.random((T, 600))
    x[rng.integers(0, T, 300), 2 * np.arange(300) + 1] = x[
        rng.integers(0, T, 300), 2 * np.arange(300)
    ]
    prep = _kernels.prepare_rfa(x, normalise=False)
    d = _kernels.block(prep, "rfa-madogram", 0, 600, 0, 600)
    ref = [_kernels.rfa_pair_naive(x[:, 2 * k], x[:, 2 * k + 1], 1.0) for k in range(300)]
    assert np.abs(d[2 * np.arange(300), 2 * np.arange(300) + 1] - ref).max() < 1e-12


def test_blocks_dtype_and_memmap_output_agree(tmp_path: Path) -> None:
    x = _maxima(30, 53, seed=5, nan_frac=0.05)
    one = dissimilarity_matrix(x, block_size=1000)
    assert np.array_equal(dissimilarity_matrix(x, block_size=7), one)
    f32 = dissimilarity_matrix(x, block_size=16, dtype=np.float32)
    assert f32.dtype == np.float32 and np.abs(f32 - one).max() < 1e-7
    mm = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float64, shape=(53, 53))
    res = dissimilarity_matrix(x, block_size=10, out=mm)
    assert res is mm
    mm.flush()
    assert np.array_equal(np.load(tmp_path / "d.npy"), one)


def test_to_disk_is_atomic_and_equal(tmp_path: Path) -> None:
    x = _maxima(30, 45, seed=6, nan_frac=0.05)
    calls: list[tuple[int, int]] = []
    path = dissimilarity_matrix_to_disk(
        x, tmp_path / "d.npy", block_size=8, progress=lambda a, b: calls.append((a, b))
    )
    disk = np.load(path, mmap_mode="r")
    assert disk.dtype == np.float32 and disk.shape == (45, 45)
    assert np.abs(disk - dissimilarity_matrix(x)).max() < 1e-7
    assert calls == [(k, 6) for k in range(1, 7)]
    assert os.listdir(tmp_path) == ["d.npy"]  # no temporary file left
    with pytest.raises(InputError):
        dissimilarity_matrix_to_disk(x[:, :3] * 0 + 1, tmp_path / "bad.npy")
    assert os.listdir(tmp_path) == ["d.npy"]


def test_fmadogram_equals_rankdata_cityblock() -> None:
    x = _maxima(60, 35, seed=7)
    x[:, 3] = np.round(x[:, 3], 0)  # ties: ecdf counts <=, i.e. rankdata "max"
    T = x.shape[0]
    u = stats.rankdata(x, method="max", axis=0) / T
    ref = cdist(u.T, u.T, metric="cityblock") / (2 * T)
    assert np.abs(dissimilarity_matrix(x, "fmadogram", block_size=9) - ref).max() < 1e-12


def test_fmadogram_with_missing_years() -> None:
    x = _maxima(40, 12, seed=8, nan_frac=0.1)
    d = dissimilarity_matrix(x, "fmadogram")
    fin = np.isfinite(x)
    f = np.where(fin, 0.0, np.nan)
    for i in range(12):
        own = np.sort(x[fin[:, i], i])
        f[fin[:, i], i] = np.searchsorted(own, x[fin[:, i], i], "right") / own.size
    for i in range(12):
        for j in range(12):
            both = fin[:, i] & fin[:, j]
            assert d[i, j] == pytest.approx(0.5 * np.mean(np.abs(f[both, i] - f[both, j])))


def test_pwm_ratio_matrix() -> None:
    x = _maxima(50, 20, seed=9, nan_frac=0.05)
    om = np.array([pwm_ratio(c) for c in x.T])
    d = dissimilarity_matrix(x, "pwm-ratio", block_size=6)
    assert np.abs(d - np.abs(om[:, None] - om[None, :])).max() < 1e-12


# ----------------------------------------------------------------------------- bad input


def test_bad_input_errors_name_the_sites_and_the_fix() -> None:
    x = _maxima(30, 8, seed=10)
    bad = x.copy()
    bad[:, 3] = 2.0
    with pytest.raises(InputError, match=r"sites \[3\].*constant.*validate_maxima"):
        dissimilarity_matrix(bad)
    bad = x.copy()
    bad[:, 1] = np.nan
    bad[:25, 6] = np.nan
    with pytest.raises(InputError, match=r"\[1\].*all missing.*\[6\].*fewer than 10"):
        dissimilarity_matrix(bad)
    bad = x.copy()
    bad[4, 2] = -1.0
    with pytest.raises(InputError, match=r"\[2\].*negative"):
        dissimilarity_matrix(bad)
    assert dissimilarity_matrix(bad, "fmadogram").shape == (8, 8)  # ranks only: allowed
    bad = x.copy()
    bad[:15, 0] = np.nan
    bad[12:, 5] = np.nan  # sites 0 and 5 share 0 years, each has >= 12
    with pytest.raises(InputError, match=r"1 pairs .* min_common_years=10.*\(0, 5\)"):
        dissimilarity_matrix(bad)
    with pytest.raises(InputError, match="only 30 years"):
        dissimilarity_matrix(x, min_common_years=40)
    with pytest.raises(ShapeError, match="2-D"):
        dissimilarity_matrix(x[:, 0])
    with pytest.raises(InputError, match="method"):
        dissimilarity_matrix(x, "madogram")
    with pytest.raises(InputError, match="dtype"):
        dissimilarity_matrix(x, dtype=np.int32)
    with pytest.raises(ShapeError, match="out has shape"):
        dissimilarity_matrix(x, out=np.empty((3, 3)))
    with pytest.raises(InputError, match="inf"):
        dissimilarity_matrix(np.where(x > 3, np.inf, x))


def test_validate_maxima_mask() -> None:
    x = _maxima(30, 6, seed=11)
    x[:, 0] = 1.0
    x[:, 2] = np.nan
    x[:22, 4] = np.nan
    x[0, 5] = -0.5
    assert validate_maxima(x).tolist() == [False, True, False, True, False, False]
    assert validate_maxima(x, allow_negative=True)[5]
    assert validate_maxima(x, min_years=5)[4]
    keep = validate_maxima(x)
    assert dissimilarity_matrix(x[:, keep]).shape == (2, 2)


def test_rfa_madogram_bad_input() -> None:
    x = np.arange(1.0, 21.0)
    with pytest.raises(ShapeError):
        rfa_madogram(x, x[:-1])
    with pytest.raises(InputError, match="scale"):
        rfa_madogram(x, x, -1.0)
    with pytest.raises(InputError, match="scale"):
        rfa_madogram(x, x, "mean")
    with pytest.raises(InputError, match="constant"):
        rfa_madogram(x, np.ones(20))
    with pytest.raises(InputError, match="negative"):
        rfa_madogram(x - 5, x)
    y = x.copy()
    y[:15] = np.nan
    with pytest.raises(InputError, match="fewer than 10"):
        rfa_madogram(x, y)
    assert rfa_madogram(x, y, min_common_years=5) >= 0


# ----------------------------------------------------------------------------- R cross-check

_R_SCRIPT = """
suppressMessages(library(evd))
data(sealevel)
x <- sealevel[, 1]; y <- sealevel[, 2]
d <- function(c) 0.5 * mean(abs(ecdf(y)(c * x) - ecdf(x)(y / c)), na.rm = TRUE)
c0 <- mean(y, na.rm = TRUE) / mean(x, na.rm = TRUE)
write.table(cbind(x, y), "data.txt", row.names = FALSE, col.names = FALSE)
cat(sprintf("%.17g", c(c0, d(c0), d(1.1))), sep = "\\n")
"""


@pytest.mark.r
def test_matches_r_ecdf_formula_on_evd_sealevel(tmp_path: Path) -> None:
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is missing")
    ok = subprocess.run(["Rscript", "-e", "library(evd)"], capture_output=True, timeout=60)
    if ok.returncode != 0:
        pytest.skip("R package evd is missing")
    (tmp_path / "d.R").write_text(_R_SCRIPT)
    res = subprocess.run(
        ["Rscript", "d.R"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=True
    )
    c0, d_mean, d_fixed = (float(v) for v in res.stdout.split())
    data = np.genfromtxt(tmp_path / "data.txt", missing_values="NA")
    x, y = data[:, 0], data[:, 1]
    d, c = rfa_madogram(x, y, return_scale=True)
    assert c == pytest.approx(c0, rel=1e-14)
    assert d == pytest.approx(d_mean, abs=1e-12)
    assert rfa_madogram(x, y, 1.1) == pytest.approx(d_fixed, abs=1e-15)
