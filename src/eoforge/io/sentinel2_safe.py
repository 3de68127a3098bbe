"""Sentinel-2 ``.SAFE`` folders (L1C, and L2A): metadata, band files, resampling to one grid.

Layout read (ESA product format)::

    S2A_MSIL1C_<date>_N0400_R<orbit>_T<tile>_<date>.SAFE/
        MTD_MSIL1C.xml                       (MTD_MSIL2A.xml for L2A)
        GRANULE/<granule>/MTD_TL.xml         (sun and viewing angles)
        GRANULE/<granule>/IMG_DATA/T<tile>_<date>_B11.jp2         (L1C)
        GRANULE/<granule>/IMG_DATA/R20m/T<tile>_<date>_B11_20m.jp2 (L2A)

From the product metadata: ``PROCESSING_BASELINE``, ``QUANTIFICATION_VALUE`` (L1C) or
``BOA_QUANTIFICATION_VALUE`` (L2A), and the per-band offsets ``RADIO_ADD_OFFSET`` /
``BOA_ADD_OFFSET`` (attribute ``band_id`` 0..12 in :data:`~eoforge.io.sentinel2_dn.S2_ALL_BANDS`
order); without offset elements, baselines >= 04.00 get -1000 and older ones 0.

Resampling to ``resolution``: finer bands are averaged over k x k blocks (10 m -> 20 m: 2 x 2
mean, the footprint-preserving choice), coarser bands are repeated k x k (60 m -> 20 m: nearest).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from affine import Affine

from eoforge.core.errors import DataNotFoundError, InputError, bad_value
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2_dn import (
    BASELINE_OFFSET,
    NATIVE_RESOLUTION,
    QUANTIFICATION,
    S2_ALL_BANDS,
    canonical_band,
    check_bands,
    check_reflectance,
    check_same_grid,
    gdal_scaling,
    offset_from_tags,
    parse_baseline,
    quantification_from_tags,
    to_reflectance,
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find_text(root: ET.Element, name: str) -> str | None:
    for el in root.iter():
        if _local(el.tag) == name and el.text and el.text.strip():
            return el.text.strip()
    return None


def _product_xml(safe: Path) -> Path:
    for name in ("MTD_MSIL1C.xml", "MTD_MSIL2A.xml"):
        if (safe / name).is_file():
            return safe / name
    raise DataNotFoundError(
        f"{str(safe)!r} has no MTD_MSIL1C.xml or MTD_MSIL2A.xml; pass the .SAFE folder itself."
    )


def _granule(safe: Path) -> Path:
    granules = sorted(p for p in (safe / "GRANULE").glob("*") if p.is_dir())
    if len(granules) != 1:
        raise DataNotFoundError(
            f"{str(safe)!r} must hold exactly one folder under GRANULE/ (found {len(granules)})."
        )
    return granules[0]


def safe_metadata(path: str | os.PathLike[str]) -> dict:
    """Product level, baseline, quantification, per-band DN offsets and mean angles of a .SAFE.

    Returns:
        Dict with ``level`` ("L1C"/"L2A"), ``processing_baseline`` (float or None),
        ``quantification``, ``offsets`` (band -> DN offset), ``spacecraft``, ``sensing_time``,
        ``sza`` / ``saa`` (mean sun zenith / azimuth, degrees) and ``vza`` (mean viewing zenith
        over bands) when MTD_TL.xml has them, and ``vza_per_band``.
    """
    safe = Path(path)
    if not safe.is_dir():
        raise DataNotFoundError(f".SAFE folder {str(safe)!r} does not exist; check the path.")
    xml = _product_xml(safe)
    root = ET.parse(xml).getroot()
    level = "L2A" if xml.name.endswith("L2A.xml") else "L1C"
    baseline = _find_text(root, "PROCESSING_BASELINE")
    quant = _find_text(
        root, "BOA_QUANTIFICATION_VALUE" if level == "L2A" else "QUANTIFICATION_VALUE"
    )
    offsets: dict[str, float] = {}
    for el in root.iter():
        if _local(el.tag) in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET") and el.text:
            band_id = int(el.attrib.get("band_id", -1))
            if 0 <= band_id < len(S2_ALL_BANDS):
                offsets[S2_ALL_BANDS[band_id]] = float(el.text)
    number = parse_baseline(baseline) if baseline is not None else None
    default = BASELINE_OFFSET if number is not None and number >= 4.0 else 0.0
    meta: dict = {
        "level": level,
        "processing_baseline": number,
        "quantification": float(quant) if quant else QUANTIFICATION,
        "offsets": {b: offsets.get(b, default) for b in S2_ALL_BANDS},
        "spacecraft": _find_text(root, "SPACECRAFT_NAME"),
        "sensing_time": _find_text(root, "PRODUCT_START_TIME"),
    }
    tl = _granule(safe) / "MTD_TL.xml" if (safe / "GRANULE").is_dir() else None
    if tl is not None and tl.is_file():
        meta.update(_angles(ET.parse(tl).getroot()))
    return meta


def _angle(el: ET.Element) -> float:
    """The number in an angle element of MTD_TL.xml (degrees)."""
    if el.text is None:
        raise InputError(f"MTD_TL.xml: the element {_local(el.tag)} holds no angle.")
    return float(el.text)


def _angles(root: ET.Element) -> dict:
    """Mean sun zenith/azimuth (``sza``, ``saa``) and per-band viewing zenith of MTD_TL.xml."""
    out: dict = {}
    per_band: dict[str, float] = {}
    for el in root.iter():
        name = _local(el.tag)
        if name == "Mean_Sun_Angle":
            for child in el:
                if _local(child.tag) == "ZENITH_ANGLE":
                    out["sza"] = _angle(child)
                elif _local(child.tag) == "AZIMUTH_ANGLE":
                    out["saa"] = _angle(child)
        elif name == "Mean_Viewing_Incidence_Angle":
            band_id = int(el.attrib.get("bandId", -1))
            for child in el:
                if _local(child.tag) == "ZENITH_ANGLE" and 0 <= band_id < len(S2_ALL_BANDS):
                    per_band[S2_ALL_BANDS[band_id]] = _angle(child)
    if per_band:
        out["vza_per_band"] = per_band
        out["vza"] = float(np.mean(list(per_band.values())))
    return out


def pick_band_file(paths: Sequence[Path], band: str, resolution: int = 20) -> Path | None:
    """The image file of ``band`` among ``paths``, else None.

    A file belongs to a band when one of the last two ``_`` fields of its name is the band
    (``T32TQM_..._B11_20m.jp2``, ``<patch>_B11.tif``); ``TCI`` files are skipped. Of several
    copies the one at ``resolution`` (``_20m``) wins, then the native one (suffix-less or at the
    band's native pixel size).
    """
    candidates = []
    for p in paths:
        if p.suffix.lower() not in (".jp2", ".tif", ".tiff") or not p.is_file():
            continue
        parts = p.stem.split("_")
        names = [canonical_band(x) for x in parts[-2:]]
        suffix_res = parts[-1].upper() if parts[-1].upper().endswith("M") else None
        if band in names and (parts[-1].upper() != "TCI"):
            candidates.append((p, suffix_res))
    if not candidates:
        return None
    preferred = [p for p, r in candidates if r == f"{int(resolution)}M"]
    native = [p for p, r in candidates if r == f"{NATIVE_RESOLUTION[band]}M" or r is None]
    return (preferred or native or [candidates[0][0]])[0]


def band_file(safe: str | os.PathLike[str], band: str, resolution: int = 20) -> Path:
    """Path of ``band``'s image file in a .SAFE (L2A: the ``R{resolution}m`` copy if present)."""
    img = _granule(Path(safe)) / "IMG_DATA"
    found = pick_band_file(sorted(img.rglob("*")), band, resolution)
    if found is None:
        raise DataNotFoundError(f"band {band} has no image file under {str(img)!r}.")
    return found


def _resample(
    data: np.ndarray, transform: Affine, k_down: int, k_up: int
) -> tuple[np.ndarray, Affine]:
    """``data`` averaged over ``k_down`` blocks or repeated ``k_up`` times, and its transform."""
    if k_down > 1:
        h, w = (data.shape[0] // k_down) * k_down, (data.shape[1] // k_down) * k_down
        blocks = data[:h, :w].reshape(h // k_down, k_down, w // k_down, k_down)
        return blocks.mean(axis=(1, 3), dtype=np.float32), transform @ Affine.scale(k_down)
    if k_up > 1:
        up = np.repeat(np.repeat(data, k_up, axis=0), k_up, axis=1)
        return up, transform @ Affine.scale(1.0 / k_up)
    return data, transform


def _read_on_grid(
    files: Mapping[str, Path],
    resolution: int,
    offset: float | Mapping[str, float] | None,
    meta: Mapping | None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Band files as reflectance, resampled to ``resolution`` and checked to share one grid.

    DN offset per band: ``offset`` (a number, or a mapping for the bands it names), else the
    product metadata ``meta`` (:func:`safe_metadata`), else the band's GDAL scale/offset
    (:func:`~eoforge.io.sentinel2_dn.gdal_scaling`), else the file's ``BOA_ADD_OFFSET`` /
    ``RADIO_ADD_OFFSET`` / ``PROCESSING_BASELINE`` tags, else 0. Quantification: ``meta``, else
    the GDAL scale, else the ``QUANTIFICATION_VALUE`` tag, else 10000.
    """
    import rasterio

    out: dict[str, np.ndarray] = {}
    geo0: GeoInfo | None = None
    shape0: tuple[int, ...] = ()
    for b, f in files.items():
        with rasterio.open(f) as src:
            dn = src.read(1)
            transform, crs, nodata = src.transform, src.crs, src.nodata
            band_tags, tags = src.tags(1), src.tags()
            gdal = gdal_scaling(src, 1) if np.issubdtype(dn.dtype, np.integer) else None
        native = int(np.rint(abs(transform.a)))
        if native <= 0 or (resolution % native and native % resolution):
            raise InputError(
                f"{f.name} has pixel size {transform.a}; cannot resample it to {resolution} m."
            )
        off = offset.get(b) if isinstance(offset, Mapping) else offset
        if off is None and meta is not None:
            off = meta["offsets"][b]
        if off is None and gdal is not None:
            off = gdal[0]
        if off is None:
            off = offset_from_tags(band_tags, b)
            off = offset_from_tags(tags, b) if off is None else off
        q = (meta["quantification"] if meta is not None else gdal[1] if gdal is not None
             else quantification_from_tags(tags))  # fmt: skip
        refl = to_reflectance(dn, float(off or 0.0), nodata, q or QUANTIFICATION)
        data, tr = _resample(refl, transform, resolution // native, native // resolution)
        geo = GeoInfo(tr, crs, None, ())
        if geo0 is None:
            geo0, shape0 = geo, data.shape
        else:
            check_same_grid(geo0, geo, shape0, data.shape, f"band {b} ({f.name})")
        out[b] = data
    return out, GeoInfo(geo0.transform, geo0.crs, None, tuple(files))  # type: ignore[union-attr]


def read_safe(
    path: str | os.PathLike[str],
    bands: Sequence[str] = ("B11", "B12"),
    resolution: int = 20,
    *,
    offset: float | Mapping[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read bands of a .SAFE as reflectance (DN + offset) / quantification on one grid.

    Args:
        path: The ``.SAFE`` folder.
        bands: Bands to read.
        resolution: Output pixel size in metres (10, 20 or 60).
        offset: DN offset override (number or band -> number); default from the metadata.

    Returns:
        (dict band -> (H, W) float32 reflectance with NaN no-data, GeoInfo).

    Raises:
        DataNotFoundError: If the folder, its metadata or a band file is missing.
        ShapeError: If the bands do not fall on one grid after resampling.
    """
    if resolution not in (10, 20, 60):
        raise bad_value("resolution", resolution, "10, 20 or 60 (metres)")
    wanted = check_bands(bands)
    meta = safe_metadata(path)
    files = {b: band_file(path, b, resolution) for b in wanted}
    return _read_on_grid(files, resolution, offset, meta)


def read_band_files(
    folder: str | os.PathLike[str],
    bands: Sequence[str] = ("B11", "B12"),
    resolution: int = 20,
    *,
    offset: float | Mapping[str, float] | None = None,
) -> tuple[dict[str, np.ndarray], GeoInfo]:
    """Read a folder of single-band files (``<name>_B04.tif``, ...) at mixed pixel sizes.

    The layout of BigEarthNet patches, of bands exported one file each, or of an extracted
    ``IMG_DATA`` folder: files are found by :func:`pick_band_file` (sub-folders included),
    converted to reflectance and resampled to ``resolution`` like :func:`read_safe`. The DN
    offset comes from ``offset``, else an ``MTD_MSIL2A.xml`` / ``MTD_MSIL1C.xml`` in the folder,
    else each file's GDAL scale/offset, else its tags (``BOA_ADD_OFFSET`` / ``RADIO_ADD_OFFSET``, ``PROCESSING_BASELINE``
    >= 04.00: -1000), else 0. The result is checked to be reflectance
    (:func:`~eoforge.io.sentinel2_dn.check_reflectance`).

    Raises:
        DataNotFoundError: If the folder or a band's file is missing.
        ShapeError: If the bands do not fall on one grid after resampling.
        InputError: If a band's values are not reflectance.
    """
    if resolution not in (10, 20, 60):
        raise bad_value("resolution", resolution, "10, 20 or 60 (metres)")
    wanted = check_bands(bands)
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"band folder {str(root)!r} does not exist; check the path.")
    paths = sorted(root.rglob("*"))
    files = {b: pick_band_file(paths, b, resolution) for b in wanted}
    missing = [b for b, f in files.items() if f is None]
    if missing:
        have = [b for b in S2_ALL_BANDS if pick_band_file(paths, b, resolution) is not None]
        raise DataNotFoundError(
            f"{str(root)!r} has no file for bands {missing} (it has {have}); band files must end "
            "in _<BAND>.tif, _<BAND>_<res>m.jp2, ... (e.g. patch_B11.tif)."
        )
    has_mtd = any((root / n).is_file() for n in ("MTD_MSIL1C.xml", "MTD_MSIL2A.xml"))
    meta = safe_metadata(root) if has_mtd else None
    out, geo = _read_on_grid(files, resolution, offset, meta)  # type: ignore[arg-type]
    check_reflectance(out, repr(str(root)), "(DN + offset) / quantification")
    return out, geo
