"""Tests of the silhouette and of the choice of K (average silhouette width, as fpc::pamk)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score, silhouette_score

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.clustering.kmedoids import check_dissimilarity
from eoforge.extremes.clustering.selection import (
    KSelection,
    choose_k,
    silhouette_samples_precomputed,
)


def planted(n: int, k: int, seed: int, std: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """k Gaussian blobs with centres 10 apart on a circle (well separated by construction)."""
    angle = 2 * np.pi * np.arange(k) / k
    radius = 10 / (2 * np.sin(np.pi / k))  # neighbouring centres are 10 apart
    centers = radius * np.column_stack([np.cos(angle), np.sin(angle)])
    X, y = make_blobs(n, centers=centers, cluster_std=std, random_state=seed)
    return cdist(X, X), y


def silhouette_loop(D: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rousseeuw (1987) written out site by site; s(i) = 0 in a singleton cluster."""
    out = np.zeros(len(labels))
    for i, li in enumerate(labels):
        own = labels == li
        if own.sum() == 1:
            continue
        a = D[i, own].sum() / (own.sum() - 1)
        b = min(D[i, labels == c].mean() for c in np.unique(labels) if c != li)
        out[i] = (b - a) / max(a, b)
    return out


@pytest.mark.parametrize("true_k", [2, 3, 4])
def test_choose_k_finds_planted_k(true_k):
    D, y = planted(160, true_k, seed=true_k)
    sel = choose_k(D, range(2, 9), random_state=0)
    assert isinstance(sel, KSelection)
    assert sel.best_k == true_k
    assert adjusted_rand_score(y, sel.labels) == 1.0
    cols = sel.as_arrays()
    assert cols["k"].tolist() == list(range(2, 9))
    assert sel.best_k == cols["k"][np.argmax(cols["silhouette"])]
    # table entries are those of the fitted partitions
    for row in sel.table:
        labels = sel.labels_by_k[row.k]
        assert np.unique(labels).size == row.k
        assert row.silhouette == pytest.approx(
            silhouette_score(D, labels, metric="precomputed"), abs=1e-12
        )
    med = sel.model.medoid_indices_
    assert sel.table[sel.best_k - 2].inertia == pytest.approx(D[:, med].min(axis=1).sum())


def test_silhouette_matches_independent_formula_and_sklearn():
    rng = np.random.default_rng(4)
    A = rng.random((40, 40))
    D = (A + A.T) / 2
    np.fill_diagonal(D, 0.0)
    labels = rng.integers(0, 4, 40)
    labels[7] = 9  # a singleton cluster: s = 0
    s = silhouette_samples_precomputed(D, labels)
    np.testing.assert_allclose(s, silhouette_loop(D, labels), atol=1e-12)
    assert s[7] == 0.0
    assert s.mean() == pytest.approx(silhouette_score(D, labels, metric="precomputed"), abs=1e-12)
    s32 = silhouette_samples_precomputed(D.astype(np.float32), labels)
    np.testing.assert_allclose(s32, s, atol=1e-5)


def test_choose_k_reuses_one_memmap_and_is_deterministic(tmp_path):
    D, _ = planted(120, 3, seed=9, std=1.5)
    mm = np.memmap(tmp_path / "d.f32", dtype=np.float32, mode="w+", shape=D.shape)
    mm[:] = D
    checked = check_dissimilarity(mm)
    assert np.shares_memory(checked, mm)  # validated without a copy
    a = choose_k(checked, range(2, 7), init="k-medoids++", random_state=3, check=False)
    b = choose_k(mm, range(2, 7), init="k-medoids++", random_state=3)
    assert a.table == b.table
    assert a.best_k == b.best_k == 3
    c = choose_k(D.astype(np.float32), range(2, 7), method="pam")
    assert c.best_k == 3


def test_selection_input_errors():
    D, _ = planted(20, 2, seed=0)
    with pytest.raises(InputError, match="k_range"):
        choose_k(D, [1, 2])
    with pytest.raises(InputError, match="k_range"):
        choose_k(D, [2, 20])
    with pytest.raises(InputError, match="k_range"):
        choose_k(D, [])
    with pytest.raises(InputError, match="k_range"):
        choose_k(D, [3, 3])
    with pytest.raises(ShapeError, match="labels"):
        silhouette_samples_precomputed(D, np.zeros(19, int))
    with pytest.raises(InputError, match="clusters"):
        silhouette_samples_precomputed(D, np.zeros(20, int))
