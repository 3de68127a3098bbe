"""Monitoring throughput and source accuracy on a synthetic archive with known truth (issue 14).

1. Writes a synthetic archive (``simulate_series``: sites x revisits, clouds on some dates, one
   persistent source per site emitting on some dates).
2. Baseline: the single-scene rate per core, ``process_scene`` run one scene after another in this
   process with every thread pool at one thread (torch, OpenMP, OpenBLAS: as in a worker, whose
   nanny sets ``OMP_NUM_THREADS=1`` etc.; the detector loaded once, the first scene not timed).
   The timed scenes are spread evenly over the archive (every site, clear and cloudy dates):
   scene times differ by surface and cloud cover. With the libraries' default pools the in-process baseline borrows the other cores (OpenBLAS
   and OpenMP threads), which is not a per-core rate.
3. ``monitor`` on the whole archive with ``--workers`` processes; throughput = scenes run / wall
   time (start-up, valid fractions and catalogue included), and against ``workers`` x baseline.
4. Sources against the truth: per true source, the detection frequency over clear-sky revisits
   and the mean rate, against the planted ones; sources matching no true source (false).

Usage::

    python benchmarks/methane_monitor.py --sites 5 --dates 21 --size 512 --workers 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _baseline(archive: Path, out: Path, n: int) -> float:
    """Seconds per scene of process_scene in this process (one thread), over ``n`` scenes."""
    import torch
    from threadpoolctl import threadpool_limits

    from eoforge.methane.monitor.archive import choose_references, scan_archive, valid_fraction
    from eoforge.methane.monitor.tasks import process_scene

    torch.set_num_threads(1)
    threadpool_limits(1)
    scenes, _ = scan_archive(archive)
    valid = {s.scene_id: valid_fraction(s) for s in scenes}
    refs = choose_references(scenes, 3, 0.5, valid)
    runnable = [s for s in scenes if refs[s.scene_id]]
    picked = [runnable[0]] + [runnable[i] for i in np.linspace(1, len(runnable) - 1, n).astype(int)]
    times = []
    for i, s in enumerate(picked):
        t0 = time.perf_counter()
        process_scene(s, refs[s.scene_id], valid[s.scene_id], "bench", None, str(out))
        if i:  # the first call loads the detector
            times.append(time.perf_counter() - t0)
    return statistics.mean(times)


def _match(sources: list[dict], truth: dict, clear_ok: dict[str, list[dict]]) -> list[dict]:
    from eoforge.methane.monitor.sources import distance_m

    rows = []
    for src in truth["sources"]:
        near = [s for s in sources
                if distance_m(s["lon"], s["lat"], src["lon"], src["lat"]) < 1000.0]  # fmt: skip
        found = max(near, key=lambda s: s["n_detections"]) if near else None
        looks = clear_ok[src["site"]]
        emitting = set(src["dates_emitting"])
        true_freq = sum(r["date"] in emitting for r in looks) / max(len(looks), 1)
        rows.append({
            "site": src["site"], "clear_revisits": len(looks), "true_frequency": true_freq,
            "found_frequency": found["detection_frequency"] if found else 0.0,
            "true_rate": src["rate_kg_h"],
            "mean_rate": found["mean_rate_kg_h"] if found else float("nan"),
            "distance_m": distance_m(found["lon"], found["lat"], src["lon"], src["lat"])
            if found else float("nan"),
        })  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=5)
    ap.add_argument("--dates", type=int, default=21)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--baseline-scenes", type=int, default=20)
    args = ap.parse_args()

    from eoforge.methane.monitor.run import monitor
    from eoforge.methane.monitor.series import simulate_series
    from eoforge.methane.monitor.sources import distance_m

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        archive = simulate_series(root / "archive", n_sites=args.sites, n_dates=args.dates,
                                  size=args.size, seed=args.seed)  # fmt: skip
        t_sim = time.perf_counter() - t0
        per_scene = _baseline(archive, root / "baseline", args.baseline_scenes)
        t0 = time.perf_counter()
        summary = monitor(archive, root / "out", workers=args.workers)
        wall = time.perf_counter() - t0
        n_run = summary.get("scenes_run", summary.get("run"))
        records = [json.loads(p.read_text()) for p in (root / "out" / "scenes").glob("*.json")]
        sources = [f["properties"] for f in
                   json.loads((root / "out" / "sources.geojson").read_text())["features"]]  # fmt: skip
        truth = json.loads((archive / "truth.json").read_text())

    cloudy = {(s["site"], s["date"]) for s in truth["scenes"] if s["cloudy"]}
    clear_ok: dict[str, list[dict]] = {}
    for r in records:
        if r["status"] == "ok" and (r["site"], r["date"]) not in cloudy:
            clear_ok.setdefault(r["site"], []).append(r)
    rows = _match(sources, truth, clear_ok)
    false_sources = [
        s
        for s in sources
        if all(
            distance_m(s["lon"], s["lat"], t["lon"], t["lat"]) >= 1000.0 for t in truth["sources"]
        )
    ]

    n_scenes = args.sites * args.dates
    rate = n_run / wall
    print(f"archive: {n_scenes} scenes of {args.size} px ({args.sites} sites x {args.dates} "
          f"dates) simulated in {t_sim:.1f} s")  # fmt: skip
    print(
        f"single-scene baseline: {per_scene:.2f} s/scene (every thread pool at 1 thread, in process)"
    )
    print(f"monitor, {args.workers} workers: {n_run} scenes run in {wall:.1f} s = {rate:.2f} "
          f"scenes/s; {args.workers} x baseline = {args.workers / per_scene:.2f} scenes/s; "
          f"ratio {rate * per_scene / args.workers:.2f} (target >= 0.80)")  # fmt: skip
    print(f"summary: {json.dumps({k: v for k, v in summary.items() if k != 'paths'})}")
    print("\n| site | clear revisits | true freq | found freq | true rate | mean rate | dist (m) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['site']} | {r['clear_revisits']} | {r['true_frequency']:.2f} | "
              f"{r['found_frequency']:.2f} | {r['true_rate']:.0f} | {r['mean_rate']:.0f} | "
              f"{r['distance_m']:.0f} |")  # fmt: skip
    print(f"\nsources found: {len(sources)}; matching no true source: {len(false_sources)}")


if __name__ == "__main__":
    main()
