"""The DDP-aware sampler of SSL pre-training over the curator's swappable index list.

For ``n`` current indices, ``R`` ranks and epoch ``e``: the list is permuted by a generator seeded
by ``seed + e`` (the same permutation on every rank), padded by repetition to
``R * ceil(n / R)`` items (or cut to ``R * floor(n / R)`` with ``drop_last``), and rank ``r``
takes positions ``r, r + R, r + 2R, ...`` -- the rule of ``torch``'s ``DistributedSampler``,
over a list that :class:`~eoforge.curation.dynamic.DynamicCurator` replaces between epochs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

from eoforge.core.errors import bad_value


class CuratedSampler(Sampler[int]):
    """Sampler over a swappable index list, sharded across DDP ranks like ``DistributedSampler``.

    Every epoch the current indices are shuffled with a generator seeded by ``seed + epoch``
    (identical on all ranks), padded by repeating the first items up to a multiple of
    ``num_replicas`` (or truncated with ``drop_last``), and rank ``r`` takes positions
    ``r, r + R, r + 2R, ...``: equal-length shards, disjoint apart from the padding, together
    covering every index.

    Args:
        indices: Initial dataset indices (e.g. ``DynamicCurator.indices_for_epoch(0, ...)``).
        shuffle: Shuffle every epoch.
        seed: Base seed of the shuffling.
        num_replicas: Number of ranks (default: the torch.distributed world size, else 1).
        rank: This rank (default: the torch.distributed rank, else 0).
        drop_last: Drop the tail instead of padding.
    """

    def __init__(
        self,
        indices: np.ndarray,
        *,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        dist = torch.distributed
        ready = dist.is_available() and dist.is_initialized()
        if num_replicas is None:
            num_replicas = dist.get_world_size() if ready else 1
        if rank is None:
            rank = dist.get_rank() if ready else 0
        if isinstance(num_replicas, bool) or num_replicas < 1:
            raise bad_value("num_replicas", num_replicas, "a positive int")
        if isinstance(rank, bool) or not 0 <= rank < num_replicas:
            raise bad_value("rank", rank, f"an int in 0..{num_replicas - 1}")
        self.shuffle = shuffle
        self.seed = int(seed)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.drop_last = drop_last
        self.epoch = 0
        self.set_indices(indices)

    def set_indices(self, indices: np.ndarray) -> None:
        """Replace the index list (takes effect at the next iteration)."""
        arr = np.asarray(indices)
        if arr.ndim != 1 or arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
            raise bad_value(
                "indices",
                f"<array shape={arr.shape} dtype={arr.dtype}>",
                "a non-empty 1-D int array",
            )
        if arr.min() < 0:
            raise bad_value("indices", int(arr.min()), "non-negative dataset indices")
        if self.drop_last and arr.size < self.num_replicas:
            raise bad_value(
                "indices", f"<{arr.size} items>", f"at least num_replicas={self.num_replicas} items"
            )
        self.indices = torch.as_tensor(arr.astype(np.int64))

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (changes the shuffling, as ``DistributedSampler.set_epoch``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        n, r = int(self.indices.numel()), self.num_replicas
        return n // r if self.drop_last else -(-n // r)

    def __iter__(self) -> Iterator[int]:
        idx = self.indices  # (n,)
        if self.shuffle:
            gen = torch.Generator()
            gen.manual_seed(self.seed + self.epoch)
            idx = idx[torch.randperm(idx.numel(), generator=gen)]
        total = len(self) * self.num_replicas
        if total > idx.numel():  # pad by repetition (wraps around if needed)
            reps = -(-total // idx.numel())
            idx = idx.repeat(reps)
        idx = idx[:total][self.rank : total : self.num_replicas]  # (len(self),)
        return iter(idx.tolist())
