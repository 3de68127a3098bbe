"""k-medoids clustering on a precomputed dissimilarity matrix: BUILD + FasterPAM swaps.

k-medoids picks k sites ("medoids") m_1..m_k among the n sites and assigns every site to its
nearest medoid, minimising the total deviation

    TD(m_1..m_k) = sum_{o=1..n} min_{i=1..k} d(o, m_i).

PAM (Kaufman & Rousseeuw 1990) starts from a greedy BUILD and then applies the best
medoid/non-medoid swap until none improves TD. FasterPAM (Schubert & Rousseeuw 2021, Information
Systems 101:101804) evaluates all k swaps of one candidate in O(n) instead of O(nk) and applies
improving swaps eagerly, reaching optima of about the same quality much faster:

- Each site o caches its nearest medoid n(o) at distance d_n(o) and its second nearest s(o) at
  distance d_s(o).
- The removal loss of medoid i is  DeltaL_i = sum_{o: n(o)=i} (d_s(o) - d_n(o)).
- For a candidate x_c, the change of TD when x_c replaces medoid m_i is, for all i at once in O(n),

      DeltaTD_i = DeltaL_i + DeltaTD* + sum_o corrections, where for every site o with d_oc = d(o, x_c):
        d_oc < d_n(o):          DeltaTD*    += d_oc - d_n(o),   DeltaTD_{n(o)} += d_n(o) - d_s(o)
        d_n(o) <= d_oc < d_s(o):                               DeltaTD_{n(o)} += d_oc - d_s(o)

- A swap is applied as soon as min_i DeltaTD_i < 0 (eager swapping); the caches and removal losses
  are then updated, and the candidates are visited cyclically until n candidates in a row bring no
  improvement.

``method="pam"`` keeps PAM's steepest descent (apply the best of all k(n - k) swaps, each iteration)
but evaluates it with the same O(n)-per-candidate formula (FastPAM1), so it reproduces
``cluster::pam`` at a fraction of its cost. The hot loops are compiled with numba and live in
:mod:`eoforge.extremes.clustering._kmedoids_kernels`; this module holds the estimator :class:`KMedoids`, the
input check :func:`check_dissimilarity` and the k-medoids++ seeding. The matrix is read row by row
(it is symmetric), so a float32 (n, n) array or a read-only numpy memmap is used as it is, without
a copy.
"""

from __future__ import annotations

import numbers
from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.extremes.clustering._kmedoids_kernels import build_init, fasterpam_swaps, pam_swaps

InitMethod = Literal["build", "k-medoids++"]
SwapMethod = Literal["fasterpam", "pam"]

_VALIDATION_BLOCK_ROWS = 512
_SWAP_REL_TOL = 1e-12  # a swap must lower TD by more than this share of TD (guards against cycles)


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------
def check_dissimilarity(D: np.ndarray, *, name: str = "D") -> np.ndarray:
    """Validate a precomputed dissimilarity matrix and return it as a C-ordered float array.

    The matrix must be square, finite, non-negative, symmetric and have a zero diagonal, each up
    to a tolerance of sqrt(eps) of the largest entry (sqrt(eps) = 3.5e-4 for float32, 1.5e-8 for
    float64). The checks run in blocks of rows, so a memmap is checked in bounded memory.

    Args:
        D: Array-like of shape (n, n); float32/float64 arrays and numpy memmaps are kept as they
            are (no copy); other dtypes are converted to float64.
        name: Argument name used in error messages.

    Returns:
        A C-contiguous float32 or float64 ``np.ndarray`` view of (or copy of) ``D``.

    Raises:
        ShapeError: If ``D`` is not a square 2-D matrix with at least one row.
        InputError: If ``D`` holds non-finite or negative values, is not symmetric, or has a
            non-zero diagonal.
    """
    arr = _square_float(D, name)
    tol = float(np.sqrt(np.finfo(arr.dtype).eps))
    max_val, max_asym = _scan_rows(arr, name)
    scale = max(max_val, np.finfo(arr.dtype).tiny)
    if max_asym > tol * scale:
        raise InputError(
            f"{name} must be symmetric, but max |{name} - {name}.T| = {max_asym:.3g} exceeds "
            f"{tol:.2g} * max({name}) = {tol * scale:.3g}; symmetrise it with ({name} + {name}.T) / 2."
        )
    diag = np.abs(np.diagonal(arr))
    if diag.max() > tol * scale:
        i = int(np.argmax(diag))
        raise InputError(
            f"{name} must have a zero diagonal (a site is not dissimilar to itself), but "
            f"{name}[{i}, {i}] = {arr[i, i]}; set the diagonal to 0 (np.fill_diagonal({name}, 0))."
        )
    return arr


def _square_float(D: np.ndarray, name: str) -> np.ndarray:
    """``D`` as a C-ordered float32/float64 (n, n) array with n >= 1 (a memmap stays mapped)."""
    arr = D if isinstance(D, np.ndarray) else np.asarray(D)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] < 1:
        raise ShapeError(
            f"{name} must be a square (n, n) dissimilarity matrix with n >= 1, got shape "
            f"{arr.shape}; pass the full matrix (scipy.spatial.distance.squareform turns a "
            "condensed vector into one)."
        )
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return np.ascontiguousarray(arr)  # plain ndarray (a memmap stays memory-mapped, no copy)


def _scan_rows(arr: np.ndarray, name: str) -> tuple[float, float]:
    """Check blocks of rows for non-finite and negative values; (max value, max |D - D.T|)."""
    n = arr.shape[0]
    max_val = 0.0
    max_asym = 0.0
    for r0 in range(0, n, _VALIDATION_BLOCK_ROWS):
        r1 = min(n, r0 + _VALIDATION_BLOCK_ROWS)
        block = np.asarray(arr[r0:r1])
        if not np.isfinite(block).all():
            rows, cols = np.nonzero(~np.isfinite(block))
            raise InputError(
                f"{name} must be finite, but {name}[{r0 + rows[0]}, {cols[0]}] = "
                f"{block[rows[0], cols[0]]}; mask the sites with missing data before clustering."
            )
        bmin = float(block.min())
        if bmin < 0:
            rows, cols = np.nonzero(block < 0)
            raise InputError(
                f"{name} must be non-negative, but {name}[{r0 + rows[0]}, {cols[0]}] = {bmin}; "
                "pass a dissimilarity (e.g. 1 - similarity), not a similarity or a signed score."
            )
        max_val = max(max_val, float(block.max()))
        # upper part of these rows against the mirrored lower part: |D_ij - D_ji| for j >= i
        mirror = np.asarray(arr[r0:, r0:r1]).T
        max_asym = max(max_asym, float(np.max(np.abs(block[:, r0:] - mirror))))
    return max_val, max_asym


def _check_n_clusters(n_clusters: object, n: int) -> int:
    if (
        isinstance(n_clusters, bool)
        or not isinstance(n_clusters, numbers.Integral)
        or not 1 <= int(n_clusters) <= n
    ):
        raise bad_value(
            "n_clusters", n_clusters, f"an integer between 1 and the number of sites n={n}"
        )
    return int(n_clusters)


# ---------------------------------------------------------------------------------------------
# Estimator
# ---------------------------------------------------------------------------------------------
class KMedoids(ClusterMixin, BaseEstimator):
    """k-medoids (PAM objective) on a precomputed dissimilarity matrix, fitted with FasterPAM.

    Minimises TD = sum_o min_i d(o, m_i) over medoid sets {m_1..m_k} (see the module docstring
    for the swap formulas). Both methods stop at a swap-local optimum (no single exchange of a
    medoid with a non-medoid lowers TD), the guarantee of PAM (``cluster::pam``); they may stop
    at different local optima, neither being better in general.

    Args:
        n_clusters: Number of clusters k, 1 <= k <= n.
        init: ``"build"`` (PAM's greedy BUILD, deterministic), ``"k-medoids++"`` (k-means++-style
            seeding with probabilities proportional to the dissimilarity to the nearest chosen
            medoid), or an array of k distinct site indices.
        method: ``"fasterpam"`` (eager swaps, Schubert & Rousseeuw 2021; fastest) or ``"pam"``
            (steepest descent: each iteration applies the best of all k(n - k) swaps, as PAM's
            SWAP, evaluated with the same O(n)-per-candidate formula, i.e. FastPAM1). ``"pam"``
            with ``init="build"`` reproduces ``cluster::pam(D, k, diss=TRUE)`` up to ties.
        max_iter: Maximum number of passes over the candidate sites in the swap phase (for
            ``"pam"`` one pass = one swap).
        random_state: Seed or ``np.random.Generator`` for the k-medoids++ seeding and for the
            shuffled order in which FasterPAM visits swap candidates. Pass an int for
            reproducible results.

    Attributes:
        medoid_indices_: (k,) sorted site indices of the medoids.
        labels_: (n,) cluster of each site in 0..k-1 (cluster j has medoid ``medoid_indices_[j]``).
        inertia_: TD, the sum of the dissimilarities of every site to its nearest medoid.
        n_iter_: Passes over the candidates made by the swap phase.
        n_swaps_: Swaps applied.
        converged_: Whether the last pass found no improving swap (False if ``max_iter`` hit).
    """

    medoid_indices_: np.ndarray
    labels_: np.ndarray
    inertia_: float
    n_iter_: int
    n_swaps_: int
    converged_: bool

    def __init__(
        self,
        n_clusters: int,
        *,
        init: InitMethod | np.ndarray = "build",
        method: SwapMethod = "fasterpam",
        max_iter: int = 100,
        random_state: int | np.random.Generator | None = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.init = init
        self.method = method
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(self, D: np.ndarray, y: None = None, *, check: bool = True) -> KMedoids:
        """Fit on a precomputed symmetric dissimilarity matrix ``D`` of shape (n, n).

        Args:
            D: Dissimilarities (float32/float64 array or memmap; see :func:`check_dissimilarity`).
            y: Ignored (scikit-learn API).
            check: Validate ``D``. Pass False only for a matrix already returned by
                :func:`check_dissimilarity` (e.g. one matrix reused for many k).

        Returns:
            self.
        """
        if check:
            D = check_dissimilarity(D)
        n = D.shape[0]
        k = _check_n_clusters(self.n_clusters, n)
        if (
            isinstance(self.max_iter, bool)
            or not isinstance(self.max_iter, numbers.Integral)
            or self.max_iter < 0
        ):
            raise bad_value("max_iter", self.max_iter, "a non-negative integer")
        if self.method not in ("fasterpam", "pam"):
            raise bad_value("method", self.method, "'fasterpam' or 'pam'")
        rng = np.random.default_rng(self.random_state)
        if k == 1:  # exact: the site with the least row sum (no second-nearest medoid exists)
            medoids = build_init(D, 1)
            n_iter, n_swaps, converged = 0, 0, True
            labels = np.zeros(n, np.int64)
            inertia = float(np.asarray(D[medoids[0]], dtype=np.float64).sum())
        else:
            medoids = self._initial_medoids(D, k, rng)
            if self.method == "pam":
                swaps = pam_swaps(D, medoids, int(self.max_iter), _SWAP_REL_TOL)
            else:
                order = rng.permutation(n).astype(np.int64)
                swaps = fasterpam_swaps(D, medoids, order, int(self.max_iter), _SWAP_REL_TOL)
            labels, inertia, n_iter, n_swaps, converged = swaps
        rank = np.argsort(medoids, kind="stable")
        relabel = np.empty(k, np.int64)
        relabel[rank] = np.arange(k)
        self.medoid_indices_ = medoids[rank]
        self.labels_ = relabel[labels]
        self.inertia_ = float(inertia)
        self.n_iter_ = int(n_iter)
        self.n_swaps_ = int(n_swaps)
        self.converged_ = bool(converged)
        return self

    def fit_predict(self, D: np.ndarray, y: None = None, *, check: bool = True) -> np.ndarray:
        """Fit on ``D`` and return ``labels_``."""
        return self.fit(D, check=check).labels_

    def _initial_medoids(self, D: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
        n = D.shape[0]
        init = self.init
        if isinstance(init, str):
            if init == "build":
                return build_init(D, k)
            if init == "k-medoids++":
                return _kmedoids_plusplus(D, k, rng)
            raise bad_value("init", init, "'build', 'k-medoids++' or an array of k site indices")
        idx = np.asarray(init)
        if (
            idx.shape != (k,)
            or not np.issubdtype(idx.dtype, np.integer)
            or np.unique(idx).size != k
            or idx.min() < 0
            or idx.max() >= n
        ):
            raise bad_value(
                "init",
                init,
                f"'build', 'k-medoids++' or {k} distinct integer site indices in [0, {n})",
            )
        return idx.astype(np.int64).copy()


def _kmedoids_plusplus(D: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++-style seeding: draw each next medoid with probability ~ d(o, nearest medoid)."""
    n = D.shape[0]
    medoids = np.empty(k, np.int64)
    medoids[0] = rng.integers(n)
    dnear = np.asarray(D[medoids[0]], dtype=np.float64).copy()
    for j in range(1, k):
        weights = dnear.copy()
        weights[medoids[:j]] = 0.0
        total = weights.sum()
        if total > 0:
            c = rng.choice(n, p=weights / total)
        else:  # all remaining sites coincide with a medoid: draw uniformly among them
            c = rng.choice(np.setdiff1d(np.arange(n), medoids[:j]))
        medoids[j] = c
        np.minimum(dnear, D[c], out=dnear)
    return medoids
