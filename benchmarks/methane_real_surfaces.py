"""The shipped methane detector on real Sentinel-2 surfaces, and the simulator's realism.

Real L2A patches (``tests/data/bigearthnet-s2/``: six 1.2 x 1.2 km BigEarthNet patches, 60 x 60
px at 20 m) become target/reference pairs with realistic between-date differences
(:mod:`eoforge.methane.scenes.real_surfaces`: sub-pixel misregistration, per-band gain, sensor noise at
in-flight (x0.5) and requirement (x1) levels, the real solar zenith). Measured:

1. false plumes per 100 km2 of the shipped detector (``detect`` as ``eoforge methane detect``
   runs it, at its saved threshold) on plume-free pairs; 90 % interval from a bootstrap over
   patches (the seeded pairs of one patch share its surface);
2. detection of puff plumes injected into the real B11/B12 (Beer-Lambert, the simulator's
   physics) at a few rates, the estimated vs the true rate; a control runs the same plumes on
   simulated surfaces of the same size through the same pair builder;
3. texture statistics of B11/B12 (radial power spectrum and its slope, B12/B11 ratio, CV,
   relative gradient; :mod:`eoforge.methane.scenes.realism`) of the real patches vs simulated scenes of
   each surface type (60 x 60, in-flight noise), as a table and a figure.

Usage: ``python benchmarks/methane_real_surfaces.py [--pairs 200] [--per-rate 20]
[--out benchmarks/figures]`` (defaults: ~8 min on a shared 2-core CPU).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from eoforge.methane.detect.pipeline import detect
from eoforge.methane.detector.weights import load_default_detector
from eoforge.methane.evaluate.real_surfaces import (
    fp_rate_interval,
    patch_from_simulation,
    score_injection,
)
from eoforge.methane.evaluate.stats import wilson_interval
from eoforge.methane.scenes import SURFACES, simulate_pair
from eoforge.methane.scenes.real_surfaces import list_patches, make_pair, read_patch
from eoforge.methane.scenes.realism import radial_spectrum, texture_stats

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "bigearthnet-s2"
SETTINGS = {  # name: (noise_scale, misregistration_px)
    "in-flight noise (x0.5), no shift": (0.5, 0.0),
    "in-flight noise (x0.5), 0.05 px (simulator's default)": (0.5, 0.05),
    "in-flight noise (x0.5), 0.1 px": (0.5, 0.1),
    "requirement noise (x1), 0.1 px": (1.0, 0.1),
    "requirement noise (x1), 0.3 px": (1.0, 0.3),
}


def false_plumes(patches, det, n_pairs: int) -> dict:
    out = {}
    for name, (noise, mis) in SETTINGS.items():
        counts, areas, mbmp, per_patch = [], [], [], {}
        for p in patches:
            n = 0
            for s in range(n_pairs):
                pair = make_pair(p, 10_000 + s, noise_scale=noise, misregistration_px=mis)
                res = detect(pair.target, pair.reference, pair.geo, pair.sza, pair.vza,
                             model=det, threads=1)  # fmt: skip
                n += len(res.plumes)
                mbmp.append(res.scene["mbmp_noise"])
            area = n_pairs * p.bands["B11"].size * 400e-6
            counts.append(n)
            areas.append(area)
            per_patch[p.name] = {"false_plumes": n, "per_100km2": 100.0 * n / area}
        rate, lo, hi = fp_rate_interval(np.array(counts), np.array(areas))
        out[name] = {"per_100km2": rate, "interval90": [lo, hi], "area_km2": float(sum(areas)),
                     "false_plumes": int(sum(counts)), "per_patch": per_patch,
                     "mbmp_noise_median": float(np.median(mbmp)),
                     "mbmp_noise_p95": float(np.quantile(mbmp, 0.95))}  # fmt: skip
        print(f"{name}: {rate:.2f} false plumes / 100 km2 (90% {lo:.2f}-{hi:.2f}; "
              f"{sum(counts)} in {sum(areas):.0f} km2); per patch "
              + ", ".join(f"{v['false_plumes']}" for v in per_patch.values()), flush=True)  # fmt: skip
    return out


def injections(patches, det, rates, per_rate: int, noise: float, label: str) -> dict:
    out = {}
    for q in rates:
        hits, ratios, others = 0, [], 0
        n = 0
        for p in patches:
            for s in range(per_rate):
                pair = make_pair(p, 20_000 + s, noise_scale=noise, emission_rate_kg_h=q)
                res = detect(pair.target, pair.reference, pair.geo, pair.sza, pair.vza,
                             model=det, threads=1)  # fmt: skip
                hit, rate, n_other = score_injection(pair, res, det)
                n += 1
                hits += hit
                others += n_other
                if hit:
                    ratios.append(rate / q)
        lo, hi = wilson_interval(hits, n)
        r = np.array(ratios) if ratios else np.array([np.nan])
        out[str(q)] = {"pod": hits / n, "pod_interval90": [lo, hi], "n": n,
                       "rate_ratio_median": float(np.median(r)),
                       "rate_abs_err_median": float(np.median(np.abs(r - 1))),
                       "rate_ratio_p10_p90": [float(v) for v in np.quantile(r, [0.1, 0.9])],
                       "other_plumes": others}  # fmt: skip
        print(f"{label} noise x{noise} {q:.0f} kg/h: POD {hits}/{n} ({lo:.2f}-{hi:.2f}); "
              f"est/true median {np.median(r):.2f} (p10-p90 {np.quantile(r, 0.1):.2f}-"
              f"{np.quantile(r, 0.9):.2f}), other plumes {others}", flush=True)  # fmt: skip
    return out


def realism(patches, n_sim: int) -> dict:
    real = {p.name: texture_stats(p.bands["B11"], p.bands["B12"]) for p in patches}
    sim = {}
    for surface in SURFACES:
        rows = []
        for s in range(n_sim):
            pair = simulate_pair((60, 60), surface, 500 + s, noise_scale=0.5, water_fraction=0.0)
            rows.append(texture_stats(pair.target["B11"], pair.target["B12"]))
        sim[surface] = {k: [float(np.min([r[k] for r in rows])), float(np.median([r[k] for r in rows])),
                            float(np.max([r[k] for r in rows]))] for k in rows[0]}  # fmt: skip
    return {"real": real, "simulated_min_median_max": sim}


def figure(patches, stats: dict, out: Path, n_sim: int) -> Path:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    colours = dict(zip(SURFACES, ("tab:orange", "tab:olive", "tab:green", "tab:purple"),
                       strict=True))  # fmt: skip
    for j, band in enumerate(("B11", "B12")):
        a = ax[0, j]
        for p in patches:
            k, pw = radial_spectrum(p.bands[band])
            a.loglog(k, pw, color="k", lw=1, alpha=0.7)
        for surface in SURFACES:
            curves = []
            for s in range(n_sim):
                pair = simulate_pair((60, 60), surface, 500 + s, noise_scale=0.5,
                                     water_fraction=0.0, bands=("B11", "B12"))  # fmt: skip
                k, pw = radial_spectrum(pair.target[band])
                curves.append(pw)
            a.loglog(k, np.median(curves, axis=0), color=colours[surface], lw=2, label=surface)
        a.plot([], [], color="k", label="real patches")
        a.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        a.set_xticks([0.02, 0.05, 0.1, 0.2, 0.5], ["0.02", "0.05", "0.1", "0.2", "0.5"])
        a.set(title=f"{band}: radial power spectrum of R/mean - 1", xlabel="k (cycles / 20 m px)",
              ylabel="P(k)")  # fmt: skip
        a.legend(fontsize=8)
    a = ax[0, 2]
    data, names = [], []
    for p in patches:
        ok = np.isfinite(p.bands["B11"])
        data.append((p.bands["B12"][ok] / p.bands["B11"][ok]).ravel())
        names.append("real " + p.name.split("_")[-2] + "_" + p.name.split("_")[-1])
    for surface in SURFACES:
        pair = simulate_pair((60, 60), surface, 500, noise_scale=0.5, water_fraction=0.0)
        data.append((pair.target["B12"] / pair.target["B11"]).ravel())
        names.append("sim " + surface)
    a.boxplot(data, orientation="horizontal", whis=(5, 95), showfliers=False)
    a.set_yticks(range(1, len(names) + 1), names, fontsize=8)
    a.set(title="B12 / B11 per pixel (box: quartiles, whiskers 5-95 %)", xlabel="B12 / B11")
    real, sim = stats["real"], stats["simulated_min_median_max"]
    for j, (key, label) in enumerate((("B11_beta", "spectral slope beta (B11)"),
                                      ("B11_cv", "CV of B11"), ("B11_grad", "relative gradient B11"))):  # fmt: skip
        a = ax[1, j]
        a.scatter(np.zeros(len(real)), [v[key] for v in real.values()], color="k", label="real")
        for i, surface in enumerate(SURFACES):
            lo, med, hi = sim[surface][key]
            a.errorbar([i + 1], [med], yerr=[[med - lo], [hi - med]], fmt="o",
                       color=colours[surface], capsize=4)  # fmt: skip
        a.set_xticks(range(len(SURFACES) + 1), ["real", *SURFACES], fontsize=8)
        a.set(title=f"{label} (sim: median, min-max of {n_sim})")
    fig.suptitle("Sentinel-2 B11/B12 texture: 6 real BigEarthNet L2A patches vs the methane "
                 "scene simulator (60 x 60 px, 20 m, in-flight noise)")  # fmt: skip
    fig.tight_layout()
    out.mkdir(parents=True, exist_ok=True)
    path = out / "methane_real_surfaces.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--pairs", type=int, default=200, help="plume-free pairs per patch and setting")
    ap.add_argument("--per-rate", type=int, default=20, help="injected plumes per patch and rate")
    ap.add_argument("--rates", type=float, nargs="+", default=[1500.0, 3000.0, 6000.0])
    ap.add_argument("--sim", type=int, default=12, help="simulated scenes per surface type")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "figures")
    args = ap.parse_args()
    t0 = time.perf_counter()
    det = load_default_detector()
    patches = [read_patch(p) for p in list_patches(args.data)]
    for p in patches:
        print(f"{p.name}: SZA {p.sza:.1f}, {', '.join(p.labels)}")
    results: dict = {"false_plumes": false_plumes(patches, det, args.pairs)}
    controls = [patch_from_simulation(s, (60, 60), 900 + k, sza=p.sza)
                for k, (s, p) in enumerate(zip(["vegetated", "semi-arid"] * 3, patches, strict=False))]  # fmt: skip
    results["injected"] = {}
    for noise in (0.5, 1.0):
        results["injected"][f"real x{noise}"] = injections(patches, det, args.rates,
                                                           args.per_rate, noise, "real")  # fmt: skip
        results["injected"][f"sim control x{noise}"] = injections(controls, det, args.rates,
                                                                  args.per_rate, noise, "sim")  # fmt: skip
    results["realism"] = realism(patches, args.sim)
    for name, s in results["realism"]["real"].items():
        print(name[-6:], " ".join(f"{k} {v:.3f}" for k, v in s.items()))
    for surface, s in results["realism"]["simulated_min_median_max"].items():
        print(surface, " ".join(f"{k} {v[0]:.3f}/{v[1]:.3f}/{v[2]:.3f}" for k, v in s.items()))
    path = figure(patches, results["realism"], args.out, args.sim)
    results["seconds"] = time.perf_counter() - t0
    (args.out / "methane_real_surfaces.json").write_text(json.dumps(results, indent=1))
    print(f"figure {path}; {results['seconds']:.0f} s")


if __name__ == "__main__":
    main()
