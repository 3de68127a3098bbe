"""Reading a WV store: its summary, what a streaming reader needs, or the whole set in memory.

Images are decoded to linear sigma0 (:func:`eoforge.sar.codec.decode`: dB ``x`` -> ``10**(x/10)``,
uint8 ``q`` -> dB ``lo + q (hi - lo) / 255``). A missing store, a file of another kind, a store
without the layout's variables or a corrupt chunk is one :class:`~eoforge.core.errors.InputError`
or :class:`~eoforge.core.errors.DataNotFoundError` line naming the path and the fix.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from eoforge.core.errors import DataNotFoundError, EoforgeError, InputError
from eoforge.io.netcdf import open_dataset
from eoforge.sar.codec import decode, store_encoding
from eoforge.sar.store.layout import STORE_SUFFIXES, VARS
from eoforge.sar.wv import CLASSES, WVSet


def summarise(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts and target ranges of a store without loading its images.

    Returns:
        ``{"n", "height", "width", "dtype", "encoding", "classes", "class_counts", "unlabelled",
        "near_duplicates", "incidence", "wind_speed", "hs"}``: ``incidence`` maps each angle
        to its count (``None`` if unknown); the last two are ``(min, median, max)`` over finite
        values or ``None``.
    """
    ds = open_store(path)
    try:
        n, h, w = ds["images"].shape
        labels = store_values(ds, "labels", path)
        classes = tuple(json.loads(ds.attrs.get("classes", "[]"))) or CLASSES
        out: dict[str, Any] = {
            "n": int(n), "height": int(h), "width": int(w), "dtype": str(ds["images"].dtype),
            "encoding": store_encoding(ds.attrs)["image_encoding"],
            "classes": list(classes),
            "class_counts": np.bincount(labels[labels >= 0], minlength=len(classes)).tolist(),
            "unlabelled": int((labels < 0).sum()),
            "near_duplicates": int((store_values(ds, "duplicate_of", path) >= 0).sum()),
        }  # fmt: skip
        out["incidence"] = None
        if "incidence" in ds:
            angles, counts = np.unique(store_values(ds, "incidence", path), return_counts=True)
            out["incidence"] = {float(a): int(c) for a, c in zip(angles, counts, strict=True)}
        for name in ("wind_speed", "hs"):
            v = store_values(ds, name, path).astype(np.float64)
            v = v[np.isfinite(v)]
            out[name] = (float(v.min()), float(np.median(v)), float(v.max())) if v.size else None
    finally:
        ds.close()
    return out


def open_store(path: str | os.PathLike[str]) -> xr.Dataset:
    """Open a store written by :func:`~eoforge.sar.store.layout.save_wv` (lazily).

    Raises:
        DataNotFoundError: The path or one of the layout's variables is missing.
        InputError: The path is another kind of file, or cannot be opened.
    """
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(
            f"WV store {str(p)!r} does not exist; create one with `eoforge sar synth-wv --out` "
            "or eoforge.sar.store.save_wv."
        )
    if p.is_file() and p.suffix.lower() not in STORE_SUFFIXES:
        raise InputError(
            f"{str(p)!r} is a {p.suffix or 'suffix-less'} file, not a WV store; pass a .zarr "
            "store or .nc file written by `eoforge sar synth-wv` or `eoforge sar import` (which "
            "also reads folders of .npy/.tif/.png imagettes)."
        )
    with warnings.catch_warnings():  # zarr warns about unknown folders before the error below
        warnings.simplefilter("ignore")
        try:
            ds = open_dataset(p)
        except EoforgeError:
            raise
        except Exception as err:  # whatever the zarr/netCDF libraries raise: one line
            raise InputError(
                f"could not open the WV store {str(p)!r} ({type(err).__name__}); write it again "
                "with `eoforge sar synth-wv` or `eoforge sar import`."
            ) from None
    missing = [v for v in VARS if v not in ds.variables]
    if missing:
        held = sorted(map(str, ds.data_vars))
        ds.close()
        raise DataNotFoundError(
            f"{str(p)!r} lacks variables {missing} (it holds {held}); "
            "it was not written by save_wv. For folders of image files use "
            "eoforge.sar.readers.load_imagettes."
        )
    return ds


def store_values(ds: xr.Dataset, name: str, path: str | os.PathLike[str]) -> np.ndarray:
    """The values of ``ds[name]``; corrupt or missing chunks become one :class:`InputError`."""
    try:
        return np.asarray(ds[name].values)
    except Exception as err:  # zarr codecs, HDF5 and the file system raise many types
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise InputError(
            f"could not read {name!r} from the WV store {str(path)!r} (corrupt or missing chunks: "
            f"{type(err).__name__}: {first}); write the store again (`eoforge sar synth-wv` or "
            "`eoforge sar import`)."
        ) from None


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """What a streaming reader needs of a store, without reading its images.

    Returns:
        ``{"n", "height", "width", "sample_chunk", "encoding", "labels", "incidence"}``:
        ``sample_chunk`` is the Zarr chunk length along ``sample`` (``n`` for NetCDF),
        ``encoding`` the attributes of :func:`eoforge.sar.codec.store_encoding`, ``labels``
        ``(n,)`` int64 and ``incidence`` ``(n,)`` float32 or ``None``.
    """
    ds = open_store(path)
    try:
        n, h, w = (int(v) for v in ds["images"].shape)
        chunks = ds["images"].encoding.get("chunks") or ds["images"].encoding.get(
            "preferred_chunks", {}
        ).get("sample", n)
        chunk = int(chunks[0]) if isinstance(chunks, tuple | list) else int(chunks)
        meta = {
            "n": n, "height": h, "width": w, "sample_chunk": max(1, min(chunk, n)),
            "encoding": store_encoding(ds.attrs),
            "labels": store_values(ds, "labels", path).astype(np.int64),
            "incidence": (
                store_values(ds, "incidence", path).astype(np.float32) if "incidence" in ds else None
            ),
        }  # fmt: skip
    finally:
        ds.close()
    return meta


def load_wv(path: str | os.PathLike[str]) -> WVSet:
    """Read a store written by :func:`save_wv` into memory.

    Raises:
        DataNotFoundError: If the path or one of the variables is missing.
        InputError: If the file cannot be read.
    """
    ds = open_store(path)
    try:
        classes = tuple(json.loads(ds.attrs.get("classes", "[]"))) or CLASSES
        attrs = json.loads(ds.attrs.get("wvset_attrs", "{}"))
        arrays = {v: store_values(ds, v, path) for v in VARS}
        inc = store_values(ds, "incidence", path).astype(np.float32) if "incidence" in ds else None
        images = decode(arrays["images"], store_encoding(ds.attrs))
    finally:
        ds.close()
    return WVSet(
        images=images,
        labels=arrays["labels"].astype(np.int64, copy=False),
        wind_speed=arrays["wind_speed"].astype(np.float32, copy=False),
        hs=arrays["hs"].astype(np.float32, copy=False),
        duplicate_of=arrays["duplicate_of"].astype(np.int64, copy=False),
        classes=classes,
        attrs=attrs,
        incidence=inc,
    )
