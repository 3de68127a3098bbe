"""Torch k-means backend: against faiss, planted clusters, warm starts, chunking, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import adjusted_rand_score

from eoforge.core.errors import InputError, ShapeError
from eoforge.curation import kmeans_torch as kt
from eoforge.curation.hierarchy import closest_per_cluster, hierarchical_kmeans
from eoforge.curation.kmeans import KMeans, choose_backend


def _blobs(n: int, k: int, d: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * spread
    y = rng.integers(0, k, n)
    return (centers[y] + rng.normal(size=(n, d))).astype(np.float32), y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_torch_inertia_within_one_percent_of_faiss(seed):
    X, _ = _blobs(3000, 20, 16, 2.0, seed)
    kw = dict(n_iter=30, n_init=2, random_state=seed, device="cpu")
    ours = KMeans(20, backend="torch", **kw).fit(X)
    ref = KMeans(20, backend="faiss", **kw).fit(X)
    assert ours.backend_ == "torch" and ref.backend_ == "faiss"
    assert abs(ours.inertia_ - ref.inertia_) / ref.inertia_ < 0.01
    # inertia_, labels_ and sqdist_ agree with a float64 recomputation
    d2 = ((X[:, None, :].astype(np.float64) - ours.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ours.labels_, d2.argmin(1))
    np.testing.assert_allclose(ours.sqdist_, d2.min(1), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(ours.inertia_, d2.min(1).sum(), rtol=1e-5)


def test_planted_clusters_recovered():
    X, y = _blobs(2000, 12, 10, 25.0, seed=3)
    km = KMeans(12, backend="torch", random_state=0).fit(torch.from_numpy(X))
    assert adjusted_rand_score(y, km.labels_) == 1.0
    assert km.objective_history_[-1] <= km.objective_history_[0]


def test_warm_start_converges_faster_to_no_worse_inertia():
    X, _ = _blobs(3000, 30, 12, 2.0, seed=4)
    fresh = KMeans(30, n_iter=200, tol=1e-6, check_every=1, backend="torch", random_state=0)
    fresh.fit(X)
    # a warm start from the centroids of an early stop, like a resampling step's refit
    early = KMeans(30, n_iter=3, backend="torch", random_state=0).fit(X)
    warm = KMeans(30, n_iter=200, tol=1e-6, check_every=1, init=early.cluster_centers_,
                  backend="torch").fit(X)  # fmt: skip
    assert warm.n_iter_ < fresh.n_iter_
    assert warm.inertia_ <= fresh.inertia_ * (1 + 1e-6)


def test_chunked_equals_unchunked_and_deterministic():
    X, _ = _blobs(1500, 16, 8, 3.0, seed=5)
    whole = KMeans(16, backend="torch", random_state=1).fit(X)
    tiny = KMeans(16, backend="torch", chunk_budget=16 * 37, random_state=1).fit(X)
    again = KMeans(16, backend="torch", random_state=1).fit(X)
    np.testing.assert_array_equal(whole.labels_, tiny.labels_)
    np.testing.assert_allclose(whole.cluster_centers_, tiny.cluster_centers_, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(whole.cluster_centers_, again.cluster_centers_)  # bitwise
    labels, _ = kt.nearest(torch.from_numpy(X), torch.from_numpy(whole.cluster_centers_), 16 * 5)
    np.testing.assert_array_equal(labels.numpy(), whole.labels_)


def test_empty_clusters_take_the_farthest_points():
    X = torch.tensor([[0.0], [0.1], [0.2], [5.0], [9.0]])
    labels = torch.zeros(5, dtype=torch.int64)
    d2 = (X[:, 0] - 2.86) ** 2  # distance to the one used centroid
    C = kt.update_centroids(X, labels, d2, torch.zeros(3, 1), spherical=False)
    assert C[0, 0].item() == pytest.approx(2.86, abs=1e-5)
    assert C[1, 0].item() == 9.0 and C[2, 0].item() == 0.0  # farthest first: 9 (d=37), 0 (8.2)


def test_no_host_sync_in_lloyd_and_seeding(monkeypatch):
    X = torch.from_numpy(_blobs(500, 5, 4, 5.0, seed=6)[0])
    gen = torch.Generator().manual_seed(0)

    def refuse(*_a, **_k):
        raise AssertionError("host synchronisation")

    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "numpy"):
        monkeypatch.setattr(torch.Tensor, name, refuse)
    C = X[kt.greedy_kmeanspp(X, 5, gen)]
    C, hist = kt.lloyd(X, C, 6, tol=0.0)  # tol > 0 reads the objective every check_every
    assert C.shape == (5, 4) and hist.shape == (6,)


def test_greedy_seeds_on_separated_blobs_one_each():
    X, _ = _blobs(3000, 10, 8, 20.0, seed=7)
    Xt = torch.from_numpy(X)
    for s in range(4):
        idx = kt.greedy_kmeanspp(Xt, 10, torch.Generator().manual_seed(s))
        rng = np.random.default_rng(7)
        centers = rng.normal(size=(10, 8)) * 20.0
        nearest_center = ((X[idx.numpy(), None] - centers[None]) ** 2).sum(-1).argmin(1)
        assert sorted(nearest_center) == list(range(10))


def test_hierarchy_same_on_both_backends_and_warm_start():
    X, y = _blobs(1200, 8, 6, 30.0, seed=8)
    kw = dict(n_resampling=2, seed=0, device="cpu")
    hf = hierarchical_kmeans(X, (8, 2), backend="faiss", **kw)
    ht = hierarchical_kmeans(torch.from_numpy(X), (8, 2), backend="torch", **kw)
    assert adjusted_rand_score(y, ht.labels(1)) == 1.0
    assert adjusted_rand_score(hf.labels(1), ht.labels(1)) == 1.0
    # |x|^2 ~ 5000 here: float32 cancellation in |x|^2 - 2 x.c + |c|^2 leaves ~4e-3 either way
    np.testing.assert_allclose(hf.distances, ht.distances, rtol=1e-3, atol=2e-2)
    hw = hierarchical_kmeans(X, (8, 2), backend="torch", warm_start=True, **kw)
    assert adjusted_rand_score(y, hw.labels(1)) == 1.0


def test_clear_errors():
    X, _ = _blobs(100, 3, 4, 2.0, seed=0)
    with pytest.raises(InputError, match="backend"):
        KMeans(3, backend="cuml").fit(X)
    with pytest.raises(InputError, match="device"):
        choose_backend(X, "tpu", "auto")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="gpu"):
            KMeans(3, backend="torch", device="gpu").fit(X)
    with pytest.raises(ShapeError, match="init has shape"):
        KMeans(3, init=np.zeros((2, 4), np.float32)).fit(X)
    with pytest.raises(InputError, match="afk-mc2"):
        KMeans(3, backend="torch", init="afk-mc2").fit(X)
    bad = torch.from_numpy(X.copy())
    bad[7, 0] = float("inf")
    with pytest.raises(InputError, match="first row 7"):
        KMeans(3, backend="torch").fit(bad)
    with pytest.raises(InputError, match="resampling_n_iter"):
        hierarchical_kmeans(X, (3,), resampling_n_iter=0)


def test_closest_per_cluster_tensor_matches_lexsort():
    rng = np.random.default_rng(9)
    labels = rng.integers(0, 7, 500)
    d2 = rng.integers(0, 20, 500).astype(np.float32)  # many ties: broken by index
    order = np.lexsort((np.arange(500), d2, labels))
    rank = np.arange(500) - np.searchsorted(labels[order], labels[order])
    expected = np.sort(order[rank < 9])
    got = closest_per_cluster(torch.from_numpy(labels), torch.from_numpy(d2), 9)
    np.testing.assert_array_equal(got.numpy(), expected)
    np.testing.assert_array_equal(closest_per_cluster(labels, d2, 9), expected)


def test_polish_lowers_level1_inertia():
    X, _ = _blobs(3000, 40, 8, 1.5, seed=10)
    kw = dict(n_resampling=3, seed=0, device="cpu")
    plain = hierarchical_kmeans(X, (24, 4), **kw)
    polished = hierarchical_kmeans(X, (24, 4), polish_n_iter=3, **kw)
    assert polished.distances.sum() < plain.distances.sum()
    with pytest.raises(InputError, match="polish_n_iter"):
        hierarchical_kmeans(X, (3,), polish_n_iter=-1)
