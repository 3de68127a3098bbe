"""Samplers checked against an analytic denoiser (Gaussian data), where everything is closed form.

Data: x_0 ~ N(mu, diag(s^2)) on a 4x4 one-channel "image". Under ``x_t = sqrt(a) x_0 +
sqrt(1-a) eps`` the pair (eps, x_t) is jointly Gaussian with ``Cov(eps, x_t) = sqrt(1-a)`` and
``Var(x_t) = a s^2 + 1 - a``, so the exact (MMSE) noise prediction is

    eps*(x_t, t) = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a),   a = abar_t.

The probability-flow ODE then has a closed-form solution: in ``x = x_vp / sqrt(a)`` and
``sigma^2 = (1 - a) / a`` it reads ``dx/dsigma = (x - mu) sigma / (s^2 + sigma^2)``, so
``x(0) = mu + (x(sigma) - mu) s / sqrt(s^2 + sigma^2)``: every deterministic sampler must converge
to this map, sample by sample. One ancestral step from respaced step k to k-1 has the exact
conditional variance ``V beta_k / (alpha_k V + beta_k)`` with ``V = abar_{k-1} s^2 + 1 -
abar_{k-1}``: a "learned range" model that outputs it makes DDPM exact at any number of steps.
"""

from __future__ import annotations

import math

import pytest
import torch

from eoforge.core.errors import InputError, ShapeError
from eoforge.diffusion import NoiseSchedule, sample
from eoforge.diffusion.samplers import karras_timesteps

MU = torch.linspace(-0.5, 0.5, 16, dtype=torch.float64).reshape(1, 1, 4, 4)
S = torch.linspace(0.3, 1.0, 16, dtype=torch.float64)[
    torch.tensor([3, 14, 0, 9, 7, 12, 1, 5, 15, 10, 2, 8, 6, 13, 4, 11])
].reshape(1, 1, 4, 4)
SHAPE_1 = (1, 4, 4)


class GaussianEps:
    """Exact eps (or v) prediction for Gaussian data under the *trained* schedule."""

    def __init__(self, schedule: NoiseSchedule, prediction: str = "epsilon") -> None:
        self.abar = schedule.alphas_cumprod
        self.prediction = prediction

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = self.abar[t].reshape(-1, 1, 1, 1)
        xd = x.to(torch.float64)
        eps = (1 - a).sqrt() * (xd - a.sqrt() * MU) / (a * S**2 + 1 - a)
        if self.prediction == "v":
            x0 = (xd - (1 - a).sqrt() * eps) / a.sqrt()
            return (a.sqrt() * eps - (1 - a).sqrt() * x0).to(x.dtype)
        return eps.to(x.dtype)


class GaussianLearnedRange(GaussianEps):
    """eps plus the raw learned-range value giving the exact reverse variance of the respacing."""

    def __init__(self, schedule: NoiseSchedule, kept: torch.Tensor) -> None:
        super().__init__(schedule)
        self.sub = NoiseSchedule(schedule.alphas_cumprod[kept])
        self.position = {int(t): k for k, t in enumerate(kept)}

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = super().__call__(x, t)
        k = self.position[int(t[0])]
        raw = torch.zeros_like(S)
        if k > 0:
            a, a_prev = self.sub.alphas_cumprod[k], self.sub.alphas_cumprod[k - 1]
            alpha = a / a_prev
            beta = 1 - alpha
            v_prev = a_prev * S**2 + 1 - a_prev
            exact = v_prev * beta / (alpha * v_prev + beta)
            lo, hi = self.sub.posterior_variance[k], beta
            raw = 2 * (exact.log() - lo.log()) / (hi.log() - lo.log()) - 1
        return torch.cat([eps, raw.expand_as(x).to(x.dtype)], dim=1)


def _noise(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(
        (n, *SHAPE_1), generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )


def _exact_flow(z: torch.Tensor, sigma_start: float) -> torch.Tensor:
    """Exact ODE map from VP noise z at noise level sigma_start to the data."""
    x_ve = z * math.sqrt(1 + sigma_start**2)
    return MU + (x_ve - MU) * S / torch.sqrt(S**2 + sigma_start**2)


def _moment_z(x: torch.Tensor) -> tuple[float, float]:
    """Largest |mean - mu| and |std - s| over the 16 pixels, in Monte-Carlo standard errors."""
    n = x.shape[0]
    z_mean = (x.mean(0) - MU[0]) / (S[0] / math.sqrt(n))
    z_std = (x.std(0) - S[0]) / (S[0] / math.sqrt(2 * n))
    return z_mean.abs().max().item(), z_std.abs().max().item()


def _ode_rms_error(sched: NoiseSchedule, sampler: str, steps: int, z: torch.Tensor) -> float:
    if sampler == "heun":
        sigma_start = float(sched.sigmas[karras_timesteps(sched, steps)[0]])
    else:
        sigma_start = float(sched.sigmas[-1])  # default spacing "trailing" starts at T-1
    out = sample(
        GaussianEps(sched), sched, tuple(z.shape), sampler, steps, noise=z, dtype=torch.float64
    )
    return (out - _exact_flow(z, sigma_start)).pow(2).mean().sqrt().item()


# --------------------------------------------------------------------------- ODE samplers


@pytest.mark.parametrize("kind", ["cosine", "linear"])
@pytest.mark.parametrize(
    ("sampler", "lo", "hi"), [("ddim", 0.35, 0.65), ("dpm++", 0.1, 0.35), ("heun", 0.1, 0.35)]
)
def test_ode_samplers_converge_to_exact_flow_with_their_order(
    kind: str, sampler: str, lo: float, hi: float
) -> None:
    sched = getattr(NoiseSchedule, kind)(1000)
    z = _noise(256)
    e25, e50, e200 = (_ode_rms_error(sched, sampler, k, z) for k in (25, 50, 200))
    # Halving the step halves a first-order error (DDIM) and quarters a second-order one.
    assert lo < e50 / e25 < hi, (e25, e50)
    assert e200 < 0.02


def test_ddim_with_all_trained_steps_is_the_exact_flow() -> None:
    sched = NoiseSchedule.linear(1000)
    z = _noise(256)
    assert _ode_rms_error(sched, "ddim", 1000, z) < 3e-3


# --------------------------------------------------------------------------- moments

N_MOMENTS = 4000


@pytest.mark.parametrize(
    ("sampler", "steps", "kwargs"),
    [
        ("dpm++", 50, {}),
        ("heun", 50, {}),
        ("ddim", 1000, {}),
        ("ddpm", 1000, {"variance": "fixed_small"}),
        ("ddpm", 1000, {"variance": "fixed_large"}),
        ("ddim", 1000, {"eta": 1.0}),
    ],
)
def test_samplers_reproduce_data_moments(sampler: str, steps: int, kwargs: dict) -> None:
    sched = NoiseSchedule.cosine(1000)
    x = sample(
        GaussianEps(sched),
        sched,
        (N_MOMENTS, *SHAPE_1),
        sampler,
        steps,
        torch.Generator().manual_seed(7),
        dtype=torch.float64,
        **kwargs,
    )
    z_mean, z_std = _moment_z(x)
    assert z_mean < 4.5 and z_std < 4.5, (z_mean, z_std)


def _ddpm_exact_variance(sched: NoiseSchedule, steps: int, spacing: str, seed: int) -> torch.Tensor:
    kept, _ = sched.respace(steps, spacing)
    gen = torch.Generator().manual_seed(seed)
    # x_T from the exact marginal at the first kept step (N(0, 1) only when abar there ~ 0).
    a = sched.alphas_cumprod[kept[-1]]
    base = torch.randn((N_MOMENTS, *SHAPE_1), generator=gen, dtype=torch.float64)
    noise = a.sqrt() * MU + (a * S**2 + 1 - a).sqrt() * base
    return sample(
        GaussianLearnedRange(sched, kept),
        sched,
        (N_MOMENTS, *SHAPE_1),
        "ddpm",
        steps,
        gen,
        variance="learned_range",
        spacing=spacing,
        noise=noise,
        dtype=torch.float64,
    )


@pytest.mark.parametrize(("steps", "spacing"), [(10, "linspace"), (50, "leading"), (5, "linspace")])
def test_ddpm_learned_range_with_exact_variance_is_exact_at_few_steps(
    steps: int, spacing: str
) -> None:
    sched = NoiseSchedule.linear(1000)
    x = _ddpm_exact_variance(sched, steps, spacing, seed=3)
    z_mean, z_std = _moment_z(x)
    assert z_mean < 4.5 and z_std < 4.5, (z_mean, z_std)
    # The same chain with the fixed small variance is visibly under-dispersed at few steps.
    if steps <= 10:
        x_small = sample(
            GaussianEps(sched),
            sched,
            x.shape,
            "ddpm",
            steps,
            3,
            spacing=spacing,
            dtype=torch.float64,
        )
        assert _moment_z(x_small)[1] > 15


def test_ddpm_trailing_ends_with_the_posterior_mean() -> None:
    """With "trailing" the last kept step is t_0 = T/K - 1 > 0 and the chain ends with
    E[x_0 | x_{t_0}] (no noise at the last step), whose std is s sqrt(a s^2 / (a s^2 + 1 - a))."""
    sched = NoiseSchedule.linear(1000)
    x = _ddpm_exact_variance(sched, 10, "trailing", seed=4)
    a = sched.alphas_cumprod[99]
    expected_std = S * torch.sqrt(a * S**2 / (a * S**2 + 1 - a))
    z_std = (x.std(0) - expected_std[0]) / (expected_std[0] / math.sqrt(2 * N_MOMENTS))
    assert z_std.abs().max().item() < 4.5
    assert (expected_std / S).min().item() < 0.8  # far from the data std: the test can tell


# --------------------------------------------------------------------------- rebuilt schedule


@pytest.mark.parametrize(("sampler", "steps"), [("ddim", 10), ("dpm++", 20), ("ddpm", 10)])
def test_rebuilt_schedule_gives_wrong_moments_but_respacing_does_not(
    sampler: str, steps: int
) -> None:
    sched = NoiseSchedule.cosine(1000)
    model = GaussianEps(sched)

    def mean_error(spacing: str | None) -> float:
        x = sample(
            model, sched, (1000, *SHAPE_1), sampler, steps, 11, spacing=spacing, dtype=torch.float64
        )
        return (x.mean(0) - MU[0]).abs().max().item()

    right, wrong = mean_error(None), mean_error("rebuilt")
    assert right < 0.1, right
    assert wrong > 0.3 and wrong > 5 * right, (right, wrong)


def test_rebuilt_with_all_steps_equals_respacing() -> None:
    sched = NoiseSchedule.cosine(50)
    a = sample(GaussianEps(sched), sched, (8, *SHAPE_1), "ddpm", 50, 5, spacing="rebuilt")
    b = sample(GaussianEps(sched), sched, (8, *SHAPE_1), "ddpm", 50, 5, spacing="linspace")
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# --------------------------------------------------------------------------- variants


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++", "heun"])
def test_v_prediction_equals_epsilon_prediction(sampler: str) -> None:
    sched = NoiseSchedule.cosine(200)
    kw = {"eta": 0.5} if sampler == "ddim" else {}
    shape = (64, *SHAPE_1)
    eps = sample(GaussianEps(sched), sched, shape, sampler, 12, 4, dtype=torch.float64, **kw)
    v = sample(
        GaussianEps(sched, "v"),
        sched,
        shape,
        sampler,
        12,
        4,
        prediction="v",
        dtype=torch.float64,
        **kw,
    )
    torch.testing.assert_close(v, eps, rtol=0, atol=1e-9)


class _ConstVariance(GaussianEps):
    def __init__(self, schedule: NoiseSchedule, value: float) -> None:
        super().__init__(schedule)
        self.value = value

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = super().__call__(x, t)
        return torch.cat([eps, torch.full_like(eps, self.value)], dim=1)


@pytest.mark.parametrize(("value", "fixed"), [(1.0, "fixed_large"), (-1.0, "fixed_small")])
def test_learned_range_endpoints_are_the_fixed_variances(value: float, fixed: str) -> None:
    """improved-diffusion's convention: raw output +1 gives beta, -1 gives beta-tilde."""
    sched = NoiseSchedule.cosine(100)
    shape = (32, *SHAPE_1)
    learned = sample(
        _ConstVariance(sched, value),
        sched,
        shape,
        "ddpm",
        10,
        9,
        variance="learned_range",
        dtype=torch.float64,
    )
    ref = sample(
        GaussianEps(sched), sched, shape, "ddpm", 10, 9, variance=fixed, dtype=torch.float64
    )
    torch.testing.assert_close(learned, ref, rtol=0, atol=1e-12)


def test_learned_range_midpoint_is_geometric_mean_of_respaced_variances() -> None:
    """Two steps by hand: raw 0 gives variance sqrt(beta'_1 beta~'_1) of the *respaced* schedule."""
    sched = NoiseSchedule.cosine(10)
    kept, sub = sched.respace(2, "trailing")
    assert kept.tolist() == [4, 9]
    gen = torch.Generator().manual_seed(0)
    x_t = torch.randn((5, *SHAPE_1), generator=gen, dtype=torch.float64)
    step_noise = torch.randn((5, *SHAPE_1), generator=gen, dtype=torch.float64)
    out = sample(
        _ConstVariance(sched, 0.0),
        sched,
        x_t.shape,
        "ddpm",
        2,
        torch.Generator().manual_seed(0),
        variance="learned_range",
        spacing="trailing",
        dtype=torch.float64,
    )
    model = GaussianEps(sched)
    a1, a0 = sub.alphas_cumprod[1], sub.alphas_cumprod[0]
    beta1 = 1 - a1 / a0
    x0 = (x_t - (1 - a1).sqrt() * model(x_t, torch.full((5,), 9))) / a1.sqrt()
    mean = beta1 * a0.sqrt() / (1 - a1) * x0 + (1 - a0) * (1 - beta1).sqrt() / (1 - a1) * x_t
    var = torch.sqrt(beta1 * beta1 * (1 - a0) / (1 - a1))
    x1 = mean + var.sqrt() * step_noise
    expected = (x1 - (1 - a0).sqrt() * model(x1, torch.full((5,), 4))) / a0.sqrt()
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_clip_denoised_bounds_the_final_samples() -> None:
    sched = NoiseSchedule.cosine(100)
    for sampler in ("ddpm", "ddim", "dpm++", "heun"):
        x = sample(GaussianEps(sched), sched, (64, *SHAPE_1), sampler, 8, 2, clip_denoised=0.1)
        assert x.abs().max().item() <= 0.1 + 1e-6, sampler


def test_model_kwargs_reach_the_model() -> None:
    sched = NoiseSchedule.cosine(100)
    base = GaussianEps(sched)

    def shifted(x: torch.Tensor, t: torch.Tensor, *, shift: float) -> torch.Tensor:
        a = sched.alphas_cumprod[t].reshape(-1, 1, 1, 1).to(x.dtype)
        return base(x - a.sqrt() * shift, t)  # data mean moves by +shift

    x = sample(shifted, sched, (2000, *SHAPE_1), "dpm++", 30, 1, model_kwargs={"shift": 3.0})
    assert (x.double().mean(0) - MU[0] - 3.0).abs().max().item() < 0.1


# --------------------------------------------------------------------------- contract


class _Counter:
    def __init__(self) -> None:
        self.calls: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls.append(t.clone())
        return 0.1 * x


@pytest.mark.parametrize(
    ("sampler", "steps", "nfe"),
    [
        ("ddpm", 7, 7),
        ("ddim", 7, 7),
        ("dpm++", 7, 7),
        ("heun", 7, 13),
        ("heun", 1, 1),
        ("dpm++", 1, 1),
    ],
)
def test_nfe_counts_and_time_labels(sampler: str, steps: int, nfe: int) -> None:
    sched = NoiseSchedule.linear(100)
    model = _Counter()
    progress: list[tuple[int, int]] = []
    out, count = sample(
        model,
        sched,
        (3, 2, 5),
        sampler,
        steps,
        0,
        return_nfe=True,
        progress=lambda done, total: progress.append((done, total)),
    )
    assert out.shape == (3, 2, 5) and out.dtype == torch.float32
    assert count == nfe == len(model.calls)
    assert progress[-1] == (steps, steps) and len(progress) == steps
    for t in model.calls:
        assert (
            t.dtype == torch.int64 and t.shape == (3,) and 0 <= int(t.min()) <= int(t.max()) < 100
        )
    if sampler != "heun":
        kept, _ = sched.respace(steps, "linspace" if sampler == "ddpm" else "trailing")
        assert [int(t[0]) for t in model.calls] == kept.flip(0).tolist()


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "dpm++", "heun"])
def test_seeded_generator_is_deterministic_and_global_rng_untouched(sampler: str) -> None:
    sched = NoiseSchedule.cosine(100)
    kw = {"eta": 1.0} if sampler == "ddim" else {}
    state = torch.random.get_rng_state()
    a = sample(
        GaussianEps(sched),
        sched,
        (16, *SHAPE_1),
        sampler,
        5,
        torch.Generator().manual_seed(3),
        **kw,
    )
    b = sample(GaussianEps(sched), sched, (16, *SHAPE_1), sampler, 5, 3, **kw)
    c = sample(GaussianEps(sched), sched, (16, *SHAPE_1), sampler, 5, 4, **kw)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_invalid_arguments_raise_clear_errors() -> None:
    sched = NoiseSchedule.cosine(100)
    model = GaussianEps(sched)
    shape = (2, *SHAPE_1)
    with pytest.raises(InputError, match="sampler='euler'"):
        sample(model, sched, shape, "euler")
    with pytest.raises(InputError, match="steps=101"):
        sample(model, sched, shape, "ddim", 101)
    with pytest.raises(InputError, match="steps=0"):
        sample(model, sched, shape, "ddim", 0)
    with pytest.raises(ShapeError, match="shape"):
        sample(model, sched, (4,), "ddim", 5)
    with pytest.raises(ShapeError, match="shape"):
        sample(model, sched, (2, 0, 3), "ddim", 5)
    with pytest.raises(ShapeError, match="noise"):
        sample(model, sched, shape, "ddim", 5, noise=torch.zeros(3, *SHAPE_1))
    with pytest.raises(ShapeError, match="2C channels"):
        sample(model, sched, shape, "ddpm", 5, variance="learned_range")
    with pytest.raises(ShapeError, match="model output"):
        sample(lambda x, t: x[:, :, :2], sched, shape, "dpm++", 5)
    with pytest.raises(InputError, match="eta"):
        sample(model, sched, shape, "dpm++", 5, eta=0.5)
    with pytest.raises(InputError, match="heun"):
        sample(model, sched, shape, "heun", 5, spacing="trailing")
    with pytest.raises(InputError, match="spacing"):
        sample(model, sched, shape, "ddim", 5, spacing="quadratic")
    with pytest.raises(InputError, match="prediction"):
        sample(model, sched, shape, "ddim", 5, prediction="x0")
    with pytest.raises(InputError, match="variance"):
        sample(model, sched, shape, "ddpm", 5, variance="learned")
    with pytest.raises(InputError, match="clip_denoised"):
        sample(model, sched, shape, "ddim", 5, clip_denoised=-1.0)
    with pytest.raises(InputError, match="NoiseSchedule"):
        sample(model, sched.alphas_cumprod, shape, "ddim", 5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="generator"):
        sample(model, sched, shape, "ddim", 5, generator="seed")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="num_timesteps=10"):
        sample(model, NoiseSchedule.linear(1000), shape, "ddim", 10, spacing="rebuilt")
