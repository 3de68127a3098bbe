"""Diffusion datasets: dB normalisation round trip, cos/sin phase channels, file loading."""

import json

import numpy as np
import pytest
import torch

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.diffusion.data import (
    ImageDataset,
    channels_to_phase,
    load_arrays,
    make_dataset,
    normaliser_from_dict,
    phase_to_channels,
)


def speckle(n=6, size=8, looks=4, seed=0):
    rng = np.random.default_rng(seed)
    reflectivity = rng.uniform(0.05, 0.5, size=(n, 1, 1))
    return (reflectivity * rng.gamma(looks, 1 / looks, size=(n, size, size))).astype(np.float32)


def test_sar_dataset_is_standardised_db_and_inverts_exactly():
    x = speckle()
    labels = np.arange(6) % 3
    ds, norm = make_dataset(x, labels, kind="sar")
    db = 10 * np.log10(x.astype(np.float64))
    expected = (db - db.mean()) / db.std()
    item = ds[4]
    assert item["image"].shape == (1, 8, 8) and item["image"].dtype == torch.float32
    assert item["label"].item() == 1
    assert np.allclose(ds.images[:, 0].numpy(), expected, atol=1e-5)
    restored = normaliser_from_dict(json.loads(json.dumps(norm.to_dict())))
    back = restored.inverse_transform(ds.images.numpy())
    assert np.allclose(back[:, 0], x, rtol=1e-5)


def test_identity_dataset_keeps_phase_channels():
    rng = np.random.default_rng(1)
    phi = rng.uniform(-3 * np.pi, 3 * np.pi, size=(4, 8, 8))
    ch = phase_to_channels(phi)
    assert ch.shape == (4, 2, 8, 8)
    assert np.allclose(ch[:, 0] ** 2 + ch[:, 1] ** 2, 1.0, atol=1e-6)
    wrapped = np.angle(np.exp(1j * phi))
    assert np.allclose(channels_to_phase(ch), wrapped, atol=1e-5)
    ds, norm = make_dataset(ch, kind="identity")
    assert "label" not in ds[0] and torch.equal(ds.images, torch.from_numpy(ch))
    assert normaliser_from_dict(norm.to_dict()).inverse_transform(ch) is ch


def test_bad_inputs_are_named():
    with pytest.raises(ShapeError, match="square"):
        ImageDataset(np.zeros((2, 1, 4, 6)))
    with pytest.raises(ShapeError, match="labels"):
        ImageDataset(np.zeros((2, 4, 4)), labels=[0, 1, 2])
    with pytest.raises(InputError, match="labels"):
        ImageDataset(np.zeros((2, 4, 4)), labels=[0.5, 1])
    with pytest.raises(InputError, match="negative"):
        make_dataset(-speckle(), kind="sar")
    with pytest.raises(InputError, match="kind"):
        make_dataset(speckle(), kind="db")
    with pytest.raises(InputError, match="normaliser kind"):
        normaliser_from_dict({"kind": "minmax"})


def test_load_arrays_round_trips(tmp_path):
    import zarr

    x, y = speckle(), np.arange(6)
    np.save(tmp_path / "a.npy", x)
    np.savez(tmp_path / "b.npz", images=x, labels=y)
    group = zarr.open_group(str(tmp_path / "c.zarr"), mode="w")
    group.create_array("images", data=x)
    group.create_array("labels", data=y)
    imgs, labs = load_arrays(tmp_path / "a.npy")
    assert np.array_equal(imgs, x) and labs is None
    for name in ("b.npz", "c.zarr"):
        imgs, labs = load_arrays(tmp_path / name)
        assert np.array_equal(imgs, x) and np.array_equal(labs, y)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_arrays(tmp_path / "missing.npy")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(InputError, match=r"\.npy"):
        load_arrays(tmp_path / "d.txt")
