"""Tests of the multi-model consensus (mean dissimilarity, co-association)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes.clustering.consensus import (
    coassociation_consensus,
    coassociation_matrix,
    mean_dissimilarity,
    mean_dissimilarity_consensus,
)
from eoforge.extremes.clustering.kmedoids import KMedoids

TRUE_K = 4


def truth(n: int = 240) -> np.ndarray:
    return np.repeat(np.arange(TRUE_K), n // TRUE_K)


def noisy_labelings(y: np.ndarray, n_models: int, share: float, seed: int) -> np.ndarray:
    """Each model relabels ``share`` of the sites at random and names its clusters its own way."""
    rng = np.random.default_rng(seed)
    out = np.empty((n_models, y.size), np.int64)
    for m in range(n_models):
        lab = y.copy()
        hit = rng.choice(y.size, int(share * y.size), replace=False)
        lab[hit] = (lab[hit] + rng.integers(1, TRUE_K, hit.size)) % TRUE_K  # a different cluster
        out[m] = rng.permutation(TRUE_K)[lab]
    return out


# --------------------------------------------------------------------------------------------
# Co-association
# --------------------------------------------------------------------------------------------
def test_coassociation_of_identical_labelings_is_block_01():
    y = np.random.default_rng(0).integers(0, 5, 50)
    A = coassociation_matrix([y, y, y])
    np.testing.assert_array_equal(A, (y[:, None] == y[None, :]).astype(float))
    # renaming clusters inside a model changes nothing
    renamed = np.array([3, 0, 4, 1, 2])[y]
    np.testing.assert_array_equal(coassociation_matrix(np.stack([y, renamed])), A)


def test_coassociation_with_masked_sites_matches_pairwise_loop():
    rng = np.random.default_rng(1)
    labs = rng.integers(0, 3, (6, 30)).astype(float)
    labs[rng.random(labs.shape) < 0.2] = np.nan
    labs[2, :5] = -1  # the other mask convention
    A = coassociation_matrix(labs)
    ref = np.full((30, 30), np.nan)
    valid = np.isfinite(labs) & (labs >= 0)
    for i in range(30):
        for j in range(30):
            both = valid[:, i] & valid[:, j]
            if both.any():
                ref[i, j] = np.mean(labs[both, i] == labs[both, j])
    np.testing.assert_allclose(A, ref, equal_nan=True)


def test_coassociation_consensus_recovers_truth_from_noisy_models():
    y = truth()
    labs = noisy_labelings(y, n_models=16, share=0.15, seed=2)
    single = np.mean([adjusted_rand_score(y, lab) for lab in labs])
    cons = coassociation_consensus(labs, TRUE_K, random_state=0)
    assert adjusted_rand_score(y, cons.labels) > single + 0.2
    assert adjusted_rand_score(y, cons.labels) == 1.0
    assert cons.n_models == 16
    auto = coassociation_consensus(labs, "auto", random_state=0)
    assert auto.selection is not None
    assert auto.selection.best_k == TRUE_K
    assert adjusted_rand_score(y, auto.labels) == 1.0


def test_coassociation_consensus_errors():
    a = np.array([0, 0, 1, -1])
    b = np.array([0, 1, 1, -1])
    with pytest.raises(InputError, match="never unmasked"):
        coassociation_consensus([a, b], 2)
    with pytest.raises(ShapeError):
        coassociation_matrix([a, a[:3]])
    with pytest.raises(InputError, match="empty"):
        coassociation_matrix([])
    with pytest.raises(InputError, match="n_clusters"):
        coassociation_consensus([a[:3], b[:3]], "best")


# --------------------------------------------------------------------------------------------
# Mean-dissimilarity consensus
# --------------------------------------------------------------------------------------------
def noisy_matrices(seed: int, n_models: int = 12):
    """Four well-separated blobs seen by M models, each with strong multiplicative noise on D."""
    angle = 2 * np.pi * np.arange(TRUE_K) / TRUE_K
    centers = 10 / (2 * np.sin(np.pi / TRUE_K)) * np.column_stack([np.cos(angle), np.sin(angle)])
    X, y = make_blobs(200, centers=centers, cluster_std=1.5, random_state=seed)
    D = cdist(X, X)
    rng = np.random.default_rng(seed)

    def gen():
        for _ in range(n_models):
            E = rng.lognormal(0.0, 1.0, D.shape)
            yield (D * (E + E.T) / 2).astype(np.float32)

    return y, D, gen


def test_mean_dissimilarity_consensus_beats_single_models():
    y, D, gen = noisy_matrices(seed=0)
    assert adjusted_rand_score(y, KMedoids(TRUE_K).fit_predict(D)) == 1.0  # noise-free
    single = [
        adjusted_rand_score(y, KMedoids(TRUE_K, random_state=0).fit_predict(m)) for m in gen()
    ]
    cons = mean_dissimilarity_consensus(gen(), TRUE_K, random_state=0)  # a generator: not stacked
    ari = adjusted_rand_score(y, cons.labels)
    assert np.mean(single) < 0.8
    assert ari > max(single) + 0.1
    assert ari > 0.95
    assert cons.n_models == 12
    auto = mean_dissimilarity_consensus(gen(), "auto", k_range=range(2, 7), random_state=0)
    assert auto.selection.best_k == TRUE_K


def test_mean_dissimilarity_ignores_nan_entries():
    rng = np.random.default_rng(3)
    mats = []
    for _ in range(4):
        A = rng.random((30, 30))
        M = (A + A.T) / 2
        np.fill_diagonal(M, 0.0)
        mats.append(M)
    mats[1][2, :] = mats[1][:, 2] = np.nan  # site 2 masked in model 1
    mats[3][25:, 7] = mats[3][7, 25:] = np.nan  # masked pairs in the second block of rows
    D_bar, M = mean_dissimilarity(iter(mats))
    expected = np.nanmean(np.stack(mats), axis=0)
    np.fill_diagonal(expected, 0.0)
    assert M == 4
    np.testing.assert_allclose(D_bar, expected, rtol=1e-12)
    with pytest.raises(ShapeError):
        mean_dissimilarity([mats[0], mats[0][:29, :29]])
    with pytest.raises(InputError, match="empty"):
        mean_dissimilarity([])
    bad = mats[0].copy()
    bad[0, 1] = -1.0
    with pytest.raises(InputError, match="negative"):
        mean_dissimilarity([bad])
