"""Digests of the diffusion wing's seeded outputs, to show a refactor leaves them unchanged.

    python benchmarks/diffusion_seeded_digest.py

Prints the first 16 hex digits of the SHA-256 of: a seeded U-Net initialisation
(``build_model``), a 6-step training run (``model.safetensors``, ``ema.safetensors``,
``train_log.csv``, ``normaliser.json``, the checkpoint's sampler history), the same run stopped
at 3 steps and resumed, samples of every sampler from that run (``generate``), a sampler
comparison (``compare_samplers`` with the random-convolution features, timings dropped), the
metrics of ``evaluate``, and the shipped SSL encoder's features through
``SSLFeatures.shipped`` and ``resolve_features(<the pair's path>)``. Run it before and after a
change (on a clone of the old commit with ``PYTHONPATH=CLONE/src``) and compare the lines. One
thread; about a minute on the CPU.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

import eoforge
from eoforge.diffusion import RandomConvFeatures, SSLFeatures, compare_samplers, load_run
from eoforge.diffusion.evaluation.evaluate import evaluate
from eoforge.diffusion.evaluation.features import resolve_features
from eoforge.diffusion.generate import generate
from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.training.config import DiffusionConfig, build_model
from eoforge.diffusion.training.train import train
from eoforge.nn.frozen import SHIPPED_ENCODER


def digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part)
    return h.hexdigest()[:16]


def array_digest(x: np.ndarray | torch.Tensor) -> str:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return digest(str(a.dtype).encode(), str(a.shape).encode(), np.ascontiguousarray(a).tobytes())


def speckle(n: int = 24, size: int = 16, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.1, 1.0, (n, 1, 1))
    return (scale * rng.gamma(4, 0.25, (n, size, size))).astype(np.float32)


def config(steps: int) -> DiffusionConfig:
    unet = UNetConfig(image_size=16, block_out_channels=(8, 16), attention_levels=(1,),
                      learned_variance=True, dropout=0.1, num_classes=2)  # fmt: skip
    return DiffusionConfig(
        unet=unet, num_timesteps=20, steps=steps, batch_size=4, accumulate=2, lr=1e-3,
        checkpoint_every=2, sample_every=3, sample_n=2, sample_steps=2, log_every=1,
        ema_decay=0.9, seed=3,
    )  # fmt: skip


def run_digests(run: Path) -> str:
    names = ("model.safetensors", "ema.safetensors", "train_log.csv", "normaliser.json")
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)
    hist = ckpt["eoforge"]["tsampler"]["history"]
    return " ".join([*(digest((run / n).read_bytes()) for n in names), array_digest(hist)])


def training_digests(tmp: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    net = build_model(config(1))
    print("build_model", digest(*(array_digest(v).encode() for v in net.state_dict().values())))
    before = torch.get_rng_state()
    straight = train(config(6), images, labels, tmp / "straight")
    print("global RNG untouched", torch.equal(before, torch.get_rng_state()))
    print("train 6 steps", run_digests(straight))
    train(config(3), images, labels, tmp / "resumed")
    resumed = train(config(6), images, labels, tmp / "resumed")
    print("train 3+3 resumed", run_digests(resumed))
    return straight


def sampling_digests(run: Path, reference: np.ndarray) -> None:
    for sampler, steps in (("ddpm", 20), ("ddim", 5), ("dpm++", 5), ("heun", 3)):
        x = generate(run, n=5, sampler=sampler, steps=steps, seed=1, batch_size=3, device="cpu")
        print(f"generate {sampler}:{steps}", array_digest(x))
    model, schedule, normaliser, cfg = load_run(run)
    rows = compare_samplers(
        model, schedule, reference, configs=[("ddpm", 20), ("dpm++", 4), ("logsnr-ddim", 4)],
        n=6, shape=(1, 16, 16), seed=2, inverse=normaliser.inverse_transform,
        features=RandomConvFeatures(width=4), batch_size=6,
        sample_kwargs={"variance": cfg.variance, "prediction": cfg.prediction,
                       "model_kwargs": {"class_labels": torch.arange(6) % 2}},
    )  # fmt: skip
    for row in rows:
        row.pop("seconds_per_sample")
    print("compare_samplers", digest(json.dumps(rows, sort_keys=True, default=str).encode()))
    samples = generate(run, n=8, sampler="ddim", steps=4, seed=3, device="cpu")
    metrics = evaluate(samples, reference, "sar", RandomConvFeatures(width=4), random_state=0)
    print("evaluate", digest(json.dumps(metrics, sort_keys=True).encode()))


def feature_digests(images: np.ndarray) -> None:
    db = 10.0 * np.log10(np.maximum(images, 1e-6))
    shipped = SSLFeatures.shipped(device="cpu")
    print("SSLFeatures.shipped", array_digest(shipped(shipped.standardise_db(db))))
    pair = resolve_features(str(SHIPPED_ENCODER))
    print("resolve_features(pair)", array_digest(pair(shipped.standardise_db(db))))
    print("RandomConvFeatures", array_digest(RandomConvFeatures()(images)))


def main() -> None:
    torch.set_num_threads(1)
    print("eoforge", eoforge.__file__)
    images, labels = speckle(), np.arange(24) % 2
    with tempfile.TemporaryDirectory() as tmp:
        run = training_digests(Path(tmp), images, labels)
        sampling_digests(run, speckle(10, seed=1)[:, None])
    feature_digests(speckle(6, size=32, seed=4))


if __name__ == "__main__":
    main()
