"""NetCDF and Zarr read/write through xarray, with clear errors and atomic writes.

The format is chosen from the path: ``.zarr`` (a folder) or anything else as NetCDF4.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import xarray as xr

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError

# First bytes of the files netCDF can read: classic, 64-bit offset, CDF-5 and HDF5 (NetCDF-4).
#: Dask chunks for lazy reading: one size, a size per dimension, ``"auto"``, or none (eager).
Chunks = int | dict[str, int] | Literal["auto"] | None
_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")
_ZARR_METADATA = ("zarr.json", ".zgroup", ".zarray", ".zmetadata")


def _is_zarr(path: Path) -> bool:
    return path.suffix == ".zarr" or (
        path.is_dir() and any((path / m).exists() for m in _ZARR_METADATA)
    )


def _reason(err: BaseException) -> str:
    """The first line of a library error, without URLs or the path it repeats (for one-line errors)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    text = re.sub(r"\s*(see:?)?\s*https?://\S+", "", text).rstrip(" ,;:")
    text = re.sub(r":\s*'[^']*'$", "", text)  # netCDF4 appends ": '<path>'"
    return text[:200]


def _unreadable(p: Path, err: BaseException) -> InputError:
    """One-line error for a path that exists but cannot be opened, saying what it looks like."""
    where = repr(str(p))
    if _is_zarr(p):
        if not p.is_dir():
            return InputError(f"{where} is a file, not a Zarr store (a folder); pass the folder.")
        if not any((p / m).exists() for m in _ZARR_METADATA):
            return InputError(
                f"{where} is not a Zarr store: it has no zarr.json or .zgroup metadata; pass the "
                "store's root folder as written by xarray's to_zarr(), or rewrite the store."
            )
        return InputError(
            f"could not open the Zarr store {where} ({_reason(err)}); rewrite it with to_zarr()."
        )
    if p.is_dir():
        return InputError(
            f"{where} is a folder but not a Zarr store (no zarr.json or .zgroup); pass a NetCDF "
            "file (.nc) or a Zarr store."
        )
    with open(p, "rb") as f:
        head = f.read(8)
    if not head.startswith(_NETCDF_MAGIC):
        return InputError(
            f"{where} is not a NetCDF file (it lacks the NetCDF/HDF5 signature in its first bytes); "
            "pass a NetCDF file (.nc) or a Zarr store (.zarr folder)."
        )
    return InputError(
        f"{where} looks like NetCDF but cannot be read, probably truncated or corrupt "
        f"({_reason(err)}); download or write the file again."
    )


def open_dataset(path: str | os.PathLike[str], *, chunks: Chunks = None) -> xr.Dataset:
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
    except Exception as err:  # netCDF4, h5py, zarr and xarray raise many types; report one line
        raise _unreadable(p, err) from None


def read_variable(
    path: str | os.PathLike[str],
    var: str,
    *,
    dims: Sequence[str] | None = None,
    chunks: Chunks = None,
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
            f"variable {var!r} not found in {str(path)!r}; it holds {sorted(map(str, ds.data_vars))}. "
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


def load_variable(
    path: str | os.PathLike[str], var: str, *, dims: Sequence[str] | None = None
) -> xr.DataArray:
    """Read one variable into memory (:func:`read_variable`, then ``load``).

    Raises:
        DataNotFoundError: If the path or the variable is missing.
        InputError: If the file cannot be opened or its values cannot be read (corrupt or missing
            chunks, a truncated file): one line naming the file and the fix.
    """
    da = read_variable(path, var, dims=dims)
    try:
        return da.load()
    except Exception as err:  # decompression, HDF5 and chunk-store errors come in many types
        raise InputError(
            f"could not read the values of {var!r} in {str(path)!r}, probably corrupt or "
            f"truncated ({_reason(err)}); write the file again."
        ) from None


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
