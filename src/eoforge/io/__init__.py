"""Readers and writers: GeoTIFF (rasterio), NetCDF/Zarr (xarray)."""

from eoforge.io.netcdf import open_dataset, read_variable, write_dataset
from eoforge.io.raster import GeoInfo, read_geotiff, write_geotiff

__all__ = [
    "GeoInfo",
    "open_dataset",
    "read_geotiff",
    "read_variable",
    "write_dataset",
    "write_geotiff",
]
