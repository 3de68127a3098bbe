"""Cost of the reference-stack input (issue 13): bank stream batches with K = 3 vs K = 1.

Both streams draw from a bank of the same settings but ``reference_dates`` (K = 3 stores four
revisits per site); a batch of ``--batch-size`` crops of ``--patch`` px is drawn (``draw``) and
finished (``make_inputs``: injection, fresh noise on every date, scene and stack constants,
features) on ``--device``. Rounds alternate K = 1 and K = 3 in one process; the table gives the
median pairs per second of each and their ratio, and the bank build time per item.

``--detect N``: also times ``detect`` on an N px desert site with three reference dates, the
shipped single-reference detector (three passes, majority rule) against a 3-date detector of the
same widths (untrained weights: the timing only), alternating, one thread.

Usage: ``python benchmarks/methane_reference_stack.py [--patch 128] [--rounds 5] [--detect 512]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core per stream

import argparse  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import zarr  # noqa: E402

from eoforge.methane.detector.training.bank import bank_settings, open_bank, render_background  # noqa: E402
from eoforge.methane.detector.training.bank_stream import BankBatches, make_inputs  # noqa: E402
from eoforge.methane.detector.training.config import DetectorConfig  # noqa: E402


def _stream(cfg: DetectorConfig, root: Path, device: str):
    """(draw one finished batch, render one bank background) for ``cfg``."""
    path = root / f"bank-k{cfg.reference_dates}.zarr"
    open_bank(path, bank_settings(cfg))
    ds = BankBatches(cfg, path, seed=0)
    block = ds._block(zarr.open_group(str(path), mode="r"), np.random.default_rng(0))
    rng = np.random.default_rng(1)

    def one() -> None:
        raw = ds.draw(block, rng)
        raw = {k: v.to(device) if torch.is_tensor(v) else v for k, v in raw.items()}
        x = make_inputs(raw, cfg)["x"]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        assert x.shape[1] > 0

    return one, lambda i: render_background(bank_settings(cfg), i)


def _time_detect(size: int, rounds: int) -> None:
    """Median seconds of detect with three references: majority of 3 passes vs one 3-date pass."""
    from dataclasses import replace

    from affine import Affine
    from rasterio.crs import CRS

    from eoforge.io.raster import GeoInfo
    from eoforge.methane.detect.pipeline import detect
    from eoforge.methane.detector.features import channel_names
    from eoforge.methane.detector.model import PlumeUNet
    from eoforge.methane.detector.weights import load_default_detector
    from eoforge.methane.scenes import simulate_pair

    geo = GeoInfo(transform=Affine(20, 0, 500000, 0, -20, 4000000), crs=CRS.from_epsg(32632))
    one = load_default_detector()
    names = channel_names(one.context, one.smooth, one.noise, 3)
    spec = replace(one.model.spec, in_channels=len(names))
    three = replace(one, model=PlumeUNet(spec).eval(), reference_dates=3)
    target = simulate_pair((size, size), "desert", 5, date_seed=0).target
    refs = [simulate_pair((size, size), "desert", 5, date_seed=k).reference for k in (1, 2, 3)]
    secs: dict[str, list[float]] = {"majority of 3 passes": [], "one 3-date pass": []}
    for _ in range(rounds + 1):  # the first round warms up
        for name, det in zip(secs, (one, three), strict=True):
            t0 = time.perf_counter()
            detect(target, refs, geo, 30.0, 5.0, model=det, threads=1)
            secs[name].append(time.perf_counter() - t0)
    for name, v in secs.items():
        print(f"detect {size} px, 3 references, {name}: {np.median(v[1:]):.3f} s (median)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patch", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--detect", type=int, default=0, help="Also time detect at this size (px).")
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = DetectorConfig(patch=args.patch, batch_size=args.batch_size, bank_items=args.items,
                          plume_pool=8, bank_block=args.items)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        streams = {k: _stream(base.updated(reference_dates=k), Path(tmp), args.device)
                   for k in (1, 3)}  # fmt: skip
        rates: dict[int, list[float]] = {1: [], 3: []}
        build: dict[int, list[float]] = {1: [], 3: []}
        for i in range(args.rounds):
            for k, (one, render) in streams.items():
                t0 = time.perf_counter()
                one()
                rates[k].append(args.batch_size / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                render(i)
                build[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in rates.items()}
    ratios = [a / b for a, b in zip(rates[3], rates[1], strict=True)]
    print(f"patch {args.patch}, batch {args.batch_size}, {args.rounds} rounds, {args.device}")
    for k in (1, 3):
        print(f"K={k}: {med[k]:.1f} pairs/s (median), bank build "
              f"{np.median(build[k]):.3f} s per background (median)")  # fmt: skip
    print(f"K=3 / K=1 pairs per second: median ratio {np.median(ratios):.2f} "
          f"(rounds {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip
    if args.detect:
        _time_detect(args.detect, args.rounds)


if __name__ == "__main__":
    main()
