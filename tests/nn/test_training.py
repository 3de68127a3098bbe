"""The trainers' shared helper: seeded initialisation, resume checkpoint, atomic weight files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from eoforge.core.errors import DataNotFoundError
from eoforge.nn.encoders import build_encoder
from eoforge.nn.frozen import load_encoder, load_run_encoder
from eoforge.nn.training import resume_checkpoint, save_weights, seeded


def test_seeded_weights_depend_on_the_seed_only_and_leave_the_global_stream() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    with seeded(7):
        a = torch.nn.Linear(4, 3)
    after = torch.rand(3)  # the caller's stream continues as if nothing happened
    torch.testing.assert_close(after, expected_next, rtol=0, atol=0)
    torch.manual_seed(7)  # the closed form: the same as seeding by hand
    b = torch.nn.Linear(4, 3)
    with seeded(8):
        c = torch.nn.Linear(4, 3)
    assert torch.equal(a.weight, b.weight) and not torch.equal(a.weight, c.weight)


def test_resume_checkpoint(tmp_path: Path) -> None:
    assert resume_checkpoint(tmp_path) is None
    (tmp_path / "last.ckpt").write_bytes(b"x")
    assert resume_checkpoint(tmp_path) == str(tmp_path / "last.ckpt")


def test_save_weights_module_or_tensors_with_metadata(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    path = save_weights(net, tmp_path / "sub" / "w.safetensors", metadata={"format": "x"})
    state = load_file(str(path))
    assert set(state) == {"weight", "bias"} and torch.equal(state["weight"], net.weight)
    with safe_open(str(path), "pt") as fh:
        assert fh.metadata() == {"format": "x"}
    same = save_weights(dict(net.state_dict()), tmp_path / "v.safetensors")
    assert load_file(str(same)).keys() == state.keys()
    assert [p.name for p in path.parent.iterdir()] == ["w.safetensors"]  # no temporary left


class _Scale:
    """A stand-in normaliser: nn/ only stores and hands back its dict form."""

    def __init__(self, state: dict) -> None:
        self.state = state


def _run(tmp_path: Path) -> Path:
    kw = {"name": "vit-tiny/8", "in_chans": 1, "img_size": 16, "embed_dim": 16, "depth": 1}
    with seeded(0):
        encoder = build_encoder(**kw)
    save_weights(encoder, tmp_path / "teacher_backbone.safetensors")
    info = {"name": kw["name"], "build_kwargs": kw, "embed_dim": 16, "eval_size": 16}
    (tmp_path / "encoder.json").write_text(json.dumps(info))
    (tmp_path / "normaliser.json").write_text(json.dumps({"scale": 2.5}))
    return tmp_path


def test_frozen_builds_the_normaliser_it_is_given(tmp_path: Path) -> None:
    encoder, norm, info = load_run_encoder(_run(tmp_path), _Scale)
    assert isinstance(norm, _Scale) and norm.state == {"scale": 2.5}
    assert info["eval_size"] == 16 and not encoder.training


def test_frozen_refuses_a_missing_pair(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="ssl export"):
        load_encoder(tmp_path / "missing", _Scale)
