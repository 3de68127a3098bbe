"""``eoforge ssl`` through Typer's CliRunner: pretrain -> probe -> embed, outputs read back."""

import json
import re

import numpy as np
import pytest
import torch
import xarray as xr
from typer.testing import CliRunner

from eoforge.sar.store import save_wv
from eoforge.sar.wv import synth_wv

runner = CliRunner()
torch.set_num_threads(1)


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["ssl", *args])


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    wv = synth_wv(64, size=16, seed=2)
    path = tmp_path_factory.mktemp("wv") / "wv.zarr"
    save_wv(wv, path)
    return path, wv


def test_pretrain_probe_embed(data, tmp_path):
    path, wv = data
    run = tmp_path / "run"
    res = invoke(
        "pretrain", "--data", str(path), "--out", str(run), "--curation", "random",
        "--ratio", "0.5", "--epochs", "2", "--encoder", "vit-tiny/8", "--encoder-dim", "16",
        "--encoder-depth", "1", "--batch-size", "8", "--global-size", "16", "--local-size", "8",
        "--n-local-crops", "1", "--device", "cpu",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{") : res.output.rindex("}") + 1])
    assert summary["epochs_done"] == 2 and summary["images_seen"] == 2 * 32
    sel = np.load(run / "selections" / "epoch_0000.npz")["indices"]
    assert sel.size == 32  # random static subset, ratio 0.5

    res = invoke("probe", str(run), "--data", str(path), "--knn-k", "5")
    assert res.exit_code == 0, res.output
    probe = json.loads((run / "probe.json").read_text())
    assert 0 <= probe["linear_accuracy"] <= 1 and probe["n_test"] + probe["n_train"] == 64

    out = tmp_path / "emb.zarr"
    res = invoke("embed", str(run), "--data", str(path), "--out", str(out), "--batch-size", "10")
    assert res.exit_code == 0, res.output
    ds = xr.open_zarr(out)
    assert ds["embedding"].shape == (64, 16)
    np.testing.assert_array_equal(ds["label"].values, wv.labels)
    assert np.isfinite(ds["embedding"].values).all()


def test_bad_inputs_exit_2_with_message(data, tmp_path):
    path, _ = data
    res = invoke("pretrain", "--data", str(tmp_path / "nope.zarr"), "--out", str(tmp_path / "r"))
    assert res.exit_code == 2
    assert "does not exist" in re.sub(r"\s+", " ", res.output)
    res = invoke("pretrain", "--data", str(path), "--out", str(tmp_path / "r"),
                 "--curation", "sometimes")  # fmt: skip
    assert res.exit_code == 2 and "--curation: Input should be 'none'" in res.output
    assert "mode" not in res.output  # the option as typed, not the internal key
    res = invoke("probe", str(tmp_path / "not-a-run"), "--data", str(path))
    assert res.exit_code == 2 and "not a finished pre-training run" in re.sub(
        r"\s+", " ", res.output
    )


def test_pretrain_bad_n_clusters_names_the_option(data, tmp_path):
    """--n-clusters is parsed like every comma list of ints; the message names it with an example."""
    path, _ = data
    res = invoke("pretrain", str(path), "--out", str(tmp_path / "run"), "--n-clusters", "64;8")
    assert res.exit_code == 2
    assert "--n-clusters '64;8' is not a list of integers" in res.output
    assert "--n-clusters 64,8" in res.output
    assert not (tmp_path / "run").exists()
