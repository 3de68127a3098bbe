"""Importance sampling of timesteps in a real training run: t = 0 must not take over."""

import numpy as np
import torch

from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.training.losses import LossSecondMomentSampler
from eoforge.diffusion.training.train import DiffusionConfig, train

torch.set_num_threads(1)
T = 16


def test_learned_variance_training_past_the_warm_up_keeps_t0_at_its_share(tmp_path, monkeypatch):
    """Regression: the continuous decoder's NLL (negative, large once squared) took ~40 % of the
    draws after the warm-up and the logged MSE jumped to ~1 (the MSE of v at t = 0)."""
    drawn: list[tuple[bool, torch.Tensor]] = []
    sample = LossSecondMomentSampler.sample

    def recording(self, batch_size, generator):
        t, w = sample(self, batch_size, generator)
        drawn.append((self.warmed_up, t.clone()))
        return t, w

    monkeypatch.setattr(LossSecondMomentSampler, "sample", recording)
    rng = np.random.default_rng(0)
    images = (rng.uniform(0.2, 1.0, (64, 1, 1)) * rng.gamma(4, 0.25, (64, 8, 8))).astype("f4")
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=(),
                      learned_variance=True)  # fmt: skip
    cfg = DiffusionConfig(
        unet=unet, num_timesteps=T, steps=60, batch_size=16, lr=2e-3, checkpoint_every=0,
        sample_n=2, sample_steps=2, log_every=5, seed=0,
    )  # fmt: skip
    run = train(cfg, images, out=tmp_path / "run")

    warm = [i for i, (w, _) in enumerate(drawn) if w]
    assert 5 < warm[0] < 40  # the warm-up ends mid-run
    after = torch.cat([t for w, t in drawn if w])
    share = torch.bincount(after, minlength=T).double() / len(after)
    assert share[0] < 2.5 / T, share  # was ~0.4: t = 0 keeps about its uniform share
    assert share[1:5].sum() < 10 / T, share
    state = torch.load(run / "checkpoints" / "last.ckpt", weights_only=False)["eoforge"]
    restored = LossSecondMomentSampler(T)
    restored.load_state_dict(state["tsampler"])
    p = restored.probabilities()
    assert restored.warmed_up and p[0].item() == 1 / T
    assert p.max().item() < 3 / T  # the recorded hybrid loss is O(1) at every t: a mild tilt
    log = np.genfromtxt(run / "train_log.csv", delimiter=",", names=True)
    step_warm = (warm[0] // 5 + 1) * 5
    before, later = log["mse"][log["step"] <= step_warm], log["mse"][log["step"] > step_warm]
    assert later.mean() < before[-4:].mean() * 1.03, (before, later)  # no jump after warm-up
    assert abs(log["vlb"][log["step"] > step_warm]).max() < 0.5  # was ~-1.9
