"""curate() on planted long-tailed classes: rare classes gain share against random sampling."""

from __future__ import annotations

import numpy as np

from eoforge.curation.curate import curate


def _long_tailed(n: int, seed: int):
    """10 well-separated classes, Zipf-like prior (about 54 % in class 0, 1.4 % in class 9)."""
    rng = np.random.default_rng(seed)
    prior = 1.0 / np.arange(1, 11) ** 1.5
    prior /= prior.sum()
    y = rng.choice(10, size=n, p=prior)
    centers = rng.normal(size=(10, 16)) * 6
    return (centers[y] + rng.normal(size=(n, 16))).astype(np.float32), y


def test_curation_raises_rare_class_share():
    X, y = _long_tailed(3000, seed=0)
    target = 600
    rare = y >= 5  # the five rarest classes, about 11 % of the data
    sel = curate(X, target, n_clusters=(40, 8), seed=0, n_resampling=3)
    assert sel.size == target and np.unique(sel).size == target
    rng = np.random.default_rng(1)
    random_share = np.mean(
        [rare[rng.choice(3000, target, replace=False)].mean() for _ in range(50)]
    )
    curated_share = rare[sel].mean()
    assert curated_share > 2 * random_share
    # every class is kept and the selected class histogram is closer to uniform
    counts = np.bincount(y[sel], minlength=10)
    assert counts.min() > 0
    assert counts.max() / counts.min() < np.bincount(y).max() / np.bincount(y).min() / 3


def test_curate_is_seeded():
    X, _ = _long_tailed(800, seed=3)
    a = curate(X, 200, (20, 4), seed=5, n_resampling=1)
    np.testing.assert_array_equal(a, curate(X, 200, (20, 4), seed=5, n_resampling=1))
    assert not np.array_equal(a, curate(X, 200, (20, 4), seed=6, n_resampling=1))
    closest = curate(X, 200, (20, 4), seed=5, n_resampling=1, eta=1.0)
    assert closest.size == 200
