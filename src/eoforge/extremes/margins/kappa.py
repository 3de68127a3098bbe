"""Four-parameter kappa distribution (Hosking 1994) and its L-moment fit.

Hosking's parameterisation (location xi, scale alpha, shapes k and h; **k has the sign of
Hosking's GEV shape, k = -xi_GEV** in the xi > 0 heavy-tail convention of :mod:`.gev`):

    x(F) = xi + (alpha / k) [1 - ((1 - F^h) / h)^k],
    F(x) = {1 - h [1 - k (x - xi) / alpha]^(1/k)}^(1/h).

Special cases: h = 1 generalised Pareto, h = 0 GEV, h = -1 generalised logistic (GLO); the limits
k -> 0 and h -> 0 are taken continuously.

L-moments (Hosking 1994; Hosking & Wallis 1997, App. A.10), valid for k > -1 and, if h < 0,
k < -1/h:

    g_r = r Gamma(1 + k) Gamma(r/h) / [h^(1+k) Gamma(1 + k + r/h)]          (h > 0)
    g_r = r Gamma(1 + k) Gamma(-k - r/h) / [(-h)^(1+k) Gamma(1 - r/h)]      (h < 0)
    g_r = Gamma(1 + k) r^(-k)                                                 (h = 0)
    lambda_1 = xi + alpha (1 - g_1) / k,   lambda_2 = alpha (g_1 - g_2) / k,
    tau_3 = (-g_1 + 3 g_2 - 2 g_3) / (g_1 - g_2),
    tau_4 = (g_1 - 6 g_2 + 10 g_3 - 5 g_4) / (g_1 - g_2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from eoforge.core.errors import InputError
from eoforge.extremes.margins.gev import expm1_ratio

_K_EPS = 1e-7  # |k| below this is evaluated at +-_K_EPS (the k -> 0 limit is continuous)
_H_GRID = (-0.5, 0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 25.0)  # brackets searched for h
_H_MIN = -1.0  # Hosking's fit covers h >= -1 (the GLO line); above it GLO is used


def _valid(k: float, h: float) -> bool:
    return k > -1.0 and (h >= 0 or k * h > -1.0)


def _g(k: float, h: float, nmom: int = 4) -> np.ndarray:
    """g_1..g_nmom of the kappa L-moments (see module docstring)."""
    r = np.arange(1, nmom + 1, dtype=float)
    if h == 0.0:
        return special.gamma(1.0 + k) * r**-k
    a = r / h if h > 0 else -k - r / h
    # Gamma(a) / Gamma(a + 1 + k) = 1 / poch(a, 1 + k): stable for the large a of small |h|
    return r * special.gamma(1.0 + k) / (abs(h) ** (1.0 + k) * special.poch(a, 1.0 + k))


def kappa_lmoments(k: float, h: float, xi: float = 0.0, alpha: float = 1.0) -> np.ndarray:
    """L-moments (lambda_1, lambda_2, tau_3, tau_4) of the kappa distribution.

    Args:
        k: Shape k (Hosking's sign: k > 0 bounded upper tail, k = -xi_GEV).
        h: Shape h (1 GPD, 0 GEV, -1 GLO).
        xi: Location.
        alpha: Scale (> 0).

    Returns:
        Array [lambda_1, lambda_2, tau_3, tau_4].

    Raises:
        InputError: If the L-moments do not exist (k <= -1, or h < 0 and k >= -1/h).
    """
    if not _valid(k, h):
        raise InputError(
            f"kappa L-moments need k > -1 and, for h < 0, k < -1/h; got k={k!r}, h={h!r}."
        )
    if abs(k) < _K_EPS:
        k = _K_EPS if k >= 0 else -_K_EPS
    g = _g(k, h)
    d = g[0] - g[1]
    return np.array(
        [
            xi + alpha * (1.0 - g[0]) / k,
            alpha * d / k,
            (-g[0] + 3 * g[1] - 2 * g[2]) / d,
            (g[0] - 6 * g[1] + 10 * g[2] - 5 * g[3]) / d,
        ]
    )


def kappa_ppf(p: np.ndarray, xi: float, alpha: float, k: float, h: float) -> np.ndarray:
    """Kappa quantile x(F) = xi + (alpha/k) [1 - ((1 - F^h)/h)^k], continuous in k, h -> 0.

    Written as x = xi - alpha expm1(k log y) / k with y = -expm1(h log F) / h (y = -log F at h = 0).
    """
    p = np.asarray(p, dtype=float)
    y = -expm1_ratio(np.log(p), h)
    return xi - alpha * expm1_ratio(np.log(y), k)


@dataclass(frozen=True)
class KappaParams:
    """Kappa parameters from :func:`fit_kappa_lmoments`.

    Attributes:
        xi: Location. alpha: Scale. k, h: Shapes (Hosking's signs).
        is_glo: True when the kappa fit was infeasible and the GLO (h = -1) was fitted instead.
    """

    xi: float
    alpha: float
    k: float
    h: float
    is_glo: bool

    def ppf(self, p: np.ndarray) -> np.ndarray:
        """Quantile function."""
        return kappa_ppf(p, self.xi, self.alpha, self.k, self.h)


def _k_upper(h: float) -> float:
    return -1.0 / h if h < 0 else 50.0


def _k_for_t3(t3: float, h: float) -> float | None:
    """Solve tau_3(k, h) = t3 for k at fixed h (tau_3 decreases in k); None if not bracketed."""
    lo = -1.0 + 1e-9
    hi = _k_upper(h) * (1 - 1e-9) if h < 0 else _k_upper(h)

    def f(k: float) -> float:
        return kappa_lmoments(k, h)[2] - t3

    with np.errstate(all="ignore"):
        f_lo, f_hi = f(lo), f(hi)
    if not (np.isfinite(f_lo) and np.isfinite(f_hi)) or f_lo * f_hi > 0:
        return None
    return optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13)


def _scale_location(l1: float, l2: float, k: float, h: float, is_glo: bool) -> KappaParams:
    lam = kappa_lmoments(k, h)  # at xi = 0, alpha = 1
    alpha = l2 / lam[1]
    return KappaParams(
        xi=float(l1 - alpha * lam[0]), alpha=float(alpha), k=float(k), h=float(h), is_glo=is_glo
    )


def fit_kappa_lmoments(l1: float, l2: float, t3: float, t4: float) -> KappaParams:
    """Fit the kappa distribution by matching (lambda_1, lambda_2, tau_3, tau_4).

    For each h, tau_3(k, h) = t3 is solved for k(h); then tau_4(k(h), h) = t4 is solved for h in
    [-1, 25] (tau_4 decreases in h along the curve, from the GLO line at h = -1). As in Hosking's
    PELKAP / REGTST, when no kappa with h >= -1 matches (t4 on or above the GLO line
    (1 + 5 t3^2) / 6, or below the kappa region) the GLO is fitted instead: h = -1, k = -t3.

    Args:
        l1: Mean (> 0 not required).
        l2: L-scale (> 0).
        t3: L-skewness (|t3| < 1).
        t4: L-kurtosis.

    Returns:
        A :class:`KappaParams` (``is_glo`` tells whether the GLO fallback was used).

    Raises:
        InputError: If l2 <= 0 or |t3| >= 1.
    """
    if not l2 > 0 or not abs(t3) < 1:
        raise InputError(
            f"kappa fit needs l2 > 0 and |t3| < 1, got l2={l2!r}, t3={t3!r}; check the L-moments."
        )
    h_fit = _solve_h(t3, t4)
    if h_fit is None:
        return _scale_location(l1, l2, -t3, -1.0, is_glo=True)
    k_fit = _k_for_t3(t3, h_fit)
    if k_fit is None:  # _solve_h only returns an h whose k is bracketed
        raise InputError(f"kappa fit found no k for t3={t3!r} at h={h_fit!r}; check the L-moments.")
    return _scale_location(l1, l2, float(k_fit), float(h_fit), is_glo=False)


def _solve_h(t3: float, t4: float) -> float | None:
    """The shape h with tau_4(k(h), h) = t4 on the curve tau_3 = t3 (None: no h in [-1, 25]).

    tau_4 decreases in h along the curve, so the root is bracketed on a coarse grid of h (the
    curve ends where k(h) leaves (-1, 50]) and polished with Brent's method.
    """

    def resid(h: float) -> float:
        k = _k_for_t3(t3, h)
        return np.nan if k is None else kappa_lmoments(k, h)[3] - t4

    lo = _H_MIN
    r_lo = resid(lo)
    if not r_lo > 0:  # on or above the GLO line, or no GLO with this t3
        return None
    for hi in _H_GRID:
        r_hi = resid(hi)
        if not np.isfinite(r_hi):  # below the part of the kappa region that is covered
            return None
        if r_hi <= 0:
            return optimize.brentq(resid, lo, hi, xtol=1e-12, rtol=1e-12)
        lo = hi
    return None
