"""DDP on CPU: two gloo processes; sharded embedding for curation gathers in the right order."""

import json

import numpy as np
import pytest
import torch

from eoforge.curation.dynamic import CurationConfig
from eoforge.sar.wv import synth_wv
from eoforge.ssl.pretrain import SSLConfig, pretrain
from tests.gloo import retry_gloo_mesh

torch.set_num_threads(1)

TINY = dict(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, batch_size=8, out_dim=32,
            head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
            local_size=8, warmup_epochs=0, embed_batch_size=16, accelerator="cpu",
            curation=CurationConfig(mode="static", ratio=0.5, n_clusters=(6, 2)))  # fmt: skip


@pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="needs gloo")
def test_two_cpu_processes_match_single_process_curation(tmp_path):
    wv = synth_wv(64, size=16, seed=3)
    single = pretrain(SSLConfig(**TINY, epochs=1, devices=1), wv, tmp_path / "one")
    ddp = retry_gloo_mesh(lambda attempt: pretrain(
        SSLConfig(**TINY, epochs=1, devices=2), wv, tmp_path / f"two{attempt}"
    ))  # fmt: skip
    # static curation at epoch 0 embeds with the (identical) initial teacher: the selection made
    # from embeddings sharded over two ranks and gathered equals the single-process one
    sel1 = np.load(single / "selections" / "epoch_0000.npz")["indices"]
    sel2 = np.load(ddp / "selections" / "epoch_0000.npz")["indices"]
    assert sel1.size == 32 and np.array_equal(sel1, sel2)
    m1 = json.loads((single / "metrics.json").read_text())
    m2 = json.loads((ddp / "metrics.json").read_text())
    assert m1["global_steps"] == 32 // 8
    assert m2["global_steps"] == 32 // (8 * 2)  # each rank takes half of the selection
    assert m2["images_seen"] == m1["images_seen"] == 32
    assert np.isfinite(m2["final"]["loss"])
