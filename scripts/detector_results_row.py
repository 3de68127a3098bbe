"""Markdown rows for benchmarks/RESULTS.md from the runs of scripts/train_detector_gpu.sh.

Usage: python scripts/detector_results_row.py TRAIN_RUN NAME=EVAL_RUN [NAME=EVAL_RUN ...]

Each EVAL_RUN is an ``eoforge methane evaluate`` folder (its ``metrics.json``); NAME reads
``<weights>/<scene set>``, e.g. ``new/plain-req`` and ``v11/plain-req``. Prints one table row per
evaluation and, for every scene set evaluated with both ``new`` and ``v11``, whether the new
weights beat v11 there: a lower Q50 (or a higher recall at equal Q50) at a false-positive rate
within the budget of 2 per 100 km2.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

BUDGET = 2.0  # false plumes per 100 km2


def _fmt(v, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def row(name: str, m: dict) -> str:
    """One table row of an evaluation summary ``m``."""
    lo, hi = m["fp_per_100km2_ci90"]
    ratio = m.get("fp_ratio_mbmp_over_detector")
    err = m.get("rate_error_median")
    return (
        f"| {name} | {m['threshold']:.3f} | {m['fp_per_100km2_at_threshold']:.2f} "
        f"({lo:.2f}-{hi:.2f}) | {_fmt(m['q50_detector_kg_h'], '.0f')} | "
        f"{m['recall_detector']:.2f} | {'n/a' if ratio is None else f'{ratio:.0f}x'} | "
        f"{_fmt(None if err is None else 100 * err, '.0f')} % ({m['n_quantified']}) |"
    )


def beats(new: dict, old: dict) -> bool:
    """Whether ``new`` beats ``old`` on one scene set (module docstring)."""
    if new["fp_per_100km2_at_threshold"] > BUDGET:
        return False
    q_new, q_old = new["q50_detector_kg_h"], old["q50_detector_kg_h"]
    if q_new is None:
        return False
    if q_old is None or q_new < q_old:
        return True
    return q_new == q_old and new["recall_detector"] > old["recall_detector"]


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    train = json.loads((Path(argv[0]) / "metrics.json").read_text())
    evals = {}
    for arg in argv[1:]:
        name, _, path = arg.partition("=")
        evals[name] = json.loads((Path(path) / "metrics.json").read_text())
    print(f"training: {train.get('steps')} steps, {train.get('n_parameters')} parameters, "
          f"final loss {_fmt(train.get('final_loss'), '.4f')}")  # fmt: skip
    print()
    print("| weights/scenes | threshold | FP / 100 km2 (90 %) | Q50 kg/h | recall | "
          "MBMP FP ratio | rate error median (n) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for name, m in evals.items():
        print(row(name, m))
    sets = sorted({n.split("/", 1)[1] for n in evals if "/" in n})
    verdicts = {
        s: beats(evals[f"new/{s}"], evals[f"v11/{s}"])
        for s in sets
        if f"new/{s}" in evals and f"v11/{s}" in evals
    }
    print()
    for s, ok in verdicts.items():
        print(f"- {s}: new {'beats' if ok else 'does not beat'} v11")
    if verdicts:
        print(f"- ship: {'yes' if all(verdicts.values()) else 'no'} (all sets must be beaten)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
