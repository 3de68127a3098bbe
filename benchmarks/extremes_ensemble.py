"""Benchmark: a 16-model x 2-experiment consensus and attribution on the 5-degree global grid.

    python benchmarks/extremes_ensemble.py [--models 16 --years 150 --resolution 5]

The synthetic ensemble of :mod:`eoforge.extremes.simulate.ensemble` on a 5-degree grid (2592 cells,
as the CMIP data of Le Gall et al.) is regionalised model by model (RFA-madogram, K by silhouette
over 2..10), combined by the mean-dissimilarity and co-association consensus, and the two
experiments compared. Baseline in the same run: the straightforward per-pair ecdf matrix,
timed on a subset of pairs and extrapolated to the 32 matrices. Also scored against the truth.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from eoforge.extremes.clustering.partitions import adjusted_rand_index
from eoforge.extremes.data.maxima import stack_sites
from eoforge.extremes.dissimilarity import _kernels
from eoforge.extremes.ensemble import attribute, regionalise_ensemble
from eoforge.extremes.simulate.ensemble import simulate_ensemble


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--models", type=int, default=16)
    ap.add_argument("--years", type=int, default=150)
    ap.add_argument("--resolution", type=float, default=5.0)
    ap.add_argument("--pairs", type=int, default=3000, help="pairs timed for the naive baseline")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ens = simulate_ensemble(
        args.models, args.years, resolution=args.resolution, lat_max=90.0, random_state=0
    )
    t_sim = time.perf_counter() - t0
    n_sites = ens.truth["historical"].size
    results, timings = {}, {}
    for exp, runs in ens.maxima.items():
        stacks = [stack_sites(da) for da in runs]
        t0 = time.perf_counter()
        results[exp] = regionalise_ensemble(
            (s.values for s in stacks), [f"m{i:02d}" for i in range(len(stacks))], random_state=0
        )
        timings[exp] = time.perf_counter() - t0
    t0 = time.perf_counter()
    att = attribute(results["hist-nat"], results["historical"])
    t_att = time.perf_counter() - t0
    total = sum(timings.values()) + t_att

    # naive per-pair ecdf baseline on a subset of pairs, extrapolated to all 2 * M matrices
    x = stack_sites(ens.maxima["historical"][0]).values
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, n_sites, (args.pairs, 2))
    t0 = time.perf_counter()
    _kernels.rfa_matrix_naive(x, pairs)
    per_pair = (time.perf_counter() - t0) / args.pairs
    naive_total = per_pair * n_sites * (n_sites - 1) / 2 * 2 * args.models

    truth_all = ens.truth["historical"].values.ravel()
    truth_nat = ens.truth["hist-nat"].values.ravel()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}; {args.models} models x 2 experiments, "
          f"{n_sites} cells, {args.years} years; simulation {t_sim:.1f} s")  # fmt: skip
    print("| step | seconds |")
    print("|---|---|")
    for exp, secs in timings.items():
        print(f"| regionalise {args.models} models + consensus ({exp}) | {secs:.1f} |")
    print(f"| attribution comparison | {t_att:.2f} |")
    print(f"| **total** | **{total:.1f}** |")
    print(f"| naive per-pair ecdf, matrices only (extrapolated from {args.pairs} pairs) | "
          f"{naive_total:.0f} ({naive_total / total:.0f}x slower) |")  # fmt: skip
    print()
    cmp = att.comparison
    print("| score | value |")
    print("|---|---|")
    print(
        f"| ARI consensus (all forcings) vs truth | {adjusted_rand_index(results['historical'].consensus, truth_all):.3f} |"
    )
    print(
        f"| ARI consensus (natural) vs truth | {adjusted_rand_index(results['hist-nat'].consensus, truth_nat):.3f} |"
    )
    single = [adjusted_rand_index(m.labels, truth_all) for m in results["historical"].members]
    print(
        f"| ARI single models vs truth (mean, min) | {np.mean(single):.3f}, {np.min(single):.3f} |"
    )
    print(f"| cells changed, planted / detected | {int((truth_all != truth_nat).sum())} / "
          f"{cmp['n_changed_after_matching']} |")  # fmt: skip


if __name__ == "__main__":
    main()
