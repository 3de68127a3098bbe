"""Zarr / NetCDF round trips of a WVSet are exact; missing stores and variables fail clearly."""

import numpy as np
import pytest
import xarray as xr

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.sar.store import load_wv, save_wv, summarise, write_synth_wv
from eoforge.sar.wv import synth_wv


@pytest.fixture(scope="module")
def wvset():
    return synth_wv(64, size=16, seed=0, duplicate_fraction=0.1)


@pytest.mark.parametrize("name", ["wv.zarr", "wv.nc"])
def test_round_trip_exact(wvset, tmp_path, name):
    path = save_wv(wvset, tmp_path / name)
    back = load_wv(path)
    for field in ("images", "labels", "wind_speed", "hs", "duplicate_of", "incidence"):
        a, b = getattr(wvset, field), getattr(back, field)
        assert a.dtype == b.dtype, field
        np.testing.assert_array_equal(a, b, err_msg=field)
    assert back.classes == wvset.classes
    assert back.attrs == dict(wvset.attrs)
    np.testing.assert_array_equal(back.class_counts(), wvset.class_counts())


def test_overwrite_is_atomic_and_leaves_no_temporaries(wvset, tmp_path):
    path = tmp_path / "wv.zarr"
    save_wv(wvset, path)
    smaller = wvset.subset(np.arange(10))
    save_wv(smaller, path)
    assert len(load_wv(path)) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["wv.zarr"]


def test_errors(wvset, tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_wv(tmp_path / "missing.zarr")
    with pytest.raises(InputError, match="suffix"):
        save_wv(wvset, tmp_path / "wv.h5")
    other = tmp_path / "other.nc"
    xr.Dataset({"images": (("sample", "y", "x"), np.ones((2, 3, 3)))}).to_netcdf(other)
    with pytest.raises(DataNotFoundError, match="labels"):
        load_wv(other)


def test_write_synth_wv_single_block_equals_synth_wv(tmp_path):
    path = write_synth_wv(tmp_path / "one.zarr", 50, seed=3, size=16, chunk_size=64)
    ref = synth_wv(50, seed=3, size=16)
    back = load_wv(path)
    np.testing.assert_array_equal(back.images, ref.images)
    np.testing.assert_array_equal(back.duplicate_of, ref.duplicate_of)
    nc = write_synth_wv(tmp_path / "one.nc", 50, seed=3, size=16, chunk_size=64)
    np.testing.assert_array_equal(load_wv(nc).labels, ref.labels)


def test_write_synth_wv_in_blocks(tmp_path):
    done = []
    path = write_synth_wv(tmp_path / "big.zarr", 250, seed=1, size=8, chunk_size=100,
                          duplicate_fraction=0.1, progress=lambda d, t: done.append((d, t)))  # fmt: skip
    assert done == [(100, 250), (200, 250), (250, 250)]
    back = load_wv(path)
    assert len(back) == 250 and back.attrs["seed"] == 1 and back.attrs["chunk_size"] == 100
    dup = np.flatnonzero(back.duplicate_of >= 0)
    assert dup.size == 10 + 10 + 5
    src = back.duplicate_of[dup]
    assert np.all(src // 100 == dup // 100)  # duplicates stay within their block
    np.testing.assert_array_equal(back.labels[dup], back.labels[src])
    again = load_wv(write_synth_wv(tmp_path / "again.zarr", 250, seed=1, size=8, chunk_size=100,
                                   duplicate_fraction=0.1))  # fmt: skip
    np.testing.assert_array_equal(again.images, back.images)
    with pytest.raises(InputError, match="zarr"):
        write_synth_wv(tmp_path / "big.nc", 250, chunk_size=100)
    summary = summarise(path)
    assert summary["n"] == 250 and summary["height"] == 8
    assert summary["class_counts"] == back.class_counts().tolist()
    assert summary["near_duplicates"] == 25 and summary["unlabelled"] == 0
    assert summary["hs"][0] == pytest.approx(float(back.hs.min()))
