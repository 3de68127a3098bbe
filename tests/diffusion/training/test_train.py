"""Training: exact resume, a learnable distribution, run-folder contents, config checks."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from eoforge.core.errors import ConfigError, ShapeError
from eoforge.diffusion.generate import generate
from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.training.train import DiffusionConfig, train

torch.set_num_threads(1)


def speckle(n=24, size=8, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(0.1, 1.0, (n, 1, 1)) * rng.gamma(4, 0.25, (n, size, size))).astype(
        np.float32
    )


def resume_config(steps):
    # learned variance + importance sampler (warm-up ends at 30 recorded losses, mid-run),
    # dropout (global RNG), gradient accumulation, periodic checkpoints
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=(1,),
                      learned_variance=True, dropout=0.1, num_classes=2)  # fmt: skip
    return DiffusionConfig(
        unet=unet, num_timesteps=3, steps=steps, batch_size=4, accumulate=2, lr=1e-3,
        checkpoint_every=2, sample_every=4, sample_n=2, sample_steps=2, log_every=1,
        ema_decay=0.9, seed=3,
    )  # fmt: skip


def test_resume_is_exact(tmp_path):
    images, labels = speckle(), np.arange(24) % 2
    before = torch.get_rng_state()
    straight = train(resume_config(8), images, labels, tmp_path / "straight")
    assert torch.equal(torch.get_rng_state(), before)  # the caller's global RNG is untouched
    half = train(resume_config(4), images, labels, tmp_path / "resumed")
    resumed = train(resume_config(8), images, labels, tmp_path / "resumed")
    assert json.loads((half / "manifest.json").read_text())["resumed"] is True
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(straight / name), load_file(resumed / name)
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), (name, key)
    log_a = (straight / "train_log.csv").read_text()
    assert log_a == (resumed / "train_log.csv").read_text()
    assert len(log_a.splitlines()) == 9
    ck_a = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=False)
    ck_b = torch.load(resumed / "checkpoints" / "last.ckpt", weights_only=False)
    hist = ck_a["eoforge"]["tsampler"]
    assert int(hist["counts"].sum()) == 30  # warmed up (3 timesteps x 10) during the run
    assert torch.equal(hist["history"], ck_b["eoforge"]["tsampler"]["history"])
    assert ck_a["global_step"] == ck_b["global_step"] == 8
    assert (straight / "figures" / "samples_step0000008.png").is_file()
    # a changed model cannot resume into the same folder
    other = resume_config(10).model_copy(update={"lr": 2e-3})
    with pytest.raises(ConfigError, match="lr"):
        train(other, images, labels, tmp_path / "resumed")


def test_tiny_model_learns_two_constant_classes(tmp_path):
    """Images = +-0.5 by class plus N(0, 0.05^2) noise: samples must reproduce both moments."""
    rng = np.random.default_rng(0)
    labels = np.arange(64) % 2
    images = np.where(labels == 0, -0.5, 0.5)[:, None, None] + 0.05 * rng.standard_normal(
        (64, 8, 8)
    )
    unet = UNetConfig(image_size=8, block_out_channels=(16, 32), attention_levels=(),
                      num_classes=2)  # fmt: skip
    cfg = DiffusionConfig(
        kind="identity", unet=unet, num_timesteps=100, steps=200, batch_size=16, lr=2e-3,
        ema_decay=0.99, timestep_sampler="uniform", checkpoint_every=0, sample_n=4,
        sample_steps=10,
    )  # fmt: skip
    run = train(cfg, images.astype(np.float32), labels, tmp_path / "run")
    log = np.genfromtxt(run / "train_log.csv", delimiter=",", names=True)
    assert log["loss"][-5:].mean() < 0.5 * log["loss"][:2].mean()
    for sampler, steps in (("dpm++", 20), ("ddpm", 100)):
        x = generate(run, n=16, sampler=sampler, steps=steps, seed=0, class_labels=labels[:16])
        means = x.reshape(16, -1).mean(axis=1)
        for cls, target in ((0, -0.5), (1, 0.5)):
            m = means[labels[:16] == cls]
            assert abs(m.mean() - target) < 0.08, (sampler, m)  # class mean
            assert np.all(np.abs(m - target) < 0.3), (sampler, m)  # every image in its class
    pixel_std = x.reshape(16, -1).std(axis=1).mean()  # ancestral sampler keeps the spread
    assert 0.02 < pixel_std < 0.1


def test_data_must_match_the_model(tmp_path):
    cfg = DiffusionConfig(unet=UNetConfig(image_size=16, block_out_channels=(8, 16)), steps=1)
    with pytest.raises(ShapeError, match=r"--(image-)?size"):
        train(cfg, speckle(size=8), out=tmp_path / "a")
    with pytest.raises(ConfigError, match="labels"):
        train(cfg, speckle(size=16), labels=np.zeros(24, int), out=tmp_path / "b")
    with pytest.raises(ConfigError, match="steps"):
        DiffusionConfig.from_dict({"steps": 0})


def _small_config(steps, **kw):
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=())
    return DiffusionConfig(
        unet=unet, num_timesteps=3, steps=steps, batch_size=4, lr=1e-3, checkpoint_every=0,
        sample_n=2, sample_steps=2, log_every=1, seed=1, **kw,
    )  # fmt: skip


def test_ema_follows_the_warmup_rule(tmp_path):
    """After one step (n = 0) the EMA is lerp(init, theta_1, 1 - min(d, 1/10)) exactly."""
    from eoforge.diffusion.training.config import build_model

    cfg = _small_config(1, ema_decay=0.5)
    run = train(cfg, speckle(16), out=tmp_path / "run")
    init = build_model(cfg).state_dict()
    theta, ema = load_file(run / "model.safetensors"), load_file(run / "ema.safetensors")
    assert ema.keys() == init.keys()  # saved names are the U-Net's own (no "module." prefix)
    for k, v in ema.items():
        torch.testing.assert_close(v, torch.lerp(init[k], theta[k], 0.9), rtol=0, atol=1e-7)
    no_warmup = train(cfg.model_copy(update={"ema_decay": 0.0, "ema_warmup": False}),
                      speckle(16), out=tmp_path / "copy")  # fmt: skip
    a, b = load_file(no_warmup / "model.safetensors"), load_file(no_warmup / "ema.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # decay 0: the EMA is the model


def test_checkpoints_with_the_old_ema_key_names_resume_exactly(tmp_path):
    cfg = _small_config(4, ema_decay=0.8)
    images = speckle(16)
    straight = train(cfg, images, out=tmp_path / "straight")
    half = train(cfg.model_copy(update={"steps": 2}), images, out=tmp_path / "old")
    ckpt_path = half / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, weights_only=False)
    new_keys = [k for k in ckpt["state_dict"] if k.startswith("ema.module.")]
    assert new_keys
    for k in new_keys:  # write it as the module did before it used eoforge.nn.EMA
        ckpt["state_dict"]["ema." + k[len("ema.module.") :]] = ckpt["state_dict"].pop(k)
    torch.save(ckpt, ckpt_path)
    resumed = train(cfg, images, out=tmp_path / "old")
    for name in ("model.safetensors", "ema.safetensors"):
        a, b = load_file(straight / name), load_file(resumed / name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
