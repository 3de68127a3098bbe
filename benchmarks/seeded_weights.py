"""Digests of seeded training outputs, to show a refactor leaves every seeded stream unchanged.

    python benchmarks/seeded_weights.py [--detector-only]

Prints the first 16 hex digits of the SHA-256 of: a 3-step methane detector (simulate stream,
seed 0), further detectors (bank stream with the noise channel, fine-tuned from the first, a
K = 3 bank with every file of its store, a resunet initialisation and the bank settings), an SSL
teacher after 2 epochs with dynamic curation and its exported encoder, the two
curated selection files, and four hierarchical k-means runs (assignments, centroids, sizes,
distances, progress calls). Run it before and after a change (e.g. on a clone of the old commit
with ``PYTHONPATH=CLONE/src``) and compare the lines. One thread; a few minutes on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

import eoforge
from eoforge.curation.dynamic import CurationConfig
from eoforge.curation.hierarchy import hierarchical_kmeans
from eoforge.methane.detector.model import PlumeUNet, UNetSpec
from eoforge.methane.detector.training.bank import bank_settings
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.run import train_detector
from eoforge.nn.training import seeded
from eoforge.sar.wv import synth_wv
from eoforge.ssl.export import export_encoder
from eoforge.ssl.pretrain import SSLConfig, pretrain

TINY_SSL = dict(encoder="vit-tiny/8", encoder_dim=32, encoder_depth=2, batch_size=16, out_dim=64,
                head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
                local_size=8, warmup_epochs=1, embed_batch_size=64, accelerator="cpu")  # fmt: skip


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def file_digest(path: Path) -> str:
    return digest(Path(path).read_bytes())


def detector_digests(tmp: Path, first: Path) -> None:
    """The bank stream, fine-tuning, K reference dates and the resunet's initialisation."""
    base = dict(steps=3, batch_size=2, patch=64, widths=(4, 8), threads=1, seed=0, device="cpu")
    bank = DetectorConfig(**base, bank_items=4, plume_pool=4, bank_block=4, noise_channel=True)
    print("detector bank", file_digest(train_detector(bank, tmp / "bank")))
    init = DetectorConfig(**{**base, "seed": 1}, stream="simulate", init=str(first),
                          noise_channel=True)  # fmt: skip
    print("detector init", file_digest(train_detector(init, tmp / "init")))
    k3 = DetectorConfig(**{**base, "steps": 2, "patch": 32}, bank_items=3, plume_pool=3,
                        bank_block=3, reference_dates=3)  # fmt: skip
    print("detector K=3", file_digest(train_detector(k3, tmp / "k3")))
    store = sorted(p for p in (tmp / "k3" / "bank.zarr").rglob("*") if p.is_file())
    print("detector K=3 bank", digest(*(p.read_bytes() for p in store)))
    print("detector bank settings", digest(json.dumps(bank_settings(k3)).encode()))
    with seeded(5):  # the global generator is left as it was
        net = PlumeUNet(UNetSpec(12, (8, 16, 32), 9, "resunet", (1, 2, 2)))
    print("resunet init", digest(*(v.numpy().tobytes() for v in net.state_dict().values())))


def training_digests(tmp: Path) -> None:
    cfg = DetectorConfig(steps=3, batch_size=2, patch=64, widths=(4, 8), threads=1, seed=0,
                         stream="simulate")  # fmt: skip
    print("detector", file_digest(first := train_detector(cfg, tmp / "det")))
    detector_digests(tmp, first)
    if "--detector-only" in sys.argv:
        return
    cur = CurationConfig(mode="dynamic", warmup_epochs=1, refresh_every=1, ratio=0.5,
                         n_clusters=(6, 2))  # fmt: skip
    wv = synth_wv(96, size=16, seed=1)
    run = pretrain(SSLConfig(**TINY_SSL, epochs=2, curation=cur), wv, tmp / "ssl")
    print("ssl teacher", file_digest(run / "teacher_backbone.safetensors"))
    print("ssl export", file_digest(export_encoder(run, tmp / "enc")[0]))
    for e in range(2):
        print(f"selection {e}", file_digest(run / "selections" / f"epoch_{e:04d}.npz"))


def hierarchy_digests() -> None:
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(3000, 16)) + rng.integers(0, 5, (3000, 1)) * 3).astype(np.float32)
    calls: list[tuple[int, int]] = []
    settings = [
        {},
        {"warm_start": True, "polish_n_iter": 3},
        {"spherical": True, "backend": "torch", "n_resampling": (3, 2)},
        {"sample_size": (4, None), "n_resampling": 2},
    ]
    for kw in settings:
        h = hierarchical_kmeans(X, (40, 8), seed=3, progress=lambda d, t: calls.append((d, t)),
                                **kw)  # fmt: skip
        arrays = (*h.assignments, *h.centroids, *h.sizes, h.distances)
        print("hierarchy", kw, digest(*(np.ascontiguousarray(a).tobytes() for a in arrays)))
    print("hierarchy progress calls", digest(str(calls).encode()))


if __name__ == "__main__":
    torch.set_num_threads(1)
    print("eoforge from", Path(eoforge.__file__).parent)
    if "--detector-only" not in sys.argv:
        hierarchy_digests()
    with tempfile.TemporaryDirectory() as tmp:
        training_digests(Path(tmp))
