"""Benchmark: ``probe_features`` (torch: preconditioned L-BFGS logistic, closed-form ridge,
top-k cosine kNN) against the scikit-learn probes it replaced, same features, same run.

Features: :func:`tests.helpers.embeddings.synthetic_embeddings` (10 long-tailed classes that
overlap, wind speed and Hs encoded non-linearly, low-rank GELU features like a ViT's CLS token).
The scikit-learn path (tests/helpers/probe_sklearn.py) is the old ``probe_features``:
StandardScaler, LogisticRegression(lbfgs, tol 1e-4, max_iter 3000) plain and balanced, Ridge,
with scikit-learn's brute-force cosine kNN in place of the old NumPy argsort kNN.

Each repeat runs both paths interleaved (the machine is shared); the table gives the median and
the fastest time, their ratio, and the largest difference of the reported metrics.

Usage::

    python benchmarks/ssl_probe.py                       # 20,000 x 384 on the CPU
    python benchmarks/ssl_probe.py --threads 1           # both paths on one thread
    python benchmarks/ssl_probe.py --n 100000 --device cuda --skip-sklearn   # GPU target: <= 5 s
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.embeddings import synthetic_embeddings
from tests.helpers.probe_sklearn import probe_features_sklearn

from eoforge.ssl.probe import probe_features

METRICS = (
    "linear_accuracy", "linear_macro_f1", "rare_class_recall", "balanced_linear_accuracy",
    "balanced_linear_macro_f1", "balanced_rare_class_recall", "knn_accuracy", "knn_macro_f1",
    "wind_speed_rmse", "hs_rmse", "knn_wind_speed_rmse", "knn_hs_rmse",
)  # fmt: skip


def _time(fn, *args, **kwargs) -> tuple[float, dict]:
    t0 = time.perf_counter()
    res = fn(*args, **kwargs)  # metrics are Python floats: any device work has finished
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu, cuda/gpu or auto (torch path)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads of both paths (0: default)")
    ap.add_argument("--skip-sklearn", action="store_true", help="time the torch path only")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    X, y, t = synthetic_embeddings(args.n, dim=args.dim, seed=0)
    probe_features(X[:2000], y[:2000], device=args.device)  # warm-up: CUDA context, kernels
    times: dict[str, list[float]] = {"sklearn": [], "torch": []}
    res: dict[str, dict] = {}
    for _ in range(args.repeats):
        if not args.skip_sklearn:
            dt, res["sklearn"] = _time(probe_features_sklearn, X, y, t)
            times["sklearn"].append(dt)
        dt, res["torch"] = _time(probe_features, X, y, t, device=args.device)
        times["torch"].append(dt)
    print(f"probe_features, {args.n} x {args.dim}, device {args.device}, "
          f"threads {torch.get_num_threads()}, {args.repeats} repeats")  # fmt: skip
    print(f"{'path':8s} {'median s':>9s} {'min s':>7s} {'ratio':>6s}")
    base = np.median(times["sklearn"]) if times["sklearn"] else float("nan")
    for path, ts in times.items():
        if ts:
            med = float(np.median(ts))
            print(f"{path:8s} {med:9.2f} {min(ts):7.2f} {base / med:6.2f}")
    print(f"{'metric':28s} {'sklearn':>9s} {'torch':>9s}")
    for key in METRICS:
        ref = res.get("sklearn", {}).get(key, float("nan"))
        print(f"{key:28s} {ref:9.4f} {res['torch'][key]:9.4f}")


if __name__ == "__main__":
    main()
