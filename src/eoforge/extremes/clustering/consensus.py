"""Combining the partitions of M climate models, and comparing two partitions.

Two consensus rules (notes/extremes.md §1.6; the paper's own rule is not public):

- Mean-dissimilarity consensus: D_bar = (1/M) sum_m D^(m) over the M models on a common grid,
  then k-medoids on D_bar. Entries that are NaN in a model (masked site) are left out of that
  entry's mean.
- Co-association consensus (evidence accumulation, Fred & Jain 2005): A_ij = share of the models,
  among those where both sites are valid, in which i and j share a cluster; then k-medoids on
  1 - A. Needs no label alignment between models.

Partition comparison (e.g. natural-only against all-forcing runs):

- adjusted Rand index (Hubert & Arabie 1985), via ``sklearn.metrics.adjusted_rand_score``;
- variation of information (Meila 2007), natural log, from the contingency table p_ij:
  VI(a, b) = H(a) + H(b) - 2 I(a, b) = -sum_ij p_ij [log(p_ij / p_i.) + log(p_ij / p_.j)];
- Hungarian matching of the labels (``scipy.optimize.linear_sum_assignment``) so that maps of the
  two partitions use the same colours, and the number of sites that change region.

Labels: integers >= 0 name clusters; -1 (any negative integer) or NaN marks a masked site, which is
left out of every count.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes.clustering.kmedoids import (
    InitMethod,
    KMedoids,
    SwapMethod,
    check_dissimilarity,
)
from eoforge.extremes.clustering.selection import KSelection, choose_k

_BLOCK_ROWS = 1024


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------
def as_labels(x: Any, name: str = "labels") -> np.ndarray:
    """Return labels as a 1-D int64 array with -1 for masked sites (negative or NaN input).

    Args:
        x: 1-D integer labels, float labels (integer-valued, NaN = masked), or any other
            hashable labels (strings...), which are numbered in sorted order.
        name: Argument name used in error messages.

    Returns:
        (n,) int64 labels; -1 marks a masked site.
    """
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ShapeError(f"{name} must be a 1-D array of site labels, got shape {arr.shape}.")
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.integer):
        out = arr.astype(np.int64)
        out[out < 0] = -1
        return out
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        vals = arr[finite]
        if np.any(vals != np.round(vals)):
            raise bad_value(name, x, "integer-valued cluster labels (NaN or -1 for masked sites)")
        out = np.full(arr.shape, -1, np.int64)
        out[finite] = vals.astype(np.int64)
        out[out < 0] = -1
        return out
    _, inverse = np.unique(arr, return_inverse=True)
    return inverse.astype(np.int64).ravel()


def _paired(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    """Both label vectors restricted to the sites valid in both."""
    la, lb = as_labels(a, "a"), as_labels(b, "b")
    if la.shape != lb.shape:
        raise ShapeError(f"a and b must label the same sites, got {la.shape} and {lb.shape}.")
    keep = (la >= 0) & (lb >= 0)
    if not keep.any():
        raise InputError("a and b share no valid (unmasked) site; nothing to compare.")
    return la[keep], lb[keep]


def _contingency(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts n_ij of the (row cluster, column cluster) pairs and the two label sets."""
    ua, ia = np.unique(a, return_inverse=True)
    ub, ib = np.unique(b, return_inverse=True)
    counts = np.bincount(ia * ub.size + ib, minlength=ua.size * ub.size)
    return counts.reshape(ua.size, ub.size), ua, ub


# ---------------------------------------------------------------------------------------------
# Partition comparison
# ---------------------------------------------------------------------------------------------
def adjusted_rand_index(a: Any, b: Any) -> float:
    """Adjusted Rand index of two partitions (sites masked in either are left out).

    ARI = (sum_ij C(n_ij, 2) - E) / (1/2 [sum_i C(n_i., 2) + sum_j C(n_.j, 2)] - E), with
    E = sum_i C(n_i., 2) sum_j C(n_.j, 2) / C(n, 2); computed by
    ``sklearn.metrics.adjusted_rand_score``. 1 for identical partitions, ~0 for independent ones.
    """
    la, lb = _paired(a, b)
    return float(adjusted_rand_score(la, lb))


def variation_of_information(a: Any, b: Any) -> float:
    """Variation of information (Meila 2007) in nats; sites masked in either are left out.

    With p_ij = n_ij / n the contingency proportions and p_i., p_.j the margins,

        VI(a, b) = H(a) + H(b) - 2 I(a, b) = H(a | b) + H(b | a)
                 = -sum_ij p_ij [log(p_ij / p_i.) + log(p_ij / p_.j)].

    VI is a metric on partitions, 0 iff they are equal up to relabelling, at most log(n).
    """
    la, lb = _paired(a, b)
    counts, _, _ = _contingency(la, lb)
    p = counts / counts.sum()
    pa = p.sum(axis=1, keepdims=True)
    pb = p.sum(axis=0, keepdims=True)
    nz = p > 0
    terms = p[nz] * (np.log((p / pa)[nz]) + np.log((p / pb)[nz]))
    return float(max(-terms.sum(), 0.0))


def match_labels(reference: Any, labels: Any) -> np.ndarray:
    """Rename the clusters of ``labels`` to the reference clusters they overlap most.

    The one-to-one renaming maximises the number of sites whose new label equals the reference
    label: a linear assignment on the contingency table n_ij (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment`` with ``maximize=True``). Clusters of ``labels`` left
    without a partner (more clusters than the reference) get new labels max(reference) + 1, ...

    Args:
        reference: (n,) reference labels (e.g. the all-forcing partition).
        labels: (n,) labels to rename (e.g. the natural-forcing partition).

    Returns:
        (n,) int64 renamed ``labels``; masked sites stay -1.
    """
    ref, lab = as_labels(reference, "reference"), as_labels(labels, "labels")
    if ref.shape != lab.shape:
        raise ShapeError(
            f"reference and labels must label the same sites, got {ref.shape} and {lab.shape}."
        )
    keep = (ref >= 0) & (lab >= 0)
    own = np.unique(lab[lab >= 0])
    mapping: dict[int, int] = {}
    if keep.any():
        counts, ur, ul = _contingency(ref[keep], lab[keep])
        rows, cols = linear_sum_assignment(counts, maximize=True)
        mapping = {int(ul[c]): int(ur[r]) for r, c in zip(rows, cols, strict=True)}
    next_label = int(ref.max()) + 1 if (ref >= 0).any() else 0
    for c in own:
        if int(c) not in mapping:
            mapping[int(c)] = next_label
            next_label += 1
    out = np.full(lab.shape, -1, np.int64)
    for old, new in mapping.items():
        out[lab == old] = new
    return out


def compare_partitions(a: Any, b: Any) -> dict[str, Any]:
    """Compare two partitions of the same sites (e.g. all-forcing ``a``, natural-only ``b``).

    Returns:
        A dict with ``ari`` (adjusted Rand index), ``vi`` (variation of information, nats),
        ``vi_normalized`` (VI / log n, in [0, 1]), ``n_sites`` (sites valid in both),
        ``n_clusters_a``, ``n_clusters_b``, ``b_matched`` (``b`` renamed onto ``a`` by
        :func:`match_labels`, for maps), ``n_changed_after_matching`` (valid sites whose matched
        label differs from ``a``) and ``share_changed`` (that count / ``n_sites``).
    """
    la, lb = as_labels(a, "a"), as_labels(b, "b")
    pa, pb = _paired(la, lb)
    n = pa.size
    matched = match_labels(la, lb)
    keep = (la >= 0) & (lb >= 0)
    n_changed = int(np.count_nonzero(matched[keep] != la[keep]))
    vi = variation_of_information(la, lb)
    return {
        "ari": adjusted_rand_index(la, lb),
        "vi": vi,
        "vi_normalized": vi / np.log(n) if n > 1 else 0.0,
        "n_sites": int(n),
        "n_clusters_a": int(np.unique(pa).size),
        "n_clusters_b": int(np.unique(pb).size),
        "b_matched": matched,
        "n_changed_after_matching": n_changed,
        "share_changed": n_changed / n,
    }


# ---------------------------------------------------------------------------------------------
# Consensus
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsensusResult:
    """A consensus partition.

    Attributes:
        labels: (n,) consensus cluster of every site.
        medoid_indices: (k,) medoid site of every cluster.
        dissimilarity: (n, n) matrix that was clustered (D_bar, or 1 - A).
        n_models: Number of partitions or matrices combined.
        model: The fitted :class:`KMedoids`.
        selection: The K-selection table when ``n_clusters="auto"``, else None.
    """

    labels: np.ndarray
    medoid_indices: np.ndarray
    dissimilarity: np.ndarray
    n_models: int
    model: KMedoids
    selection: KSelection | None


def _cluster(
    D: np.ndarray,
    n_models: int,
    n_clusters: int | Literal["auto"],
    k_range: Iterable[int],
    init: InitMethod,
    method: SwapMethod,
    random_state: int | np.random.Generator | None,
) -> ConsensusResult:
    D = check_dissimilarity(D)
    selection = None
    if isinstance(n_clusters, str):
        if n_clusters != "auto":
            raise bad_value("n_clusters", n_clusters, "a positive integer or 'auto'")
        selection = choose_k(
            D, k_range, init=init, method=method, random_state=random_state, check=False
        )
        model = selection.model
    elif isinstance(n_clusters, numbers.Integral) and not isinstance(n_clusters, bool):
        model = KMedoids(int(n_clusters), init=init, method=method, random_state=random_state)
        model.fit(D, check=False)
    else:
        raise bad_value("n_clusters", n_clusters, "a positive integer or 'auto'")
    return ConsensusResult(
        labels=model.labels_,
        medoid_indices=model.medoid_indices_,
        dissimilarity=D,
        n_models=n_models,
        model=model,
        selection=selection,
    )


def mean_dissimilarity(matrices: Iterable[Any]) -> tuple[np.ndarray, int]:
    """D_bar_ij = mean over the models m where D^(m)_ij is finite, accumulated in place.

    Only one model matrix is held at a time (pass a generator that loads the models one by one);
    the memory used is one float64 (n, n) sum, plus an int32 count matrix if some entry is NaN.

    Returns:
        (D_bar as float64 with a zero diagonal, number of matrices M).
    """
    total: np.ndarray | None = None
    count: np.ndarray | None = None
    n_models = 0
    for m, mat in enumerate(matrices):
        arr = mat if isinstance(mat, np.ndarray) else np.asarray(mat)
        if total is None:
            if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
                raise ShapeError(
                    f"matrices[0] must be a square (n, n) dissimilarity matrix, got {arr.shape}."
                )
            total = np.zeros(arr.shape, np.float64)
        elif arr.shape != total.shape:
            raise ShapeError(
                f"matrices[{m}] has shape {arr.shape} but matrices[0] has {total.shape}; "
                "regrid every model onto the same sites first."
            )
        for r0 in range(0, arr.shape[0], _BLOCK_ROWS):
            block = np.asarray(arr[r0 : r0 + _BLOCK_ROWS], dtype=np.float64)
            finite = np.isfinite(block)
            if np.any(block[finite] < 0) or np.any(np.isinf(block)):
                raise InputError(
                    f"matrices[{m}] holds negative or infinite values; each model's matrix must "
                    "be a non-negative dissimilarity (NaN marks a masked pair)."
                )
            if count is None and not finite.all():
                count = np.full(total.shape, n_models, np.int32)
                count[:r0] += 1  # earlier blocks of this matrix were all finite
            if count is not None:
                count[r0 : r0 + _BLOCK_ROWS] += finite
                block = np.where(finite, block, 0.0)
            total[r0 : r0 + _BLOCK_ROWS] += block
        n_models += 1
    if total is None:
        raise InputError("matrices is empty; pass at least one model's dissimilarity matrix.")
    if count is None:
        total /= n_models
    else:
        np.fill_diagonal(count, max(n_models, 1))
        if (count == 0).any():
            i, j = np.argwhere(count == 0)[0]
            raise InputError(
                f"sites {i} and {j} are masked (NaN) together in every model, so their mean "
                "dissimilarity is undefined; drop sites that are masked in all models."
            )
        total /= count
    np.fill_diagonal(total, 0.0)
    return total, n_models


def mean_dissimilarity_consensus(
    matrices: Iterable[Any],
    n_clusters: int | Literal["auto"] = "auto",
    *,
    k_range: Iterable[int] = range(2, 11),
    init: InitMethod = "build",
    method: SwapMethod = "fasterpam",
    random_state: int | np.random.Generator | None = None,
) -> ConsensusResult:
    """Consensus regions from the mean dissimilarity D_bar = (1/M) sum_m D^(m).

    Args:
        matrices: Iterable of M (n, n) dissimilarity matrices on the same sites (a generator is
            consumed once, one matrix in memory at a time); NaN entries are left out of the mean.
        n_clusters: Number of regions, or ``"auto"`` for the best average silhouette over
            ``k_range`` (:func:`~eoforge.extremes.clustering.selection.choose_k`).
        k_range: Candidate k when ``n_clusters="auto"``.
        init: k-medoids initialisation.
        method: k-medoids swap search (``"fasterpam"`` or ``"pam"``).
        random_state: Seed or Generator.

    Returns:
        A :class:`ConsensusResult` whose ``dissimilarity`` is D_bar.
    """
    D_bar, n_models = mean_dissimilarity(matrices)
    return _cluster(D_bar, n_models, n_clusters, k_range, init, method, random_state)


def coassociation_matrix(labelings: Iterable[Any]) -> np.ndarray:
    """Co-association matrix A_ij = #{m: l_m(i) = l_m(j)} / #{m: i and j valid in model m}.

    Args:
        labelings: (M, n) array or iterable of M label vectors of length n; -1 or NaN marks a
            site masked in that model.

    Returns:
        (n, n) float64 matrix in [0, 1] with a unit diagonal for sites valid in some model; NaN
        where no model has both sites valid.
    """
    same: np.ndarray | None = None
    both: np.ndarray | None = None
    n_models = 0
    for m, raw in enumerate(labelings):
        lab = as_labels(raw, f"labelings[{m}]")
        if same is None:
            same = np.zeros((lab.size, lab.size), np.int32)
        elif lab.size != same.shape[0]:
            raise ShapeError(
                f"labelings[{m}] labels {lab.size} sites but labelings[0] labels {same.shape[0]}."
            )
        valid = lab >= 0
        if both is None and not valid.all():
            both = np.full(same.shape, n_models, np.int32)
        for r0 in range(0, lab.size, _BLOCK_ROWS):
            rows = slice(r0, r0 + _BLOCK_ROWS)
            pair_valid = valid[rows, None] & valid[None, :]
            same[rows] += (lab[rows, None] == lab[None, :]) & pair_valid
            if both is not None:
                both[rows] += pair_valid
        n_models += 1
    if same is None:
        raise InputError("labelings is empty; pass at least one partition.")
    if both is None:
        return same / float(n_models)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(both > 0, same / np.maximum(both, 1), np.nan)


def coassociation_consensus(
    labelings: Iterable[Any],
    n_clusters: int | Literal["auto"] = "auto",
    *,
    k_range: Iterable[int] = range(2, 11),
    init: InitMethod = "build",
    method: SwapMethod = "fasterpam",
    random_state: int | np.random.Generator | None = None,
) -> ConsensusResult:
    """Consensus regions by k-medoids on the co-association dissimilarity 1 - A.

    Args:
        labelings: (M, n) labels or an iterable of M label vectors (-1/NaN = masked site).
        n_clusters: Number of regions, or ``"auto"`` (best average silhouette over ``k_range``).
        k_range: Candidate k when ``n_clusters="auto"``.
        init: k-medoids initialisation.
        method: k-medoids swap search (``"fasterpam"`` or ``"pam"``).
        random_state: Seed or Generator.

    Returns:
        A :class:`ConsensusResult` whose ``dissimilarity`` is 1 - A.

    Raises:
        InputError: If two sites are never valid in the same model (A_ij undefined).
    """
    labelings = list(labelings)
    A = coassociation_matrix(labelings)
    if np.isnan(A).any():
        i, j = np.argwhere(np.isnan(A))[0]
        raise InputError(
            f"sites {i} and {j} are never unmasked in the same model, so their co-association "
            "is undefined; drop sites that are masked in (almost) every model."
        )
    D = 1.0 - A
    np.fill_diagonal(D, 0.0)
    return _cluster(D, len(labelings), n_clusters, k_range, init, method, random_state)
