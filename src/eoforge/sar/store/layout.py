"""The WV store layout: a :class:`~eoforge.sar.wv.WVSet` as an xarray Dataset, written atomically.

Layout: variables ``images (sample, y, x)`` (float32 linear sigma0, or dB-scaled float16 /
quantised uint8, see :mod:`eoforge.sar.codec`), ``labels``, ``wind_speed``, ``hs``,
``duplicate_of`` and (if known) ``incidence`` ``(sample,)``; attributes ``classes`` (JSON list),
``wvset_attrs`` (JSON), ``eoforge_kind = "wvset"`` and the image encoding. Zarr stores are chunked
along ``sample`` only (``sample_chunk`` imagettes a chunk, default about 16 MiB of float32
images: ``2**22 // (H W)``), so that a streaming reader (:mod:`eoforge.sar.stream`) reads whole
chunks. Blocks appended one after another shift their near-duplicate indices by the items
before them. Writes are atomic (temporary store beside the target, then rename).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from eoforge.core.atomic import _json_safe, atomic_path
from eoforge.core.errors import DataNotFoundError, InputError, bad_value
from eoforge.io.netcdf import write_dataset
from eoforge.sar.codec import DB_RANGE, encode, encoding_attrs
from eoforge.sar.wv import WVSet

#: The variables every store holds (``incidence`` is optional).
VARS = ("images", "labels", "wind_speed", "hs", "duplicate_of")
#: Suffixes of store paths: a Zarr folder or a NetCDF file.
STORE_SUFFIXES = (".zarr", ".nc", ".nc4", ".netcdf")


def to_dataset(
    wvset: WVSet, encoding: str = "float32", db_range: tuple[float, float] = DB_RANGE
) -> xr.Dataset:
    """The :class:`WVSet` as an ``xarray.Dataset`` (see the module docstring for the layout).

    Args:
        wvset: The imagettes.
        encoding: ``"float32"`` (linear), ``"float16"`` (dB) or ``"uint8"`` (quantised dB).
        db_range: ``(lo, hi)`` dB range of the uint8 encoding (values outside are clipped).
    """
    enc = encoding_attrs(encoding, db_range)
    units = "1" if encoding == "float32" else "dB"
    sigma0_attrs = {"long_name": "normalised radar cross section", "units": units}
    hs_attrs = {"long_name": "significant wave height", "units": "m"}
    ds = xr.Dataset(
        {
            "images": (("sample", "y", "x"), encode(wvset.images, enc), sigma0_attrs),
            "labels": ("sample", wvset.labels.astype(np.int64)),
            "wind_speed": ("sample", wvset.wind_speed.astype(np.float32), {"units": "m s-1"}),
            "hs": ("sample", wvset.hs.astype(np.float32), hs_attrs),
            "duplicate_of": ("sample", wvset.duplicate_of.astype(np.int64)),
        },
        attrs={
            "eoforge_kind": "wvset",
            "classes": json.dumps(list(wvset.classes)),
            "wvset_attrs": json.dumps(_json_safe(dict(wvset.attrs))),
            **enc,
        },
    )
    if wvset.incidence is not None:
        ds["incidence"] = ("sample", wvset.incidence.astype(np.float32), {"units": "degree"})
    return ds


def save_wv(
    wvset: WVSet,
    path: str | os.PathLike[str],
    *,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
) -> Path:
    """Write ``wvset`` to ``path`` (``.zarr`` store, or ``.nc`` NetCDF4), atomically.

    Args:
        wvset: The imagettes.
        path: Output ``.zarr`` or ``.nc``.
        encoding: Image encoding (:mod:`eoforge.sar.codec`): float32, float16 or uint8.
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk (default: about 16 MiB of float32 images).

    Returns:
        ``path`` as a :class:`Path`.
    """
    p = Path(path)
    if p.suffix not in STORE_SUFFIXES:
        raise InputError(
            f"path={str(p)!r} has suffix {p.suffix!r}; use a .zarr store or a .nc file."
        )
    check_chunk(sample_chunk)
    ds = to_dataset(wvset, encoding, db_range)
    if p.suffix == ".zarr":
        set_chunks(ds, sample_chunk)
    return write_dataset(ds, p)


def check_chunk(sample_chunk: int | None) -> None:
    """Refuse a ``sample_chunk`` that is not ``None`` or a positive int."""
    if sample_chunk is not None and not (isinstance(sample_chunk, int) and sample_chunk >= 1):
        raise bad_value("sample_chunk", sample_chunk, "a positive int (imagettes per chunk)")


def set_chunks(ds: xr.Dataset, sample_chunk: int | None = None) -> None:
    """Zarr chunks along ``sample`` only: ``sample_chunk`` images (default about 16 MiB)."""
    n, h, w = ds["images"].shape
    default = max(1, (1 << 22) // max(h * w, 1))
    ds["images"].encoding["chunks"] = (max(1, min(n, sample_chunk or default)), h, w)
    for name in ds.data_vars:
        if name != "images":
            ds[name].encoding["chunks"] = (max(1, n),)


def write_blocks(
    path: str | os.PathLike[str],
    blocks: Iterable[WVSet],
    *,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
    attrs: dict[str, Any] | None = None,
    progress: Callable[[int, int], None] | None = None,
    total: int | None = None,
) -> Path:
    """Append :class:`WVSet` blocks to a new Zarr store, atomically; one block in memory.

    Near-duplicate indices of a block are shifted by the items before it. The store's
    ``wvset_attrs`` are the first block's updated with ``attrs``; a ``files`` list in the
    blocks' attrs is concatenated over all blocks.

    Args:
        path: Output ``.zarr`` store.
        blocks: The blocks, in order (e.g. a generator).
        encoding: Image encoding (float32, float16 or uint8; :mod:`eoforge.sar.codec`).
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk (see :func:`save_wv`).
        attrs: Extra ``wvset_attrs`` of the store.
        progress: Optional ``progress(done, total)`` after every block.
        total: The total given to ``progress`` (default: the items written so far).

    Returns:
        ``path``.
    """
    p = Path(path)
    if p.suffix != ".zarr":
        raise InputError(
            f"path={str(p)!r}: blocks are appended to a .zarr store; use a .zarr path."
        )
    check_chunk(sample_chunk)
    encoding_attrs(encoding, db_range)  # a bad encoding fails before anything is written
    done, first, files = 0, {}, []
    with atomic_path(p) as tmp:
        for part in blocks:
            dup = np.where(part.duplicate_of >= 0, part.duplicate_of + done, -1)
            ds = to_dataset(dataclasses.replace(part, duplicate_of=dup), encoding, db_range)
            files.extend(part.attrs.get("files", []))
            if done == 0:
                first = dict(part.attrs)
                set_chunks(ds, sample_chunk)
                ds.to_zarr(tmp, mode="w", consolidated=False)
            else:
                ds.to_zarr(tmp, append_dim="sample", consolidated=False)
            done += len(part)
            del part, ds
            if progress is not None:
                progress(done, total or done)
        if done == 0:
            raise DataNotFoundError(f"no imagettes to write to {str(p)!r}.")
        merged = {**first, **(attrs or {}), **({"files": files} if files else {})}
        zarr.open_group(str(tmp), mode="r+").attrs["wvset_attrs"] = json.dumps(_json_safe(merged))
    return p
