"""Pre-training runs: resume == uninterrupted, curation state survives resume, outputs load back."""

import json

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eoforge.core.errors import ConfigError, DataNotFoundError
from eoforge.curation.dynamic import CurationConfig
from eoforge.sar.wv import synth_wv
from eoforge.ssl.embed import embed_images, load_teacher
from eoforge.ssl.pretrain import SSLConfig, build_seeded_encoder, pretrain

torch.set_num_threads(1)

TINY = dict(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, batch_size=16, out_dim=32,
            head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
            local_size=8, warmup_epochs=1, embed_batch_size=64)  # fmt: skip


@pytest.fixture(scope="module")
def wv():
    return synth_wv(96, size=16, seed=1)


class StopAfter(pl.Callback):
    """Simulate an interruption: stop once ``epoch`` has finished (its checkpoint is written)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def test_resume_after_interruption_equals_uninterrupted_run(wv, tmp_path):
    cur = CurationConfig(mode="dynamic", warmup_epochs=1, refresh_every=1, ratio=0.5,
                         n_clusters=(6, 2))  # fmt: skip
    cfg = SSLConfig(**TINY, epochs=4, curation=cur)
    full = pretrain(cfg, wv, tmp_path / "full")
    part = pretrain(cfg, wv, tmp_path / "part", callbacks=[StopAfter(1)])
    m_part = json.loads((part / "metrics.json").read_text())
    assert m_part["epochs_done"] == 2
    resumed = pretrain(cfg, wv, tmp_path / "part")
    m_full = json.loads((full / "metrics.json").read_text())
    m_res = json.loads((resumed / "metrics.json").read_text())
    assert m_res["epochs_done"] == m_full["epochs_done"] == 4
    assert m_res["global_steps"] == m_full["global_steps"] == 6 + 3 * 3  # 96 images, then 48
    a = load_file(str(full / "teacher_backbone.safetensors"))
    b = load_file(str(resumed / "teacher_backbone.safetensors"))
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    # the curated selections made after the resume are those of the uninterrupted run
    for e in range(4):
        sa = np.load(full / "selections" / f"epoch_{e:04d}.npz")["indices"]
        sb = np.load(resumed / "selections" / f"epoch_{e:04d}.npz")["indices"]
        assert np.array_equal(sa, sb)
    hist = json.loads((resumed / "curation_history.json").read_text())
    assert [h["kind"] for h in hist] == ["full", "curated", "curated", "curated"]
    assert [h["n_selected"] for h in hist] == [96, 48, 48, 48]


def test_outputs_load_back_and_differ_from_init(wv, tmp_path):
    cfg = SSLConfig(**TINY, epochs=1)
    run = pretrain(cfg, wv, tmp_path / "run")
    encoder, normaliser, info = load_teacher(run)
    assert info["embed_dim"] == encoder.embed_dim == 16 and info["eval_size"] == 16
    feats = embed_images(encoder, wv.images, normaliser, 16, batch_size=40)
    assert feats.shape == (96, 16) and np.isfinite(feats).all()
    init = build_seeded_encoder(cfg)
    assert any(not torch.equal(p, init.state_dict()[k]) for k, p in encoder.state_dict().items())
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("loss", "teacher_entropy", "teacher_kl_uniform", "embedding_std"):
        assert np.isfinite(metrics["final"][key])
    assert metrics["final"]["teacher_entropy"] <= np.log(32) + 1e-4


def test_resume_with_other_settings_or_data_is_refused(wv, tmp_path):
    cfg = SSLConfig(**TINY, epochs=1)
    pretrain(cfg, wv, tmp_path / "run")
    before = (tmp_path / "run" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="config key 'out_dim' 32 -> 64"):
        pretrain(SSLConfig(**{**TINY, "out_dim": 64}, epochs=1), wv, tmp_path / "run")
    with pytest.raises(ConfigError, match="--batch-size 16 -> 8"):
        pretrain(SSLConfig(**{**TINY, "batch_size": 8}, epochs=1), wv, tmp_path / "run")
    # a store of another seed (same shape) or another length: the data differ, not a crash
    for other in (synth_wv(96, size=16, seed=7), synth_wv(80, size=16, seed=1)):
        with pytest.raises(ConfigError, match="training data 96x16x16"):
            pretrain(cfg, other, tmp_path / "run")
    assert (tmp_path / "run" / "config.yaml").read_text() == before
    # more epochs on the same data: allowed
    pretrain(cfg.updated(epochs=2), wv, tmp_path / "run")
    with pytest.raises(DataNotFoundError):
        pretrain(SSLConfig(**TINY), tmp_path / "missing.zarr", tmp_path / "other")
