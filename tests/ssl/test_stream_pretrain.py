"""DINO pre-training streamed from Zarr stores: the curator's pool comes from a few whole chunks,
the step count matches the selection, and the run resumes."""

import json

import numpy as np

from eoforge.curation.dynamic import CurationConfig
from eoforge.sar.store import write_synth_wv
from eoforge.sar.stream import WVArchive
from eoforge.ssl.pretrain import SSLConfig, load_data, pretrain

TINY = dict(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, batch_size=8, out_dim=32,
            head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
            local_size=8, embed_batch_size=32, accelerator="cpu", stream=True,
            curation=CurationConfig(mode="dynamic", warmup_epochs=1, refresh_every=1,
                                    pool_size=40, ratio=0.5, n_clusters=(6, 2)))  # fmt: skip


def test_streamed_pretraining_curates_from_chunk_pools(tmp_path):
    a = write_synth_wv(tmp_path / "a.zarr", 96, seed=0, size=16, encoding="uint8",
                       sample_chunk=16)  # fmt: skip
    b = write_synth_wv(tmp_path / "b.zarr", 64, seed=1, size=16, encoding="float16",
                       sample_chunk=16)  # fmt: skip
    data = f"{a},{b}"
    assert isinstance(load_data(data, stream=None), WVArchive)  # several stores are streamed
    run = pretrain(SSLConfig(**TINY, epochs=2), data, tmp_path / "run")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs_done"] == 2
    assert metrics["global_steps"] == 160 // 8 + 20 // 8  # full warm-up, then half a pool of 40
    history = json.loads((run / "curation_history.json").read_text())
    assert [(h["kind"], h["n_pool"], h["n_selected"]) for h in history] == [
        ("full", 160, 160), ("curated", 40, 20)
    ]  # fmt: skip
    sel = np.load(run / "selections" / "epoch_0001.npz")["indices"]
    # the pool is drawn from ceil(40 / 16) + 1 = 4 chunks at most (a uniform pool hits ~all 10)
    assert np.unique(sel // 16).size <= 4
    again = pretrain(SSLConfig(**TINY, epochs=3), data, tmp_path / "run")  # resumes
    metrics = json.loads((again / "metrics.json").read_text())
    assert metrics["epochs_done"] == 3 and metrics["global_steps"] == 20 + 2 + 2
    assert len(json.loads((run / "curation_history.json").read_text())) == 3
