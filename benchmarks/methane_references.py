"""How to combine several reference dates in ``detect``: one date, every date (minimum), majority.

Each site is one seed of the scene simulator (surfaces cycling desert, semi-arid, vegetated,
urban; 256 x 256 px at 20 m = 26.2 km2; MSI requirement noise). Its K = 3 reference dates are
the *reference* scenes of three revisits (``date_seed`` 1, 2, 3: one surface change against the
target, independent radiometry, water vapour, misregistration and noise); the target is revisit
0 without a plume and with a plume of Q = 1200, 2000, 3000 kg/h. Per rule: the share of plumes
found (a detection overlapping the planted plume mask), the median relative rate error of the
found ones, and false plumes (detections off the mask) per scene and per 100 km2, with 95 %
bootstrap intervals over sites and the paired majority - minimum recall difference.

The rule was chosen on sites 1-40 (``--first 1 --last 41``) and is reported on sites 41-120,
never used for choosing.

Usage::

    python benchmarks/methane_references.py --first 41 --last 121
"""

from __future__ import annotations

import argparse
import json

import numpy as np

SURFACES = ("desert", "semi-arid", "vegetated", "urban")
RATES = (0, 1200, 2000, 3000)
RULES = {"one": ("majority", 1), "all": ("all", 3), "majority": ("majority", 3)}
SIZE = 256


def _geo():
    from affine import Affine
    from rasterio.crs import CRS

    from eoforge.io.raster import GeoInfo

    return GeoInfo(transform=Affine(20, 0, 500000, 0, -20, 4000000), crs=CRS.from_epsg(32632))


def run_site(site: int, detector, geo) -> list[dict]:
    """Rows (rule, rate, found, false plumes, rate found) of one simulated site."""
    from eoforge.methane.detect import detect
    from eoforge.methane.scenes import simulate_pair, simulate_plume_pair

    surface, seed = SURFACES[site % 4], 1000 + site
    refs = [simulate_pair((SIZE, SIZE), surface, seed, date_seed=k).reference for k in (1, 2, 3)]
    rows = []
    for q in RATES:
        if q:
            pair, _, mask, _ = simulate_plume_pair((SIZE, SIZE), surface, seed, date_seed=0,
                                                   emission_rate_kg_h=q)  # fmt: skip
        else:
            pair, mask = simulate_pair((SIZE, SIZE), surface, seed, date_seed=0), None
        for name, (rule, k) in RULES.items():
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
    for name in RULES:
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
    for q in RATES[1:]:
        a = {r["site"]: r["found"] for r in rows if r["rule"] == "majority" and r["q"] == q}
        b = {r["site"]: r["found"] for r in rows if r["rule"] == "all" and r["q"] == q}
        d = np.array([a[s] - b[s] for s in a], float)
        lo, hi = _boot(d, rng)
        print(f"paired majority - all, found at {q} kg/h: {d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--first", type=int, default=41, help="first site (seed 1000 + site)")
    ap.add_argument("--last", type=int, default=121, help="one past the last site")
    ap.add_argument("--rows", default=None, help="write the rows to this JSON file")
    args = ap.parse_args()

    import torch
    from threadpoolctl import threadpool_limits

    from eoforge.methane.detector.weights import load_default_detector

    torch.set_num_threads(1)
    threadpool_limits(1)
    detector, geo = load_default_detector(), _geo()
    rows = []
    for site in range(args.first, args.last):
        rows += run_site(site, detector, geo)
    if args.rows:
        with open(args.rows, "w") as fh:
            json.dump(rows, fh)
    print(f"sites {args.first}-{args.last - 1}, {SIZE} px, 3 references, v11 detector")
    summarise(rows)


if __name__ == "__main__":
    main()
