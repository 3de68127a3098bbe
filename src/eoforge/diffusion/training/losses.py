"""Training losses of diffusion models and the importance sampler of timesteps (pure tensor code).

Targets (Ho et al. 2020; Salimans & Ho 2022), with ``x_t = sqrt(abar_t) x_0 + sqrt(1-abar_t) eps``:

    eps-prediction:  target = eps,
    v-prediction:    target = v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0,

and ``L_simple = || target - model ||^2`` (mean over pixels).

Learned-range variance (Nichol & Dhariwal 2021, Eq. 15): the model's extra channels ``v_raw`` in
[-1, 1] give ``f = (v_raw + 1)/2`` and

    log Sigma_theta(x_t, t) = f log beta_t + (1 - f) log beta~_t.

The hybrid loss (their Eq. 16) is ``L_hybrid = L_simple + lambda L_vlb`` with ``lambda = 0.001``
and ``L_vlb = L_0 + sum_{t>=1} L_t``; with one timestep drawn per image,
``L_vlb ~ T * L_t``, so the per-image term is ``lambda * T * L_t`` (improved-diffusion's
``rescaled_mse``: ``L_t * T / 1000``). In ``L_t`` the mean is computed from the model's
prediction with the gradient stopped, so ``L_vlb`` trains only the variance:

    L_t = KL(q(x_{t-1} | x_t, x_0) || p_theta(x_{t-1} | x_t)),   t > 0,
    L_0 = -log p_theta(x_0 | x_1),

in bits per dimension (KL between Gaussians: ``0.5 (-1 + log s2 - log s1 + s1/s2 + (m1-m2)^2/s2)``).
The decoder ``L_0`` is either the *discretised* Gaussian of Ho et al. (8-bit data in [-1, 1],
bins of width 2/255) or, by default, the *continuous* Gaussian density
``-log N(x_0; mu, Sigma)`` — the right choice for standardised-dB SAR data, which is neither
bounded nor quantised; only its gradient in Sigma matters for training, and its value (a density,
not a probability) may be negative.

Importance sampling (Nichol & Dhariwal, Sec. 3.3): ``p_t ∝ sqrt(E[L_t^2])`` from the last
``history_per_term`` losses seen at each t >= 1, mixed with a uniform floor, uniform until every
t >= 1 has a full history (warm-up); t = 0 keeps the uniform share ``p_0 = 1/T`` (see
:class:`LossSecondMomentSampler` for why). The loss of an image drawn at t is weighted by
``1 / (T p_t)``, so that ``E_{t~p}[L_t / (T p_t)] = (1/T) sum_t L_t`` (unbiased).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.diffusion.schedules import NoiseSchedule

DECODERS: tuple[str, ...] = ("continuous", "discretized")
_LN2 = math.log(2.0)


def _gather(
    schedule: NoiseSchedule, name: str, t: torch.Tensor, like: torch.Tensor
) -> torch.Tensor:
    """``schedule.table(name)[t]`` (float64 table) shaped (B, 1, 1, 1), in ``like``'s dtype/device.

    Gathered on the device of ``t`` from the schedule's cached copy (no host sync).
    """
    return schedule._coef(name, t, like)


def prediction_target(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    prediction: str = "epsilon",
) -> torch.Tensor:
    """Regression target: ``eps`` or ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0``."""
    if prediction == "epsilon":
        return noise
    if prediction == "v":
        return schedule.velocity(x0, noise, t)
    raise bad_value("prediction", prediction, "'epsilon' or 'v'")


def predicted_x0(
    schedule: NoiseSchedule, x_t: torch.Tensor, pred: torch.Tensor, t: torch.Tensor, prediction: str
) -> torch.Tensor:
    """``x0_hat = (x_t - sqrt(1-abar) eps)/sqrt(abar)`` or ``sqrt(abar) x_t - sqrt(1-abar) v``."""
    if prediction == "epsilon":
        return schedule.predict_x0(x_t, pred, t)
    return schedule.x0_eps_from_v(x_t, pred, t)[0]


def normal_kl(
    mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor, logvar2: torch.Tensor
) -> torch.Tensor:
    """Elementwise ``KL(N(mean1, e^logvar1) || N(mean2, e^logvar2))`` in nats.

    ``0.5 (-1 + logvar2 - logvar1 + e^(logvar1 - logvar2) + (mean1 - mean2)^2 e^(-logvar2))``.
    """
    return 0.5 * (
        -1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
        + (mean1 - mean2) ** 2 * torch.exp(-logvar2)
    )  # fmt: skip


def continuous_gaussian_nll(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """Elementwise ``-log N(x; mean, e^logvar) = 0.5 (log 2 pi + logvar + (x-mean)^2 e^-logvar)``."""
    return 0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 * torch.exp(-logvar))


def discretized_gaussian_nll(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, bin_width: float = 2.0 / 255.0
) -> torch.Tensor:
    """Elementwise ``-log P(x)`` of a Gaussian integrated over the bin of ``x`` (Ho et al. 2020).

    ``P(x) = Phi((x + w/2 - mean)/s) - Phi((x - w/2 - mean)/s)``, with the first/last bin open to
    -inf/+inf (data in [-1, 1], ``w = 2/255`` for 8-bit images).
    """
    inv_std = torch.exp(-0.5 * logvar)
    cdf_plus = torch.special.ndtr((x - mean + bin_width / 2) * inv_std)
    cdf_min = torch.special.ndtr((x - mean - bin_width / 2) * inv_std)
    prob = torch.where(
        x < -1 + bin_width / 2,
        cdf_plus,
        torch.where(x > 1 - bin_width / 2, 1.0 - cdf_min, cdf_plus - cdf_min),
    )
    return -torch.log(prob.clamp(min=1e-12))


def q_posterior(
    schedule: NoiseSchedule, x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and clipped log-variance of ``q(x_{t-1} | x_t, x_0)`` (Ho et al. 2020, Eq. 7).

    ``mu~ = beta_t sqrt(abar_{t-1})/(1-abar_t) x_0 + (1-abar_{t-1}) sqrt(alpha_t)/(1-abar_t) x_t``.
    """
    c0 = _gather(schedule, "posterior_mean_coef1", t, x0)
    ct = _gather(schedule, "posterior_mean_coef2", t, x0)
    return c0 * x0 + ct * x_t, _gather(schedule, "posterior_log_variance_clipped", t, x0)


def learned_log_variance(
    schedule: NoiseSchedule, var_values: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """``log Sigma = f log beta_t + (1 - f) log beta~_t`` with ``f = (v_raw + 1)/2`` (Eq. 15)."""
    frac = (var_values + 1.0) / 2.0
    log_beta = _gather(schedule, "log_betas", t, var_values)
    log_small = _gather(schedule, "posterior_log_variance_clipped", t, var_values)
    return frac * log_beta + (1.0 - frac) * log_small


def vlb_term(
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    t: torch.Tensor,
    x0_hat: torch.Tensor,
    logvar: torch.Tensor,
    decoder: str = "continuous",
) -> torch.Tensor:
    """Per-image ``L_t`` in bits per dimension: the KL for t > 0, the decoder NLL at t = 0.

    Args:
        schedule: The trained schedule.
        x0: Clean images (B, C, H, W).
        x_t: Noisy images at ``t``.
        t: Timesteps (B,).
        x0_hat: The model's estimate of ``x0`` (detach it for the hybrid loss).
        logvar: Model log-variance (B, C, H, W) (from :func:`learned_log_variance`).
        decoder: ``"continuous"`` or ``"discretized"`` (see the module docstring).

    Returns:
        (B,) tensor.
    """
    if decoder not in DECODERS:
        raise bad_value("decoder", decoder, f"one of {DECODERS}")
    true_mean, true_logvar = q_posterior(schedule, x0, x_t, t)
    model_mean, _ = q_posterior(schedule, x0_hat, x_t, t)
    kl = normal_kl(true_mean, true_logvar, model_mean, logvar)
    if decoder == "continuous":
        nll = continuous_gaussian_nll(x0, model_mean, logvar)
    else:
        nll = discretized_gaussian_nll(x0, model_mean, logvar)
    dims = tuple(range(1, x0.ndim))
    kl, nll = kl.mean(dim=dims) / _LN2, nll.mean(dim=dims) / _LN2
    return torch.where(t.to(kl.device) == 0, nll, kl)


@dataclass
class LossTerms:
    """Per-image loss terms (each (B,)); ``vlb`` is ``None`` without a learned variance."""

    loss: torch.Tensor
    mse: torch.Tensor
    vlb: torch.Tensor | None = None


def diffusion_loss(
    output: torch.Tensor,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    x_t: torch.Tensor,
    noise: torch.Tensor,
    t: torch.Tensor,
    *,
    prediction: str = "epsilon",
    learned_variance: bool = False,
    vlb_lambda: float = 1e-3,
    decoder: str = "continuous",
) -> LossTerms:
    """``L_simple`` (fixed variance) or ``L_simple + lambda T L_t`` (learned range), per image.

    The ``L_vlb`` term sees the mean with the gradient stopped (``x0_hat`` is computed from the
    detached prediction), so its gradient reaches only the variance channels.

    Args:
        output: Model output (B, C or 2C, H, W) (cast to float32 here).
        schedule: The trained schedule.
        x0: Clean images (B, C, H, W).
        x_t: Noisy images (B, C, H, W).
        noise: The noise used (B, C, H, W).
        t: Timesteps (B,).
        prediction: ``"epsilon"`` or ``"v"``.
        learned_variance: Whether ``output`` carries the 2C variance channels.
        vlb_lambda: ``lambda`` of the hybrid loss (0.001 in the paper).
        decoder: Decoder NLL at t = 0 (``"continuous"`` or ``"discretized"``).

    Returns:
        :class:`LossTerms` of (B,) tensors.
    """
    c = x0.shape[1]
    expected = 2 * c if learned_variance else c
    if output.ndim != x0.ndim or output.shape[1] != expected:
        raise ShapeError(
            f"model output has shape {tuple(output.shape)}: expected {expected} channels on dim 1 "
            f"for images with {c} (learned_variance={learned_variance})."
        )
    if vlb_lambda < 0:
        raise bad_value("vlb_lambda", vlb_lambda, "a float >= 0", "The paper uses 0.001.")
    output = output.float()
    pred, var_values = (output[:, :c], output[:, c:]) if learned_variance else (output, None)
    target = prediction_target(schedule, x0, noise, t, prediction)
    dims = tuple(range(1, x0.ndim))
    mse = ((target.float() - pred) ** 2).mean(dim=dims)
    if var_values is None:
        return LossTerms(loss=mse, mse=mse)
    x0_hat = predicted_x0(schedule, x_t.float(), pred.detach(), t, prediction)  # stop-gradient
    logvar = learned_log_variance(schedule, var_values, t)
    vlb = vlb_term(schedule, x0.float(), x_t.float(), t, x0_hat, logvar, decoder)
    return LossTerms(loss=mse + vlb_lambda * len(schedule) * vlb, mse=mse, vlb=vlb)


# ---------------------------------------------------------------------------- timestep samplers
class UniformTimestepSampler:
    """``t ~ U{0..T-1}`` with unit weights (Ho et al. 2020)."""

    def __init__(self, num_timesteps: int) -> None:
        if (
            isinstance(num_timesteps, bool)
            or not isinstance(num_timesteps, int)
            or num_timesteps < 1
        ):
            raise bad_value("num_timesteps", num_timesteps, "a positive int")
        self.num_timesteps = num_timesteps
        self.device = torch.device("cpu")

    def to(self, device: torch.device | str) -> UniformTimestepSampler:
        """Keep the sampler's tensors on ``device`` (the training device); returns ``self``."""
        self.device = torch.device(device)
        return self

    def probabilities(self) -> torch.Tensor:
        """(T,) float64 sampling probabilities (on the sampler's device)."""
        num = self.num_timesteps
        return torch.full((num,), 1.0 / num, dtype=torch.float64, device=self.device)

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw ``batch_size`` timesteps; returns ``(t (B,) int64, weights (B,) float64)``.

        The weights ``1 / (T p_t)`` make the weighted mean loss unbiased for the uniform mean.
        ``generator`` must live on the sampler's device (:meth:`to`); nothing is read back to
        the host.
        """
        p = self.probabilities()
        t = torch.multinomial(p, batch_size, replacement=True, generator=generator)
        return t, 1.0 / (self.num_timesteps * p.index_select(0, t))

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Record per-image losses (nothing to learn for the uniform sampler)."""

    def state_dict(self) -> dict[str, Any]:
        """State for checkpoints."""
        return {"num_timesteps": self.num_timesteps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        if int(state["num_timesteps"]) != self.num_timesteps:
            raise InputError(
                f"checkpoint sampler has T={state['num_timesteps']}, this one T={self.num_timesteps}."
            )


class LossSecondMomentSampler(UniformTimestepSampler):
    """Importance sampler ``p_t ∝ sqrt(E[L_t^2])`` (Nichol & Dhariwal 2021, Eq. 18), t >= 1.

    With ``w_t = sqrt(mean_h L_{t,h}^2)`` over the last ``history_per_term`` losses of t,

        p_0 = 1/T,   p_t = (1 - 1/T) ((1 - u) w_t / sum_{s>=1} w_s + u / (T - 1)),  t >= 1,

    once every t >= 1 has a full history; uniform before (warm-up), and uniform for T = 1.

    Why t = 0 is kept out of the weighting: the rule assumes every recorded term is a
    non-negative loss on one scale for all t (improved-diffusion's terms are KLs in bits, its
    t = 0 term the *discretised* decoder's -log P(x_0 | x_1) of a probability, hence >= 0).
    Our default decoder is the *continuous* density ``-log N(x_0; mu, Sigma)`` (it enters the
    hybrid loss as ``lambda T L_0``): its value moves by ``log s`` when the data are rescaled by
    ``s`` and is negative once Sigma is small (about -4.5 bits/dim on standardised dB data), so
    its square measures the units, not the term's share of the variance. Fed into the history
    it took ~40 % of the draws (the VLB column of ``train_log.csv`` fell to ~-1.9 and the MSE
    rose). The t = 0 losses are still recorded (checkpoints keep the same layout) but ignored,
    and ``p_0`` stays at the uniform ``1/T`` whichever decoder is used: the weights
    ``1 / (T p_t)`` remain unbiased and t = 0 never takes more than its uniform share.

    Args:
        num_timesteps: T.
        history_per_term: Losses kept per timestep (10 in improved-diffusion).
        uniform_prob: Uniform floor ``u`` (0.001 in improved-diffusion).
    """

    def __init__(
        self, num_timesteps: int, history_per_term: int = 10, uniform_prob: float = 1e-3
    ) -> None:
        super().__init__(num_timesteps)
        if history_per_term < 1:
            raise bad_value("history_per_term", history_per_term, "an int >= 1", "Use 10.")
        if not 0.0 <= uniform_prob <= 1.0:
            raise bad_value("uniform_prob", uniform_prob, "a float in [0, 1]", "Use 0.001.")
        self.history_per_term = history_per_term
        self.uniform_prob = uniform_prob
        self.history = torch.zeros(num_timesteps, history_per_term, dtype=torch.float64)
        self.counts = torch.zeros(num_timesteps, dtype=torch.int64)

    def to(self, device: torch.device | str) -> LossSecondMomentSampler:
        """Move the history to ``device`` (the training device); returns ``self``."""
        super().to(device)
        self.history = self.history.to(self.device)
        self.counts = self.counts.to(self.device)
        return self

    def _warm(self) -> torch.Tensor:
        """:attr:`warmed_up` as a 0-d bool tensor on the sampler's device (no host sync)."""
        counts = self.counts[1:] if self.num_timesteps > 1 else self.counts
        return torch.all(counts == self.history_per_term)

    @property
    def warmed_up(self) -> bool:
        """True when every weighted timestep (t >= 1; t = 0 when T = 1) has a full history."""
        return bool(self._warm())

    def probabilities(self) -> torch.Tensor:
        """Uniform during warm-up, else ``p_0 = 1/T`` and ``p_t ∝ sqrt(E[L_t^2])`` for t >= 1.

        Both branches are computed on the device and chosen with ``torch.where`` (the host never
        reads whether the warm-up is over).
        """
        num = self.num_timesteps
        uniform = super().probabilities()
        if num == 1:
            return uniform
        w = torch.sqrt(torch.mean(self.history[1:] ** 2, dim=-1))  # (T-1,)
        total = w.sum()
        w = w / total * (1.0 - self.uniform_prob) + self.uniform_prob / (num - 1)
        p = torch.cat([uniform[:1], w * (1.0 - 1.0 / num)])
        return torch.where(self._warm() & (total > 0), p, uniform)

    def update(self, t: torch.Tensor, losses: torch.Tensor) -> None:
        """Append each image's loss to the history of its timestep (oldest dropped when full).

        Images are appended in batch order, as a loop over the batch would (several images may
        share a timestep), with tensor operations on the sampler's device: the k-th image of the
        batch at t goes to position ``counts_t + k`` of t's sequence, of which the last
        ``history_per_term`` are kept.
        """
        t = t.detach().reshape(-1).to(device=self.device, dtype=torch.int64)
        losses = losses.detach().reshape(-1).to(device=self.device, dtype=torch.float64)
        if t.shape[0] != losses.shape[0]:
            raise ShapeError(f"update got {t.shape[0]} timesteps but {losses.shape[0]} losses.")
        size, dev = self.history_per_term, self.device
        onehot = t[:, None] == torch.arange(self.num_timesteps, device=dev)  # (B, T)
        before = onehot.long().cumsum(0).gather(1, t[:, None]).squeeze(1) - 1  # same t earlier
        total = self.counts + onehot.long().sum(0)  # (T,) losses seen, capped below
        shift = (total - size).clamp(min=0)  # oldest entries dropped
        src = torch.arange(size, device=dev)[None, :] + shift[:, None]  # (T, H) old position
        kept = torch.where(
            src < self.counts[:, None], self.history.gather(1, src.clamp(max=size - 1)), 0.0
        )
        dest = self.counts.index_select(0, t) + before - shift.index_select(0, t)
        dest = torch.where(dest >= 0, dest, size)  # pushed out by later images: spare column
        history = torch.cat([kept, kept.new_zeros(self.num_timesteps, 1)], dim=1)
        history.index_put_((t, dest), losses)
        self.history = history[:, :size].contiguous()
        self.counts = total.clamp(max=size)

    def state_dict(self) -> dict[str, Any]:
        """History and counts (for exact resume), on the CPU."""
        return {
            "num_timesteps": self.num_timesteps,
            "history": self.history.detach().to("cpu", copy=True),
            "counts": self.counts.detach().to("cpu", copy=True),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        super().load_state_dict(state)
        history = torch.as_tensor(state["history"], dtype=torch.float64)
        if history.shape != self.history.shape:
            raise ShapeError(
                f"checkpoint history has shape {tuple(history.shape)}, expected "
                f"{tuple(self.history.shape)} (history_per_term={self.history_per_term})."
            )
        self.history = history.to(self.device, copy=True)
        self.counts = torch.as_tensor(state["counts"], dtype=torch.int64).to(self.device, copy=True)


def make_timestep_sampler(kind: str, num_timesteps: int) -> UniformTimestepSampler:
    """``"uniform"`` or ``"loss-second-moment"`` (importance sampling)."""
    if kind == "uniform":
        return UniformTimestepSampler(num_timesteps)
    if kind == "loss-second-moment":
        return LossSecondMomentSampler(num_timesteps)
    raise bad_value("timestep_sampler", kind, "'uniform' or 'loss-second-moment'")
