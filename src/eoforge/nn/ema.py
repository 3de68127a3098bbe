r"""Exponential moving average (EMA) of a model's weights: the DINO teacher, diffusion EMA weights.

After each optimiser step of the model :math:`\theta` the averaged copy :math:`\xi` becomes

.. math::

    \xi \leftarrow m\,\xi + (1 - m)\,\theta ,

with decay (momentum) :math:`m \in [0, 1]`; :math:`m = 0` copies the model, :math:`m = 1`
freezes the average. Floating-point buffers (e.g. batch-norm running statistics) follow the
same rule; integer buffers are copied. The averaged copy is a submodule (``ema.module``), so it
is saved in checkpoints, moved between devices and broadcast by DDP with its owner.
:func:`warmup_decay` is the warm-up rule :math:`m_n = \min(m, (1 + n)/(10 + n))` used by
diffusion training (pass it as ``decay=`` of :meth:`EMA.update`).
"""

from __future__ import annotations

import copy
from typing import Any, Generic, TypeVar

import torch
from torch import nn

from eoforge.core.errors import bad_value


def _check_decay(decay: float) -> float:
    if not 0.0 <= float(decay) <= 1.0:
        raise bad_value("decay", decay, "a float in [0, 1]", "Typical values: 0.996 to 0.9999.")
    return float(decay)


def warmup_decay(decay: float, step: int) -> float:
    """Decay with warm-up: ``min(decay, (1 + n) / (10 + n))`` after ``n = step`` updates.

    The ratio is 0.1 at the first update (``n = 0``) and tends to 1, so a short run's average is
    not dominated by the random initial weights (the rule of TensorFlow's
    ``ExponentialMovingAverage(num_updates=...)``, used by DDPM-style training loops).

    Args:
        decay: The target decay ``m`` in [0, 1].
        step: Number of updates already done (``n >= 0``), e.g. the optimiser step count.
    """
    if isinstance(step, bool) or int(step) != step or step < 0:
        raise bad_value("step", step, "an int >= 0 (updates done so far)")
    return min(_check_decay(decay), (1.0 + step) / (10.0 + step))


M = TypeVar("M", bound=nn.Module)


class EMA(nn.Module, Generic[M]):
    """EMA copy of a model.

    Args:
        model: Model to track; it is deep-copied (gradients off, eval mode).
        decay: Default momentum ``m`` of :meth:`update`.

    Attributes:
        module: The averaged model (call it for inference: ``ema.module(x)`` or ``ema(x)``).
        decay: Default momentum.
    """

    def __init__(self, model: M, decay: float = 0.999) -> None:
        super().__init__()
        self.decay = _check_decay(decay)
        self.module: M = copy.deepcopy(model)
        self.module.requires_grad_(False)
        self.module.eval()

    def train(self, mode: bool = True) -> EMA[M]:
        """The average stays in eval mode whatever its owner does."""
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged model."""
        return self.module(*args, **kwargs)

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        """One EMA step: ``xi = m * xi + (1 - m) * theta`` for every parameter and float buffer.

        Args:
            model: The trained model (same architecture as ``module``).
            decay: Momentum for this step (defaults to ``self.decay``; DINO passes its schedule).
        """
        m = self.decay if decay is None else _check_decay(decay)
        ema_p: list[torch.Tensor] = list(self.module.parameters())
        src_p: list[torch.Tensor] = list(model.parameters())
        if len(ema_p) != len(src_p):
            raise bad_value("model", type(model).__name__, "the architecture the EMA was built on")
        torch._foreach_lerp_(
            ema_p, [s.detach().to(e.dtype) for e, s in zip(ema_p, src_p, strict=True)], 1.0 - m
        )
        for e, s in zip(self.module.buffers(), model.buffers(), strict=True):
            if e.dtype.is_floating_point:
                e.lerp_(s.detach().to(e.dtype), 1.0 - m)
            else:
                e.copy_(s)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Load the averaged weights (parameters and buffers) into ``model``."""
        model.load_state_dict(self.module.state_dict())
