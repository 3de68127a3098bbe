"""Colorado station maxima from R's ``fields`` package, for real-data tests and benchmarks.

``fields`` (GPL-2+, Debian ``r-cran-fields``; installed by ``.ci/run``) ships ``COmonthlyMet``:
``CO.ppt``, monthly precipitation totals, 103 years (1895-1997) x 12 months x 376 stations
in and around Colorado (lon -109.5..-101, lat 36.5..41.5), NA where a station did not report;
``CO.loc`` (lon, lat), ``CO.elev`` (m) and ``CO.id``. The data stay in R: they are exported to
CSV in a temporary folder at test time and never copied into the repository.

Annual maxima: the largest monthly total of each station-year. Rule: a year counts only if at
least ``min_months`` = 11 of its 12 months are reported (11/12 >= 0.9, the share of valid days
the daily reader asks for); otherwise the maximum is missing (NaN). In ``CO.ppt`` 14,630
station-years have all 12 months and 643 have 11; a missing month holds the wettest one about 1
time in 12, so the rule biases about 0.3% of the maxima low, against 4% more years.

Units: the help page of ``COmonthlyMet`` says millimetres, but the values are centimetres: read
as cm, the mean annual totals are Alamosa 183 mm, Denver Stapleton 398 mm, Boulder 494 mm
(NOAA normals about 180, 400 and 500 mm); read as mm they would be ten times too dry. The
helper multiplies by 10 and writes mm (``tests/extremes/test_realdata_colorado.py`` checks it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

FIRST_YEAR = 1895
MIN_MONTHS = 11
CM_TO_MM = 10.0  # CO.ppt is in cm (module docstring)

R_EXPORT = r"""
suppressMessages(library(fields))
data(COmonthlyMet)
out <- commandArgs(trailingOnly = TRUE)[1]
d <- dim(CO.ppt)  # year, month, station
long <- data.frame(station = rep(seq_len(d[3]), each = d[1] * d[2]),
                   month = rep(rep(seq_len(d[2]), each = d[1]), d[3]),
                   year = rep(CO.years, d[2] * d[3]), ppt = as.vector(CO.ppt))
write.csv(long[!is.na(long$ppt), ], file.path(out, "ppt.csv"), row.names = FALSE)
write.csv(data.frame(station = seq_len(d[3]), id = CO.id, lon = CO.loc[, 1],
                     lat = CO.loc[, 2], elev = CO.elev),
          file.path(out, "stations.csv"), row.names = FALSE)
"""


def r_fields_available() -> bool:
    """True when Rscript and the R package ``fields`` are installed."""
    if shutil.which("Rscript") is None:
        return False
    try:
        res = subprocess.run(
            ["Rscript", "-e", "suppressMessages(library(fields))"], capture_output=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def export_colorado(folder: Path) -> tuple[Path, Path]:
    """Write ``ppt.csv`` (station, month, year, ppt in mm; reported months only) and
    ``stations.csv`` (station, id, lon, lat, elev in m) into ``folder`` with Rscript."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "export.R"
    script.write_text(R_EXPORT)
    subprocess.run(
        ["Rscript", str(script), str(folder)], check=True, capture_output=True, timeout=120
    )
    return folder / "ppt.csv", folder / "stations.csv"


def monthly_cube(ppt_csv: Path, n_stations: int) -> np.ndarray:
    """(n_years, 12, n_stations) monthly totals in mm, NaN where not reported."""
    import pandas as pd

    p = pd.read_csv(ppt_csv)
    n_years = int(p["year"].max()) - FIRST_YEAR + 1
    cube = np.full((n_years, 12, n_stations), np.nan)
    cube[p["year"] - FIRST_YEAR, p["month"] - 1, p["station"] - 1] = p["ppt"] * CM_TO_MM
    return cube


def annual_maxima_of_months(cube: np.ndarray, min_months: int = MIN_MONTHS) -> np.ndarray:
    """(n_years, n_sites) largest monthly total; NaN for years with < ``min_months`` months."""
    valid = np.isfinite(cube).sum(axis=1)
    out = np.where(np.isfinite(cube), cube, -np.inf).max(axis=1)
    return np.where(valid >= min_months, out, np.nan)


def colorado_maxima_nc(folder: Path, min_months: int = MIN_MONTHS) -> Path:
    """Export with R and write ``folder/colorado_maxima.nc``: ``ppt_max`` (year, site) in mm
    with ``lon``, ``lat``, ``elev`` and ``station_id`` along ``site``."""
    import pandas as pd
    import xarray as xr

    from eoforge.io.netcdf import write_dataset

    ppt_csv, stations_csv = export_colorado(Path(folder))
    st = pd.read_csv(stations_csv, dtype={"id": str})
    maxima = annual_maxima_of_months(monthly_cube(ppt_csv, len(st)), min_months)
    years = np.arange(FIRST_YEAR, FIRST_YEAR + maxima.shape[0])
    da = xr.DataArray(
        maxima,
        dims=("year", "site"),
        coords={
            "year": years,
            "lon": ("site", st["lon"].to_numpy(float)),
            "lat": ("site", st["lat"].to_numpy(float)),
            "elev": ("site", st["elev"].to_numpy(float)),
            "station_id": ("site", st["id"].to_numpy(str)),
        },
        name="ppt_max",
        attrs={
            "units": "mm",
            "long_name": "annual maximum of monthly precipitation totals",
            "source": "R package fields, data(COmonthlyMet), CO.ppt (GPL-2+)",
            "year_rule": f"a year counts if >= {min_months} of its 12 months are reported",
        },
    )
    return write_dataset(da, Path(folder) / "colorado_maxima.nc")
