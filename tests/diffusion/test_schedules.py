"""Noise schedules: closed forms, respacing invariants, the rebuilt (paper-code) schedule, helpers."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from eoforge.core.errors import InputError, ShapeError
from eoforge.diffusion import NoiseSchedule, space_timesteps


def _f(u: torch.Tensor, s: float = 0.008) -> torch.Tensor:
    return torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2


@pytest.mark.parametrize("num", [10, 1000, 2000])
def test_cosine_matches_closed_form_where_not_clipped(num: int) -> None:
    sched = NoiseSchedule.cosine(num)
    u = torch.arange(1, num + 1, dtype=torch.float64) / num
    closed = _f(u) / _f(torch.zeros(1, dtype=torch.float64))
    betas = sched.betas
    clipped = betas >= 0.999 - 1e-12
    # Only the last beta hits the cap (f(1) = 0 would give beta = 1).
    assert clipped.nonzero().flatten().tolist() == [num - 1]
    torch.testing.assert_close(sched.alphas_cumprod[:-1], closed[:-1], rtol=1e-12, atol=0)
    assert sched.alphas_cumprod[-1].item() == pytest.approx(closed[-2].item() * 0.001, rel=1e-12)


@pytest.mark.parametrize("num", [50, 1000, 4000])
def test_linear_betas_are_scaled_linspace(num: int) -> None:
    sched = NoiseSchedule.linear(num)
    scale = 1000 / num
    expected = torch.linspace(scale * 1e-4, scale * 0.02, num, dtype=torch.float64)
    torch.testing.assert_close(sched.betas, expected, rtol=1e-10, atol=1e-15)
    # The total noise sum(beta) does not depend on T.
    assert sched.betas.sum().item() == pytest.approx(0.5 * 1000 * (1e-4 + 0.02), rel=1e-9)


def test_linear_rejects_schedules_with_beta_at_least_one() -> None:
    with pytest.raises(InputError, match="num_timesteps=20"):
        NoiseSchedule.linear(20)  # beta_end * 1000/20 = 1.0
    NoiseSchedule.linear(21)


@pytest.mark.parametrize(
    "make", [lambda: NoiseSchedule.cosine(300), lambda: NoiseSchedule.linear(300)]
)
def test_derived_quantities(make) -> None:
    sched = make()
    a = sched.alphas_cumprod
    assert a.dtype == torch.float64 and len(sched) == 300
    assert bool(torch.all(a[1:] < a[:-1])) and bool(torch.all((a > 0) & (a < 1)))
    torch.testing.assert_close(torch.cumprod(1 - sched.betas, 0), a, rtol=1e-12, atol=0)
    torch.testing.assert_close(sched.alphas, 1 - sched.betas, rtol=0, atol=1e-15)
    torch.testing.assert_close(sched.sigmas**2, (1 - a) / a, rtol=1e-12, atol=0)
    torch.testing.assert_close(torch.sigmoid(sched.log_snr), a, rtol=1e-12, atol=0)
    # Posterior variance (Ho et al. Eq. 7) lies between 0 and beta; it is 0 at t=0.
    var = sched.posterior_variance
    assert var[0].item() == 0.0
    assert bool(torch.all((var[1:] > 0) & (var[1:] < sched.betas[1:])))
    ap = torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])
    torch.testing.assert_close(var, sched.betas * (1 - ap) / (1 - a), rtol=1e-12, atol=0)
    logv = sched.posterior_log_variance_clipped
    assert logv[0].item() == pytest.approx(math.log(var[1].item()))
    torch.testing.assert_close(logv[1:], torch.log(var[1:]))


def test_constructors_validate() -> None:
    with pytest.raises(ShapeError):
        NoiseSchedule.from_alphas_cumprod(torch.full((2, 3), 0.5))
    with pytest.raises(InputError, match="strictly decreasing"):
        NoiseSchedule.from_alphas_cumprod([0.9, 0.5, 0.6])
    with pytest.raises(InputError, match="open interval"):
        NoiseSchedule.from_alphas_cumprod([1.0, 0.5])
    with pytest.raises(InputError, match="open interval"):
        NoiseSchedule.from_alphas_cumprod([0.5, 0.0])
    with pytest.raises(InputError):
        NoiseSchedule.from_betas([0.1, 1.0])
    with pytest.raises(InputError, match="num_timesteps"):
        NoiseSchedule.cosine(0)
    with pytest.raises(InputError, match="max_beta"):
        NoiseSchedule.cosine(10, max_beta=1.0)
    betas = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64)
    torch.testing.assert_close(NoiseSchedule.from_betas(betas).betas, betas)
    sched = NoiseSchedule.cosine(10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        sched.kind = "linear"  # type: ignore[misc]


@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
@pytest.mark.parametrize("steps", [1, 7, 10, 50, 333, 999, 1000])
def test_respace_keeps_trained_alpha_bar_exactly(spacing: str, steps: int) -> None:
    trained = NoiseSchedule.cosine(1000)
    kept, sub = trained.respace(steps, spacing)
    assert kept.dtype == torch.int64 and kept.shape == (steps,)
    assert bool(torch.all(kept[1:] > kept[:-1])), "kept indices must be unique and ascending"
    assert kept.min().item() >= 0 and kept.max().item() <= 999
    assert len(sub) == steps
    assert torch.equal(sub.alphas_cumprod, trained.alphas_cumprod[kept])  # exact
    a = sub.alphas_cumprod
    ap = torch.cat([torch.ones(1, dtype=torch.float64), a[:-1]])
    torch.testing.assert_close(sub.betas, 1 - a / ap, rtol=0, atol=0)
    assert bool(torch.all((sub.betas > 0) & (sub.betas < 1)))
    if spacing == "trailing" or (spacing == "linspace" and steps > 1):
        assert kept[-1].item() == 999
    if spacing in ("linspace", "leading"):
        assert kept[0].item() == 0
    if steps == 1000:
        assert torch.equal(kept, torch.arange(1000))


def test_space_timesteps_known_values() -> None:
    assert space_timesteps(1000, 10, "leading").tolist() == list(range(0, 1000, 100))
    assert space_timesteps(1000, 10, "trailing").tolist() == list(range(99, 1000, 100))
    assert space_timesteps(1000, 4, "linspace").tolist() == [0, 333, 666, 999]
    # 10 - i * 2.5 = 10, 7.5, 5, 2.5: rounded half to even (8 and 2), minus 1.
    assert space_timesteps(10, 4, "trailing").tolist() == [1, 4, 7, 9]
    assert space_timesteps(1000, 1, "linspace").tolist() == [0]  # like numpy.linspace


def test_respace_rejects_bad_input() -> None:
    trained = NoiseSchedule.linear(100)
    with pytest.raises(InputError, match="steps=101"):
        trained.respace(101)
    with pytest.raises(InputError, match="steps=0"):
        trained.respace(0)
    with pytest.raises(InputError, match="spacing"):
        trained.respace(10, "uniform")


def test_rebuilt_reproduces_paper_code() -> None:
    trained = NoiseSchedule.cosine(1000)
    labels, fresh = trained.rebuilt(10)
    assert labels.tolist() == list(range(0, 1000, 100))
    assert torch.equal(fresh.alphas_cumprod, NoiseSchedule.cosine(10).alphas_cumprod)
    # The model is told a noise level one rebuilt step lower than the one it actually sees:
    # at the first rebuilt index the trained alpha-bar at label 0 is ~1 but the rebuilt one is not.
    assert trained.alphas_cumprod[labels[0]].item() > 0.9999
    assert fresh.alphas_cumprod[0].item() < 0.98
    # With as many steps as trained, rebuilt == identity.
    labels, same = trained.rebuilt(1000)
    assert torch.equal(labels, torch.arange(1000))
    assert torch.equal(same.alphas_cumprod, trained.alphas_cumprod)
    lin = NoiseSchedule.linear(2000, beta_start=1e-4, beta_end=0.02)
    _, lin50 = lin.rebuilt(50)
    torch.testing.assert_close(lin50.betas, NoiseSchedule.linear(50).betas)
    with pytest.raises(InputError, match="num_timesteps=20"):
        lin.rebuilt(20)
    with pytest.raises(InputError, match="custom"):
        NoiseSchedule.from_alphas_cumprod([0.9, 0.5]).rebuilt(1)


def test_forward_process_helpers_round_trip() -> None:
    sched = NoiseSchedule.cosine(100)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    noise = torch.randn(6, 2, 3, 3, generator=gen, dtype=torch.float64)
    t = torch.tensor([0, 5, 50, 98, 99, 20])
    x_t = sched.add_noise(x0, noise, t)
    a = sched.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    torch.testing.assert_close(x_t, a.sqrt() * x0 + (1 - a).sqrt() * noise)
    torch.testing.assert_close(sched.predict_x0(x_t, noise, t), x0)
    torch.testing.assert_close(sched.predict_eps(x_t, x0, t), noise)
    v = sched.velocity(x0, noise, t)
    torch.testing.assert_close(v, a.sqrt() * noise - (1 - a).sqrt() * x0)
    x0_v, eps_v = sched.x0_eps_from_v(x_t, v, t)
    torch.testing.assert_close(x0_v, x0)
    torch.testing.assert_close(eps_v, noise)
    # A scalar t broadcasts over the batch; float32 inputs stay float32.
    x32 = sched.add_noise(x0.float(), noise.float(), 7)
    assert x32.dtype == torch.float32
    torch.testing.assert_close(x32, sched.add_noise(x0, noise, torch.full((6,), 7)).float())


def test_forward_process_helpers_validate() -> None:
    sched = NoiseSchedule.cosine(100)
    x = torch.zeros(4, 1, 2, 2)
    with pytest.raises(ShapeError, match="noise"):
        sched.add_noise(x, torch.zeros(4, 1, 2, 3), 0)
    with pytest.raises(ShapeError, match="batch size"):
        sched.add_noise(x, x, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(InputError, match=r"\[0, 99\]"):
        sched.add_noise(x, x, 100)
