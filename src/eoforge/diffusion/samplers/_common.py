"""Pieces shared by the samplers: the model wrapper and the noise source.

Every sampler sees the model through :class:`Denoiser`, which turns the raw network output at a
noise level ``abar`` into the pair (x_0-hat, eps-hat) that the update equations need:

- ``prediction="epsilon"``: ``x0 = (x_t - sqrt(1-abar) eps) / sqrt(abar)``;
- ``prediction="v"`` (Salimans & Ho 2022): ``x0 = sqrt(abar) x_t - sqrt(1-abar) v``,
  ``eps = sqrt(1-abar) x_t + sqrt(abar) v``;
- ``clip``: ``x0`` is clamped to ``[-clip, clip]`` and ``eps`` re-derived from the clamped ``x0``
  (improved-diffusion's ``clip_denoised``), so that ``x_t = sqrt(abar) x0 + sqrt(1-abar) eps``
  still holds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from eoforge.core.errors import InputError, ShapeError

ModelFn = Callable[..., torch.Tensor]
ProgressFn = Callable[[int, int], None]


@dataclass
class Prediction:
    """The model's output at one step, converted to the sampler's quantities."""

    x0: torch.Tensor
    eps: torch.Tensor
    var_values: torch.Tensor | None = None  # raw learned-range output in [-1, 1], or None

    def learned_var_values(self) -> torch.Tensor:
        """The learned-range values (B, C, ...) in [-1, 1].

        Raises:
            InputError: The model was called without ``learned_range`` (no variance channels).
        """
        if self.var_values is None:
            raise InputError(
                "variance='learned_range' needs the model's variance channels: build the "
                "Denoiser with learned_range=True."
            )
        return self.var_values


class Denoiser:
    """Calls ``model(x_t, t, **model_kwargs)`` and converts its output (counts evaluations).

    Args:
        model: Callable returning eps (or v) of the same shape as ``x_t``; with
            ``learned_range=True`` it returns ``2C`` channels on dim 1: the prediction, then the
            raw variance interpolation values (Nichol & Dhariwal 2021, Eq. 15).
        prediction: ``"epsilon"`` or ``"v"``.
        learned_range: Whether the output carries the variance channels.
        clip: Clamp ``x0`` to ``[-clip, clip]``, or ``None``.
        model_kwargs: Extra keyword arguments for the model (e.g. class labels).
    """

    def __init__(
        self,
        model: ModelFn,
        *,
        prediction: str,
        learned_range: bool,
        clip: float | None,
        model_kwargs: dict[str, Any] | None,
    ) -> None:
        self.model = model
        self.prediction = prediction
        self.learned_range = learned_range
        self.clip = clip
        self.model_kwargs = dict(model_kwargs or {})
        self.nfe = 0

    def __call__(self, x: torch.Tensor, label: int, abar: float) -> Prediction:
        """Evaluate at trained index ``label``; convert with the sampler's ``abar``."""
        t = torch.full((x.shape[0],), int(label), dtype=torch.int64, device=x.device)
        out = self.model(x, t, **self.model_kwargs)
        self.nfe += 1
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"model(x_t, t) must return a torch.Tensor, got {type(out).__name__}.")
        expected = list(x.shape)
        if self.learned_range:
            expected[1] *= 2
        if list(out.shape) != expected:
            hint = (
                " With variance='learned_range' the model returns 2C channels (prediction, then"
                " variance values); otherwise C."
            )
            raise ShapeError(
                f"model output has shape {tuple(out.shape)}, expected {tuple(expected)} for x_t of "
                f"shape {tuple(x.shape)}.{hint}"
            )
        out = out.to(x.dtype)
        var_values = None
        if self.learned_range:
            out, var_values = out.split(x.shape[1], dim=1)
        sa, s1 = math.sqrt(abar), math.sqrt(1.0 - abar)
        if self.prediction == "epsilon":
            eps = out
            x0 = (x - s1 * eps) / sa
        else:  # "v"
            x0 = sa * x - s1 * out
            eps = s1 * x + sa * out
        if self.clip is not None:
            x0 = x0.clamp(-self.clip, self.clip)
            eps = (x - sa * x0) / s1
        return Prediction(x0, eps, var_values)


def randn(
    shape: tuple[int, ...],
    generator: torch.Generator,
    device: torch.device,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Standard normal noise drawn on the generator's device, then moved to ``device``."""
    return torch.randn(shape, generator=generator, device=generator.device, dtype=dtype).to(device)


def report(progress: ProgressFn | None, done: int, total: int) -> None:
    """Call the ``progress(done, total)`` callback when one is given."""
    if progress is not None:
        progress(done, total)
