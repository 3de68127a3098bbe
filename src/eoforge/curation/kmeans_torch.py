r"""k-means kernels in torch, run on the embeddings' own device (CUDA or CPU).

Squared distances come from one matrix product per block of rows,

.. math::

    \lVert x_i - \mu_c \rVert^2 = \lVert x_i \rVert^2 - 2\, x_i^\top \mu_c
        + \lVert \mu_c \rVert^2 ,

computed for ``rows = chunk_budget // k`` points at a time, so no ``n x k`` matrix larger than
``chunk_budget`` floats ever exists. The products run in float32 with float32 accumulation
(``precision="fp32"``) or, on CUDA, in TF32 (10-bit mantissa inputs, fp32 accumulation:
``precision="tf32"``); bf16 is not offered, since its 8-bit mantissa makes the cancellation in
the formula above lose the distance itself when :math:`\lVert x \rVert \gg \lVert x - \mu
\rVert`. Inertias reported to the caller are always recomputed in float32.

Lloyd's update :math:`\mu_c = \operatorname{mean}\{x_i : a_i = c\}` is an ``index_add_``
(sequential, hence deterministic, on the CPU); an empty cluster takes the point farthest from its
centroid (the ``j``-th empty cluster the ``j``-th farthest point), all without leaving the device.
Seeding is greedy k-means++ (:func:`greedy_kmeanspp`). Nothing here synchronises with the host
except where a caller asks for a number (the convergence check of :func:`lloyd`, every
``check_every`` iterations).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Literal

import torch

from eoforge.core.progress import ProgressCallback
from eoforge.nn.linear_probes import cpu_threads

Precision = Literal["fp32", "tf32"]

CHUNK_BUDGET = 2**24  # floats (64 MiB) in one block of distances


def row_block(width: int, chunk_budget: int = CHUNK_BUDGET) -> int:
    """Rows per block so that a ``rows x width`` block holds at most ``chunk_budget`` floats."""
    return max(1, chunk_budget // max(1, width))


@contextlib.contextmanager
def one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run torch on one CPU thread inside the block (no effect on CUDA), then restore.

    For sequences of small operations (the seeding loop): their parallel regions are too small
    to share, and on a loaded machine OpenMP threads spin against other processes (greedy
    seeding of 20,000 x 128 points, k = 1000: 16 s on one thread, 243 s on two, 2-core CPU
    loaded by other work).
    """
    with cpu_threads(1 if device.type == "cpu" else None):
        yield


@contextlib.contextmanager
def matmul_precision(device: torch.device, precision: Precision) -> Iterator[None]:
    """TF32 matrix products on CUDA inside the block for ``"tf32"``, none for ``"fp32"``.

    The setting in force before is restored on exit. No effect on the CPU.
    """
    if device.type != "cuda":
        yield
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = precision != "fp32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def nearest(
    X: torch.Tensor, C: torch.Tensor, chunk_budget: int = CHUNK_BUDGET
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centroid of every row of ``X``, in blocks of at most ``chunk_budget`` distances.

    Args:
        X: ``(n, d)`` float32 points.
        C: ``(k, d)`` float32 centroids on the same device.
        chunk_budget: Largest number of distances held at once.

    Returns:
        ``(labels, sqdist)``: int64 ``(n,)`` (first centroid on ties) and float32 ``(n,)``
        squared distances clipped at 0.
    """
    n, k = X.shape[0], C.shape[0]
    c_sq = (C * C).sum(1)  # (k,)
    labels = torch.empty(n, dtype=torch.int64, device=X.device)
    sqdist = torch.empty(n, dtype=torch.float32, device=X.device)
    step = row_block(k, chunk_budget)
    for s in range(0, n, step):
        Xb = X[s : s + step]  # (m, d)
        D = torch.addmm(c_sq[None, :], Xb, C.T, alpha=-2.0)  # (m, k): |c|^2 - 2 x.c
        m, a = D.min(1)
        labels[s : s + step] = a
        sqdist[s : s + step] = (m + (Xb * Xb).sum(1)).clamp_min_(0.0)
    return labels, sqdist


def _sqdist_to_rows(
    X: torch.Tensor, x_sq: torch.Tensor, rows: torch.Tensor, chunk_budget: int
) -> torch.Tensor:
    """``(len(rows), n)`` squared distances from ``X[rows]`` to every point, built in blocks."""
    P = X[rows]  # (L, d)
    out = torch.empty(rows.numel(), X.shape[0], dtype=torch.float32, device=X.device)
    step = row_block(rows.numel(), chunk_budget)
    for s in range(0, X.shape[0], step):
        G = torch.mm(X[s : s + step], P.T)  # (m, L)
        out[:, s : s + step] = (x_sq[s : s + step, None] - 2.0 * G + x_sq[rows][None, :]).T
    return out.clamp_min_(0.0)


def greedy_kmeanspp(
    X: torch.Tensor,
    k: int,
    generator: torch.Generator,
    n_local_trials: int | None = None,
    chunk_budget: int = CHUNK_BUDGET,
) -> torch.Tensor:
    r"""Greedy k-means++ seeding (Arthur & Vassilvitskii 2007; scikit-learn's variant), on device.

    The first seed is a uniform random point; each next one is the best of
    :math:`L = 2 + \lfloor \ln k \rfloor` candidates drawn with probability
    :math:`p_i \propto D(x_i)^2` (squared distance to the nearest seed so far), "best" meaning
    the lowest potential :math:`\sum_i \min(D(x_i)^2, \lVert x_i - c \rVert^2)`. Plain
    k-means++ (``L = 1``) often puts two seeds in one well-separated mode and none in another.
    Cost :math:`O(n k L d)`, memory :math:`O(n L)`; draws by inverse CDF (float64 cumulative
    sum), so no host synchronisation; one thread on the CPU (:func:`one_cpu_thread`). With fewer distinct points than ``k`` the extra seeds are
    uniform draws (duplicates, re-seeded later as empty clusters).

    Args:
        X: ``(n, d)`` float32 points.
        k: Number of seeds.
        generator: ``torch.Generator`` on ``X``'s device.
        n_local_trials: ``L`` (default ``2 + floor(ln k)``).
        chunk_budget: Largest block of distances held at once.

    Returns:
        ``(k,)`` int64 indices of the seed rows of ``X``.
    """
    with one_cpu_thread(X.device):
        return _greedy_seeds(X, k, generator, n_local_trials or 2 + int(math.log(k)), chunk_budget)


def _greedy_seeds(
    X: torch.Tensor, k: int, generator: torch.Generator, L: int, chunk_budget: int
) -> torch.Tensor:
    n, dev = X.shape[0], X.device
    x_sq = (X * X).sum(1)  # (n,)
    seeds = torch.empty(k, dtype=torch.int64, device=dev)
    seeds[:1] = torch.randint(n, (1,), generator=generator, device=dev)
    closest = _sqdist_to_rows(X, x_sq, seeds[:1], chunk_budget)[0]  # (n,) D(x)^2
    for i in range(1, k):
        cum = torch.cumsum(closest, 0, dtype=torch.float64)  # (n,)
        u = torch.rand(L, generator=generator, device=dev, dtype=torch.float64)
        cand = torch.searchsorted(cum, u * cum[-1], right=True).clamp_max_(n - 1)
        uniform = torch.randint(n, (L,), generator=generator, device=dev)
        cand = torch.where(cum[-1] > 0, cand, uniform)  # (L,)
        pot = torch.minimum(closest[None, :], _sqdist_to_rows(X, x_sq, cand, chunk_budget))
        best = pot.sum(1, dtype=torch.float64).argmin()
        seeds[i] = cand[best]
        closest = pot[best]
    return seeds


def update_centroids(
    X: torch.Tensor, labels: torch.Tensor, sqdist: torch.Tensor, C: torch.Tensor, spherical: bool
) -> torch.Tensor:
    """One Lloyd update: cluster means; empty clusters re-seeded at the farthest points.

    Args:
        X: ``(n, d)`` float32 points.
        labels: ``(n,)`` int64 cluster of each point.
        sqdist: ``(n,)`` squared distance of each point to its centroid (ranks the far points).
        C: ``(k, d)`` current centroids (only their shape and device are used).
        spherical: Renormalise the centroids to unit norm.

    Returns:
        ``(k, d)`` float32 new centroids.
    """
    k = C.shape[0]
    sums = torch.zeros_like(C).index_add_(0, labels, X)  # (k, d)
    counts = torch.bincount(labels, minlength=k)  # (k,)
    means = sums / counts.clamp_min(1)[:, None].to(sums.dtype)
    empty = counts == 0
    far = torch.topk(sqdist, min(k, sqdist.numel())).indices  # farthest first
    rank = (torch.cumsum(empty, 0) - 1).clamp_(0, far.numel() - 1)
    means = torch.where(empty[:, None], X[far[rank]], means)
    if spherical:
        means = torch.nn.functional.normalize(means, dim=1)
    return means


def lloyd(
    X: torch.Tensor,
    C: torch.Tensor,
    n_iter: int,
    *,
    tol: float = 0.0,
    spherical: bool = False,
    check_every: int = 4,
    chunk_budget: int = CHUNK_BUDGET,
    progress: ProgressCallback | None = None,
    progress_offset: tuple[int, int] = (0, 0),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd iterations from centroids ``C`` (a seeding or a warm start).

    Args:
        X: ``(n, d)`` float32 points.
        C: ``(k, d)`` float32 starting centroids.
        n_iter: Most iterations.
        tol: Stop when the objective fell by less than ``tol`` (relative) over the last
            iteration; checked every ``check_every`` iterations (the only host synchronisation).
        spherical: Unit-norm centroids.
        check_every: Iterations between convergence checks.
        chunk_budget: Largest block of distances held at once.
        progress: Optional ``progress(done, total)`` after every iteration.
        progress_offset: ``(done before this run, total)`` passed on to ``progress``.

    Returns:
        ``(centroids, history)``: the final ``(k, d)`` centroids and the float64 objective
        before each update (one entry per iteration run).
    """
    history = torch.zeros(n_iter, dtype=torch.float64, device=X.device)
    it = 0
    while it < n_iter:
        labels, sqdist = nearest(X, C, chunk_budget)
        history[it] = sqdist.sum(dtype=torch.float64)
        C = update_centroids(X, labels, sqdist, C, spherical)
        it += 1
        if progress is not None:
            progress(progress_offset[0] + it, progress_offset[1])
        if tol > 0 and it >= 2 and it % check_every == 0:
            prev, cur = history[it - 2 : it].tolist()
            if prev - cur <= tol * max(abs(prev), 1e-30):
                break
    return C, history[:it]
