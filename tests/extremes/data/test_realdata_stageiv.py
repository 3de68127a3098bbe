"""Real hourly Stage IV radar-gauge precipitation (R ``stars``, Apache-2.0) through eoforge.io.

``stars`` ships ``nc/test_stageiv_xyt.nc``: 23 hourly grids (87 x 118 cells of 4 km, curvilinear
lat/lon) over North Carolina during Hurricane Florence, 2018-09-13 19:00 to 2018-09-14 17:00 UTC,
in kg m-2 per hour. Read from the installed package; skipped when it is missing.
"""

import subprocess
from pathlib import Path

import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.extremes.data.files import load_maxima
from eoforge.io.netcdf import load_variable

VAR = "Total_precipitation_surface_1_Hour_Accumulation"


def _stageiv() -> Path | None:
    try:
        res = subprocess.run(
            ["Rscript", "-e", 'cat(system.file("nc/test_stageiv_xyt.nc", package="stars"))'],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = res.stdout.strip()
    return Path(path) if res.returncode == 0 and path else None


STAGEIV = _stageiv()
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.r,
    pytest.mark.skipif(STAGEIV is None, reason="Rscript or the R package stars is missing"),
]


def test_hourly_grid_units_and_cf_time_axis():
    da = load_variable(STAGEIV, VAR)
    assert da.dims == ("time", "y", "x") and da.shape == (23, 118, 87)
    assert da.attrs["units"] == "kg m^-2" and "interval: 1 hr" in da.attrs["cell_methods"]
    # "Hour since 2001-12-31T23:00:00Z" decodes to hourly datetimes
    t = da["time"].values
    assert str(t[0])[:16] == "2018-09-13T19:00" and str(t[-1])[:16] == "2018-09-14T17:00"
    assert (np.diff(t) == np.timedelta64(1, "h")).all()
    lat, lon = da["lat"].values, da["lon"].values
    assert lat.shape == (118, 87) and lat.min() > 32 and lat.max() < 38
    assert lon.min() > -81 and lon.max() < -74
    # period maxima and totals of a hurricane: large but physical (kg m-2 = mm of water)
    x = da.values
    assert np.isfinite(x).all() and x.min() == 0.0
    hourly_max, total = x.max(axis=0), x.sum(axis=0)
    assert 50 < np.percentile(hourly_max, 99.9) < 200
    # 23 h of Florence near the coast: hundreds of mm, far below the 24 h world record (1825 mm)
    assert 300 < total.max() < 1000
    assert (total >= hourly_max).all()


def test_hourly_data_are_refused_not_taken_for_daily_values():
    """Hourly input must be resampled to daily first: a maximum of hourly values is not Rx1day."""
    with pytest.raises(InputError, match="expects daily data"):
        load_maxima(STAGEIV, VAR)
