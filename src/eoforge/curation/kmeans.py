r"""The k-means estimator on embeddings: faiss on the CPU, torch on a GPU (:func:`choose_backend`).

Lloyd's algorithm minimises the k-means objective (the *inertia*)

.. math::

    J(\mu_1, \dots, \mu_k) = \sum_{i=1}^{n} \min_{c} \lVert x_i - \mu_c \rVert_2^2 ,

alternating the assignment :math:`a_i = \arg\min_c \lVert x_i - \mu_c \rVert^2` and the update
:math:`\mu_c = \operatorname{mean}\{x_i : a_i = c\}`. With ``spherical=True`` the inputs are
L2-normalised and every centroid is renormalised after its update (spherical k-means), so the
assignment maximises the cosine similarity: for unit vectors
:math:`\lVert x - \mu \rVert^2 = 2 (1 - \cos(x, \mu))`.

The backends do the heavy work: faiss (:mod:`.faiss_backend`: BLAS distance blocks,
multi-threaded centroid updates, empty-cluster splitting) or torch (:mod:`.kmeans_torch`, on the
embeddings' device); inputs are validated by :mod:`.embeddings`. This estimator adds greedy k-means++ seeding (:func:`greedy_kmeanspp`, the default;
faiss' own plain k-means++ is available and cheaper, but often merges well-separated modes),
explicit seeds, float32/NaN validation, restarts
(``n_init``), a relative-tolerance stop, a ``progress(done, total)`` callback (one tick per Lloyd
iteration: faiss is called one iteration at a time, which gives the same centroids as one call) and
automatic GPU use. Unlike ``faiss.Kmeans`` it never subsamples the training set silently.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from eoforge.core.errors import ShapeError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.seeding import RandomState, as_generator, torch_generator
from eoforge.curation import kmeans_torch as kt
from eoforge.curation.embeddings import as_float32_tensor
from eoforge.curation.faiss_backend import (
    FAISS_INIT,
    Device,
    assign,
    faiss_lloyd,
    faiss_threads,
    resolve_device,
)
from eoforge.nn.device import resolve_device as resolve_torch_device

InitMethod = Literal["greedy-k-means++", "k-means++", "afk-mc2", "random"]
Backend = Literal["auto", "faiss", "torch"]

CPU_BACKEND: Literal["faiss", "torch"] = (
    "faiss"  # measured faster on the CPU (benchmarks/curation_kmeans.py)
)


def choose_backend(
    X: object, device: Device, backend: Backend
) -> tuple[Literal["faiss", "torch"], torch.device, bool]:
    """Where k-means runs: ``(backend, torch device, faiss on GPU)``.

    A CUDA tensor stays on its device (torch backend) unless ``device="cpu"`` or
    ``backend="faiss"``; ``"gpu"``/``"cuda"``/``"auto"`` take torch on CUDA when torch sees it,
    else faiss' GPU when faiss has one; the CPU gets :data:`CPU_BACKEND` unless ``backend`` says.
    """
    if backend not in ("auto", "faiss", "torch"):
        raise bad_value("backend", backend, "one of 'auto', 'faiss', 'torch'")
    if device not in ("auto", "cpu", "gpu", "cuda"):
        raise bad_value("device", device, "one of 'auto', 'cpu', 'gpu', 'cuda'")
    cpu = torch.device("cpu")
    if isinstance(X, torch.Tensor) and X.is_cuda and device != "cpu" and backend != "faiss":
        return "torch", X.device, False
    if backend == "faiss":
        return "faiss", cpu, resolve_device(device)
    if torch.cuda.is_available() and resolve_torch_device(device, "device") == "gpu":
        return "torch", torch.device("cuda"), False
    if backend == "torch":
        resolve_torch_device(device, "device")  # refuses 'gpu' without CUDA
        return "torch", cpu, False
    gpu = resolve_device(device)
    return ("faiss", cpu, True) if gpu else (CPU_BACKEND, cpu, False)


def greedy_kmeanspp(
    X: np.ndarray, k: int, rng: np.random.Generator, n_local_trials: int | None = None
) -> np.ndarray:
    """Greedy k-means++ seeds of a float32 array (:func:`kmeans_torch.greedy_kmeanspp` on CPU).

    Args:
        X: ``(n, d)`` float32 points.
        k: Number of seeds.
        rng: Generator of the draws (seeds the torch generator).
        n_local_trials: Candidates per seed (default ``2 + floor(ln k)``).

    Returns:
        ``(k, d)`` float32 seeds (rows of ``X``).
    """
    Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    gen = torch_generator(int(rng.integers(0, 2**63 - 1)))
    return Xt[kt.greedy_kmeanspp(Xt, k, gen, n_local_trials)].numpy()


def nearest(
    X: torch.Tensor, C: torch.Tensor, backend: str, gpu: bool, chunk_budget: int = kt.CHUNK_BUDGET
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`assign` for tensors on the backend's device: ``(labels, sqdist)`` tensors there.

    The torch backend computes in full float32 (no TF32), as every reported distance is.
    """
    if backend == "torch":
        with kt.matmul_precision(X.device, "fp32"):
            return kt.nearest(X, C, chunk_budget)
    labels, sqdist = assign(X.numpy(), C.cpu().numpy(), gpu)
    return torch.from_numpy(labels), torch.from_numpy(sqdist)


class KMeans:
    """Seeded k-means (faiss or torch) with restarts, warm starts, spherical option and progress.

    Args:
        n_clusters: Number of clusters ``k`` (at most the number of points).
        n_iter: Maximum number of Lloyd iterations per restart.
        n_init: Restarts; the run with the lowest inertia is kept.
        init: Seeding: ``"greedy-k-means++"`` (:func:`greedy_kmeanspp`, scikit-learn's default,
            cost O(m k d log k) on ``m = init_size`` points), ``"k-means++"`` (one candidate per
            seed), ``"afk-mc2"`` (faiss' MCMC approximation of k-means++; faiss backend only),
            ``"random"`` (``k`` distinct random points), or a ``(k, d)`` array of starting
            centroids (a warm start: every restart starts there).
        init_size: Points (a seeded random subset) the k-means++ seeding looks at; ``None``
            means ``min(n, max(20000, 20 k))``. Seeding is sequential over ``k`` and costs as
            much as ``L = 2 + ln k`` passes over its points, so on all points it can cost more
            than the Lloyd iterations that follow; Lloyd then refines on all points.
        spherical: L2-normalise inputs and centroids (cosine k-means).
        tol: Stop a restart when the relative decrease of the objective over one iteration is
            below ``tol`` (0 runs all ``n_iter`` iterations); checked every ``check_every``.
        check_every: Iterations between convergence checks (the torch backend's only host
            synchronisation; faiss runs that many iterations per call).
        device: ``"auto"`` (the embeddings' CUDA device, else torch's GPU, else faiss' GPU, else
            the CPU), ``"cpu"``, or ``"gpu"``/``"cuda"``.
        backend: ``"auto"`` (torch on a GPU, :data:`CPU_BACKEND` on the CPU), ``"faiss"`` or
            ``"torch"`` (see :func:`choose_backend`).
        chunk_budget: Torch backend: most distances held at once (bounded memory).
        compute_labels: Assign the training points to the final centroids (one more pass);
            when False, ``labels_``/``sqdist_`` are ``None`` and ``inertia_`` is the last
            objective of ``objective_history_`` (that of the centroids before the last update).
        precision: Torch backend on CUDA: ``"fp32"`` products, or ``"tf32"`` for the seeding
            and Lloyd steps (fp32 accumulation; final labels and distances stay fp32). At
            200k x 1000 x 128 one fp32 pass is ~50 GFLOP, milliseconds on a current GPU, so
            fp32 is the default; TF32's effect on the inertia is unmeasured.
        n_threads: faiss CPU threads; ``None`` = one for small problems, all otherwise
            (:func:`faiss_threads`).
        random_state: Seed or generator for the seeds of the restarts.

    Attributes:
        cluster_centers_: ``(k, d)`` float32 centroids (unit norm when spherical).
        labels_: ``(n,)`` int64 cluster of each training point (for the kept centroids).
        sqdist_: ``(n,)`` float32 squared distance of each point to its centroid.
        inertia_: :math:`J` of the kept centroids (float64 sum of ``sqdist_``).
        n_iter_: Lloyd iterations run by the kept restart.
        objective_history_: Objective before each update of the kept restart.
        backend_: ``"faiss"`` or ``"torch"``; ``device_``: the torch device (``"cpu"``,
            ``"cuda:0"``); ``uses_gpu_``: whether a GPU did the work.
    """

    def __init__(
        self,
        n_clusters: int,
        *,
        n_iter: int = 25,
        n_init: int = 1,
        init: InitMethod | np.ndarray | torch.Tensor = "greedy-k-means++",
        init_size: int | None = None,
        spherical: bool = False,
        tol: float = 0.0,
        check_every: int = 4,
        device: Device = "auto",
        backend: Backend = "auto",
        chunk_budget: int = kt.CHUNK_BUDGET,
        compute_labels: bool = True,
        precision: kt.Precision = "fp32",
        n_threads: int | None = None,
        random_state: RandomState = None,
    ) -> None:
        self.n_clusters = n_clusters
        self.n_iter = n_iter
        self.n_init = n_init
        self.init = init
        self.init_size = init_size
        self.spherical = spherical
        self.tol = tol
        self.check_every = check_every
        self.device = device
        self.backend = backend
        self.chunk_budget = chunk_budget
        self.compute_labels = compute_labels
        self.precision = precision
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
        for name in ("n_iter", "n_init", "check_every", "chunk_budget"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise bad_value(name, value, "a positive int")
        if self.init_size is not None and (
            not isinstance(self.init_size, int | np.integer) or self.init_size < k
        ):
            raise bad_value("init_size", self.init_size, f"None or an int >= n_clusters ({k})")
        if isinstance(self.init, str) and self.init not in FAISS_INIT:
            raise bad_value("init", self.init, f"one of {sorted(FAISS_INIT)} or a (k, d) array")
        if self.precision not in ("fp32", "tf32"):
            raise bad_value("precision", self.precision, "'fp32' or 'tf32'")
        if not (np.isfinite(self.tol) and self.tol >= 0):
            raise bad_value("tol", self.tol, "a finite float >= 0")

    def fit(self, X: object, progress: ProgressCallback | None = None) -> KMeans:
        """Cluster ``X`` of shape ``(n, d)``.

        Args:
            X: Embeddings: a NumPy array or a torch tensor (a CUDA tensor is clustered where it
                is); converted to float32, NaN/inf rejected.
            progress: Optional ``progress(done, total)`` called after every Lloyd iteration,
                with ``total = n_init * n_iter`` (jumps ahead when ``tol`` stops a restart early).

        Returns:
            ``self``, fitted.
        """
        backend, dev, gpu = choose_backend(X, self.device, self.backend)
        Xt = as_float32_tensor(X, dev)
        n, d = Xt.shape
        self._check_params(n)
        if self.spherical:
            Xt = torch.nn.functional.normalize(Xt, dim=1)
        self.backend_, self.device_, self.uses_gpu_ = backend, str(dev), gpu or dev.type == "cuda"
        k = int(self.n_clusters)
        init_C = None if isinstance(self.init, str) else self._init_array(d, dev)
        seeds = as_generator(self.random_state).integers(0, 2**31 - 1, size=self.n_init)
        runs = []  # (inertia, centroids, history) of every restart
        with faiss_threads(n, k, d, self.n_threads), kt.matmul_precision(dev, self.precision):
            for run, seed in enumerate(seeds):
                C0 = init_C if init_C is not None else self._seed(Xt, k, int(seed), backend)
                offset = (run * self.n_iter, self.n_init * self.n_iter)
                C, history = self._lloyd(Xt, k, int(seed), C0, gpu, progress, offset)
                labels = sqdist = None
                inertia = history[-1]
                if self.compute_labels:
                    labels, sqdist = nearest(Xt, C, backend, gpu, self.chunk_budget)
                    inertia = float(sqdist.sum(dtype=torch.float64))
                runs.append((inertia, C, history, labels, sqdist))
                if progress is not None:
                    progress((run + 1) * self.n_iter, self.n_init * self.n_iter)
        self.inertia_, C, history, labels, sqdist = min(runs, key=lambda r: r[0])
        self.cluster_centers_ = C.cpu().numpy()
        self.labels_ = None if labels is None else labels.cpu().numpy()
        self.sqdist_ = None if sqdist is None else sqdist.cpu().numpy()
        self.objective_history_ = [float(v) for v in history]
        self.n_iter_ = len(self.objective_history_)
        return self

    def _init_array(self, d: int, dev: torch.device) -> torch.Tensor:
        C = as_float32_tensor(self.init, dev, "init")
        if tuple(C.shape) != (int(self.n_clusters), d):
            raise ShapeError(
                f"init has shape {tuple(C.shape)}: expected (n_clusters, n_features) = "
                f"({int(self.n_clusters)}, {d})."
            )
        return torch.nn.functional.normalize(C, dim=1) if self.spherical else C

    def _seed(self, X: torch.Tensor, k: int, seed: int, backend: str) -> torch.Tensor | None:
        """Starting centroids of one restart (``None``: faiss seeds itself, for afk-mc2)."""
        if self.init == "afk-mc2":
            if backend == "torch":
                raise bad_value("init", self.init, "a method of the torch backend", "Use greedy.")
            return None
        gen = torch_generator(seed, X.device)
        n = X.shape[0]
        if self.init == "random":
            return X[torch.randperm(n, generator=gen, device=X.device)[:k]]
        m = min(n, self.init_size or max(20_000, 20 * k))
        if m < n:
            X = X[torch.randperm(n, generator=gen, device=X.device)[:m]]
        trials = 1 if self.init == "k-means++" else None
        return X[kt.greedy_kmeanspp(X, k, gen, trials, self.chunk_budget)]

    def _lloyd(
        self,
        X: torch.Tensor,
        k: int,
        seed: int,
        C0: torch.Tensor | None,
        gpu: bool,
        progress: ProgressCallback | None,
        offset: tuple[int, int],
    ) -> tuple[torch.Tensor, list[float]]:
        """One restart from ``C0``: torch Lloyd, or faiss several iterations per call."""
        if self.backend_ == "torch":
            assert C0 is not None  # _seed refused afk-mc2
            C, hist = kt.lloyd(
                X, C0, int(self.n_iter), tol=self.tol, spherical=self.spherical,
                check_every=int(self.check_every), chunk_budget=self.chunk_budget,
                progress=progress, progress_offset=offset,
            )  # fmt: skip
            return C, hist.tolist()
        per_call = 1 if progress is not None else self.check_every if self.tol > 0 else self.n_iter
        return faiss_lloyd(
            X, C0, int(self.n_iter), k=k, seed=seed, spherical=self.spherical, tol=self.tol,
            per_call=int(per_call), gpu=gpu, progress=progress, offset=offset,
        )  # fmt: skip

    def predict(self, X: object) -> np.ndarray:
        """Index of the nearest fitted centroid for each row of ``X``."""
        return self.assign(X)[0]

    def assign(self, X: object) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, squared distances)`` of ``X`` to the fitted centroids (NumPy arrays)."""
        if not hasattr(self, "cluster_centers_"):
            raise bad_value("KMeans", "unfitted", "a fitted estimator", "Call fit(X) first.")
        Xt = as_float32_tensor(X, torch.device(self.device_))
        if Xt.shape[1] != self.cluster_centers_.shape[1]:
            raise ShapeError(
                f"X has {Xt.shape[1]} features but the model was fitted on "
                f"{self.cluster_centers_.shape[1]}."
            )
        if self.spherical:
            Xt = torch.nn.functional.normalize(Xt, dim=1)
        C = torch.from_numpy(self.cluster_centers_).to(Xt.device)
        labels, sqdist = nearest(Xt, C, self.backend_, self.uses_gpu_, self.chunk_budget)
        return labels.cpu().numpy(), sqdist.cpu().numpy()
