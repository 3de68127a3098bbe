"""Heun's second-order solver in sigma space with Karras sigmas.

Karras et al. 2022 (EDM), Algorithm 1 without churn.

In the variance-exploding view ``x = x_vp / sqrt(abar)`` with ``sigma = sqrt((1 - abar) / abar)``,
the probability-flow ODE is ``dx/dsigma = (x - D(x; sigma)) / sigma``, where the denoiser is
``D(x; sigma) = x0_hat(x / sqrt(1 + sigma^2), t(sigma))``. The grid (EDM Eq. 5, ``rho = 7``) is

    sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho,
    sigma_N = 0,

between the trained schedule's smallest sigma and ``min(sigma_max, trained largest sigma)``
(``sigma_max = 80`` by default, EDM's value: a cosine schedule's largest sigma is ~2e4 and a
grid that starts there wastes its first steps where the ODE is nearly linear). Each sigma is then rounded to the
trained sigma nearest in log-sigma (EDM's ``round_sigma`` for discrete-time models), so that the
model is evaluated exactly at a trained timestep and noise level; when N is large near
``sigma_min`` two grid points may round to the same trained step (a zero-length step). One step:

    d_i = (x_i - D(x_i; sigma_i)) / sigma_i,   x' = x_i + (sigma_{i+1} - sigma_i) d_i,
    x_{i+1} = x_i + (sigma_{i+1} - sigma_i) (d_i + (x' - D(x'; sigma_{i+1})) / sigma_{i+1}) / 2,

with the plain Euler step on the last interval (to sigma = 0). NFE = 2N - 1.

The start is ``x = z sqrt(1 + sigma_0^2)``, i.e. the same VP noise ``z`` as the other samplers
(diffusers' ``init_noise_sigma`` for VP models; EDM uses ``z sigma_0``, equal for large sigma_0).
"""

from __future__ import annotations

import math

import torch

from eoforge.diffusion.samplers._common import Denoiser, ProgressFn, report
from eoforge.diffusion.schedules import NoiseSchedule


def karras_timesteps(
    schedule: NoiseSchedule, steps: int, rho: float = 7.0, sigma_max: float | None = 80.0
) -> torch.Tensor:
    """Trained indices (descending, (steps,)) nearest in log-sigma to the Karras sigmas.

    The grid spans ``[sigma_0, min(sigma_max, sigma_{T-1})]`` of the trained schedule
    (``sigma_max=None``: the whole trained range).
    """
    log_sigmas = torch.log(schedule.sigmas)  # increasing in t
    s_min, s_max = float(schedule.sigmas[0]), float(schedule.sigmas[-1])
    if sigma_max is not None:
        s_max = max(min(s_max, float(sigma_max)), s_min)
    if steps == 1:
        return torch.argmin(torch.abs(log_sigmas - math.log(s_max))).reshape(1)
    ramp = torch.linspace(0.0, 1.0, steps, dtype=torch.float64)
    lo, hi = s_min ** (1.0 / rho), s_max ** (1.0 / rho)
    grid = (hi + ramp * (lo - hi)) ** rho
    return torch.argmin(torch.abs(torch.log(grid)[:, None] - log_sigmas[None, :]), dim=1)


def heun_loop(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    z: torch.Tensor,
    *,
    steps: int,
    sigma_max: float | None = 80.0,
    progress: ProgressFn | None = None,
) -> torch.Tensor:
    """Run Heun/EDM from VP noise ``z`` to clean data on the trained ``schedule``.

    Args:
        denoiser: The wrapped model.
        schedule: The trained schedule (the model is called at its indices).
        z: Initial standard-normal noise (VP scale).
        steps: Number N of sigma levels (NFE = 2N - 1).
        sigma_max: Upper end of the Karras grid, clipped to the trained range (None: trained).
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The samples, same shape and dtype as ``z``.
    """
    idx = karras_timesteps(schedule, steps, sigma_max=sigma_max).tolist()
    abar = schedule.alphas_cumprod.tolist()
    sig = [math.sqrt((1.0 - abar[i]) / abar[i]) for i in idx] + [0.0]

    def denoise(x: torch.Tensor, i: int) -> torch.Tensor:
        a = abar[idx[i]]
        return denoiser(x * math.sqrt(a), idx[i], a).x0

    x = z * math.sqrt(1.0 + sig[0] ** 2)
    for i in range(steps):
        d = (x - denoise(x, i)) / sig[i]
        x_next = x + (sig[i + 1] - sig[i]) * d
        if sig[i + 1] > 0:
            d2 = (x_next - denoise(x_next, i + 1)) / sig[i + 1]
            x_next = x + (sig[i + 1] - sig[i]) * 0.5 * (d + d2)
        x = x_next
        report(progress, i + 1, steps)
    return x
