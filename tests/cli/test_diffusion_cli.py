"""End-to-end: ``eoforge diffusion train`` and ``sample`` on a file the test writes."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

torch.set_num_threads(1)
runner = CliRunner()


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["diffusion", *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = (rng.uniform(0.05, 1, (12, 1, 1)) * rng.gamma(4, 0.25, (12, 10, 10))).astype(
        np.float32
    )
    path = tmp_path_factory.mktemp("cli") / "wv.npz"
    np.savez(path, images=images, labels=np.arange(12) % 3)
    return path, images


def test_train_then_sample(data, tmp_path):
    path, images = data
    run = tmp_path / "run"
    res = invoke(
        "train", "--data", str(path), "--out", str(run), "--steps", "3", "--batch-size", "4",
        "--image-size", "8", "--learned-variance", "--prediction", "eps", "--class-cond",
        "--timesteps", "20", "--seed", "1",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads(res.output[: res.output.rindex("}") + 1])["steps"] == 3
    from eoforge.diffusion.training.train import DiffusionConfig

    cfg = DiffusionConfig.load(run / "config.yaml")
    assert (cfg.unet.image_size, cfg.unet.num_classes, cfg.unet.learned_variance) == (8, 3, True)
    assert (cfg.prediction, cfg.num_timesteps, cfg.seed) == ("epsilon", 20, 1)
    norm = json.loads((run / "normaliser.json").read_text())
    db = 10 * np.log10(images[:, 1:9, 1:9].astype(np.float64))  # the centre crops
    assert norm["mean_db"] == pytest.approx(db.mean())

    out = tmp_path / "s.npy"
    res = invoke("sample", str(run), "--n", "3", "--sampler", "ddpm", "--sample-steps", "5",
                 "--out", str(out), "--class-label", "2", "--clip-denoised", "4")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "NFE 5" in res.output
    x = np.load(out)
    assert x.shape == (3, 1, 8, 8) and np.all(np.isfinite(x)) and np.all(x > 0)
    from eoforge.diffusion.generate import generate

    same = generate(run, 3, "ddpm", 5, 0, 2, clip_denoised=4.0)
    assert np.array_equal(x, same)


def test_errors_exit_2_with_a_message(data, tmp_path):
    path, _ = data
    res = invoke("train", "--data", str(tmp_path / "none.npy"), "--out", str(tmp_path / "r"))
    assert res.exit_code == 2 and "does not exist" in res.output
    res = invoke("train", "--data", str(path), "--out", str(tmp_path / "r"), "--prediction", "x0")
    assert res.exit_code == 2 and "--prediction" in res.output
    res = invoke("train", "--data", str(path), "--out", str(tmp_path / "r"), "--image-size", "16")
    assert res.exit_code == 2 and "image_size" in res.output
    res = invoke("sample", str(tmp_path), "--out", str(tmp_path / "s.npy"))
    assert res.exit_code == 2 and "not a finished diffusion run" in res.output
