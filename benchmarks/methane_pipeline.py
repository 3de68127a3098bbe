"""Training-data throughput of the methane detector: bank stream vs whole-pair simulation.

Old: today's (2026-12-04, commit eee4acd) pipeline: ``SimulatedPairs`` (``stream="simulate"``),
each training pair rendered whole on the CPU with the former NumPy features (kept as the test
reference tests/methane/numpy_features_reference.py). Also timed: the same stream with the
torch features (``simulate+torch``). New: ``BankBatches`` (crops, flips,
rotations and unit-rate plume placement from a Zarr bank) + ``make_inputs`` (Beer-Lambert
injection, fresh noise, scene constants and features batched in torch) on the same device.
Both make batches of ``--batch-size`` pairs of ``--patch`` px; rounds alternate old and new in
one process (same threads), and the table gives the median pairs per second of each and their
ratio. The bank's one-time build is timed apart (it is amortised over a training run).

Usage: ``python benchmarks/methane_pipeline.py [--patch 128] [--rounds 7] [--device cpu]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per stream, NumPy's BLAS included

import argparse  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from eoforge.methane.detector.training import simulate  # noqa: E402
from eoforge.methane.detector.training.bank import bank_settings, open_bank  # noqa: E402
from eoforge.methane.detector.training.bank_stream import BankBatches, make_inputs  # noqa: E402
from eoforge.methane.detector.training.config import DetectorConfig  # noqa: E402
from eoforge.methane.detector.training.simulate import SimulatedPairs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.methane.numpy_features_reference import build_inputs as numpy_inputs  # noqa: E402

TORCH_INPUTS = simulate.build_inputs


def _take(stream, n: int, inputs) -> None:
    """Draw n pairs from a SimulatedPairs iterator with the given feature function."""
    simulate.build_inputs = inputs
    try:
        for _ in range(n):
            next(stream)
    finally:
        simulate.build_inputs = TORCH_INPUTS


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--bank-items", type=int, default=32)
    ap.add_argument("--plumes", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--new-only", action="store_true", help="Skip the old stream (GPU runs).")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = DetectorConfig(patch=args.patch, batch_size=args.batch_size, bank_items=args.bank_items,
                         plume_pool=args.plumes, bank_block=args.bank_items)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bank.zarr"
        t0 = time.perf_counter()
        open_bank(path, bank_settings(cfg))
        build = time.perf_counter() - t0
        old = iter(SimulatedPairs(cfg.updated(stream="simulate"), seed=1))
        mid = iter(SimulatedPairs(cfg.updated(stream="simulate"), seed=1))
        new = iter(BankBatches(cfg, path, seed=1))
        make_inputs({k: v.to(args.device) if torch.is_tensor(v) else v
                     for k, v in next(new).items()}, cfg)  # warm-up  # fmt: skip
        rates: dict[str, list[float]] = {"old": [], "simulate+torch": [], "new": []}
        for _ in range(args.rounds):
            if not args.new_only:
                for name, stream, inputs in (("old", old, numpy_inputs),
                                             ("simulate+torch", mid, TORCH_INPUTS)):  # fmt: skip
                    t0 = time.perf_counter()
                    _take(stream, cfg.batch_size, inputs)
                    rates[name].append(cfg.batch_size / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            raw = {k: v.to(args.device) if torch.is_tensor(v) else v
                   for k, v in next(new).items()}  # fmt: skip
            batch = make_inputs(raw, cfg)
            _sync(args.device)
            rates["new"].append(cfg.batch_size / (time.perf_counter() - t0))
        assert torch.isfinite(batch["x"]).all()
    print(f"patch {args.patch} px, batch {args.batch_size}, {args.rounds} rounds, "
          f"{args.threads} torch thread(s), device {args.device}")  # fmt: skip
    print(f"bank build: {cfg.bank_items} backgrounds of {bank_settings(cfg)['size']} px + "
          f"{cfg.plume_pool} plumes in {build:.1f} s")  # fmt: skip
    print("| stream | pairs/s median | min | max |")
    print("|---|---|---|---|")
    for name, r in rates.items():
        if r:
            print(f"| {name} | {np.median(r):.1f} | {min(r):.1f} | {max(r):.1f} |")
    if rates["old"]:
        ratios = np.array(rates["new"]) / np.array(rates["old"])
        print(
            f"new / old: median of per-round ratios {np.median(ratios):.2f} "
            f"(ratio of medians {np.median(rates['new']) / np.median(rates['old']):.2f})"
        )


if __name__ == "__main__":
    main()
