"""faiss-backed k-means against scikit-learn, numpy recomputation and planted seeds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans as SkKMeans
from threadpoolctl import threadpool_limits

from eoforge.core.errors import InputError, ShapeError
from eoforge.curation.kmeans import KMeans, greedy_kmeanspp


def _mixture(n: int, k: int, d: int, spread: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, d)) * spread
    return (centers[rng.integers(0, k, n)] + rng.normal(size=(n, d))).astype(np.float32)


@pytest.mark.parametrize("spread", [1.0, 3.0])
def test_inertia_matches_sklearn(spread):
    X = _mixture(4000, 25, 16, spread, seed=1)
    # same start for both (this data has many local minima: seeds alone move J by ~10 %)
    C0 = greedy_kmeanspp(X, 25, np.random.default_rng(0))
    ours = KMeans(25, n_iter=100, init=C0).fit(X)
    with threadpool_limits(1):  # the test machine is shared: spinning BLAS threads only slow it
        ref = SkKMeans(25, init=C0, n_init=1, max_iter=100, tol=0.0).fit(X)
    assert abs(ours.inertia_ - ref.inertia_) / ref.inertia_ < 1e-4
    # inertia_ / labels_ agree with a direct numpy computation
    d2 = ((X[:, None, :].astype(np.float64) - ours.cluster_centers_[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(ours.labels_, d2.argmin(1))
    np.testing.assert_allclose(ours.inertia_, d2.min(1).sum(), rtol=1e-4)
    assert ours.objective_history_[-1] <= ours.objective_history_[0]


def test_greedy_seeding_one_seed_per_separated_blob():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 8)) * 20
    y = rng.integers(0, 10, 3000)
    X = (centers[y] + rng.normal(size=(3000, 8))).astype(np.float32)
    for s in range(5):
        seeds = greedy_kmeanspp(X, 10, np.random.default_rng(s))
        nearest = ((seeds[:, None] - centers[None]) ** 2).sum(-1).argmin(1)
        assert sorted(nearest) == list(range(10))


def test_spherical_and_seeding():
    X = _mixture(1500, 6, 12, 2.0, seed=2)
    km = KMeans(6, spherical=True, random_state=3).fit(X)
    np.testing.assert_allclose(np.linalg.norm(km.cluster_centers_, axis=1), 1.0, atol=1e-5)
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    np.testing.assert_array_equal(km.labels_, (Xn @ km.cluster_centers_.T).argmax(1))
    again = KMeans(6, spherical=True, random_state=3).fit(X)
    np.testing.assert_array_equal(km.cluster_centers_, again.cluster_centers_)
    np.testing.assert_array_equal(km.predict(X[:50]), km.labels_[:50])


def test_progress_and_errors():
    X = _mixture(300, 3, 4, 2.0, seed=0)
    ticks = []
    KMeans(3, n_iter=4, n_init=2, random_state=0).fit(X, progress=lambda d, t: ticks.append((d, t)))
    assert ticks[-1] == (8, 8)
    with pytest.raises(InputError, match="n_clusters"):
        KMeans(301).fit(X)
    bad = X.copy()
    bad[5, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        KMeans(3).fit(bad)
    with pytest.raises(ShapeError):
        KMeans(3).fit(X[0])
    with pytest.raises(InputError, match="Call fit"):
        KMeans(3).predict(X)


def test_faiss_threads_restores_setting():
    import faiss

    from eoforge.curation.faiss_backend import faiss_threads

    before = faiss.omp_get_max_threads()
    with faiss_threads(100, 4, 8) as used:  # small problem: one thread
        assert used == 1 and faiss.omp_get_max_threads() == 1
    assert faiss.omp_get_max_threads() == before
    with faiss_threads(10**6, 1000, 128) as used:
        assert used == before
    with pytest.raises(InputError, match="n_threads"), faiss_threads(1, 1, 1, n_threads=0):
        pass
