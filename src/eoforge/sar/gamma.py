"""Readers of GAMMA binary rasters (unwrapped interferograms, coherence) and their headers.

GAMMA writes rasters as headerless big-endian float32, one row of ``width`` samples after
another (``nlines`` rows); the size lives in a text parameter file (``*.par``: ``key: value``
lines, e.g. the DEM/MAP parameter file of a geocoded product, ``width`` = columns, ``nlines`` =
rows). Zero marks missing data in unwrapped phase and coherence.

Example (the PyRate ENVISAT test set shipped under ``tests/data/pyrate-small/``)::

    par = read_par("tests/data/pyrate-small/20060619_utm_dem.par")
    phase = read_raster("tests/data/pyrate-small/unw/20060619-20061002_utm.unw", par)  # (72, 47)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from eoforge.core.errors import DataNotFoundError, InputError


def read_par(path: str | os.PathLike[str]) -> dict[str, str]:
    """Parse a GAMMA parameter file into ``{key: value text}`` (units left in the text).

    Raises:
        DataNotFoundError: Missing file.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"GAMMA parameter file {str(p)!r} does not exist; check the path.")
    out: dict[str, str] = {}
    for line in p.read_text(errors="replace").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            out[key.strip()] = value.strip()
    return out


def raster_shape(par: dict[str, str]) -> tuple[int, int]:
    """``(rows, columns)`` = ``(nlines, width)`` of a GAMMA DEM/MAP parameter dict.

    Raises:
        InputError: ``width`` or ``nlines`` missing or not a positive int.
    """
    try:
        rows, cols = int(par["nlines"].split()[0]), int(par["width"].split()[0])
    except (KeyError, ValueError, IndexError):
        raise InputError(
            "the GAMMA parameter file has no integer 'width' and 'nlines': pass the DEM/MAP "
            "parameter file (*_dem.par) of the geocoded grid."
        ) from None
    if rows < 1 or cols < 1:
        raise InputError(f"GAMMA raster size nlines={rows}, width={cols}: both must be >= 1.")
    return rows, cols


def read_raster(
    path: str | os.PathLike[str],
    par: dict[str, str] | str | os.PathLike[str],
    *,
    nodata: float | None = 0.0,
) -> np.ndarray:
    """Read a GAMMA float32 raster (big-endian) as a float64 ``(nlines, width)`` array.

    Args:
        path: The raster (``*.unw``, ``*.cc``, ...).
        par: The parameter dict of :func:`read_par`, or the path of the ``*.par`` file.
        nodata: Value marking missing pixels, returned as NaN (``None`` keeps every value).

    Raises:
        DataNotFoundError: Missing raster.
        InputError: The file size is not ``4 * width * nlines`` bytes.
    """
    params = par if isinstance(par, dict) else read_par(par)
    rows, cols = raster_shape(params)
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"GAMMA raster {str(p)!r} does not exist; check the path.")
    size = p.stat().st_size
    if size != 4 * rows * cols:
        raise InputError(
            f"{str(p)!r} holds {size} bytes, not 4 x {rows} x {cols} = {4 * rows * cols} "
            "(float32 nlines x width): pass the parameter file of this raster's grid."
        )
    data = np.fromfile(p, dtype=">f4").reshape(rows, cols).astype(np.float64)
    if nodata is not None:
        data[data == nodata] = np.nan
    return data
