"""DINO loss against hand-computed values, centre EMA, head, schedules, collapse statistics."""

import math

import numpy as np
import pytest
import torch

from eoforge.core.errors import ShapeError
from eoforge.ssl.dino import (
    DINOHead,
    DINOLoss,
    collapse_stats,
    cosine_schedule,
    teacher_momentum,
    teacher_temperature,
)


def test_loss_hand_computed_uniform_teacher():
    # teacher logits equal -> P_t = (1/2, 1/2); student softmax(s / 0.1) = (1/4, 3/4)
    # CE = -(1/2)(ln 1/4 + ln 3/4) = ln 4 - ln(3)/2 for every pair
    loss_fn = DINOLoss(2, student_temp=0.1)
    s = torch.tensor([[0.0, 0.1 * math.log(3.0)]]).repeat(3, 1)  # 3 views, B = 1
    t = torch.zeros(2, 2)
    loss = loss_fn(s, t, n_global=2, teacher_temp=0.04)
    assert float(loss) == pytest.approx(math.log(4) - 0.5 * math.log(3), abs=1e-6)


def _reference(s, t, center, n_global, tau_s, tau_t):
    """Independent NumPy loop over (global g, view v != g) pairs."""
    B = t.shape[0] // n_global
    V = s.shape[0] // B
    total, pairs = 0.0, 0
    for g in range(n_global):
        tg = (t[g * B : (g + 1) * B] - center) / tau_t
        pt = np.exp(tg - tg.max(1, keepdims=True))
        pt /= pt.sum(1, keepdims=True)
        for v in range(V):
            if v == g:
                continue
            sv = s[v * B : (v + 1) * B] / tau_s
            log_ps = sv - sv.max(1, keepdims=True)
            log_ps -= np.log(np.exp(log_ps).sum(1, keepdims=True))
            total += float((-(pt * log_ps).sum(1)).mean())
            pairs += 1
    return total / pairs


def test_loss_matches_reference_excludes_same_view_and_centres():
    rng = np.random.default_rng(0)
    B, K, G, L = 3, 5, 2, 2
    s = rng.normal(size=((G + L) * B, K)).astype(np.float32)
    t = rng.normal(size=(G * B, K)).astype(np.float32)
    loss_fn = DINOLoss(K, student_temp=0.1, center_momentum=0.9)
    c0 = rng.normal(size=(1, K)).astype(np.float32)
    loss_fn.center.copy_(torch.from_numpy(c0))
    got = float(loss_fn(torch.from_numpy(s), torch.from_numpy(t), G, teacher_temp=0.07))
    assert got == pytest.approx(_reference(s, t, c0, G, 0.1, 0.07), rel=1e-5)
    # with the same-view pairs included the value would differ
    s_same = s.copy()
    s_same[:B] *= 3.0  # changing student view 0 only changes pairs (g=1, v=0)
    got2 = float(
        DINOLoss(K).requires_grad_(False)(torch.from_numpy(s_same), torch.from_numpy(t), G, 0.07)
    )
    assert got2 == pytest.approx(_reference(s_same, t, np.zeros((1, K)), G, 0.1, 0.07), rel=1e-5)
    # centre EMA: c = 0.9 c0 + 0.1 mean(teacher)
    np.testing.assert_allclose(
        loss_fn.center.numpy(), 0.9 * c0 + 0.1 * t.mean(0, keepdims=True), rtol=1e-6
    )


def test_loss_gradient_flows_to_student_only():
    s = torch.randn(6, 4, requires_grad=True)
    t = torch.randn(4, 4, requires_grad=True)
    DINOLoss(4)(s, t, 2, 0.04).backward()
    assert s.grad is not None and t.grad is None


def test_loss_rejects_inconsistent_shapes():
    with pytest.raises(ShapeError, match="global views"):
        DINOLoss(4)(torch.randn(5, 4), torch.randn(4, 4), 2, 0.04)


def test_head_normalised_last_layer():
    head = DINOHead(8, out_dim=16, hidden_dim=12, bottleneck_dim=4)
    with torch.no_grad():
        out = head(torch.randn(3, 8))
    assert out.shape == (3, 16)
    assert float(out.abs().max()) <= 1.0 + 1e-5  # cosine between unit vectors, g = 1
    assert not head.last_g.requires_grad
    assert DINOHead(8, 16, norm_last_layer=False).last_g.requires_grad


def test_schedules_closed_form():
    assert teacher_momentum(0, 100) == pytest.approx(0.996)
    assert teacher_momentum(50, 100) == pytest.approx(0.998)
    assert teacher_momentum(100, 100) == pytest.approx(1.0)
    # linear warm-up 0 -> 1e-3 over 10 steps, then cosine to 1e-6 over the next 90
    assert cosine_schedule(5, 100, 1e-3, 1e-6, warmup_steps=10) == pytest.approx(5e-4)
    assert cosine_schedule(10, 100, 1e-3, 1e-6, warmup_steps=10) == pytest.approx(1e-3)
    assert cosine_schedule(55, 100, 1e-3, 1e-6, warmup_steps=10) == pytest.approx(
        1e-6 + 0.5 * (1e-3 - 1e-6)
    )
    assert cosine_schedule(500, 100, 0.04, 0.4) == pytest.approx(0.4)
    assert teacher_temperature(0, 0.02, 0.06, 4) == pytest.approx(0.02)
    assert teacher_temperature(2, 0.02, 0.06, 4) == pytest.approx(0.04)
    assert teacher_temperature(9, 0.02, 0.06, 4) == pytest.approx(0.06)


def test_collapse_stats_detect_collapse():
    K = 8
    healthy = collapse_stats(torch.randn(64, K) * 0.01, torch.zeros(1, K), 1.0, torch.randn(64, 16))
    assert healthy["teacher_entropy"] == pytest.approx(math.log(K), abs=1e-3)
    assert healthy["teacher_kl_uniform"] == pytest.approx(0.0, abs=1e-4)
    assert healthy["embedding_std"] == pytest.approx(1 / 4, rel=0.2)  # ~ 1/sqrt(16)
    t = torch.zeros(64, K)
    t[:, 0] = 100.0  # every sample on one prototype
    dead = collapse_stats(t, torch.zeros(1, K), 0.04, torch.ones(64, 16))
    assert dead["teacher_entropy"] == pytest.approx(0.0, abs=1e-6)
    assert dead["teacher_kl_uniform"] == pytest.approx(math.log(K), abs=1e-5)
    assert dead["embedding_std"] == pytest.approx(0.0, abs=1e-7)
