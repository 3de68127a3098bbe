"""Sentinel-1 ``.SAFE`` products (e.g. WV SLC) into a :class:`WVSet` of calibrated sigma0.

Used by :func:`eoforge.sar.readers.load_imagettes` when its folder is a ``.SAFE`` product or
holds some: every measurement (one per WV vignette) becomes one imagette of linear sigma0
(:func:`eoforge.io.sentinel1_safe.read_s1_safe`: calibration, thermal noise removal,
multilooking). Sizes are checked from the annotations before any pixel is read; imagettes of
different sizes are centre-cropped to ``crop`` or refused. A labels CSV is matched on the
measurement file stem (``s1a-wv1-slc-vv-...-001``, the TenGeoP-SARwv file names).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.io.sentinel1_safe import (
    S1Imagette,
    S1Measurement,
    is_safe,
    list_measurements,
    multilook_pair,
    read_measurement,
)
from eoforge.sar.labels import SUFFIXES, class_index, read_labels
from eoforge.sar.wv import CLASSES, WVSet


def find_safe_products(root: Path, pattern: str = "**/*") -> tuple[list[Path], bool]:
    """``.SAFE`` products at or under ``root``, and whether imagette files lie outside them.

    Products (sorted; not looked into) are kept when their path relative to ``root`` matches
    ``pattern`` (:mod:`fnmatch`, ``*`` crosses folders).
    """
    if is_safe(root):
        return [root], False
    safes, loose = [], False
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        for d in list(dirnames):
            if is_safe(here / d):
                dirnames.remove(d)
                rel = (here / d).relative_to(root).as_posix()
                if pattern in ("**/*", "*") or fnmatch.fnmatch(rel, pattern):
                    safes.append(here / d)
        loose = loose or any(Path(f).suffix.lower() in SUFFIXES for f in filenames)
    return sorted(safes), loose


def crop_size(crop: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """``crop`` as ``(height, width)`` (one int: a square), validated."""
    if crop is None:
        return None
    pair = (crop, crop) if isinstance(crop, int | np.integer) else tuple(crop)
    if len(pair) != 2 or not all(isinstance(k, int | np.integer) and k >= 1 for k in pair):
        raise bad_value("crop", crop, "a positive int or a pair (height, width)")
    return int(pair[0]), int(pair[1])


def common_shape(
    shapes: dict[str, tuple[int, int]], crop: tuple[int, int] | None
) -> tuple[int, int]:
    """The one output size: all sizes equal (no crop), or ``crop`` if every image is as large.

    Raises:
        ShapeError: Sizes differ and no crop is given, or an image is smaller than ``crop``.
    """
    sizes = sorted(set(shapes.values()))
    if crop is None:
        if len(sizes) > 1:
            examples = {f"{h}x{w}": next(k for k, s in shapes.items() if s == (h, w))
                        for h, w in sizes}  # fmt: skip
            raise ShapeError(
                f"the imagettes have {len(sizes)} sizes, e.g. {examples}; pass crop= (--crop) "
                f"to centre-crop them all to one size, at most {min(h for h, _ in sizes)}x"
                f"{min(w for _, w in sizes)}."
            )
        return sizes[0]
    small = {k: s for k, s in shapes.items() if s[0] < crop[0] or s[1] < crop[1]}
    if small:
        name, (h, w) = next(iter(small.items()))
        raise ShapeError(
            f"crop={crop[0]}x{crop[1]} is larger than {len(small)} imagette(s), e.g. {name} "
            f"({h}x{w}); pass a smaller crop."
        )
    return crop


def centre_crop(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The centred ``shape`` window of ``image`` (top-left offset ``(H - h) // 2, (W - w) // 2``)."""
    top, left = (image.shape[0] - shape[0]) // 2, (image.shape[1] - shape[1]) // 2
    return image[top : top + shape[0], left : left + shape[1]]


def _measurements(
    safes: list[Path], polarisation: str | None, swath: str | None
) -> tuple[list[tuple[Path, S1Measurement]], str]:
    """The ``(product, measurement)`` pairs kept, and their one polarisation.

    Raises:
        InputError: The measurements hold several polarisations.
    """
    items = [(safe, m) for safe in safes for m in list_measurements(safe, polarisation, swath)]
    pols = sorted({m.meta["polarisation"] for _, m in items})
    if len(pols) > 1:
        raise InputError(
            f"the products hold several polarisations {pols}; choose one with "
            "polarisation= (--polarisation), e.g. VV (the usual one over the ocean)."
        )
    return items, pols[0]


def _record(meta: dict[str, list[Any]], root: Path, m: S1Measurement, im: S1Imagette) -> None:
    """Append one imagette's file (relative to ``root``), product, swath, time, place, spacing."""
    rel = m.tiff.relative_to(root) if m.tiff.is_relative_to(root) else m.tiff
    spacing = [round(im.ground_range_spacing, 4), round(im.azimuth_spacing, 4)]
    for key, value in (("files", str(rel)), ("product", im.product), ("swath", im.swath),
                       ("start_time", im.start_time), ("lat", im.lat), ("lon", im.lon),
                       ("pixel_spacing", spacing)):  # fmt: skip
        meta[key].append(value)


def load_safe(
    root: Path,
    safes: list[Path],
    labels: str | os.PathLike[str] | None = None,
    *,
    polarisation: str | None = None,
    swath: str | None = None,
    denoise: bool = True,
    multilook: int | tuple[int, int] | None = None,
    crop: int | tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WVSet:
    """Calibrated sigma0 of every measurement of ``safes`` as a :class:`WVSet`.

    Args:
        root: The folder given by the user (file names are stored relative to it).
        safes: The products (from :func:`find_safe_products`).
        labels: TenGeoP-style CSV keyed by measurement stem, or ``"folders"`` (class from the
            name of the folder holding each ``.SAFE``; products directly in ``root`` stay
            unlabelled).
        polarisation: Keep one polarisation; required when the products hold several.
        swath: Keep one swath (``"wv1"``, ``"wv2"``, ...).
        denoise: Subtract thermal noise.
        multilook: ``(la, lr)`` block averaging (see :func:`eoforge.io.sentinel1_safe.read_s1_safe`).
        crop: Centre-crop every imagette to this size (after multilooking).
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The imagettes (``incidence`` = mid-swath angle); ``attrs`` holds ``files`` (the tiffs
        relative to ``root``) and per-imagette ``product``, ``swath``, ``start_time``, ``lat``,
        ``lon`` and ``pixel_spacing`` (ground range, azimuth; metres).
    """
    looks = multilook_pair(multilook)
    shape_crop = crop_size(crop)
    by_folder = isinstance(labels, str) and labels == "folders"
    table = read_labels(labels) if labels is not None and not by_folder else {}
    items, pol = _measurements(safes, polarisation, swath)
    shape = common_shape({m.name: m.output_shape(looks) for _, m in items}, shape_crop)
    n = len(items)
    images = np.empty((n, *shape), dtype=np.float32)
    lab = np.full(n, -1, dtype=np.int64)
    wind, hs = np.full(n, np.nan, dtype=np.float32), np.full(n, np.nan, dtype=np.float32)
    incidence = np.empty(n, dtype=np.float32)
    meta: dict[str, list[Any]] = {k: [] for k in ("files", "product", "swath", "start_time", "lat",
                                             "lon", "pixel_spacing")}  # fmt: skip
    for i, (safe, m) in enumerate(items):
        im = read_measurement(m, denoise=denoise, multilook=looks)
        images[i] = centre_crop(im.sigma0, shape)
        incidence[i] = im.incidence
        if by_folder and safe.parent != root and safe != root:
            lab[i] = class_index(safe.parent.name, f"the folder name of {safe.name}")
        entry = table.get(m.name)
        if entry is not None:
            lab[i] = int(entry["label"])
            wind[i], hs[i] = entry.get("wind_speed", np.nan), entry.get("hs", np.nan)
        _record(meta, root, m, im)
        if progress is not None:
            progress(i + 1, n)
    attrs = {"source": str(root), "format": "Sentinel-1 SAFE", "polarisation": pol,
             "denoise": bool(denoise), "multilook": list(looks),
             "crop": list(shape_crop) if shape_crop else None,
             "labelled": int((lab >= 0).sum()), **meta}  # fmt: skip
    return WVSet(images, lab, wind, hs, np.full(n, -1, dtype=np.int64), CLASSES, attrs, incidence)
