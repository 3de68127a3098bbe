"""NetCDF and Zarr read/write through xarray, with clear errors and atomic writes.

The format is chosen from the path: ``.zarr`` (a folder) or anything else as NetCDF4.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import xarray as xr

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError


def _is_zarr(path: Path) -> bool:
    return (
        path.suffix == ".zarr"
        or (path.is_dir() and (path / ".zgroup").exists())
        or (path.is_dir() and (path / "zarr.json").exists())
    )


def open_dataset(path: str | os.PathLike[str], *, chunks: dict | str | None = None) -> xr.Dataset:
    """Open a NetCDF file or a Zarr store as an ``xarray.Dataset`` (lazily with ``chunks``).

    Raises:
        DataNotFoundError: If the path does not exist.
        InputError: If it cannot be read as NetCDF or Zarr.
    """
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"dataset {str(p)!r} does not exist; check the path.")
    try:
        if _is_zarr(p):
            return xr.open_zarr(p, chunks=chunks, consolidated=False)
        return xr.open_dataset(p, chunks=chunks, use_cftime=None)
    except (OSError, ValueError) as err:
        raise InputError(
            f"could not read {str(p)!r} as NetCDF or Zarr ({err}); "
            "pass a .nc file or a .zarr store."
        ) from None


def read_variable(
    path: str | os.PathLike[str],
    var: str,
    *,
    dims: Sequence[str] | None = None,
    chunks: dict | str | None = None,
) -> xr.DataArray:
    """Read one variable, checking that it exists and (optionally) has the expected dimensions.

    Args:
        path: NetCDF file or Zarr store.
        var: Variable name, e.g. ``"pr"``.
        dims: Dimensions the variable must have (any order), e.g. ``("time", "lat", "lon")``.
        chunks: Dask chunks for lazy reading.

    Raises:
        DataNotFoundError: If the variable is missing (the message lists those present).
        ShapeError: If a required dimension is missing.
    """
    ds = open_dataset(path, chunks=chunks)
    if var not in ds.data_vars:
        raise DataNotFoundError(
            f"variable {var!r} not found in {str(path)!r}; it holds {sorted(ds.data_vars)}. "
            "Pass one of these with --var."
        )
    da = ds[var]
    if dims is not None:
        missing = [d for d in dims if d not in da.dims]
        if missing:
            raise ShapeError(
                f"variable {var!r} in {str(path)!r} has dims {da.dims}, missing {missing}; "
                "rename the dimensions or pass a variable on the expected grid."
            )
    return da


def write_dataset(obj: xr.Dataset | xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write a Dataset (or named DataArray) to NetCDF4 or Zarr (by suffix), atomically."""
    if isinstance(obj, xr.DataArray) and obj.name is None:
        raise InputError("write_dataset needs a named DataArray; set da.name = '...' first.")
    ds = obj.to_dataset() if isinstance(obj, xr.DataArray) else obj
    p = Path(path)
    with atomic_path(p) as tmp:
        if p.suffix == ".zarr":
            ds.to_zarr(tmp, mode="w", consolidated=False)
        else:
            ds.to_netcdf(tmp, engine="netcdf4")
    return p
