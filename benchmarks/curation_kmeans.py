"""Benchmark: hierarchical k-means (faiss and torch backends) against scikit-learn, same run.

    python benchmarks/curation_kmeans.py [--n 200000 --d 128 --k 1000,100 --n-resampling 10
                                          --repeats 1 --seed 0 --threads T --device cpu|cuda]

* Data: ``--n`` x ``--d`` float32 embeddings drawn from a long-tailed mixture of ``--modes``
  Gaussian modes (Zipf weights :math:`w_j \\propto j^{-1.2}`), generated in blocks.
* Rows (run interleaved ``--repeats`` times; seconds are medians):

  1. ``sklearn.cluster.KMeans(k_1)`` with its defaults (greedy k-means++ on all points, Lloyd up
     to 300 iterations, ``tol=1e-4``): the single-level baseline of issue 15;
  2. ``eoforge.curation.KMeans(k_1)`` (faiss backend, 25 iterations);
  3. ``eoforge.curation.hierarchical_kmeans`` with all levels of ``--k`` and its defaults
     (``--n-resampling`` resampling steps per level), faiss backend;
  4. with ``--polish N``: the faiss row again with ``polish_n_iter=N``;
  5. the same with the torch backend (``--device cuda``: on the GPU, timed with
     ``torch.cuda.synchronize``; the target there is <= 2 s).

* Columns: seconds, ratio to scikit-learn, level-1 inertia
  (:math:`\\sum_i \\min_c \\lVert x_i - \\mu_c\\rVert^2`, recomputed the same way for every row),
  its ratio to scikit-learn's, and the number of the rarest half of the planted modes that own a
  cluster (a cluster whose points are >= 50 % from the mode).
* ``--threads`` caps the threads of every library (threadpoolctl, faiss, torch).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import faiss
import numpy as np
import sklearn
import torch
from sklearn.cluster import KMeans as SkKMeans
from threadpoolctl import threadpool_limits

from eoforge.curation.faiss_backend import assign
from eoforge.curation.hierarchy import hierarchical_kmeans
from eoforge.curation.kmeans import KMeans


def mixture(n: int, d: int, n_modes: int, seed: int, block: int = 100_000):
    """Long-tailed Gaussian mixture: ``(X float32 (n, d), mode (n,))``."""
    rng = np.random.default_rng(seed)
    w = 1.0 / np.arange(1, n_modes + 1) ** 1.2
    w /= w.sum()
    centers = rng.normal(size=(n_modes, d)).astype(np.float32) * 1.5
    scales = rng.uniform(0.5, 1.0, size=n_modes).astype(np.float32)
    y = rng.choice(n_modes, size=n, p=w)
    X = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, block):
        e = min(n, s + block)
        X[s:e] = centers[y[s:e]] + scales[y[s:e], None] * rng.standard_normal(
            (e - s, d), dtype=np.float32
        )
    return X, y


def rare_modes_owning_a_cluster(labels: np.ndarray, y: np.ndarray, n_modes: int) -> int:
    """Modes of the rarest half with a cluster whose points are >= 50 % from that mode."""
    k = int(labels.max()) + 1
    joint = np.bincount(labels * n_modes + y, minlength=k * n_modes).reshape(k, n_modes)
    pure = joint >= 0.5 * joint.sum(axis=1, keepdims=True).clip(min=1)
    counts = np.bincount(y, minlength=n_modes)
    rare = np.argsort(counts)[: n_modes // 2]
    return int(np.sum(pure[:, rare].any(axis=0)))


def _timed(fn, device: str):
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def _methods(args, X, ks):
    """``(name, callable returning level-1 centroids)`` of every row."""
    k1, dev = ks[0], args.device
    Xd = torch.from_numpy(X).to("cuda") if dev == "cuda" else X
    rows = []
    if not args.skip_sklearn:
        rows.append((
            f"scikit-learn KMeans(k={k1}) defaults",
            lambda: SkKMeans(k1, random_state=args.seed).fit(X).cluster_centers_,
        ))  # fmt: skip
    rows.append((
        f"eoforge KMeans(k={k1}) faiss, 25 it",
        lambda: KMeans(k1, device="cpu", backend="faiss", compute_labels=False,
                       random_state=args.seed).fit(X).cluster_centers_,
    ))  # fmt: skip
    runs = [("faiss", 0), ("faiss", args.polish), ("torch", 0)]
    for backend, polish in dict.fromkeys(runs):
        if (backend == "faiss" and dev == "cuda") or (backend == "torch" and args.skip_torch):
            continue
        data = Xd if backend == "torch" else X
        where = dev if backend == "torch" else "cpu"
        rows.append((
            f"eoforge hierarchical {ks}, R={args.n_resampling}, polish {polish}, {backend} ({where})",
            lambda data=data, backend=backend, polish=polish, where=where: hierarchical_kmeans(
                data, ks, n_resampling=args.n_resampling, backend=backend, polish_n_iter=polish,
                device=where, seed=args.seed,
            ).centroids[0],
        ))  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", default="1000,100", help="cluster counts per level, bottom first")
    ap.add_argument("--modes", type=int, default=200)
    ap.add_argument("--n-resampling", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=1, help="interleaved repetitions (medians)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--skip-torch", action="store_true", help="no torch-backend row")
    ap.add_argument("--polish", type=int, default=0, help="also a row with polish_n_iter=N")
    ap.add_argument(
        "--threads", type=int, default=None, help="limit BLAS/OpenMP/faiss threads (all: default)"
    )
    args = ap.parse_args()
    if args.threads is not None:  # one limit for scikit-learn, faiss and torch alike
        faiss.omp_set_num_threads(args.threads)
        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    ks = tuple(int(v) for v in args.k.split(","))

    t0 = time.perf_counter()
    X, y = mixture(args.n, args.d, args.modes, args.seed)
    t_data = time.perf_counter() - t0
    methods = _methods(args, X, ks)
    secs = {name: [] for name, _ in methods}
    cents = {}
    for rep in range(args.repeats):
        for name, fn in methods:
            s, cents[name] = _timed(fn, args.device)
            secs[name].append(s)
            print(f"  repeat {rep}: {name}: {s:.1f} s", flush=True)

    print(
        f"k-means on {args.n:,} x {args.d} float32 ({args.modes} long-tailed modes; "
        f"data made in {t_data:.1f} s), median of {args.repeats} interleaved repeats"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"threads {args.threads or 'all'}; scikit-learn {sklearn.__version__}, faiss "
        f"{faiss.__version__}, torch {torch.__version__}"
    )
    print()
    print(
        "| method | seconds | speed-up vs first row | level-1 inertia | inertia ratio | rare modes "
        "owning a cluster |"
    )
    print("|---|---|---|---|---|---|")
    base = None
    for name, _ in methods:
        med = float(np.median(secs[name]))
        labels, d2 = assign(X, np.ascontiguousarray(cents[name], dtype=np.float32))
        inertia = float(np.sum(d2, dtype=np.float64))
        base = base or (med, inertia)
        owned = rare_modes_owning_a_cluster(labels, y, args.modes)
        print(
            f"| {name} | {med:.1f} | {base[0] / med:.2f}x | {inertia:.4e} | "
            f"{inertia / base[1]:.4f} | {owned} / {args.modes // 2} |"
        )


if __name__ == "__main__":
    main()
