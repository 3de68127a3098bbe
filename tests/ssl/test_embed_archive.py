"""``ssl embed`` / ``ssl probe`` on stores read chunk by chunk: the same features as the loaded
array (in order), the same probe as the in-memory path, atomic output, errors."""

import json
import re

import numpy as np
import pytest
import torch
import xarray as xr
import zarr
from typer.testing import CliRunner

from eoforge.core.errors import InputError
from eoforge.sar.store import load_wv, save_wv
from eoforge.sar.stream import WVArchive
from eoforge.sar.wv import synth_wv
from eoforge.ssl import embed as embed_module
from eoforge.ssl.embed import embed_dataset, embed_images, embed_items, load_teacher
from eoforge.ssl.probe import probe_features, probe_items, probe_run, probe_wv
from tests.ssl.fake_run import make_run

torch.set_num_threads(1)
runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """Two uint8 stores (chunks of 7 imagettes: pieces straddle batches), their union loaded."""
    root = tmp_path_factory.mktemp("emb")
    wv = synth_wv(90, size=16, seed=4)
    a = save_wv(wv.subset(np.arange(50)), root / "a.zarr", encoding="uint8", sample_chunk=7)
    b = save_wv(wv.subset(np.arange(50, 90)), root / "b.zarr", encoding="uint8", sample_chunk=7)
    loaded = load_wv(save_wv(wv, root / "whole.zarr", encoding="uint8"))  # decoded as a, b are
    run = make_run(root / "run", loaded.images, size=16, dim=24)
    return {"stores": [a, b], "images": loaded.images, "run": run, "loaded": loaded}


def test_store_features_equal_the_loaded_array_in_order(setup):
    encoder, normaliser, _ = load_teacher(setup["run"])
    ref = embed_images(encoder, setup["images"], normaliser, 16, batch_size=64, device="cpu")
    archive = WVArchive(setup["stores"])
    got = embed_items(encoder, archive, normaliser, 16, batch_size=5, flush_rows=11,
                      device="cpu")  # fmt: skip
    assert got.shape == (90, 24)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.abs(np.diff(ref, axis=0)).max(axis=1).min() > 1e-3  # rows differ: order is tested
    # a subset (unsorted, repeated) comes back sorted and unique, rows of the full result
    sub = embed_items(encoder, archive, normaliser, 16, indices=[80, 3, 49, 50, 3, 6],
                      device="cpu", workers=1)  # fmt: skip
    np.testing.assert_allclose(sub, ref[[3, 6, 49, 50, 80]], rtol=1e-5, atol=1e-5)


def test_pieces_split_large_chunks_and_skip_nothing(setup, monkeypatch):
    monkeypatch.setattr(embed_module, "_PIECE_ROWS", 3)  # chunks of 7 read as 3 + 3 + 1
    archive = WVArchive(setup["stores"])
    pieces = embed_module._pieces(archive, np.arange(90), 64)
    assert max(p.size for p in pieces) == 3 and np.array_equal(
        np.concatenate(pieces), np.arange(90)
    )
    encoder, normaliser, _ = load_teacher(setup["run"])
    ref = embed_images(encoder, setup["images"], normaliser, 16, device="cpu")
    got = embed_items(encoder, archive, normaliser, 16, batch_size=2, device="cpu")
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert embed_items(encoder, archive, normaliser, 16, indices=[], device="cpu").shape == (0, 24)


def test_embed_dataset_writes_chunks_equal_to_memory(setup, tmp_path):
    encoder, normaliser, _ = load_teacher(setup["run"])
    ref = embed_images(encoder, setup["images"], normaliser, 16, device="cpu")
    out = tmp_path / "emb.zarr"
    seen = []
    embed_dataset(setup["run"], ",".join(map(str, setup["stores"])), out, batch_size=4,
                  chunk_rows=6, device="cpu", progress=lambda d, t: seen.append((d, t)))  # fmt: skip
    ds = xr.open_zarr(out, consolidated=False)
    assert ds["embedding"].encoding["chunks"] == (6, 24)
    np.testing.assert_allclose(ds["embedding"].values, ref, rtol=1e-5, atol=1e-5)
    wv = setup["loaded"]
    np.testing.assert_array_equal(ds["label"].values, wv.labels)
    np.testing.assert_array_equal(ds["hs"].values, wv.hs)
    assert ds.attrs["classes"] == list(wv.classes) and ds.attrs["embed_dim"] == 24
    assert seen[-1] == (90, 90) and all(np.diff([d for d, _ in seen]) > 0)


def test_interrupted_embedding_leaves_nothing(setup, tmp_path):
    bad = tmp_path / "bad.zarr"
    save_wv(synth_wv(30, size=16, seed=1), bad, sample_chunk=10)
    chunks = sorted(p for p in (bad / "images").rglob("*") if p.is_file() and "zarr" not in p.name)
    chunks[-1].write_bytes(b"not a chunk")  # the last of three chunks: two are embedded first
    out = tmp_path / "emb.zarr"
    with pytest.raises(InputError, match=r"bad\.zarr"):
        embed_dataset(setup["run"], bad, out, batch_size=4, chunk_rows=4, device="cpu")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zarr"]  # no OUT, no temporary


def test_interrupted_embedding_resumes_from_the_last_chunk(setup, tmp_path):
    encoder, normaliser, _ = load_teacher(setup["run"])
    ref = embed_images(encoder, setup["images"], normaliser, 16, device="cpu")
    out, kw = tmp_path / "emb.zarr", {"batch_size": 4, "chunk_rows": 6, "flush_rows": 10}

    def stop(done, total):
        if done >= 40:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        embed_dataset(setup["run"], setup["stores"], out, device="cpu", progress=stop, **kw)
    partial = tmp_path / ".emb.zarr.partial"
    assert not out.exists() and partial.is_dir()
    done = zarr.open_group(str(partial), mode="r").attrs["rows_done"]
    assert done == 42  # three flushes of two 7-item chunks, on disk as whole chunks of 6
    seen = []
    embed_dataset(setup["run"], setup["stores"], out, device="cpu",
                  progress=lambda d, t: seen.append(d), **kw)  # fmt: skip
    assert done < seen[0] <= done + 20  # resumed: the first flush comes after the rows on disk
    np.testing.assert_allclose(xr.open_zarr(out)["embedding"].values, ref, rtol=1e-5, atol=1e-5)
    assert not partial.exists()
    with pytest.raises(RuntimeError):  # another layout (chunk_rows) starts again from row 0
        embed_dataset(setup["run"], setup["stores"], tmp_path / "b.zarr", device="cpu",
                      progress=stop, **kw)  # fmt: skip
    seen.clear()
    embed_dataset(setup["run"], setup["stores"], tmp_path / "b.zarr", device="cpu",
                  progress=lambda d, t: seen.append(d), **{**kw, "chunk_rows": 5})  # fmt: skip
    assert seen[0] <= 14  # from row 0


def test_probe_on_stores_matches_the_in_memory_probe(setup):
    stores = setup["stores"]
    whole = probe_run(setup["run"], stores, knn_k=5, write=False, device="cpu")
    encoder, normaliser, _ = load_teacher(setup["run"])
    wv = setup["loaded"]  # the old path: the loaded set, then probe_wv
    old = probe_wv(embed_images(encoder, wv.images, normaliser, 16), wv, knn_k=5, device="cpu")
    for key in ("linear_accuracy", "knn_accuracy", "wind_speed_rmse", "knn_hs_rmse", "n_test"):
        assert whole[key] == pytest.approx(old[key], rel=1e-6), key
    assert whole["probed"]["n_images"] == 90 and whole["probed"]["n_probed"] == 90
    assert whole["probed"]["data"] == ",".join(str(p.resolve()) for p in stores)
    assert whole["probed"]["data_bytes"] > 2 * 90 * 16  # the two stores' files (uint8 images)

    sub = probe_run(setup["run"], stores, knn_k=5, max_items=40, seed=3, write=False,
                    device="cpu")  # fmt: skip
    items = probe_items(90, 40, 3)
    assert items.size == 40 and np.unique(items).size == 40 and sub["probed"]["n_probed"] == 40
    feats = embed_images(encoder, wv.images[items], normaliser, 16)
    ref = probe_features(feats, wv.labels[items], {"wind_speed": wv.wind_speed[items],
                         "hs": wv.hs[items]}, knn_k=5, seed=3, device="cpu")  # fmt: skip
    assert sub["n_train"] + sub["n_test"] == 40
    assert sub["knn_accuracy"] == pytest.approx(ref["knn_accuracy"])
    assert sub["hs_rmse"] == pytest.approx(ref["hs_rmse"], rel=1e-5)


def test_probe_items_is_uniform_and_seeded():
    a, b = probe_items(10_000, 2_000, 0), probe_items(10_000, 2_000, 1)
    assert np.array_equal(a, probe_items(10_000, 2_000, 0)) and not np.array_equal(a, b)
    counts = np.bincount(a // 1000, minlength=10)  # 200 expected per tenth
    assert counts.min() > 150 and counts.max() < 250
    assert np.array_equal(probe_items(50, 100), np.arange(50))


def test_errors_name_the_option(setup, tmp_path):
    with pytest.raises(InputError, match=r"--out='.*emb\.nc' is invalid"):
        embed_dataset(setup["run"], setup["stores"][0], tmp_path / "emb.nc")
    with pytest.raises(InputError, match="--max-items=0"):
        probe_items(10, 0)
    encoder, normaliser, _ = load_teacher(setup["run"])
    with pytest.raises(InputError, match="indices"):
        embed_items(encoder, WVArchive(setup["stores"][0]), normaliser, 16, indices=[50])
    with pytest.raises(InputError, match="batch_size=0"):
        embed_items(encoder, setup["images"], normaliser, 16, batch_size=0)


def test_cli_probe_max_items_and_embed(setup, tmp_path):
    from eoforge.cli.main import app

    run, data = str(setup["run"]), str(setup["stores"][1])
    res = runner.invoke(app, ["ssl", "probe", run, data, "--max-items", "30", "--knn-k", "3",
                              "--device", "cpu"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert json.loads((setup["run"] / "probe.json").read_text())["probed"]["n_probed"] == 30
    res = runner.invoke(app, ["ssl", "probe", run, data, "--max-items", "0"])
    assert res.exit_code == 2 and "--max-items" in re.sub(r"\s+", " ", res.output)
    out = tmp_path / "e.zarr"
    res = runner.invoke(app, ["ssl", "embed", run, data, "--out", str(out), "--workers", "0"])
    assert res.exit_code == 0, res.output
    assert xr.open_zarr(out, consolidated=False)["embedding"].shape == (40, 24)
