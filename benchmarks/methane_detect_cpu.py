"""CPU time of ``eoforge.methane.detect.pipeline.detect`` now vs an older checkout, interleaved.

Each round runs one subprocess per source tree (``PYTHONPATH=<src>``, 1 thread: torch, OpenMP
and BLAS), alternating, on the same simulated desert pair (``--size`` px, plume 4000 kg/h, 10 %
cloud, 2 confounders). A subprocess times ``--calls`` detect calls after one warm-up call, plus
the scene constants and the features of the whole pair; the table gives the median over rounds
and calls of each, and the old / new ratios of the medians.

Usage: ``git worktree add /tmp/old eee4acd`` then
``python benchmarks/methane_detect_cpu.py --old /tmp/old/src [--rounds 5] [--size 512]``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = """
import json, pickle, sys, time
import torch
torch.set_num_threads(1)
from eoforge.io.raster import GeoInfo
from eoforge.methane.detect.pipeline import detect
from eoforge.methane.detector import features
pair = pickle.load(open(sys.argv[1], "rb"))
geo = GeoInfo.from_bounds(west=700000.0, north=3700000.0, resolution=20.0, crs="EPSG:3857")
def clock(f):
    t0 = time.perf_counter(); out = f(); return time.perf_counter() - t0, out
run = lambda: detect(pair.target, pair.reference, geo, pair.sza, pair.vza, threads=1)
run()
det = [clock(run)[0] for _ in range(int(sys.argv[2]))]
tc, c = clock(lambda: features.scene_constants(pair.target, pair.reference, pair.sza, pair.vza))
tf, _ = clock(lambda: features.compute_features(pair.target, pair.reference, c, None,
                                                smooth=1.5, noise=True))
print(json.dumps({"detect": det, "constants": [tc], "features": [tf],
                  "plumes": len(run().plumes)}))
"""


def _child(src: str, pair: Path, calls: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}  # fmt: skip
    out = subprocess.run([sys.executable, "-c", CHILD, str(pair), str(calls)], env=env,
                         check=True, capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, help="src folder of the older checkout")
    ap.add_argument("--new", default=str(Path(__file__).resolve().parents[1] / "src"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    sys.path.insert(0, args.new)
    from eoforge.methane import scenes

    pair, *_ = scenes.simulate_plume_pair((args.size, args.size), "desert", 7,
                                          emission_rate_kg_h=4000.0, cloud_fraction=0.1,
                                          confounders=2)  # fmt: skip
    times: dict[str, dict[str, list[float]]] = {"old": {}, "new": {}}
    plumes = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pair.pkl"
        path.write_bytes(pickle.dumps(pair))
        for _ in range(args.rounds):
            for name, src in (("old", args.old), ("new", args.new)):
                got = _child(src, path, args.calls)
                plumes[name] = got.pop("plumes")
                for k, v in got.items():
                    times[name].setdefault(k, []).extend(v)
    print(f"{args.size} px pair, {args.rounds} rounds x {args.calls} detect calls, 1 thread; "
          f"plumes old {plumes['old']}, new {plumes['new']}")  # fmt: skip
    print("| seconds (median) | old | new | old / new |")
    print("|---|---|---|---|")
    for k in times["old"]:
        o, n = np.median(times["old"][k]), np.median(times["new"][k])
        print(f"| {k} | {o:.3f} | {n:.3f} | {o / n:.2f} |")


if __name__ == "__main__":
    main()
