"""DynamicCurator schedules and persistence."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from eoforge.core.errors import ConfigError, InputError, ShapeError
from eoforge.curation.dynamic import CurationConfig, DynamicCurator
from eoforge.curation.selections import load_selection

N = 240


def _embeddings(n: int = N, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, 8)) * 4
    return (centers[np.arange(n) % 6] + rng.normal(size=(n, 8))).astype(np.float32)


class Recorder:
    """embed() stand-in that records which epochs asked for embeddings."""

    def __init__(self) -> None:
        self.Z = _embeddings()
        self.calls: list[np.ndarray] = []

    def __call__(self, pool: np.ndarray) -> np.ndarray:
        self.calls.append(pool.copy())
        return self.Z[pool]


def _config(**kw) -> CurationConfig:
    base = dict(n_clusters=(12, 3), n_resampling=1, n_iter=10, warmup_epochs=2, refresh_every=3)
    return CurationConfig(**{**base, **kw})


def _run(curator: DynamicCurator, embed: Recorder, epochs: int) -> tuple[list, list]:
    sels, asked = [], []
    for e in range(epochs):
        need = curator.needs_embeddings(e)
        n_calls = len(embed.calls)
        sels.append(curator.indices_for_epoch(e, embed))
        assert (len(embed.calls) > n_calls) == need  # needs_embeddings predicts embed calls
        asked.append(need)
    return sels, asked


def test_dynamic_schedule_warmup_and_refresh():
    embed = Recorder()
    cur = DynamicCurator(_config(), N)
    sels, asked = _run(cur, embed, 9)
    # warm-up epochs 0, 1 on full data, refreshes at 2, 5, 8
    assert asked == [False, False, True, False, False, True, False, False, True]
    assert all(np.array_equal(s, np.arange(N)) for s in sels[:2])
    assert all(s.size == N // 2 for s in sels[2:])
    assert np.array_equal(sels[2], sels[3]) and np.array_equal(sels[2], sels[4])
    assert not np.array_equal(sels[2], sels[5])  # re-curated with a fresh seed
    assert [h["epoch"] for h in cur.history] == [0, 2, 5, 8]
    assert cur.history[1]["kind"] == "curated" and cur.history[1]["n_clusters"] == [12, 3]
    assert cur.history[1]["seconds_clustering"] > 0
    before, after = (
        np.array(cur.history[2][k]) for k in ("top_cluster_sizes", "top_cluster_selected")
    )
    assert before.sum() == N and after.sum() == N // 2 and np.all(after <= before)


def test_modes():
    embed = Recorder()
    none, _ = _run(DynamicCurator(_config(mode="none"), N), embed, 4)
    assert all(np.array_equal(s, np.arange(N)) for s in none) and not embed.calls
    rnd, _ = _run(DynamicCurator(_config(mode="random", ratio=0.25), N), embed, 6)
    assert rnd[0].size == 60 and all(np.array_equal(rnd[0], s) for s in rnd) and not embed.calls
    red, _ = _run(DynamicCurator(_config(mode="random-redrawn"), N), embed, 6)
    assert not embed.calls and red[1].size == N and red[2].size == N // 2
    assert np.array_equal(red[2], red[4]) and not np.array_equal(red[2], red[5])
    cur = DynamicCurator(_config(mode="static"), N)
    st, asked = _run(cur, embed, 6)
    assert asked == [True] + [False] * 5 and len(embed.calls) == 1
    assert all(np.array_equal(st[0], s) for s in st)


def test_pool_is_redrawn_and_ratio_applies_to_pool():
    embed = Recorder()
    cur = DynamicCurator(_config(pool_size=100, ratio=0.3, warmup_epochs=0, refresh_every=1), N)
    a = cur.indices_for_epoch(0, embed)
    b = cur.indices_for_epoch(1, embed)
    assert a.size == b.size == 30
    assert np.isin(a, embed.calls[0]).all() and np.isin(b, embed.calls[1]).all()
    assert embed.calls[0].size == 100 and not np.array_equal(embed.calls[0], embed.calls[1])


def test_deterministic_and_resumable(tmp_path):
    e1, e2 = Recorder(), Recorder()
    s1, _ = _run(DynamicCurator(_config(), N), e1, 6)
    cur = DynamicCurator(_config(), N)
    s2, _ = _run(cur, e2, 6)
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2, strict=True))
    other, _ = _run(DynamicCurator(_config(seed=1), N), Recorder(), 6)
    assert not np.array_equal(other[2], s1[2])
    # resume mid-period from a checkpointed state: no re-embedding, same indices
    interrupted = DynamicCurator(_config(), N)
    _run(interrupted, Recorder(), 4)  # checkpoint after epoch 3
    resumed = DynamicCurator(_config(), N)
    resumed.load_state_dict(interrupted.state_dict())
    assert not resumed.needs_embeddings(4)  # epoch 4 belongs to the selection made at 2
    np.testing.assert_array_equal(resumed.indices_for_epoch(4, None), s1[4])
    # a fresh curator resumed without state re-curates at once
    assert DynamicCurator(_config(), N).needs_embeddings(4)
    # files
    for name in ("sel.npz", "sel.json"):
        path = cur.save_selection(tmp_path / name, epoch=3)
        np.testing.assert_array_equal(load_selection(path), s1[3])
    np.testing.assert_array_equal(cur.selection_at(1), np.arange(N))


def test_class_counts_logged():
    labels = np.arange(N) % 6
    cur = DynamicCurator(_config(warmup_epochs=0), N, labels=labels)
    sel = cur.indices_for_epoch(0, Recorder())
    counts = cur.history[0]["class_counts"]
    assert sum(counts.values()) == sel.size
    assert counts == {str(c): int(np.sum(labels[sel] == c)) for c in range(6)}


def test_errors():
    with pytest.raises(ValidationError):
        CurationConfig(ratio=0.0)
    with pytest.raises(ValidationError):
        CurationConfig(n_clusters=(8, 64))
    with pytest.raises(ConfigError, match="n_clusters"):
        DynamicCurator(_config(n_clusters=(500, 3)), N)
    cur = DynamicCurator(_config(warmup_epochs=0), N)
    with pytest.raises(InputError, match="embed"):
        cur.indices_for_epoch(0, None)
    with pytest.raises(ShapeError, match="embed returned"):
        cur.indices_for_epoch(0, lambda pool: np.zeros((3, 4)))
    with pytest.raises(InputError, match="epoch"):
        cur.needs_embeddings(-1)
