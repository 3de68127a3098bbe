"""Sentinel-2 readers and writer: multi-band GeoTIFFs named by band, and L1C/L2A .SAFE folders.

Reflectance = (DN + OFFSET) / QUANTIFICATION, DN 0 no-data, bands named as in
:mod:`eoforge.io.sentinel2_dn`. "Harmonized" collections (e.g. GEE ``S2_HARMONIZED``) have the
offset folded in already: read them with ``offset=0``. Never mix the two conventions in one pair:
a 1000-DN step is a ~10 % reflectance bias, larger than any plume.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError
from rasterio.io import DatasetReader

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError, bad_value
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2_dn import (
    BASELINE_OFFSET,
    QUANTIFICATION,
    S2_ALL_BANDS,
    canonical_band,
    check_bands,
    check_reflectance,
    check_same_grid,
    gdal_scaling,
    offset_from_tags,
    quantification_from_tags,
    to_reflectance,
)
from eoforge.io.sentinel2_safe import read_band_files, read_safe


def read_s2_geotiff(
    path: str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]],
    bands: Sequence[str] = ("B11", "B12"),
    *,
    offset: float | Mapping[str, float] | None = None,
    band_index: Mapping[str, int] | None = None,
    quantification: float | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read Sentinel-2 bands from a multi-band GeoTIFF (or single-band files) as reflectance.

    Bands are found by their descriptions (module docstring), or by ``band_index`` (1-based).
    Float data are taken as reflectance; integer data as DN, converted with
    reflectance = (DN + offset) / 10000, DN 0 -> NaN. A declared scale (``quantification``, or
    the file's ``QUANTIFICATION_VALUE`` / ``BOA_QUANTIFICATION_VALUE`` tag) replaces 10000 for
    integers and divides float data. The result is checked (:func:`check_reflectance`): a band
    whose median is far above reflectance 1 (x 100, or DN read as reflectance) is an error.

    Args:
        path: A GeoTIFF, or a mapping band -> single-band file (e.g. STAC COG assets) that must
            share one grid.
        bands: Bands to return, e.g. ``("B11", "B12")`` (aliases such as ``"swir16"`` accepted).
        offset: DN offset: a number, a mapping band -> number (bands it lacks are detected),
            or ``None`` to read it from the band's GDAL scale/offset (:func:`gdal_scaling`; integer data, no ``quantification``
            given), else the tags ``BOA_ADD_OFFSET`` / ``RADIO_ADD_OFFSET`` (per band, or
            global, or suffixed ``_B11``), else from ``PROCESSING_BASELINE`` (>= 4.00: -1000),
            else 0.
        band_index: Optional mapping band -> 1-based band number for files without
            descriptions.
        quantification: Divide the values by this (after the offset, for integers) to get
            reflectance; default: the file's tag, else 10000 for integers and 1 for floats.

    Returns:
        (dict band -> (H, W) float32 reflectance, GeoInfo of the grid with the band names).

    Raises:
        DataNotFoundError: If a file or a requested band is missing.
        ShapeError: If single-band files are on different grids.
        InputError: If a band's values are not reflectance at the declared scale.
    """
    wanted = check_bands(bands)
    if quantification is not None and not (np.isfinite(quantification) and quantification > 0):
        raise bad_value("quantification", quantification, "a positive number (e.g. 10000)")
    if isinstance(path, Mapping):
        return _read_band_mapping(path, wanted, offset, quantification)
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"GeoTIFF {str(p)!r} does not exist; check the path.")
    with _open_raster(p) as src:
        names = _band_numbers(src, wanted, band_index, p)
        out, scale = _read_reflectance(src, wanted, names, offset, quantification)
        geo = GeoInfo(src.transform, src.crs, None, tuple(wanted))
    check_reflectance(out, repr(str(p)), scale)
    return out, geo


def _read_band_mapping(
    path: Mapping[str, str | os.PathLike[str]],
    wanted: list[str],
    offset: float | Mapping[str, float] | None,
    quantification: float | None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """:func:`read_s2_geotiff` of single-band files (band -> file) that must share one grid."""
    files = {canonical_band(k) or str(k): Path(v) for k, v in path.items()}
    missing = [b for b in wanted if b not in files]
    if missing:
        raise DataNotFoundError(f"no file given for bands {missing}; add them to the mapping.")

    def one(b: str) -> tuple[np.ndarray, GeoInfo]:
        data, geo = read_s2_geotiff(files[b], [b], offset=offset, band_index={b: 1},
                                    quantification=quantification)  # fmt: skip
        return data[b], geo

    first, geo0 = one(wanted[0])
    out = {wanted[0]: first}
    for b in wanted[1:]:
        out[b], geo = one(b)
        check_same_grid(geo0, geo, first.shape, out[b].shape, f"band {b} ({files[b]})")
    return out, GeoInfo(geo0.transform, geo0.crs, None, tuple(wanted))


def _open_raster(p: Path) -> DatasetReader:
    """``rasterio.open(p)``; an unreadable file is one :class:`InputError`."""
    try:
        with warnings.catch_warnings():  # the grid is returned; its users check it
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(p)
    except RasterioIOError as err:
        raise InputError(f"{str(p)!r} is not a readable raster ({err}).") from None


def _band_numbers(
    src: DatasetReader, wanted: list[str], band_index: Mapping[str, int] | None, p: Path
) -> dict[str, int]:
    """Band -> 1-based band number in ``src``, from descriptions, ``BAND_NAME`` tags, ``band_index``."""
    names: dict[str, int] = {}
    for i, desc in enumerate(src.descriptions, start=1):
        c = canonical_band(desc) or canonical_band(src.tags(i).get("BAND_NAME"))
        if c is not None:
            names.setdefault(c, i)
    if band_index is not None:
        names.update({canonical_band(k) or k: int(v) for k, v in band_index.items()})
    missing = [b for b in wanted if b not in names]
    if missing:
        raise DataNotFoundError(
            f"{str(p)!r} lacks bands {missing}: its band descriptions are "
            f"{list(src.descriptions)}. Name the bands (e.g. 'B11') in the band descriptions "
            "or pass band_index={'B11': 1, ...}."
        )
    if any(not 1 <= names[b] <= src.count for b in wanted):
        raise bad_value("band_index", band_index, f"band numbers in 1..{src.count}")
    return names


def _read_reflectance(
    src: DatasetReader,
    wanted: list[str],
    names: dict[str, int],
    offset: float | Mapping[str, float] | None,
    quantification: float | None,
) -> tuple[dict[str, np.ndarray], str]:
    """The bands as reflectance, and how they were converted (for :func:`check_reflectance`).

    DN offset per band: ``offset``, else the GDAL scale/offset (integer data, no declared
    quantification), else the band's tags, else the file's tags, else 0.
    """
    global_tags = src.tags()
    q = quantification if quantification is not None else quantification_from_tags(global_tags)
    integer = not np.issubdtype(np.dtype(src.dtypes[names[wanted[0]] - 1]), np.floating)
    scale = (f"(DN + offset) / {q or QUANTIFICATION:g} (integer data)" if integer
             else f"dividing by {q:g}" if q else "reading floats as reflectance")  # fmt: skip
    out = {}
    for b in wanted:
        i = names[b]
        off = offset.get(b) if isinstance(offset, Mapping) else offset  # a band not in
        gdal = gdal_scaling(src, i) if integer and off is None and q is None else None
        if off is None and gdal is not None:  # the mapping is detected like the others
            off = gdal[0]
        if off is None:
            off = offset_from_tags(src.tags(i), b)
            if off is None:
                off = offset_from_tags(global_tags, b) or 0.0
        out[b] = to_reflectance(src.read(i), float(off), src.nodata, gdal[1] if gdal else q)
    return out, scale


def write_s2_geotiff(
    path: str | os.PathLike[str],
    bands: Mapping[str, np.ndarray],
    geo: GeoInfo,
    *,
    dtype: str = "float32",
    offset: float = BASELINE_OFFSET,
) -> Path:
    """Write reflectance bands as a GeoTIFF whose band descriptions name the bands, atomically.

    Args:
        path: Output file.
        bands: Mapping band -> (H, W) reflectance (NaN = no-data).
        geo: Grid (transform, CRS).
        dtype: ``"float32"`` (reflectance, NaN no-data) or ``"uint16"`` (DN = reflectance *
            10000 - offset, 0 no-data, offset stored in per-band ``BOA_ADD_OFFSET`` tags).
        offset: DN offset for ``uint16`` (default -1000, processing baseline >= 04.00).

    Returns:
        The path.
    """
    if dtype not in ("float32", "uint16"):
        raise bad_value("dtype", dtype, "'float32' or 'uint16'")
    names = [canonical_band(b) or "" for b in bands]
    if not bands or "" in names:
        raise bad_value("bands", list(bands), f"a non-empty mapping with keys in {S2_ALL_BANDS}")
    arrays = [np.asarray(a) for a in bands.values()]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1 or arrays[0].ndim != 2:
        raise ShapeError(f"all bands must be 2-D arrays of one shape; got {sorted(shapes)}.")
    stack = np.stack(arrays).astype(np.float32)
    if dtype == "uint16":
        dn = np.rint(stack * QUANTIFICATION - offset)
        dn = np.where(np.isfinite(stack), np.clip(dn, 1, 65535), 0).astype(np.uint16)
        data, nodata = dn, 0.0
    else:
        data, nodata = stack, float("nan")
    h, w = stack.shape[1:]
    profile = {"driver": "GTiff", "height": h, "width": w, "count": len(names),
               "dtype": dtype, "crs": geo.crs, "transform": geo.transform, "nodata": nodata,
               "compress": "deflate"}  # fmt: skip
    if h >= 256 and w >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(data)
        for i, name in enumerate(names, start=1):
            dst.set_band_description(i, name)
            if dtype == "uint16":
                dst.update_tags(i, BOA_ADD_OFFSET=str(int(offset)))
        if dtype == "uint16":
            dst.update_tags(QUANTIFICATION_VALUE=str(int(QUANTIFICATION)))
    return Path(path)


def read_s2_safe(
    path: str | os.PathLike[str],
    bands: Sequence[str] = ("B11", "B12"),
    resolution: int = 20,
    *,
    offset: float | Mapping[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read bands of a Sentinel-2 L1C (or L2A) ``.SAFE`` folder as reflectance on one grid.

    See :func:`eoforge.io.sentinel2_safe.read_safe` (offsets from MTD_MSIL1C.xml /
    MTD_MSIL2A.xml, 10 m bands averaged 2 x 2 to 20 m); sun and view angles come from
    :func:`eoforge.io.sentinel2_safe.safe_metadata`.
    """
    return read_safe(path, bands, resolution, offset=offset)


def read_s2_band_files(
    folder: str | os.PathLike[str],
    bands: Sequence[str] = ("B11", "B12"),
    resolution: int = 20,
    *,
    offset: float | Mapping[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read a folder of single-band files (``<patch>_B04.tif``, ...) as reflectance on one grid.

    Files at 10/20/60 m end on one ``resolution`` grid (BigEarthNet patches, per-band exports).

    See :func:`eoforge.io.sentinel2_safe.read_band_files` (10 m bands averaged 2 x 2 to 20 m,
    60 m bands repeated 3 x 3; DN offset from ``offset``, an ``MTD_MSIL*.xml`` in the folder,
    GDAL scale/offset, or the ``BOA_ADD_OFFSET`` / ``PROCESSING_BASELINE`` tags).
    """
    return read_band_files(folder, bands, resolution, offset=offset)
