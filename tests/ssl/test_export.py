"""Encoder export: run folder -> .safetensors + .json pair -> the same encoder and normaliser."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.nn.encoders import build_encoder
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.wv import synth_wv
from eoforge.ssl.embed import embed_images, load_teacher
from eoforge.ssl.export import export_encoder, load_encoder
from eoforge.ssl.pretrain import SSLConfig

torch.set_num_threads(1)


def fake_run(path, seed=0):
    """A run folder in the layout ``pretrain`` writes (random-init teacher, fitted normaliser)."""
    path.mkdir(parents=True)
    kw = {"name": "vit-tiny/8", "in_chans": 1, "img_size": 16, "embed_dim": 16, "depth": 1}
    torch.manual_seed(seed)
    encoder = build_encoder(**kw)
    save_file(encoder.state_dict(), str(path / "teacher_backbone.safetensors"))
    info = {"name": kw["name"], "build_kwargs": kw, "embed_dim": 16, "eval_size": 16}
    (path / "encoder.json").write_text(json.dumps(info))
    norm = DbNormaliser().fit(synth_wv(16, size=16, seed=seed).images)
    (path / "normaliser.json").write_text(json.dumps(norm.to_dict()))
    SSLConfig(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, global_size=16).save(
        path / "config.yaml"
    )
    (path / "metrics.json").write_text(json.dumps({"epochs_done": 1, "per_epoch": [{}]}))
    return path


def test_export_round_trip_and_provenance(tmp_path):
    run = fake_run(tmp_path / "run")
    weights, meta = export_encoder(run, tmp_path / "out" / "enc", command="make it")
    assert weights.name == "enc.safetensors" and meta.name == "enc.json"
    enc_a, norm_a, info_a = load_teacher(run)
    for path in (tmp_path / "out" / "enc", weights, meta):  # stem or either file
        enc_b, norm_b, info_b = load_encoder(path)
        assert info_b == info_a and norm_b.to_dict() == norm_a.to_dict()
        assert not enc_b.training and not any(p.requires_grad for p in enc_b.parameters())
        for k, v in enc_a.state_dict().items():
            assert torch.equal(v, enc_b.state_dict()[k])
    images = synth_wv(8, size=16, seed=3).images
    np.testing.assert_array_equal(
        embed_images(enc_a, images, norm_a, 16), embed_images(enc_b, images, norm_b, 16)
    )
    doc = json.loads(meta.read_text())
    assert doc["training"]["command"] == "make it"
    assert doc["training"]["config"]["encoder_dim"] == 16
    assert "per_epoch" not in doc["training"]["metrics"]


def test_mismatched_or_missing_files_are_refused(tmp_path):
    w1, _ = export_encoder(fake_run(tmp_path / "a", seed=0), tmp_path / "one")
    w2, _ = export_encoder(fake_run(tmp_path / "b", seed=1), tmp_path / "two")
    w1.write_bytes(w2.read_bytes())  # weights of another export beside one.json
    with pytest.raises(InputError, match="SHA-256"):
        load_encoder(w1)
    with pytest.raises(DataNotFoundError, match="eoforge ssl export"):
        load_encoder(tmp_path / "missing")
    (tmp_path / "bad.json").write_text("{}")
    (tmp_path / "bad.safetensors").write_bytes(w2.read_bytes())
    with pytest.raises(InputError, match="not an eoforge encoder"):
        load_encoder(tmp_path / "bad")
    with pytest.raises(DataNotFoundError, match="pre-training run"):
        export_encoder(tmp_path / "a" / "nothing", tmp_path / "x")


def test_cli_export(tmp_path):
    from typer.testing import CliRunner

    from eoforge.cli.ssl import app

    run = fake_run(tmp_path / "run")
    res = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "enc"),
                                   "--command", "eoforge ssl pretrain ..."])  # fmt: skip
    assert res.exit_code == 0, res.output
    _, _, info = load_encoder(tmp_path / "enc")
    assert info["eval_size"] == 16
    assert "eoforge ssl pretrain" in (tmp_path / "enc.json").read_text()
