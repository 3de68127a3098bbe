"""Annual maxima of daily precipitation on any CF calendar, and site stacking for clustering.

:func:`annual_maxima` turns a daily ``pr`` DataArray (numpy datetime64 or cftime time axis:
``standard``, ``proleptic_gregorian``, ``noleap``/``365_day``, ``all_leap``/``366_day``,
``360_day``, ``julian``) into block maxima per calendar year (Rx1day). :func:`stack_sites`
flattens (year, lat, lon) or (year, site) maxima into the (n_years, n_sites) matrix the
clustering code works on, and keeps what is needed to put per-site results back on the grid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import cftime
import numpy as np
import xarray as xr

from eoforge.core.errors import InputError, ShapeError, bad_value

FLUX_UNITS = frozenset({"kg m-2 s-1", "kg m**-2 s**-1", "kg m^-2 s^-1", "kg/m2/s", "kg/m^2/s"})
DAILY_UNITS = frozenset({"mm/day", "mm day-1", "mm d-1", "mm/d"})
SECONDS_PER_DAY = 86400.0


def days_in_year(years: np.ndarray, calendar: str) -> np.ndarray:
    """Number of days of each year in a CF calendar (e.g. 360 for ``360_day``, 365/366 leap rule)."""
    return np.array(
        [
            (
                cftime.datetime(int(y) + 1, 1, 1, calendar=calendar)
                - cftime.datetime(int(y), 1, 1, calendar=calendar)
            ).days
            for y in years
        ],
        dtype=int,
    )


def _check_daily_array(da: xr.DataArray, dim: str) -> str:
    """Validate the input of annual_maxima; return the calendar of ``da[dim]``."""
    if not isinstance(da, xr.DataArray):
        raise bad_value("da", type(da).__name__, "an xarray.DataArray of daily values")
    if dim not in da.dims:
        raise bad_value("dim", dim, f"one of the array's dimensions {tuple(da.dims)}")
    if not np.issubdtype(da.dtype, np.number) or np.issubdtype(da.dtype, np.complexfloating):
        raise bad_value("da", f"array of dtype {da.dtype}", "a real numeric (float or int) array")
    try:
        return str(da[dim].dt.calendar)
    except (AttributeError, TypeError):
        raise bad_value(
            f"da[{dim!r}]",
            f"coordinate of dtype {da[dim].dtype}",
            "datetime64 or cftime dates",
            "Decode times (xarray.decode_cf or open_dataset(..., use_cftime=True)).",
        ) from None


def _shortest_step_days(time: xr.DataArray) -> float:
    """Shortest step between consecutive time stamps, in days (inf for fewer than two).

    Catches sub-daily input that is too sparse for the count of values per year to show it
    (e.g. hourly data covering 10 % of a year's hours).
    """
    values = np.asarray(time.values)
    if values.size < 2:
        return float("inf")
    steps = np.diff(values)
    if np.issubdtype(steps.dtype, np.timedelta64):
        seconds = steps.astype("timedelta64[s]").astype(float)
    else:  # cftime dates: datetime.timedelta objects
        seconds = np.array([step.total_seconds() for step in steps], dtype=float)
    return float(np.abs(seconds).min()) / 86400.0


def _to_mm_per_day(da: xr.DataArray) -> xr.DataArray:
    units = str(da.attrs.get("units", "")).strip()
    if units in DAILY_UNITS:
        return da
    if units not in FLUX_UNITS:
        raise bad_value(
            "da.attrs['units']",
            units or None,
            f"one of {sorted(FLUX_UNITS)} to convert to mm/day",
            "Set the units attribute, or pass to_mm_per_day=False.",
        )
    out = da * SECONDS_PER_DAY
    out.attrs = {**da.attrs, "units": "mm/day"}
    return out


def _clip_negatives(x: xr.DataArray, negative_tolerance: float, units: str) -> xr.DataArray:
    """Values in [negative_tolerance, 0) set to 0; a value below it is an InputError."""
    minimum = float(x.min(skipna=True)) if x.size else np.nan
    if minimum < negative_tolerance:
        n_bad = int((x < negative_tolerance).sum())
        raise InputError(
            f"annual_maxima: {n_bad} value(s) below negative_tolerance={negative_tolerance} "
            f"(minimum {minimum!r} {units}); precipitation cannot be negative. "
            "Fix the input or lower negative_tolerance to accept (and zero) them."
        )
    return x.clip(min=0.0) if minimum < 0 else x


def _days_per_year(x: xr.DataArray, dim: str, year: xr.DataArray, calendar: str) -> xr.DataArray:
    """D_y, the days of each year in the calendar; refuses more than one value per day."""
    steps = x[dim].groupby(year).count()
    expected = xr.DataArray(days_in_year(steps["year"].values, calendar), dims="year")
    expected = expected.assign_coords(year=steps["year"])
    if bool((steps > expected).any()) or _shortest_step_days(x[dim]) < 0.5:
        raise InputError(
            f"annual_maxima expects daily data but some years have more than one value per day "
            f"along {dim!r}; resample to daily first (e.g. da.resample({dim}='1D').mean())."
        )
    return expected


def annual_maxima(
    da: xr.DataArray,
    dim: str = "time",
    min_valid_fraction: float = 0.9,
    *,
    negative_tolerance: float = -1e-6,
    to_mm_per_day: bool = False,
) -> xr.DataArray:
    """Maximum of each calendar year of a daily series (Rx1day), with a missing-data rule.

    M_y = max_{d in year y} x_d. Years are ``da[dim].dt.year`` in the array's own calendar.

    Masking rule: year y is set to NaN when its number of valid (non-NaN) days is below
    ``min_valid_fraction * D_y``, with D_y the number of days of year y in the calendar (365/366
    for standard/proleptic_gregorian/julian, 365 noleap, 366 all_leap, 360 for 360_day). A
    first or last year that the record covers only in part is thus masked too.

    Tiny negative values, as some models emit, in [``negative_tolerance``, 0) are set to 0 (in
    the input units, before any conversion); a value below ``negative_tolerance`` is an error.

    Attributes are kept; ``cell_methods`` gains "<dim>: maximum within years". Works lazily on
    dask-backed arrays except for the one pass that checks the minimum.

    Args:
        da: Daily precipitation, with a ``dim`` time axis (numpy datetime64 or cftime).
        dim: Name of the time dimension.
        min_valid_fraction: Fraction of the days of a year that must be valid, in (0, 1].
        negative_tolerance: Most negative value accepted (and clipped to 0); <= 0.
        to_mm_per_day: Convert ``kg m-2 s-1`` (CMIP ``pr``) to ``mm/day`` (x 86400).

    Returns:
        DataArray with ``dim`` replaced by an integer ``year`` dimension.

    Raises:
        InputError: Missing ``dim``, non-numeric values, non-date time axis, more than one value
            per day, values below ``negative_tolerance``, unknown units when converting, or a
            ``min_valid_fraction`` outside (0, 1].
    """
    calendar = _check_daily_array(da, dim)
    if not 0 < min_valid_fraction <= 1:
        raise bad_value("min_valid_fraction", min_valid_fraction, "a fraction in (0, 1]")
    if not negative_tolerance <= 0:
        raise bad_value("negative_tolerance", negative_tolerance, "a value <= 0, e.g. -1e-6")
    attrs = dict(da.attrs)
    x = da.astype(float) if not np.issubdtype(da.dtype, np.floating) else da
    x = _clip_negatives(x, negative_tolerance, str(attrs.get("units", "")))
    year = x[dim].dt.year.rename("year")
    expected = _days_per_year(x, dim, year, calendar)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN years
        maxima = x.groupby(year).max(dim, skipna=True)
    valid = x.notnull().groupby(year).sum(dim)
    out = maxima.where(valid >= min_valid_fraction * expected)

    previous = str(attrs.get("cell_methods", "")).strip()
    attrs["cell_methods"] = f"{previous} {dim}: maximum within years".strip()
    out.attrs = attrs
    out.name = da.name
    return _to_mm_per_day(out) if to_mm_per_day else out


@dataclass(frozen=True, eq=False)
class SiteStack:
    """Annual maxima as a (n_years, n_sites) matrix plus what puts per-site results back.

    Attributes:
        values: Array (n_years, n_sites).
        years: Values of the year coordinate, (n_years,).
        year_dim: Name of the year dimension.
        site_dims: Names of the site dimensions, e.g. ("lat", "lon") or ("site",).
        grid_shape: Sizes of the site dimensions.
        site_index: Flat (C-order) grid index of each column, (n_sites,).
        coords: Coordinates that live on the site dimensions only (kept for unstacking).
        units: Units of the maxima (the ``units`` attribute, "" when absent), for figures.
    """

    values: np.ndarray
    years: np.ndarray
    year_dim: str
    site_dims: tuple[str, ...]
    grid_shape: tuple[int, ...]
    site_index: np.ndarray
    coords: dict[str, xr.DataArray] = field(default_factory=dict)
    units: str = ""

    @property
    def n_sites(self) -> int:
        """Number of columns (sites kept)."""
        return int(self.site_index.size)

    def _template(self) -> xr.DataArray:
        grid = xr.DataArray(np.zeros(self.grid_shape), dims=self.site_dims)
        return grid.assign_coords(self.coords)

    def site_coordinate(self, name: str) -> np.ndarray:
        """Per-site values of a coordinate (e.g. ``"lat"``), shape (n_sites,)."""
        if name not in self.coords:
            raise bad_value("name", name, f"one of the site coordinates {sorted(self.coords)}")
        full = self.coords[name].broadcast_like(self._template()).transpose(*self.site_dims)
        return np.asarray(full.values).reshape(-1)[self.site_index]

    def unstack(
        self, values: np.ndarray, name: str | None = None, leading_dim: str | None = None
    ) -> xr.DataArray:
        """Put per-site values back on the site dimensions (dropped sites become NaN).

        Args:
            values: Array (n_sites,), or (m, n_sites) with a leading dimension.
            name: Name of the returned DataArray.
            leading_dim: Name of the leading dimension of 2-D ``values``; defaults to the year
                dimension (with its years as coordinate) when m == n_years.

        Returns:
            DataArray over ``site_dims`` (preceded by the leading dimension for 2-D input).
        """
        values = np.asarray(values)
        if values.ndim not in (1, 2) or values.shape[-1] != self.n_sites:
            raise ShapeError(
                f"values must have shape (n_sites,) or (m, n_sites) with n_sites={self.n_sites},"
                f" got {values.shape}."
            )
        lead = values.shape[:-1]
        n_grid = int(np.prod(self.grid_shape))
        if self.n_sites == n_grid:  # nothing dropped: site_index is the identity, dtype kept
            flat = values
        else:
            flat = np.full((*lead, n_grid), np.nan)
            flat[..., self.site_index] = values
        data = flat.reshape(*lead, *self.grid_shape)
        coords: dict[str, xr.DataArray | np.ndarray] = dict(self.coords)
        dims: tuple[str, ...] = self.site_dims
        if lead:
            if leading_dim is None and lead[0] != self.years.size:
                raise bad_value("leading_dim", None, "a name for the leading dimension of values")
            lead_name = leading_dim or self.year_dim
            dims = (lead_name, *dims)
            if lead_name == self.year_dim and lead[0] == self.years.size:
                coords[self.year_dim] = self.years
        return xr.DataArray(data, dims=dims, coords=coords, name=name)


def stack_sites(
    da: xr.DataArray, year_dim: str = "year", *, drop_all_nan: bool = False
) -> SiteStack:
    """Flatten (year, lat, lon), (year, site) or any (year, ...) maxima to (n_years, n_sites).

    Columns follow the C order of the site dimensions as they appear in ``da`` (year removed).

    Args:
        da: Annual maxima with a ``year_dim`` dimension and at least one site dimension.
        year_dim: Name of the year dimension.
        drop_all_nan: Drop sites whose maxima are all NaN (e.g. masked ocean cells).

    Returns:
        A :class:`SiteStack`; ``stack.unstack(vector)`` maps a per-site result back.

    Raises:
        InputError: If ``year_dim`` is missing, there is no site dimension, or data not numeric.
    """
    if not isinstance(da, xr.DataArray):
        raise bad_value("da", type(da).__name__, "an xarray.DataArray")
    if year_dim not in da.dims:
        raise bad_value("year_dim", year_dim, f"one of the array's dimensions {tuple(da.dims)}")
    site_dims = tuple(str(d) for d in da.dims if d != year_dim)
    if not site_dims:
        raise bad_value("da", f"array with dims {tuple(da.dims)}", "a year and a site dimension")
    if not np.issubdtype(da.dtype, np.number):
        raise bad_value("da", f"array of dtype {da.dtype}", "numeric maxima")
    grid_shape = tuple(int(da.sizes[d]) for d in site_dims)
    values = np.asarray(da.transpose(year_dim, *site_dims).values, dtype=float)
    values = values.reshape(values.shape[0], -1)
    site_index = np.arange(values.shape[1])
    if drop_all_nan:
        site_index = site_index[~np.all(np.isnan(values), axis=0)]
        values = values[:, site_index]
    coords = {
        str(k): c.reset_coords(drop=True)
        for k, c in da.coords.items()
        if c.dims and set(c.dims) <= set(site_dims)
    }
    return SiteStack(
        values=values,
        years=np.asarray(da[year_dim].values),
        year_dim=year_dim,
        site_dims=site_dims,
        grid_shape=grid_shape,
        site_index=site_index,
        coords=coords,
        units=str(da.attrs.get("units", "")),
    )
