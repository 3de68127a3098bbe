"""DDIM sampling (Song, Meng & Ermon 2021, Eq. 12 and 16).

From step k to the next kept step (``abar_{k-1}``, with ``abar_{-1} = 1`` after the last one):

    x_{k-1} = sqrt(abar_{k-1}) x0_hat + sqrt(1 - abar_{k-1} - s_k^2) eps_hat + s_k z,
    s_k = eta sqrt((1 - abar_{k-1}) / (1 - abar_k)) sqrt(1 - abar_k / abar_{k-1}).

``eta = 0`` is the deterministic DDIM (a first-order solver of the probability-flow ODE),
``eta = 1`` has the variance of ancestral sampling with ``beta~``. The last step returns
``x0_hat``, like improved-diffusion and diffusers' ``set_alpha_to_one=True``.
"""

from __future__ import annotations

import math

import torch

from eoforge.diffusion.samplers._common import Denoiser, ProgressFn, randn, report
from eoforge.diffusion.schedules import NoiseSchedule


def ddim_loop(
    denoiser: Denoiser,
    labels: torch.Tensor,
    sched: NoiseSchedule,
    x: torch.Tensor,
    *,
    eta: float,
    generator: torch.Generator,
    progress: ProgressFn | None,
) -> torch.Tensor:
    """Run DDIM from ``x`` (noise at ``sched``'s last step) down to x_0.

    Args:
        denoiser: The wrapped model.
        labels: Trained indices told to the model, (K,), ascending.
        sched: Schedule of length K used in the update.
        x: Initial noise.
        eta: Stochasticity, >= 0.
        generator: Source of the per-step noise (used only when ``eta > 0``).
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The samples, same shape and dtype as ``x``.
    """
    abar = sched.alphas_cumprod.tolist()
    abar_prev = sched.alphas_cumprod_prev.tolist()
    n = len(sched)
    for done, k in enumerate(range(n - 1, -1, -1), start=1):
        pred = denoiser(x, int(labels[k]), abar[k])
        a, ap = abar[k], abar_prev[k]
        s = eta * math.sqrt((1.0 - ap) / (1.0 - a) * (1.0 - a / ap))
        x = math.sqrt(ap) * pred.x0 + math.sqrt(max(1.0 - ap - s * s, 0.0)) * pred.eps
        if s > 0:
            x = x + s * randn(tuple(x.shape), generator, x.device, x.dtype)
        report(progress, done, n)
    return x
