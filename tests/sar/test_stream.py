"""Streaming archive reader: encodings within their closed-form error, sharding over ranks and
workers (every item exactly once per epoch), reproducible epoch order, chunk-wise reads, errors."""

import shutil

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.sar.codec import decode, encode, encoding_attrs
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.store import load_wv, save_wv, write_synth_wv
from eoforge.sar.stream import WVArchive, WVStream, epoch_order, fit_normaliser, rank_share
from eoforge.sar.wv import synth_wv


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    """Two uint8 stores (130 + 57 imagettes of 8 px, chunks of 16 and 10) and their WVSets."""
    folder = tmp_path_factory.mktemp("stream")
    a = write_synth_wv(folder / "a.zarr", 130, seed=1, size=8, chunk_size=48, encoding="uint8",
                       sample_chunk=16)  # fmt: skip
    wv_b = synth_wv(57, size=8, seed=2)
    b = save_wv(wv_b, folder / "b.zarr", encoding="float16", sample_chunk=10)
    return folder, [a, b]


def test_codec_errors_within_closed_form_bounds():
    rng = np.random.default_rng(0)
    db = rng.uniform(-59.0, 9.0, size=(50, 16, 16))
    x = 10 ** (db / 10)
    # float16 dB: half a float16 spacing, 2^(floor(log2|d|) - 11)
    att16 = encoding_attrs("float16")
    err16 = np.abs(10 * np.log10(decode(encode(x, att16), att16)) - db)
    bound16 = 2.0 ** (np.floor(np.log2(np.abs(db))) - 11) + 1e-5  # + float32 log/pow rounding
    assert np.all(err16 <= bound16) and err16.max() > 0.25 * bound16.max()
    # uint8 dB: half a step, step = (hi - lo) / 255
    att8 = encoding_attrs("uint8", db_range=(-60.0, 10.0))
    step = 70.0 / 255
    assert att8["db_step"] == pytest.approx(step)
    err8 = np.abs(10 * np.log10(decode(encode(x, att8), att8)) - db)
    assert err8.max() <= step / 2 + 1e-4 and err8.max() > 0.45 * step
    # outside the range: clipped to its ends
    far = decode(encode(np.array([1e-9, 1e3]), att8), att8)
    np.testing.assert_allclose(10 * np.log10(far), [-60.0, 10.0], atol=1e-4)
    with pytest.raises(InputError, match="encoding"):
        encoding_attrs("int4")
    with pytest.raises(InputError, match="db_range"):
        encoding_attrs("uint8", db_range=(10.0, -60.0))


def test_store_round_trip_and_chunks(stores):
    _, (a, b) = stores
    arch = WVArchive([a, b])
    assert len(arch) == 187 and arch.shape == (8, 8)
    # blocks follow the Zarr chunks of each store
    assert arch.blocks[:2].tolist() == [[0, 16], [16, 32]]
    assert arch.blocks[8].tolist() == [128, 130] and arch.blocks[9].tolist() == [130, 140]
    wv_a, wv_b = load_wv(a), load_wv(b)
    idx = np.array([186, 3, 129, 130, 77, 3])
    whole = np.concatenate([wv_a.images, wv_b.images])
    np.testing.assert_array_equal(arch.read(idx), whole[idx])
    assert np.array_equal(arch.labels, np.concatenate([wv_a.labels, wv_b.labels]))
    # the float16 store holds the generated imagettes within half a float16 spacing in dB
    truth = synth_wv(57, size=8, seed=2).images
    err = np.abs(10 * np.log10(wv_b.images) - 10 * np.log10(np.maximum(truth, 1e-6)))
    assert err.max() <= 2.0**-5  # float16 spacing below 64 dB is 2^-5: half is 2^-6, + margin


def _epoch_indices(stream, epoch, workers=0):
    stream.set_epoch(epoch)
    loader = DataLoader(stream, batch_size=None, num_workers=workers)
    return [b["index"].numpy() for b in loader]


@pytest.mark.parametrize("world", [1, 3])
def test_every_item_once_over_ranks_and_workers(stores, world):
    _, paths = stores
    seen = []
    for rank in range(world):
        s = WVStream(paths, 5, seed=4, buffer_size=12, rank=rank, world_size=world, even=False,
                     drop_last=False)  # fmt: skip
        batches = _epoch_indices(s, 2, workers=2)
        assert len(batches) == len(s)
        seen.append(np.concatenate(batches))
    allseen = np.concatenate(seen)
    assert np.array_equal(np.sort(allseen), np.arange(187))  # once each, no overlap
    # even shares (DDP): equal counts, disjoint, at most world - 1 items sit out
    even = [np.concatenate(_epoch_indices(WVStream(paths, 5, seed=4, rank=r, world_size=world,
                                                   drop_last=False), 2)) for r in range(world)]  # fmt: skip
    assert len({e.size for e in even}) == 1
    assert np.unique(np.concatenate(even)).size == sum(e.size for e in even) > 187 - world


def test_order_reproducible_per_epoch_and_shuffled(stores):
    _, paths = stores
    make = lambda: WVStream(paths, 4, seed=9, buffer_size=20, rank=1, world_size=2)  # noqa: E731
    first = np.concatenate(_epoch_indices(make(), 5, workers=2))
    resumed = np.concatenate(_epoch_indices(make(), 5, workers=2))  # a new process, same epoch
    assert np.array_equal(first, resumed)
    other = np.concatenate(_epoch_indices(make(), 6, workers=2))
    assert not np.array_equal(first, other)
    # chunk order is permuted: the epoch sequence is not increasing block by block
    o = epoch_order(WVArchive(paths).blocks, 9, 5)
    assert np.array_equal(np.sort(o), np.arange(187)) and not np.array_equal(o, np.arange(187))
    # within a window the items are shuffled (a window of 20 spans 2-3 chunks)
    assert np.any(np.diff(first[:20]) != 1)
    assert rank_share(187, 1, 2) == (93, 186) and rank_share(187, 1, 2, even=False) == (93, 187)


def test_selection_and_normalised_batches(stores):
    _, paths = stores
    arch = WVArchive(paths)
    norm = fit_normaliser(arch, max_images=40, seed=0)
    sel = np.random.default_rng(0).choice(187, 60, replace=False)
    s = WVStream(arch, 7, norm, rank=0, world_size=1, drop_last=False)
    s.set_selection(sel)
    s.set_epoch(0)
    batches = list(s)
    got = np.concatenate([b["index"].numpy() for b in batches])
    assert np.array_equal(np.sort(got), np.sort(sel))
    img = torch.cat([b["image"] for b in batches])
    assert img.shape == (60, 1, 8, 8) and img.dtype == torch.float32
    expect = DbNormaliser.from_dict(norm.to_dict()).transform(arch.read(got))
    np.testing.assert_allclose(img[:, 0].numpy(), expect, rtol=1e-6)
    assert np.array_equal(torch.cat([b["label"] for b in batches]).numpy(), arch.labels[got])


def test_bad_stores_fail_with_one_line(stores, tmp_path):
    _, (a, _) = stores
    with pytest.raises(DataNotFoundError, match="does not exist"):
        WVArchive(tmp_path / "missing.zarr")
    nc = save_wv(synth_wv(4, size=8, seed=0), tmp_path / "x.nc")
    with pytest.raises(InputError, match=r"not a \.zarr store"):
        WVArchive(nc)
    other = save_wv(synth_wv(4, size=16, seed=0), tmp_path / "big.zarr")
    with pytest.raises(InputError, match="different sizes"):
        WVArchive([a, other])
    corrupt = tmp_path / "corrupt.zarr"
    shutil.copytree(a, corrupt)
    for p in (corrupt / "images").rglob("*"):
        if p.is_file() and "zarr" not in p.name:
            p.write_bytes(b"garbage")
    arch = WVArchive(corrupt)  # metadata and labels are fine
    with pytest.raises(InputError, match="corrupt or missing chunks"):
        arch.read(np.arange(3))
    with pytest.raises(InputError, match="rank"):
        WVStream(arch, 4, rank=2, world_size=2)
