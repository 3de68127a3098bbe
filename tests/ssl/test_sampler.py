"""CuratedSampler: DDP shards of the curator's indices (explicit ranks and torch.distributed)."""

from __future__ import annotations

import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.ssl.sampler import CuratedSampler
from tests.gloo import retry_gloo_mesh


@pytest.mark.parametrize("n", [10, 11, 13])
def test_sampler_shards_two_ranks(n):
    indices = np.arange(100, 100 + n)
    ranks = [CuratedSampler(indices, seed=3, num_replicas=2, rank=r) for r in range(2)]
    for epoch in (0, 1):
        for s in ranks:
            s.set_epoch(epoch)
        shards = [list(s) for s in ranks]
        assert len(shards[0]) == len(shards[1]) == len(ranks[0]) == -(-n // 2)
        together = shards[0] + shards[1]
        assert set(together) == set(indices.tolist())  # cover all
        if n % 2 == 0:
            assert not set(shards[0]) & set(shards[1])  # disjoint
        else:
            assert len(together) == n + 1  # one padded repeat
    e0 = [list(s) for s in ranks]
    for s in ranks:
        s.set_epoch(0)
    assert [list(s) for s in ranks] != e0  # epochs shuffle differently


def test_sampler_set_indices_drop_last_and_order():
    s = CuratedSampler(np.arange(7), shuffle=False, num_replicas=2, rank=1, drop_last=True)
    assert list(s) == [1, 3, 5] and len(s) == 3
    s.set_indices(np.array([40, 41, 42, 43]))
    assert list(s) == [41, 43]
    one = CuratedSampler(np.arange(5), seed=0)
    assert sorted(one) == list(range(5)) and len(one) == 5
    with pytest.raises(InputError, match="rank"):
        CuratedSampler(np.arange(5), num_replicas=2, rank=2)
    with pytest.raises(InputError, match="indices"):
        one.set_indices(np.array([], dtype=np.int64))


def _ddp_worker(rank: int, world: int, init_file: str, out: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        sampler = CuratedSampler(np.arange(50, 71), seed=1)  # rank and world size from DDP
        sampler.set_epoch(2)
        np.save(f"{out}/rank{rank}.npy", np.array(list(sampler)))
    finally:
        dist.destroy_process_group()


def test_sampler_reads_rank_from_torch_distributed(tmp_path):
    import torch.multiprocessing as mp

    retry_gloo_mesh(lambda attempt: mp.spawn(
        _ddp_worker, args=(2, str(tmp_path / f"init{attempt}"), str(tmp_path)), nprocs=2, join=True
    ))  # fmt: skip
    shards = [np.load(tmp_path / f"rank{r}.npy") for r in range(2)]
    assert shards[0].size == shards[1].size == 11  # 21 indices, one padded repeat
    assert set(np.concatenate(shards)) == set(range(50, 71))
    reference = [
        list(CuratedSampler(np.arange(50, 71), seed=1, num_replicas=2, rank=r)) for r in (0, 1)
    ]
    # same shuffling as an explicit 2-rank sampler at the same epoch
    for r in (0, 1):
        s = CuratedSampler(np.arange(50, 71), seed=1, num_replicas=2, rank=r)
        s.set_epoch(2)
        np.testing.assert_array_equal(shards[r], list(s))
    assert reference[0] != list(shards[0])  # epoch 0 differs from epoch 2
