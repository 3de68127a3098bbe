"""Choice of the number of regions K by the average silhouette width (as ``fpc::pamk``).

For site i in cluster A, with a(i) its mean dissimilarity to the other members of A and
b(i) = min_{C != A} (mean dissimilarity of i to the members of C), the silhouette is
(Rousseeuw 1987)

    s(i) = (b(i) - a(i)) / max(a(i), b(i)),   s(i) = 0 if A = {i},

and the average silhouette width of a partition is  s_bar = (1/n) sum_i s(i).  The authors of
arXiv 2111.00798 (and their ERA5 sibling script) run ``pam(D, k)`` for k = 2..10 and keep the k with
the largest s_bar; :func:`choose_k` does the same with :class:`~eoforge.extremes.clustering.kmedoids.KMedoids`,
checking the matrix once and reusing it for every k.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from sklearn.metrics import silhouette_samples

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes.clustering.kmedoids import (
    InitMethod,
    KMedoids,
    SwapMethod,
    check_dissimilarity,
)

WEAK_STRUCTURE = 0.25
"""Average silhouette width at or below which a partition shows no substantial structure.

Kaufman & Rousseeuw (1990, *Finding Groups in Data*, ch. 2) read the best average silhouette as
0.71-1.00 strong, 0.51-0.70 reasonable, 0.26-0.50 weak, <= 0.25 no substantial structure.
"""


def weak_structure_warning(
    best_silhouette: float, k: int, *, threshold: float = WEAK_STRUCTURE
) -> str | None:
    """A warning when the chosen K rests on weak structure (best average silhouette <= threshold).

    Args:
        best_silhouette: Average silhouette width of the chosen partition.
        k: The chosen number of clusters.
        threshold: Widths at or below it warn (default :data:`WEAK_STRUCTURE`).

    Returns:
        The warning, or None when the structure is clear enough (or the width is unknown, NaN).
    """
    if not np.isfinite(best_silhouette) or best_silhouette > threshold:
        return None
    return (
        f"weak structure: K = {k} has the best average silhouette width, but it is only "
        f"{best_silhouette:.3f} (<= {threshold:g}: no substantial structure, Kaufman & Rousseeuw); "
        "the regions may be noise: use more years or sites, or fix K from prior knowledge."
    )


def silhouette_samples_precomputed(
    D: np.ndarray, labels: np.ndarray, *, check: bool = True
) -> np.ndarray:
    """Silhouette s(i) of every site for a precomputed dissimilarity matrix.

    Wraps ``sklearn.metrics.silhouette_samples(D, labels, metric="precomputed")`` (which works in
    row chunks of bounded memory) after checking the inputs; singleton clusters get s(i) = 0, as in
    R ``cluster::silhouette``.

    Args:
        D: (n, n) dissimilarity matrix (see :func:`~eoforge.extremes.clustering.kmedoids.check_dissimilarity`).
        labels: (n,) integer cluster labels with 2 <= number of clusters <= n - 1.
        check: Validate ``D``; pass False only for a matrix already checked.

    Returns:
        (n,) float64 silhouettes in [-1, 1].

    Raises:
        ShapeError: If ``labels`` does not have one entry per row of ``D``.
        InputError: If the number of clusters is not in [2, n - 1].
    """
    if check:
        D = check_dissimilarity(D)
    labels = np.asarray(labels)
    n = D.shape[0]
    if labels.shape != (n,):
        raise ShapeError(
            f"labels must have shape ({n},) to match D of shape {D.shape}, got {labels.shape}."
        )
    n_labels = np.unique(labels).size
    if not 2 <= n_labels <= n - 1:
        raise InputError(
            f"the silhouette needs between 2 and n - 1 = {n - 1} clusters, got {n_labels}; "
            "choose k in [2, n - 1]."
        )
    return silhouette_samples(D, labels, metric="precomputed").astype(np.float64)


class KScore(NamedTuple):
    """One row of the K-selection table."""

    k: int
    silhouette: float
    inertia: float


def k_table_rows(table: Iterable[KScore]) -> list[dict[str, float]]:
    """The K table as JSON-ready rows (``summary.json``), values rounded to 4 decimals."""
    return [
        {"k": r.k, "silhouette": round(r.silhouette, 4), "inertia": round(r.inertia, 4)}
        for r in table
    ]


@dataclass(frozen=True)
class KSelection:
    """Outcome of :func:`choose_k`.

    Attributes:
        table: One :class:`KScore` (k, average silhouette width, inertia TD) per tried k.
        best_k: The k with the largest average silhouette (the smallest such k on ties).
        model: The :class:`KMedoids` fitted with ``best_k``.
        labels_by_k: Labels of the fit for every tried k.
    """

    table: tuple[KScore, ...]
    best_k: int
    model: KMedoids
    labels_by_k: dict[int, np.ndarray] = field(repr=False)

    @property
    def labels(self) -> np.ndarray:
        """Labels of the selected partition (``model.labels_``)."""
        return self.model.labels_

    def warning(self, threshold: float = WEAK_STRUCTURE) -> str | None:
        """:func:`weak_structure_warning` of the best average silhouette of the table."""
        best = max(r.silhouette for r in self.table)
        return weak_structure_warning(best, self.best_k, threshold=threshold)

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The table as columns: ``{"k", "silhouette", "inertia"}``."""
        return {
            "k": np.array([r.k for r in self.table]),
            "silhouette": np.array([r.silhouette for r in self.table]),
            "inertia": np.array([r.inertia for r in self.table]),
        }


def _checked_k_range(k_range: Iterable[int], n: int) -> list[int]:
    """The candidate k as a list: non-empty, distinct integers in [2, n - 1]."""
    ks = list(k_range)
    if not ks:
        raise bad_value("k_range", k_range, "a non-empty range of numbers of clusters")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 2 <= k <= n - 1:
            raise bad_value(
                "k_range",
                k_range,
                f"integers in [2, n - 1] = [2, {n - 1}] (the silhouette needs 2 <= k < n)",
            )
    if len(set(ks)) != len(ks):
        raise bad_value("k_range", k_range, "distinct numbers of clusters")
    return ks


def choose_k(
    D: np.ndarray,
    k_range: Iterable[int] = range(2, 11),
    *,
    init: InitMethod = "build",
    method: SwapMethod = "fasterpam",
    max_iter: int = 100,
    random_state: int | np.random.Generator | None = None,
    check: bool = True,
) -> KSelection:
    """Fit k-medoids for every k in ``k_range`` and keep the k with the best average silhouette.

    s_bar(k) = (1/n) sum_i s_k(i) (module docstring); best_k = argmax_k s_bar(k), as ``fpc::pamk``.
    ``D`` is checked once and the same array (memmap included) is reused for every k.

    Args:
        D: (n, n) dissimilarity matrix.
        k_range: Candidate numbers of clusters, each in [2, n - 1] (default 2..10, as the authors).
        init: Initialisation passed to :class:`KMedoids`.
        method: Swap search passed to :class:`KMedoids` (``"pam"`` reproduces ``cluster::pam``).
        max_iter: Passed to :class:`KMedoids`.
        random_state: Seed or Generator; every k gets its own child stream, so the result is
            reproducible for an int seed.
        check: Validate ``D``; pass False only for a matrix already returned by
            :func:`~eoforge.extremes.clustering.kmedoids.check_dissimilarity`.

    Returns:
        A :class:`KSelection`.

    Raises:
        InputError: If ``k_range`` is empty or holds a k outside [2, n - 1].
    """
    D = check_dissimilarity(D) if check else D
    ks = _checked_k_range(k_range, D.shape[0])
    streams = np.random.default_rng(random_state).spawn(len(ks))
    table: list[KScore] = []
    models: dict[int, KMedoids] = {}
    for k, stream in zip(ks, streams, strict=True):
        model = KMedoids(int(k), init=init, method=method, max_iter=max_iter, random_state=stream)
        model.fit(D, check=False)
        sil = silhouette_samples_precomputed(D, model.labels_, check=False)
        table.append(KScore(int(k), float(sil.mean()), model.inertia_))
        models[int(k)] = model
    best = max(table, key=lambda r: (r.silhouette, -r.k))
    return KSelection(
        table=tuple(table),
        best_k=best.k,
        model=models[best.k],
        labels_by_k={k: m.labels_ for k, m in models.items()},
    )
