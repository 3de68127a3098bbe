"""End-to-end: ``eoforge extremes`` on files the tests write, outputs read back and checked."""

import json
import re

import cftime
import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from eoforge.extremes import adjusted_rand_index, simulate_regions
from eoforge.io.netcdf import write_dataset

runner = CliRunner()


def flat(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─]+", " ", text)


def invoke(*args: str):
    from eoforge.cli.main import app

    return runner.invoke(app, ["extremes", *args])


@pytest.fixture(scope="module")
def daily_file(tmp_path_factory):
    """Daily CMIP-like pr (kg m-2 s-1, noleap) on a 6 x 10 grid whose annual maxima are planted."""
    sim = simulate_regions(60, 30, 2, shapes=(0.0, 0.3), alpha=0.4, random_state=5)
    years = np.arange(1980, 2010)
    rng = np.random.default_rng(0)
    time = [cftime.DatetimeNoLeap(y, 1, 1) + __import__("datetime").timedelta(days=d)
            for y in years for d in range(365)]  # fmt: skip
    daily = rng.uniform(0, 0.5, (len(time), 60)) * sim.maxima.min()
    day_of_max = rng.integers(0, 365, (30, 60))
    for i in range(30):
        daily[i * 365 + day_of_max[i], np.arange(60)] = sim.maxima[i]
    pr = (daily / 86400.0).reshape(len(time), 6, 10).astype(np.float64)
    lat = np.linspace(40, 50, 6)
    lon = np.linspace(0, 18, 10)
    da = xr.DataArray(pr, dims=("time", "lat", "lon"),
                      coords={"time": time, "lat": lat, "lon": lon},
                      name="pr", attrs={"units": "kg m-2 s-1"})  # fmt: skip
    path = tmp_path_factory.mktemp("daily") / "pr_day.nc"
    write_dataset(da, path)
    return path, sim


def test_cluster_daily_file_end_to_end(daily_file, tmp_path):
    path, sim = daily_file
    out = tmp_path / "run"
    res = invoke("cluster", str(path), "--out", str(out), "--n-sim", "50")
    assert res.exit_code == 0, res.output
    regions = xr.open_dataset(out / "regions.nc")
    assert regions.region.dims == ("lat", "lon")
    np.testing.assert_array_equal(regions.lat.values, np.linspace(40, 50, 6))
    labels = regions.region.values.ravel()
    assert adjusted_rand_index(labels, sim.labels) > 0.9
    summary = json.loads((out / "summary.json").read_text())
    assert summary["k"] == 2 and len(summary["silhouette_table"]) == 9
    assert all("H1" in r for r in summary["regions"])
    assert int(regions.is_medoid.sum()) == 2
    assert (out / "config.yaml").read_text().count("method: rfa-madogram") == 1
    for name in ("report.html", "figures/regions.png", "figures/silhouette.png", "manifest.json"):
        assert (out / name).exists(), name


def test_cluster_errors_name_the_fix(daily_file, tmp_path):
    path, _ = daily_file
    res = invoke("cluster", str(path), "--var", "tas", "--out", str(tmp_path / "a"))
    assert res.exit_code == 2 and "Pass one of these with --var" in flat(res.output)
    res = invoke("cluster", str(tmp_path / "none.nc"), "--out", str(tmp_path / "b"))
    assert res.exit_code == 2 and "does not exist" in flat(res.output)
    res = invoke("cluster", str(path), "--method", "euclid", "--out", str(tmp_path / "c"))
    assert res.exit_code == 2 and "method" in flat(res.output)
    res = invoke("cluster", str(path), "--k", "many", "--out", str(tmp_path / "d"))
    assert res.exit_code == 2 and "--k must be 'auto' or an integer" in flat(res.output)
    assert not (tmp_path / "c" / "regions.nc").exists()


def test_simulate_consensus_attribute(tmp_path):
    data = tmp_path / "sim"
    res = invoke("simulate", "--out", str(data), "--models", "3", "--years", "40",
                 "--resolution", "20")  # fmt: skip
    assert res.exit_code == 0, res.output
    res = invoke("consensus", str(data / "historical_*.nc"), "--out", str(tmp_path / "cons"))
    assert res.exit_code == 0, res.output
    cons = json.loads((tmp_path / "cons" / "summary.json").read_text())
    assert len(cons["models"]) == 3 and cons["k"] >= 2
    res = invoke("attribute", "--natural", str(data / "hist-nat_*.nc"),
                 "--all", str(data / "historical_*.nc"), "--out", str(tmp_path / "att"))  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "sites change region" in res.output
    att = json.loads((tmp_path / "att" / "summary.json").read_text())
    assert 0 <= att["comparison_all_vs_natural"]["ari"] <= 1
    assert (tmp_path / "att" / "figures" / "changed_sites.png").exists()


def test_consensus_rejects_mismatched_grids(tmp_path):
    data = tmp_path / "sim"
    invoke("simulate", "--out", str(data), "--models", "2", "--years", "30", "--resolution", "20")
    other = xr.open_dataset(data / "historical_model01.nc").load()
    write_dataset(other.isel(lat=slice(1, None)), tmp_path / "coarse.nc")
    res = invoke("consensus", str(data / "historical_model00.nc"), str(tmp_path / "coarse.nc"),
                 "--out", str(tmp_path / "c"))  # fmt: skip
    assert res.exit_code == 2 and "regrid all models to one common grid" in flat(res.output)
    res = invoke("consensus", str(tmp_path / "nothing_*.nc"), "--out", str(tmp_path / "d"))
    assert res.exit_code == 2 and "no file matches" in flat(res.output)
