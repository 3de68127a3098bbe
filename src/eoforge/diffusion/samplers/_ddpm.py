"""Ancestral (DDPM) sampling on a respaced schedule (Ho et al. 2020; Nichol & Dhariwal 2021).

With the respaced schedule ``abar_k`` (k = K-1..0, ``abar_{-1} = 1``), ``beta_k = 1 -
abar_k / abar_{k-1}`` and ``alpha_k = 1 - beta_k``, one step draws

    x_{k-1} = mu_k + sqrt(Sigma_k) z,   z ~ N(0, I)  (no noise at k = 0),
    mu_k = beta_k sqrt(abar_{k-1}) / (1 - abar_k) x0_hat + (1 - abar_{k-1}) sqrt(alpha_k) / (1 - abar_k) x_k

(the posterior mean, Ho et al. Eq. 7), with the variance

- ``"fixed_small"``: ``Sigma_k = beta~_k = beta_k (1 - abar_{k-1}) / (1 - abar_k)``;
- ``"fixed_large"``: ``Sigma_k = beta_k``;
- ``"learned_range"``: ``log Sigma_k = f log beta_k + (1 - f) log beta~_k`` with
  ``f = (v + 1) / 2`` and ``v`` the model's raw variance output (Nichol & Dhariwal, Eq. 15; the
  paper's ``v`` is our ``f``): ``v = 1`` gives ``beta_k``, ``v = -1`` gives ``beta~_k``. Both ends
  are those of the *respaced* schedule, as in improved-diffusion's respacing, and ``beta~_0`` is
  replaced by ``beta~_1`` (its log is -inf; never used since no noise is added at k = 0).

At k = 0, ``abar_{-1} = 1`` makes ``mu_0 = x0_hat``: the sample is the last denoised estimate.
"""

from __future__ import annotations

import math

import torch

from eoforge.diffusion.samplers._common import Denoiser, ProgressFn, randn, report
from eoforge.diffusion.schedules import NoiseSchedule


def ddpm_loop(
    denoiser: Denoiser,
    labels: torch.Tensor,
    sched: NoiseSchedule,
    x: torch.Tensor,
    *,
    variance: str,
    generator: torch.Generator,
    progress: ProgressFn | None,
) -> torch.Tensor:
    """Run the ancestral chain from ``x`` (noise at ``sched``'s last step) down to x_0.

    Args:
        denoiser: The wrapped model.
        labels: Trained indices told to the model, (K,), ascending.
        sched: Schedule of length K used in the update (respaced, or rebuilt for benchmarks).
        x: Initial noise x_{K-1}.
        variance: ``"fixed_small"``, ``"fixed_large"`` or ``"learned_range"``.
        generator: Source of the per-step noise.
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The samples, same shape and dtype as ``x``.
    """
    abar = sched.alphas_cumprod.tolist()
    abar_prev = sched.alphas_cumprod_prev.tolist()
    betas = sched.betas.tolist()
    small = sched.posterior_variance.tolist()
    log_small = sched.posterior_log_variance_clipped.tolist()
    n = len(sched)
    for done, k in enumerate(range(n - 1, -1, -1), start=1):
        pred = denoiser(x, int(labels[k]), abar[k])
        c0 = betas[k] * math.sqrt(abar_prev[k]) / (1.0 - abar[k])
        ct = (1.0 - abar_prev[k]) * math.sqrt(1.0 - betas[k]) / (1.0 - abar[k])
        mean = c0 * pred.x0 + ct * x
        if k > 0:
            z = randn(tuple(x.shape), generator, x.device, x.dtype)
            if variance == "learned_range":
                frac = (pred.learned_var_values() + 1.0) / 2.0
                log_var = frac * math.log(betas[k]) + (1.0 - frac) * log_small[k]
                x = mean + torch.exp(0.5 * log_var) * z
            else:
                var = small[k] if variance == "fixed_small" else betas[k]
                x = mean + math.sqrt(var) * z
        else:
            x = mean
        report(progress, done, n)
    return x
