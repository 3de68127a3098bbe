"""GeoTIFF read/write with georeferencing (rasterio).

Arrays are ``(bands, rows, cols)``. The georeferencing travels in a :class:`GeoInfo` (affine
transform, CRS, nodata and band descriptions) so a result can be written on the grid of its input.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from affine import Affine

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError

if TYPE_CHECKING:
    from rasterio.crs import CRS


@dataclass(frozen=True)
class GeoInfo:
    """Georeferencing of a raster: affine transform, CRS and per-band metadata."""

    transform: Affine
    crs: CRS | None
    nodata: float | None = None
    descriptions: tuple[str | None, ...] = ()

    @classmethod
    def from_bounds(
        cls,
        west: float,
        north: float,
        resolution: float,
        crs: str = "EPSG:32631",
        nodata: float | None = None,
        descriptions: tuple[str | None, ...] = (),
    ) -> GeoInfo:
        """North-up grid from its upper-left corner and pixel size (CRS units)."""
        from rasterio.crs import CRS  # deferred: rasterio loads only when a grid is built
        from rasterio.transform import from_origin

        return cls(
            transform=from_origin(west, north, resolution, resolution),
            crs=CRS.from_user_input(crs),
            nodata=nodata,
            descriptions=descriptions,
        )

    def coordinates(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The x (columns) and y (rows) coordinates of pixel centres for a grid of ``shape``."""
        a = self.transform
        rows, cols = shape
        x = a.c + a.a * (np.arange(cols) + 0.5)
        y = a.f + a.e * (np.arange(rows) + 0.5)
        return x, y


def read_geotiff(path: str | os.PathLike[str]) -> tuple[np.ndarray, GeoInfo]:
    """Read all bands of a GeoTIFF.

    Returns:
        ``(array (bands, rows, cols), GeoInfo)``.

    Raises:
        DataNotFoundError: If the file does not exist.
        InputError: If the file is not a readable raster.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"GeoTIFF {str(p)!r} does not exist; check the path.")
    try:
        with rasterio.open(p) as src:
            data = src.read()
            info = GeoInfo(
                transform=src.transform,
                crs=src.crs,
                nodata=src.nodata,
                descriptions=tuple(src.descriptions),
            )
    except RasterioIOError as err:
        raise InputError(
            f"{str(p)!r} is not a readable raster ({err}); pass a GeoTIFF file."
        ) from None
    return data, info


def write_geotiff(
    path: str | os.PathLike[str],
    array: np.ndarray,
    info: GeoInfo,
    *,
    compress: str = "deflate",
) -> Path:
    """Write ``array`` ((rows, cols) or (bands, rows, cols)) as a tiled GeoTIFF, atomically.

    Raises:
        ShapeError: If the array is not 2-D or 3-D, or descriptions do not match the band count.
    """
    import rasterio

    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ShapeError(
            f"write_geotiff expects (rows, cols) or (bands, rows, cols), got shape {arr.shape}."
        )
    if info.descriptions and len(info.descriptions) != arr.shape[0]:
        raise ShapeError(
            f"GeoInfo has {len(info.descriptions)} band descriptions but the array has "
            f"{arr.shape[0]} bands; pass matching descriptions or none."
        )
    if arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    profile = {
        "driver": "GTiff",
        "height": arr.shape[1],
        "width": arr.shape[2],
        "count": arr.shape[0],
        "dtype": arr.dtype.name,
        "crs": info.crs,
        "transform": info.transform,
        "nodata": info.nodata,
        "compress": compress,
    }
    if arr.shape[1] >= 256 and arr.shape[2] >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(arr)
        for i, desc in enumerate(info.descriptions, start=1):
            if desc:
                dst.set_band_description(i, desc)
    return Path(path)
