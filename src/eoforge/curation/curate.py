r"""One-call curation: hierarchical k-means with resampling, then balanced hierarchical sampling.

.. math::

    S = \operatorname{balanced\_sample}\big(\operatorname{hkm}(X; k_1, \dots, k_L, R),
        N, \eta\big)

(Vo et al. 2024, arXiv 2405.15613; used on the model's own embeddings by Kerdreux et al. 2025,
arXiv 2504.06962).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from eoforge.core.seeding import RandomState, as_generator
from eoforge.curation.balanced import balanced_sample
from eoforge.curation.hierarchy import hierarchical_kmeans


def curate(
    X: object,
    target_size: int,
    n_clusters: Sequence[int],
    seed: RandomState = 0,
    *,
    eta: float = 0.0,
    **kmeans_kw: Any,
) -> np.ndarray:
    """Select ``target_size`` diverse, balanced points of ``X``.

    Args:
        X: ``(n, d)`` embeddings.
        target_size: Number of points to keep (``1..n``).
        n_clusters: Cluster counts ``(k_1, ..., k_L)`` from the bottom level up.
        seed: Seed or generator; the clustering and the sampling get independent derived seeds.
        eta: Within-cluster rule of :func:`~eoforge.curation.balanced.balanced_sample`
            (fraction of each leaf quota taken closest to the centroid; 0 = random).
        **kmeans_kw: Passed to :func:`~eoforge.curation.hierarchy.hierarchical_kmeans`
            (``n_resampling``, ``sample_size``, ``n_iter``, ``init``, ``spherical``, ``device``,
            ``progress``).

    Returns:
        Sorted int64 indices of the selected rows of ``X``.
    """
    rng = as_generator(seed)
    seed_km, seed_sample = (int(s) for s in rng.integers(0, 2**31 - 1, size=2))
    hierarchy = hierarchical_kmeans(X, n_clusters, seed=seed_km, **kmeans_kw)
    return balanced_sample(hierarchy, target_size, eta=eta, seed=seed_sample)
