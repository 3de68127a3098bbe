"""Sentinel-2 ``.SAFE`` folders (L1C, and L2A): metadata, band files, resampling to one grid.

Layout read (ESA product format)::

    S2A_MSIL1C_<date>_N0400_R<orbit>_T<tile>_<date>.SAFE/
        MTD_MSIL1C.xml                       (MTD_MSIL2A.xml for L2A)
        GRANULE/<granule>/MTD_TL.xml         (sun and viewing angles)
        GRANULE/<granule>/IMG_DATA/T<tile>_<date>_B11.jp2         (L1C)
        GRANULE/<granule>/IMG_DATA/R20m/T<tile>_<date>_B11_20m.jp2 (L2A)

From the product metadata: ``PROCESSING_BASELINE``, ``QUANTIFICATION_VALUE`` (L1C) or
``BOA_QUANTIFICATION_VALUE`` (L2A), and the per-band offsets ``RADIO_ADD_OFFSET`` /
``BOA_ADD_OFFSET`` (attribute ``band_id`` 0..12 in :data:`~eoforge.io.sentinel2.S2_ALL_BANDS`
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

from eoforge.core.errors import DataNotFoundError, InputError, bad_value
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2 import (
    BASELINE_OFFSET,
    NATIVE_RESOLUTION,
    QUANTIFICATION,
    S2_ALL_BANDS,
    _check_bands,
    _to_reflectance,
    canonical_band,
    check_same_grid,
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
    default = BASELINE_OFFSET if baseline is not None and float(baseline) >= 4.0 else 0.0
    meta: dict = {
        "level": level,
        "processing_baseline": float(baseline) if baseline is not None else None,
        "quantification": float(quant) if quant else QUANTIFICATION,
        "offsets": {b: offsets.get(b, default) for b in S2_ALL_BANDS},
        "spacecraft": _find_text(root, "SPACECRAFT_NAME"),
        "sensing_time": _find_text(root, "PRODUCT_START_TIME"),
    }
    tl = _granule(safe) / "MTD_TL.xml" if (safe / "GRANULE").is_dir() else None
    if tl is not None and tl.is_file():
        meta.update(_angles(ET.parse(tl).getroot()))
    return meta


def _angles(root: ET.Element) -> dict:
    out: dict = {}
    per_band: dict[str, float] = {}
    for el in root.iter():
        name = _local(el.tag)
        if name == "Mean_Sun_Angle":
            for child in el:
                if _local(child.tag) == "ZENITH_ANGLE":
                    out["sza"] = float(child.text)
                elif _local(child.tag) == "AZIMUTH_ANGLE":
                    out["saa"] = float(child.text)
        elif name == "Mean_Viewing_Incidence_Angle":
            band_id = int(el.attrib.get("bandId", -1))
            for child in el:
                if _local(child.tag) == "ZENITH_ANGLE" and 0 <= band_id < len(S2_ALL_BANDS):
                    per_band[S2_ALL_BANDS[band_id]] = float(child.text)
    if per_band:
        out["vza_per_band"] = per_band
        out["vza"] = float(np.mean(list(per_band.values())))
    return out


def band_file(safe: str | os.PathLike[str], band: str, resolution: int = 20) -> Path:
    """Path of ``band``'s image file in a .SAFE (L2A: the ``R{resolution}m`` copy if present)."""
    img = _granule(Path(safe)) / "IMG_DATA"
    candidates = []
    for p in sorted(img.rglob("*")):
        if p.suffix.lower() not in (".jp2", ".tif", ".tiff") or not p.is_file():
            continue
        parts = p.stem.split("_")
        names = [canonical_band(x) for x in parts[-2:]]
        suffix_res = parts[-1].upper() if parts[-1].upper().endswith("M") else None
        if band in names and (parts[-1].upper() != "TCI"):
            candidates.append((p, suffix_res))
    if not candidates:
        raise DataNotFoundError(f"band {band} has no image file under {str(img)!r}.")
    preferred = [p for p, r in candidates if r == f"{int(resolution)}M"]
    native = [p for p, r in candidates if r == f"{NATIVE_RESOLUTION[band]}M" or r is None]
    return (preferred or native or [candidates[0][0]])[0]


def _resample(data: np.ndarray, transform, k_down: int, k_up: int) -> tuple[np.ndarray, object]:
    from affine import Affine

    if k_down > 1:
        h, w = (data.shape[0] // k_down) * k_down, (data.shape[1] // k_down) * k_down
        blocks = data[:h, :w].reshape(h // k_down, k_down, w // k_down, k_down)
        return blocks.mean(axis=(1, 3), dtype=np.float32), transform @ Affine.scale(k_down)
    if k_up > 1:
        up = np.repeat(np.repeat(data, k_up, axis=0), k_up, axis=1)
        return up, transform @ Affine.scale(1.0 / k_up)
    return data, transform


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
    import rasterio

    if resolution not in (10, 20, 60):
        raise bad_value("resolution", resolution, "10, 20 or 60 (metres)")
    wanted = _check_bands(bands)
    meta = safe_metadata(path)
    out: dict[str, np.ndarray] = {}
    geo0: GeoInfo | None = None
    shape0: tuple[int, ...] = ()
    for b in wanted:
        f = band_file(path, b, resolution)
        with rasterio.open(f) as src:
            dn = src.read(1)
            transform, crs = src.transform, src.crs
        native = int(np.rint(abs(transform.a)))
        if native <= 0 or (resolution % native and native % resolution):
            raise InputError(
                f"{f.name} has pixel size {transform.a}; cannot resample it to {resolution} m."
            )
        if isinstance(offset, Mapping):
            off = float(offset.get(b, meta["offsets"][b]))
        else:
            off = meta["offsets"][b] if offset is None else float(offset)
        refl = _to_reflectance(dn, off, None) * np.float32(QUANTIFICATION / meta["quantification"])
        data, tr = _resample(refl, transform, resolution // native, native // resolution)
        geo = GeoInfo(tr, crs, None, ())
        if geo0 is None:
            geo0, shape0 = geo, data.shape
        else:
            check_same_grid(geo0, geo, shape0, data.shape, f"band {b} ({f.name})")
        out[b] = data
    return out, GeoInfo(geo0.transform, geo0.crs, None, tuple(wanted))  # type: ignore[union-attr]
