"""Sentinel-2 band names and digital numbers: the rules every Sentinel-2 reader shares.

Digital numbers (ESA products; notes section 4.2): reflectance = (DN + OFFSET) / QUANTIFICATION
with QUANTIFICATION = 10000, OFFSET = 0 before processing baseline 04.00 and -1000 from it
(25 January 2022; ``RADIO_ADD_OFFSET`` in L1C, ``BOA_ADD_OFFSET`` in L2A metadata, per band).
DN 0 is no-data and becomes NaN. A GDAL scale/offset ``value = DN * scale + offset`` gives the
DN offset ``offset / scale`` and the quantification ``1 / scale``.

Band names. A band is recognised, case-insensitively, from a GeoTIFF band description (or a
.SAFE file name) in any of these forms: ``B11``, ``B11_20m``, ``B11 (SWIR1)``, ``b11``, ``B8A``,
``B1`` for ``B01``, or the common names of STAC ``eo:bands`` / Element84 asset keys: ``coastal``,
``blue``, ``green``, ``red``, ``rededge1-3`` (``rededge`` = B05), ``nir`` (B08), ``nir08`` /
``narrow_nir`` / ``rededge4`` (B8A), ``nir09`` / ``water_vapour`` (B09), ``cirrus`` (B10),
``swir16`` / ``swir1`` (B11) and ``swir22`` / ``swir2`` (B12).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.io.raster import GeoInfo

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

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


def check_bands(bands: Sequence[str]) -> list[str]:
    """The canonical names of ``bands`` (one name: a list of one).

    Raises:
        InputError: A name is no Sentinel-2 band, or ``bands`` is empty.
    """
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


def to_reflectance(
    dn: np.ndarray, offset: float, nodata: float | None, quantification: float | None = None
) -> np.ndarray:
    """Reflectance of digital numbers: ``(DN + offset) / quantification`` for integer data.

    Integer data: DN 0 (and ``nodata``) -> NaN, ``quantification`` default 10000. Floats are
    taken as is (``nodata`` -> NaN), or divided by ``quantification`` when it is given.
    """
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


def quantification_from_tags(tags: Mapping[str, str]) -> float | None:
    """The ``QUANTIFICATION_VALUE`` (or ``BOA_QUANTIFICATION_VALUE``) tag as a number, else None."""
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
    """A processing baseline as a number: ``"04.00"``, ``"4.0"``, ``"N0400"``, ``"0400"`` -> 4.0.

    ``"N0500"`` is the 2021-2023 Collection-1 reprocessing.

    Raises:
        InputError: ``text`` is no baseline.
    """
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


def offset_from_tags(tags: Mapping[str, str], band: str) -> float | None:
    """The DN offset of ``band`` from raster tags, else None.

    ``BOA_ADD_OFFSET`` / ``RADIO_ADD_OFFSET`` (global or suffixed ``_B11``), else
    ``PROCESSING_BASELINE`` (>= 04.00: -1000, older: 0).
    """
    for key in _OFFSET_TAGS:
        for name in (key, f"{key}_{band}"):
            if name in tags:
                return float(tags[name])
    baseline = tags.get("PROCESSING_BASELINE")
    if baseline is not None:
        return BASELINE_OFFSET if parse_baseline(baseline) >= 4.0 else 0.0
    return None


def gdal_scaling(src: DatasetReader, index: int) -> tuple[float, float] | None:
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
    if not a.transform.almost_equals(b.transform):
        raise ShapeError(
            f"{what}: geotransforms differ ({tuple(a.transform)[:6]} vs {tuple(b.transform)[:6]});"
            " resample both onto one grid first."
        )
