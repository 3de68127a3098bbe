"""Cost of the detector architectures: parameters, FLOPs and a timed training step.

For the shipped small U-Net (v11: unet 12/24/48) and the GPU recipe's resunet
(32/64/128/256/256, blocks 1/1/2/2/2), prints the parameter count, the FLOPs of one forward +
backward pass per 128 px pair (torch's FLOP counter: convolutions and matmuls), and the median
wall time of a training step (forward, detector loss, backward, AdamW) measured in the same run,
interleaved, on this machine's device; with ``--channels-last`` also in that memory format.

    python benchmarks/methane_models.py [--batch 4] [--size 128] [--repeats 5] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from eoforge.methane.detector.model import PlumeUNet, UNetSpec, n_parameters
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.loss import detector_loss

SPECS = {
    "unet 12/24/48 (v11)": UNetSpec(14, (12, 24, 48), 12),
    "resunet 32..256 (GPU recipe)": UNetSpec(
        14, (32, 64, 128, 256, 256), 12, "resunet", (1, 1, 2, 2, 2)
    ),
}


def flops_per_pair(net: PlumeUNet, size: int) -> float:
    """FLOPs of one forward + backward pass on one (14, size, size) input."""
    x = torch.randn(1, net.spec.in_channels, size, size)
    with FlopCounterMode(display=False) as counter:
        logits, column = net(x)
        (logits.sum() + column.sum()).backward()
    net.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def make_step(net: PlumeUNet, batch: dict, channels_last: bool):
    """A closure running one training step of ``net`` on ``batch``."""
    cfg = DetectorConfig()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    x = batch["x"].contiguous(memory_format=torch.channels_last) if channels_last else batch["x"]

    def step() -> None:
        logits, column = net(x)
        loss, _ = detector_loss(logits, column, batch, cfg)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    b, s = args.batch, args.size
    batch = {"x": torch.randn(b, 14, s, s, generator=gen),
             "mask": (torch.rand(b, s, s, generator=gen) > 0.95).float(),
             "valid": torch.ones(b, s, s), "column": torch.zeros(b, s, s)}  # fmt: skip
    batch = {k: v.to(args.device) for k, v in batch.items()}
    steps, rows = {}, {}
    for name, spec in SPECS.items():
        torch.manual_seed(0)
        net = PlumeUNet(spec)
        rows[name] = (n_parameters(net), flops_per_pair(net, s) / 1e9)
        variants = [False, True] if args.channels_last else [False]
        for cl in variants:
            net_v = PlumeUNet(spec).to(args.device)
            if cl:
                net_v = net_v.to(memory_format=torch.channels_last)
            steps[(name, cl)] = make_step(net_v, batch, cl)
    times: dict = {k: [] for k in steps}
    for step in steps.values():  # warm-up
        step()
    for _ in range(args.repeats):  # interleaved
        for k, step in steps.items():
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times[(next(iter(SPECS)), False)])
    print(f"batch {b} x {s} px on {args.device}, {args.repeats} interleaved repeats, "
          f"{torch.get_num_threads()} threads")  # fmt: skip
    print(f"{'architecture':32s} {'params':>10s} {'GFLOP/pair':>11s} {'layout':>13s} "
          f"{'step s (median)':>16s} {'pairs/s':>8s} {'x v11':>6s}")  # fmt: skip
    for (name, cl), ts in times.items():
        med = statistics.median(ts)
        params, gflop = rows[name]
        layout = "channels_last" if cl else "contiguous"
        print(f"{name:32s} {params:>10,d} {gflop:>11.1f} {layout:>13s} {med:>16.3f} "
              f"{b / med:>8.1f} {med / base:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
