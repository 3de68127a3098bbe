"""A short CPU pre-training beats the random-init encoder on a planted linear-probe task.

Four planted classes that survive DINO's crops and photometric jitter: speckle only, stripes,
a bright disc, a front (step edge), each with a random orientation/position and a random
+-2 dB gain, under 4-look speckle. Labels are never seen by pre-training.
"""

import numpy as np
import torch

from eoforge.sar.wv import WVSet
from eoforge.ssl.embed import embed_images, load_teacher
from eoforge.ssl.pretrain import SSLConfig, build_seeded_encoder, pretrain
from eoforge.ssl.probe import probe_wv

torch.set_num_threads(1)


def planted_set(n: int, size: int = 32, seed: int = 0) -> WVSet:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = np.empty((n, size, size), np.float32)
    for i in range(n):
        th = rng.uniform(0, 2 * np.pi)
        u = xx * np.cos(th) + yy * np.sin(th)
        if y[i] == 0:
            pattern = np.zeros_like(xx)
        elif y[i] == 1:
            pattern = 3 * np.cos(2 * np.pi * u * rng.uniform(2, 4) + rng.uniform(0, 2 * np.pi))
        elif y[i] == 2:
            cx, cy = rng.uniform(0.2, 0.8, 2)
            pattern = 6.0 * (np.hypot(xx - cx, yy - cy) < rng.uniform(0.1, 0.25))
        else:
            pattern = 5 * np.tanh((u - np.median(u)) * 20)
        db = -15 + rng.normal(0, 2) + pattern
        images[i] = 10 ** (db / 10) * rng.gamma(4, 1 / 4, (size, size))
    nan = np.full(n, np.nan, np.float32)
    return WVSet(images, y.astype(np.int64), nan, nan, np.full(n, -1, np.int64),
                 classes=("speckle", "stripes", "disc", "front"))  # fmt: skip


def test_short_pretraining_beats_random_init_on_linear_probe(tmp_path):
    wv = planted_set(512)
    cfg = SSLConfig(encoder="vit-tiny/8", encoder_dim=32, encoder_depth=2, epochs=20,
                    batch_size=32, lr=5e-3, momentum_teacher=0.99, teacher_temp=0.02,
                    warmup_teacher_temp=0.02, out_dim=256, head_hidden_dim=64,
                    head_bottleneck_dim=32, n_local_crops=2, global_size=32, local_size=16,
                    warmup_epochs=1, accelerator="cpu", seed=0)  # fmt: skip
    run = pretrain(cfg, wv, tmp_path / "run")
    encoder, normaliser, _ = load_teacher(run)
    trained = probe_wv(embed_images(encoder, wv.images, normaliser, 32), wv, seed=0)
    random = probe_wv(embed_images(build_seeded_encoder(cfg), wv.images, normaliser, 32), wv,
                      seed=0)  # fmt: skip
    # measured: 0.53 vs 0.45 (linear), 0.51 vs 0.47 (kNN); chance is 0.25
    assert trained["linear_accuracy"] > random["linear_accuracy"] + 0.04
    assert trained["knn_accuracy"] > random["knn_accuracy"]
