"""EMA: exact update rule for parameters and buffers, state round-trip, copy_to."""

import copy

import pytest
import torch
from torch import nn

from eoforge.core.errors import InputError
from eoforge.nn.ema import EMA


def _model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_is_lerp_for_params_and_float_buffers():
    student = _model(0)
    ema = EMA(student, decay=0.9)
    xi0 = copy.deepcopy(ema.module.state_dict())
    student.train()
    student(torch.randn(8, 3))  # moves BN running stats
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    ema.update(student)
    for k, v in ema.module.state_dict().items():
        theta = student.state_dict()[k]
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, 0.9 * xi0[k] + 0.1 * theta)
        else:
            assert torch.equal(v, theta)  # num_batches_tracked copied
    ema.update(student, decay=0.0)
    for k, v in ema.module.state_dict().items():
        torch.testing.assert_close(v, student.state_dict()[k].to(v.dtype))


def test_frozen_eval_and_state_roundtrip():
    student = _model(1)
    ema = EMA(student, decay=0.5)
    ema.train()
    assert not ema.module.training
    assert not any(p.requires_grad for p in ema.module.parameters())
    other = EMA(_model(2), decay=0.5)
    other.load_state_dict(ema.state_dict())
    target = _model(3)
    other.copy_to(target)
    for k, v in target.state_dict().items():
        assert torch.equal(v, student.state_dict()[k])
    with pytest.raises(InputError, match="decay"):
        EMA(student, decay=1.5)


def test_warmup_decay_closed_form():
    from eoforge.nn.ema import warmup_decay

    assert warmup_decay(0.9999, 0) == pytest.approx(0.1)
    assert warmup_decay(0.9999, 10) == pytest.approx(11 / 20)
    assert warmup_decay(0.5, 100) == 0.5  # the target caps the ramp
    assert warmup_decay(0.999, 10**6) == 0.999
    with pytest.raises(InputError, match="step"):
        warmup_decay(0.9, -1)
    with pytest.raises(InputError, match="decay"):
        warmup_decay(1.5, 3)
