"""``eoforge sar info`` on broken stores: one ``error:`` line and exit code 2, no traceback."""

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.sar.bad_stores import make_bad_stores

runner = CliRunner()


@pytest.fixture(scope="module")
def bad(tmp_path_factory):
    return make_bad_stores(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize(
    "kind, words",
    [
        ("no_metadata", "no_metadata.zarr"),
        ("garbage_npz", "is a .npz file, not a WV store"),
        ("truncated_npz", "is a .npz file, not a WV store"),
    ],
)
def test_info_on_broken_input_is_one_line(bad, kind, words):
    from eoforge.cli.main import app

    res = runner.invoke(app, ["sar", "info", str(bad[kind])])
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert words in lines[0]


def test_corrupt_chunks_are_named_by_load_wv(bad):
    from eoforge.core.errors import InputError
    from eoforge.sar.store import load_wv, summarise

    assert summarise(bad["corrupt_chunks"])["n"] == 24  # labels and targets still read
    with pytest.raises(InputError, match=r"could not read 'images' from the WV store .*corrupt"):
        load_wv(bad["corrupt_chunks"])


def test_synth_wv_defaults_to_16_looks_and_never_overwrites_silently(tmp_path):
    from eoforge.cli.main import app
    from eoforge.sar.stats import enl
    from eoforge.sar.store import load_wv

    out = tmp_path / "wv.zarr"
    args = ["sar", "synth-wv", "--n", "12", "--size", "32", "--prior", "uniform", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    first = load_wv(out)
    assert first.attrs["looks"] == 16
    assert enl(first.images, window=8) > 4  # single-look speckle gives about 1
    res = runner.invoke(app, [*args[:-1], str(out), "--seed", "1"])
    assert res.exit_code == 2
    assert res.output.strip() == (
        f"error: --out {str(out)!r} already exists; pass --overwrite to replace it, or choose "
        "another --out."
    )
    np.testing.assert_array_equal(load_wv(out).images, first.images)
    res = runner.invoke(app, [*args, "--seed", "1", "--looks", "1", "--overwrite"])
    assert res.exit_code == 0, res.output
    assert load_wv(out).attrs["looks"] == 1
    assert not np.array_equal(load_wv(out).images, first.images)


def test_import_never_overwrites_silently(tmp_path):
    from eoforge.cli.main import app

    folder = tmp_path / "imgs"
    folder.mkdir()
    np.save(folder / "a.npy", np.full((4, 4), 0.1))
    out = tmp_path / "real.zarr"
    out.mkdir()
    res = runner.invoke(app, ["sar", "import", str(folder), "--out", str(out)])
    assert res.exit_code == 2 and "already exists; pass --overwrite" in res.output
    assert (
        runner.invoke(
            app, ["sar", "import", str(folder), "--out", str(out), "--overwrite"]
        ).exit_code
        == 0
    )
