"""Streaming, DDP-sharded reading of one or many chunked WV Zarr stores (archive scale).

The archive (stores ``0..S-1`` concatenated; global index ``i`` of ``N``) is cut into *blocks*,
the Zarr chunks along ``sample`` of every store. For epoch ``t``:

1. the blocks are permuted with a generator seeded by ``SeedSequence([seed, t])``; the epoch's
   item sequence ``o`` is their items in that order (only the selected ones, if a selection is
   set, e.g. by the curator);
2. rank ``r`` of ``R`` takes ``o[r m : (r + 1) m]`` with ``m = floor(|o| / R)`` (``even=True``:
   equal shares for DDP; the ``|o| - R m < R`` last items sit out the epoch, different ones every
   epoch), or ``o[floor(r |o| / R) : floor((r + 1) |o| / R)]`` (``even=False``);
3. the rank's share is cut into windows of ``w = ceil(buffer / B) B`` items; window ``j`` is read
   chunk by chunk, shuffled with ``SeedSequence([seed, t, r, j])`` and cut into batches of ``B``;
   DataLoader worker ``k`` of ``K`` reads, decodes and normalises windows ``k, k + K, ...``.

So every item of ``o`` is yielded exactly once per epoch over all ranks and workers, memory is
one window (raw) plus one decoded batch per worker, and the order depends on ``(seed, t, R, K)``
only: a resumed run replays its epoch.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import zarr
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from eoforge.core.errors import InputError, bad_value
from eoforge.sar.codec import decode
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.store import read_meta

PathLike = str | os.PathLike[str]


def _as_paths(paths: PathLike | Sequence[PathLike]) -> list[Path]:
    if isinstance(paths, str | os.PathLike):
        text = str(paths)
        items: Sequence[PathLike] = (
            text.split(",") if "," in text and not Path(text).exists() else [text]
        )
    else:
        items = list(paths)
    out = [Path(p) for p in items if str(p).strip()]
    if not out:
        raise bad_value("data", paths, "one or more .zarr stores (comma-separated on the CLI)")
    return out


class WVArchive:
    """One or many WV Zarr stores read lazily as one indexable archive.

    Args:
        paths: A store, a list of stores, or a comma-separated string of stores (``.zarr``,
            written by ``eoforge sar synth-wv`` / ``sar import``) of equal imagette size.

    Attributes:
        labels: ``(N,)`` int64 labels of all stores (small; read once).
        incidence: ``(N,)`` float32 incidence angles, or ``None`` if a store lacks them.
        blocks: ``(n_blocks, 2)`` int64 global ``[start, stop)`` of every Zarr chunk.
    """

    def __init__(self, paths: PathLike | Sequence[PathLike]) -> None:
        self.paths = _as_paths(paths)
        metas = []
        for p in self.paths:
            if p.suffix != ".zarr":
                raise InputError(
                    f"data {str(p)!r} is not a .zarr store: streaming reads chunked Zarr stores; "
                    "write one with `eoforge sar synth-wv --out X.zarr` or `eoforge sar import`."
                )
            metas.append(read_meta(p))
        shapes = {(m["height"], m["width"]) for m in metas}
        if len(shapes) > 1:
            raise InputError(
                f"the stores {[str(p) for p in self.paths]} hold imagettes of different sizes "
                f"{sorted(shapes)}; stream stores of one size (crop with `eoforge sar import --crop`)."
            )
        self.shape = shapes.pop()
        self.encodings = [m["encoding"] for m in metas]
        self.offsets = np.cumsum([0] + [m["n"] for m in metas]).astype(np.int64)
        self.chunks = [m["sample_chunk"] for m in metas]
        self.labels = np.concatenate([m["labels"] for m in metas])
        inc = [m["incidence"] for m in metas]
        self.incidence = None if any(v is None for v in inc) else np.concatenate(inc)
        self.blocks = np.array(
            [
                (o + s, o + min(s + m["sample_chunk"], m["n"]))
                for o, m in zip(self.offsets[:-1], metas, strict=True)
                for s in range(0, m["n"], m["sample_chunk"])
            ],
            dtype=np.int64,
        ).reshape(-1, 2)
        self._arrays: list[Any] | None = None

    def __len__(self) -> int:
        return int(self.offsets[-1])

    @property
    def images(self) -> _ImagesView:
        """Lazy ``(N, H, W)`` linear view (``images[i]`` reads one item; for fingerprints)."""
        return _ImagesView(self)

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers reopen the stores
        return {**self.__dict__, "_arrays": None}

    def _array(self, s: int) -> Any:
        if self._arrays is None:
            self._arrays = [None] * len(self.paths)
        if self._arrays[s] is None:
            self._arrays[s] = zarr.open_group(str(self.paths[s]), mode="r")["images"]
        return self._arrays[s]

    def read_raw(self, s: int, start: int, stop: int) -> np.ndarray:
        """Stored values of store ``s`` items ``[start, stop)`` (local indices), undecoded."""
        try:
            return np.asarray(self._array(s)[start:stop])
        except Exception as err:  # zarr codecs and the file system raise many types
            raise InputError(
                f"could not read images {start}..{stop} of the WV store {str(self.paths[s])!r} "
                f"({type(err).__name__}: corrupt or missing chunks); write the store again."
            ) from None

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Linear sigma0 ``(k, H, W)`` float32 of global ``indices`` (any order), chunk by chunk.

        Each touched chunk is read once (the span of the wanted items in it).
        """
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise bad_value(
                "indices", f"<range {idx.min()}..{idx.max()}>", f"in 0..{len(self) - 1}"
            )
        out = np.empty((idx.size, *self.shape), dtype=np.float32)
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        store = np.searchsorted(self.offsets, sorted_idx, side="right") - 1
        local = sorted_idx - self.offsets[store]
        key = store * (1 << 40) + local // np.asarray(self.chunks)[store]
        bounds = np.flatnonzero(np.diff(key)) + 1
        for part in np.split(np.arange(idx.size), bounds):
            if not part.size:
                continue
            s, lo, hi = int(store[part[0]]), int(local[part[0]]), int(local[part[-1]]) + 1
            raw = self.read_raw(s, lo, hi)[local[part] - lo]
            out[order[part]] = decode(raw, self.encodings[s])
        return out


class _ImagesView:
    """``archive.images``: shape, dtype and item access without loading the archive."""

    def __init__(self, archive: WVArchive) -> None:
        self.archive = archive
        self.shape = (len(archive), *archive.shape)
        self.dtype = np.dtype(np.float32)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        return self.archive.read(np.array([int(i)]))[0]


def fit_normaliser(archive: WVArchive, max_images: int = 4096, seed: int = 0) -> DbNormaliser:
    """A :class:`DbNormaliser` fitted on whole chunks drawn at random (about ``max_images``).

    The dB mean and standard deviation of a few thousand imagettes estimate those of the
    archive to well under 0.1 dB while reading only a few chunks.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    picked, total = [], 0
    for b in rng.permutation(len(archive.blocks)):
        start, stop = archive.blocks[b]
        picked.append(np.arange(start, stop))
        total += stop - start
        if total >= max_images:
            break
    idx = np.sort(np.concatenate(picked))[:max_images]
    return DbNormaliser().fit(archive.read(idx))


def epoch_order(
    blocks: np.ndarray, seed: int, epoch: int, selection: np.ndarray | None = None
) -> np.ndarray:
    """Global item sequence ``o`` of ``epoch``: permuted blocks, optionally only ``selection``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(epoch)]))
    perm = rng.permutation(len(blocks))
    order = np.concatenate([np.arange(*blocks[b]) for b in perm]) if len(blocks) else np.zeros(0)
    order = order.astype(np.int64)
    if selection is not None:
        n = int(blocks[-1, 1]) if len(blocks) else 0
        mask = np.zeros(n, dtype=bool)
        mask[selection] = True
        order = order[mask[order]]
    return order


def rank_share(n: int, rank: int, world: int, even: bool = True) -> tuple[int, int]:
    """``[start, stop)`` of rank ``rank``'s part of an ``n``-item epoch sequence."""
    if even:
        m = n // world
        return rank * m, (rank + 1) * m
    return rank * n // world, (rank + 1) * n // world


def normalise(
    archive: WVArchive, normaliser: DbNormaliser | None, images: np.ndarray, idx: Any
) -> np.ndarray:
    """``normaliser.transform`` of the images of global ``idx`` (per beam when fitted so)."""
    if normaliser is None:
        return images
    grouped = getattr(normaliser, "groups_", None) is not None
    if grouped and archive.incidence is None:
        raise InputError(
            "the normaliser was fitted per beam (groups) but these stores have no incidence "
            "angles; use a normaliser fitted without groups."
        )
    groups = archive.incidence[idx] if grouped and archive.incidence is not None else None
    return normaliser.transform(images, groups=groups)


def _dist_rank_world() -> tuple[int, int]:
    ready = dist.is_available() and dist.is_initialized()
    return (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)


class WVStream(IterableDataset):
    """Batches of an archive in the epoch order of the module docstring (use ``batch_size=None``).

    Each yielded batch is ``{"image": (B, 1, H, W) float32, "label": (B,) int64, "index": (B,)
    int64}``; ``image`` is standardised dB with a ``normaliser``, else linear sigma0.

    Args:
        archive: A :class:`WVArchive` (or what it accepts).
        batch_size: Items per batch ``B``.
        normaliser: Optional fitted :class:`DbNormaliser`.
        seed: Seed of the block permutation and the window shuffles.
        buffer_size: Items shuffled together (rounded up to a multiple of ``batch_size``).
        rank: This rank (default: the torch.distributed rank, else 0).
        world_size: Number of ranks (default: the torch.distributed world size, else 1).
        even: Equal shares on every rank (needed by DDP; see the module docstring).
        drop_last: Drop each rank's last partial batch.
    """

    def __init__(
        self,
        archive: WVArchive | PathLike | Sequence[PathLike],
        batch_size: int,
        normaliser: DbNormaliser | None = None,
        *,
        seed: int = 0,
        buffer_size: int = 4096,
        rank: int | None = None,
        world_size: int | None = None,
        even: bool = True,
        drop_last: bool = True,
    ) -> None:
        super().__init__()
        self.archive = archive if isinstance(archive, WVArchive) else WVArchive(archive)
        for name, v in (("batch_size", batch_size), ("buffer_size", buffer_size)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise bad_value(name, v, "a positive int")
        d_rank, d_world = _dist_rank_world()
        self.set_shard(
            d_rank if rank is None else rank, d_world if world_size is None else world_size
        )
        self.batch_size = batch_size
        self.window = math.ceil(buffer_size / batch_size) * batch_size
        self.normaliser = normaliser
        self.seed = int(seed)
        self.even = even
        self.drop_last = drop_last
        self.epoch = 0
        self.selection: np.ndarray | None = None

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (changes the order, as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def set_shard(self, rank: int, world_size: int) -> None:
        """Set this rank and the number of ranks (e.g. from the trainer, once DDP has started)."""
        if world_size < 1 or not 0 <= rank < world_size:
            raise bad_value("rank", rank, f"an int in 0..{world_size - 1}")
        self.rank, self.world_size = int(rank), int(world_size)

    def set_selection(self, indices: np.ndarray | None) -> None:
        """Restrict the next epochs to global ``indices`` (``None``: the whole archive)."""
        if indices is not None:
            indices = np.unique(np.asarray(indices, dtype=np.int64))
            if indices.size and (indices[0] < 0 or indices[-1] >= len(self.archive)):
                raise bad_value("indices", "<out of range>", f"in 0..{len(self.archive) - 1}")
        self.selection = indices

    def _n_epoch(self) -> int:
        return len(self.archive) if self.selection is None else int(self.selection.size)

    def __len__(self) -> int:
        """Batches this rank yields per epoch."""
        lo, hi = rank_share(self._n_epoch(), self.rank, self.world_size, self.even)
        n = hi - lo
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def rank_items(self) -> np.ndarray:
        """Global indices of this rank's share of the current epoch (before window shuffles)."""
        order = epoch_order(self.archive.blocks, self.seed, self.epoch, self.selection)
        lo, hi = rank_share(order.size, self.rank, self.world_size, self.even)
        return order[lo:hi]

    def _window(self, items: np.ndarray, j: int) -> Iterator[dict[str, torch.Tensor]]:
        ss = np.random.SeedSequence([self.seed, self.epoch, self.rank, j])
        idx = items[np.random.default_rng(ss).permutation(items.size)]
        images = self.archive.read(idx)  # (w, H, W) linear, one window per worker
        stop = idx.size - idx.size % self.batch_size if self.drop_last else idx.size
        for a in range(0, stop, self.batch_size):
            yield self._batch(idx[a : a + self.batch_size], images[a : a + self.batch_size])

    def _batch(self, idx: np.ndarray, images: np.ndarray) -> dict[str, torch.Tensor]:
        images = normalise(self.archive, self.normaliser, images, idx)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))[:, None],
            "label": torch.from_numpy(self.archive.labels[idx]),
            "index": torch.from_numpy(idx),
        }

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        info = get_worker_info()
        worker, n_workers = (info.id, info.num_workers) if info is not None else (0, 1)
        items = self.rank_items()
        n_windows = -(-items.size // self.window)
        for j in range(worker, n_windows, n_workers):
            yield from self._window(items[j * self.window : (j + 1) * self.window], j)


class ArchiveItems(Dataset):
    """Map-style items ``{"image": (1, H, W), "label", "index"}`` of an archive, one chunk cached.

    Reading indices in increasing order reads every chunk once (the curation embedding pass).
    """

    def __init__(self, archive: WVArchive, normaliser: DbNormaliser | None = None) -> None:
        self.archive = archive
        self.normaliser = normaliser
        self._cached: tuple[int, int, np.ndarray] = (0, 0, np.zeros((0, *archive.shape)))

    def __len__(self) -> int:
        return len(self.archive)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i = int(index)
        if not 0 <= i < len(self.archive):
            raise IndexError(f"index {index} out of range for an archive of {len(self.archive)}")
        lo, hi, images = self._cached
        if not lo <= i < hi:
            b = int(np.searchsorted(self.archive.blocks[:, 1], i, side="right"))
            lo, hi = (int(v) for v in self.archive.blocks[b])
            images = self.archive.read(np.arange(lo, hi))
            self._cached = (lo, hi, images)
        img = normalise(self.archive, self.normaliser, images[i - lo], i)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32))[None],
            "label": torch.tensor(int(self.archive.labels[i])),
            "index": torch.tensor(i),
        }
