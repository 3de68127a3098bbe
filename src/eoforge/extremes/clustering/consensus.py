"""Combining the partitions of M climate models into consensus regions.

Two consensus rules (notes/extremes.md §1.6; the paper's own rule is not public):

- Mean-dissimilarity consensus: D_bar = (1/M) sum_m D^(m) over the M models on a common grid,
  then k-medoids on D_bar. Entries that are NaN in a model (masked site) are left out of that
  entry's mean.
- Co-association consensus (evidence accumulation, Fred & Jain 2005): A_ij = share of the models,
  among those where both sites are valid, in which i and j share a cluster; then k-medoids on
  1 - A. Needs no label alignment between models.

Labels: -1 (any negative integer) or NaN marks a site masked in a model (see
:func:`~eoforge.extremes.clustering.partitions.as_labels`); partitions are compared by
:mod:`.partitions`.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes.clustering.kmedoids import (
    InitMethod,
    KMedoids,
    SwapMethod,
    check_dissimilarity,
)
from eoforge.extremes.clustering.partitions import as_labels
from eoforge.extremes.clustering.selection import KSelection, choose_k

_BLOCK_ROWS = 1024


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
