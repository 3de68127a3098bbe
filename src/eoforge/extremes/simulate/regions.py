"""Simulated annual maxima with planted regions (RFA-homogeneous margins, max-stable dependence).

Region r holds sites s with

    X_s,t = lambda_s * GEV(mu_r, sigma_r, xi_r)-variable built from a unit-Frechet Z_s,t:
    X_s,t = lambda_s * (mu_r + sigma_r (Z_s,t^xi_r - 1) / xi_r)      (log Z_s,t when xi_r = 0),

lambda_s ~ U(scale_range), sigma_r = 1, mu_r = loc_scale_ratio, so every region is homogeneous in
the RFA (index-flood) sense: X_s / lambda_s has one law per region. The dependence of Z:

* ``"logistic"``: Z_s = (S / E_s)^alpha with S positive alpha-stable (Kanter 1975:
  S = sin(alpha U) / sin(U)^(1/alpha) * (sin((1 - alpha) U) / W)^((1 - alpha) / alpha),
  U ~ U(0, pi), W ~ Exp(1); note the power 1/alpha is on sin(U), not on sin(alpha U)) and
  E_s ~ Exp(1): unit-Frechet margins, symmetric logistic copula, extremal coefficient
  theta = 2^alpha for every pair of the group.
* ``"brown-resnick"``: Z(x) = max_k zeta_k Y_k(x), zeta_k = 1/Gamma_k the points of a Poisson
  process with intensity zeta^-2 dzeta, and Y_k(x) = exp(W(x) - W(x_T) - gamma(x - x_T) / 2)
  normalised to mean 1 over the sites, T a uniform site and W Gaussian with variogram
  gamma(h) = Var(W(x + h) - W(x)) = (h / field_range)^smoothness (Dieker & Mikosch 2015). As
  Y <= n_sites, the loop stops exactly once n_sites * zeta_k < min_x Z(x); it is truncated at
  ``n_spectral`` points otherwise (a lower bound on Z; rare for n_sites <= ~300).
  theta(h) = 2 Phi(sqrt(gamma(h)) / 2).
* ``"schlather"``: Schlather (2002): Y_k(x) = sqrt(2 pi) max(0, eps_k(x)), eps a standard
  Gaussian field with correlation rho(h) = exp(-(h / field_range)^smoothness); stopped when
  zeta_k * 4 sqrt(2 pi) < min_x Z(x) (treats eps <= 4 as a bound, P(eps > 4) = 3e-5) or after
  ``n_spectral`` points. theta(h) = 1 + sqrt((1 - rho(h)) / 2).
* ``"independent"``: Z_s = 1 / E_s.

Gaussian fields use a Cholesky factor of the covariance on the site coordinates (n_sites up to a
few hundred). Regions are simulated independently of each other (``independent_regions=True``),
or as one group / one field over all sites (``False``: the margins-only scenario).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import numpy as np
from scipy.spatial.distance import cdist

from eoforge.core.errors import InputError, bad_value

DEPENDENCES = ("logistic", "brown-resnick", "schlather", "independent")
LAYOUTS = ("strips", "quadrants")
SCENARIOS = ("margins", "dependence", "both")

PerRegion = float | Sequence[float] | np.ndarray
"""A setting given once for all regions or once per region."""


@dataclass(frozen=True)
class SimulatedRegions:
    """Simulated maxima and the planted truth.

    Attributes:
        maxima: (n_years, n_sites) annual maxima (>= 0).
        coords: (n_sites, 2) site coordinates in [0, domain]^2.
        labels: (n_sites,) true region of each site, 0..n_regions-1.
        loc: (n_sites,) GEV location lambda_s * mu_r.
        scale: (n_sites,) GEV scale lambda_s * sigma_r.
        shape: (n_sites,) GEV shape xi_r (xi > 0: heavy tail; scipy's c = -xi).
        site_scale: (n_sites,) lambda_s.
        alpha: (n_regions,) logistic alpha per region (NaN unless dependence="logistic").
        groups: (n_sites,) dependence group (sites of different groups are independent).
        dependence: The dependence model.
        params: The remaining settings, for the record.
    """

    maxima: np.ndarray
    coords: np.ndarray
    labels: np.ndarray
    loc: np.ndarray
    scale: np.ndarray
    shape: np.ndarray
    site_scale: np.ndarray
    alpha: np.ndarray
    groups: np.ndarray
    dependence: str
    params: dict = field(default_factory=dict)


def positive_stable(alpha: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """Kanter's positive alpha-stable variable S, E[exp(-t S)] = exp(-t^alpha), 0 < alpha <= 1."""
    u = rng.uniform(0.0, np.pi, size)
    w = rng.exponential(1.0, size)
    return (
        np.sin(alpha * u)
        / np.sin(u) ** (1.0 / alpha)
        * (np.sin((1.0 - alpha) * u) / w) ** ((1.0 - alpha) / alpha)
    )


def logistic_frechet(
    n_years: int, n_sites: int, alpha: float, rng: np.random.Generator
) -> np.ndarray:
    """(n_years, n_sites) unit-Frechet maxima with symmetric logistic dependence, theta = 2^alpha.

    P(Z_1 <= z_1, ..., Z_d <= z_d) = exp(-(sum_s z_s^(-1/alpha))^alpha); Z_s = (S / E_s)^alpha.
    """
    _check_alpha(alpha)
    s = positive_stable(alpha, n_years, rng)
    e = rng.exponential(1.0, (n_years, n_sites))
    return (s[:, None] / e) ** alpha


def gev_from_frechet(
    z: np.ndarray,
    loc: np.ndarray | float,
    scale: np.ndarray | float,
    shape: np.ndarray | float,
) -> np.ndarray:
    """GEV(loc, scale, shape) variables from unit-Frechet ones: loc + scale (z^xi - 1) / xi."""
    shape = np.broadcast_to(shape, np.shape(z))
    small = np.abs(shape) < 1e-12
    safe = np.where(small, 1.0, shape)
    g = np.where(small, np.log(z), np.expm1(safe * np.log(z)) / safe)
    return loc + scale * g


def _check_alpha(alpha: float) -> None:
    if not (0.0 < alpha <= 1.0):
        raise bad_value("alpha", alpha, "a float in (0, 1] (1 = independence, -> 0 = complete)")


def _cholesky(cov: np.ndarray) -> np.ndarray:
    jitter = 1e-10 * max(float(np.mean(np.diag(cov))), 1e-12)
    for _ in range(8):
        try:
            return np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0]))
        except np.linalg.LinAlgError:
            jitter *= 100.0
    raise InputError("field covariance is not positive definite; use smoothness < 2.")


def _spectral_max(
    spectral: Callable[[int], np.ndarray],
    bound: float,
    m: int,
    n_years: int,
    n_spectral: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Z(x) = max_k Y_k(x) / Gamma_k per year; stop when bound / Gamma_k < min Z or n_spectral."""
    z = np.zeros((n_years, m))
    batch = 64
    for t in range(n_years):
        gam, used, zt = 0.0, 0, np.zeros(m)
        while used < n_spectral:
            b = min(batch, n_spectral - used)
            g = gam + np.cumsum(rng.exponential(1.0, b))
            zt = np.maximum(zt, (spectral(b) / g[None, :]).max(axis=1))
            gam, used = g[-1], used + b
            if bound / gam < zt.min():
                break
        z[t] = zt
    return z


def brown_resnick_frechet(
    coords: np.ndarray,
    n_years: int,
    field_range: float,
    smoothness: float,
    rng: np.random.Generator,
    n_spectral: int = 2000,
) -> np.ndarray:
    """(n_years, n_sites) Brown-Resnick maxima, unit Frechet, gamma(h) = (h/range)^smoothness."""
    m = coords.shape[0]
    vario = (cdist(coords, coords) / field_range) ** smoothness  # gamma(x_i - x_j)
    if m == 1:
        return 1.0 / rng.exponential(1.0, (n_years, 1))
    # W(x) - W(x_0): covariance (gamma(x - x0) + gamma(y - x0) - gamma(x - y)) / 2, W(x_0) = 0
    cov = 0.5 * (vario[1:, :1] + vario[:1, 1:] - vario[1:, 1:])
    chol = _cholesky(cov)

    def spectral(b: int) -> np.ndarray:
        w = np.vstack([np.zeros((1, b)), chol @ rng.standard_normal((m - 1, b))])  # (m, b)
        k = rng.integers(0, m, b)
        y = np.exp(w - w[k, np.arange(b)][None, :] - 0.5 * vario[:, k])
        return y / y.mean(axis=0, keepdims=True)

    return _spectral_max(spectral, float(m), m, n_years, n_spectral, rng)


def schlather_frechet(
    coords: np.ndarray,
    n_years: int,
    field_range: float,
    smoothness: float,
    rng: np.random.Generator,
    n_spectral: int = 2000,
) -> np.ndarray:
    """(n_years, n_sites) Schlather maxima, rho(h) = exp(-(h/range)^smoothness), unit Frechet."""
    m = coords.shape[0]
    chol = _cholesky(np.exp(-((cdist(coords, coords) / field_range) ** smoothness)))
    c = np.sqrt(2.0 * np.pi)

    def spectral(b: int) -> np.ndarray:
        return c * np.maximum(chol @ rng.standard_normal((m, b)), 0.0)

    return _spectral_max(spectral, 4.0 * c, m, n_years, n_spectral, rng)


def _per_region(value: PerRegion, k: int, name: str) -> np.ndarray:
    arr = np.atleast_1d(np.asarray(value, dtype=float))
    if arr.size == 1:
        arr = np.repeat(arr, k)
    if arr.size != k or not np.all(np.isfinite(arr)):
        raise bad_value(name, value, f"a finite float or a sequence of n_regions={k} floats")
    return arr


def _layout(
    n_sites: int, k: int, layout: str, domain: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and labels: equal-as-possible region sizes, uniform within each region."""
    if layout not in LAYOUTS:
        raise bad_value("layout", layout, f"one of {LAYOUTS}")
    if layout == "quadrants" and k != 4:
        raise bad_value("n_regions", k, "4 with layout='quadrants'", "Or use layout='strips'.")
    if n_sites < 2 * k:
        raise bad_value("n_sites", n_sites, f"at least 2 sites per region (>= {2 * k})")
    labels = rng.permutation(np.arange(n_sites) % k)
    u = rng.uniform(0.0, 1.0, (n_sites, 2))
    if layout == "strips":
        lo = np.stack([labels * domain / k, np.zeros(n_sites)], axis=1)
        width = np.array([domain / k, domain])
    else:
        lo = np.stack([(labels % 2) * domain / 2, (labels // 2) * domain / 2], axis=1)
        width = np.array([domain / 2, domain / 2])
    return lo + u * width, labels


def _check_settings(
    n_regions: int,
    n_years: int,
    dependence: str,
    scale_range: tuple[float, float],
    field_range: float,
    smoothness: float,
) -> tuple[float, float]:
    """Check the settings of :func:`simulate_regions`; returns the (low, high) site scales."""
    if int(n_regions) < 1:
        raise bad_value("n_regions", n_regions, "a positive integer")
    if int(n_years) < 1:
        raise bad_value("n_years", n_years, "a positive integer")
    if dependence not in DEPENDENCES:
        raise bad_value("dependence", dependence, f"one of {DEPENDENCES}")
    lo_s, hi_s = (float(v) for v in scale_range)
    if not (0 < lo_s <= hi_s):
        raise bad_value("scale_range", scale_range, "(low, high) with 0 < low <= high")
    if dependence in ("brown-resnick", "schlather") and not (
        field_range > 0 and 0 < smoothness < 2
    ):
        raise bad_value(
            "field_range/smoothness", (field_range, smoothness), "range > 0, 0 < smoothness < 2"
        )
    return lo_s, hi_s


def _checked_alphas(
    alpha: PerRegion, k: int, dependence: str, independent_regions: bool
) -> np.ndarray:
    """Logistic alpha per region, each in (0, 1]; one value for all when regions share a group."""
    alphas = _per_region(alpha, k, "alpha")
    if dependence == "logistic":
        for a in alphas:
            _check_alpha(float(a))
        if not independent_regions and np.ptp(alphas) > 0:
            raise bad_value("alpha", alpha, "one float when independent_regions=False")
    return alphas


def _group_frechet(
    dependence: str,
    coords: np.ndarray,
    n_years: int,
    alpha: float,
    field_range: float,
    smoothness: float,
    n_spectral: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_years, m) unit-Frechet maxima of one dependence group of m sites at ``coords``."""
    if dependence == "logistic":
        return logistic_frechet(n_years, coords.shape[0], alpha, rng)
    if dependence == "brown-resnick":
        return brown_resnick_frechet(coords, n_years, field_range, smoothness, rng, n_spectral)
    if dependence == "schlather":
        return schlather_frechet(coords, n_years, field_range, smoothness, rng, n_spectral)
    return 1.0 / rng.exponential(1.0, (n_years, coords.shape[0]))


def simulate_regions(
    n_sites: int = 200,
    n_years: int = 50,
    n_regions: int = 2,
    *,
    layout: str = "strips",
    shapes: PerRegion = 0.1,
    loc_scale_ratio: PerRegion = 3.0,
    scale_range: tuple[float, float] = (1.0, 5.0),
    dependence: str = "logistic",
    alpha: PerRegion = 0.5,
    field_range: float = 2.0,
    smoothness: float = 1.0,
    independent_regions: bool = True,
    n_spectral: int = 2000,
    domain: float = 10.0,
    random_state: int | np.random.Generator | None = None,
) -> SimulatedRegions:
    """Simulate annual maxima of ``n_sites`` sites in ``n_regions`` planted regions.

    See the module docstring for the model. Values below 0 (probability exp(-e^(mu/sigma)),
    about 2e-9 for a Gumbel with the default mu/sigma = 3) are set to 0.

    Args:
        n_sites: Number of sites (at least 2 per region).
        n_years: Number of years.
        n_regions: Number of regions K.
        layout: ``"strips"`` (K vertical strips) or ``"quadrants"`` (K = 4).
        shapes: GEV shape xi_r, one float or one per region.
        loc_scale_ratio: mu_r / sigma_r (sigma_r = 1), one float or one per region.
        scale_range: (low, high) of the per-site scale lambda_s ~ U(low, high).
        dependence: One of ``DEPENDENCES``.
        alpha: Logistic alpha in (0, 1] (theta = 2^alpha); one per region allowed when
            ``independent_regions``.
        field_range: Range of the Brown-Resnick variogram / Schlather correlation.
        smoothness: Its exponent, in (0, 2).
        independent_regions: Regions are independent of each other (else one field/group).
        n_spectral: Most Poisson points per year for the spectral fields.
        domain: Side of the square [0, domain]^2 holding the sites.
        random_state: Seed or ``numpy.random.Generator``.

    Returns:
        :class:`SimulatedRegions`.
    """
    rng = np.random.default_rng(random_state)
    k = int(n_regions)
    lo_s, hi_s = _check_settings(
        n_regions, n_years, dependence, scale_range, field_range, smoothness
    )
    xi = _per_region(shapes, k, "shapes")
    ratio = _per_region(loc_scale_ratio, k, "loc_scale_ratio")
    alphas = _checked_alphas(alpha, k, dependence, independent_regions)
    coords, labels = _layout(int(n_sites), k, layout, float(domain), rng)
    groups = labels.copy() if independent_regions else np.zeros_like(labels)
    z = np.empty((int(n_years), coords.shape[0]))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        z[:, idx] = _group_frechet(
            dependence, coords[idx], int(n_years), float(alphas[g]),
            field_range, smoothness, n_spectral, rng,
        )  # fmt: skip
    lam = rng.uniform(lo_s, hi_s, size=(coords.shape[0],))
    shape = xi[labels]
    maxima = lam * gev_from_frechet(z, ratio[labels], 1.0, shape)
    return SimulatedRegions(
        maxima=np.maximum(maxima, 0.0),
        coords=coords,
        labels=labels,
        loc=lam * ratio[labels],
        scale=lam.copy(),
        shape=shape,
        site_scale=lam,
        alpha=alphas if dependence == "logistic" else np.full(k, np.nan),
        groups=groups,
        dependence=dependence,
        params={
            "layout": layout,
            "field_range": field_range,
            "smoothness": smoothness,
            "independent_regions": independent_regions,
            "n_spectral": n_spectral,
            "domain": domain,
        },
    )


class RegionSettings(TypedDict, total=False):
    """Settings of :func:`simulate_regions` that :func:`simulate_scenario` passes on."""

    layout: str
    loc_scale_ratio: PerRegion
    scale_range: tuple[float, float]
    dependence: str
    alpha: PerRegion
    field_range: float
    smoothness: float
    n_spectral: int
    domain: float


def simulate_scenario(
    kind: str = "both",
    n_sites: int = 200,
    n_years: int = 50,
    n_regions: int = 2,
    *,
    shapes: Sequence[float] | None = None,
    random_state: int | np.random.Generator | None = None,
    **kwargs: Unpack[RegionSettings],
) -> SimulatedRegions:
    """Planted-truth scenarios for comparing margins-only, dependence-only and joint methods.

    * ``"margins"``: regions differ only in GEV shape (default xi = linspace(0, 0.3, K)); one
      dependence group/field over all sites, so every pair has the same dependence strength.
      The PWM ratio should find the regions, the F-madogram should not.
    * ``"dependence"``: one shape for all (default 0.1); regions are independent fields or
      independent logistic groups (dependent within, independent across). The F-madogram
      should find them, the PWM ratio should not.
    * ``"both"``: shapes differ and regions are independent.

    Args:
        kind: One of ``SCENARIOS``.
        n_sites: Number of sites.
        n_years: Number of years.
        n_regions: Number of regions.
        shapes: Override the per-region shapes.
        random_state: Seed or Generator.
        **kwargs: Passed to :func:`simulate_regions` (layout, dependence, alpha, ...).

    Returns:
        :class:`SimulatedRegions`.
    """
    if kind not in SCENARIOS:
        raise bad_value("kind", kind, f"one of {SCENARIOS}")
    if "independent_regions" in kwargs:
        value = dict(kwargs)["independent_regions"]
        raise bad_value("independent_regions", value, "unset: kind sets it")
    xi: Sequence[float] | np.ndarray
    if shapes is not None:
        xi = shapes
    elif kind == "dependence":
        xi = [0.1] * n_regions
    else:
        xi = np.linspace(0.0, 0.3, n_regions)
    return simulate_regions(
        n_sites,
        n_years,
        n_regions,
        shapes=xi,
        independent_regions=kind != "margins",
        random_state=random_state,
        **kwargs,
    )
