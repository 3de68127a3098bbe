"""An archive of Sentinel-2 scenes: dates, sites (grids), valid fractions, references, fingerprints.

A scene is an L1C/L2A ``.SAFE`` folder or a multi-band GeoTIFF as ``eoforge methane detect``
reads it. Its date comes, in this order, from

1. the ``.SAFE`` name ``S2A_MSIL1C_<YYYYMMDD>T<hhmmss>_N..._R..._T<tile>_<...>.SAFE`` (the
   first date: the sensing date; the second one is the processing date),
2. the GeoTIFF tag ``ACQUISITION_DATE`` (an ISO date ``2022-06-01`` or datetime
   ``2022-06-01T10:36:31Z``),
3. the first valid ``YYYYMMDD`` in the file name (a run of 8 or more digits whose first 8 are a
   date in 1950..2100).

Scenes on one grid (same CRS, transform and shape) form a site, named by a short hash of the
grid (``site-3f9a1c2b``), so the same grid gets the same id in every run and on every machine.

Valid pixels are those the detector can use (finite, positive reflectance in the bands it reads:
:func:`eoforge.methane.detector.features.valid_pixels`) and not cloud. Cloud is the simple bright-and-
spectrally-flat test ``B04 > CLOUD_RED`` and ``B11 < CLOUD_SWIR_NIR * B8A``: clouds are white in
the VNIR and darker in SWIR-1 than in the NIR, bare soils and sands are brighter in SWIR-1 than in
the NIR, vegetation is dark in the red. Thresholds are inferred [INF], not from a mask product;
cloud shadows are not flagged.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from numpy.typing import NDArray
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from eoforge.core.errors import DataNotFoundError, InputError, bad_value
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2 import canonical_band, read_s2_safe
from eoforge.io.sentinel2_safe import band_file, safe_metadata
from eoforge.methane.detector.features import valid_pixels
from eoforge.methane.pair_files import DETECTOR_BANDS, check_grid, read_detector_bands

CLOUD_RED = 0.25
"""Red (B04) reflectance above which a spectrally flat pixel is called cloud [INF]."""
CLOUD_SWIR_NIR = 0.95
"""A cloud pixel has B11 < CLOUD_SWIR_NIR * B8A (cloud droplets absorb in SWIR-1) [INF]."""
TIF_SUFFIXES = (".tif", ".tiff")
_SAFE_RE = re.compile(r"^S2[A-D]_MSI(?:L1C|L2A)_(\d{8})T\d{6}_", re.IGNORECASE)
_DIGITS_RE = re.compile(r"\d{8,}")


@dataclass(frozen=True)
class Scene:
    """One scene of an archive.

    Attributes:
        path: The scene: a multi-band GeoTIFF as ``methane detect`` reads it, or a .SAFE folder.
        date: Its sensing date (module docstring for where it comes from).
        site: Id of its grid, ``"site-<8 hex>"`` (hash of CRS, transform and shape).
        scene_id: Stable id for file names, ``f"{site}_{date:%Y%m%d}_{6 hex}"`` (the last part a
            hash of the path relative to the archive root, so moving the archive keeps it).
    """

    path: Path
    date: datetime.date
    site: str
    scene_id: str


# -- dates -------------------------------------------------------------------------------------


def parse_iso_date(text: str) -> datetime.date | None:
    """The date of an ISO date or datetime string, else ``None``.

    Accepted: ``2022-06-01``, ``2022-06-01T10:36:31Z``, ``20220601``.
    """
    s = str(text).strip()
    if not s:
        return None
    try:
        return datetime.date.fromisoformat(s[:10])
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).date()
    except ValueError:
        return _yyyymmdd(s) if len(s) == 8 else None


def _yyyymmdd(digits: str) -> datetime.date | None:
    try:
        d = datetime.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    return d if 1950 <= d.year <= 2100 else None


def date_from_safe_name(name: str) -> datetime.date | None:
    """The sensing date of a Sentinel-2 product name (the first date in it), else ``None``."""
    m = _SAFE_RE.match(name)
    return _yyyymmdd(m.group(1)) if m else None


def date_from_name(name: str) -> datetime.date | None:
    """The first valid ``YYYYMMDD`` of a file name (first 8 digits of a run of >= 8), or None."""
    for m in _DIGITS_RE.finditer(name):
        d = _yyyymmdd(m.group()[:8])
        if d is not None:
            return d
    return None


# -- grids and sites ---------------------------------------------------------------------------


def site_id(crs: object, transform: object, shape: tuple[int, int]) -> str:
    """``"site-<8 hex>"``: a short hash of a grid's CRS, transform (to 1e-6) and shape.

    Args:
        crs: A rasterio CRS (or anything whose ``str`` names the CRS).
        transform: An affine transform (a, b, c, d, e, f[, g, h, i]).
        shape: Grid (H, W).
    """
    crs_text = crs.to_string() if hasattr(crs, "to_string") else str(crs)
    coeffs = ",".join(f"{float(c):.6f}" for c in np.asarray(transform, dtype=float).ravel()[:6])
    key = f"{crs_text}|{coeffs}|{int(shape[0])}x{int(shape[1])}"
    return "site-" + hashlib.sha256(key.encode()).hexdigest()[:8]


def _path_hash(path: Path, root: Path) -> str:
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = path.resolve().as_posix()
    return hashlib.sha256(rel.encode()).hexdigest()[:6]


def _read_header(path: Path) -> tuple[CRS | None, Affine, tuple[int, int], dict[str, str]]:
    """CRS, transform, shape and tags of a scene, without reading its pixels.

    A GeoTIFF must have the detector's bands and a grid it accepts; a .SAFE folder is described
    by its B11 file (20 m). Raises the readers' InputError / DataNotFoundError otherwise.
    """
    is_safe = path.is_dir()
    if is_safe:
        safe_metadata(path)  # the product metadata must be there and parse
        raster = band_file(path, "B11", 20)
    else:
        raster = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(raster) as src:
                crs, transform, shape = src.crs, src.transform, (src.height, src.width)
                tags = src.tags()
                names = {canonical_band(d) for d in src.descriptions}
                names |= {canonical_band(src.tags(i).get("BAND_NAME")) for i in src.indexes}
    except RasterioIOError as err:
        raise InputError(f"{str(path)!r} is not a readable raster ({err}).") from None
    if not is_safe:
        missing = [b for b in DETECTOR_BANDS if b not in names]
        if missing:
            raise DataNotFoundError(f"{str(path)!r} lacks the detector's bands {missing}; name "
                                    "the bands (e.g. 'B11') in the band descriptions.")  # fmt: skip
    check_grid(GeoInfo(transform, crs), path)
    return crs, transform, shape, tags


def _scene_date(path: Path, tags: dict[str, str]) -> datetime.date:
    d = date_from_safe_name(path.name)
    if d is not None:
        return d
    if "ACQUISITION_DATE" in tags:
        d = parse_iso_date(tags["ACQUISITION_DATE"])
        if d is None:
            raise InputError(f"{str(path)!r} has tag ACQUISITION_DATE="
                             f"{tags['ACQUISITION_DATE']!r}, not an ISO date (2022-06-01).")  # fmt: skip
        return d
    d = date_from_name(path.name)
    if d is None:
        raise InputError(f"{str(path)!r} has no date: name it with YYYYMMDD (scene_20220601.tif) "
                         "or tag it ACQUISITION_DATE=2022-06-01.")  # fmt: skip
    return d


def _candidates(root: Path) -> list[Path]:
    """.SAFE folders and GeoTIFFs under root (hidden and temporary names skipped)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for d in sorted(dirnames):
            if d.startswith("."):
                continue
            if d.upper().endswith(".SAFE"):
                found.append(here / d)
            else:
                keep.append(d)
        dirnames[:] = keep  # never descend into a .SAFE (its band files are not scenes)
        found += [here / f for f in sorted(filenames)
                  if f.lower().endswith(TIF_SUFFIXES) and not f.startswith(".")]  # fmt: skip
    return found


def scan_archive(root: Path) -> tuple[list[Scene], list[tuple[Path, str]]]:
    """All scenes under ``root`` (recursive) and the files that could not be read or dated.

    Returns:
        The scenes sorted by (site, date, path), and the bad files as ``(path, error message)``
        (one bad file never raises).

    Raises:
        DataNotFoundError: If ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataNotFoundError(f"INPUT {str(root)!r} is not a folder; pass the archive folder.")
    scenes: list[Scene] = []
    errors: list[tuple[Path, str]] = []
    for path in _candidates(root):
        try:
            crs, transform, shape, tags = _read_header(path)
            date = _scene_date(path, tags)
        except Exception as err:  # any bad file is recorded, never fatal
            errors.append((path, f"{type(err).__name__}: {err}"))
            continue
        site = site_id(crs, transform, shape)
        sid = f"{site}_{date:%Y%m%d}_{_path_hash(path, root)}"
        scenes.append(Scene(path=path, date=date, site=site, scene_id=sid))
    scenes.sort(key=lambda s: (s.site, s.date, str(s.path)))
    return scenes, errors


# -- valid fraction and references -------------------------------------------------------------


def cloud_mask(bands: Mapping[str, NDArray[np.floating]]) -> NDArray[np.bool_]:
    """(H, W) bool: bright, spectrally flat pixels (module docstring)."""
    b04, b8a, b11 = (np.asarray(bands[b]) for b in ("B04", "B8A", "B11"))
    with np.errstate(invalid="ignore"):
        return (b04 > CLOUD_RED) & (b11 < CLOUD_SWIR_NIR * b8a)


def valid_fraction(scene: Scene) -> float:
    """Share of valid (cloud-free, non-nodata) pixels, from the bands ``detect`` uses.

    Read through the detector's readers (:func:`~eoforge.methane.pair_files.read_detector_bands`
    for GeoTIFFs, :func:`~eoforge.io.sentinel2.read_s2_safe` for .SAFE folders).

    Raises:
        InputError, DataNotFoundError: If the scene cannot be read as the detector reads it.
    """
    if Path(scene.path).is_dir():
        bands, _ = read_s2_safe(scene.path, DETECTOR_BANDS, 20)
    else:
        bands, _ = read_detector_bands(scene.path, DETECTOR_BANDS)
    ok = valid_pixels(*(bands[b] for b in DETECTOR_BANDS)) & ~cloud_mask(bands)
    return float(ok.mean())


def choose_references(
    scenes: list[Scene], k: int = 3, min_valid: float = 0.5, valid: dict[str, float] | None = None
) -> dict[str, list[Scene]]:
    """For each scene_id, the ``k`` most recent earlier clear scenes of the same site.

    A reference must have a valid fraction >= ``min_valid``; they come most recent first, and
    ``[]`` means no usable reference.

    Args:
        scenes: Scenes of any sites (e.g. from :func:`scan_archive`).
        k: Number of references per scene (``--references``).
        min_valid: Smallest valid fraction of a reference.
        valid: scene_id -> valid fraction; missing ones are measured with
            :func:`valid_fraction` (a scene that cannot be read counts as 0).
    """
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise bad_value("references", k, "a whole number of reference dates >= 1")
    if not 0.0 <= float(min_valid) <= 1.0:
        raise bad_value("min_valid", min_valid, "a fraction in [0, 1]")
    fractions = dict(valid or {})
    by_site: dict[str, list[Scene]] = {}
    for s in scenes:
        by_site.setdefault(s.site, []).append(s)
    out: dict[str, list[Scene]] = {}
    for group in by_site.values():
        group = sorted(group, key=lambda s: (s.date, s.scene_id))
        for s in group:
            earlier = [r for r in group if r.date < s.date]
            refs = []
            for r in reversed(earlier):  # most recent first
                if r.scene_id not in fractions:
                    try:
                        fractions[r.scene_id] = valid_fraction(r)
                    except Exception:  # an unreadable reference is unusable
                        fractions[r.scene_id] = 0.0
                if fractions[r.scene_id] >= min_valid:
                    refs.append(r)
                    if len(refs) == k:
                        break
            out[s.scene_id] = refs
    return out


# -- fingerprints ------------------------------------------------------------------------------


def _stat_lines(path: Path) -> list[str]:
    """``path|size|mtime_ns`` of a file, or of every file in a folder (a .SAFE)."""
    p = Path(path)
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    lines = []
    for f in files:
        try:
            st = f.stat()
            lines.append(f"{f.as_posix()}|{st.st_size}|{st.st_mtime_ns}")
        except OSError:
            lines.append(f"{f.as_posix()}|missing")
    return lines


def input_fingerprint(scene: Scene, refs: list[Scene], weights_id: str) -> str:
    """Fingerprint of a scene's inputs: a rerun re-does a scene when any of them changes.

    sha256 over (path, size, mtime_ns) of the scene's files and its references' (in order),
    and ``weights_id``.
    """
    h = hashlib.sha256()
    for part in (scene, *refs):
        h.update(("\n".join(_stat_lines(part.path)) + "\n--\n").encode())
    h.update(f"weights:{weights_id}".encode())
    return h.hexdigest()
