"""Frozen features: load a pre-training run's teacher and embed imagettes (to arrays or Zarr).

Images go through the run's normaliser (``z = (10 log10 sigma0 - mu_dB) / sigma_dB``, per beam
when it was fitted so), the evaluation view (the whole imagette resized to the global-crop size)
and the teacher backbone (ViT ``[CLS]`` token or ResNet pooled features): ``f_i = g(v(z_i))``.

Archive scale: items are read in increasing index order, one *piece* at a time (a piece is the
wanted items of one Zarr chunk of a :class:`~eoforge.sar.stream.WVArchive`, or ``batch_size``
rows of an in-memory set), optionally decoded by DataLoader workers (order kept), and embedded in
batches of ``batch_size`` on the device. The features stay on the device until ``flush_rows``
rows are held, then are copied to the host once (the only host synchronisation) and handed to a
sink: an array, or a Zarr ``embedding`` array written whole chunks at a time. Memory is one piece
per worker, ``flush_rows`` features and one output chunk, whatever the number of items ``N``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import xarray as xr
import zarr
from numpy.typing import NDArray
from torch import nn
from torch.utils.data import DataLoader, Dataset

from eoforge.core.atomic import atomic_path
from eoforge.core.errors import ShapeError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.resume import data_fingerprint
from eoforge.nn.encoders import embed_dim
from eoforge.nn.frozen import EncoderInfo, eval_view, file_sha256, load_run_encoder
from eoforge.nn.linear_probes import DeviceLike, probe_device
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.stream import WVArchive, normalise
from eoforge.ssl.pretrain import data_paths, load_data


def load_teacher(run: str | os.PathLike[str]) -> tuple[nn.Module, DbNormaliser, EncoderInfo]:
    """The teacher backbone of a run (eval mode), its ``DbNormaliser`` and its ``encoder.json``.

    Raises:
        DataNotFoundError: ``run`` is not a finished pre-training run folder.
    """
    return load_run_encoder(run, DbNormaliser.from_dict)


Sink = Callable[[int, np.ndarray], None]
"""``sink(start, rows)``: rows ``[start, start + len(rows))`` of the ``(n, D)`` features."""

_TARGETS = ("wind_speed", "hs")

#: Images normalised at a time (the float64 dB temporaries of a whole chunk would be ~8x it).
_NORMALISE_ROWS = 128
#: Most items of a piece (a store written with one huge chunk is still read in bounded parts).
_PIECE_ROWS = 4096

# -- reading --------------------------------------------------------------------------------------


def open_wv(data: Any) -> Any:
    """``data`` ready to embed: Zarr path(s) as a lazy :class:`WVArchive`, else a ``WVSet``.

    A ``WVSet`` (or an array) is returned as is; a NetCDF file is loaded.
    """
    if hasattr(data, "images") or isinstance(data, np.ndarray | torch.Tensor):
        return data
    if not isinstance(data, str | os.PathLike | list | tuple):
        return load_data(data)  # refused there
    zarr_only = all(Path(p.strip()).suffix == ".zarr" for p in data_paths(data) if p.strip())
    return load_data(data, stream=zarr_only)


def item_table(wv: Any) -> dict[str, Any]:
    """Per-item variables of a data set: ``labels``, ``targets`` (wind speed, Hs) and ``classes``.

    For a :class:`WVArchive` only these ``(N,)`` vectors are read from the stores, not the images.
    """
    if not isinstance(wv, WVArchive):
        targets = {k: np.asarray(getattr(wv, k)) for k in _TARGETS
                   if getattr(wv, k, None) is not None}  # fmt: skip
        classes = tuple(wv.classes) if hasattr(wv, "classes") else None
        return {"labels": np.asarray(wv.labels), "targets": targets, "classes": classes}
    groups = [zarr.open_group(str(p), mode="r") for p in wv.paths]
    targets = {k: np.concatenate([_vector(g, k) for g in groups])
               for k in _TARGETS if all(k in g for g in groups)}  # fmt: skip
    raw = groups[0].attrs.get("classes")
    classes = json.loads(raw) if isinstance(raw, str) and raw else None
    return {"labels": wv.labels, "targets": targets,
            "classes": tuple(classes) if classes else None}  # fmt: skip


def _vector(group: zarr.Group, name: str) -> NDArray[np.float32]:
    """The whole ``(N,)`` array ``name`` of a store, as float32."""
    arr = group[name]
    if not isinstance(arr, zarr.Array):
        raise bad_value(name, "a group", "a per-item array of the store")
    return np.asarray(arr[:], dtype=np.float32)


def _pieces(wv: Any, indices: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Sorted ``indices`` cut into pieces.

    One per Zarr chunk of an archive (at most :data:`_PIECE_ROWS` items), else ``batch_size``
    rows.
    """
    if not isinstance(wv, WVArchive):
        cuts = np.arange(batch_size, indices.size, batch_size)
        return [p for p in np.split(indices, cuts) if p.size]
    block = np.searchsorted(wv.blocks[:, 1], indices, side="right")
    per_chunk = np.split(indices, np.flatnonzero(np.diff(block)) + 1)
    return [q for p in per_chunk for q in np.split(p, np.arange(_PIECE_ROWS, p.size, _PIECE_ROWS))
            if q.size]  # fmt: skip


class _Pieces(Dataset):
    """Piece ``j`` as normalised ``(b, 1, H, W)`` float32 (read, decoded, normalised)."""

    def __init__(self, wv: Any, normaliser: Any, pieces: list[np.ndarray]) -> None:
        self.wv, self.normaliser, self.pieces = wv, normaliser, pieces

    def __len__(self) -> int:
        return len(self.pieces)

    def __getitem__(self, j: int) -> torch.Tensor:
        idx = self.pieces[j]
        if isinstance(self.wv, WVArchive):
            images = self.wv.read(idx)
        else:
            images = self.wv.images if hasattr(self.wv, "images") else self.wv
            images = np.asarray(images[int(idx[0]) : int(idx[-1]) + 1])[idx - idx[0]]
        z = np.empty(images.shape, dtype=np.float32)  # (b, H, W)
        for a in range(0, idx.size, _NORMALISE_ROWS):  # bounded float64 temporaries
            part, rows = images[a : a + _NORMALISE_ROWS], idx[a : a + _NORMALISE_ROWS]
            if hasattr(self.wv, "incidence"):
                z[a : a + rows.size] = normalise(self.wv, self.normaliser, part, rows)
            else:
                z[a : a + rows.size] = self.normaliser.transform(part)
        return torch.from_numpy(z)[:, None]


# -- embedding ------------------------------------------------------------------------------------


@torch.no_grad()
def embed_items(
    encoder: nn.Module,
    wv: Any,
    normaliser: Any,
    eval_size: int,
    *,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    device: DeviceLike = None,
    workers: int = 0,
    flush_rows: int = 8192,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Features of the items ``indices`` (default all) of ``wv``, in bounded memory (module doc).

    Args:
        encoder: Backbone with ``.embed_dim``.
        wv: A :class:`WVArchive`, a ``WVSet`` or an ``(n, H, W)`` array of linear sigma0.
        normaliser: Fitted ``DbNormaliser``.
        eval_size: Side of the evaluation view.
        indices: Items to embed (sorted and made unique; rows of the result follow that order).
        batch_size: Images per forward pass.
        device: ``"auto"``/``None`` (CUDA if visible), ``"cpu"``, ``"gpu"`` or a torch device.
        workers: DataLoader processes that read and decode pieces (0: this process).
        flush_rows: Features held on the device between two copies to the host.
        progress: Optional ``progress(done, total)``, called at every flush.

    Returns:
        ``(m, D)`` float32 features.
    """
    n = len(wv.images) if hasattr(wv, "images") else len(wv)
    idx = np.arange(n) if indices is None else np.unique(np.asarray(indices, dtype=np.int64))
    out = np.zeros((idx.size, embed_dim(encoder)), dtype=np.float32)
    _embed_into(_array_sink(out), encoder, wv, normaliser, eval_size, idx, batch_size=batch_size,
                device=device, workers=workers, flush_rows=flush_rows,
                progress=progress)  # fmt: skip
    return out


@torch.no_grad()
def _embed_into(
    sink: Sink, encoder: nn.Module, wv: Any, normaliser: Any, eval_size: int,
    idx: NDArray[np.int64], *, batch_size: int, device: DeviceLike, workers: int,
    flush_rows: int, progress: ProgressCallback | None,
) -> None:  # fmt: skip
    """:func:`embed_items` of the sorted unique items ``idx``, rows handed to ``sink``."""
    for name, v in (("batch_size", batch_size), ("flush_rows", flush_rows)):
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
            raise bad_value(name, v, "a positive int")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise bad_value("workers", workers, "an int >= 0")
    n = len(wv.images) if hasattr(wv, "images") else len(wv)
    if idx.size and (idx[0] < 0 or idx[-1] >= n):
        raise bad_value("indices", f"<range {idx[0]}..{idx[-1]}>", f"in 0..{n - 1}")
    dev = probe_device(device)
    loader = DataLoader(_Pieces(wv, normaliser, _pieces(wv, idx, batch_size)), batch_size=None,
                        num_workers=workers, pin_memory=dev.type == "cuda")  # fmt: skip
    was_training = encoder.training
    encoder.eval().to(dev)
    try:
        _encode(encoder, loader, eval_size, batch_size, dev, flush_rows, sink, progress, idx.size)
    finally:
        encoder.train(was_training)


def _encode(
    encoder: nn.Module, loader: DataLoader, eval_size: int, batch_size: int, dev: torch.device,
    flush_rows: int, sink: Sink, progress: ProgressCallback | None, total: int,
) -> None:  # fmt: skip
    """The device loop: features held on ``dev`` and copied to the host every ``flush_rows``."""
    held: list[torch.Tensor] = []
    n_held = done = 0
    for x in loader:  # (b, 1, H, W) float32, pinned when dev is CUDA
        x = x.to(dev, non_blocking=True)
        for a in range(0, x.shape[0], batch_size):
            held.append(encoder(eval_view(x[a : a + batch_size], eval_size)).float())  # (b, D)
        n_held += x.shape[0]
        if n_held >= flush_rows:
            done = _flush(held, done, sink, progress, total)
            held, n_held = [], 0
    if held:
        _flush(held, done, sink, progress, total)


def _flush(
    held: list[torch.Tensor], done: int, sink: Sink, progress: ProgressCallback | None, total: int
) -> int:
    rows = torch.cat(held).cpu().numpy()  # the one device -> host copy of these rows
    sink(done, rows)
    done += rows.shape[0]
    if progress is not None:
        progress(done, total)
    return done


def _array_sink(out: np.ndarray) -> Sink:
    def put(start: int, rows: np.ndarray) -> None:
        out[start : start + rows.shape[0]] = rows

    return put


def embed_images(
    encoder: nn.Module,
    images: Any,
    normaliser: Any,
    eval_size: int,
    *,
    batch_size: int = 256,
    device: DeviceLike = None,
    progress: ProgressCallback | None = None,
) -> np.ndarray:
    """Features of linear-sigma0 imagettes: (n, H, W) -> (n, D) float32 (see :func:`embed_items`).

    Args:
        encoder: Backbone with ``.embed_dim``.
        images: ``(n, H, W)`` linear sigma0 (any array with slicing).
        normaliser: Fitted ``DbNormaliser``.
        eval_size: Side of the evaluation view.
        batch_size: Images per forward pass.
        device: Torch device (default: CUDA if available, else CPU).
        progress: Optional ``progress(done, total)``.
    """
    if len(images.shape) != 3:
        raise ShapeError(f"images must be (n, H, W); got shape {tuple(images.shape)}.")
    return embed_items(encoder, images, normaliser, eval_size, batch_size=batch_size,
                       device=device, progress=progress)  # fmt: skip


def embed_run(run: str | os.PathLike[str], data: Any, **kwargs: Any) -> np.ndarray:
    """Teacher features of ``data`` (a ``WVSet``, or store path(s) read lazily) by a run.

    ``kwargs`` go to :func:`embed_items` (``indices``, ``device``, ``workers``...).
    """
    encoder, normaliser, info = load_teacher(run)
    return embed_items(encoder, open_wv(data), normaliser, info["eval_size"], **kwargs)


# -- writing --------------------------------------------------------------------------------------


class _ChunkRows:
    """A sink writing rows to a Zarr array whole chunks at a time (the rest waits for more).

    Rows are written from row ``start``; after each write the group's ``rows_done`` attribute
    records the rows safely on disk (the point a resumed run starts from).
    """

    def __init__(self, group: Any, start: int = 0) -> None:
        self.group, self.array = group, group["embedding"]
        self.rows, self.start = int(self.array.chunks[0]), int(start)
        self.tail = np.zeros((0, self.array.shape[1]), dtype=np.float32)

    def __call__(self, _: int, rows: np.ndarray) -> None:
        buf = np.concatenate([self.tail, rows]) if self.tail.size else rows
        k = buf.shape[0] - buf.shape[0] % self.rows
        if k:
            self._write(buf[:k])
        self.tail = buf[k:].copy()

    def close(self) -> None:
        if self.tail.shape[0]:
            self._write(self.tail)
            self.tail = self.tail[:0]

    def _write(self, rows: np.ndarray) -> None:
        self.array[self.start : self.start + rows.shape[0]] = rows
        self.start += rows.shape[0]
        self.group.attrs["rows_done"] = self.start  # after the data: a crash repeats, never skips


def _partial_path(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _partial_store(out: Path, ds: xr.Dataset, shape: tuple[int, int], rows: int) -> tuple[Any, int]:
    """The partial store ``.OUT.partial`` beside ``out`` and the rows already embedded in it.

    Resumed when it was started for the same ``resume_key`` attribute of ``ds``, else new.
    """
    partial = _partial_path(out)
    if partial.exists():
        try:
            group = zarr.open_group(str(partial), mode="a")
            if group.attrs.get("resume_key") == ds.attrs["resume_key"]:
                rows_done = group.attrs.get("rows_done", 0)
                return group, rows_done if isinstance(rows_done, int) else 0
        except Exception:  # an unreadable partial store is started again
            pass
        shutil.rmtree(partial)
    ds.to_zarr(partial, mode="w", consolidated=False)
    group = zarr.open_group(str(partial), mode="a")
    group.create_array("embedding", shape=shape, chunks=(min(rows, max(shape[0], 1)), shape[1]),
                       dtype="float32", dimension_names=("item", "feature"),
                       fill_value=np.nan)  # fmt: skip
    group.attrs["rows_done"] = 0
    return group, 0


def _dataset_template(run: Path, wv: Any, info: dict[str, Any], rows: int) -> xr.Dataset:
    """The per-item variables and attributes of an embedding store.

    ``resume_key`` included: the teacher's weights, the data's fingerprint and the layout.
    """
    table = item_table(wv)
    ds = xr.Dataset({"label": ("item", np.asarray(table["labels"]))})
    for key, values in table["targets"].items():
        ds[key] = ("item", values)
    dim = int(info["embed_dim"])
    ds.attrs.update(run=str(run.resolve()), encoder=info["name"], embed_dim=dim,
                    eval_size=int(info["eval_size"]))  # fmt: skip
    if table["classes"]:
        ds.attrs["classes"] = list(table["classes"])
    ds.attrs["resume_key"] = {
        "weights_sha256": file_sha256(run / "teacher_backbone.safetensors"),
        "data": data_fingerprint(wv.images, table["labels"]),
        "shape": [len(wv.images), dim], "chunk_rows": rows,
    }  # fmt: skip
    return ds


def embed_dataset(
    run: str | os.PathLike[str],
    data: Any,
    out: str | os.PathLike[str],
    *,
    batch_size: int = 256,
    device: DeviceLike = None,
    workers: int = 0,
    chunk_rows: int | None = None,
    flush_rows: int = 8192,
    progress: ProgressCallback | None = None,
) -> Path:
    """Embed a data set with a run's teacher into a Zarr store, in bounded memory; resumable.

    The store holds ``embedding`` (item, feature) float32, chunked by ``chunk_rows`` items
    (default about 4 MiB a chunk), and ``label``, ``wind_speed``, ``hs`` when the data has them;
    attributes record the run, encoder and classes. It is written chunk by chunk to ``.OUT.partial``
    beside ``out`` and renamed onto ``out`` when complete (atomically: ``out`` is never partial).
    Called again after an interruption with the same teacher, data and ``chunk_rows``, it
    continues from the last chunk written; otherwise the partial store is started again.

    Args:
        run: Pre-training run folder.
        data: A ``WVSet``, or Zarr store path(s) (read chunk by chunk; several: comma-separated).
        out: The ``.zarr`` store to write.
        batch_size: Images per forward pass (as in :func:`embed_items`).
        device: Where to embed (as in :func:`embed_items`).
        workers: DataLoader workers decoding pieces (as in :func:`embed_items`).
        flush_rows: Feature rows held on the device before one copy to the host.
        chunk_rows: Items per chunk of ``embedding``.
        progress: Optional ``progress(done, total)`` (``done`` counts resumed rows too).

    Returns:
        ``out``.
    """
    out = Path(out)
    if out.suffix != ".zarr":
        raise bad_value("--out", str(out), "a .zarr store path (e.g. emb.zarr)")
    wv = open_wv(data)
    encoder, normaliser, info = load_teacher(run)
    rows = chunk_rows or max(1, (1 << 20) // embed_dim(encoder))
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise bad_value("chunk_rows", chunk_rows, "a positive int")
    n, dim = len(wv.images), embed_dim(encoder)
    ds = _dataset_template(Path(run), wv, {**info, "embed_dim": dim}, rows)
    group, done = _partial_store(out, ds, (n, dim), rows)
    sink = _ChunkRows(group, done)
    shifted = None if progress is None else (lambda d, t: progress(done + d, n))
    _embed_into(sink, encoder, wv, normaliser, info["eval_size"], np.arange(done, n),
                batch_size=batch_size, device=device, workers=workers, flush_rows=flush_rows,
                progress=shifted)  # fmt: skip
    sink.close()
    with atomic_path(out) as tmp:
        _partial_path(out).rename(tmp)
    return out
