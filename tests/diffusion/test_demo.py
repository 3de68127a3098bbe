"""The diffusion demo stage, shrunk (few images, short schedule): outputs and report section."""

import numpy as np
import torch

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.diffusion import demo

torch.set_num_threads(1)


def test_stage_writes_samples_and_a_scored_section(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "N_TRAIN", 32)
    monkeypatch.setattr(demo, "N_SAMPLES", 8)
    monkeypatch.setattr(demo, "T", 30)
    report = Report("t")
    metrics = demo.stage(RunDir(tmp_path), report, seed=0, steps=3)
    rows = {r["images"]: r for r in metrics["table"]}
    assert rows["ddpm 30 steps"]["NFE"] == 30 and rows["dpm++ 20 steps"]["NFE"] == 20
    from eoforge.sar.wv import synth_wv

    real = synth_wv(32, size=demo.SIZE, seed=0).images[:8]
    db = 10 * np.log10(real.astype(np.float64))
    assert np.isclose(rows["training data (synthetic)"]["mean (dB)"], db.mean())
    for name in ("ddpm", "dpm++"):
        x = np.load(tmp_path / "diffusion" / f"samples_{name}.npy")
        assert x.shape == (8, 1, demo.SIZE, demo.SIZE) and np.all(x > 0)
    assert report.n_figures == 1 and "Diffusion" in report.render()
