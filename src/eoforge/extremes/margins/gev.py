"""Maximum-likelihood fit of the generalised extreme-value (GEV) distribution.

Convention (the one of Coles 2001, R ``evd`` and ``ismev``): shape ``xi > 0`` is the heavy,
Frechet-type tail, ``xi = 0`` the Gumbel and ``xi < 0`` the bounded Weibull-type tail:

    F(x; mu, sigma, xi) = exp{-[1 + xi (x - mu) / sigma]^(-1/xi)},  1 + xi (x - mu)/sigma > 0,

with the Gumbel limit F(x) = exp{-exp[-(x - mu)/sigma]} at xi = 0.

``scipy.stats.genextreme`` and Hosking's L-moment papers use the opposite sign, ``c = k = -xi``:
``genextreme(c=-xi, loc=mu, scale=sigma)`` is our GEV(mu, sigma, xi).

The fit starts from Hosking, Wallis & Wood's (1985) PWM estimates and maximises the likelihood
with a trust-region Newton method (analytic gradient, Hessian by central differences of it);
standard errors come from the inverse observed information at the optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from eoforge.core.errors import InputError, bad_value
from eoforge.extremes.margins.pwm import sample_pwms

MIN_SAMPLE_SIZE = 10
_SERIES_CUTOFF = 1e-2  # |xi z| below which log1p-type ratios use their Taylor series
_EULER_GAMMA = 0.5772156649015329


def expm1_ratio(a: np.ndarray, c: np.ndarray | float) -> np.ndarray:
    """Return expm1(c a) / c, continued by its limit ``a`` at c = 0 (used by GEV and kappa)."""
    a = np.asarray(a, dtype=float)
    c = np.asarray(c, dtype=float)
    safe_c = np.where(c == 0.0, 1.0, c)
    return np.where(c == 0.0, a, np.expm1(c * a) / safe_c)


def _log1p_ratio(xi: float, z: np.ndarray) -> np.ndarray:
    """log1p(xi z) / xi, stable as xi -> 0 (Taylor series z (1 - y/2 + y^2/3 - ...), y = xi z)."""
    y = xi * z
    small = np.abs(y) < _SERIES_CUTOFF
    series = z * (1 - y * (1 / 2 - y * (1 / 3 - y * (1 / 4 - y * (1 / 5 - y * (1 / 6 - y / 7))))))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = np.log1p(y) / (xi if xi != 0.0 else 1.0)
    return np.where(small, series, direct)


def _shape_term(xi: float, z: np.ndarray) -> np.ndarray:
    """h(xi, z) = z / (xi t) - log(t) / xi^2 with t = 1 + xi z, stable as xi -> 0.

    With y = xi z, h = xi^-2 [y / (1 + y) - log1p(y)] = z^2 sum_{k>=2} (-1)^(k+1) (k-1)/k y^(k-2).
    """
    y = xi * z
    small = np.abs(y) < _SERIES_CUTOFF
    coef = [(-1) ** (k + 1) * (k - 1) / k for k in range(2, 10)]
    poly = np.zeros_like(y)
    for c in reversed(coef):
        poly = poly * y + c
    series = z * z * poly
    xi_safe = xi if xi != 0.0 else 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = (y / (1.0 + y) - np.log1p(y)) / xi_safe**2
    return np.where(small, series, direct)


def gev_cdf(x: np.ndarray, loc: float, scale: float, xi: float) -> np.ndarray:
    """GEV cdf F(x) = exp{-[1 + xi (x - loc)/scale]^(-1/xi)} (xi > 0: heavy tail).

    Outside the support the cdf is 0 (below the lower end point, xi > 0) or 1 (above the upper
    end point, xi < 0).
    """
    z = (np.asarray(x, dtype=float) - loc) / scale
    t = 1.0 + xi * z
    inside = t > 0
    with np.errstate(invalid="ignore", over="ignore"):
        cdf = np.exp(-np.exp(-_log1p_ratio(xi, np.where(inside, z, 0.0))))
    return np.where(inside, cdf, 0.0 if xi > 0 else 1.0)


def gev_ppf(p: np.ndarray, loc: float, scale: float, xi: float) -> np.ndarray:
    """GEV quantile x_p = loc + scale [(-log p)^(-xi) - 1] / xi (loc - scale log(-log p) at xi=0)."""
    p = np.asarray(p, dtype=float)
    y = np.log(-np.log(p))
    return loc + scale * expm1_ratio(-y, xi)


def gev_logpdf(x: np.ndarray, loc: float, scale: float, xi: float) -> np.ndarray:
    """GEV log density -log scale - (1 + 1/xi) log t - t^(-1/xi), t = 1 + xi (x - loc)/scale."""
    z = (np.asarray(x, dtype=float) - loc) / scale
    inside = 1.0 + xi * z > 0
    zz = np.where(inside, z, 0.0)
    q = _log1p_ratio(xi, zz)  # log(t) / xi
    out = -np.log(scale) - (xi * q + q) - np.exp(-q)
    return np.where(inside, out, -np.inf)


def _nll(theta: np.ndarray, x: np.ndarray) -> float:
    """Negative log-likelihood at theta = (mu, sigma, xi); +inf outside the parameter space."""
    mu, sigma, xi = theta
    if not sigma > 0:
        return np.inf
    z = (x - mu) / sigma
    if np.any(1.0 + xi * z <= 0):
        return np.inf
    q = _log1p_ratio(xi, z)
    return float(x.size * np.log(sigma) + np.sum(xi * q + q + np.exp(-q)))


def _nll_grad(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Analytic gradient of the negative log-likelihood in (mu, sigma, xi).

    With t = 1 + xi z, e = t^(-1/xi), w = (1 + xi - e) / t:
    d/dmu = -sum w / sigma, d/dsigma = n / sigma - sum z w / sigma,
    d/dxi = sum [z / t + (1 - e) h(xi, z)], h = z / (xi t) - log t / xi^2.
    """
    mu, sigma, xi = theta
    z = (x - mu) / sigma
    t = 1.0 + xi * z
    e = np.exp(-_log1p_ratio(xi, z))
    w = (1.0 + xi - e) / t
    g_mu = -np.sum(w) / sigma
    g_sigma = x.size / sigma - np.sum(z * w) / sigma
    g_xi = np.sum(z / t + (1.0 - e) * _shape_term(xi, z))
    return np.array([g_mu, g_sigma, g_xi])


def _nll_hessian(theta: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Observed information: central differences of the analytic gradient, symmetrised."""
    theta = np.asarray(theta, dtype=float)
    steps = 1e-5 * np.array([theta[1], theta[1], 1.0])
    hess = np.empty((3, 3))
    for i in range(3):
        d = np.zeros(3)
        d[i] = steps[i]
        hess[:, i] = (_nll_grad(theta + d, x) - _nll_grad(theta - d, x)) / (2 * steps[i])
    return 0.5 * (hess + hess.T)


def gev_pwm_start(x: np.ndarray) -> tuple[float, float, float]:
    """PWM / L-moment GEV estimates of Hosking, Wallis & Wood (1985), in the xi convention.

    With t3 = l3 / l2, c = 2 / (3 + t3) - log 2 / log 3 and Hosking's k = 7.8590 c + 2.9554 c^2
    (xi = -k, clipped to [-0.5, 0.5] so the start stays in the regular region):
    sigma = l2 k / [(1 - 2^-k) Gamma(1 + k)], mu = l1 - sigma [1 - Gamma(1 + k)] / k
    (sigma = l2 / log 2, mu = l1 - gamma_E sigma at k = 0).
    """
    b0, b1, b2 = sample_pwms(x, 3)
    l1, l2, l3 = b0, 2 * b1 - b0, 6 * b2 - 6 * b1 + b0
    c = 2.0 / (3.0 + l3 / l2) - np.log(2.0) / np.log(3.0)
    k = float(np.clip(7.8590 * c + 2.9554 * c * c, -0.5, 0.5))
    if abs(k) < 1e-8:
        sigma = l2 / np.log(2.0)
        return float(l1 - _EULER_GAMMA * sigma), float(sigma), 0.0
    g = special.gamma(1.0 + k)
    sigma = l2 * k / ((1.0 - 2.0**-k) * g)
    return float(l1 - sigma * (1.0 - g) / k), float(sigma), -k


@dataclass(frozen=True)
class GEVFit:
    """Result of :func:`fit_gev` (shape ``xi > 0`` = heavy tail; scipy's ``c`` is ``-xi``).

    Attributes:
        loc: Location mu.
        scale: Scale sigma.
        xi: Shape xi.
        cov: 3x3 covariance of (loc, scale, xi), inverse observed information.
        se: Standard errors of (loc, scale, xi), square roots of ``diag(cov)``.
        loglik: Maximised log-likelihood.
        n: Number of finite values used.
        converged: Whether the optimiser met its gradient tolerance.
    """

    loc: float
    scale: float
    xi: float
    cov: np.ndarray
    se: np.ndarray
    loglik: float
    n: int
    converged: bool

    @property
    def params(self) -> tuple[float, float, float]:
        """(loc, scale, xi)."""
        return (self.loc, self.scale, self.xi)

    def cdf(self, x: np.ndarray) -> np.ndarray:
        """Fitted cdf."""
        return gev_cdf(x, self.loc, self.scale, self.xi)

    def ppf(self, p: np.ndarray) -> np.ndarray:
        """Fitted quantile function."""
        return gev_ppf(p, self.loc, self.scale, self.xi)


def _validated_sample(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    if np.any(np.isinf(x)):
        raise bad_value("x", "array with +-inf", "finite values (NaN is allowed and dropped)")
    x = x[~np.isnan(x)]
    if x.size < MIN_SAMPLE_SIZE:
        raise InputError(
            f"fit_gev needs at least {MIN_SAMPLE_SIZE} finite values, got {x.size}; "
            "use a longer record (or pool sites regionally)."
        )
    if np.ptp(x) == 0:
        raise InputError(
            f"fit_gev got a constant series (all values {x[0]!r}); the GEV scale is not "
            "identifiable: drop or mask this site."
        )
    return x


def _start(x: np.ndarray) -> tuple[float, float, float]:
    """PWM start (mu0, sigma0, xi0), xi0 shrunk towards 0 until every point is in the support."""
    mu0, sigma0, xi0 = gev_pwm_start(x)
    if not sigma0 > 0:  # cannot happen for a non-constant sample, kept as a guard
        sigma0, xi0 = float(np.std(x)), 0.0
    y = (x - mu0) / sigma0
    while not np.isfinite(_nll(np.array([0.0, 1.0, xi0]), y)):
        xi0 *= 0.5
        if abs(xi0) < 1e-6:
            xi0 = 0.0
    return mu0, sigma0, xi0


def _to_theta(p: np.ndarray) -> np.ndarray:
    """(mu, log sigma, xi) -> (mu, sigma, xi)."""
    return np.array([p[0], np.exp(p[1]), p[2]])


def _minimise(y: np.ndarray, xi0: float, gtol: float, maxiter: int) -> optimize.OptimizeResult:
    """Minimise -l over p = (mu, log sigma, xi) on standardised data ``y`` (``trust-exact``)."""

    def fun(p: np.ndarray) -> float:
        return _nll(_to_theta(p), y)

    def jac(p: np.ndarray) -> np.ndarray:
        theta = _to_theta(p)
        with np.errstate(all="ignore"):
            g = _nll_grad(theta, y)
        g[1] *= theta[1]  # chain rule for log sigma
        # outside the support (a step the trust region will reject): any finite value will do
        return g if np.all(np.isfinite(g)) else np.zeros(3)

    def hess(p: np.ndarray) -> np.ndarray:
        h = np.empty((3, 3))
        for i in range(3):
            d = np.zeros(3)
            d[i] = 1e-5
            h[:, i] = (jac(p + d) - jac(p - d)) / 2e-5
        if not np.isfinite(fun(p)) or not np.all(np.isfinite(h)):
            return 1e6 * np.eye(3)  # rejected point, or at the support edge: force a short step
        return 0.5 * (h + h.T)

    return optimize.minimize(
        fun,
        np.array([0.0, 0.0, xi0]),
        jac=jac,
        hess=hess,
        method="trust-exact",
        options={"gtol": gtol, "maxiter": maxiter},
    )


def fit_gev(x: np.ndarray, *, gtol: float = 1e-8, maxiter: int = 500) -> GEVFit:
    """Maximum-likelihood GEV fit of a sample of block maxima (NaNs dropped).

    Maximises l(mu, sigma, xi) = -n log sigma - (1 + 1/xi) sum log t_i - sum t_i^(-1/xi),
    t_i = 1 + xi (x_i - mu) / sigma > 0 (Coles 2001, eq. 3.7; eq. 3.9 in the Gumbel limit, which is
    handled by Taylor series so that xi = 0 is an ordinary interior point). The data are
    standardised by the PWM start before optimising over (mu, log sigma, xi) with scipy's
    ``trust-exact``; steps leaving the support are rejected. Standard errors are the square roots of
    the diagonal of the inverse observed information (Hessian of -l at the optimum).

    As usual for the GEV, the MLE is regular for xi > -0.5. For xi < -1 the likelihood is
    unbounded (the density diverges at the upper end point), so no MLE exists there: small
    samples that push the fit to xi ~ -1 (or to absurdly heavy tails, xi >> 1) end with
    ``converged=False`` and NaN standard errors; treat such sites with regional methods.

    Args:
        x: 1-D sample (e.g. annual maxima of one site). NaNs are dropped.
        gtol: Gradient-norm tolerance of the optimiser (on standardised data).
        maxiter: Maximum number of optimiser iterations.

    Returns:
        A :class:`GEVFit` (xi > 0 heavy tail; scipy ``genextreme`` shape is ``c = -xi``).

    Raises:
        InputError: On +-inf values, fewer than 10 finite values, or a constant series.
    """
    x = _validated_sample(x)
    mu0, sigma0, xi0 = _start(x)
    # standardise: y = (x - mu0) / sigma0, so the start is (0, 1, xi0) in y units
    y = (x - mu0) / sigma0
    res = _minimise(y, xi0, gtol, maxiter)
    mu_y, sigma_y, xi = _to_theta(res.x)
    theta = np.array([mu0 + sigma0 * mu_y, sigma0 * sigma_y, xi])
    nll = float(res.fun) + x.size * np.log(sigma0)  # -l(theta; x) = -l(theta_y; y) + n log s
    with np.errstate(all="ignore"):
        cov = _inverse_information(_nll_hessian(theta, x))
        g_end = _nll_grad(_to_theta(res.x), y) * np.array([1.0, sigma_y, 1.0])
    # a proper interior maximum: small gradient and a positive-definite observed information
    small_gradient = bool(res.success or np.linalg.norm(g_end) < 1e-6 * y.size)
    converged = small_gradient and bool(np.all(np.isfinite(cov)))
    return GEVFit(
        loc=float(theta[0]),
        scale=float(theta[1]),
        xi=float(theta[2]),
        cov=cov,
        se=np.sqrt(np.diag(cov)),
        loglik=float(-nll),
        n=int(x.size),
        converged=converged,
    )


def _inverse_information(hess: np.ndarray) -> np.ndarray:
    """Invert the observed information; all-NaN if it is not positive definite."""
    if not np.all(np.isfinite(hess)):
        return np.full((3, 3), np.nan)
    try:
        np.linalg.cholesky(hess)
    except np.linalg.LinAlgError:
        return np.full((3, 3), np.nan)
    return np.linalg.inv(hess)


def return_level(fit: GEVFit, period: np.ndarray | float) -> np.ndarray | float:
    """T-block return level z_T = F^-1(1 - 1/T), exceeded on average once every T blocks.

    z_T = mu + sigma [(-log(1 - 1/T))^(-xi) - 1] / xi   (mu - sigma log(-log(1 - 1/T)) at xi = 0).

    Args:
        fit: A :class:`GEVFit`.
        period: Return period(s) T in blocks (years for annual maxima), each > 1.

    Returns:
        Return level(s), a float for a scalar ``period``.

    Raises:
        InputError: If a period is not > 1.
    """
    t = np.asarray(period, dtype=float)
    if not np.all(t > 1):
        raise bad_value("period", period, "return periods > 1 (in blocks, e.g. years)")
    z = gev_ppf(1.0 - 1.0 / t, fit.loc, fit.scale, fit.xi)
    return float(z) if np.ndim(z) == 0 else z


def return_level_se(fit: GEVFit, period: np.ndarray | float) -> np.ndarray | float:
    """Delta-method standard error of :func:`return_level`: sqrt(grad z_T^T cov grad z_T).

    The gradient of z_T in (mu, sigma, xi) is taken by central differences in xi and exactly in
    mu (1) and sigma ((z_T - mu) / sigma).
    """
    t = np.asarray(period, dtype=float)
    z = np.asarray(return_level(fit, t), dtype=float)
    p = 1.0 - 1.0 / t
    d = 1e-6
    dz_dxi = gev_ppf(p, fit.loc, fit.scale, fit.xi + d) - gev_ppf(p, fit.loc, fit.scale, fit.xi - d)
    grad = np.stack([np.ones_like(z), (z - fit.loc) / fit.scale, dz_dxi / (2 * d)], axis=-1)
    se = np.sqrt(np.einsum("...i,ij,...j->...", grad, fit.cov, grad))
    return float(se) if np.ndim(se) == 0 else se
