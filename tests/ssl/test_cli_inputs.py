"""``eoforge ssl`` commands on broken inputs: one ``error:`` line, exit code 2, nothing created."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from tests.sar.bad_stores import make_bad_stores
from tests.ssl.fake_run import make_run

runner = CliRunner()


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["ssl", *args])


def one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return make_bad_stores(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("kind", ["corrupt_chunks", "no_metadata", "garbage_npz", "truncated_npz"])
@pytest.mark.parametrize("command", ["pretrain", "probe", "embed"])
def test_broken_data_is_one_line_and_exit_2(bad, tmp_path, kind, command):
    data = str(bad[kind])
    out = tmp_path / "out"
    # a real run: probe and embed read stores lazily, so a corrupt chunk shows when it is read
    run = str(make_run(tmp_path / "run", np.ones((4, 8, 8), np.float32)))
    if command == "pretrain":
        res = invoke("pretrain", "--data", data, "--out", str(out), "--accelerator", "cpu")
    elif command == "probe":
        res = invoke("probe", run, "--data", data)
    else:
        res = invoke("embed", run, "--data", data, "--out", str(tmp_path / "e.zarr"))
    line = one_error_line(res)
    assert bad[kind].name in line
    assert not out.exists() and not (tmp_path / "e.zarr").exists()


def test_gpu_without_cuda_is_refused_before_anything_is_made(bad, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    out = tmp_path / "run"
    res = invoke("pretrain", str(bad["ok"]), "--out", str(out), "--device", "gpu")
    line = one_error_line(res)
    assert line == "error: --device gpu but no CUDA device is visible; use --device cpu or auto."
    assert not out.exists()
