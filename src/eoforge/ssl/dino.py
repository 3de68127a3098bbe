r"""DINO (Caron et al., 2021): projection head, centred cross-entropy loss and schedules.

The student :math:`g_{\theta_s}` and the teacher :math:`g_{\theta_t}` (an EMA of the student)
map a crop :math:`x` to ``K`` logits; their distributions are

.. math::

    P_s(x) = \mathrm{softmax}(g_{\theta_s}(x) / \tau_s), \qquad
    P_t(x) = \mathrm{softmax}((g_{\theta_t}(x) - c) / \tau_t),

with the centre :math:`c \leftarrow m_c c + (1 - m_c) \frac{1}{B}\sum_i g_{\theta_t}(x_i)`
(updated after each step, averaged over all DDP ranks). The loss over global crops ``G`` and all
crops ``V`` (global + local) is the mean over pairs of different views

.. math::

    \mathcal{L} = \frac{1}{|\{(g, v): v \neq g\}|} \sum_{g \in G} \sum_{v \in V, v \neq g}
    \frac{1}{B} \sum_{i} - P_t(x^g_i)^\top \log P_s(x^v_i).

Schedules (per optimiser step ``k`` out of ``K_tot``): cosine learning rate after a linear warm-up,
cosine weight decay 0.04 -> 0.4, teacher momentum
:math:`m_k = 1 - (1 - m_0)(\cos(\pi k / K_{tot}) + 1)/2` (``m_0 = 0.996 -> 1``), and a
teacher temperature warmed up linearly from 0.04 then constant.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from eoforge.core.errors import ShapeError, bad_value

# -- schedules ------------------------------------------------------------------------------------


def cosine_schedule(
    step: int,
    total_steps: int,
    base: float,
    final: float,
    warmup_steps: int = 0,
    warmup_start: float = 0.0,
) -> float:
    """Value at ``step`` of a linear warm-up then a half-cosine from ``base`` to ``final``.

    ``v(k) = warmup_start + (base - warmup_start) k / W`` for ``k < W``, then
    ``v(k) = final + (base - final)(1 + cos(pi (k - W) / (K - W))) / 2``; constant ``final`` after
    ``K`` (= ``total_steps``).
    """
    if total_steps < 1:
        raise bad_value("total_steps", total_steps, "a positive integer")
    if step < warmup_steps:
        return warmup_start + (base - warmup_start) * step / warmup_steps
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    return final + 0.5 * (base - final) * (1.0 + math.cos(math.pi * progress))


def teacher_momentum(step: int, total_steps: int, base: float = 0.996, final: float = 1.0) -> float:
    """EMA momentum ``m_k = final - (final - base)(cos(pi k / K) + 1) / 2`` (DINO)."""
    return cosine_schedule(step, total_steps, base, final)


def teacher_temperature(
    epoch: float, warmup: float = 0.04, final: float = 0.04, warmup_epochs: float = 0
) -> float:
    """Teacher temperature: linear ``warmup`` -> ``final`` over ``warmup_epochs``, then flat."""
    if warmup_epochs <= 0 or epoch >= warmup_epochs:
        return final
    return warmup + (final - warmup) * epoch / warmup_epochs


# -- head -----------------------------------------------------------------------------------------


class DINOHead(nn.Module):
    """Projection head: 3-layer GELU MLP, L2 normalisation, weight-normalised last layer.

    ``h = MLP(y)``, ``z = h / ||h||``, logits ``= g * V z / ||V||_row`` with ``g = 1`` fixed when
    ``norm_last_layer`` (DINO's default for stability), learned otherwise.

    Args:
        in_dim: Backbone feature size.
        out_dim: Number of prototypes ``K``.
        hidden_dim: MLP width.
        bottleneck_dim: Width before the last layer.
        norm_last_layer: Keep the last layer's row norms fixed at 1.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 4096,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.GELU(),
            nn.Linear(hidden_dim, bottleneck_dim),
        )
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)
        self.last_v = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.last_v, std=0.02)
        self.last_g = nn.Parameter(torch.ones(out_dim, 1), requires_grad=not norm_last_layer)

    @property
    def last_layer_params(self) -> list[nn.Parameter]:
        """Parameters of the last layer (frozen during DINO's first epoch)."""
        return [self.last_v, self.last_g]

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim) logits."""
        z = F.normalize(self.mlp(y), dim=-1)  # (B, bottleneck)
        w = self.last_g * F.normalize(self.last_v, dim=-1)  # (K, bottleneck)
        return z @ w.t()


# -- loss -----------------------------------------------------------------------------------------


class DINOLoss(nn.Module):
    r"""Centred, sharpened cross-entropy between teacher and student views (see module docstring).

    Args:
        out_dim: Number of prototypes ``K``.
        student_temp: :math:`\tau_s`.
        center_momentum: :math:`m_c`.

    Attributes:
        center: Buffer (1, K), the running centre ``c``.
    """

    def __init__(
        self, out_dim: int, student_temp: float = 0.1, center_momentum: float = 0.9
    ) -> None:
        super().__init__()
        if student_temp <= 0:
            raise bad_value("student_temp", student_temp, "a positive float")
        if not 0 <= center_momentum <= 1:
            raise bad_value("center_momentum", center_momentum, "a float in [0, 1]")
        self.student_temp = student_temp
        self.center_momentum = center_momentum
        self.center: torch.Tensor
        self.register_buffer("center", torch.zeros(1, out_dim))

    def forward(
        self,
        student_out: torch.Tensor,
        teacher_out: torch.Tensor,
        n_global: int,
        teacher_temp: float,
        update_center: bool = True,
    ) -> torch.Tensor:
        r"""Loss for one batch; then (optionally) update the centre.

        Args:
            student_out: (V * B, K) student logits, crops stacked view by view (globals first).
            teacher_out: (G * B, K) teacher logits of the ``G = n_global`` global views.
            n_global: Number of global views ``G``.
            teacher_temp: :math:`\tau_t` for this step.
            update_center: Update ``center`` with this batch's teacher mean.

        Returns:
            Scalar loss.
        """
        if teacher_out.shape[0] % n_global or student_out.shape[0] % (
            teacher_out.shape[0] // n_global
        ):
            raise ShapeError(
                f"teacher_out {tuple(teacher_out.shape)} and student_out "
                f"{tuple(student_out.shape)} do not split into {n_global} global views of a batch."
            )
        B = teacher_out.shape[0] // n_global
        n_views = student_out.shape[0] // B
        log_ps = F.log_softmax(student_out.float() / self.student_temp, dim=-1).chunk(n_views)
        pt = F.softmax((teacher_out.float() - self.center) / teacher_temp, dim=-1)
        pts = pt.detach().chunk(n_global)
        total = student_out.new_zeros((), dtype=torch.float32)
        n_pairs = 0
        for g, p in enumerate(pts):
            for v, lq in enumerate(log_ps):
                if v == g:
                    continue
                total = total + (-p * lq).sum(dim=-1).mean()
                n_pairs += 1
        if update_center:
            self.update_center(teacher_out)
        return total / n_pairs

    @torch.no_grad()
    def update_center(self, teacher_out: torch.Tensor) -> None:
        """``c <- m c + (1 - m) mean(teacher_out)`` with the mean over all ranks' batches."""
        batch_sum = teacher_out.float().sum(dim=0, keepdim=True)  # (1, K)
        count = torch.tensor([float(teacher_out.shape[0])], device=teacher_out.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(batch_sum)
            dist.all_reduce(count)
        self.center.mul_(self.center_momentum).add_(batch_sum / count * (1 - self.center_momentum))


# -- collapse monitoring -------------------------------------------------------------------------


@torch.no_grad()
def collapse_stats(
    teacher_out: torch.Tensor, center: torch.Tensor, teacher_temp: float, features: torch.Tensor
) -> dict[str, float]:
    r"""Collapse indicators of one batch.

    * ``teacher_entropy``: mean over samples of :math:`H(P_t(x_i))` (-> 0 when every output is
      one-hot: sharpening collapse);
    * ``teacher_kl_uniform``: :math:`\log K - H(\bar P_t)` of the batch-mean distribution (-> 0
      when the mean is uniform; large when one prototype dominates: collapse onto one mode);
    * ``embedding_std``: mean over dimensions of the std across the batch of L2-normalised backbone
      features (about :math:`1/\sqrt{D}` when spread, -> 0 on collapse).
    """
    pt = F.softmax((teacher_out.float() - center) / teacher_temp, dim=-1)  # (N, K)
    ent = -(pt * torch.log(pt.clamp_min(1e-12))).sum(-1).mean()
    mean_p = pt.mean(0)
    kl = math.log(pt.shape[-1]) + (mean_p * torch.log(mean_p.clamp_min(1e-12))).sum()
    z = F.normalize(features.float(), dim=-1)
    return {
        "teacher_entropy": float(ent),
        "teacher_kl_uniform": float(kl),
        "embedding_std": float(z.std(0).mean()) if z.shape[0] > 1 else 0.0,
    }
