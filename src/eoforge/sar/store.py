"""Save and load a :class:`~eoforge.sar.wv.WVSet` as Zarr (or NetCDF) through xarray.

Layout: variables ``images (sample, y, x)`` (float32 linear sigma0, or dB-scaled float16 /
quantised uint8, see :mod:`eoforge.sar.codec`), ``labels``, ``wind_speed``, ``hs``,
``duplicate_of`` and (if known) ``incidence`` ``(sample,)``; attributes ``classes`` (JSON list),
``wvset_attrs`` (JSON), ``eoforge_kind = "wvset"`` and the image encoding. Zarr stores are chunked
along ``sample`` only (``sample_chunk`` imagettes a chunk), so that a streaming reader
(:mod:`eoforge.sar.stream`) reads whole chunks. Writes are atomic (temporary store beside the
target, then rename), so an interrupted save never leaves a half-written store.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
import zarr

from eoforge.core.atomic import _json_safe, atomic_path
from eoforge.core.errors import DataNotFoundError, EoforgeError, InputError, bad_value
from eoforge.core.seeding import spawn_seeds
from eoforge.io.netcdf import open_dataset, write_dataset
from eoforge.sar.codec import DB_RANGE, decode, encode, encoding_attrs, store_encoding
from eoforge.sar.readers import iter_imagettes, load_imagettes
from eoforge.sar.safe_import import find_safe_products
from eoforge.sar.wv import CLASSES, WVSet, synth_wv

_VARS = ("images", "labels", "wind_speed", "hs", "duplicate_of")
_SUFFIXES = (".zarr", ".nc", ".nc4", ".netcdf")


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
    if p.suffix not in _SUFFIXES:
        raise InputError(
            f"path={str(p)!r} has suffix {p.suffix!r}; use a .zarr store or a .nc file."
        )
    _check_chunk(sample_chunk)
    ds = to_dataset(wvset, encoding, db_range)
    if p.suffix == ".zarr":
        _set_chunks(ds, sample_chunk)
    return write_dataset(ds, p)


def _check_chunk(sample_chunk: int | None) -> None:
    if sample_chunk is not None and not (isinstance(sample_chunk, int) and sample_chunk >= 1):
        raise bad_value("sample_chunk", sample_chunk, "a positive int (imagettes per chunk)")


def _set_chunks(ds: xr.Dataset, sample_chunk: int | None = None) -> None:
    """Zarr chunks along ``sample`` only: ``sample_chunk`` images (default about 16 MiB)."""
    n, h, w = ds["images"].shape
    default = max(1, (1 << 22) // max(h * w, 1))
    ds["images"].encoding["chunks"] = (max(1, min(n, sample_chunk or default)), h, w)
    for name in ds.data_vars:
        if name != "images":
            ds[name].encoding["chunks"] = (max(1, n),)


def write_synth_wv(
    path: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    chunk_size: int = 8192,
    progress: Callable[[int, int], None] | None = None,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
    workers: int = 1,
    **kwargs: Any,
) -> Path:
    """Generate ``n`` synthetic imagettes block by block straight into a Zarr store.

    Memory stays bounded by ``chunk_size`` imagettes (times ``workers`` + 1 with several worker
    processes, which generate the next blocks while one is written; the store is the same for
    any number of workers). With ``n <= chunk_size`` the store holds
    exactly ``synth_wv(n, seed=seed, **kwargs)``; otherwise block ``i`` is
    ``synth_wv(m_i, seed=spawn_seeds(seed, n_blocks)[i], **kwargs)`` (near-duplicates stay
    within their block). The store is written atomically.

    Args:
        path: Output ``.zarr`` store (``.nc`` only when ``n <= chunk_size``).
        n: Number of imagettes.
        seed: Seed of the whole set.
        chunk_size: Imagettes generated (and held in memory) at a time.
        progress: Optional ``progress(done, total)`` callback.
        encoding: Image encoding (float32, float16 or uint8; :mod:`eoforge.sar.codec`).
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk (see :func:`save_wv`).
        workers: Processes generating blocks (1: in this process).
        **kwargs: Passed to :func:`eoforge.sar.wv.synth_wv` (size, class_prior, looks, ...).

    Returns:
        ``path``.
    """
    p = Path(path)
    if not (isinstance(n, int) and n >= 1):
        raise bad_value("n", n, "a positive int")
    if isinstance(workers, bool) or not (isinstance(workers, int) and workers >= 1):
        raise bad_value("workers", workers, "a number of processes >= 1")
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise bad_value("chunk_size", chunk_size, "a positive int")
    if p.suffix != ".zarr":
        if n > chunk_size:
            raise InputError(
                f"path={str(p)!r}: sets larger than chunk_size={chunk_size} are written "
                "block by block to a .zarr store; use a .zarr path or a larger chunk_size."
            )
        part = synth_wv(n, seed=seed, progress=progress, **kwargs)
        return save_wv(part, p, encoding=encoding, db_range=db_range, sample_chunk=sample_chunk)
    n_blocks = math.ceil(n / chunk_size)
    seeds = [seed] if n_blocks == 1 else spawn_seeds(seed, n_blocks)
    sizes = [min(chunk_size, n - i * chunk_size) for i in range(n_blocks)]
    jobs = [(m, s, kwargs) for m, s in zip(sizes, seeds, strict=True)]
    blocks = _generated(jobs, workers)
    extra = {"seed": seed, "n": n, "chunk_size": chunk_size}
    return write_blocks(p, blocks, encoding=encoding, db_range=db_range,
                        sample_chunk=sample_chunk, attrs=extra, progress=progress, total=n)  # fmt: skip


def _synth_block(job: tuple[int, Any, dict[str, Any]]) -> WVSet:
    m, block_seed, kwargs = job
    return synth_wv(m, seed=block_seed, **kwargs)


def _generated(jobs: list[tuple[int, Any, dict[str, Any]]], workers: int) -> Iterator[WVSet]:
    """The blocks of ``jobs`` in order; with ``workers`` > 1 generated in a process pool that
    runs at most ``workers`` blocks ahead of the one being consumed (bounded memory)."""
    if workers == 1 or len(jobs) == 1:
        yield from map(_synth_block, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[WVSet]] = deque()
        for job in jobs:
            pending.append(pool.submit(_synth_block, job))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


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
    _check_chunk(sample_chunk)
    encoding_attrs(encoding, db_range)  # a bad encoding fails before anything is written
    done, first, files = 0, {}, []
    with atomic_path(p) as tmp:
        for part in blocks:
            dup = np.where(part.duplicate_of >= 0, part.duplicate_of + done, -1)
            ds = to_dataset(dataclasses.replace(part, duplicate_of=dup), encoding, db_range)
            files.extend(part.attrs.get("files", []))
            if done == 0:
                first = dict(part.attrs)
                _set_chunks(ds, sample_chunk)
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


def import_imagettes(
    folder: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    block: int = 8192,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **read: Any,
) -> Path:
    """Read a folder of imagettes into a store; loose files into ``.zarr`` go ``block`` at a time.

    Loose files (``.tif/.png/.nc/.npy``) written to a ``.zarr`` store are read and appended in
    blocks of ``block`` files (:func:`eoforge.sar.readers.iter_imagettes`), so memory does not
    grow with the folder; ``.SAFE`` products and ``.nc`` outputs are read whole
    (:func:`eoforge.sar.readers.load_imagettes`).

    Args:
        folder: The folder (see :func:`eoforge.sar.readers.load_imagettes`).
        path: Output store.
        block: Files read (and held) at a time.
        encoding: Image encoding (float32, float16 or uint8).
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk.
        progress: Optional ``progress(done, total)``.
        **read: ``labels``, ``pattern``, ``db``, ``crop`` and the ``.SAFE`` options
            (``polarisation``, ``swath``, ``denoise``, ``multilook``) of ``load_imagettes``.

    Returns:
        ``path``.
    """
    if not (isinstance(block, int) and block >= 1):
        raise bad_value("block", block, "a positive int (files read at a time)")
    loose = {k: read[k] for k in ("labels", "pattern", "db", "crop") if k in read}
    safe_options = {k: v for k, v in read.items() if k not in loose and v is not None}
    safe_options.pop("denoise", None)
    root = Path(folder)
    has_safe = root.is_dir() and bool(find_safe_products(root, loose.get("pattern", "**/*"))[0])
    if Path(path).suffix != ".zarr" or has_safe or safe_options:
        wvset = load_imagettes(folder, progress=progress, **read)
        return save_wv(wvset, path, encoding=encoding, db_range=db_range, sample_chunk=sample_chunk)
    total, blocks = iter_imagettes(folder, block=block, progress=progress, **loose)
    return write_blocks(path, blocks, encoding=encoding, db_range=db_range,
                        sample_chunk=sample_chunk, progress=None, total=total)  # fmt: skip


def summarise(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Counts and target ranges of a store without loading its images.

    Returns:
        ``{"n", "height", "width", "dtype", "encoding", "classes", "class_counts", "unlabelled",
        "near_duplicates", "incidence", "wind_speed", "hs"}``: ``incidence`` maps each angle
        to its count (``None`` if unknown); the last two are ``(min, median, max)`` over finite
        values or ``None``.
    """
    ds = _open(path)
    try:
        n, h, w = ds["images"].shape
        labels = _values(ds, "labels", path)
        classes = tuple(json.loads(ds.attrs.get("classes", "[]"))) or CLASSES
        out: dict[str, Any] = {
            "n": int(n), "height": int(h), "width": int(w), "dtype": str(ds["images"].dtype),
            "encoding": store_encoding(ds.attrs)["image_encoding"],
            "classes": list(classes),
            "class_counts": np.bincount(labels[labels >= 0], minlength=len(classes)).tolist(),
            "unlabelled": int((labels < 0).sum()),
            "near_duplicates": int((_values(ds, "duplicate_of", path) >= 0).sum()),
        }  # fmt: skip
        out["incidence"] = None
        if "incidence" in ds:
            angles, counts = np.unique(_values(ds, "incidence", path), return_counts=True)
            out["incidence"] = {float(a): int(c) for a, c in zip(angles, counts, strict=True)}
        for name in ("wind_speed", "hs"):
            v = _values(ds, name, path).astype(np.float64)
            v = v[np.isfinite(v)]
            out[name] = (float(v.min()), float(np.median(v)), float(v.max())) if v.size else None
    finally:
        ds.close()
    return out


def _open(path: str | os.PathLike[str]) -> xr.Dataset:
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(
            f"WV store {str(p)!r} does not exist; create one with `eoforge sar synth-wv --out` "
            "or eoforge.sar.store.save_wv."
        )
    if p.is_file() and p.suffix.lower() not in _SUFFIXES:
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
    missing = [v for v in _VARS if v not in ds.variables]
    if missing:
        held = sorted(ds.data_vars)
        ds.close()
        raise DataNotFoundError(
            f"{str(p)!r} lacks variables {missing} (it holds {held}); "
            "it was not written by save_wv. For folders of image files use "
            "eoforge.sar.readers.load_imagettes."
        )
    return ds


def _values(ds: xr.Dataset, name: str, path: str | os.PathLike[str]) -> np.ndarray:
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
    ds = _open(path)
    try:
        n, h, w = (int(v) for v in ds["images"].shape)
        chunks = ds["images"].encoding.get("chunks") or ds["images"].encoding.get(
            "preferred_chunks", {}
        ).get("sample", n)
        chunk = int(chunks[0]) if isinstance(chunks, tuple | list) else int(chunks)
        meta = {
            "n": n, "height": h, "width": w, "sample_chunk": max(1, min(chunk, n)),
            "encoding": store_encoding(ds.attrs),
            "labels": _values(ds, "labels", path).astype(np.int64),
            "incidence": (
                _values(ds, "incidence", path).astype(np.float32) if "incidence" in ds else None
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
    ds = _open(path)
    try:
        classes = tuple(json.loads(ds.attrs.get("classes", "[]"))) or CLASSES
        attrs = json.loads(ds.attrs.get("wvset_attrs", "{}"))
        arrays = {v: _values(ds, v, path) for v in _VARS}
        inc = _values(ds, "incidence", path).astype(np.float32) if "incidence" in ds else None
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
