r"""Balanced hierarchical sampling (Vo et al. 2024, arXiv 2405.15613, Sect. 4.2).

Given a :class:`~eoforge.curation.hierarchy.Hierarchy` of ``L`` levels and a target size ``N``,
the quota of every cluster is decided top-down:

1. **Cap rule.** For a group of clusters with point counts :math:`n_1, \dots, n_m` that must
   supply :math:`T` points (at the top level the group is all top clusters and :math:`T = N`),
   find the largest integer cap

   .. math::

       c^\star = \max \{ c \in \mathbb{N} : \textstyle\sum_i \min(c, n_i) \le T \}

   and give :math:`q_i = \min(c^\star, n_i)`: clusters smaller than the cap are kept whole, the
   others are truncated to the same cap (balance). The remainder
   :math:`r = T - \sum_i q_i` is smaller than the number of clusters with :math:`n_i > c^\star`
   (otherwise :math:`c^\star + 1` would fit), so it is handed out one point each to the ``r``
   largest of them (ties: lower cluster index first) -- deterministic, and no cluster exceeds
   :math:`c^\star + 1`. Hence :math:`\sum_i q_i = T` exactly whenever :math:`T \le \sum_i n_i`.
2. **Recursion.** The quota of a level-:math:`\ell` cluster is split among its children at level
   :math:`\ell - 1` with the same rule, down to the level-1 clusters.
3. **Leaf rule** (parameter :math:`\eta \in [0, 1]`). A level-1 cluster with quota :math:`q`
   keeps its :math:`\operatorname{round}(\eta q)` points closest to its centroid (Vo et al.'s
   ``"c"`` rule, prototypical points) and draws the other :math:`q - \operatorname{round}(\eta q)`
   uniformly without replacement among its remaining points (Vo et al.'s ``"r"`` rule). So
   :math:`\eta = 0` is uniform random sampling within clusters (Vo et al.'s default),
   :math:`\eta = 1` is closest-first, and values in between mix the two. This is the
   "fraction closest / fraction random" reading of the paper's :math:`\eta` (see
   ``notes/ssl_pruning.md`` Sect. 2.3: Kerdreux et al.'s exact formula was not available).
   Distances are those of :attr:`Hierarchy.distances` (squared L2, i.e. ``2 (1 - cos)`` for
   spherical k-means); ties are broken by point index.

Sampling is without replacement: ``target_size`` may not exceed the number of points.
"""

from __future__ import annotations

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.core.seeding import RandomState, as_generator
from eoforge.curation.hierarchy import Hierarchy


def cap_quotas(sizes: np.ndarray, target: int) -> tuple[np.ndarray, int]:
    r"""Quotas of one group of clusters by the cap rule (see the module docstring, step 1).

    Args:
        sizes: ``(m,)`` non-negative cluster sizes :math:`n_i`.
        target: Points :math:`T` the group must supply, ``0 <= T <= sum(sizes)``.

    Returns:
        ``(quotas, cap)``: int64 quotas summing to ``target`` with ``quotas <= sizes`` and
        ``quotas <= cap + 1``, and the cap :math:`c^\star` (``max(sizes)`` when everything fits).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    total = int(sizes.sum())
    if target < 0 or target > total:
        raise bad_value("target", target, f"an int in 0..{total} (the points available)")
    if sizes.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if target == total:
        return sizes.copy(), int(sizes.max())
    # F(c) = sum_i min(c, n_i) is piecewise linear and non-decreasing: with the j smallest clusters
    # whole, the cap is floor((T - prefix_j) / (m - j)); the first j whose candidate cap does not
    # reach the next size is the right one.
    s = np.sort(sizes)
    m = s.size
    prefix = np.concatenate(([0], np.cumsum(s)[:-1]))  # sum of the j smallest, j = 0..m-1
    caps = (target - prefix) // (m - np.arange(m))
    j = int(np.argmax(caps < s))  # exists because target < total
    cap = int(caps[j])
    quotas = np.minimum(sizes, cap)
    remainder = target - int(quotas.sum())
    if remainder:
        over = np.flatnonzero(sizes > cap)
        order = over[np.lexsort((over, -sizes[over]))]  # largest first, ties by index
        quotas[order[:remainder]] += 1
    return quotas, cap


def hierarchical_quotas(hierarchy: Hierarchy, target_size: int) -> list[np.ndarray]:
    """Quota of every cluster at every level (top-down cap rule).

    Returns:
        ``quotas[l]`` is the ``(k_{l+1},)`` int64 quota array of the level-(l+1) clusters; each
        level sums to ``target_size``.
    """
    L = hierarchy.n_levels
    quotas: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * L
    quotas[L - 1], _ = cap_quotas(hierarchy.sizes[L - 1], target_size)
    for level in range(L - 1, 0, -1):  # split level-(level+1) quotas among level-`level` clusters
        parent = hierarchy.assignments[level]  # (k_level,) child -> parent
        child_sizes = hierarchy.sizes[level - 1]
        q = np.zeros(child_sizes.shape[0], dtype=np.int64)
        order = np.argsort(parent, kind="stable")
        bounds = np.searchsorted(parent[order], np.arange(quotas[level].size + 1))
        for p, quota in enumerate(quotas[level]):
            if quota == 0:
                continue
            kids = order[bounds[p] : bounds[p + 1]]
            q[kids], _ = cap_quotas(child_sizes[kids], int(quota))
        quotas[level - 1] = q
    return quotas


def _check_eta(eta: float) -> float:
    if isinstance(eta, bool) or not isinstance(eta, int | float | np.floating | np.integer):
        raise bad_value("eta", eta, "a float in [0, 1]")
    if not (0.0 <= float(eta) <= 1.0):
        raise bad_value(
            "eta",
            eta,
            "a float in [0, 1]",
            "eta is the fraction of each cluster's quota taken closest to its centroid "
            "(0 = uniform random, 1 = closest first).",
        )
    return float(eta)


def leaf_sample(
    labels: np.ndarray,
    distances: np.ndarray,
    quotas: np.ndarray,
    eta: float = 0.0,
    seed: RandomState = 0,
) -> np.ndarray:
    """Pick ``quotas[c]`` points of every cluster ``c`` by the eta rule (module docstring, step 3).

    Vectorised over all points: one sort by (cluster, distance) ranks points for the closest part,
    one sort by (cluster, closest-flag, random key) picks the random part.

    Args:
        labels: ``(n,)`` int cluster of every point.
        distances: ``(n,)`` distance of every point to its cluster centroid.
        quotas: ``(k,)`` points to keep per cluster (``quotas[c] <= #points in c``).
        eta: Fraction of each quota taken closest to the centroid, in ``[0, 1]``.
        seed: Seed or generator of the random part.

    Returns:
        Sorted int64 indices of the selected points (``quotas.sum()`` of them).
    """
    eta = _check_eta(eta)
    labels = np.asarray(labels, dtype=np.int64)
    quotas = np.asarray(quotas, dtype=np.int64)
    n = labels.size
    idx = np.arange(n)
    n_closest = np.rint(eta * quotas).astype(np.int64)  # per cluster
    closest = np.zeros(n, dtype=bool)
    if n_closest.any():
        order = np.lexsort((idx, np.asarray(distances), labels))
        sl = labels[order]
        rank = idx - np.searchsorted(sl, sl, side="left")
        closest[order[rank < n_closest[sl]]] = True
    n_random = quotas - n_closest
    key = as_generator(seed).random(n)
    order = np.lexsort((key, closest, labels))  # within a cluster: non-closest first, random order
    sl = labels[order]
    rank = idx - np.searchsorted(sl, sl, side="left")
    chosen = closest.copy()
    chosen[order[(rank < n_random[sl]) & ~closest[order]]] = True
    return np.flatnonzero(chosen).astype(np.int64)


def balanced_sample(
    hierarchy: Hierarchy,
    target_size: int,
    eta: float = 0.0,
    seed: RandomState = 0,
) -> np.ndarray:
    """Vo et al.'s balanced hierarchical sampling of ``target_size`` points (module docstring).

    Args:
        hierarchy: Output of :func:`~eoforge.curation.hierarchy.hierarchical_kmeans`.
        target_size: Number of points to select, ``1 <= target_size <= hierarchy.n_points``.
        eta: Within-cluster rule: the fraction of each level-1 quota taken closest to the
            centroid, the rest uniformly at random (0 = random, Vo et al.'s default; 1 = closest).
        seed: Seed or generator for the random within-cluster draws.

    Returns:
        Sorted int64 indices of the selected points.

    Raises:
        InputError: ``target_size`` out of range or ``eta`` outside ``[0, 1]``.
    """
    n = hierarchy.n_points
    if (
        isinstance(target_size, bool)
        or not isinstance(target_size, int | np.integer)
        or not 1 <= target_size <= n
    ):
        raise bad_value(
            "target_size",
            target_size,
            f"an int in 1..{n} (the number of clustered points)",
            "Sampling is without replacement.",
        )
    _check_eta(eta)
    quotas = hierarchical_quotas(hierarchy, int(target_size))
    return leaf_sample(hierarchy.assignments[0], hierarchy.distances, quotas[0], eta, seed)
