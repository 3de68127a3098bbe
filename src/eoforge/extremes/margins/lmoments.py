"""Sample L-moments and Hosking & Wallis (1997) regional diagnostics: discordancy D_i and H.

From the unbiased PWMs b_r of :func:`eoforge.extremes.margins.pwm.sample_pwms`:

    l1 = b0,  l2 = 2 b1 - b0,  l3 = 6 b2 - 6 b1 + b0,  l4 = 20 b3 - 30 b2 + 12 b1 - b0,
    t = l2 / l1 (L-CV),  t3 = l3 / l2 (L-skewness),  t4 = l4 / l2 (L-kurtosis).

Both diagnostics treat sites as independent (H&W 1997, section 4.3); inter-site correlation,
typical of gridded climate-model maxima, makes a region look more homogeneous than it is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes.margins.kappa import KappaParams, fit_kappa_lmoments, kappa_ppf
from eoforge.extremes.margins.pwm import sample_pwms

# H&W (1997) Table 3.1: critical values of the discordancy measure D_i by number of sites N
_D_CRITICAL = {
    5: 1.333, 6: 1.648, 7: 1.917, 8: 2.140, 9: 2.329,
    10: 2.491, 11: 2.632, 12: 2.757, 13: 2.869, 14: 2.971,
}  # fmt: skip
_SIM_BLOCK = 4_000_000  # simulated values held in memory at once by heterogeneity()


@dataclass(frozen=True)
class LMoments:
    """Sample L-moments of one series (see module docstring for the formulas)."""

    l1: float
    l2: float
    t: float
    t3: float
    t4: float
    n: int

    @property
    def ratios(self) -> np.ndarray:
        """(t, t3, t4), the vector u_i of the discordancy measure."""
        return np.array([self.t, self.t3, self.t4])


def _lmoments_from_pwms(b: np.ndarray) -> np.ndarray:
    """(l1, l2, t, t3, t4) along the last axis from PWMs b0..b3 on the last axis."""
    b0, b1, b2, b3 = np.moveaxis(b, -1, 0)
    l2 = 2 * b1 - b0
    l3 = 6 * b2 - 6 * b1 + b0
    l4 = 20 * b3 - 30 * b2 + 12 * b1 - b0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([b0, l2, l2 / b0, l3 / l2, l4 / l2], axis=-1)


def sample_lmoments(x: np.ndarray) -> LMoments:
    """Sample L-moments l1, l2 and ratios t, t3, t4 of one series (NaNs dropped).

    Args:
        x: 1-D sample.

    Returns:
        :class:`LMoments`. ``t`` is NaN-free only when l1 != 0; t3 and t4 need l2 > 0.

    Raises:
        InputError: If fewer than 4 finite values remain or the series is constant.
    """
    x = np.asarray(x, dtype=float).ravel()
    b = sample_pwms(x, 4)  # raises on fewer than 4 finite values
    if np.ptp(x[np.isfinite(x)]) == 0:
        raise InputError("sample_lmoments got a constant series (l2 = 0); drop or mask it.")
    l1, l2, t, t3, t4 = _lmoments_from_pwms(b)
    return LMoments(float(l1), float(l2), float(t), float(t3), float(t4), int(np.isfinite(x).sum()))


def site_lmoment_ratios(maxima: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L-moment ratios (t, t3, t4) and record lengths of each site (column) of a region.

    Args:
        maxima: Array (n_years, n_sites) of annual maxima; NaN marks a missing year.

    Returns:
        (ratios (n_sites, 3), record lengths (n_sites,)).

    Raises:
        ShapeError: If ``maxima`` is not 2-D.
        InputError: If a site has fewer than 4 values, is constant, or has mean <= 0.
    """
    maxima = np.asarray(maxima, dtype=float)
    if maxima.ndim != 2:
        raise ShapeError(
            f"maxima must be 2-D (n_years, n_sites), got shape {maxima.shape}; "
            "use stack_sites() to flatten a gridded array."
        )
    lm = []
    for j in range(maxima.shape[1]):
        try:
            lm.append(sample_lmoments(maxima[:, j]))
        except InputError as err:
            raise InputError(f"site (column) {j}: {err}") from None
    if any(m.l1 <= 0 for m in lm):
        bad = [j for j, m in enumerate(lm) if m.l1 <= 0]
        raise InputError(f"sites {bad} have mean <= 0: L-CV needs positive data (precipitation).")
    return np.array([m.ratios for m in lm]), np.array([m.n for m in lm])


def discordancy_critical_value(n_sites: int) -> float:
    """Critical value of D_i (H&W 1997, Table 3.1): 3 for N >= 15.

    For N <= 4, D_i <= (N - 1) / 3 always, so that bound is returned and no site can be flagged.
    """
    if n_sites < 5:
        return (n_sites - 1) / 3.0
    return _D_CRITICAL.get(n_sites, 3.0)


def discordancy(lmom_ratios: np.ndarray) -> np.ndarray:
    """Discordancy measure D_i of each site (Hosking & Wallis 1997, eq. 3.3).

    u_i = (t, t3, t4)_i, u_bar = N^-1 sum_i u_i, A = sum_i (u_i - u_bar)(u_i - u_bar)^T,
    D_i = (N / 3) (u_i - u_bar)^T A^-1 (u_i - u_bar).  sum_i D_i = N; flag sites with D_i above
    :func:`discordancy_critical_value`.

    Args:
        lmom_ratios: Array (N, 3) of (t, t3, t4) per site, N >= 4.

    Returns:
        D, shape (N,).

    Raises:
        ShapeError: If the array is not (N, 3) with N >= 4.
        InputError: On non-finite ratios or a singular A (e.g. identical sites).
    """
    u = np.asarray(lmom_ratios, dtype=float)
    if u.ndim != 2 or u.shape[1] != 3 or u.shape[0] < 4:
        raise ShapeError(
            f"lmom_ratios must have shape (N, 3) with N >= 4 sites, got {u.shape}; "
            "pass site_lmoment_ratios(maxima)[0]."
        )
    if not np.all(np.isfinite(u)):
        raise bad_value("lmom_ratios", "array with NaN/inf", "finite (t, t3, t4) per site")
    dev = u - u.mean(axis=0)
    a = dev.T @ dev
    try:
        sol = np.linalg.solve(a, dev.T)  # (3, N)
    except np.linalg.LinAlgError:
        raise InputError(
            "discordancy: the L-moment ratios of the sites are collinear (singular A); "
            "the sites are too similar (or too few) for D_i."
        ) from None
    return u.shape[0] / 3.0 * np.einsum("ij,ji->i", dev, sol)


def _sorted_rows_lmoments(xs: np.ndarray) -> np.ndarray:
    """(l1, l2, t, t3, t4) of each row of xs (..., n), rows already sorted, no NaN.

    Same unbiased b_r as :func:`eoforge.extremes.margins.pwm.sample_pwms`, batched over rows.
    """
    n = xs.shape[-1]
    j = np.arange(1, n + 1, dtype=float)
    w1 = (j - 1) / (n - 1)
    w2 = w1 * (j - 2) / (n - 2)
    w3 = w2 * (j - 3) / (n - 3)
    b = np.stack([xs.mean(-1), (xs * w1).mean(-1), (xs * w2).mean(-1), (xs * w3).mean(-1)], -1)
    return _lmoments_from_pwms(b)


def _v_statistics(ratios: np.ndarray, n: np.ndarray) -> np.ndarray:
    """V1, V2, V3 of H&W (1997, eqs. 4.4-4.6) for ratios (..., N, 3) and record lengths n (N,).

    V1 = [sum n_i (t_i - t^R)^2 / sum n_i]^(1/2),
    V2 = sum n_i [(t_i - t^R)^2 + (t3_i - t3^R)^2]^(1/2) / sum n_i,
    V3 = sum n_i [(t3_i - t3^R)^2 + (t4_i - t4^R)^2]^(1/2) / sum n_i,
    with t^R = sum n_i t_i / sum n_i (likewise t3^R, t4^R).
    """
    w = n / n.sum()
    dev = ratios - np.einsum("i,...ik->...k", w, ratios)[..., None, :]
    v1 = np.sqrt(np.einsum("i,...i->...", w, dev[..., 0] ** 2))
    v2 = np.einsum("i,...i->...", w, np.hypot(dev[..., 0], dev[..., 1]))
    v3 = np.einsum("i,...i->...", w, np.hypot(dev[..., 1], dev[..., 2]))
    return np.stack([v1, v2, v3], axis=-1)


@dataclass(frozen=True)
class HeterogeneityResult:
    """Result of :func:`heterogeneity`.

    Attributes:
        H1: (V - mu_V) / sigma_V for the L-CV statistic V1 (the H of H&W 1997).
        H2: Same for V2 (L-CV and L-skewness). H3: Same for V3 (L-skewness and L-kurtosis).
        V: Observed V1. mu_V, sigma_V: Mean and standard deviation of V1 over simulated regions.
        regional_ratios: Record-length-weighted regional (t^R, t3^R, t4^R).
        record_lengths: n_i per site.
        kappa: Kappa (or GLO fallback) fitted to (1, t^R, t3^R, t4^R) and simulated from.
        n_sim: Number of simulated regions.
    """

    H1: float
    H2: float
    H3: float
    V: float
    mu_V: float
    sigma_V: float
    regional_ratios: np.ndarray
    record_lengths: np.ndarray
    kappa: KappaParams
    n_sim: int

    @property
    def verdict(self) -> str:
        """H&W's reading of H1: < 1 acceptably homogeneous, 1-2 possibly, >= 2 definitely hetero."""
        if self.H1 < 1:
            return "acceptably homogeneous"
        return "possibly heterogeneous" if self.H1 < 2 else "definitely heterogeneous"


def heterogeneity(
    maxima_of_region: np.ndarray,
    n_sim: int = 500,
    random_state: int | np.random.Generator | None = None,
) -> HeterogeneityResult:
    """Hosking & Wallis (1997, section 4.3.3) heterogeneity measures H1 (and H2, H3).

    A four-parameter kappa is fitted to the regional average L-moments (1, t^R, t3^R, t4^R)
    (GLO when the kappa cannot be fitted, as in Hosking's REGTST). ``n_sim`` homogeneous regions
    with the sites' record lengths are drawn from it (independent sites) and
    H = (V_obs - mu_V) / sigma_V, mu_V and sigma_V (ddof = 1) being the mean and SD of the
    simulated V (see :func:`_v_statistics`).

    Args:
        maxima_of_region: Array (n_years, n_sites) of the region's annual maxima, NaN = missing.
        n_sim: Number of simulated regions (H&W use 500).
        random_state: Seed or numpy Generator.

    Returns:
        A :class:`HeterogeneityResult`.

    Raises:
        InputError: If there are fewer than 2 sites, n_sim < 2, or a site is unusable (see
            :func:`site_lmoment_ratios`).
    """
    ratios, n = site_lmoment_ratios(maxima_of_region)
    if ratios.shape[0] < 2:
        raise bad_value("maxima_of_region", f"{ratios.shape[0]} site(s)", "at least 2 sites")
    if not (isinstance(n_sim, int | np.integer) and n_sim >= 2):
        raise bad_value("n_sim", n_sim, "an integer >= 2", "H&W recommend 500.")
    rng = np.random.default_rng(random_state)
    regional = n @ ratios / n.sum()
    kappa = fit_kappa_lmoments(1.0, regional[0], regional[1], regional[2])

    sim = np.empty((n_sim, n.size, 3))  # simulated (t, t3, t4) per region and site
    for length in np.unique(n):
        sites = np.flatnonzero(n == length)
        block = max(1, _SIM_BLOCK // (sites.size * length))
        for start in range(0, n_sim, block):
            stop = min(n_sim, start + block)
            u = rng.random((stop - start, sites.size, length))
            x = np.sort(kappa_ppf(u, kappa.xi, kappa.alpha, kappa.k, kappa.h), axis=-1)
            sim[start:stop, sites] = _sorted_rows_lmoments(x)[..., 2:]
    v_sim = _v_statistics(sim, n)  # (n_sim, 3)
    v_obs = _v_statistics(ratios, n)
    mu, sd = v_sim.mean(axis=0), v_sim.std(axis=0, ddof=1)
    h = (v_obs - mu) / sd
    return HeterogeneityResult(
        H1=float(h[0]),
        H2=float(h[1]),
        H3=float(h[2]),
        V=float(v_obs[0]),
        mu_V=float(mu[0]),
        sigma_V=float(sd[0]),
        regional_ratios=regional,
        record_lengths=n,
        kappa=kappa,
        n_sim=n_sim,
    )
