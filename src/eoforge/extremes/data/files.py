"""Files in and out of the extremes capability.

Input: a NetCDF file or Zarr store holding either daily values (a ``time`` axis with many values
per year; turned into annual maxima by :func:`~eoforge.extremes.data.maxima.annual_maxima`) or
annual maxima (a ``year`` dimension, or a ``time`` axis with one value per year), on a lat/lon
grid or along a ``site`` dimension. Output: ``regions.nc`` with the region of every site and the
medoids, on the input's own grid.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.data.maxima import FLUX_UNITS, SiteStack, annual_maxima, stack_sites
from eoforge.io.netcdf import load_variable, write_dataset

_LON_NAMES = ("lon", "longitude", "x")
_LAT_NAMES = ("lat", "latitude", "y")


def maxima_from_array(
    da: xr.DataArray, *, time_dim: str = "time", min_valid_fraction: float = 0.9
) -> xr.DataArray:
    """Annual maxima with a ``year`` dimension from daily values or from yearly values."""
    if "year" in da.dims:
        return da
    if time_dim not in da.dims:
        raise ShapeError(
            f"variable {da.name!r} has dims {da.dims}; expected a 'year' dimension (annual maxima) "
            f"or a '{time_dim}' dimension (daily values). Rename the time dimension."
        )
    years = da[time_dim].dt.year
    per_year = np.unique(np.asarray(years.values), return_counts=True)[1]
    if per_year.max() > 1:
        return annual_maxima(
            da,
            dim=time_dim,
            min_valid_fraction=min_valid_fraction,
            to_mm_per_day=str(da.attrs.get("units", "")) in FLUX_UNITS,
        )
    out = da.assign_coords(year=(time_dim, np.asarray(years.values))).swap_dims({time_dim: "year"})
    return out.drop_vars(time_dim)


def load_maxima(
    path: str | os.PathLike[str],
    var: str = "pr",
    *,
    time_dim: str = "time",
    min_valid_fraction: float = 0.9,
) -> SiteStack:
    """Read one file's annual maxima as an (n_years, n_sites) :class:`SiteStack`.

    Args:
        path: NetCDF file or Zarr store.
        var: Variable name (``--var``).
        time_dim: Name of the daily time dimension.
        min_valid_fraction: Share of valid days a year needs (daily input only).
    """
    da = load_variable(path, var)
    if "year" not in da.dims and time_dim not in da.dims:
        dims = tuple(map(str, da.dims))
        old = next((d for d in dims if d not in (*_LON_NAMES, *_LAT_NAMES)), "t")
        integer = old in da.coords and np.issubdtype(da[old].dtype, np.integer)
        raise ShapeError(
            f"variable {var!r} in {str(path)!r} has dims {dims}: it needs a 'year' dimension "
            f"(annual maxima) or a '{time_dim}' dimension (daily values); rename its time "
            f"dimension, e.g. ds.rename({{{old!r}: {'year' if integer else time_dim!r}}}), and "
            "write the file again."
        )
    return stack_sites(
        maxima_from_array(da, time_dim=time_dim, min_valid_fraction=min_valid_fraction)
    )


def site_lonlat(stack: SiteStack) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of every site (site index and zeros when the file has none)."""
    names = set(stack.coords)
    lon = next((n for n in _LON_NAMES if n in names), None)
    lat = next((n for n in _LAT_NAMES if n in names), None)
    if lon is None or lat is None:
        return np.arange(stack.n_sites, dtype=float), np.zeros(stack.n_sites)
    return stack.site_coordinate(lon).astype(float), stack.site_coordinate(lat).astype(float)


def check_same_sites(stacks: Sequence[SiteStack], names: Sequence[str]) -> None:
    """Raise if the stacks are not on one grid (same site dims, sizes and coordinates).

    Args:
        stacks: The sites of every file.
        names: What to call each stack in the error, best the file paths.
    """
    ref = stacks[0]
    for stack, name in zip(stacks[1:], names[1:], strict=True):
        same = stack.site_dims == ref.site_dims and stack.grid_shape == ref.grid_shape
        same = same and all(
            k in stack.coords and np.allclose(stack.coords[k].values, v.values)
            for k, v in ref.coords.items()
        )
        if not same:
            raise ShapeError(
                f"{str(name)!r} is not on the grid of {str(names[0])!r} (dims {stack.site_dims} "
                f"{stack.grid_shape} vs {ref.site_dims} {ref.grid_shape}, or other coordinates); "
                "regrid all models to one common grid first (e.g. conservative remapping)."
            )


def regions_dataset(
    stack: SiteStack,
    labels: np.ndarray,
    medoids: np.ndarray,
    *,
    attrs: dict | None = None,
    extra: dict[str, np.ndarray] | None = None,
) -> xr.Dataset:
    """The ``regions.nc`` content: region per site (-1 = masked) and the medoid sites.

    Args:
        stack: Sites of the input.
        labels: (n_sites,) region labels.
        medoids: (K,) site index of each region's medoid.
        attrs: Global attributes (method, K...).
        extra: More per-site variables (e.g. labels of another partition).
    """
    if labels.shape != (stack.n_sites,):
        raise ShapeError(f"labels must have shape ({stack.n_sites},), got {labels.shape}.")
    region = stack.unstack(labels.astype(float), name="region")
    region = region.fillna(-1).astype(np.int32)
    region.attrs = {
        "long_name": "region of each site",
        "flag_values": -1,
        "flag_meanings": "masked",
    }
    is_medoid = np.zeros(stack.n_sites)
    is_medoid[medoids] = 1
    data = {
        "region": region,
        "is_medoid": stack.unstack(is_medoid, name="is_medoid").fillna(0).astype(np.int8),
        "medoid_site": xr.DataArray(
            np.asarray(medoids, dtype=np.int64), dims="region_id", name="medoid_site"
        ),
    }
    lon, lat = site_lonlat(stack)
    data["medoid_lon"] = xr.DataArray(lon[medoids], dims="region_id")
    data["medoid_lat"] = xr.DataArray(lat[medoids], dims="region_id")
    for name, values in (extra or {}).items():
        data[name] = stack.unstack(values.astype(float), name=name)
    ds = xr.Dataset(data).assign_coords(region_id=np.arange(len(medoids)))
    ds.attrs = {
        k: (str(v) if not isinstance(v, int | float) else v) for k, v in (attrs or {}).items()
    }
    return ds


def write_regions(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write a regions dataset atomically (NetCDF or Zarr by suffix)."""
    if "region" not in ds:
        raise InputError("write_regions expects the dataset built by regions_dataset().")
    return write_dataset(ds, path)
