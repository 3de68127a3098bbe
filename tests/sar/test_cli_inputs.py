"""``eoforge sar info`` on broken stores: one ``error:`` line and exit code 2, no traceback."""

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
