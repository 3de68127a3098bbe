"""DPM-Solver++(2M): multistep second-order solver of the probability-flow ODE.

Data-prediction form (Lu et al. 2022, arXiv 2211.01095, Algorithm 2).

With ``alpha = sqrt(abar)``, ``sigma = sqrt(1 - abar)``, ``lambda = log(alpha / sigma)`` and
``h_i = lambda_{t_i} - lambda_{t_{i-1}}``, one step from ``t_{i-1}`` to ``t_i`` is

    x_{t_i} = (sigma_{t_i} / sigma_{t_{i-1}}) x_{t_{i-1}} - alpha_{t_i} (exp(-h_i) - 1) D_i,
    D_i = (1 + 1/(2 r_i)) x0_hat_{i-1} - 1/(2 r_i) x0_hat_{i-2},  r_i = h_{i-1} / h_i,

and ``D_1 = x0_hat_0`` (first order, i.e. DDIM) at the first step, which has no history.

The last step goes to clean data (``abar = 1``, ``sigma = 0``, ``lambda = +inf``): there
``exp(-h) = 0`` and the step returns ``x0_hat`` of the last evaluation, which is the first-order
update; the second-order correction's weight ``h / (2 h_{i-1})`` is infinite there, so the last
step is always first order. diffusers does the same (``final_sigmas_type="zero"`` forces
``lower_order_final``), so its ``lower_order_final`` flag (first order at the last step when
fewer than 15 steps) has no further effect for 2M and is not exposed here. NFE = steps.
"""

from __future__ import annotations

import math

import torch

from eoforge.diffusion.samplers._common import Denoiser, ProgressFn, report
from eoforge.diffusion.schedules import NoiseSchedule


def dpmpp_2m_loop(
    denoiser: Denoiser,
    labels: torch.Tensor,
    sched: NoiseSchedule,
    x: torch.Tensor,
    *,
    progress: ProgressFn | None,
) -> torch.Tensor:
    """Run DPM-Solver++(2M) from ``x`` (noise at ``sched``'s last step) to clean data.

    Args:
        denoiser: The wrapped model.
        labels: Trained indices told to the model, (K,), ascending.
        sched: Schedule of length K giving the noise levels of the K evaluations.
        x: Initial noise.
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The samples, same shape and dtype as ``x``.
    """
    abar = sched.alphas_cumprod.tolist()
    n = len(sched)
    prev_x0: torch.Tensor | None = None
    h_prev = 0.0
    for done, k in enumerate(range(n - 1, -1, -1), start=1):
        x0 = denoiser(x, int(labels[k]), abar[k]).x0
        if k == 0:  # to sigma = 0: exp(-h) = 0, first order
            x = x0
        else:
            a_s, a_t = abar[k], abar[k - 1]
            sigma_s, sigma_t = math.sqrt(1.0 - a_s), math.sqrt(1.0 - a_t)
            alpha_s, alpha_t = math.sqrt(a_s), math.sqrt(a_t)
            h = math.log(alpha_t / sigma_t) - math.log(alpha_s / sigma_s)
            if prev_x0 is None:
                d = x0
            else:
                r = h_prev / h
                d = (1.0 + 0.5 / r) * x0 - (0.5 / r) * prev_x0
            x = (sigma_t / sigma_s) * x - alpha_t * math.expm1(-h) * d
            prev_x0, h_prev = x0, h
        report(progress, done, n)
    return x
