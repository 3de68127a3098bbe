"""End-to-end: ``eoforge sar`` writes stores that read back with the printed counts."""

import re

import numpy as np
from typer.testing import CliRunner

from eoforge.sar.store import load_wv

runner = CliRunner()


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["sar", *args])


def count_of(output: str, name: str) -> int:
    return int(re.search(rf"^{name}\s+(\d+)", output, re.M).group(1))


def test_synth_wv_then_info(tmp_path):
    out = tmp_path / "wv.zarr"
    png = tmp_path / "ex.png"
    res = invoke("synth-wv", "--n", "120", "--size", "16", "--seed", "0", "--out", str(out),
                 "--examples", str(png))  # fmt: skip
    assert res.exit_code == 0, res.output
    wvset = load_wv(out)
    assert wvset.images.shape == (120, 16, 16)
    counts = wvset.class_counts()
    assert count_of(res.output, "pure_ocean_waves") == counts[0]
    assert count_of(res.output, "icebergs") == counts[6]
    assert count_of(res.output, "total") == 120
    assert "near-duplicates: 6" in res.output
    assert png.stat().st_size > 1000
    info = invoke("info", str(out))
    assert info.exit_code == 0, info.output
    assert count_of(info.output, "wind_streaks") == counts[1]
    assert "120 of 16x16 pixels" in info.output
    # same seed, same data
    again = tmp_path / "again.nc"
    assert invoke("synth-wv", "--n", "120", "--size", "16", "--out", str(again)).exit_code == 0
    np.testing.assert_array_equal(load_wv(again).images, wvset.images)


def test_import_folder(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        np.save(folder / f"im{i}.npy", np.full((4, 4), 0.1 * (i + 1)))
    (tmp_path / "labels.csv").write_text("file,class\nim0.npy,rain cells\nim2.npy,icebergs\n")
    out = tmp_path / "real.zarr"
    res = invoke("import", str(folder), "--labels", str(tmp_path / "labels.csv"), "--out", str(out))
    assert res.exit_code == 0, res.output
    assert count_of(res.output, "rain_cells") == 1
    assert "(unlabelled)" in res.output
    assert list(load_wv(out).labels) == [3, -1, 6]


def test_errors_exit_2(tmp_path):
    res = invoke("info", str(tmp_path / "missing.zarr"))
    assert res.exit_code == 2
    assert "does not exist" in res.output
    res = invoke("synth-wv", "--n", "10", "--prior", "zipf", "--out", str(tmp_path / "x.zarr"))
    assert res.exit_code == 2
    assert "class_prior='zipf'" in res.output
    assert not (tmp_path / "x.zarr").exists()


def test_synth_wv_in_blocks(tmp_path):
    out = tmp_path / "blocks.zarr"
    res = invoke("synth-wv", "--n", "90", "--size", "8", "--chunk-size", "40", "--out", str(out),
                 "--incidence", "23.5,36.5")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert count_of(res.output, "total") == 90
    back = load_wv(out)
    assert back.class_counts().sum() == 90
    n_wv1 = int((back.incidence == 23.5).sum())
    assert f"incidence: 23.5 deg: {n_wv1}, 36.5 deg: {90 - n_wv1}" in res.output
    bad = invoke("synth-wv", "--incidence", "wv1", "--out", str(tmp_path / "b.zarr"))
    assert bad.exit_code == 2 and "--incidence" in bad.output
