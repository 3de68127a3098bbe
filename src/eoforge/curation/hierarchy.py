r"""Hierarchical k-means with resampling (Vo et al. 2024, arXiv 2405.15613, Sect. 4).

Level 1 clusters the points :math:`X_1 = X` into :math:`k_1` clusters; level :math:`\ell > 1`
clusters the :math:`k_{\ell-1}` centroids of level :math:`\ell - 1`,
:math:`X_\ell = C_{\ell-1}`, into :math:`k_\ell` clusters (unweighted: every lower cluster counts
once, whatever its size).

Resampling (Vo et al.'s Algorithm 1): after the k-means of a level, repeat :math:`R_\ell` times

.. math::

    S = \bigcup_{c=1}^{k_\ell} \{\text{the } s_\ell \text{ items of cluster } c
        \text{ closest to } \mu_c\}, \qquad
    C_\ell \leftarrow \text{k-means}(S, k_\ell), \qquad
    a \leftarrow \arg\min_c \lVert X_\ell - \mu_c \rVert ,

i.e. re-fit k-means on an (almost) equal number of items per cluster, then re-assign *all* items
of the level. Plain k-means piles centroids into dense modes (it allocates them roughly like the
density); refitting on equal-size samples moves them towards a uniform cover of the support, so
rare modes get their own clusters. Resampling is skipped at levels where :math:`s_\ell \le 1`
(one item per cluster would just reproduce the centroids).

Each refit starts from a fresh greedy k-means++ seeding of :math:`S` (Vo et al.'s code) and runs
``resampling_n_iter`` Lloyd iterations (their code runs 50; the refits follow each other, so a few
suffice). ``warm_start=True`` starts each refit from the current centroids instead, and its first
Lloyd update is free (the assignment of :math:`S` is part of the re-assignment of all items that
chose :math:`S`); it converges in fewer iterations but barely moves the centroids: :math:`S`
holds each cluster's core, whose mean is close to the centroid already, so the rare modes that
the fresh seedings find stay merged (long-tail test: 1 of 48 rare modes get a cluster of their
own, as with no resampling, against 6 with fresh seedings).

After the last step, ``polish_n_iter`` Lloyd iterations on *all* items of the level, warm-started
from the last refit, take back most of the objective the refits on cluster cores gave up (a
refit ends on :math:`S`, not on the level); Lloyd moves centroids only within their own
neighbourhood, but the cores of the dense modes pull their centroids back and rare modes lose
theirs (long-tail test: 3 of 48 rare modes own a cluster with 3 polish iterations, 6 without),
so it is off by default. Level-1 inertia on 200,000 x 128 points, k = 1000, against
scikit-learn's single level: see benchmarks/RESULTS.md (2026-12-04 session 7).

All k-means runs of a level stay on one backend and device
(:func:`~eoforge.curation.kmeans.choose_backend`): on CUDA the points never leave the GPU; :math:`S` is
picked there too.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import torch

from eoforge.core.errors import bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.seeding import RandomState, as_generator
from eoforge.curation.embeddings import as_float32_tensor
from eoforge.curation.faiss_backend import Device, faiss_threads
from eoforge.curation.kmeans import Backend, InitMethod, KMeans, choose_backend, nearest
from eoforge.curation.kmeans_torch import update_centroids


@dataclass(frozen=True)
class Hierarchy:
    """Result of :func:`hierarchical_kmeans` (``L`` levels, ``n`` points).

    Attributes:
        assignments: ``assignments[l]`` maps the items of level ``l`` to the clusters of level
            ``l + 1``: ``assignments[0]`` has shape ``(n,)`` (points -> level-1 clusters),
            ``assignments[l]`` for ``l >= 1`` has shape ``(k_l,)`` (level-l clusters ->
            level-(l+1) clusters). Each cluster has exactly one parent.
        centroids: ``centroids[l]`` is the ``(k_{l+1}, d)`` float32 centroid array of level ``l+1``.
        sizes: ``sizes[l]`` is the number of *points* in each level-(l+1) cluster (int64,
            sums to ``n``); a cluster may be empty after resampling.
        distances: ``(n,)`` float32 squared L2 distance of each point to its level-1 centroid
            (on L2-normalised data when ``spherical``: then it equals ``2 (1 - cos)``).
        spherical: Whether cosine (spherical) k-means was used.
    """

    assignments: tuple[np.ndarray, ...]
    centroids: tuple[np.ndarray, ...]
    sizes: tuple[np.ndarray, ...]
    distances: np.ndarray
    spherical: bool

    @property
    def n_levels(self) -> int:
        """Number of levels ``L``."""
        return len(self.centroids)

    @property
    def n_points(self) -> int:
        """Number of clustered points ``n``."""
        return int(self.assignments[0].shape[0])

    @property
    def n_clusters(self) -> tuple[int, ...]:
        """``(k_1, ..., k_L)``."""
        return tuple(int(c.shape[0]) for c in self.centroids)

    def labels(self, level: int) -> np.ndarray:
        """Cluster of every point at ``level`` (1..L), composing the per-level assignments."""
        if not 1 <= level <= self.n_levels:
            raise bad_value("level", level, f"an int in 1..{self.n_levels}")
        lab = self.assignments[0]
        for step in range(1, level):
            lab = self.assignments[step][lab]
        return lab


def _per_level(
    value: int | Sequence[int | None] | None, n_levels: int, name: str
) -> list[int | None]:
    if value is None or isinstance(value, int | np.integer):
        return [None if value is None else int(value)] * n_levels
    values = list(value)
    if len(values) != n_levels:
        raise bad_value(name, value, f"an int or a sequence of {n_levels} ints (one per level)")
    return [None if v is None else int(v) for v in values]


def _check_n_clusters(n_clusters: Sequence[int], n: int) -> tuple[int, ...]:
    if isinstance(n_clusters, int | np.integer):
        n_clusters = (int(n_clusters),)
    ks = tuple(n_clusters)
    if not ks or any(isinstance(k, bool) or not isinstance(k, int | np.integer) for k in ks):
        raise bad_value("n_clusters", n_clusters, "a non-empty sequence of positive ints")
    if any(k < 1 for k in ks):
        raise bad_value("n_clusters", n_clusters, "positive cluster counts")
    if any(b >= a for a, b in itertools.pairwise(ks)):
        raise bad_value(
            "n_clusters",
            n_clusters,
            "strictly decreasing counts from the bottom level up, e.g. (1000, 100, 10)",
        )
    if ks[0] > n:
        raise bad_value(
            "n_clusters", n_clusters, f"k_1 <= the number of points ({n})", "Use fewer clusters."
        )
    return tuple(int(k) for k in ks)


@overload
def closest_per_cluster(labels: np.ndarray, sqdist: np.ndarray, size: int) -> np.ndarray: ...
@overload
def closest_per_cluster(labels: torch.Tensor, sqdist: torch.Tensor, size: int) -> torch.Tensor: ...
def closest_per_cluster(
    labels: np.ndarray | torch.Tensor, sqdist: np.ndarray | torch.Tensor, size: int
) -> np.ndarray | torch.Tensor:
    """Indices of the ``size`` items of each cluster closest to its centroid (all of a smaller one).

    Works on NumPy arrays or on torch tensors on any device (then it stays there) and returns
    the same kind. Ties are broken by item index, so the result is deterministic. Sorted.
    """
    if isinstance(labels, torch.Tensor):
        return _closest(labels, torch.as_tensor(sqdist, device=labels.device), size)
    lab = torch.from_numpy(np.asarray(labels))
    return _closest(lab, torch.as_tensor(np.asarray(sqdist)), size).numpy()


def _closest(lab: torch.Tensor, dist: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`closest_per_cluster` on tensors of one device."""
    order = torch.argsort(dist, stable=True)  # by distance, ties by index
    order = order[torch.argsort(lab[order], stable=True)]  # then by cluster
    sorted_labels = lab[order]
    starts = torch.searchsorted(sorted_labels, sorted_labels)  # first slot of each cluster
    rank = torch.arange(lab.numel(), device=lab.device) - starts
    return torch.sort(order[rank < size]).values


def hierarchical_kmeans(
    X: object,
    n_clusters: Sequence[int],
    *,
    n_resampling: int | Sequence[int] = 10,
    sample_size: int | Sequence[int | None] | None = None,
    n_iter: int = 25,
    resampling_n_iter: int = 5,
    warm_start: bool = False,
    polish_n_iter: int = 0,
    init: InitMethod = "greedy-k-means++",
    spherical: bool = False,
    device: Device = "auto",
    backend: Backend = "auto",
    n_threads: int | None = None,
    seed: RandomState = 0,
    progress: ProgressCallback | None = None,
) -> Hierarchy:
    r"""Vo et al.'s hierarchical k-means with resampling (see the module docstring).

    Args:
        X: ``(n, d)`` embeddings, a NumPy array or a torch tensor (a CUDA tensor is clustered on
            its device); float32 used, NaN/inf rejected.
        n_clusters: ``(k_1, k_2, ..., k_L)``, strictly decreasing, ``k_1 <= n``.
        n_resampling: Resampling steps :math:`R_\ell`, one int for all levels or one per level
            (Vo et al. use 10; 0 gives plain hierarchical k-means).
        sample_size: Items :math:`s_\ell` kept per cluster in a resampling step, an int or one per
            level; ``None`` means half the mean cluster size,
            :math:`s_\ell = \lceil n_\ell / (2 k_\ell) \rceil` (Vo et al.'s configs), with
            :math:`n_\ell` the number of items at level :math:`\ell`.
        n_iter: Lloyd iterations of the first k-means of every level.
        resampling_n_iter: Lloyd iterations of each resampling refit.
        warm_start: Start each refit from the current centroids instead of a fresh seeding
            (cheaper, but it keeps rare modes merged; see the module docstring).
        polish_n_iter: Lloyd iterations on all items of a level after its resampling steps,
            warm-started from the last refit (0: none; see the module docstring).
        init: Seeding of the first k-means of a level (see
            :class:`~eoforge.curation.kmeans.KMeans`).
        spherical: Cosine k-means (inputs L2-normalised, unit-norm centroids at every level).
        device: ``"auto"``, ``"cpu"``, ``"gpu"``/``"cuda"`` (see
            :func:`~eoforge.curation.kmeans.choose_backend`).
        backend: ``"auto"``, ``"faiss"`` or ``"torch"``.
        n_threads: faiss CPU threads (``None``: one for small problems, all otherwise; see
            :func:`~eoforge.curation.faiss_backend.faiss_threads`).
        seed: Seed or generator (every k-means run gets its own derived seed).
        progress: Optional ``progress(done, total)``, one tick per k-means run.

    Returns:
        The :class:`Hierarchy`.
    """
    backend_name, dev, gpu = choose_backend(X, device, backend)
    Xt = as_float32_tensor(X, dev)
    n = Xt.shape[0]
    ks = _check_n_clusters(n_clusters, n)
    plan = _Plan.checked(n_resampling, sample_size, n_iter, resampling_n_iter, warm_start,
                         polish_n_iter, n, ks)  # fmt: skip
    if spherical:
        Xt = torch.nn.functional.normalize(Xt, dim=1)
    assignments: list[np.ndarray] = []
    centroids: list[np.ndarray] = []
    data = Xt
    sqdist = np.zeros(n, dtype=np.float32)
    with faiss_threads(n, ks[0], Xt.shape[1], n_threads) as threads:
        runs = _Runs(init, spherical, "gpu" if gpu or dev.type == "cuda" else "cpu", backend_name,
                     gpu, dev, threads, as_generator(seed), plan.total_runs, progress)  # fmt: skip
        for level, k in enumerate(ks):
            cent, labels, dist = _fit_level(runs, plan, level, data, k)
            if level == 0:
                sqdist = dist.cpu().numpy()
            assignments.append(labels.cpu().numpy())
            centroids.append(cent.cpu().numpy())
            data = cent
    return Hierarchy(
        assignments=tuple(assignments),
        centroids=tuple(centroids),
        sizes=_cluster_sizes(assignments, ks),
        distances=sqdist,
        spherical=spherical,
    )


@dataclass(frozen=True)
class _Plan:
    """Lloyd iterations and resampling steps of every level (validated)."""

    n_iter: int
    resampling_n_iter: int
    warm_start: bool
    polish_n_iter: int
    steps: tuple[int, ...]  # resampling steps R_l actually run (0 when s_l <= 1)
    sample_sizes: tuple[int, ...]  # s_l

    @property
    def total_runs(self) -> int:
        """k-means runs of the whole hierarchy (the progress total)."""
        polish = sum(bool(r and self.polish_n_iter) for r in self.steps)
        return len(self.steps) + sum(self.steps) + polish

    @classmethod
    def checked(
        cls, n_resampling: int | Sequence[int], sample_size: int | Sequence[int | None] | None,
        n_iter: int, resampling_n_iter: int, warm_start: bool, polish_n_iter: int, n: int,
        ks: tuple[int, ...],
    ) -> _Plan:  # fmt: skip
        """The plan of :func:`hierarchical_kmeans`'s arguments (errors name the argument)."""
        n_levels = len(ks)
        resamples = _per_level(n_resampling, n_levels, "n_resampling")
        if any(r is None or r < 0 for r in resamples):
            raise bad_value("n_resampling", n_resampling, "ints >= 0")
        sizes_s = _per_level(sample_size, n_levels, "sample_size")
        if any(s is not None and s < 1 for s in sizes_s):
            raise bad_value("sample_size", sample_size, "positive ints (or None for the default)")
        if isinstance(resampling_n_iter, bool) or not isinstance(resampling_n_iter, int):
            raise bad_value("resampling_n_iter", resampling_n_iter, "a positive int")
        if resampling_n_iter < 1:
            raise bad_value("resampling_n_iter", resampling_n_iter, "a positive int")
        if (
            isinstance(polish_n_iter, bool)
            or not isinstance(polish_n_iter, int)
            or polish_n_iter < 0
        ):
            raise bad_value("polish_n_iter", polish_n_iter, "an int >= 0")
        n_items = [n, *ks[:-1]]
        s_eff = [
            (s if s is not None else int(np.ceil(m / (2 * k))))
            for s, m, k in zip(sizes_s, n_items, ks, strict=True)
        ]
        steps = [(r or 0) if s > 1 else 0 for r, s in zip(resamples, s_eff, strict=True)]
        return cls(n_iter, resampling_n_iter, warm_start, polish_n_iter, tuple(steps),
                   tuple(s_eff))  # fmt: skip


@dataclass
class _Runs:
    """Every k-means run of one hierarchy: shared settings, one seed stream, one progress count."""

    init: InitMethod
    spherical: bool
    device: Device
    backend: Literal["faiss", "torch"]
    gpu: bool
    dev: torch.device
    threads: int
    rng: np.random.Generator
    total: int
    progress: ProgressCallback | None
    done: int = 0

    def run(
        self, data: torch.Tensor, k: int, start: torch.Tensor | None, iters: int
    ) -> torch.Tensor:
        """``(k, d)`` centroids of ``iters`` Lloyd iterations on ``data`` from ``start``."""
        self.done += 1
        if start is not None and iters == 0:  # nothing left to run
            if self.progress is not None:
                self.progress(self.done, self.total)
            return start
        km = KMeans(
            k,
            n_iter=iters,
            init=self.init if start is None else start,
            spherical=self.spherical,
            device=self.device,
            backend=self.backend,
            compute_labels=False,
            n_threads=self.threads,
            random_state=int(self.rng.integers(0, 2**31 - 1)),
        ).fit(data)
        if self.progress is not None:
            self.progress(self.done, self.total)
        return torch.from_numpy(km.cluster_centers_).to(self.dev)

    def nearest(self, data: torch.Tensor, cent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Labels and squared distances of ``data`` to ``cent``."""
        return nearest(data, cent, self.backend, self.gpu)


def _fit_level(
    runs: _Runs, plan: _Plan, level: int, data: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One level: k-means, resampling refits on the closest items, polish; (cent, labels, dist)."""
    cent = runs.run(data, k, None, plan.n_iter)
    labels, dist = runs.nearest(data, cent)
    for _ in range(plan.steps[level]):
        sub = closest_per_cluster(labels, dist, plan.sample_sizes[level])
        if sub.numel() < k:  # too many empty clusters to refit k centroids on the sample
            break
        if plan.warm_start:  # the first update is free: S's labels are known
            cent = update_centroids(data[sub], labels[sub], dist[sub], cent, runs.spherical)
            cent = runs.run(data[sub], k, cent, plan.resampling_n_iter - 1)
        else:
            cent = runs.run(data[sub], k, None, plan.resampling_n_iter)
        labels, dist = runs.nearest(data, cent)
    if plan.steps[level] and plan.polish_n_iter:
        cent = runs.run(data, k, cent, plan.polish_n_iter)
        labels, dist = runs.nearest(data, cent)
    return cent, labels, dist


def _cluster_sizes(assignments: list[np.ndarray], ks: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Items of the data under each cluster of every level (level-1 counts summed upwards)."""
    sizes = [np.bincount(assignments[0], minlength=ks[0]).astype(np.int64)]
    for level in range(1, len(ks)):
        sizes.append(
            np.bincount(assignments[level], weights=sizes[-1], minlength=ks[level]).astype(np.int64)
        )
    return tuple(sizes)
