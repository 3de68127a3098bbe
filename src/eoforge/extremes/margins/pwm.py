"""Probability-weighted moments and the PWM ratio omega (Le Gall et al. 2022).

The unbiased sample PWMs of Landwehr et al. / Hosking (1990) are

    b_r = n^-1 sum_{j=1..n} [(j-1)(j-2)...(j-r)] / [(n-1)(n-2)...(n-r)] x_(j),

with x_(1) <= ... <= x_(n) the order statistics. b_r estimates beta_r = E[X F(X)^r].

The PWM ratio omega = (3 b_2 - b_0) / (2 b_1 - b_0) does not depend on location or scale, only on
the shape; for a GEV with shape xi (xi > 0 heavy tail) omega = (3^xi - 1) / (2^xi - 1).
"""

from __future__ import annotations

import numpy as np

from eoforge.core.errors import InputError


def sample_pwms(x: np.ndarray, nmom: int = 3) -> np.ndarray:
    """Unbiased sample probability-weighted moments b_0..b_{nmom-1} of one series.

    Args:
        x: 1-D sample; NaNs are dropped.
        nmom: Number of PWMs to return.

    Returns:
        Array of shape (nmom,).

    Raises:
        InputError: If fewer than ``nmom`` finite values remain.
    """
    x = np.asarray(x, dtype=float).ravel()
    x = np.sort(x[np.isfinite(x)])
    n = x.size
    if n < nmom:
        raise InputError(
            f"sample_pwms needs at least nmom={nmom} finite values, got {n}; "
            "pass a longer series or lower nmom."
        )
    j = np.arange(1, n + 1, dtype=float)
    weights = np.ones(n)
    out = np.empty(nmom)
    out[0] = x.mean()
    for r in range(1, nmom):
        weights = weights * (j - r) / (n - r)
        out[r] = np.mean(weights * x)
    return out


def pwm_ratio(x: np.ndarray) -> float:
    """PWM ratio omega = (3 b2 - b0) / (2 b1 - b0) of one series (NaNs dropped).

    Args:
        x: 1-D sample of annual maxima.

    Returns:
        omega; log 3 / log 2 ~ 1.585 for a Gumbel, larger for heavier tails.

    Raises:
        InputError: If the series is constant (omega undefined) or too short.
    """
    b0, b1, b2 = sample_pwms(x, 3)
    denom = 2.0 * b1 - b0
    if not denom > 0:
        raise InputError(
            "pwm_ratio is undefined for a constant series (2*b1 - b0 = 0); "
            "drop constant sites or mask them before clustering."
        )
    return float((3.0 * b2 - b0) / denom)


def gev_pwm_ratio(xi: float) -> float:
    """Theoretical omega of a GEV with shape ``xi`` (xi > 0: heavy tail); xi -> 0 gives log3/log2."""
    if abs(xi) < 1e-8:
        return float(np.log(3.0) / np.log(2.0))
    return float((3.0**xi - 1.0) / (2.0**xi - 1.0))
