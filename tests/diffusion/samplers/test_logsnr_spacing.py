"""The log-SNR-uniform respacing: its indices, and the planted high/low-variance Gaussians that
the time-uniform ("trailing") grid gets wrong at 20 NFE (std of the exact flow known: sqrt(v))."""

import numpy as np
import pytest
import torch

from eoforge.core.errors import InputError
from eoforge.diffusion import NoiseSchedule
from eoforge.diffusion.evaluation.compare import compare_samplers
from eoforge.diffusion.evaluation.gaussian_oracle import StationaryGaussianDenoiser
from eoforge.diffusion.samplers import sample
from eoforge.diffusion.schedules import logsnr_timesteps


@pytest.mark.parametrize("steps", [2, 10, 20, 50, 1000])
def test_indices_are_distinct_increasing_and_span_the_schedule(steps):
    sched = NoiseSchedule.cosine(1000)
    kept = logsnr_timesteps(sched.alphas_cumprod, steps)
    assert kept.dtype == torch.int64 and len(kept) == steps
    assert int(kept[0]) == 0 and int(kept[-1]) == 999
    assert bool((kept[1:] > kept[:-1]).all())
    if steps == 1000:
        assert torch.equal(kept, torch.arange(1000))


def test_middle_indices_are_the_nearest_to_a_uniform_logsnr_grid():
    ab = NoiseSchedule.linear(1000).alphas_cumprod.double().numpy()
    lam = np.log(ab / (1 - ab))
    grid = np.linspace(lam[-1], lam[0], 10)[::-1]  # independent: brute force per target
    nearest = [int(np.argmin(np.abs(lam - g))) for g in grid]
    kept = logsnr_timesteps(torch.from_numpy(ab), 10).tolist()
    assert kept[1:-1] == nearest[1:-1]


@pytest.mark.parametrize("variance", [500.0, 0.01])
def test_logsnr_grid_keeps_the_spread_of_extreme_variance_modes(variance):
    sched = NoiseSchedule.cosine(1000)
    oracle = StationaryGaussianDenoiser(sched, np.full((16, 16), variance))
    ratio = {}
    for spacing in ("trailing", "logsnr"):
        gen = torch.Generator().manual_seed(0)
        x = sample(oracle, sched, (64, 1, 16, 16), "dpm++", 20, gen, spacing=spacing)
        ratio[spacing] = float(x.double().std()) / variance**0.5
    assert abs(ratio["logsnr"] - 1) < 0.06  # exact flow: 1 (16,384 values: +-1 % noise)
    assert ratio["trailing"] < 0.8  # measured 0.50 (v = 500) and 0.73 (v = 0.01)


def test_compare_accepts_logsnr_configs_and_refuses_logsnr_heun():
    sched = NoiseSchedule.cosine(100)
    oracle = StationaryGaussianDenoiser(sched, np.full((8, 8), 1.0))
    ref = np.random.default_rng(0).standard_normal((8, 8, 8))
    rows = compare_samplers(
        oracle, sched, ref, configs=[("ddpm", 100), ("logsnr-dpm++", 10)], n=4,
        shape=(1, 8, 8), kind="insar", feature_space=False,
    )  # fmt: skip
    assert rows[1]["sampler"] == "logsnr-dpm++" and rows[1]["nfe"] == 10
    with pytest.raises(InputError, match="logsnr-"):
        compare_samplers(oracle, sched, ref, configs=[("logsnr-heun", 10)], n=4, shape=(1, 8, 8))
