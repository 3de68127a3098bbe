"""Discrete noise schedules of the variance-preserving diffusion (pure tensor code, no model).

A schedule is fully described by its cumulative signal fraction ``alphas_cumprod``
(alpha-bar_t, t = 0..T-1, Ho et al. 2020):

    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),   abar_t = prod_{s<=t} (1 - beta_s).

Everything else (betas, posterior variances, sigmas, log-SNR) is derived from it, in float64.

Fewer sampling steps are obtained by *respacing* (Nichol & Dhariwal 2021, Sec. 4): keep a subset
``S = {t_0 < ... < t_{K-1}}`` of the trained steps and use the trained alpha-bar there,

    abar'_k = abar_{t_k},   beta'_k = 1 - abar'_k / abar'_{k-1}   (abar'_{-1} = 1),

while the model is still told the trained index ``t_k``. The code of Tuel et al. (arXiv
2308.16847) instead builds a *new* schedule with K steps; :meth:`NoiseSchedule.rebuilt`
reproduces that for benchmarks only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch

from eoforge.core.errors import InputError, ShapeError, bad_value

Spacing = Literal["leading", "trailing", "linspace"]
SPACINGS: tuple[str, ...] = ("leading", "trailing", "linspace")
_SA, _S1A = "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod"  # names of cached tables


def space_timesteps(num_timesteps: int, steps: int, spacing: str = "linspace") -> torch.Tensor:
    """Choose ``steps`` of ``num_timesteps`` trained indices (ascending, int64, unique).

    The three rules of Lin et al. 2024 (*Common diffusion noise schedules and sample steps are
    flawed*, Table 2), with ``T = num_timesteps``, ``N = steps``, ``i = 0..N-1``:

    - ``"linspace"``: ``round(i (T-1)/(N-1))`` (contains 0 and T-1; improved-diffusion's
      ``space_timesteps(T, "N")`` and diffusers' DDIM ``"linspace"``);
    - ``"leading"``: ``i * floor(T/N)`` (diffusers' DDIM ``"leading"``, ``steps_offset=0``);
    - ``"trailing"``: ``round(T - i T/N) - 1`` (contains T-1; diffusers' ``"trailing"``).

    Rounding is half-to-even, as in NumPy and diffusers.

    Args:
        num_timesteps: Length T of the trained schedule.
        steps: Number N of kept steps, ``1 <= N <= T``.
        spacing: One of ``"linspace"``, ``"leading"``, ``"trailing"``.

    Returns:
        LongTensor of shape (N,), strictly increasing trained indices.

    Raises:
        InputError: Unknown spacing or N outside [1, T].
    """
    check_sample_steps(steps, num_timesteps)
    if spacing not in SPACINGS:
        raise bad_value("spacing", spacing, f"one of {SPACINGS}")
    i = torch.arange(steps, dtype=torch.float64)
    if spacing == "linspace":
        kept = torch.zeros(1) if steps == 1 else torch.round(i * (num_timesteps - 1) / (steps - 1))
    elif spacing == "leading":
        kept = i * (num_timesteps // steps)
    else:
        kept = torch.round(num_timesteps - i * (num_timesteps / steps)) - 1
    return torch.sort(kept.to(torch.int64)).values


def logsnr_timesteps(alphas_cumprod: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` trained indices spread uniformly in log-SNR (the ``"logsnr"`` spacing).

    With ``lambda_t = log(abar_t / (1 - abar_t))``, target ``g_i`` uniform on
    ``[lambda_{T-1}, lambda_0]`` (``i = 0..N-1``), index ``t_i = argmin_t |lambda_t - g_i|``,
    then forced strictly increasing inside ``[0, T-1]`` (``t_i <- max(t_i, t_{i-1} + 1)``,
    ``t_i <- min(t_i, t_{i+1} - 1)``), so N distinct indices containing 0 and T-1.
    DPM-Solver (Lu et al. 2022) steps uniformly in lambda: where the time-uniform
    ``"trailing"`` grid puts one step over the low-SNR range in which the large-scale,
    high-variance modes of the data are decided (e.g. unwrapped phase with a -8/3 spectrum),
    this grid puts several.

    Args:
        alphas_cumprod: ``abar_t`` (T,) of the trained schedule, decreasing.
        steps: Number N of kept steps, ``1 <= N <= T``.

    Returns:
        LongTensor (N,), strictly increasing trained indices.
    """
    num_timesteps = int(alphas_cumprod.shape[0])
    check_sample_steps(steps, num_timesteps)
    ab = alphas_cumprod.to(torch.float64)
    lam = torch.log(ab) - torch.log1p(-ab)
    target = torch.linspace(float(lam[-1]), float(lam[0]), steps, dtype=torch.float64)
    idx = torch.argmin((lam[None, :] - target[:, None]).abs(), dim=1).flip(0).tolist()
    for i in range(1, steps):  # distinct and increasing, within [0, T-1]
        idx[i] = max(idx[i], idx[i - 1] + 1)
    idx[-1] = min(idx[-1], num_timesteps - 1)
    for i in range(steps - 2, -1, -1):
        idx[i] = min(idx[i], idx[i + 1] - 1)
    return torch.tensor(idx, dtype=torch.int64)


def check_sample_steps(steps: object, num_timesteps: int) -> None:
    """Raise the one-line :class:`InputError` when ``steps`` is not an int in ``[1, T]``.

    The single check of a number of sampling steps against the trained schedule, shared by
    :func:`space_timesteps`, :func:`eoforge.diffusion.sample` (``eoforge diffusion sample``)
    and :mod:`eoforge.diffusion.evaluation.compare` (``eoforge diffusion compare-samplers``), so that every
    command refuses the same request with the same message.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= num_timesteps:
        raise bad_value(
            "steps",
            steps,
            f"an int in [1, {num_timesteps}] (the trained schedule has T={num_timesteps} steps)",
            "Sampling can only use a subset of the trained timesteps.",
        )


@dataclass(frozen=True, eq=False)
class NoiseSchedule:
    """A discrete variance-preserving noise schedule, held as alpha-bar in float64.

    Attributes:
        alphas_cumprod: 1-D float64 tensor (T,), strictly decreasing, in (0, 1).
        kind: ``"cosine"``, ``"linear"`` or ``"custom"`` (used by :meth:`rebuilt`).
        params: The constructor's keyword arguments (used by :meth:`rebuilt`).
    """

    alphas_cumprod: torch.Tensor
    kind: str = "custom"
    params: tuple[tuple[str, float], ...] = ()
    #: (name, device) -> cached table (see :meth:`table`).
    _tables: dict[tuple[str, str], torch.Tensor] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        a = self.alphas_cumprod
        if not isinstance(a, torch.Tensor):
            a = torch.as_tensor(a)
        if a.ndim != 1 or a.numel() == 0:
            raise ShapeError(
                f"alphas_cumprod has shape {tuple(a.shape)}: expected a non-empty 1-D tensor (T,)."
            )
        a = a.detach().to(device="cpu", dtype=torch.float64).clone()
        if not bool(torch.all(torch.isfinite(a))) or not bool(torch.all((a > 0) & (a < 1))):
            raise InputError(
                f"alphas_cumprod must lie in the open interval (0, 1); got min={a.min().item():.3g}, "
                f"max={a.max().item():.3g}. A value of 1 means no noise and 0 pure noise (beta=1)."
            )
        if a.numel() > 1 and not bool(torch.all(a[1:] < a[:-1])):
            k = int(torch.nonzero(a[1:] >= a[:-1])[0])
            raise InputError(
                f"alphas_cumprod must be strictly decreasing (every beta_t > 0), but "
                f"alphas_cumprod[{k + 1}]={a[k + 1].item():.6g} >= alphas_cumprod[{k}]={a[k].item():.6g}."
            )
        object.__setattr__(self, "alphas_cumprod", a)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_alphas_cumprod(cls, alphas_cumprod: torch.Tensor | list[float]) -> NoiseSchedule:
        """A custom schedule from its alpha-bar values (validated, stored as float64)."""
        return cls(torch.as_tensor(alphas_cumprod, dtype=torch.float64))

    @classmethod
    def from_betas(cls, betas: torch.Tensor | list[float]) -> NoiseSchedule:
        """A custom schedule from betas: ``abar_t = prod_{s<=t} (1 - beta_s)``, each beta in (0, 1)."""
        b = torch.as_tensor(betas, dtype=torch.float64)
        if b.ndim != 1 or not bool(torch.all((b > 0) & (b < 1))):
            raise bad_value("betas", f"tensor of shape {tuple(b.shape)}", "a 1-D tensor in (0, 1)")
        return cls(torch.cumprod(1.0 - b, dim=0))

    @classmethod
    def cosine(cls, num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> NoiseSchedule:
        """Cosine schedule of Nichol & Dhariwal 2021 (Eq. 17), betas capped at ``max_beta``.

        ``f(u) = cos^2(pi/2 (u + s)/(1 + s))``, ``beta_t = min(1 - f((t+1)/T) / f(t/T), max_beta)``,
        ``abar_t = prod_{s<=t} (1 - beta_s)``; without the cap ``abar_t = f((t+1)/T) / f(0)``.

        Args:
            num_timesteps: T >= 1.
            s: Offset that keeps beta_0 from being tiny (0.008 in the paper).
            max_beta: Cap on beta (0.999 in the paper) that avoids the singularity at u = 1.
        """
        _check_count(num_timesteps)
        if not 0 < max_beta < 1:
            raise bad_value("max_beta", max_beta, "a float in (0, 1)", "The paper uses 0.999.")
        if not s >= 0:
            raise bad_value("s", s, "a non-negative float", "The paper uses 0.008.")
        u = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
        f = torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
        betas = torch.clamp(1.0 - f[1:] / f[:-1], max=max_beta)
        abar = torch.cumprod(1.0 - betas, dim=0)
        return cls(abar, "cosine", (("s", float(s)), ("max_beta", float(max_beta))))

    @classmethod
    def linear(
        cls, num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
    ) -> NoiseSchedule:
        """Linear-beta schedule of Ho et al. 2020, scaled for T != 1000 as in improved-diffusion.

        ``beta_t = linspace(c * beta_start, c * beta_end, T)`` with ``c = 1000 / T``, so that
        ``sum_t beta_t`` (the total noise) does not depend on T.

        Raises:
            InputError: When ``c * beta_end >= 1`` (T <= 20 with the defaults): that beta would
                destroy the signal entirely (the paper code's schedule for 10 or 20 steps).
        """
        _check_count(num_timesteps)
        if not 0 < beta_start <= beta_end:
            raise bad_value(
                "beta_start, beta_end", (beta_start, beta_end), "0 < beta_start <= beta_end"
            )
        scale = 1000.0 / num_timesteps
        if scale * beta_end >= 1:
            raise InputError(
                f"linear(num_timesteps={num_timesteps}) scales beta_end={beta_end} by 1000/T to "
                f"{scale * beta_end:.3g} >= 1, which is not a valid beta (the signal would vanish). "
                f"Use num_timesteps > {math.floor(1000 * beta_end)} or respace a longer schedule."
            )
        betas = torch.linspace(
            scale * beta_start, scale * beta_end, num_timesteps, dtype=torch.float64
        )
        abar = torch.cumprod(1.0 - betas, dim=0)
        params = (("beta_start", float(beta_start)), ("beta_end", float(beta_end)))
        return cls(abar, "linear", params)

    # ------------------------------------------------------------------ derived quantities
    @property
    def num_timesteps(self) -> int:
        """Number of steps T."""
        return int(self.alphas_cumprod.numel())

    def __len__(self) -> int:
        return self.num_timesteps

    def __repr__(self) -> str:
        a = self.alphas_cumprod
        return f"NoiseSchedule(kind={self.kind!r}, T={len(self)}, abar=[{a[0]:.6g} .. {a[-1]:.6g}])"

    @property
    def alphas_cumprod_prev(self) -> torch.Tensor:
        """``abar_{t-1}`` with ``abar_{-1} = 1``."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])

    @property
    def betas(self) -> torch.Tensor:
        """``beta_t = 1 - abar_t / abar_{t-1}``."""
        return 1.0 - self.alphas_cumprod / self.alphas_cumprod_prev

    @property
    def alphas(self) -> torch.Tensor:
        """``alpha_t = 1 - beta_t``."""
        return self.alphas_cumprod / self.alphas_cumprod_prev

    @property
    def sigmas(self) -> torch.Tensor:
        """Noise-to-signal ratio ``sigma_t = sqrt((1 - abar_t) / abar_t)`` (Karras et al. 2022)."""
        return torch.sqrt((1.0 - self.alphas_cumprod) / self.alphas_cumprod)

    @property
    def log_snr(self) -> torch.Tensor:
        """``lambda_t = log(abar_t / (1 - abar_t))`` (twice the lambda of Lu et al. 2022)."""
        return torch.log(self.alphas_cumprod) - torch.log1p(-self.alphas_cumprod)

    @property
    def posterior_variance(self) -> torch.Tensor:
        """``beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)`` (Ho et al. 2020, Eq. 7); 0 at t=0."""
        return self.betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)

    @property
    def posterior_log_variance_clipped(self) -> torch.Tensor:
        """``log beta~_t`` with ``beta~_0`` replaced by ``beta~_1`` (improved-diffusion; log 0 is -inf).

        For T = 1 there is no ``beta~_1``; ``beta_0`` is used (never needed: no noise at t=0).
        """
        var = self.posterior_variance
        first = var[1:2] if len(self) > 1 else self.betas[:1]
        return torch.log(torch.cat([first, var[1:]]))

    # ------------------------------------------------------------------ fewer steps
    def respace(self, steps: int, spacing: str = "linspace") -> tuple[torch.Tensor, NoiseSchedule]:
        """Sub-sample this schedule (the correct way to sample with fewer steps).

        ``abar'_k = abar_{t_k}`` for the kept indices ``t_k`` (:func:`space_timesteps`), hence
        ``beta'_k = 1 - abar_{t_k} / abar_{t_{k-1}}``; the model must be called with ``t_k``.

        Args:
            steps: Number of kept steps, in [1, T].
            spacing: ``"linspace"``, ``"leading"``, ``"trailing"`` or ``"logsnr"``
                (:func:`logsnr_timesteps`).

        Returns:
            ``(timesteps, schedule)``: the kept trained indices (LongTensor (steps,), ascending) and
            the respaced schedule of length ``steps`` (kind ``"custom"``).
        """
        if spacing == "logsnr":
            kept = logsnr_timesteps(self.alphas_cumprod, steps)
        else:
            kept = space_timesteps(len(self), steps, spacing)
        return kept, NoiseSchedule(self.alphas_cumprod[kept])

    def rebuilt(self, steps: int) -> tuple[torch.Tensor, NoiseSchedule]:
        """The paper code's (wrong) way to use fewer steps: a *new* schedule of the same family.

        Reproduces ``sample.py`` of PDM_SAR_InSAR_generation, which passes the number of sampling
        steps K as the diffusion length: a fresh ``cosine(K)`` / ``linear(K)`` schedule, while the
        model (trained with ``rescale_timesteps=True``, i.e. time fed as ``t * 1000 / T``) is told
        time ``k * 1000 / K``, i.e. trained index ``round(k T / K)``. Only for benchmarks.

        Returns:
            ``(timesteps, schedule)`` like :meth:`respace`: the trained indices the model is told
            and the rebuilt schedule of length ``steps`` used in the update equations.

        Raises:
            InputError: For a custom schedule (no family to rebuild), or an invalid rebuilt
                schedule (linear with K <= 20).
        """
        if self.kind not in ("cosine", "linear"):
            raise InputError(
                f"rebuilt() needs a cosine or linear schedule to rebuild, not kind={self.kind!r}."
            )
        check_sample_steps(steps, len(self))
        fresh = getattr(NoiseSchedule, self.kind)(steps, **dict(self.params))
        labels = torch.round(torch.arange(steps, dtype=torch.float64) * len(self) / steps)
        return labels.to(torch.int64), fresh

    # ------------------------------------------------------------------ forward process helpers
    def table(self, name: str, device: torch.device | str = "cpu") -> torch.Tensor:
        """A float64 (T,) table derived from alpha-bar, cached on ``device`` (copied there once).

        ``name`` is one of :data:`TABLES`. The values are computed on the CPU in float64 (the same
        numbers on every device); the training loop and the losses gather from the cached copy on
        the training device, so that no step copies a table or a timestep between host and device.
        """
        key = (name, str(torch.device(device)))
        cached = self._tables.get(key)
        if cached is None:
            if name not in TABLES:
                raise bad_value("table", name, f"one of {tuple(TABLES)}")
            cached = TABLES[name](self).to(device)
            self._tables[key] = cached
        return cached

    def _coef(
        self, values: torch.Tensor | str, t: torch.Tensor | int, like: torch.Tensor
    ) -> torch.Tensor:
        """Gather ``values[t]`` and shape it (B, 1, ..., 1) to broadcast against ``like`` (B, ...).

        ``values`` is a (T,) table or the name of a cached one (:meth:`table`). The gather runs on
        the device of ``t`` (a tensor) or of ``like`` (an int): nothing is read back to the host.
        An index outside [0, T) raises :class:`InputError` when ``t`` is on the CPU; on an
        accelerator it is a device-side assert (the host does not wait to check it).
        """
        if isinstance(t, torch.Tensor):
            t = t.to(torch.int64)
        else:
            t = torch.as_tensor(t, dtype=torch.int64, device=like.device)
        if t.ndim == 0:
            t = t.expand(like.shape[0] if like.ndim else 1)
        if t.ndim != 1 or (like.ndim and t.shape[0] != like.shape[0]):
            raise ShapeError(
                f"t has shape {tuple(t.shape)}: expected an int or a (B,) tensor with "
                f"B={like.shape[0] if like.ndim else '?'} (the batch size of x)."
            )
        table = self.table(values, t.device) if isinstance(values, str) else values.to(t.device)
        try:
            out = table.index_select(0, t)  # refuses negative indices (no wrap-around)
        except IndexError:
            raise bad_value("t", t.tolist(), f"indices in [0, {len(self) - 1}]") from None
        out = out.to(device=like.device, dtype=like.dtype)
        return out.reshape(-1, *([1] * (like.ndim - 1)))

    def add_noise(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """Forward process ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` (Ho et al., Eq. 4)."""
        _same_shape(x0, noise, "x0", "noise")
        return self._coef(_SA, t, x0) * x0 + self._coef(_S1A, t, x0) * noise

    def velocity(
        self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """v-target ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0`` (Salimans & Ho 2022)."""
        _same_shape(x0, noise, "x0", "noise")
        return self._coef(_SA, t, x0) * noise - self._coef(_S1A, t, x0) * x0

    def predict_x0(
        self, x_t: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """``x_0 = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)``."""
        _same_shape(x_t, eps, "x_t", "eps")
        return (x_t - self._coef(_S1A, t, x_t) * eps) / self._coef(_SA, t, x_t)

    def predict_eps(
        self, x_t: torch.Tensor, x0: torch.Tensor, t: torch.Tensor | int
    ) -> torch.Tensor:
        """``eps = (x_t - sqrt(abar_t) x_0) / sqrt(1 - abar_t)``."""
        _same_shape(x_t, x0, "x_t", "x0")
        return (x_t - self._coef(_SA, t, x_t) * x0) / self._coef(_S1A, t, x_t)

    def x0_eps_from_v(
        self, x_t: torch.Tensor, v: torch.Tensor, t: torch.Tensor | int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x_0 = sqrt(abar) x_t - sqrt(1-abar) v`` and ``eps = sqrt(1-abar) x_t + sqrt(abar) v``."""
        _same_shape(x_t, v, "x_t", "v")
        sa, s1a = self._coef(_SA, t, x_t), self._coef(_S1A, t, x_t)
        return sa * x_t - s1a * v, s1a * x_t + sa * v


#: Tables of :meth:`NoiseSchedule.table`: float64 (T,) functions of the schedule.
TABLES = {
    "sqrt_alphas_cumprod": lambda s: s.alphas_cumprod.sqrt(),
    "sqrt_one_minus_alphas_cumprod": lambda s: (1 - s.alphas_cumprod).sqrt(),
    "posterior_mean_coef1": lambda s: (
        s.betas * s.alphas_cumprod_prev.sqrt() / (1 - s.alphas_cumprod)
    ),
    "posterior_mean_coef2": lambda s: (
        (1 - s.alphas_cumprod_prev) * (1 - s.betas).sqrt() / (1 - s.alphas_cumprod)
    ),
    "posterior_log_variance_clipped": lambda s: s.posterior_log_variance_clipped,
    "log_betas": lambda s: torch.log(s.betas),
}


def _check_count(num_timesteps: object) -> None:
    if isinstance(num_timesteps, bool) or not isinstance(num_timesteps, int) or num_timesteps < 1:
        raise bad_value("num_timesteps", num_timesteps, "a positive int", "E.g. 1000.")


def _same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ShapeError(
            f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}: "
            "they must match."
        )
