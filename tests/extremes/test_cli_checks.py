"""``eoforge extremes``: options checked up front, one-line reader errors, warnings that matter.

Every error case checks exit code 2, exactly one ``error:`` line on stderr that names the option
as typed (or the file), and that no run folder was made.
"""

import json
import shutil

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from eoforge.extremes import adjusted_rand_index, simulate_regions
from eoforge.io.netcdf import write_dataset

runner = CliRunner()


def invoke(*args: str):
    from eoforge.cli.extremes import app

    return runner.invoke(app, [str(a) for a in args])


def one_error_line(res) -> str:
    """The single stderr line of a failed command (asserts exit 2 and one line, no URL)."""
    assert res.exit_code == 2, (res.exit_code, res.output)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), lines[0]
    assert "http" not in lines[0] and "Traceback" not in res.output
    return lines[0]


def _write_sites(path, maxima: np.ndarray):
    years = np.arange(1980, 1980 + maxima.shape[0])
    da = xr.DataArray(
        maxima,
        dims=("year", "site"),
        coords={"year": years, "lon": ("site", np.arange(maxima.shape[1], dtype=float))},
        name="pr",
        attrs={"units": "mm/day"},
    )
    return write_dataset(da, path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Planted 3 regions (60 sites, 40 years), 25 independent sites, and a small ensemble."""
    root = tmp_path_factory.mktemp("ext")
    sim = simulate_regions(60, 40, 3, shapes=(0.0, 0.15, 0.3), alpha=0.5, random_state=0)
    planted = _write_sites(root / "planted.nc", sim.maxima)
    noise = np.random.default_rng(0).gumbel(30.0, 8.0, size=(40, 25))
    random = _write_sites(root / "random.nc", noise)
    res = invoke("simulate", "--out", root / "ens", "--models", "2", "--years", "30",
                 "--resolution", "30")  # fmt: skip
    assert res.exit_code == 0, res.output
    other = xr.open_dataset(root / "ens" / "historical_model01.nc").load()
    coarse = write_dataset(other.isel(lat=slice(1, None)), root / "coarse.nc")
    return {"planted": planted, "labels": sim.labels, "random": random, "ens": root / "ens",
            "coarse": coarse}  # fmt: skip


CLUSTER_BAD = [
    (["--n-sim", "-1"], "--n-sim must be an integer >= 2, got -1"),
    (["--n-sim", "0"], "--n-sim must be an integer >= 2, got 0"),
    (["--k", "0"], "--k must be an integer >= 1, got 0"),
    (["--k", "many"], "--k must be 'auto' or an integer, got 'many'"),
    (["--k-min", "1"], "--k-min must be an integer >= 2, got 1"),
    (["--k-min", "5", "--k-max", "3"], "--k-max must be an integer >= --k-min (5), got 3"),
    (["--min-years", "2"], "--min-years must be an integer >= 3, got 2"),
    (["--min-common-years", "2"], "--min-common-years must be an integer >= 3, got 2"),
    (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
    (["--method", "euclid"], "--method must be one of rfa-madogram, fmadogram, pwm-ratio"),
]


@pytest.mark.parametrize("args, message", CLUSTER_BAD)
def test_cluster_options_are_checked_up_front(files, tmp_path, args, message):
    out = tmp_path / "run"
    line = one_error_line(invoke("cluster", files["planted"], "--out", out, *args))
    assert line.startswith(f"error: {message}"), line
    assert not out.exists()


@pytest.mark.parametrize(
    "command, args, message",
    [
        ("consensus", ["--rule", "vote"], "--rule must be one of mean-dissimilarity"),
        ("consensus", ["--min-years", "0"], "--min-years must be an integer >= 3, got 0"),
        ("consensus", ["--min-common-years", "1"], "--min-common-years must be an integer >= 3"),
        ("attribute", ["--min-common-years", "0"], "--min-common-years must be an integer >= 3"),
        ("consensus", ["--k-max", "1"], "--k-max must be an integer >= --k-min (2), got 1"),
        ("attribute", ["--k", "-3"], "--k must be an integer >= 1, got -3"),
        ("attribute", ["--seed", "-2"], "--seed must be an integer >= 0, got -2"),
    ],
)
def test_ensemble_options_are_checked_up_front(files, tmp_path, command, args, message):
    out = tmp_path / "run"
    model = files["ens"] / "historical_model00.nc"
    inputs = [model] if command == "consensus" else ["--natural", model, "--all", model]
    line = one_error_line(invoke(command, *inputs, "--out", out, *args))
    assert line.startswith(f"error: {message}"), line
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--models", "0"], "--models must be an integer >= 1, got 0"),
        (["--years", "5"], "--years must be an integer >= 10, got 5"),
        (["--resolution", "-5"], "--resolution must be in [0.25, 60] degrees, got -5.0"),
        (["--resolution", "0"], "--resolution must be in [0.25, 60] degrees, got 0.0"),
    ],
)
def test_simulate_options_are_checked(tmp_path, args, message):
    line = one_error_line(invoke("simulate", "--out", tmp_path / "sim", *args))
    assert line.startswith(f"error: {message}"), line
    assert not (tmp_path / "sim").exists()


def test_options_checked_against_the_data_name_the_option(files, tmp_path):
    path = str(files["planted"])
    out = tmp_path / "run"
    line = one_error_line(invoke("cluster", path, "--out", out, "--min-years", "50"))
    assert f"--min-years 50 is more than the 40 years in {path!r}" in line
    line = one_error_line(invoke("cluster", path, "--out", out, "--min-common-years", "41"))
    assert f"--min-common-years 41 is more than the 40 years in {path!r}" in line
    line = one_error_line(invoke("cluster", path, "--out", out, "--k", "60"))
    assert f"--k 60 is too large for the 60 usable sites of {path!r}; pass --k 59" in line
    line = one_error_line(invoke("cluster", path, "--out", out, "--k-min", "70", "--k-max", "80"))
    assert "--k-min 70 is too large for the 60 usable sites" in line
    assert not out.exists()


def test_pairs_with_few_common_years_are_masked_and_reported(tmp_path):
    x = np.random.default_rng(1).gumbel(30.0, 8.0, size=(30, 8))
    x[:15, 0] = np.nan  # sites 0 and 1 have 15 years each but none in common
    x[15:, 1] = np.nan
    path = _write_sites(tmp_path / "gaps.nc", x)
    out = tmp_path / "run"
    res = invoke("cluster", path, "--out", out, "--n-sim", "20", "--k", "2")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    # a tie (one bad pair each, 15 years each): the lower index goes
    assert summary["masked_sites"]["too_few_common_years"] == [0]
    assert summary["n_masked"] == 1 and '"too_few_common_years": 1' in res.stdout
    assert "1 sites share fewer than --min-common-years" in (out / "report.html").read_text()
    regions = xr.open_dataset(out / "regions.nc")["region"].values
    assert regions[0] == -1 and (regions[1:] >= 0).all()
    # asking for fewer common years than the pair has keeps both sites
    res = invoke("cluster", path, "--out", tmp_path / "r2", "--k", "2", "--n-sim", "20",
                 "--min-years", "10", "--min-common-years", "3")  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["n_masked"] == 1  # sites 0 and 1 share no year at all: one must still go


def test_a_failed_run_leaves_no_folder(files, tmp_path, monkeypatch):
    """An error after the run folder was made (here: inside the pipeline) removes it."""
    import eoforge.extremes.jobs as jobs
    from eoforge.core.errors import InputError

    def boom(*args, **kwargs):
        raise InputError("min_common_years=12 is too large for these sites")

    monkeypatch.setattr(jobs, "regionalise", boom)
    out = tmp_path / "new" / "run"
    line = one_error_line(invoke("cluster", files["planted"], "--out", out, "--n-sim", "20"))
    assert line == "error: --min-common-years 12 is too large for these sites"
    assert not out.exists()


def test_weak_structure_warns_on_independent_sites(files, tmp_path):
    out = tmp_path / "run"
    res = invoke("cluster", files["random"], "--out", out, "--n-sim", "20")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    best = max(r["silhouette"] for r in summary["silhouette_table"])
    assert best < 0.25  # no structure was planted
    assert len(summary["warnings"]) == 1
    assert summary["warnings"][0].startswith(f"weak structure: K = {summary['k']} ")
    assert f"only {best:.3f}" in summary["warnings"][0]
    assert "warning: weak structure" in res.stderr
    assert "weak structure" in (out / "report.html").read_text()


def test_planted_regions_do_not_warn(files, tmp_path):
    out = tmp_path / "run"
    res = invoke("cluster", files["planted"], "--out", out, "--n-sim", "20")
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 3 and summary["warnings"] == []
    assert max(r["silhouette"] for r in summary["silhouette_table"]) > 0.25
    regions = xr.open_dataset(out / "regions.nc").region.values
    assert adjusted_rand_index(regions, files["labels"]) > 0.9
    assert "warning" not in res.stderr
    assert "weak structure" not in (out / "report.html").read_text()


def test_consensus_of_one_member_says_so(files, tmp_path):
    model = files["ens"] / "historical_model00.nc"
    res = invoke("consensus", model, "--out", tmp_path / "one")
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "one" / "summary.json").read_text())
    assert summary["warnings"][0].startswith("the consensus has one member (historical_model00)")
    assert summary["mean_pairwise_member_ari"] is None  # was 1.0: agreement of one model
    assert "warning: the consensus has one member" in res.stderr
    assert "the consensus has one member" in (tmp_path / "one" / "report.html").read_text()
    res = invoke("consensus", model, files["ens"] / "historical_model01.nc",
                 "--out", tmp_path / "two")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "one member" not in (tmp_path / "two" / "summary.json").read_text()


def test_attribution_with_one_model_per_side_says_so(files, tmp_path):
    out = tmp_path / "att"
    res = invoke("attribute", "--natural", files["ens"] / "hist-nat_model00.nc",
                 "--all", files["ens"] / "historical_model00.nc", "--out", out)  # fmt: skip
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert [w.split(":")[0] for w in summary["warnings"]] == ["all forcings", "natural"]
    assert all("the consensus has one member" in w for w in summary["warnings"])
    assert summary["within_experiment_mean_pairwise_ari"] == {"all_forcing": None, "natural": None}
    assert res.stderr.count("warning: ") == 2
    assert (out / "report.html").read_text().count("the consensus has one member") >= 2


def test_grid_mismatch_names_both_files(files, tmp_path):
    good = str(files["ens"] / "historical_model00.nc")
    coarse = str(files["coarse"])
    line = one_error_line(invoke("consensus", good, coarse, "--out", tmp_path / "c"))
    assert f"{coarse!r} is not on the grid of {good!r}" in line
    nat = str(files["ens"] / "hist-nat_model00.nc")
    line = one_error_line(
        invoke("attribute", "--natural", nat, "--all", coarse, "--out", tmp_path / "a")
    )
    assert f"{coarse!r} is not on the grid of {nat!r}" in line
    assert not (tmp_path / "c").exists() and not (tmp_path / "a").exists()


def test_missing_inputs_name_the_option(files, tmp_path):
    model = str(files["ens"] / "historical_model00.nc")
    line = one_error_line(invoke("attribute", "--natural", str(tmp_path / "n_*.nc"),
                                 "--all", model, "--out", tmp_path / "a"))  # fmt: skip
    assert line.startswith("error: --natural: no file matches")
    line = one_error_line(invoke("attribute", "--natural", model, "--all",
                                 str(tmp_path / "a_*.nc"), "--out", tmp_path / "a"))  # fmt: skip
    assert line.startswith("error: --all: no file matches")


def _unreadable(kind: str, root, good):
    """Make one kind of unreadable input next to a good NetCDF file ``good``."""
    if kind == "garbage.nc":
        path = root / kind
        path.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "truncated.nc":
        path = root / kind
        data = good.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "nometa.zarr":
        path = root / kind
        (path / "pr").mkdir(parents=True)
        (path / "pr" / "0.0").write_bytes(b"chunk")
    elif kind == "corrupt_chunks.zarr":
        path = root / kind
        write_dataset(xr.open_dataset(good).load(), path)
        chunks = [p for p in (path / "pr").rglob("*") if p.is_file() and "zarr" not in p.name]
        assert chunks
        for chunk in chunks:
            if not chunk.name.startswith("."):
                chunk.write_bytes(b"not a compressed chunk")
    elif kind == "folder":
        path = root / "folder"
        path.mkdir()
        shutil.copy(good, path / "x.nc")
    return path


@pytest.mark.parametrize(
    "kind, words",
    [
        ("garbage.nc", "is not a NetCDF file"),
        ("truncated.nc", "looks like NetCDF but cannot be read, probably truncated or corrupt"),
        ("nometa.zarr", "is not a Zarr store: it has no zarr.json or .zgroup metadata"),
        ("corrupt_chunks.zarr", "could not read the values of 'pr'"),
        ("folder", "is a folder but not a Zarr store"),
    ],
)
def test_unreadable_files_give_one_line(files, tmp_path, kind, words):
    path = _unreadable(kind, tmp_path, files["planted"])
    line = one_error_line(invoke("cluster", path, "--out", tmp_path / "run"))
    assert words in line and repr(str(path)) in line
    good = files["ens"] / "historical_model00.nc"
    line = one_error_line(invoke("consensus", good, path, "--out", tmp_path / "run"))
    assert words in line
    assert not (tmp_path / "run").exists()


def test_missing_variable_and_time_dimension_give_one_line(files, tmp_path):
    path = str(files["planted"])
    line = one_error_line(invoke("cluster", path, "--var", "tas", "--out", tmp_path / "a"))
    assert f"variable 'tas' not found in {path!r}" in line and "--var" in line
    ds = xr.open_dataset(path).load().rename({"year": "yr"})
    bad = write_dataset(ds, tmp_path / "yr.nc")
    line = one_error_line(invoke("cluster", bad, "--out", tmp_path / "b"))
    assert f"variable 'pr' in {str(bad)!r} has dims ('yr', 'site')" in line
    assert "ds.rename({'yr': 'year'})" in line


def test_simulate_does_not_overwrite_an_existing_folder_unless_asked(tmp_path):
    from typer.testing import CliRunner

    from eoforge.cli.main import app

    out = tmp_path / "sim"
    out.mkdir()
    (out / "mine.nc").write_bytes(b"keep")
    args = ["extremes", "simulate", "--out", str(out), "--models", "1", "--years", "10",
            "--resolution", "30"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert (out / "mine.nc").read_bytes() == b"keep"
    assert CliRunner().invoke(app, [*args, "--overwrite"]).exit_code == 0
    assert (out / "truth.nc").is_file()
