"""Real station maxima (Colorado, R ``fields``) regionalised end to end through the CLI.

The data are read from the installed R package at test time (GPL: never copied here); the tests
skip when Rscript or ``fields`` is missing. ``tests/helpers/colorado.py`` documents the year rule
(>= 11 of 12 months reported) and the units (``CO.ppt`` is in cm, not mm as its help says).
The command is the README's "Real data" example with a smaller ``--n-sim``.
"""

import json

import numpy as np
import pytest
import xarray as xr
from scipy import stats
from typer.testing import CliRunner

from tests.helpers.colorado import (
    annual_maxima_of_months,
    colorado_maxima_nc,
    export_colorado,
    monthly_cube,
    r_fields_available,
)

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.r,
    pytest.mark.skipif(
        not r_fields_available(), reason="Rscript or the R package fields is missing"
    ),
]

MIN_YEARS, MIN_COMMON = 30, 20


@pytest.fixture(scope="module")
def colorado(tmp_path_factory):
    """The maxima file and one ``eoforge extremes cluster`` run on it (about 5 s)."""
    from eoforge.cli.main import app

    root = tmp_path_factory.mktemp("colorado")
    path = colorado_maxima_nc(root)
    out = root / "run"
    res = CliRunner().invoke(app, [
        "extremes", "cluster", str(path), "--var", "ppt_max", "--k", "auto",
        "--min-years", str(MIN_YEARS), "--min-common-years", str(MIN_COMMON),
        "--n-sim", "100", "--out", str(out),
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    ds = xr.open_dataset(path).load()
    return {
        "root": root,
        "data": ds,
        "out": out,
        "res": res,
        "summary": json.loads((out / "summary.json").read_text()),
        "region": xr.open_dataset(out / "regions.nc")["region"].values,
    }


def test_units_are_centimetres_and_the_year_rule_holds(colorado):
    """Mean annual totals of three stations against their NOAA normals (about 180/400/500 mm)."""
    import pandas as pd

    ppt_csv, st_csv = colorado["root"] / "ppt.csv", colorado["root"] / "stations.csv"
    st = pd.read_csv(st_csv, dtype={"id": str})
    cube = monthly_cube(ppt_csv, len(st))  # mm after the cm -> mm conversion
    full = np.isfinite(cube).all(axis=1)
    annual = np.where(full, np.nansum(cube, axis=1), np.nan)
    for station, normal in (("050130", 183.0), ("052220", 401.0), ("050848", 508.0)):
        i = int(np.flatnonzero(st["id"] == station)[0])
        assert abs(np.nanmean(annual[:, i]) / normal - 1) < 0.1, station
    # the year rule: 11 reported months give a maximum, 10 do not
    n_months = np.isfinite(cube).sum(axis=1)
    maxima = annual_maxima_of_months(cube)
    assert np.isfinite(maxima[n_months >= 11]).all() and np.isnan(maxima[n_months < 11]).all()
    assert int((n_months == 12).sum()) == 14630 and int((n_months == 11).sum()) == 643
    np.testing.assert_array_equal(colorado["data"]["ppt_max"].values, maxima)
    assert colorado["data"]["ppt_max"].attrs["units"] == "mm"


def test_stations_with_gaps_are_masked_and_reported(colorado):
    s, region = colorado["summary"], colorado["region"]
    masked = s["masked_sites"]
    assert s["n_sites"] == 376
    assert len(masked["too_few_years"]) > 100  # many short records (< 30 maxima)
    assert len(masked["too_few_common_years"]) > 10  # records from other decades
    assert s["n_masked"] == sum(len(v) for v in masked.values())
    assert sorted(np.flatnonzero(region < 0).tolist()) == sorted(
        s for v in masked.values() for s in v
    )
    # independent check: every pair of kept stations shares >= MIN_COMMON years
    fin = np.isfinite(colorado["data"]["ppt_max"].values[:, region >= 0]).astype(int)
    assert (fin.T @ fin).min() >= MIN_COMMON
    assert '"too_few_common_years"' in colorado["res"].stdout  # counts printed by the CLI
    report = (colorado["out"] / "report.html").read_text()
    assert f"masked: {len(masked['too_few_common_years'])} sites share fewer" in report


def test_regions_split_the_western_slope_from_the_eastern_plains(colorado):
    """The regions found differ in longitude and elevation, as Colorado's climate does."""
    s, region, ds = colorado["summary"], colorado["region"], colorado["data"]
    assert s["k"] >= 2 and len(s["regions"]) == s["k"]
    lon, elev = ds["lon"].values, ds["elev"].values
    means = [(lon[region == r].mean(), elev[region == r].mean()) for r in range(s["k"])]
    west, east = int(np.argmin([m[0] for m in means])), int(np.argmax([m[0] for m in means]))
    assert means[east][0] - means[west][0] > 2.0  # degrees of longitude
    assert means[east][1] < means[west][1]  # the plains are lower
    p = stats.mannwhitneyu(lon[region == west], lon[region == east]).pvalue
    assert p < 1e-6
    # the plains' monthly maxima are larger (summer convection), by site medians
    med = np.nanmedian(ds["ppt_max"].values, axis=0)
    assert np.mean(med[region == east]) > np.mean(med[region == west])
    assert all(r.get("H1") is not None for r in s["regions"])


def test_weak_structure_is_warned_as_documented(colorado):
    """Monthly maxima of nearby stations overlap a lot: best silhouette <= 0.25 -> a warning."""
    s = colorado["summary"]
    best = max(r["silhouette"] for r in s["silhouette_table"])
    assert 0 < best <= 0.25
    assert len(s["warnings"]) == 1 and s["warnings"][0].startswith(f"weak structure: K = {s['k']}")
    assert "warning: weak structure" in colorado["res"].stderr
    assert "weak structure" in (colorado["out"] / "report.html").read_text()


def test_export_writes_only_reported_months(tmp_path):
    import pandas as pd

    ppt_csv, st_csv = export_colorado(tmp_path)
    p = pd.read_csv(ppt_csv)
    assert len(pd.read_csv(st_csv)) == 376 and p["ppt"].notna().all()
    assert p["year"].between(1895, 1997).all() and p["month"].between(1, 12).all()
