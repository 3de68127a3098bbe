"""DINO pre-training data streamed from chunked Zarr stores, with curation pools drawn by chunk.

An archive of ``N`` imagettes is never loaded: every epoch a :class:`~eoforge.sar.stream.WVStream`
reads it window by window in the epoch order of :mod:`eoforge.sar.stream` (sharded over DDP
ranks and DataLoader workers), restricted to the curator's selection ``S_t``.

Curation pools come from the stream too. :class:`ChunkPoolCurator` draws the pool ``P_t`` as
``pool_size`` items chosen uniformly from the union of whole chunks taken in a random order until
they hold ``pool_size`` items, so a refresh reads about ``pool_size / chunk + 1`` chunks instead of
touching every chunk of the archive (a uniform pool of 20,000 from 10^6 items in chunks of 1024
hits ~all 977 chunks). The embedding pass reads the sorted pool through
:class:`~eoforge.sar.stream.ArchiveItems`, one chunk at a time.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from eoforge.curation.dynamic import CurationConfig, DynamicCurator
from eoforge.sar.normalise import DbNormaliser
from eoforge.sar.stream import ArchiveItems, WVArchive, WVStream
from eoforge.ssl.module import CuratedDataModule

#: Pool-draw stream of the curator's random generator (distinct from the uniform draw's).
_STREAM_CHUNK_POOL = 10

# Lightning warns that an IterableDataset's __len__ may be wrong with several workers; a
# WVStream's is exact (its workers take disjoint windows, see eoforge.sar.stream).
warnings.filterwarnings("ignore", message=r"Your `IterableDataset` has `__len__` defined")


class ChunkPoolCurator(DynamicCurator):
    """A :class:`DynamicCurator` whose pools are drawn from whole chunks of a streamed archive.

    Args:
        config: The :class:`CurationConfig`.
        blocks: ``(n_blocks, 2)`` global ``[start, stop)`` of the archive's chunks.
        labels: Optional ``(n,)`` labels (logged only).
    """

    def __init__(
        self, config: CurationConfig, blocks: np.ndarray, labels: np.ndarray | None = None
    ) -> None:
        super().__init__(config, int(blocks[-1, 1]), labels=labels)
        self.blocks = np.asarray(blocks, dtype=np.int64)

    def draw_pool(self, event: int) -> np.ndarray:
        """Sorted ``pool_len`` items drawn uniformly from random whole chunks (see module doc)."""
        if self.pool_len >= self.n_items:
            return np.arange(self.n_items, dtype=np.int64)
        rng = self._rng(event, _STREAM_CHUNK_POOL)
        picked, total = [], 0
        for b in rng.permutation(len(self.blocks)):
            picked.append(np.arange(*self.blocks[b]))
            total += picked[-1].size
            if total >= self.pool_len:
                break
        union = np.concatenate(picked)
        return np.sort(rng.choice(union, self.pool_len, replace=False))


class StreamingDataModule(CuratedDataModule):
    """:class:`CuratedDataModule` whose training loader streams the epoch's selection.

    Args:
        stream: The :class:`WVStream` (its batch size is the per-device batch size).
        curator: A :class:`ChunkPoolCurator` (or any curator over the archive's indices).
        num_workers: DataLoader workers (each reads and decodes its own windows).
        selections_dir: Folder of the saved selections.
        embed_batch_size: Batch size of the curation embedding pass.
    """

    def __init__(
        self,
        stream: WVStream,
        curator: Any,
        num_workers: int = 0,
        selections_dir: str | Path | None = None,
        embed_batch_size: int = 256,
    ) -> None:
        items = ArchiveItems(stream.archive, stream.normaliser)
        super().__init__(items, curator, stream.batch_size, seed=stream.seed,
                         num_workers=num_workers, selections_dir=selections_dir,
                         embed_batch_size=embed_batch_size)  # fmt: skip
        self.stream = stream

    def train_dataloader(self) -> DataLoader:
        """A loader streaming this epoch's selected chunks, split over the DDP ranks."""
        epoch = self.fit_trainer.current_epoch
        indices = self.epoch_indices(epoch)
        full = indices.size == len(self.stream.archive)
        self.stream.set_selection(None if full else indices)
        trainer = self.fit_trainer
        self.stream.set_shard(trainer.global_rank, trainer.world_size)
        self.stream.set_epoch(epoch)
        return DataLoader(self.stream, batch_size=None, num_workers=self.num_workers,
                          pin_memory=torch.cuda.is_available(),
                          persistent_workers=False)  # fmt: skip


def streaming_data_module(
    config: Any, archive: WVArchive, normaliser: DbNormaliser, selections_dir: Path
) -> StreamingDataModule:
    """The data module of ``eoforge.ssl.pretrain`` for an archive (``config``: an SSLConfig)."""
    stream = WVStream(archive, config.batch_size, normaliser, seed=config.seed, rank=0,
                      world_size=1)  # fmt: skip
    curator = ChunkPoolCurator(config.curation, archive.blocks, labels=archive.labels)
    return StreamingDataModule(stream, curator, num_workers=config.num_workers,
                               selections_dir=selections_dir,
                               embed_batch_size=config.embed_batch_size)  # fmt: skip
