r"""faiss as the k-means backend: its device, threads, exact nearest-centroid search and Lloyd loop.

Lloyd's algorithm alternates the assignment :math:`a_i = \arg\min_c \lVert x_i - \mu_c \rVert^2`
and the update :math:`\mu_c = \operatorname{mean}\{x_i : a_i = c\}` (renormalised when
spherical). :func:`faiss_lloyd` calls faiss' ``Clustering`` a few iterations at a time, starting
each call from the previous centroids, which gives the centroids of one long call while allowing a
``progress`` tick and a relative-tolerance stop between calls; the training set is never
subsampled (``max_points_per_centroid = n``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Literal

import faiss
import numpy as np
import torch

from eoforge.core.errors import bad_value
from eoforge.core.progress import ProgressCallback

Device = Literal["auto", "cpu", "gpu", "cuda"]

#: faiss' seeding of each ``KMeans.init`` method (greedy k-means++ seeds are computed by eoforge
#: and given to faiss as starting centroids).
FAISS_INIT = {
    "greedy-k-means++": "ClusteringInitMethod_RANDOM",
    "k-means++": "ClusteringInitMethod_KMEANS_PLUS_PLUS",
    "afk-mc2": "ClusteringInitMethod_AFK_MC2",
    "random": "ClusteringInitMethod_RANDOM",
}


def resolve_device(device: Device) -> bool:
    """True when faiss should run on GPU: ``"auto"`` picks the GPU if faiss sees one."""
    n_gpus = faiss.get_num_gpus()
    if device == "auto":
        return n_gpus > 0
    if device in ("gpu", "cuda"):
        if n_gpus == 0:
            raise bad_value(
                "device", device, "'auto' or 'cpu' here", "Neither torch nor faiss sees a GPU."
            )
        return True
    if device == "cpu":
        return False
    raise bad_value("device", device, "one of 'auto', 'cpu', 'gpu', 'cuda'")


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


def flat_index(d: int, gpu: bool) -> faiss.Index:
    """An exact L2 index of dimension ``d`` (on every GPU faiss sees when ``gpu``)."""
    index = faiss.IndexFlatL2(d)
    return faiss.index_cpu_to_all_gpus(index) if gpu else index


def assign(
    X: np.ndarray, centroids: np.ndarray, gpu: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    r"""Nearest centroid of every row of ``X`` (float32, validated by the caller).

    Returns:
        ``(labels, sqdist)``: int64 labels of shape ``(n,)`` and float32 squared L2 distances
        :math:`\lVert x_i - \mu_{a_i} \rVert^2` (clipped at 0 against rounding).
    """
    index = flat_index(X.shape[1], gpu)
    index.add(np.ascontiguousarray(centroids, dtype=np.float32))
    dist, labels = index.search(X, 1)
    return labels[:, 0].astype(np.int64), np.maximum(dist[:, 0], 0.0)


def converged(history: list[float], tol: float) -> bool:
    """Whether the last step lowered the objective by at most ``tol`` of its previous value."""
    if tol <= 0 or len(history) < 2:
        return False
    prev, cur = history[-2], history[-1]
    return prev - cur <= tol * max(abs(prev), 1e-30)


def _parameters(n: int, seed: int, spherical: bool, afk_mc2: bool) -> faiss.ClusteringParameters:
    cp = faiss.ClusteringParameters()
    cp.seed = seed
    cp.spherical = spherical
    cp.init_method = getattr(faiss, FAISS_INIT["afk-mc2" if afk_mc2 else "random"])
    cp.max_points_per_centroid = n  # never subsample the training set
    cp.min_points_per_centroid = 1  # silence faiss' "too few points" warning
    return cp


def faiss_lloyd(
    X: torch.Tensor,
    C0: torch.Tensor | None,
    n_iter: int,
    *,
    k: int,
    seed: int,
    spherical: bool = False,
    tol: float = 0.0,
    per_call: int = 1,
    gpu: bool = False,
    progress: ProgressCallback | None = None,
    offset: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, list[float]]:
    """One k-means restart by faiss from ``C0`` (``None``: faiss' AFK-MC2 seeding).

    Args:
        X: ``(n, d)`` float32 CPU points (validated).
        C0: ``(k, d)`` starting centroids, or ``None``.
        n_iter: Most Lloyd iterations (>= 1).
        k: Number of clusters.
        seed: faiss' seed.
        spherical: Renormalise the centroids after every update.
        tol: Relative-decrease stop (:func:`converged`), checked after every call.
        per_call: Iterations per faiss call.
        gpu: Search on faiss' GPUs.
        progress: ``progress(done, total)`` after every call, ``done`` offset by ``offset[0]``
            and ``total = offset[1]``.
        offset: Iterations done before this restart, and the total over all restarts.

    Returns:
        ``((k, d)`` centroids, the objective before each update).
    """
    n, d = X.shape
    cp = _parameters(n, seed, spherical, C0 is None)
    index = flat_index(d, gpu)
    Xn, centroids = X.numpy(), None if C0 is None else C0.numpy()
    history: list[float] = []
    while len(history) < n_iter:
        cp.niter = int(min(per_call, n_iter - len(history)))
        clus = faiss.Clustering(d, k, cp)
        if centroids is not None:
            faiss.copy_array_to_vector(np.ascontiguousarray(centroids).ravel(), clus.centroids)
        clus.train(Xn, index)
        centroids = faiss.vector_float_to_array(clus.centroids).reshape(k, d)
        stats: Any = clus.iteration_stats  # a SWIG vector (faiss' stubs call it a list)
        history += [float(stats.at(i).obj) for i in range(stats.size())]
        if stats.size() < cp.niter:  # faiss stops early once nothing moves
            break
        if progress is not None:
            progress(offset[0] + len(history), offset[1])
        if converged(history, tol):
            break
    if centroids is None:
        raise bad_value("n_iter", n_iter, "a positive int")
    return torch.from_numpy(centroids), history
