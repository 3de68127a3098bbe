import json
import math

import numpy as np
import pytest

from eoforge.core.atomic import atomic_path, atomic_write_json, atomic_write_text
from eoforge.core.runs import RunDir


def test_interrupted_write_keeps_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("crash in the middle of a write")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]


def test_interrupted_folder_write_keeps_old_store(tmp_path):
    store = tmp_path / "a.zarr"
    with atomic_path(store) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("v1")
    with pytest.raises(KeyboardInterrupt), atomic_path(store) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("v2-partial")
        raise KeyboardInterrupt
    assert (store / "chunk").read_text() == "v1"
    with atomic_path(store) as tmp:
        tmp.mkdir()
        (tmp / "chunk").write_text("v2")
    assert (store / "chunk").read_text() == "v2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zarr"]


def test_json_handles_numpy_and_nan(tmp_path):
    path = atomic_write_json(
        tmp_path / "m.json", {"a": np.float32(1.5), "b": np.arange(3), "c": math.nan}
    )
    assert json.loads(path.read_text()) == {"a": 1.5, "b": [0, 1, 2], "c": None}


def test_run_dir_layout(tmp_path):
    import matplotlib.pyplot as plt

    from eoforge.core.config import RunConfig

    run = RunDir(tmp_path / "run", config=RunConfig(seed=5))
    run.save_metrics({"ari": 0.9})
    run.save_metrics({"k": 3})
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    png = run.save_figure(fig, "line")
    manifest = json.loads(run.write_manifest().read_text())
    assert json.loads((run.path / "metrics.json").read_text()) == {"ari": 0.9, "k": 3}
    assert png.read_bytes().startswith(b"\x89PNG")
    assert (run.path / "config.yaml").read_text().count("seed: 5") == 1
    assert {"config.yaml", "metrics.json", "figures/line.png"} <= set(manifest["files"])
    assert run.checkpoints.is_dir()


def test_files_written_through_a_library_get_the_umask_permissions(tmp_path):
    """safetensors creates 0600 files; a weight file must be readable by others (umask 022)."""
    import os
    import stat

    from eoforge.core.atomic import _UMASK, atomic_path

    target = tmp_path / "w.bin"
    with atomic_path(target) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_UMASK
