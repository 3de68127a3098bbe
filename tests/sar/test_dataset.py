"""WVDataset returns the documented dict of tensors and applies the normaliser and transform."""

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from eoforge.core.errors import InputError
from eoforge.sar.dataset import WVDataset
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.wv import synth_wv


@pytest.fixture(scope="module")
def wvset():
    return synth_wv(12, size=16, seed=0)


def test_items_and_batches(wvset):
    ds = WVDataset(wvset)
    item = ds[3]
    assert set(item) == {"image", "label", "wind_speed", "hs", "index"}
    assert item["image"].shape == (1, 16, 16) and item["image"].dtype == torch.float32
    assert item["label"].dtype == torch.int64 and int(item["label"]) == wvset.labels[3]
    assert item["wind_speed"].dtype == torch.float32 and item["hs"].dtype == torch.float32
    assert float(item["hs"]) == pytest.approx(float(wvset.hs[3]))
    np.testing.assert_array_equal(item["image"][0].numpy(), wvset.images[3])
    assert int(ds[-1]["index"]) == 11
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch["image"].shape == (5, 1, 16, 16)
    assert batch["index"].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(IndexError):
        ds[12]


def test_normaliser_and_transform(wvset):
    norm = DbNormaliser().fit(wvset.images)
    ds = WVDataset(wvset, normaliser=norm, transform=lambda d: {**d, "image": d["image"] * 2})
    img = ds[0]["image"][0].numpy()
    np.testing.assert_allclose(img, 2 * norm.transform(wvset.images[0]), rtol=1e-6)
    with pytest.raises(InputError, match="not fitted"):
        WVDataset(wvset, normaliser=DbNormaliser())
    with pytest.raises(InputError, match="wvset"):
        WVDataset(wvset.images)


def test_per_beam_normaliser():
    wv = synth_wv(40, size=16, seed=1, incidence=(23.5, 36.5), looks=8)
    assert set(np.unique(wv.incidence)) == {23.5, 36.5}
    norm = DbNormaliser().fit(wv.images, groups=wv.incidence)
    assert norm.mean_db_[0] > norm.mean_db_[1] + 2  # WV1 is brighter than WV2
    ds = WVDataset(wv, normaliser=norm)
    for i in (0, 1, 2):
        expected = norm.transform(wv.images[i], groups=wv.incidence[i])
        np.testing.assert_allclose(ds[i]["image"][0].numpy(), expected, rtol=1e-6)
    bare = dataclasses.replace(wv, incidence=None)
    with pytest.raises(InputError, match="incidence"):
        WVDataset(bare, normaliser=norm)
