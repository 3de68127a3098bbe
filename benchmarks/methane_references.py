"""How to use several reference dates in ``detect``: one date, every date (minimum), majority,
or a network that sees all K = 3 dates at once (k3net).

Each site is one seed of the scene simulator (surfaces cycling desert, semi-arid, vegetated,
urban; 256 x 256 px at 20 m = 26.2 km2; MSI requirement noise). Its K = 3 reference dates are
the *reference* scenes of three revisits (``date_seed`` 1, 2, 3: one surface change against the
target, independent radiometry, water vapour, misregistration and noise; drawn by
:func:`eoforge.methane.scenes.revisits.revisit_references`, as ``evaluate`` and ``calibrate`` draw
them); the target is revisit 0 without a plume and with a plume of Q = 1200, 2000, 3000 kg/h.
Rules ``one``, ``all``, ``majority``: the shipped single-date detector (v11) against the first
reference, the minimum and the majority of its per-reference probabilities, at its threshold;
``k3net``: a 3-date detector (``--k3-weights``, at the threshold saved with it or
``--k3-threshold``) in one pass. Per rule: the share of plumes
found (a detection overlapping the planted plume mask), the median relative rate error of the
found ones, and false plumes (detections off the mask) per scene and per 100 km2, with 95 %
bootstrap intervals over sites and the paired (same site) differences majority - all and
k3net - majority of the share found and of the false plumes.

The rule was chosen on sites 1-40 (``--first 1 --last 41``) and is reported on sites 41-120,
never used for choosing.

Usage::

    python benchmarks/methane_references.py --first 41 --last 121
    python benchmarks/methane_references.py --rules majority,k3net --k3-weights K3.safetensors \
        --rows rows.json   # --rows-in rows.json: summarise saved rows (with new ones)
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

SURFACES = ("desert", "semi-arid", "vegetated", "urban")
RATES = (0, 1200, 2000, 3000)
RULES = {"one": ("majority", 1), "all": ("all", 3), "majority": ("majority", 3),
         "k3net": ("majority", 3)}  # fmt: skip
PAIRED = (("majority", "all"), ("k3net", "majority"))
SIZE = 256


def _geo():
    from affine import Affine
    from rasterio.crs import CRS

    from eoforge.io.raster import GeoInfo

    return GeoInfo(transform=Affine(20, 0, 500000, 0, -20, 4000000), crs=CRS.from_epsg(32632))


def run_site(site: int, detectors: dict, geo) -> list[dict]:
    """Rows (rule, rate, found, false plumes, rate found) of one simulated site, for each rule
    of ``detectors`` (rule -> its detector)."""
    from eoforge.methane.detect.pipeline import detect
    from eoforge.methane.scenes import simulate_pair, simulate_plume_pair
    from eoforge.methane.scenes.revisits import TARGET_DATE, revisit_references

    surface, seed = SURFACES[site % 4], 1000 + site
    refs = revisit_references((SIZE, SIZE), surface, seed, 3)
    rows = []
    for q in RATES:
        if q:
            pair, _, mask, _ = simulate_plume_pair((SIZE, SIZE), surface, seed,
                                                   date_seed=TARGET_DATE,
                                                   emission_rate_kg_h=q)  # fmt: skip
        else:
            pair, mask = simulate_pair((SIZE, SIZE), surface, seed, date_seed=TARGET_DATE), None
        for name, detector in detectors.items():
            rule, k = RULES[name]
            res = detect(pair.target, refs[:k], geo, pair.sza, pair.vza, model=detector,
                         threads=1, reference_rule=rule)  # fmt: skip
            hit = [p for p in res.plumes if mask is not None and mask[res.labels == p.id].any()]
            rows.append({"site": site, "surface": surface, "q": q, "rule": name,
                         "found": bool(hit), "false": len(res.plumes) - len(hit),
                         "rate": max((p.rate_kg_h for p in hit), default=float("nan"))})  # fmt: skip
    return rows


def _boot(values: np.ndarray, rng: np.random.Generator, n: int = 2000) -> tuple[float, float]:
    means = [values[rng.integers(0, values.size, values.size)].mean() for _ in range(n)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(rows: list[dict]) -> None:
    """Print the table of recall, rate error and false plumes per rule."""
    rng = np.random.default_rng(0)
    km2 = SIZE * SIZE * 400 / 1e6
    print("| rule | false / 100 km2 | " + " | ".join(f"found at {q} kg/h (rate err)"
                                                   for q in RATES[1:]) + " |")  # fmt: skip
    print("|---" * (len(RATES) + 1) + "|")
    for name in [n for n in RULES if any(r["rule"] == n for r in rows)]:
        xs = [r for r in rows if r["rule"] == name]
        f = np.array([r["false"] for r in xs], float) / km2 * 100
        lo, hi = _boot(f, rng)
        cells = [f"{f.mean():.2f} [{lo:.2f}, {hi:.2f}]"]
        for q in RATES[1:]:
            found = np.array([r["found"] for r in xs if r["q"] == q], float)
            err = [abs(r["rate"] / q - 1) for r in xs if r["q"] == q and r["found"]]
            lo, hi = _boot(found, rng)
            cells.append(f"{found.mean():.2f} [{lo:.2f}, {hi:.2f}] ({np.median(err):.2f})"
                         if err else f"{found.mean():.2f}")  # fmt: skip
        print(f"| {name} | " + " | ".join(cells) + " |")
    for new, old in PAIRED:
        for q in RATES:
            d = _paired(rows, new, old, q)
            if d is None:
                continue
            lo, hi = _boot(d, rng)
            what = f"found at {q} kg/h" if q else "false plumes / 100 km2"
            print(f"paired {new} - {old}, {what}: {d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")


def _paired(rows: list[dict], new: str, old: str, q: float) -> np.ndarray | None:
    """Per-site differences new - old: found at rate q, or (q = 0) false plumes / 100 km2 over
    all of the site's targets; None when either rule has no rows."""
    km2 = SIZE * SIZE * 400 / 1e6

    def per_site(rule: str) -> dict:
        out: dict = {}
        for r in rows:
            if r["rule"] == rule and (r["q"] == q if q else True):
                v = float(r["found"]) if q else r["false"] / km2 * 100 / len(RATES)
                out[r["site"]] = out.get(r["site"], 0.0) + v
        return out

    a, b = per_site(new), per_site(old)
    sites = sorted(set(a) & set(b))
    return np.array([a[s] - b[s] for s in sites], float) if sites else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=41, help="first site (seed 1000 + site)")
    ap.add_argument("--last", type=int, default=121, help="one past the last site")
    ap.add_argument("--rows", default=None, help="write the rows to this JSON file")
    ap.add_argument("--rows-in", default=None, help="saved rows to add (e.g. another rule's)")
    ap.add_argument("--rules", default="one,all,majority", help="rules to run, comma-separated")
    ap.add_argument("--k3-weights", default=None, help="3-date detector of rule k3net")
    ap.add_argument("--k3-threshold", type=float, default=None, help="k3net's threshold")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from eoforge.methane.detector.weights import load_default_detector, load_detector

    torch.set_num_threads(1)
    threadpool_limits(1)
    v11, geo = load_default_detector(), _geo()
    detectors = {}
    for name in filter(None, args.rules.split(",")):
        if name not in RULES:
            raise SystemExit(f"--rules: unknown rule {name!r}; use some of {', '.join(RULES)}")
        if name == "k3net" and args.k3_weights is None:
            raise SystemExit("--rules k3net needs --k3-weights (a 3-date detector)")
        detectors[name] = load_detector(args.k3_weights) if name == "k3net" else v11
    if "k3net" in detectors and args.k3_threshold is not None:
        detectors["k3net"] = replace(detectors["k3net"], threshold=args.k3_threshold)
    rows = []
    for site in range(args.first, args.last):
        rows += run_site(site, detectors, geo)
    if args.rows:
        with open(args.rows, "w") as fh:
            json.dump(rows, fh)
    if args.rows_in:
        with open(args.rows_in) as fh:
            rows += [r for r in json.load(fh) if r["rule"] not in detectors]
    print(f"sites {args.first}-{args.last - 1}, {SIZE} px, 3 references, v11 detector"
          + (f"; k3net: {args.k3_weights}" if "k3net" in detectors else ""))  # fmt: skip
    summarise(rows)


if __name__ == "__main__":
    main()
