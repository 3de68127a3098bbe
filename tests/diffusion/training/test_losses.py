"""Training losses: targets, Gaussian KL / decoder NLL, hybrid loss, importance sampler."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from eoforge.core.errors import InputError, ShapeError
from eoforge.diffusion import NoiseSchedule
from eoforge.diffusion.training.losses import (
    LossSecondMomentSampler,
    UniformTimestepSampler,
    continuous_gaussian_nll,
    diffusion_loss,
    discretized_gaussian_nll,
    learned_log_variance,
    normal_kl,
    predicted_x0,
    prediction_target,
    vlb_term,
)

torch.set_num_threads(1)
T = 50


@pytest.fixture
def sched():
    return NoiseSchedule.cosine(T)


def _batch(seed=0, b=6, c=2, h=4):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(b, c, h, h, generator=g, dtype=torch.float64)
    eps = torch.randn(b, c, h, h, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 1, 7, 20, 38, T - 1][:b])
    return x0, eps, t


def test_eps_and_v_targets_recover_x0(sched):
    x0, eps, t = _batch()
    x_t = sched.add_noise(x0, eps, t)
    ab = sched.alphas_cumprod[t].reshape(-1, 1, 1, 1)
    assert torch.allclose(prediction_target(sched, x0, eps, t, "epsilon"), eps)
    # x0 = (x_t - sqrt(1-ab) eps) / sqrt(ab)
    x0_from_eps = (x_t - (1 - ab).sqrt() * eps) / ab.sqrt()
    assert torch.allclose(x0_from_eps, x0, atol=1e-8)
    assert torch.allclose(predicted_x0(sched, x_t, eps, t, "epsilon"), x0, atol=1e-8)
    # v = sqrt(ab) eps - sqrt(1-ab) x0, and x0 = sqrt(ab) x_t - sqrt(1-ab) v
    v = prediction_target(sched, x0, eps, t, "v")
    assert torch.allclose(v, ab.sqrt() * eps - (1 - ab).sqrt() * x0, atol=1e-12)
    assert torch.allclose(predicted_x0(sched, x_t, v, t, "v"), x0, atol=1e-10)
    assert torch.allclose((1 - ab).sqrt() * x_t + ab.sqrt() * v, eps, atol=1e-10)


def test_v_target_matches_diffusers(sched):
    from diffusers import DDPMScheduler

    ref = DDPMScheduler(num_train_timesteps=T, trained_betas=sched.betas.numpy())
    x0, eps, t = _batch(1)
    ours = prediction_target(sched, x0.float(), eps.float(), t, "v")
    theirs = ref.get_velocity(x0.float(), eps.float(), t)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_unknown_prediction_rejected(sched):
    x0, eps, t = _batch()
    with pytest.raises(InputError, match="prediction"):
        prediction_target(sched, x0, eps, t, "x0")


def test_normal_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(3)
    m1, m2 = torch.randn(50, generator=g), torch.randn(50, generator=g)
    lv1, lv2 = torch.randn(50, generator=g), torch.randn(50, generator=g)
    ref = kl_divergence(Normal(m1, (0.5 * lv1).exp()), Normal(m2, (0.5 * lv2).exp()))
    assert torch.allclose(normal_kl(m1, lv1, m2, lv2), ref, atol=1e-5)
    assert torch.allclose(normal_kl(m1, lv1, m1, lv1), torch.zeros(50), atol=1e-6)


def test_decoder_nll_closed_forms():
    x = torch.tensor([-1.0, 0.2, 1.0], dtype=torch.float64)
    mean = torch.tensor([-0.9, 0.25, 0.8], dtype=torch.float64)
    logvar = torch.log(torch.tensor([0.01, 0.04, 0.09], dtype=torch.float64))
    normal = Normal(mean, (0.5 * logvar).exp())
    assert torch.allclose(continuous_gaussian_nll(x, mean, logvar), -normal.log_prob(x))
    w = 2 / 255
    expected = torch.stack([
        normal.cdf(x[0] + w / 2)[0],  # first bin open to -inf
        normal.cdf(x[1] + w / 2)[1] - normal.cdf(x[1] - w / 2)[1],
        1 - normal.cdf(x[2] - w / 2)[2],  # last bin open to +inf
    ])  # fmt: skip
    assert torch.allclose(discretized_gaussian_nll(x, mean, logvar), -torch.log(expected))


def test_learned_range_endpoints(sched):
    t = torch.tensor([1, 10, 40])
    shape = (3, 1, 2, 2)
    hi = learned_log_variance(sched, torch.ones(shape, dtype=torch.float64), t)
    lo = learned_log_variance(sched, -torch.ones(shape, dtype=torch.float64), t)
    assert torch.allclose(hi[:, 0, 0, 0], torch.log(sched.betas[t]))
    assert torch.allclose(lo[:, 0, 0, 0], torch.log(sched.posterior_variance[t]))


def test_vlb_term_matches_independent_posterior(sched):
    """KL(q(x_{t-1}|x_t,x0) || p) with the posterior written out from the betas by hand."""
    x0, eps, t = _batch(4)
    x_t = sched.add_noise(x0, eps, t)
    g = torch.Generator().manual_seed(9)
    x0_hat = x0 + 0.3 * torch.randn(x0.shape, generator=g, dtype=torch.float64)
    logvar = learned_log_variance(
        sched, torch.rand(x0.shape, generator=g, dtype=torch.float64) * 2 - 1, t
    )
    got = vlb_term(sched, x0, x_t, t, x0_hat, logvar)

    betas = sched.betas.numpy()
    abar = np.cumprod(1 - betas)
    for i, ti in enumerate(t.tolist()):
        ab, ab_prev = abar[ti], (abar[ti - 1] if ti > 0 else 1.0)
        c0 = math.sqrt(ab_prev) * betas[ti] / (1 - ab)
        ct = math.sqrt(1 - betas[ti]) * (1 - ab_prev) / (1 - ab)
        model = Normal(c0 * x0_hat[i] + ct * x_t[i], (0.5 * logvar[i]).exp())
        if ti == 0:
            ref = -model.log_prob(x0[i]).mean() / math.log(2)
        else:
            post_var = betas[ti] * (1 - ab_prev) / (1 - ab)
            true = Normal(c0 * x0[i] + ct * x_t[i], math.sqrt(post_var))
            ref = kl_divergence(true, model).mean() / math.log(2)
        assert got[i].item() == pytest.approx(ref.item(), rel=1e-6, abs=1e-9), ti


def test_hybrid_loss_vlb_gradient_reaches_only_the_variance(sched):
    x0, eps, t = _batch(5)
    x0, eps = x0.float(), eps.float()
    x_t = sched.add_noise(x0, eps, t)
    out = torch.randn(x0.shape[0], 4, 4, 4, generator=torch.Generator().manual_seed(1))
    out.requires_grad_(True)
    terms = diffusion_loss(out, sched, x0, x_t, eps, t, learned_variance=True, vlb_lambda=1e-3)
    (g_vlb,) = torch.autograd.grad(terms.vlb.sum(), out, retain_graph=True)
    assert torch.count_nonzero(g_vlb[:, :2]) == 0  # mean channels: stop-gradient
    assert torch.count_nonzero(g_vlb[:, 2:]) > 0  # variance channels get the VLB gradient
    (g_mse,) = torch.autograd.grad(terms.mse.sum(), out, retain_graph=True)
    assert torch.count_nonzero(g_mse[:, 2:]) == 0
    # loss = mse + lambda T vlb, per image
    assert torch.allclose(terms.loss, terms.mse + 1e-3 * T * terms.vlb)
    expected_mse = ((eps - out[:, :2]) ** 2).mean(dim=(1, 2, 3))
    assert torch.allclose(terms.mse, expected_mse)


def test_fixed_variance_loss_is_mse_and_shape_checked(sched):
    x0, eps, t = _batch(6)
    x0, eps = x0.float(), eps.float()
    x_t = sched.add_noise(x0, eps, t)
    v = sched.velocity(x0, eps, t)
    terms = diffusion_loss(v, sched, x0, x_t, eps, t, prediction="v")
    assert terms.vlb is None and torch.allclose(terms.loss, torch.zeros(6), atol=1e-10)
    with pytest.raises(ShapeError, match="channels"):
        diffusion_loss(v, sched, x0, x_t, eps, t, learned_variance=True)


def test_importance_sampler_uniform_then_second_moment():
    s = LossSecondMomentSampler(4, history_per_term=3, uniform_prob=0.1)
    assert torch.allclose(s.probabilities(), torch.full((4,), 0.25, dtype=torch.float64))
    table = {0: [1.0, 1.0, 1.0], 1: [2.0, 2.0, 2.0], 2: [0.0, 3.0, 4.0], 3: [5.0, 5.0, 9.0]}
    for ti, ls in table.items():
        s.update(torch.tensor([ti] * 2), torch.tensor(ls[:2]))
        assert not s.warmed_up or ti == 3
        s.update(torch.tensor([ti]), torch.tensor(ls[2:]))
    assert s.warmed_up
    rms = np.array([math.sqrt(np.mean(np.square(v))) for v in table.values()])[1:]
    expected = [0.25, *(0.75 * (0.9 * rms / rms.sum() + 0.1 / 3))]  # t = 0 keeps 1/T
    p = s.probabilities()
    assert np.allclose(p.numpy(), expected) and p.sum().item() == pytest.approx(1.0)
    # a full history drops its oldest loss
    s.update(torch.tensor([3]), torch.tensor([1.0]))
    assert s.history[3].tolist() == [5.0, 9.0, 1.0]


def test_importance_sampler_ignores_the_t0_decoder_term():
    # the continuous decoder's NLL is a density (about -4.5 bits/dim on dB data): large once
    # squared. It used to take ~40 % of the draws; t = 0 must keep its uniform share 1/T.
    s = LossSecondMomentSampler(10, history_per_term=2, uniform_prob=0.0)
    assert not s.warmed_up
    for ti in range(1, 10):
        s.update(torch.tensor([ti, ti]), torch.tensor([0.01, 0.02]))
    assert s.warmed_up  # t = 0 needs no history
    s.update(torch.tensor([0, 0]), torch.tensor([-4.5, -4.6]))
    p = s.probabilities()
    assert p[0].item() == pytest.approx(0.1)
    assert torch.allclose(p[1:], torch.full((9,), 0.1, dtype=torch.float64))
    assert LossSecondMomentSampler(1).probabilities().tolist() == [1.0]


def test_importance_weights_unbias_the_loss():
    s = LossSecondMomentSampler(5, history_per_term=2, uniform_prob=0.0)
    planted = torch.tensor([0.1, 0.5, 2.0, 4.0, 8.0], dtype=torch.float64)
    for ti in range(5):
        s.update(torch.tensor([ti, ti]), planted[[ti, ti]] * torch.tensor([0.5, 1.5]))
    p = s.probabilities()
    assert not torch.allclose(p, torch.full((5,), 0.2, dtype=torch.float64))
    # exact: sum_t p_t w_t L_t = mean_t L_t with w_t = 1 / (T p_t)
    assert (p * (1 / (5 * p)) * planted).sum().item() == pytest.approx(planted.mean().item())
    t, w = s.sample(200_000, torch.Generator().manual_seed(0))
    assert torch.allclose(w, 1 / (5 * p[t]))
    mc = (w * planted[t]).mean().item()
    assert mc == pytest.approx(planted.mean().item(), rel=0.01)
    counts = torch.bincount(t, minlength=5).double() / len(t)
    assert torch.allclose(counts, p, atol=0.01)


def test_sampler_state_round_trip_and_uniform():
    s = LossSecondMomentSampler(3, history_per_term=2)
    s.update(torch.tensor([0, 1, 1]), torch.tensor([1.0, 2.0, 3.0]))
    r = LossSecondMomentSampler(3, history_per_term=2)
    r.load_state_dict(s.state_dict())
    assert torch.equal(r.history, s.history) and torch.equal(r.counts, s.counts)
    with pytest.raises(ShapeError):
        LossSecondMomentSampler(3, history_per_term=4).load_state_dict(s.state_dict())
    u = UniformTimestepSampler(10)
    t, w = u.sample(1000, torch.Generator().manual_seed(0))
    assert t.min() >= 0 and t.max() <= 9 and torch.all(w == 1.0)
