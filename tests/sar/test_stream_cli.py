"""``eoforge sar synth-wv`` / ``ssl pretrain`` options of archive-scale stores."""

import numpy as np
import pytest
from typer.testing import CliRunner

from eoforge.cli.main import app
from eoforge.core.seeding import spawn_seeds
from eoforge.sar.store import load_wv, read_meta
from eoforge.sar.wv import synth_wv

runner = CliRunner()


def test_synth_wv_writes_uint8_chunks_in_blocks(tmp_path):
    out = tmp_path / "s.zarr"
    res = runner.invoke(app, ["sar", "synth-wv", "--n", "50", "--size", "8", "--chunk-size",
                              "20", "--encoding", "uint8", "--db-range", "-50,5",
                              "--sample-chunk", "16", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "(uint8 dB)" in res.output
    meta = read_meta(out)
    assert meta["n"] == 50 and meta["sample_chunk"] == 16
    assert meta["encoding"]["db_offset"] == -50.0
    assert meta["encoding"]["db_step"] == pytest.approx(55 / 255)
    # block 0 is synth_wv(20, seed=spawn_seeds(0, 3)[0]): stored within half a step (in range)
    truth = synth_wv(
        20,
        size=8,
        seed=spawn_seeds(0, 3)[0],
        class_prior="long-tail",
        looks=16,
        duplicate_fraction=0.05,
        pixel_size=50.0,
        incidence=[36.5],
    ).images
    db_true = 10 * np.log10(np.clip(truth, 10**-5, 10**0.5))
    err = np.abs(10 * np.log10(load_wv(out).images[:20]) - db_true)
    assert err.max() <= 55 / 255 / 2 + 1e-4


@pytest.mark.parametrize(
    "args, words",
    [
        (["--encoding", "int4"], "--encoding must be one of float32, float16, uint8"),
        (["--encoding", "uint8", "--db-range", "10,-60"], "--db-range must be LO,HI"),
    ],
)
def test_bad_storage_options_are_one_line(tmp_path, args, words):
    res = runner.invoke(app, ["sar", "synth-wv", "--n", "4", "--size", "8", *args, "--out",
                              str(tmp_path / "x.zarr")])  # fmt: skip
    assert res.exit_code == 2
    assert words in res.output
    assert not (tmp_path / "x.zarr").exists()


def test_pretrain_refuses_several_stores_without_streaming(tmp_path):
    from eoforge.sar.store import save_wv

    a = save_wv(synth_wv(8, size=8, seed=0), tmp_path / "a.zarr")
    b = save_wv(synth_wv(8, size=8, seed=1), tmp_path / "b.zarr")
    res = runner.invoke(app, ["ssl", "pretrain", f"{a},{b}", "--no-stream", "--out",
                              str(tmp_path / "run")])  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "drop --no-stream" in res.output


def _npy_folder(root, n=7, size=8, odd=None):
    """``n`` .npy imagettes in two class folders; file ``odd`` (if given) is 1 px larger."""
    rng = np.random.default_rng(0)
    for i in range(n):
        cls = "wind_streaks" if i % 2 else "pure_ocean_waves"
        (root / cls).mkdir(parents=True, exist_ok=True)
        s = size + 1 if i == odd else size
        np.save(root / cls / f"im{i:02d}.npy", rng.gamma(4.0, 0.05, (s, s)).astype(np.float32))
    return root


def test_import_in_blocks_equals_whole_import(tmp_path):
    from eoforge.sar.readers import load_imagettes

    folder = _npy_folder(tmp_path / "in")
    whole = load_imagettes(folder, labels="folders")
    out = tmp_path / "blocks.zarr"
    res = runner.invoke(app, ["sar", "import", str(folder), "--labels", "folders", "--chunk-size",
                              "3", "--sample-chunk", "2", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    back = load_wv(out)  # 3 blocks of 3, 3, 1 files appended
    np.testing.assert_array_equal(back.images, whole.images)
    np.testing.assert_array_equal(back.labels, whole.labels)
    assert back.attrs["files"] == whole.attrs["files"]
    assert read_meta(out)["sample_chunk"] == 2


def test_import_in_blocks_refuses_a_late_odd_size_and_writes_nothing(tmp_path):
    folder = _npy_folder(tmp_path / "in", odd=5)
    out = tmp_path / "x.zarr"
    res = runner.invoke(app, ["sar", "import", str(folder), "--chunk-size", "3", "--out",
                              str(out)])  # fmt: skip
    assert res.exit_code == 2 and "crop" in res.output
    assert not out.exists() and not list(tmp_path.glob(".x*"))
    res = runner.invoke(app, ["sar", "import", str(folder), "--chunk-size", "3", "--crop", "8",
                              "--encoding", "uint8", "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert load_wv(out).images.shape == (7, 8, 8)
