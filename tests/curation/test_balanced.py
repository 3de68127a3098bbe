"""Balanced hierarchical sampling: exact quotas (brute force), caps, leaf rule, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from eoforge.core.errors import InputError
from eoforge.curation.balanced import balanced_sample, cap_quotas, hierarchical_quotas
from eoforge.curation.hierarchy import Hierarchy


def _brute_cap(sizes: np.ndarray, target: int) -> int:
    c = 0
    while np.minimum(sizes, c + 1).sum() <= target and c < sizes.max():
        c += 1
    return c


def _hierarchy(level1_sizes, parents, seed=0) -> Hierarchy:
    """A planted 2-level hierarchy: points grouped by level-1 cluster, random distances."""
    rng = np.random.default_rng(seed)
    sizes1 = np.asarray(level1_sizes, dtype=np.int64)
    labels = rng.permutation(np.repeat(np.arange(sizes1.size), sizes1))
    parents = np.asarray(parents, dtype=np.int64)
    k2 = int(parents.max()) + 1
    sizes2 = np.bincount(parents, weights=sizes1, minlength=k2).astype(np.int64)
    return Hierarchy(
        assignments=(labels, parents),
        centroids=(np.zeros((sizes1.size, 2), np.float32), np.zeros((k2, 2), np.float32)),
        sizes=(sizes1, sizes2),
        distances=rng.random(labels.size).astype(np.float32),
        spherical=False,
    )


def test_cap_quotas_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(300):
        sizes = rng.integers(0, 40, size=rng.integers(1, 12))
        if sizes.sum() == 0:
            continue
        target = int(rng.integers(0, sizes.sum() + 1))
        q, cap = cap_quotas(sizes, target)
        assert q.sum() == target
        assert np.all(q <= sizes)
        if target < sizes.sum():
            assert cap == _brute_cap(sizes, target)
            small = sizes <= cap
            np.testing.assert_array_equal(q[small], sizes[small])  # small clusters kept whole
            assert np.all(q[~small] >= cap) and np.all(q[~small] <= cap + 1)
            extra = np.flatnonzero(q == cap + 1)
            rest = np.flatnonzero((q == cap) & ~small)
            if extra.size and rest.size:  # remainder goes to the largest clusters
                assert sizes[extra].min() >= sizes[rest].max()


def test_cap_quotas_closed_form():
    q, cap = cap_quotas(np.array([1, 2, 100, 50, 3]), 20)
    # 1 + 2 + 3 whole, then 14 left for two big clusters: cap 7 each
    assert cap == 7
    np.testing.assert_array_equal(q, [1, 2, 7, 7, 3])
    q, cap = cap_quotas(np.array([10, 10, 10]), 10)
    assert cap == 3
    np.testing.assert_array_equal(q, [4, 3, 3])  # remainder to the lowest index on ties


def test_hierarchical_quotas_each_level_exact():
    h = _hierarchy([50, 5, 30, 2, 200, 40, 7, 1], [0, 0, 1, 1, 2, 2, 2, 3])
    target = 60
    q1, q2 = hierarchical_quotas(h, target)
    assert q1.sum() == target and q2.sum() == target
    # top level: sizes (55, 32, 247, 1) -> 1 whole, cap 19 -> 19 + 19 + 19 + 1 = 58, +2 remainder
    np.testing.assert_array_equal(q2, [20, 19, 20, 1])
    # children of each parent split the parent quota by the cap rule
    for p in range(4):
        kids = np.flatnonzero(h.assignments[1] == p)
        expect, _ = cap_quotas(h.sizes[0][kids], int(q2[p]))
        np.testing.assert_array_equal(q1[kids], expect)
    sel = balanced_sample(h, target, seed=1)
    assert sel.size == target and np.all(np.diff(sel) > 0) and sel.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(h.assignments[0][sel], minlength=8), q1)


def test_full_and_single_targets():
    h = _hierarchy([5, 3, 9], [0, 0, 1])
    np.testing.assert_array_equal(balanced_sample(h, 17), np.arange(17))
    assert balanced_sample(h, 1).size == 1
    with pytest.raises(InputError, match="target_size"):
        balanced_sample(h, 18)
    with pytest.raises(InputError, match="target_size"):
        balanced_sample(h, 0)
    with pytest.raises(InputError, match="eta"):
        balanced_sample(h, 5, eta=1.5)


def test_seeds():
    h = _hierarchy([80, 60, 40, 30], [0, 0, 1, 1])
    a = balanced_sample(h, 70, seed=3)
    np.testing.assert_array_equal(a, balanced_sample(h, 70, seed=3))
    assert not np.array_equal(a, balanced_sample(h, 70, seed=4))


def test_eta_one_is_closest_first_and_half_mixes():
    h = _hierarchy([80, 60, 40, 30], [0, 0, 1, 1], seed=2)
    labels, dist = h.assignments[0], h.distances
    q1, _ = hierarchical_quotas(h, 70)
    closest = balanced_sample(h, 70, eta=1.0, seed=0)
    for c in range(4):
        members = np.flatnonzero(labels == c)
        expect = members[np.argsort(dist[members])[: q1[c]]]
        np.testing.assert_array_equal(np.sort(expect), closest[labels[closest] == c])
    half = balanced_sample(h, 70, eta=0.5, seed=0)
    for c in range(4):
        members = np.flatnonzero(labels == c)
        m = int(np.rint(0.5 * q1[c]))
        must = members[np.argsort(dist[members])[:m]]
        assert np.isin(must, half).all()
        assert np.sum(labels[half] == c) == q1[c]


def test_eta_zero_is_uniform_within_clusters():
    h = _hierarchy([100, 100], [0, 1], seed=5)  # quota 20 of 100 in each cluster
    counts = np.zeros(200)
    n_draws = 400
    for s in range(n_draws):
        counts[balanced_sample(h, 40, eta=0.0, seed=s)] += 1
    freq = counts / n_draws  # each point: Binomial(400, 0.2) / 400, sd 0.02
    assert abs(freq.mean() - 0.2) < 1e-12
    assert np.abs(freq - 0.2).max() < 0.1  # > 5 sd: fails if distance drives the choice
    near = h.distances < np.median(h.distances)
    assert abs(freq[near].mean() - freq[~near].mean()) < 0.02
