"""Generation from a run folder: physical units through the saved normaliser, files, errors."""

import json

import numpy as np
import pytest
import torch

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.diffusion.generate import generate, sample_model
from eoforge.diffusion.model import UNetConfig
from eoforge.diffusion.run_io import load_run
from eoforge.diffusion.training.train import DiffusionConfig, train
from eoforge.sar.normalise import DbNormaliser

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    rng = np.random.default_rng(0)
    images = (10 ** rng.uniform(-2, 0, (16, 1, 1)) * rng.gamma(2, 0.5, (16, 8, 8))).astype(
        np.float32
    )
    unet = UNetConfig(image_size=8, block_out_channels=(8, 16), num_classes=3)
    cfg = DiffusionConfig(unet=unet, num_timesteps=20, steps=3, batch_size=4, sample_n=3,
                          sample_steps=4, clip_denoised=4.0)  # fmt: skip
    path = train(cfg, images, np.arange(16) % 3, tmp_path_factory.mktemp("gen") / "run")
    return path, images


def test_samples_are_the_inverse_of_the_saved_normaliser(run):
    path, images = run
    x = generate(path, n=5, sampler="ddim", steps=4, seed=3, batch_size=2)
    assert x.shape == (5, 1, 8, 8) and x.dtype == np.float32 and np.all(x > 0)
    # the normaliser saved in the run is the dB standardisation of the training images
    saved = json.loads((path / "normaliser.json").read_text())
    ref = DbNormaliser().fit(images)
    assert saved["mean_db"] == pytest.approx(ref.mean_db_) and saved["std_db"] == pytest.approx(
        ref.std_db_
    )
    model, sched, norm, cfg = load_run(path)
    z, nfe, labels = sample_model(model, sched, cfg, 5, sampler="ddim", steps=4, seed=3,
                                  batch_size=2, clip_denoised=4.0)  # fmt: skip
    assert nfe == 4 and labels.tolist() == [0, 1, 2, 0, 1]
    db = (z.astype(np.float64) * ref.std_db_) + ref.mean_db_  # independent inverse
    assert np.allclose(x, 10 ** (db / 10), rtol=1e-5)
    assert np.allclose(norm.transform(x), z, atol=1e-4)  # and back


def test_seeded_and_saved(run, tmp_path):
    path, _ = run
    a = generate(path, n=3, steps=3, seed=1, out=tmp_path / "s.npy")
    assert np.array_equal(a, generate(path, n=3, steps=3, seed=1))
    assert not np.allclose(a, generate(path, n=3, steps=3, seed=2))
    assert np.array_equal(np.load(tmp_path / "s.npy"), a)
    meta = json.loads((tmp_path / "s.json").read_text())
    assert meta["nfe"] == 3 and meta["units"] == "linear intensity"
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    import zarr

    b = generate(
        path, n=3, sampler="heun", steps=2, seed=1, class_labels=2, out=tmp_path / "s.zarr"
    )
    group = zarr.open_group(str(tmp_path / "s.zarr"), mode="r")
    assert np.array_equal(group["images"][...], b) and group["labels"][...].tolist() == [2, 2, 2]
    assert json.loads((tmp_path / "s.json").read_text())["nfe"] == 3  # Heun: 2 steps - 1


def test_errors_name_the_problem(run, tmp_path):
    path, _ = run
    with pytest.raises(InputError, match="class_labels"):
        generate(path, n=2, steps=2, class_labels=[0, 5])
    with pytest.raises(InputError, match="out"):
        generate(path, n=2, steps=2, out=tmp_path / "x.tif")
    with pytest.raises(InputError, match="steps"):
        generate(path, n=2, steps=50)
    with pytest.raises(DataNotFoundError, match="not a finished diffusion run"):
        load_run(tmp_path)
