"""k-means on embeddings, backed by faiss (CPU, or GPU when faiss sees one).

Lloyd's algorithm minimises the k-means objective (the *inertia*)

.. math::

    J(\\mu_1, \\dots, \\mu_k) = \\sum_{i=1}^{n} \\min_{c} \\lVert x_i - \\mu_c \\rVert_2^2 ,

alternating the assignment :math:`a_i = \\arg\\min_c \\lVert x_i - \\mu_c \\rVert^2` and the update
:math:`\\mu_c = \\operatorname{mean}\\{x_i : a_i = c\\}`. With ``spherical=True`` the inputs are
L2-normalised and every centroid is renormalised after its update (spherical k-means), so the
assignment maximises the cosine similarity: for unit vectors
:math:`\\lVert x - \\mu \\rVert^2 = 2 (1 - \\cos(x, \\mu))`.

faiss does the heavy work (BLAS distance blocks, multi-threaded centroid updates, empty-cluster
splitting). This wrapper adds greedy k-means++ seeding (:func:`greedy_kmeanspp`, the default;
faiss' own plain k-means++ is available and cheaper, but often merges well-separated modes),
explicit seeds, float32/NaN validation, restarts
(``n_init``), a relative-tolerance stop, a ``progress(done, total)`` callback (one tick per Lloyd
iteration: faiss is called one iteration at a time, which gives the same centroids as one call) and
automatic GPU use. Unlike ``faiss.Kmeans`` it never subsamples the training set silently.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import faiss
import numpy as np

from eoforge.core.errors import ShapeError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.seeding import RandomState, as_generator

InitMethod = Literal["greedy-k-means++", "k-means++", "afk-mc2", "random"]
Device = Literal["auto", "cpu", "gpu"]

_FAISS_INIT = {
    "greedy-k-means++": "ClusteringInitMethod_RANDOM",  # seeds computed here, given to faiss
    "k-means++": "ClusteringInitMethod_KMEANS_PLUS_PLUS",
    "afk-mc2": "ClusteringInitMethod_AFK_MC2",
    "random": "ClusteringInitMethod_RANDOM",
}


def as_float32_matrix(X: object, name: str = "X") -> np.ndarray:
    """Validate embeddings: a finite 2-D array, returned as C-contiguous float32 (copied if needed).

    Raises:
        ShapeError: ``X`` is not 2-D or has no rows/columns.
        InputError: ``X`` holds NaN or infinite values.
    """
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(
            f"{name} has shape {arr.shape}: expected a non-empty 2-D array (n_points, n_features)."
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise bad_value(f"{name}.dtype", arr.dtype, "a real numeric dtype (float32 preferred)")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise bad_value(
            name,
            f"<array with {bad.size} rows holding NaN/inf, first row {int(bad[0])}>",
            "finite embeddings",
            "Drop or repair those rows (e.g. images that failed to embed) before clustering.",
        )
    return arr


def l2_normalize(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (a float32 copy; zero rows stay zero)."""
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return (X / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


def resolve_device(device: Device) -> bool:
    """True when faiss should run on GPU: ``"auto"`` picks the GPU if faiss sees one."""
    n_gpus = faiss.get_num_gpus()
    if device == "auto":
        return n_gpus > 0
    if device == "gpu":
        if n_gpus == 0:
            raise bad_value(
                "device", device, "'auto' or 'cpu' here", "faiss sees no GPU (install faiss-gpu)."
            )
        return True
    if device == "cpu":
        return False
    raise bad_value("device", device, "one of 'auto', 'cpu', 'gpu'")


SMALL_PROBLEM = 2**26  # n * k * d below which faiss runs on one thread (see faiss_threads)


@contextlib.contextmanager
def faiss_threads(n: int, k: int, d: int, n_threads: int | None = None) -> Iterator[int]:
    """Run faiss with ``n_threads`` OpenMP threads inside the block, then restore the setting.

    ``None`` picks one thread for small problems (``n * k * d < SMALL_PROBLEM``) and faiss'
    default otherwise: on a shared machine, OpenMP threads of many tiny parallel regions spin
    against other processes (measured 40x slower than one thread for 2000 x 32 points, k = 32,
    with the 2 cores loaded), while large problems gain from every core.

    Yields:
        The number of threads in force.
    """
    before = faiss.omp_get_max_threads()
    if n_threads is None:
        n_threads = 1 if n * k * d < SMALL_PROBLEM else before
    if isinstance(n_threads, bool) or not isinstance(n_threads, int) or n_threads < 1:
        raise bad_value("n_threads", n_threads, "a positive int or None (automatic)")
    faiss.omp_set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        faiss.omp_set_num_threads(before)


def greedy_kmeanspp(
    X: np.ndarray, k: int, rng: np.random.Generator, n_local_trials: int | None = None
) -> np.ndarray:
    """Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; the variant scikit-learn uses).

    The first seed is a uniform random point; each next one is the best of
    :math:`L = 2 + \\lfloor \\ln k \\rfloor` candidates drawn with probability
    :math:`p_i \\propto D(x_i)^2` (squared distance to the nearest seed so far), "best" meaning
    the lowest potential :math:`\\sum_i \\min(D(x_i)^2, \\lVert x_i - c \\rVert^2)`. Plain
    k-means++ (``L = 1``, faiss' method) often puts two seeds in one well-separated mode and none
    in another; the greedy choice rarely does. Cost :math:`O(n k L d)`.

    Args:
        X: ``(n, d)`` float32 points.
        k: Number of seeds.
        rng: Generator of the draws.
        n_local_trials: ``L`` (default ``2 + floor(ln k)``).

    Returns:
        ``(k, d)`` float32 seeds (rows of ``X``).
    """
    n = X.shape[0]
    L = n_local_trials or 2 + int(np.log(k))
    sq_norms = np.einsum("ij,ij->i", X, X)  # (n,)

    def sqdist_to(rows: np.ndarray) -> np.ndarray:  # (len(rows), n)
        C = X[rows]
        d2 = sq_norms[rows][:, None] - 2.0 * (C @ X.T) + sq_norms[None, :]
        return np.maximum(d2, 0.0)

    seeds = [int(rng.integers(n))]
    closest = sqdist_to(np.array(seeds))[0].astype(np.float64)  # (n,) D(x)^2
    for _ in range(1, k):
        cum = np.cumsum(closest)
        if cum[-1] <= 0:  # fewer distinct points than k: any unused point will do
            unused = np.setdiff1d(np.arange(n), seeds)
            seeds.append(int(unused[0]))
            continue
        cand = np.searchsorted(cum, rng.random(L) * cum[-1], side="right")
        cand = np.minimum(cand, n - 1)
        pot = np.minimum(closest[None, :], sqdist_to(cand))  # (L, n)
        best = int(np.argmin(pot.sum(axis=1)))
        seeds.append(int(cand[best]))
        closest = pot[best]
    return X[np.array(seeds)].astype(np.float32)


def _flat_index(d: int, gpu: bool) -> faiss.Index:
    index = faiss.IndexFlatL2(d)
    return faiss.index_cpu_to_all_gpus(index) if gpu else index


def assign(
    X: np.ndarray, centroids: np.ndarray, gpu: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of every row of ``X`` (float32, validated by the caller).

    Returns:
        ``(labels, sqdist)``: int64 labels of shape ``(n,)`` and float32 squared L2 distances
        :math:`\\lVert x_i - \\mu_{a_i} \\rVert^2` (clipped at 0 against rounding).
    """
    index = _flat_index(X.shape[1], gpu)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    dist, labels = index.search(X, 1)
    return labels[:, 0].astype(np.int64), np.maximum(dist[:, 0], 0.0)


class KMeans:
    """Seeded faiss k-means with restarts, spherical option and a progress callback.

    Args:
        n_clusters: Number of clusters ``k`` (at most the number of points).
        n_iter: Maximum number of Lloyd iterations per restart.
        n_init: Restarts; the run with the lowest inertia is kept.
        init: Seeding: ``"greedy-k-means++"`` (:func:`greedy_kmeanspp`, scikit-learn's default,
            cost O(n k d log k)), ``"k-means++"`` (faiss' plain k-means++, cost O(n k d)),
            ``"afk-mc2"`` (MCMC approximation of k-means++, much cheaper for large ``k``) or
            ``"random"`` (``k`` distinct random points).
        spherical: L2-normalise inputs and centroids (cosine k-means).
        tol: Stop a restart when the relative decrease of the objective over one iteration is
            below ``tol`` (0 runs all ``n_iter`` iterations).
        device: ``"auto"`` (GPU when faiss has one), ``"cpu"`` or ``"gpu"``.
        n_threads: faiss CPU threads; ``None`` = one for small problems, all otherwise
            (:func:`faiss_threads`).
        random_state: Seed or generator for the faiss seeds of the restarts.

    Attributes:
        cluster_centers_: ``(k, d)`` float32 centroids (unit norm when spherical).
        labels_: ``(n,)`` int64 cluster of each training point (for the kept centroids).
        sqdist_: ``(n,)`` float32 squared distance of each point to its centroid.
        inertia_: :math:`J` of the kept centroids (float64 sum of ``sqdist_``).
        n_iter_: Lloyd iterations run by the kept restart.
        objective_history_: faiss objective before each update of the kept restart.
        uses_gpu_: Whether faiss ran on GPU.
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        n_iter: int = 25,
        n_init: int = 1,
        init: InitMethod = "greedy-k-means++",
        spherical: bool = False,
        tol: float = 0.0,
        device: Device = "auto",
        n_threads: int | None = None,
        random_state: RandomState = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_iter = n_iter
        self.n_init = n_init
        self.init = init
        self.spherical = spherical
        self.tol = tol
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state

    def _check_params(self, n: int) -> None:
        k = self.n_clusters
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise bad_value("n_clusters", k, "a positive int")
        if k > n:
            raise bad_value(
                "n_clusters", k, f"at most the number of points ({n})", "Use fewer clusters."
            )
        for name, value in (("n_iter", self.n_iter), ("n_init", self.n_init)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise bad_value(name, value, "a positive int")
        if self.init not in _FAISS_INIT:
            raise bad_value("init", self.init, f"one of {sorted(_FAISS_INIT)}")
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise bad_value("tol", self.tol, "a finite float >= 0")

    def fit(self, X: object, progress: ProgressCallback | None = None) -> KMeans:
        """Cluster ``X`` of shape ``(n, d)``.

        Args:
            X: Embeddings (converted to float32; NaN/inf rejected).
            progress: Optional ``progress(done, total)`` called after every Lloyd iteration,
                with ``total = n_init * n_iter`` (jumps ahead when ``tol`` stops a restart early).

        Returns:
            ``self``, fitted.
        """
        Xf = as_float32_matrix(X)
        n, d = Xf.shape
        self._check_params(n)
        if self.spherical:
            Xf = l2_normalize(Xf)
        gpu = resolve_device(self.device)
        k = int(self.n_clusters)
        seeds = as_generator(self.random_state).integers(0, 2**31 - 1, size=self.n_init)
        index = _flat_index(d, gpu)
        total = self.n_init * self.n_iter
        runs = []  # (inertia, centroids, history) of every restart
        with faiss_threads(n, k, d, self.n_threads):
            for run, seed in enumerate(seeds):
                done0 = run * self.n_iter
                centroids, history = self._lloyd(Xf, k, int(seed), index, progress, done0)
                _, sqdist = assign(Xf, centroids, gpu)
                runs.append((float(np.sum(sqdist, dtype=np.float64)), centroids, history))
                if progress is not None:
                    progress((run + 1) * self.n_iter, total)
            best = min(runs, key=lambda r: r[0])
            self.inertia_, self.cluster_centers_, self.objective_history_ = best
            self.labels_, self.sqdist_ = assign(Xf, self.cluster_centers_, gpu)
        self.n_iter_ = len(self.objective_history_)
        self.uses_gpu_ = gpu
        return self

    def _lloyd(
        self,
        X: np.ndarray,
        k: int,
        seed: int,
        index: faiss.Index,
        progress: ProgressCallback | None,
        done0: int,
    ) -> tuple[np.ndarray, list[float]]:
        """One restart: faiss seeding, then Lloyd iterations one faiss call at a time."""
        n, d = X.shape
        cp = faiss.ClusteringParameters()
        cp.niter = 1
        cp.seed = seed
        cp.spherical = self.spherical
        cp.init_method = getattr(faiss, _FAISS_INIT[self.init])
        cp.max_points_per_centroid = n  # never subsample the training set
        cp.min_points_per_centroid = 1  # silence faiss' "too few points" warning
        centroids: np.ndarray | None = None
        if self.init == "greedy-k-means++":
            centroids = greedy_kmeanspp(X, k, np.random.default_rng(seed))
        history: list[float] = []
        for it in range(self.n_iter):
            clus = faiss.Clustering(d, k, cp)
            if centroids is not None:
                faiss.copy_array_to_vector(centroids.ravel(), clus.centroids)
            clus.train(X, index)
            centroids = faiss.vector_float_to_array(clus.centroids).reshape(k, d)
            history.append(float(clus.iteration_stats.at(0).obj))
            if progress is not None:
                progress(done0 + it + 1, self.n_init * self.n_iter)
            if self.tol > 0 and len(history) > 1:
                prev, cur = history[-2], history[-1]
                if prev - cur <= self.tol * max(abs(prev), 1e-30):
                    break
        assert centroids is not None  # n_iter >= 1 was validated
        return centroids, history

    def predict(self, X: object) -> np.ndarray:
        """Index of the nearest fitted centroid for each row of ``X``."""
        return self.assign(X)[0]

    def assign(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, squared distances)`` of ``X`` to the fitted centroids."""
        if not hasattr(self, "cluster_centers_"):
            raise bad_value("KMeans", "unfitted", "a fitted estimator", "Call fit(X) first.")
        Xf = as_float32_matrix(X)
        if Xf.shape[1] != self.cluster_centers_.shape[1]:
            raise ShapeError(
                f"X has {Xf.shape[1]} features but the model was fitted on "
                f"{self.cluster_centers_.shape[1]}."
            )
        if self.spherical:
            Xf = l2_normalize(Xf)
        return assign(Xf, self.cluster_centers_, self.uses_gpu_)
