"""Comparing two partitions of the same sites (e.g. natural-only against all-forcing runs).

- adjusted Rand index (Hubert & Arabie 1985), via ``sklearn.metrics.adjusted_rand_score``;
- variation of information (Meila 2007), natural log, from the contingency table p_ij:
  VI(a, b) = H(a) + H(b) - 2 I(a, b) = -sum_ij p_ij [log(p_ij / p_i.) + log(p_ij / p_.j)];
- Hungarian matching of the labels (``scipy.optimize.linear_sum_assignment``) so that maps of the
  two partitions use the same colours, and the number of sites that change region.

Labels: integers >= 0 name clusters; -1 (any negative integer) or NaN marks a masked site, which is
left out of every count.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score

from eoforge.core.errors import InputError, ShapeError, bad_value


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
