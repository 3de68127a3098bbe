"""``diffusion train`` writes report.html with its training curve, sample grids and config."""

import base64
import re

import numpy as np
import torch

from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.training.train import DiffusionConfig, train

torch.set_num_threads(1)


def test_train_writes_a_report_with_its_figures(tmp_path):
    images = np.random.default_rng(0).gamma(4, 0.25, (8, 8, 8)).astype(np.float32)
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), attention_levels=(),
                      norm_num_groups=4, learned_variance=True)  # fmt: skip
    cfg = DiffusionConfig(unet=unet, num_timesteps=10, steps=4, batch_size=4, log_every=1,
                          checkpoint_every=0, sample_every=2, sample_n=2, sample_steps=2)  # fmt: skip
    run = train(cfg, images, out=tmp_path / "run")
    html = (run / "report.html").read_text()
    figures = sorted(p.name for p in (run / "figures").glob("*.png"))
    assert figures == ["samples_step0000002.png", "samples_step0000004.png",
                       "training_curve.png"]  # fmt: skip
    for name in figures:  # every figure is embedded, its caption naming the file
        assert f"figures/{name}" in html
        png = (run / "figures" / name).read_bytes()
        assert base64.b64encode(png).decode() in html
    assert len(re.findall(r"<img ", html)) == 3
    assert "bits per dimension" in html  # the VLB's unit
    assert "learned_variance: true" in html  # the configuration
