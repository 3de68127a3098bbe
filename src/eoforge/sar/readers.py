"""Read folders of real WV imagettes (GeoTIFF, PNG, NetCDF, NumPy) into a :class:`WVSet`.

Supported files (by suffix): ``.tif/.tiff`` (first band, rasterio), ``.png`` (grey levels via
matplotlib; colour images are averaged over RGB), ``.nc`` (the variable ``sigma0``, else the only
2-D variable), ``.npy`` (a 2-D array). All imagettes must share one size.

Labels follow the TenGeoP-SARwv layout: a CSV whose first column is the file name and second the
class name (a header row is optional; names are matched case-insensitively with spaces or hyphens
read as underscores, e.g. ``"Pure Ocean Waves"``; class indices 0-9 are accepted too). Optional
columns named ``wind_speed`` and ``hs`` in a header fill those targets. Files without a label get
``-1``; targets without a value are NaN.

Sentinel-1 ``.SAFE`` products (a ``.SAFE`` folder, or a folder holding several) are read as
calibrated sigma0, one imagette per measurement (:mod:`eoforge.sar.safe_import`); labels are then
matched on the measurement file stem.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.netcdf import open_dataset
from eoforge.io.raster import read_geotiff
from eoforge.sar.labels import SUFFIXES, class_index, read_labels
from eoforge.sar.safe_import import (
    centre_crop,
    common_shape,
    crop_size,
    find_safe_products,
    load_safe,
)
from eoforge.sar.wv import CLASSES, WVSet


def _read_tif(path: Path) -> np.ndarray:
    data, _ = read_geotiff(path)
    return data[0]


def _read_png(path: Path) -> np.ndarray:
    import matplotlib.image as mpimg  # deferred: matplotlib loads only when a PNG is read

    img = np.asarray(mpimg.imread(path), dtype=np.float32)
    if img.ndim == 3:
        img = img[..., :3].mean(axis=-1)
    return img


def _read_nc(path: Path) -> np.ndarray:
    ds = open_dataset(path)
    try:
        if "sigma0" in ds.data_vars:
            da = ds["sigma0"]
        else:
            two_d = [v for v in ds.data_vars if ds[v].squeeze().ndim == 2]
            if len(two_d) != 1:
                raise DataNotFoundError(
                    f"{str(path)!r} has no variable 'sigma0' and {len(two_d)} 2-D variables "
                    f"({two_d}); name the imagette variable 'sigma0'."
                )
            da = ds[two_d[0]]
        return np.asarray(da.squeeze().values)
    finally:
        ds.close()


def _read_npy(path: Path) -> np.ndarray:
    return np.load(path, allow_pickle=False)


_READERS = {".tif": _read_tif, ".tiff": _read_tif, ".png": _read_png, ".nc": _read_nc,
            ".npy": _read_npy}  # fmt: skip


def read_imagette(path: str | os.PathLike[str], *, db: bool = False) -> np.ndarray:
    """One imagette as a float32 ``(H, W)`` linear-intensity array.

    Args:
        path: A ``.tif``, ``.png``, ``.nc`` or ``.npy`` file.
        db: The file holds decibels; convert with ``10 ** (x / 10)``.
    """
    p = Path(path)
    if p.suffix.lower() not in _READERS:
        raise InputError(f"{str(p)!r}: unsupported suffix {p.suffix!r}; use one of {SUFFIXES}.")
    if not p.is_file():
        raise DataNotFoundError(f"imagette {str(p)!r} does not exist; check the path.")
    arr = np.asarray(_READERS[p.suffix.lower()](p), dtype=np.float64).squeeze()
    if arr.ndim != 2:
        raise ShapeError(f"{str(p)!r} holds an array of shape {arr.shape}; expected one 2-D image.")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{str(p)!r} holds NaN or inf pixels; fill or drop them first.")
    if db:
        arr = 10.0 ** (arr / 10.0)
    if arr.min() < 0:
        raise InputError(
            f"{str(p)!r} has negative values (min {arr.min():.3g}); pass linear intensities, "
            "or db=True (--db) if the files hold decibels."
        )
    return arr.astype(np.float32)


def load_imagettes(
    folder: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    pattern: str = "**/*",
    *,
    db: bool = False,
    polarisation: str | None = None,
    swath: str | None = None,
    denoise: bool = True,
    multilook: int | tuple[int, int] | None = None,
    crop: int | tuple[int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> WVSet:
    """Read every supported file under ``folder`` (sorted by path) into a :class:`WVSet`.

    Args:
        folder: Folder of imagettes, a Sentinel-1 ``.SAFE`` product, or a folder of products.
        labels: Optional TenGeoP-style labels CSV (see the module docstring), or ``"folders"``
            to take each file's class from the name of its parent folder (files directly in
            ``folder`` stay unlabelled).
        pattern: Glob, relative to ``folder``, selecting files (non-image suffixes are skipped);
            for ``.SAFE`` products an :mod:`fnmatch` pattern on their relative paths.
        db: Files hold decibels (not for ``.SAFE`` products, which are calibrated).
        polarisation: ``.SAFE`` only: keep one polarisation (``"VV"``, ...).
        swath: ``.SAFE`` only: keep one swath (``"wv1"``, ``"wv2"``, ``"iw"``, ...).
        denoise: ``.SAFE`` only: subtract thermal noise.
        multilook: ``.SAFE`` only: ``(la, lr)`` block averaging of intensity.
        crop: Centre-crop every imagette to this size (``(height, width)`` or one int); needed
            when sizes differ (WV vignettes differ by a few pixels).
        progress: Optional ``progress(done, total)`` callback.

    Returns:
        The imagettes; ``attrs["files"]`` lists the file names in order.

    Raises:
        DataNotFoundError: Missing folder, or no supported file in it.
        ShapeError: Imagettes of different sizes (and no ``crop``), or smaller than ``crop``.
        InputError: Unknown class names, unreadable files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"folder {str(root)!r} does not exist or is not a folder.")
    safes, loose = find_safe_products(root, pattern)
    if safes:
        if loose or db:
            raise InputError(
                f"{str(root)!r} holds Sentinel-1 .SAFE products"
                + (" and loose imagette files; import them separately." if loose else
                   "; they are calibrated to linear sigma0, so db=True (--db) does not apply.")
            )  # fmt: skip
        return load_safe(root, safes, labels, polarisation=polarisation, swath=swath,
                         denoise=denoise, multilook=multilook, crop=crop, progress=progress)  # fmt: skip
    given = {"polarisation": polarisation, "swath": swath, "multilook": multilook}
    if any(v is not None for v in given.values()):
        name = next(k for k, v in given.items() if v is not None)
        raise InputError(
            f"{name}= applies to Sentinel-1 .SAFE products only, and {str(root)!r} holds none."
        )
    return _load_loose(root, _loose_files(root, pattern), labels, db, crop, progress)


def _load_loose(
    root: Path,
    files: list[Path],
    labels: str | os.PathLike[str] | None,
    db: bool,
    crop: int | tuple[int, int] | None,
    progress: Callable[[int, int], None] | None,
) -> WVSet:
    """:func:`load_imagettes` of loose files: read, cropped or checked to share one size."""
    images = []
    for i, f in enumerate(files):
        images.append(read_imagette(f, db=db))
        if progress is not None:
            progress(i + 1, len(files))
    shapes = {im.shape for im in images}
    if crop is not None:
        shape = common_shape({str(f.relative_to(root)): im.shape for f, im in
                              zip(files, images, strict=True)}, crop_size(crop))  # fmt: skip
        images = [centre_crop(im, shape) for im in images]
    elif len(shapes) > 1:
        examples = {s: next(f.name for f, im in zip(files, images, strict=True) if im.shape == s)
                    for s in shapes}  # fmt: skip
        raise ShapeError(
            f"imagettes under {str(root)!r} have {len(shapes)} sizes, e.g. {examples}; "
            "pass crop= (--crop) to centre-crop them to one size, or select one size with "
            "pattern=..."
        )
    lab, wind, hs = _label_arrays(files, root, labels)
    attrs = {"source": str(root), "files": [str(f.relative_to(root)) for f in files],
             "labelled": int((lab >= 0).sum())}  # fmt: skip
    n = len(files)
    return WVSet(np.stack(images), lab, wind, hs, np.full(n, -1, dtype=np.int64), CLASSES, attrs)


def _loose_files(root: Path, pattern: str) -> list[Path]:
    """The supported imagette files under ``root`` matching ``pattern``, sorted by path."""
    files = sorted(f for f in root.glob(pattern) if f.is_file() and f.suffix.lower() in SUFFIXES)
    if not files:
        raise DataNotFoundError(
            f"no imagettes matching {pattern!r} with suffix {SUFFIXES} under {str(root)!r}."
        )
    return files


def _label_arrays(
    files: list[Path], root: Path, labels: str | os.PathLike[str] | dict | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(labels int64, wind_speed, hs)`` of ``files``.

    From a CSV path, its parsed table (dict), ``"folders"`` (parent folder names) or ``None``.
    """
    by_folder = isinstance(labels, str) and labels == "folders"
    if isinstance(labels, dict):
        table = labels
    else:
        table = read_labels(labels) if labels is not None and not by_folder else {}
    n = len(files)
    lab = np.full(n, -1, dtype=np.int64)
    wind = np.full(n, np.nan, dtype=np.float32)
    hs = np.full(n, np.nan, dtype=np.float32)
    for i, f in enumerate(files):
        if by_folder:
            if f.parent != root:
                lab[i] = class_index(f.parent.name, f"the folder name of {f.name}")
            continue
        entry = table.get(f.stem)
        if entry is not None:
            lab[i] = int(entry["label"])
            wind[i] = entry.get("wind_speed", np.nan)
            hs[i] = entry.get("hs", np.nan)
    return lab, wind, hs


def iter_imagettes(
    folder: str | os.PathLike[str],
    labels: str | os.PathLike[str] | None = None,
    pattern: str = "**/*",
    *,
    db: bool = False,
    crop: int | tuple[int, int] | None = None,
    block: int = 8192,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, Iterator[WVSet]]:
    """A folder of loose imagette files as :class:`WVSet` blocks of at most ``block`` files.

    The blocks concatenated equal :func:`load_imagettes` (same files, order, labels, crop), but
    only one block is in memory at a time. The output size is ``crop`` or the first file's size;
    a later file of another size (without ``crop``) raises :class:`ShapeError` when its block is
    read. ``.SAFE`` products are not read here (use :func:`load_imagettes`).

    Returns:
        ``(number of files, iterator of blocks)``; each block's ``attrs["files"]`` lists its files.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataNotFoundError(f"folder {str(root)!r} does not exist or is not a folder.")
    files = _loose_files(root, pattern)
    by_folder = isinstance(labels, str) and labels == "folders"
    table = read_labels(labels) if labels is not None and not by_folder else None
    size = crop_size(crop)

    def blocks() -> Iterator[WVSet]:
        shape = size
        for start in range(0, len(files), block):
            part = files[start : start + block]
            images = [read_imagette(f, db=db) for f in part]
            names = {str(f.relative_to(root)): im.shape for f, im in zip(part, images, strict=True)}
            if shape is None:
                shape = images[0].shape
            shape = common_shape({**names, "(first file)": shape}, size)
            images = [centre_crop(im, shape) for im in images]
            lab, wind, hs = _label_arrays(part, root, "folders" if by_folder else table)
            if progress is not None:
                progress(start + len(part), len(files))
            attrs = {"source": str(root), "files": list(names)}
            yield WVSet(np.stack(images), lab, wind, hs, np.full(len(part), -1, dtype=np.int64),
                        CLASSES, attrs)  # fmt: skip

    return len(files), blocks()
