"""Sentinel-1 Level-1 ``.SAFE`` products (WV SLC imagettes, IW/EW/WV GRD) as calibrated sigma0.

Layout read (ESA Sentinel-1 Product Specification)::

    S1A_WV_SLC__1SSV_<start>_<stop>_<orbit>_<datatake>_<crc>.SAFE/
        manifest.safe
        measurement/s1a-wv1-slc-vv-<start>-<stop>-<orbit>-<datatake>-001.tiff
        annotation/s1a-wv1-slc-vv-...-001.xml
        annotation/calibration/calibration-s1a-wv1-slc-vv-...-001.xml
        annotation/calibration/noise-s1a-wv1-slc-vv-...-001.xml     (optional)

A measurement file name reads ``mission-swath-type-polarisation-start-stop-orbit-datatake-image``.
A WV product holds one measurement per vignette (imagette), alternating ``wv1`` (~23 deg) and
``wv2`` (~36.5 deg); every one is read. SLC pixels are complex int16 ``DN = I + iQ`` (GDAL
``CInt16``; two int16 bands are accepted too), GRD pixels uint16 amplitudes.

Calibration (ESA S1-RS-MDA-52-7441), per pixel::

    sigma0 = |DN|^2 / A_sigma^2                    (denoise=False)
    sigma0 = (|DN|^2 - eta) / A_sigma^2            (denoise=True, noise file present)

with ``A_sigma`` the ``sigmaNought`` LUT and ``eta`` the thermal noise, both interpolated
bilinearly over (line, pixel) (:mod:`eoforge.io.sentinel1_annotation`). ``multilook=(la, lr)``
then averages intensity over ``la x lr`` blocks (lines x samples; a last partial block is
dropped). With noise removal, values below ``floor`` are raised to ``floor`` *after* the averaging
(clipping single-look pixels first would bias the mean upwards).

WV SLC pixels are ~4-5 m (about 20 km x 20 km per vignette, ~5000 x 5000 pixels, single look):
studies usually multilook or downsample them, e.g. ``multilook=(10, 10)`` to ~50 m.
Pixels are read in blocks of lines, so memory stays near one output image. No-data pixels
(``DN = 0``, e.g. GRD borders) come out as 0, or as ``floor`` when denoised.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError, bad_value
from eoforge.io.sentinel1_annotation import (
    LineLut,
    NoiseLut,
    read_annotation,
    read_calibration,
    read_noise,
)

if TYPE_CHECKING:
    from rasterio.io import DatasetReader

POLARISATIONS = ("HH", "HV", "VH", "VV")
_BLOCK_PIXELS = 1 << 22  # pixels read per block (~4 M)


@dataclass(frozen=True, eq=False)
class S1Measurement:
    """The files and annotation metadata of one measurement (imagette) of a product."""

    tiff: Path
    annotation: Path
    calibration: Path
    noise: Path | None
    product: str
    meta: dict

    @property
    def name(self) -> str:
        """Measurement file stem, e.g. ``s1a-wv1-slc-vv-...-001`` (the TenGeoP file name)."""
        return self.tiff.stem

    def output_shape(self, multilook: tuple[int, int] = (1, 1)) -> tuple[int, int]:
        """``(lines // la, samples // lr)``: the size of the sigma0 image read with ``multilook``."""
        return self.meta["lines"] // multilook[0], self.meta["samples"] // multilook[1]


@dataclass(frozen=True, eq=False)
class S1Imagette:
    """Calibrated sigma0 of one measurement.

    Attributes:
        sigma0: ``(H, W)`` float32 linear sigma0 (lines x samples, after multilooking).
        name: Measurement file stem.
        product: ``.SAFE`` folder name without the suffix.
        polarisation: ``"VV"``, ``"VH"``, ``"HH"`` or ``"HV"``.
        swath: Lower-case swath, e.g. ``"wv1"``, ``"wv2"``, ``"iw"``, ``"ew"``.
        product_type: ``"SLC"`` or ``"GRD"``.
        incidence: Incidence angle at mid swath (degrees).
        lat: Latitude of the image centre (degrees), None without a geolocation grid.
        lon: Longitude of the image centre (degrees, in [-180, 180)).
        range_spacing: Range pixel spacing (m) after multilooking; slant range for SLC.
        azimuth_spacing: Azimuth pixel spacing (m) after multilooking.
        start_time: Acquisition start time (UTC, ISO 8601 text from the annotation).
        looks: ``(la, lr)`` lines x samples averaged per output pixel.
        denoised: Thermal noise was subtracted.
    """

    sigma0: np.ndarray
    name: str
    product: str
    polarisation: str
    swath: str
    product_type: str
    incidence: float
    lat: float | None
    lon: float | None
    range_spacing: float
    azimuth_spacing: float
    start_time: str | None
    looks: tuple[int, int]
    denoised: bool

    @property
    def ground_range_spacing(self) -> float:
        """Range spacing on the ground: ``slant / sin(incidence)`` for SLC, as is for GRD."""
        if self.product_type == "SLC":
            return self.range_spacing / math.sin(math.radians(self.incidence))
        return self.range_spacing


def is_safe(path: str | os.PathLike[str]) -> bool:
    """``path`` is a folder holding a ``manifest.safe`` (a Sentinel-1 product)."""
    return (Path(path) / "manifest.safe").is_file()


def multilook_pair(multilook: int | tuple[int, int] | None) -> tuple[int, int]:
    """``multilook`` as ``(la, lr)`` (None: ``(1, 1)``; one int: both), validated."""
    if multilook is None:
        return 1, 1
    pair = (multilook, multilook) if isinstance(multilook, int | np.integer) else tuple(multilook)
    if len(pair) != 2 or not all(isinstance(k, int | np.integer) and k >= 1 for k in pair):
        raise bad_value("multilook", multilook, "a positive int or a pair (lines, samples)")
    return int(pair[0]), int(pair[1])


def _checked_safe(path: str | os.PathLike[str]) -> Path:
    """``path`` as a :class:`Path` once it is known to be a Sentinel-1 ``.SAFE`` folder."""
    safe = Path(path)
    if not safe.is_dir():
        raise DataNotFoundError(f".SAFE folder {str(safe)!r} does not exist; check the path.")
    if not is_safe(safe):
        raise InputError(
            f"{str(safe)!r} is not a Sentinel-1 SAFE product (no manifest.safe); "
            "pass the .SAFE folder itself (unzip .SAFE.zip archives first)."
        )
    return safe


def _measurement(safe: Path, tiff: Path, ann: Path, meta: dict[str, Any]) -> S1Measurement:
    """The measurement ``tiff`` with its calibration (required) and noise (optional) files."""
    cal = safe / "annotation" / "calibration" / f"calibration-{tiff.stem}.xml"
    noise = safe / "annotation" / "calibration" / f"noise-{tiff.stem}.xml"
    if not cal.is_file():
        raise DataNotFoundError(
            f"calibration file {str(cal)!r} of measurement {tiff.name} is missing; "
            "sigma0 cannot be calibrated without it (use a complete product)."
        )
    return S1Measurement(tiff, ann, cal, noise if noise.is_file() else None,
                         safe.name.removesuffix(".SAFE"), meta)  # fmt: skip


def list_measurements(
    path: str | os.PathLike[str], polarisation: str | None = None, swath: str | None = None
) -> list[S1Measurement]:
    """The measurements of a ``.SAFE`` product, optionally filtered.

    They are sorted by image number (the last field of the file name: acquisition order of the
    WV vignettes, whose swath alternates), then by name.

    Args:
        path: The ``.SAFE`` folder.
        polarisation: Keep only this polarisation (``"VV"``, ...); None keeps all.
        swath: Keep only this swath (``"wv1"``, ``"wv2"``, ``"iw"``, ...); None keeps all.

    Raises:
        DataNotFoundError: Missing folder, or a measurement without annotation/calibration.
        InputError: Not a SAFE folder, bad polarisation, or nothing left after the filters.
    """
    safe = _checked_safe(path)
    pol = None if polarisation is None else polarisation.strip().upper()
    if pol is not None and pol not in POLARISATIONS:
        raise bad_value("polarisation", polarisation, f"one of {POLARISATIONS}")
    sw = None if swath is None else swath.strip().lower()
    tiffs = sorted(
        (p for p in (safe / "measurement").glob("*.tif*") if p.is_file()),
        key=lambda p: (p.stem.rsplit("-", 1)[-1], p.name),
    )  # image number first
    if not tiffs:
        raise DataNotFoundError(f"{str(safe)!r} has no measurement/*.tiff files.")
    found: list[tuple[str, str]] = []
    out = []
    for tiff in tiffs:
        ann = safe / "annotation" / f"{tiff.stem}.xml"
        parts = tiff.stem.split("-")
        meta = read_annotation(ann) if len(parts) < 4 else {}
        m_swath = (parts[1] if parts[3:] else meta.get("swath") or "?").lower()
        m_pol = (parts[3] if parts[3:] else meta.get("polarisation") or "?").upper()
        found.append((m_pol, m_swath))
        if (pol is not None and m_pol != pol) or (sw is not None and m_swath != sw):
            continue
        meta = meta or read_annotation(ann)
        kind = (parts[2] if parts[3:] else meta["product_type"] or "?").upper()
        meta.update(polarisation=m_pol, swath=m_swath, product_type=kind)
        out.append(_measurement(safe, tiff, ann, meta))
    if not out:
        have = sorted({f"{p}/{s}" for p, s in found})
        raise InputError(
            f"{safe.name} has no measurement for polarisation={polarisation!r} "
            f"swath={swath!r}; it holds (polarisation/swath) {have}."
        )
    return out


def _intensity(src: DatasetReader, row0: int, nrows: int, ncols: int) -> np.ndarray:
    """``|DN|^2`` (float64) of rows ``row0 .. row0 + nrows`` and the first ``ncols`` columns."""
    from rasterio.windows import Window

    win = Window(0, row0, ncols, nrows)
    if src.count == 1:
        dn = src.read(1, window=win)
        if np.iscomplexobj(dn):
            return dn.real.astype(np.float64) ** 2 + dn.imag.astype(np.float64) ** 2
        return dn.astype(np.float64) ** 2
    if src.count == 2 and all(np.dtype(d).kind == "i" for d in src.dtypes):
        i, q = src.read((1, 2), window=win).astype(np.float64)
        return i * i + q * q
    raise ShapeError(
        f"{src.name}: {src.count} bands of {src.dtypes}; expected one complex (SLC) or "
        "unsigned (GRD) band, or two int16 bands (I, Q)."
    )


def _sigma0_blocks(
    m: S1Measurement,
    a_sigma: LineLut,
    noise: NoiseLut | None,
    looks: tuple[int, int],
    shape: tuple[int, int],
) -> np.ndarray:
    """Multilooked ``(|DN|^2 - eta) / A_sigma^2`` ``(h, w)`` float32, read in blocks of lines."""
    import rasterio  # deferred: rasterio loads only when pixels are read
    from rasterio.errors import NotGeoreferencedWarning

    (la, lr), (h, w) = looks, shape
    nl, ns = m.meta["lines"], m.meta["samples"]
    cols = np.arange(w * lr)
    out = np.empty((h, w), dtype=np.float32)
    step = max(la, _BLOCK_PIXELS // max(ns, 1) // la * la)
    with warnings.catch_warnings():  # S-1 tiffs carry GCPs, not a geotransform
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(m.tiff) as src:
            if (src.height, src.width) != (nl, ns):
                raise ShapeError(
                    f"{m.tiff.name} is {src.height} x {src.width} pixels but its annotation "
                    f"says {nl} x {ns} (numberOfLines x numberOfSamples); the product is "
                    "inconsistent."
                )
            for r0 in range(0, h * la, step):
                r1 = min(r0 + step, h * la)
                lines = np.arange(r0, r1)
                power = _intensity(src, r0, r1 - r0, w * lr)  # (rows, w * lr)
                if noise is not None:
                    power -= noise.evaluate(lines, cols)
                s0 = power / a_sigma.evaluate(lines, cols) ** 2
                blocks = s0.reshape((r1 - r0) // la, la, w, lr).mean(axis=(1, 3))
                out[r0 // la : r1 // la] = blocks
    return out


def read_measurement(
    m: S1Measurement,
    *,
    denoise: bool = True,
    multilook: int | tuple[int, int] | None = None,
    floor: float = 1e-5,
) -> S1Imagette:
    """Calibrated sigma0 of one measurement (formulas in the module docstring).

    Args:
        m: From :func:`list_measurements`.
        denoise: Subtract the thermal noise ``eta`` (warns and skips it if the noise file is
            missing).
        multilook: ``(la, lr)`` or one int for both: block-average intensity.
        floor: Lower bound of denoised sigma0 (linear; 1e-5 = -50 dB).

    Raises:
        ShapeError: The tiff size differs from ``numberOfLines x numberOfSamples``.
    """
    la, lr = multilook_pair(multilook)
    nl, ns = m.meta["lines"], m.meta["samples"]
    h, w = m.output_shape((la, lr))
    if h == 0 or w == 0:
        raise bad_value("multilook", multilook, f"at most the image size {nl} x {ns}")
    if not floor > 0:
        raise bad_value("floor", floor, "a positive linear sigma0")
    a_sigma = read_calibration(m.calibration, "sigmaNought")
    noise = read_noise(m.noise) if denoise and m.noise is not None else None
    if denoise and noise is None:
        warnings.warn(f"{m.name} has no noise file; sigma0 is not denoised.", stacklevel=2)
    out = _sigma0_blocks(m, a_sigma, noise, (la, lr), (h, w))
    if noise is not None:
        np.maximum(out, np.float32(floor), out=out)
    meta = m.meta
    return S1Imagette(
        sigma0=out, name=m.name, product=m.product, polarisation=meta["polarisation"],
        swath=meta["swath"], product_type=meta["product_type"],
        incidence=float(meta["incidence"]) if meta["incidence"] is not None else float("nan"),
        lat=meta["lat"], lon=meta["lon"], range_spacing=float(meta["range_spacing"]) * lr,
        azimuth_spacing=float(meta["azimuth_spacing"]) * la, start_time=meta["start_time"],
        looks=(la, lr), denoised=noise is not None,
    )  # fmt: skip


def iter_s1_safe(
    path: str | os.PathLike[str],
    polarisation: str | None = None,
    swath: str | None = None,
    denoise: bool = True,
    multilook: int | tuple[int, int] | None = None,
    *,
    floor: float = 1e-5,
) -> Iterator[S1Imagette]:
    """Like :func:`read_s1_safe`, one imagette at a time (bounded memory)."""
    multilook_pair(multilook)
    for m in list_measurements(path, polarisation, swath):
        yield read_measurement(m, denoise=denoise, multilook=multilook, floor=floor)


def read_s1_safe(
    path: str | os.PathLike[str],
    polarisation: str | None = None,
    swath: str | None = None,
    denoise: bool = True,
    multilook: int | tuple[int, int] | None = None,
    *,
    floor: float = 1e-5,
) -> list[S1Imagette]:
    """Every measurement of a Sentinel-1 Level-1 ``.SAFE`` product as calibrated sigma0.

    Args:
        path: The ``.SAFE`` folder (unzipped).
        polarisation: Keep one polarisation (``"VV"``, ``"VH"``, ``"HH"``, ``"HV"``).
        swath: Keep one swath (``"wv1"``, ``"wv2"``, ``"iw"``, ``"ew"``, ...).
        denoise: Subtract thermal noise: ``sigma0 = (|DN|^2 - eta) / A_sigma^2``.
        multilook: ``(la, lr)`` block averaging of intensity (lines, samples), e.g. ``(10, 10)``
            to bring 5 m WV SLC pixels to ~50 m; one int for both.
        floor: Lower bound of denoised sigma0 (after multilooking).

    Returns:
        One :class:`S1Imagette` per measurement, in image-number order.

    Raises:
        DataNotFoundError: Missing folder, measurement, annotation or calibration file.
        InputError: Not a SAFE folder; no measurement for the polarisation/swath.
        ShapeError: Annotation and tiff sizes differ.
    """
    return list(iter_s1_safe(path, polarisation, swath, denoise, multilook, floor=floor))
