"""Annual maxima on CF calendars, missing-data rule, units, and site stacking."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.data.maxima import annual_maxima, days_in_year, stack_sites

CALENDARS = ["numpy", "noleap", "360_day", "proleptic_gregorian"]


def _daily(calendar: str, start: str = "2000-01-01", years: int = 4, sites: int = 3, seed=0):
    """Daily noise in [0, 1) with whole calendar years; 'numpy' gives a datetime64 axis."""
    if calendar == "numpy":
        end = np.datetime64(f"{int(start[:4]) + years}-01-01")
        time = xr.date_range(start, end, freq="D", inclusive="left")
    else:
        first = xr.date_range(start, periods=1, freq="D", calendar=calendar, use_cftime=True)
        n = int(sum(days_in_year(np.arange(years) + first[0].year, calendar)))
        time = xr.date_range(start, periods=n, freq="D", calendar=calendar, use_cftime=True)
    rng = np.random.default_rng(seed)
    return xr.DataArray(
        rng.random((time.size, sites)),
        dims=("time", "site"),
        coords={"time": time, "site": np.arange(sites)},
        attrs={"units": "mm/day", "standard_name": "precipitation_amount"},
        name="pr",
    )


@pytest.mark.parametrize("calendar", CALENDARS)
def test_planted_maxima_are_recovered_exactly(calendar: str) -> None:
    da = _daily(calendar)
    rng = np.random.default_rng(1)
    year = da.time.dt.year.values
    truth = {}
    for y in np.unique(year):
        for s in range(da.sizes["site"]):
            idx = rng.choice(np.flatnonzero(year == y))  # a random day of that year
            truth[y, s] = 10.0 + y + 0.1 * s
            da[idx, s] = truth[y, s]
    am = annual_maxima(da)
    assert am.dims == ("year", "site")
    assert list(am.year.values) == [2000, 2001, 2002, 2003]
    for (y, s), value in truth.items():
        assert am.sel(year=y, site=s).item() == value
    assert am.attrs["units"] == "mm/day"
    assert am.attrs["standard_name"] == "precipitation_amount"
    assert am.attrs["cell_methods"] == "time: maximum within years"


def test_days_in_year_by_calendar() -> None:
    years = np.array([1900, 2000, 2001])
    np.testing.assert_array_equal(days_in_year(years, "proleptic_gregorian"), [365, 366, 365])
    np.testing.assert_array_equal(days_in_year(years, "julian"), [366, 366, 365])
    np.testing.assert_array_equal(days_in_year(years, "noleap"), [365, 365, 365])
    np.testing.assert_array_equal(days_in_year(years, "360_day"), [360, 360, 360])


@pytest.mark.parametrize("calendar", CALENDARS)
def test_year_with_20_percent_missing_days_is_masked(calendar: str) -> None:
    da = _daily(calendar)
    year = da.time.dt.year.values
    in_2001 = np.flatnonzero(year == 2001)
    in_2002 = np.flatnonzero(year == 2002)
    da[in_2001[: int(0.2 * in_2001.size)], 0] = np.nan  # 20 % missing: masked
    da[in_2002[: int(0.05 * in_2002.size)], 0] = np.nan  # 5 % missing: kept
    am = annual_maxima(da)
    assert np.isnan(am.sel(year=2001, site=0))
    assert np.isfinite(am.sel(year=2002, site=0))
    assert np.isfinite(am.sel(year=2001, site=1))  # other sites untouched
    assert annual_maxima(da, min_valid_fraction=0.75).sel(year=2001, site=0).notnull()


def test_rule_uses_the_calendar_length_and_masks_partial_years() -> None:
    # 325 valid days: 325/360 = 0.903 >= 0.9 in a 360_day calendar, 325/365 = 0.890 < 0.9 noleap
    for calendar, kept in (("360_day", True), ("noleap", False)):
        da = _daily(calendar, years=2)
        in_2000 = np.flatnonzero(da.time.dt.year.values == 2000)
        da[in_2000[325:], :] = np.nan
        assert bool(annual_maxima(da).sel(year=2000).notnull().all()) is kept
    # a record starting on 1 July: the first (half) year is masked, the next one is not
    da = _daily("noleap", start="2000-07-01", years=2)
    am = annual_maxima(da)
    assert bool(am.sel(year=2000).isnull().all())
    assert bool(am.sel(year=2001).notnull().all())


def test_units_conversion_and_kept_attributes() -> None:
    da = _daily("noleap") / 86400.0
    da.attrs = {"units": "kg m-2 s-1", "cell_methods": "time: mean", "long_name": "pr"}
    am = annual_maxima(da, to_mm_per_day=True)
    ref = annual_maxima(da)
    np.testing.assert_allclose(am.values, ref.values * 86400.0)
    assert am.attrs["units"] == "mm/day" and ref.attrs["units"] == "kg m-2 s-1"
    assert am.attrs["long_name"] == "pr"
    assert am.attrs["cell_methods"] == "time: mean time: maximum within years"
    da.attrs["units"] = "furlongs"
    with pytest.raises(InputError, match="units"):
        annual_maxima(da, to_mm_per_day=True)


def test_negative_values_error_and_tiny_negatives_clipped() -> None:
    da = _daily("noleap", years=1, sites=1)
    da[:] = -1e-9  # tiny model negatives: clipped, the maximum is 0 and not negative
    assert annual_maxima(da).item() == 0.0
    da[5, 0] = -0.5
    with pytest.raises(InputError, match="negative_tolerance"):
        annual_maxima(da)
    assert annual_maxima(da, negative_tolerance=-1.0).item() == 0.0


def test_clear_errors_on_bad_input() -> None:
    da = _daily("noleap", years=1)
    with pytest.raises(InputError, match="dim='t'"):
        annual_maxima(da, dim="t")
    with pytest.raises(InputError, match="numeric"):
        annual_maxima(da.astype(str))
    with pytest.raises(InputError, match="numeric"):
        annual_maxima(da > 0.5)
    with pytest.raises(InputError, match="datetime64 or cftime"):
        annual_maxima(da.assign_coords(time=np.arange(da.sizes["time"])))
    with pytest.raises(InputError, match="min_valid_fraction"):
        annual_maxima(da, min_valid_fraction=0.0)
    hourly = xr.DataArray(
        np.ones(24 * 400),
        dims="time",
        coords={"time": xr.date_range("2000-01-01", periods=24 * 400, freq="h")},
    )
    with pytest.raises(InputError, match="daily"):
        annual_maxima(hourly)


def test_dask_backed_input_gives_the_same_maxima() -> None:
    pytest.importorskip("dask")
    da = _daily("360_day")
    da[:30, 1] = np.nan
    np.testing.assert_array_equal(
        annual_maxima(da.chunk({"time": 200})).compute().values, annual_maxima(da).values
    )


# --------------------------------------------------------------------------- stacking


def _grid_maxima() -> xr.DataArray:
    rng = np.random.default_rng(3)
    lat = np.array([7.5, 2.5, -2.5])  # descending, as in many model files
    lon = np.array([-177.5, -172.5, -167.5, -162.5])
    return xr.DataArray(
        rng.gamma(2.0, 10.0, (5, 3, 4)),
        dims=("year", "lat", "lon"),
        coords={
            "year": np.arange(2000, 2005),
            "lat": ("lat", lat, {"units": "degrees_north"}),
            "lon": lon,
            "land": (("lat", "lon"), rng.random((3, 4)) > 0.5),
        },
        name="pr",
    )


def test_stack_unstack_round_trip_keeps_coords() -> None:
    am = _grid_maxima()
    st = stack_sites(am)
    assert st.values.shape == (5, 12) and st.site_dims == ("lat", "lon")
    # column j is grid cell (j // 4, j % 4)
    np.testing.assert_array_equal(st.values[:, 6], am.isel(lat=1, lon=2).values)
    np.testing.assert_array_equal(st.site_coordinate("lat"), np.repeat(am.lat.values, 4))
    np.testing.assert_array_equal(st.site_coordinate("lon"), np.tile(am.lon.values, 3))
    back = st.unstack(st.values, name="pr")
    xr.testing.assert_identical(back, am)
    assert back.lat.attrs["units"] == "degrees_north"
    labels = st.unstack(np.arange(12), name="cluster")
    assert labels.dtype.kind == "i"
    assert labels.sel(lat=-2.5, lon=-177.5).item() == 8
    np.testing.assert_array_equal(labels.land.values, am.land.values)


def test_stack_site_dimension_and_dropped_sites() -> None:
    am = _grid_maxima().stack(site=("lat", "lon")).reset_index("site", drop=True)
    am = am.assign_coords(site=np.arange(12))
    am[:, [3, 5]] = np.nan
    st = stack_sites(am, drop_all_nan=True)
    assert st.n_sites == 10 and st.site_dims == ("site",)
    np.testing.assert_array_equal(st.site_coordinate("site"), np.delete(np.arange(12), [3, 5]))
    back = st.unstack(np.arange(10.0))
    assert np.isnan(back.values[[3, 5]]).all()
    np.testing.assert_array_equal(np.delete(back.values, [3, 5]), np.arange(10.0))
    with pytest.raises(ShapeError):
        st.unstack(np.arange(12.0))
    with pytest.raises(InputError, match="year_dim"):
        stack_sites(am, year_dim="time")
    with pytest.raises(InputError, match="site dimension"):
        stack_sites(am.isel(site=0, drop=True))


def test_sparse_sub_daily_input_is_refused():
    """876 hourly values in a year pass the count-per-year check (< 365): the step gives them away."""
    import pandas as pd
    import xarray as xr

    from eoforge.core.errors import InputError
    from eoforge.extremes.data.maxima import annual_maxima

    hours = pd.date_range("2001-01-01", periods=876, freq="h")
    da = xr.DataArray(np.ones(876), dims="time", coords={"time": hours})
    with pytest.raises(InputError, match="expects daily data"):
        annual_maxima(da)
    days = pd.date_range("2001-01-01", "2001-12-31", freq="D")
    daily = xr.DataArray(np.arange(len(days), dtype=float), dims="time", coords={"time": days})
    assert float(annual_maxima(daily).item()) == len(days) - 1
