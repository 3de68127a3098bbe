"""Sentinel-2 readers and writer: multi-band GeoTIFFs named by band, and L1C/L2A .SAFE folders.

Digital numbers (ESA products; notes section 4.2): reflectance = (DN + OFFSET) / QUANTIFICATION
with QUANTIFICATION = 10000, OFFSET = 0 before processing baseline 04.00 and -1000 from it
(25 January 2022; ``RADIO_ADD_OFFSET`` in L1C, ``BOA_ADD_OFFSET`` in L2A metadata, per band).
DN 0 is no-data and becomes NaN. "Harmonized" collections (e.g. GEE ``S2_HARMONIZED``) have the
offset folded in already: read them with ``offset=0``. Never mix the two conventions in one pair:
a 1000-DN step is a ~10 % reflectance bias, larger than any plume.

Band names. A band is recognised, case-insensitively, from a GeoTIFF band description (or a
.SAFE file name) in any of these forms: ``B11``, ``B11_20m``, ``B11 (SWIR1)``, ``b11``, ``B8A``,
``B1`` for ``B01``, or the common names of STAC ``eo:bands`` / Element84 asset keys: ``coastal``,
``blue``, ``green``, ``red``, ``rededge1-3`` (``rededge`` = B05), ``nir`` (B08), ``nir08`` /
``narrow_nir`` / ``rededge4`` (B8A), ``nir09`` / ``water_vapour`` (B09), ``cirrus`` (B10),
``swir16`` / ``swir1`` (B11) and ``swir22`` / ``swir2`` (B12).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError, bad_value
from eoforge.io.raster import GeoInfo

S2_ALL_BANDS = (
    "B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12",
)  # fmt: skip
"""Sentinel-2 MSI bands in ESA ``band_id`` order (0..12)."""
NATIVE_RESOLUTION = {
    "B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10,
    "B8A": 20, "B09": 60, "B10": 60, "B11": 20, "B12": 20,
}  # fmt: skip
"""Native pixel size (m) of each band."""
QUANTIFICATION = 10000.0
BASELINE_OFFSET = -1000.0
"""DN offset of processing baselines >= 04.00."""
_COMMON = {
    "COASTAL": "B01", "BLUE": "B02", "GREEN": "B03", "RED": "B04", "REDEDGE": "B05",
    "REDEDGE1": "B05", "REDEDGE2": "B06", "REDEDGE3": "B07", "NIR": "B08", "NIR08": "B8A",
    "NARROWNIR": "B8A", "NIRNARROW": "B8A", "REDEDGE4": "B8A", "NIR09": "B09",
    "WATERVAPOUR": "B09", "WATERVAPOR": "B09", "CIRRUS": "B10", "SWIR16": "B11", "SWIR1": "B11",
    "SWIR22": "B12", "SWIR2": "B12",
}  # fmt: skip
_BAND_RE = re.compile(r"^B0?(\d{1,2}A?)(?:_?\d{2}M)?$")
_OFFSET_TAGS = ("BOA_ADD_OFFSET", "RADIO_ADD_OFFSET")
_QUANTIFICATION_TAGS = ("QUANTIFICATION_VALUE", "BOA_QUANTIFICATION_VALUE")
MAX_MEDIAN = 1.5
"""Largest median reflectance a band may have before the reader calls its scale wrong."""


def canonical_band(name: str | None) -> str | None:
    """The canonical band name (``"B11"``) of a description or file-name part, else ``None``."""
    if not name:
        return None
    text = str(name).strip().upper()
    text = re.sub(r"\s*\(.*\)\s*$", "", text)  # "B11 (SWIR1)" -> "B11"
    key = re.sub(r"[\s_\-]", "", text)
    if key in _COMMON:
        return _COMMON[key]
    m = _BAND_RE.match(text.replace(" ", "_")) or _BAND_RE.match(key)
    if not m:
        return None
    band = "B" + (m.group(1).zfill(2) if not m.group(1).endswith("A") else m.group(1))
    return band if band in S2_ALL_BANDS else None


def _check_bands(bands: Sequence[str]) -> list[str]:
    if isinstance(bands, str):
        bands = [bands]
    out = []
    for b in bands:
        c = canonical_band(b)
        if c is None:
            raise bad_value("bands", b, f"Sentinel-2 band names such as {S2_ALL_BANDS}")
        out.append(c)
    if not out:
        raise bad_value("bands", bands, "at least one band")
    return out


def _to_reflectance(
    dn: np.ndarray, offset: float, nodata: float | None, quantification: float | None = None
) -> np.ndarray:
    """(DN + offset) / quantification (default 10000) for integer data with DN 0 (and
    ``nodata``) -> NaN; floats as is, or divided by ``quantification`` when it is given."""
    if np.issubdtype(dn.dtype, np.floating):
        out = dn.astype(np.float32, copy=False)
        if nodata is not None and np.isfinite(nodata):
            out = np.where(out == nodata, np.float32(np.nan), out)
        if quantification is not None and quantification != 1.0:
            out = out / np.float32(quantification)
        return out
    bad = dn == 0
    if nodata is not None:
        bad |= dn == nodata
    q = QUANTIFICATION if quantification is None else quantification
    out = (dn.astype(np.float32) + np.float32(offset)) / np.float32(q)
    out[bad] = np.nan
    return out


def _quantification_from_tags(tags: Mapping[str, str]) -> float | None:
    for key in _QUANTIFICATION_TAGS:
        if key in tags:
            return float(tags[key])
    return None


def check_reflectance(
    bands: Mapping[str, np.ndarray], source: str, scale: str, max_median: float = MAX_MEDIAN
) -> None:
    """Raise :class:`InputError` if a band's median is far above reflectance 1 or has no data.

    Catches files read with the wrong scale: reflectance x 100 (percent), digital numbers stored
    as floats, or integer data with another quantification than the one declared. ``scale``
    says how the values were converted (named in the message).
    """
    for band, arr in bands.items():
        a = np.asarray(arr)
        step = max(1, int(np.sqrt(a.size / 1e6)))  # the median of <= ~1e6 pixels
        sample = a[::step, ::step]
        finite = sample[np.isfinite(sample)]
        if finite.size == 0:
            raise InputError(f"band {band} of {source} has no valid pixels (all no-data).")
        median = float(np.median(finite))
        if median > max_median:
            raise InputError(
                f"band {band} of {source} has median {median:.4g} after {scale}, but reflectance "
                f"is 0..1: if the file holds reflectance x 100 or digital numbers, declare the "
                "scale with --quantification 100 (or 10000), quantification=..., or a "
                "QUANTIFICATION_VALUE tag."
            )


def parse_baseline(text: str) -> float:
    """A processing baseline as a number: ``"04.00"``, ``"4.0"`` or the product-name form
    ``"N0400"`` / ``"0400"`` -> 4.0 (``"N0500"``: the 2021-2023 Collection-1 reprocessing)."""
    t = str(text).strip().upper()
    m = re.fullmatch(r"N?(\d{2})(\d{2})", t)
    if m:
        return int(m.group(1)) + int(m.group(2)) / 100
    try:
        return float(t)
    except ValueError:
        raise InputError(
            f"PROCESSING_BASELINE {text!r} is not a baseline such as '04.00' or 'N0400'; "
            "fix the tag or pass offset=... (DN offset, -1000 from baseline 04.00)."
        ) from None


def _offset_from_tags(tags: Mapping[str, str], band: str) -> float | None:
    for key in _OFFSET_TAGS:
        for name in (key, f"{key}_{band}"):
            if name in tags:
                return float(tags[name])
    baseline = tags.get("PROCESSING_BASELINE")
    if baseline is not None:
        return BASELINE_OFFSET if parse_baseline(baseline) >= 4.0 else 0.0
    return None


def gdal_scaling(src, index: int) -> tuple[float, float] | None:
    """``(offset, quantification)`` in DN units from a band's GDAL scale/offset, else None.

    GDAL stores ``value = DN * scale + offset`` per band (``gdal_translate -a_scale 0.0001
    -a_offset -0.1``, ``gdal_edit.py``, rasterio ``dst.scales`` / ``dst.offsets``). For
    Sentinel-2 DN that is reflectance = (DN + offset / scale) / (1 / scale): a baseline >= 04.00
    file carries scale 1e-4 and offset -0.1, i.e. the DN offset -1000.
    """
    scale, off = float(src.scales[index - 1]), float(src.offsets[index - 1])
    if (scale == 1.0 and off == 0.0) or not (np.isfinite(scale) and scale > 0):
        return None
    return off / scale, 1.0 / scale


def check_same_grid(a: GeoInfo, b: GeoInfo, shape_a: tuple, shape_b: tuple, what: str) -> None:
    """Raise :class:`ShapeError` unless two rasters share CRS, transform and shape."""
    if tuple(shape_a) != tuple(shape_b):
        raise ShapeError(f"{what}: grids differ in shape {tuple(shape_a)} vs {tuple(shape_b)}.")
    if a.crs != b.crs:
        raise ShapeError(f"{what}: CRS differ ({a.crs} vs {b.crs}); reproject one of them.")
    if not a.transform.almost_equals(b.transform):  # type: ignore[attr-defined]
        raise ShapeError(
            f"{what}: geotransforms differ ({tuple(a.transform)[:6]} vs {tuple(b.transform)[:6]});"
            " resample both onto one grid first."
        )


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
    wanted = _check_bands(bands)
    if quantification is not None and not (np.isfinite(quantification) and quantification > 0):
        raise bad_value("quantification", quantification, "a positive number (e.g. 10000)")
    if isinstance(path, Mapping):
        files = {canonical_band(k) or str(k): Path(v) for k, v in path.items()}
        missing = [b for b in wanted if b not in files]
        if missing:
            raise DataNotFoundError(f"no file given for bands {missing}; add them to the mapping.")
        out, geo0, shape0 = {}, None, None
        for b in wanted:
            data, geo = read_s2_geotiff(files[b], [b], offset=offset, band_index={b: 1},
                                        quantification=quantification)  # fmt: skip
            if geo0 is None:
                geo0, shape0 = geo, data[b].shape
            else:
                check_same_grid(geo0, geo, shape0, data[b].shape, f"band {b} ({files[b]})")
            out[b] = data[b]
        return out, GeoInfo(geo0.transform, geo0.crs, None, tuple(wanted))  # type: ignore[union-attr]

    import warnings

    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"GeoTIFF {str(p)!r} does not exist; check the path.")
    try:
        with warnings.catch_warnings():  # the grid is returned; its users check it
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            src = rasterio.open(p)
    except RasterioIOError as err:
        raise InputError(f"{str(p)!r} is not a readable raster ({err}).") from None
    with src:
        names = {}
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
        bad_idx = [b for b in wanted if not 1 <= names[b] <= src.count]
        if bad_idx:
            raise bad_value("band_index", band_index, f"band numbers in 1..{src.count}")
        global_tags = src.tags()
        q = quantification
        if q is None:
            q = _quantification_from_tags(global_tags)
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
                off = _offset_from_tags(src.tags(i), b)
                if off is None:
                    off = _offset_from_tags(global_tags, b) or 0.0
            out[b] = _to_reflectance(src.read(i), float(off), src.nodata, gdal[1] if gdal else q)
        geo = GeoInfo(src.transform, src.crs, None, tuple(wanted))
    check_reflectance(out, repr(str(p)), scale)
    return out, geo


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
    import rasterio

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
        data, nodata = dn, 0
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
    from eoforge.io.sentinel2_safe import read_safe

    return read_safe(path, bands, resolution, offset=offset)


def read_s2_band_files(
    folder: str | os.PathLike[str],
    bands: Sequence[str] = ("B11", "B12"),
    resolution: int = 20,
    *,
    offset: float | Mapping[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read a folder of single-band files (``<patch>_B04.tif``, ...) at 10/20/60 m as
    reflectance on one ``resolution`` grid (BigEarthNet patches, per-band exports).

    See :func:`eoforge.io.sentinel2_safe.read_band_files` (10 m bands averaged 2 x 2 to 20 m,
    60 m bands repeated 3 x 3; DN offset from ``offset``, an ``MTD_MSIL*.xml`` in the folder,
    GDAL scale/offset, or the ``BOA_ADD_OFFSET`` / ``PROCESSING_BASELINE`` tags).
    """
    from eoforge.io.sentinel2_safe import read_band_files

    return read_band_files(folder, bands, resolution, offset=offset)
