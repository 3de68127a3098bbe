"""Our samplers against diffusers' schedulers where the algorithms coincide.

Same trained (cosine) schedule passed to diffusers as ``trained_betas``, same initial noise, the
exact Gaussian noise prediction of ``test_samplers`` as the model: DDIM (eta = 0) and
DPM-Solver++(2M) with "trailing" spacing must give the same samples as diffusers' DDIMScheduler
(``set_alpha_to_one=True``: the last step lands on x0_hat) and DPMSolverMultistepScheduler
(``final_sigmas_type="zero"``). diffusers keeps its alpha-bar and sigmas in float32, so the
tolerance is 1e-3 (measured: 4e-4 at 5 steps); a different algorithm on the same steps (DDIM vs
DPM++) differs by about 0.1.
"""

from __future__ import annotations

import pytest
import torch

from eoforge.diffusion import NoiseSchedule, sample
from tests.diffusion.samplers.test_samplers import GaussianEps

diffusers = pytest.importorskip("diffusers")

T = 1000
SHAPE = (3, 1, 4, 4)


def _diffusers_loop(scheduler, model, x: torch.Tensor, steps: int) -> torch.Tensor:
    scheduler.set_timesteps(steps)
    for t in scheduler.timesteps:
        eps = model(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
        x = scheduler.step(eps, t, x).prev_sample
    return x


@pytest.mark.parametrize("steps", [5, 20])
@pytest.mark.parametrize("sampler", ["ddim", "dpm++"])
def test_matches_diffusers_with_the_trained_schedule(sampler: str, steps: int) -> None:
    schedule = NoiseSchedule.cosine(T)
    betas = schedule.betas.to(torch.float64).numpy()
    model = GaussianEps(schedule)
    noise = torch.randn(SHAPE, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    ours = sample(model, schedule, SHAPE, sampler=sampler, steps=steps, noise=noise.clone(),
                  spacing="trailing", dtype=torch.float64)  # fmt: skip
    if sampler == "ddim":
        sched = diffusers.DDIMScheduler(
            num_train_timesteps=T, trained_betas=betas, timestep_spacing="trailing",
            set_alpha_to_one=True, clip_sample=False, prediction_type="epsilon",
        )  # fmt: skip
    else:
        sched = diffusers.DPMSolverMultistepScheduler(
            num_train_timesteps=T, trained_betas=betas, timestep_spacing="trailing",
            algorithm_type="dpmsolver++", solver_order=2, final_sigmas_type="zero",
            lower_order_final=True, prediction_type="epsilon",
        )  # fmt: skip
    theirs = _diffusers_loop(sched, model, noise.clone(), steps)
    assert torch.allclose(ours.to(torch.float64), theirs.to(torch.float64), atol=1e-3), (
        (ours - theirs).abs().max()
    )
