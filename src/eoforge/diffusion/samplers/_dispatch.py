"""``sample``: one entry point for every sampler, with input validation.

Samplers (K = ``steps``):

- ``"ddpm"``: ancestral sampling on ``schedule.respace(K)`` (NFE = K);
- ``"ddim"``: DDIM with ``eta`` on the same kept steps (NFE = K);
- ``"dpm++"``: DPM-Solver++(2M) on the same kept steps (NFE = K);
- ``"heun"``: EDM Heun on K Karras sigmas of the trained range (NFE = 2K - 1).

The first three keep K trained steps (``spacing``) and use the trained alpha-bar there
(respacing); ``"heun"`` picks its own K trained steps (Karras sigmas). Every sampler ends with the
denoised estimate (no noise is left).

Spacings (:func:`~eoforge.diffusion.schedules.space_timesteps`): ``"linspace"``
(improved-diffusion's rule, from T-1 down to 0; default for ``"ddpm"``), ``"trailing"`` (from T-1
down to T/K-1, then a jump to clean data; default for ``"ddim"`` and ``"dpm++"``), ``"leading"``
(starts at T-T/K, below the top), ``"logsnr"`` (uniform in log-SNR from T-1 to 0,
:func:`~eoforge.diffusion.schedules.logsnr_timesteps`), or ``"rebuilt"`` to reproduce the paper
code's rebuilt schedule (:meth:`NoiseSchedule.rebuilt`; benchmarks only). Why the defaults differ:
the ancestral chain adds no noise at its last step, so it must end at t=0 (with ``"trailing"`` it
would return E[x_0 | x_{T/K-1}] and lose the spread of x_0 given x_{T/K-1}); the ODE solvers are
more accurate with ``"trailing"`` (DPM-Solver++ loses much accuracy to the large last log-SNR step
of ``"linspace"``, whose last evaluation at t=0 is nearly wasted).

A new sampler is a ``*_loop`` function in its own module beside the others (it receives the
:class:`~eoforge.diffusion.samplers._common.Denoiser`, the kept trained indices and their
respaced schedule), a name in :data:`SAMPLERS` and a branch of :func:`_run_loop`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.diffusion.samplers._common import Denoiser, ModelFn, ProgressFn, randn
from eoforge.diffusion.samplers._ddim import ddim_loop
from eoforge.diffusion.samplers._ddpm import ddpm_loop
from eoforge.diffusion.samplers._dpmpp import dpmpp_2m_loop
from eoforge.diffusion.samplers._heun import heun_loop
from eoforge.diffusion.schedules import SPACINGS, NoiseSchedule, check_sample_steps

SAMPLERS: tuple[str, ...] = ("ddpm", "ddim", "dpm++", "heun")
VARIANCES: tuple[str, ...] = ("fixed_small", "fixed_large", "learned_range")
PREDICTIONS: tuple[str, ...] = ("epsilon", "v")


@torch.no_grad()
def sample(
    model: ModelFn,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    sampler: str = "dpm++",
    steps: int = 20,
    generator: torch.Generator | int | None = None,
    *,
    eta: float = 0.0,
    variance: str = "fixed_small",
    prediction: str = "epsilon",
    clip_denoised: float | None = None,
    spacing: str | None = None,
    sigma_max: float | None = 80.0,
    noise: torch.Tensor | None = None,
    model_kwargs: dict[str, Any] | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    progress: ProgressFn | None = None,
    return_nfe: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, int]:
    """Draw samples from a diffusion model trained on ``schedule``.

    The model is any callable ``model(x_t, t, **model_kwargs)`` where ``t`` is a LongTensor (B,)
    of *trained* indices in [0, T-1]; it returns eps (``prediction="epsilon"``) or
    ``v = sqrt(abar) eps - sqrt(1-abar) x0`` (``prediction="v"``), of the shape of ``x_t``, or
    with ``variance="learned_range"`` 2C channels on dim 1 (prediction, then the raw variance
    values in [-1, 1] of Nichol & Dhariwal 2021; only ``"ddpm"`` uses them). The samplers and
    spacings are described in the module docstring. Seeded only through ``generator``: with the
    same generator state the output is identical.

    Args:
        model: The network (or any callable), see above.
        schedule: The *trained* schedule.
        shape: Output shape ``(B, C, ...)``.
        sampler: ``"ddpm"``, ``"ddim"``, ``"dpm++"`` or ``"heun"``.
        steps: Number of steps K, in [1, T].
        generator: ``torch.Generator``, an int seed, or ``None`` (fresh entropy).
        eta: DDIM stochasticity (only for ``"ddim"``).
        variance: ``"fixed_small"`` (beta~), ``"fixed_large"`` (beta) or ``"learned_range"``.
        prediction: ``"epsilon"`` or ``"v"``.
        clip_denoised: Clamp x0_hat to ``[-c, c]`` at every step, or ``None``.
        spacing: Which trained steps to keep: ``"linspace"``, ``"trailing"``, ``"leading"``,
            ``"logsnr"`` or ``"rebuilt"`` (module docstring); default ``"linspace"`` for
            ``"ddpm"``, ``"trailing"`` for ``"ddim"`` and ``"dpm++"``. Not used by ``"heun"``.
        sigma_max: ``"heun"`` only: upper end of the Karras grid, clipped to the trained range
            (EDM's 80 by default; ``None`` for the trained largest sigma).
        noise: Initial noise x_T of shape ``shape`` (drawn from ``generator`` when ``None``).
        model_kwargs: Extra keyword arguments passed to the model.
        device: Device of the samples (default: that of ``noise``, else CPU).
        dtype: Floating dtype of the samples (coefficients are computed in float64).
        progress: Optional callback ``progress(done, total)`` called after each step.
        return_nfe: Also return the number of model evaluations.

    Returns:
        Samples of shape ``shape``, or ``(samples, nfe)`` when ``return_nfe``.

    Raises:
        InputError: Unknown option, ``steps`` outside [1, T], option not valid for the sampler.
        ShapeError: Bad ``shape``, ``noise`` or model output shape.
    """
    shape = _check_shape(shape)
    _check_options(schedule, sampler, steps, eta, variance, prediction, clip_denoised, spacing)
    if sigma_max is not None and not (isinstance(sigma_max, int | float) and sigma_max > 0):
        raise bad_value("sigma_max", sigma_max, "None or a positive float", "EDM uses 80.")
    gen = _as_generator(generator)
    x = _initial_x(shape, noise, gen, device, dtype)
    denoiser = Denoiser(
        model,
        prediction=prediction,
        learned_range=variance == "learned_range",
        clip=clip_denoised,
        model_kwargs=model_kwargs,
    )
    out = _run_loop(
        denoiser, schedule, x, sampler, steps, spacing=spacing, eta=eta, variance=variance,
        sigma_max=sigma_max, generator=gen, progress=progress,
    )  # fmt: skip
    return (out, denoiser.nfe) if return_nfe else out


def _run_loop(
    denoiser: Denoiser,
    schedule: NoiseSchedule,
    x: torch.Tensor,
    sampler: str,
    steps: int,
    *,
    spacing: str | None,
    eta: float,
    variance: str,
    sigma_max: float | None,
    generator: torch.Generator,
    progress: ProgressFn | None,
) -> torch.Tensor:
    """Run ``sampler``'s loop from x_T = ``x`` (options already checked by :func:`sample`)."""
    if sampler == "heun":
        return heun_loop(denoiser, schedule, x, steps=steps, sigma_max=sigma_max, progress=progress)
    spacing = spacing or ("linspace" if sampler == "ddpm" else "trailing")
    if spacing == "rebuilt":
        labels, sched = schedule.rebuilt(steps)
    else:
        labels, sched = schedule.respace(steps, spacing)
    if sampler == "ddpm":
        return ddpm_loop(
            denoiser, labels, sched, x, variance=variance, generator=generator, progress=progress
        )
    if sampler == "ddim":
        return ddim_loop(
            denoiser, labels, sched, x, eta=eta, generator=generator, progress=progress
        )
    return dpmpp_2m_loop(denoiser, labels, sched, x, progress=progress)


def _initial_x(
    shape: tuple[int, ...],
    noise: torch.Tensor | None,
    gen: torch.Generator,
    device: torch.device | str | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    """x_T: ``noise`` (checked against ``shape``) or a draw from ``gen``, on ``device``.

    ``device`` defaults to that of ``noise``, else the CPU.
    """
    if noise is not None:
        if tuple(noise.shape) != shape:
            raise ShapeError(f"noise has shape {tuple(noise.shape)}, expected shape={shape}.")
        dev = noise.device if device is None else torch.device(device)
        return noise.to(device=dev, dtype=dtype)
    dev = torch.device("cpu") if device is None else torch.device(device)
    return randn(shape, gen, dev, dtype)


def _check_shape(shape: object) -> tuple[int, ...]:
    """``shape`` as a tuple of ints, at least ``(B, C)``, every size positive."""
    items = tuple(shape) if isinstance(shape, Iterable) else ()
    try:
        dims = tuple(int(s) for s in items)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) < 2 or any(d < 1 for d in dims) or dims != items:
        raise ShapeError(
            f"shape={shape!r} is invalid: expected a tuple of positive ints (B, C, ...) with at "
            "least a batch and a channel dimension, e.g. (16, 1, 64, 64)."
        )
    return dims


def _check_options(
    schedule: object,
    sampler: object,
    steps: object,
    eta: float,
    variance: object,
    prediction: object,
    clip: float | None,
    spacing: object,
) -> None:
    if not isinstance(schedule, NoiseSchedule):
        raise bad_value(
            "schedule",
            type(schedule).__name__,
            "a NoiseSchedule",
            "Build one with NoiseSchedule.cosine(T).",
        )
    if sampler not in SAMPLERS:
        raise bad_value("sampler", sampler, f"one of {SAMPLERS}")
    check_sample_steps(steps, len(schedule))
    if variance not in VARIANCES:
        raise bad_value("variance", variance, f"one of {VARIANCES}")
    if prediction not in PREDICTIONS:
        raise bad_value("prediction", prediction, f"one of {PREDICTIONS}")
    if not (isinstance(eta, int | float) and eta >= 0):
        raise bad_value("eta", eta, "a float >= 0")
    if eta != 0 and sampler != "ddim":
        raise InputError(f"eta={eta} only applies to sampler='ddim', not sampler={sampler!r}.")
    if clip is not None and not (isinstance(clip, int | float) and clip > 0):
        raise bad_value(
            "clip_denoised", clip, "None or a positive float", "E.g. 1.0 for data in [-1, 1]."
        )
    if spacing is not None:
        if sampler == "heun":
            raise InputError(
                f"spacing={spacing!r} does not apply to sampler='heun', which uses Karras sigmas; "
                "leave spacing=None."
            )
        if spacing not in (*SPACINGS, "logsnr", "rebuilt"):
            raise bad_value("spacing", spacing, f"one of {(*SPACINGS, 'logsnr', 'rebuilt')}")


def _as_generator(generator: torch.Generator | int | None) -> torch.Generator:
    if isinstance(generator, torch.Generator):
        return generator
    if generator is None:
        gen = torch.Generator()
        gen.seed()
        return gen
    if isinstance(generator, int) and not isinstance(generator, bool) and generator >= 0:
        return torch.Generator().manual_seed(generator)
    raise bad_value("generator", generator, "a torch.Generator, a non-negative int seed or None")
