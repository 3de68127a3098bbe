"""Benchmark: eoforge k-means / hierarchical k-means against scikit-learn KMeans, same run.

    python benchmarks/curation_kmeans.py [--n 1000000 --d 128 --k 1000,100 --n-iter 20
                                          --n-resampling 3 --seed 0 --threads T]

* Data: ``--n`` x ``--d`` float32 embeddings drawn from a long-tailed mixture of ``--modes``
  Gaussian modes (Zipf weights :math:`w_j \\propto j^{-1.2}`), generated in blocks.
* Rows, all with the same level-1 ``k`` (first entry of ``--k``) and ``--n-iter`` Lloyd iterations,
  greedy k-means++ seeding, one restart, no early stop:

  1. ``sklearn.cluster.KMeans`` (Lloyd, the baseline);
  2. ``eoforge.curation.kmeans.KMeans`` (faiss Lloyd iterations, same seeding rule);
  3. ``eoforge.curation.hierarchical_kmeans`` with all levels of ``--k`` and ``--n-resampling``
     resampling steps per level (Vo et al.): more work, and a higher inertia by design (resampling
     moves centroids from dense modes to rare ones).

* Columns: seconds, level-1 inertia (:math:`\\sum_i \\min_c \\lVert x_i - \\mu_c\\rVert^2`,
  recomputed the same way for every row), its ratio to scikit-learn's, and the number of the
  rarest half of the planted modes that own a cluster (a cluster whose points are >= 50 % from the
  mode).
* ``--threads`` caps the threads of both libraries (threadpoolctl and faiss): on a shared, loaded
  machine OpenMP threads spin against other processes and one thread gives steadier ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import faiss
import numpy as np
import sklearn
from sklearn.cluster import KMeans as SkKMeans
from threadpoolctl import threadpool_limits

from eoforge.curation.hierarchy import hierarchical_kmeans
from eoforge.curation.kmeans import KMeans, assign


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--k", default="1000,100", help="cluster counts per level, bottom first")
    ap.add_argument("--modes", type=int, default=200)
    ap.add_argument("--n-iter", type=int, default=20)
    ap.add_argument("--n-resampling", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument(
        "--threads", type=int, default=None, help="limit BLAS/OpenMP/faiss threads (all: default)"
    )
    args = ap.parse_args()
    if args.threads is not None:  # one limit for scikit-learn (threadpoolctl) and faiss alike
        faiss.omp_set_num_threads(args.threads)
        threadpool_limits(args.threads)
    ks = tuple(int(v) for v in args.k.split(","))
    k1 = ks[0]

    t0 = time.perf_counter()
    X, y = mixture(args.n, args.d, args.modes, args.seed)
    t_data = time.perf_counter() - t0

    rows = []

    def level1(centroids: np.ndarray) -> tuple[float, np.ndarray]:
        labels, d2 = assign(X, np.ascontiguousarray(centroids, dtype=np.float32))
        return float(np.sum(d2, dtype=np.float64)), labels

    if not args.skip_sklearn:
        t0 = time.perf_counter()
        sk = SkKMeans(
            k1,
            init="k-means++",
            n_init=1,
            max_iter=args.n_iter,
            tol=0.0,
            algorithm="lloyd",
            random_state=args.seed,
        ).fit(X)
        secs = time.perf_counter() - t0
        inertia, labels = level1(sk.cluster_centers_)
        rows.append((f"scikit-learn KMeans(k={k1})", secs, inertia, labels))

    t0 = time.perf_counter()
    threads = args.threads or faiss.omp_get_max_threads()
    km = KMeans(k1, n_iter=args.n_iter, device="cpu", n_threads=threads, random_state=args.seed)
    km.fit(X)
    secs = time.perf_counter() - t0
    inertia, labels = level1(km.cluster_centers_)
    rows.append((f"eoforge KMeans(k={k1}) (faiss)", secs, inertia, labels))

    t0 = time.perf_counter()
    h = hierarchical_kmeans(
        X,
        ks,
        n_resampling=args.n_resampling,
        n_iter=args.n_iter,
        device="cpu",
        n_threads=threads,
        seed=args.seed,
    )
    secs = time.perf_counter() - t0
    inertia, labels = level1(h.centroids[0])
    rows.append((f"eoforge hierarchical k={ks}, R={args.n_resampling}", secs, inertia, labels))

    base = rows[0]
    print(
        f"k-means on {args.n:,} x {args.d} float32 ({args.modes} long-tailed modes; "
        f"data made in {t_data:.1f} s), {args.n_iter} Lloyd iterations, greedy k-means++"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{threads} threads; scikit-learn {sklearn.__version__}, faiss {faiss.__version__}"
    )
    print()
    print(
        "| method | seconds | speed-up | level-1 inertia | inertia ratio | rare modes owning "
        "a cluster |"
    )
    print("|---|---|---|---|---|---|")
    for name, secs, inertia, labels in rows:
        owned = rare_modes_owning_a_cluster(labels, y, args.modes)
        print(
            f"| {name} | {secs:.1f} | {base[1] / secs:.2f}x | {inertia:.4e} | "
            f"{inertia / base[2]:.4f} | {owned} / {args.modes // 2} |"
        )


if __name__ == "__main__":
    main()
