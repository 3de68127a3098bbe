"""Benchmark: sample quality versus NFE for DDPM, DDIM, DPM-Solver++, Heun and the paper code's
rebuilt schedule (Tuel, Kerdreux et al., arXiv 2308.16847) — the issue's claim.

    python benchmarks/diffusion_samplers.py --analytic            # exact denoiser, no training
    python benchmarks/diffusion_samplers.py                       # trains small SAR + InSAR models
    python benchmarks/diffusion_samplers.py --run RUN --reference REF.npy [--kind sar]

Modes:

- ``--analytic``: an exactly known denoiser (:class:`StationaryGaussianDenoiser`) for periodic
  stationary Gaussian images with a white ("speckle") plus power-law ("texture") spectrum. SAR:
  the images are standardised dB, mapped to intensity by ``I = 10^((M + S x)/10)``. InSAR: a
  power-law (-8/3) field taken as unwrapped phase. Differences between samplers are then purely
  the samplers' discretisation errors.
- default: trains a small SAR model (synthetic WV imagettes, :func:`eoforge.sar.wv.synth_wv`)
  and a small InSAR model (unwrapped phase of :func:`eoforge.sar.insar.synth_interferograms`,
  divided by its training std s; samples and held-out images are compared in radians,
  ``phi = s x``, s saved as ``RUN/phase_scale.json``) with :func:`eoforge.diffusion.training.train.train`,
  then compares samplers against held-out images. ``--kind insar-wrapped``: the observed wrapped
  phase as (cos, sin) channels. ``--train-only`` stops after training (``OUT/train_<kind>``,
  ``OUT/reference_<kind>.npy``); ``--checkpoint-every`` lets a long run resume.
- ``--run``: an existing run folder and reference images (``--seed`` picks the initial noise, so
  runs with several seeds give the sampling spread of every statistic).
- ``--train-speed A,B``: training steps/s of one U-Net (default: the 32 px default config),
  ``(B - A) / (t_B - t_A)`` from fresh runs of A and B steps after a warm-up run
  (``scripts/diffusion_gpu.sh`` runs it on a GPU).

Tables are printed and written as ``OUT/<title>.md``; rows as ``OUT/rows_*.json``.

Each table row: sampler, steps, NFE, seconds per sample, ``max_rel_err`` (largest relative error
of the physical statistics against the DDPM-1000 row; the issue's goal is <= 0.1 at <= 20 NFE),
distances to the reference images, FID/KID/PR with the default extractor (the shipped SSL
encoder, or the weak random-conv net with a warning when its weights are not installed).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from eoforge.diffusion import NoiseSchedule
from eoforge.diffusion.evaluation.compare import (
    DEFAULT_CONFIGS,
    compare_samplers,
    format_table,
    plot_quality_vs_nfe,
)
from eoforge.diffusion.evaluation.gaussian_oracle import StationaryGaussianDenoiser

if TYPE_CHECKING:
    from eoforge.diffusion.model import UNetConfig

M_DB, S_DB = -8.0, 4.0
PHASE_SCALE = 3.0  # radians per model unit (InSAR analytic mode)


def _sar_inverse(x: np.ndarray) -> np.ndarray:
    return 10 ** ((M_DB + S_DB * x) / 10)


def _phase_inverse(x: np.ndarray) -> np.ndarray:
    return PHASE_SCALE * x


def _verdict(rows: list[dict]) -> str:
    ok = [r for r in rows[1:] if r["nfe"] <= 20 and r["max_rel_err"] <= 0.1]
    if not ok:
        return "no sampler at <= 20 NFE is within 10 % of the reference on the physical statistics"
    best = min(ok, key=lambda r: (r["nfe"], r["max_rel_err"]))
    return (
        f"{best['sampler']}-{best['steps']} ({best['nfe']} NFE) is within "
        f"{100 * best['max_rel_err']:.1f} % of {rows[0]['sampler']}-{rows[0]['steps']} "
        f"({rows[0]['nfe'] / best['nfe']:.0f}x fewer evaluations)"
    )


def _report(title: str, rows: list[dict], out: Path) -> None:
    print(f"\n### {title}\n")
    print(format_table(rows))
    print(f"\nverdict: {_verdict(rows)}")
    out.mkdir(parents=True, exist_ok=True)
    name = title.lower().replace(" ", "_").replace(",", "")
    plot_quality_vs_nfe(rows, out / f"{name}.png")
    table = f"{title}:\n\n{format_table(rows)}\n\nverdict: {_verdict(rows)}\n"
    (out / f"{name}.md").write_text(table)


def _valid_configs(schedule_name: str) -> list[tuple[str, int]]:
    """The paper code cannot rebuild a linear schedule with <= 20 steps (beta_T >= 1): skip."""
    configs = list(DEFAULT_CONFIGS)
    if schedule_name == "linear":
        skipped = [c for c in configs if c[0].startswith("rebuilt") and c[1] <= 20]
        print(f"\n(linear schedule: {skipped} skipped, a rebuilt linear(K<=20) has beta >= 1)")
        configs = [c for c in configs if c not in skipped]
    return configs


def _analytic_case(
    kind: str, sched: NoiseSchedule, size: int
) -> tuple[StationaryGaussianDenoiser, Callable[[np.ndarray], np.ndarray]]:
    """(exact denoiser, inverse to physical units) of the SAR or InSAR analytic case."""
    if kind == "sar":
        return StationaryGaussianDenoiser.powerlaw(sched, size), _sar_inverse
    insar = StationaryGaussianDenoiser.powerlaw(
        sched, size, beta=8 / 3, texture_var=1.0, white_var=0.01
    )
    return insar, _phase_inverse


def analytic(args: argparse.Namespace) -> None:
    kinds = [args.kind] if args.kind else ["sar", "insar"]
    for schedule_name in args.schedules:
        sched = getattr(NoiseSchedule, schedule_name)(1000)
        configs = args.configs or _valid_configs(schedule_name)
        for kind in kinds:
            model, inverse = _analytic_case(kind, sched, args.size)
            ref = inverse(model.sample_data(args.n, 12345))
            t0 = time.perf_counter()
            rows = compare_samplers(
                model, sched, ref, configs=configs, n=args.n,
                shape=(1, args.size, args.size), seed=args.seed, inverse=inverse, kind=kind,
                batch_size=args.batch_size,
            )  # fmt: skip
            title = f"analytic {'SAR' if kind == 'sar' else 'InSAR'}, {schedule_name} T=1000"
            _report(f"{title} seed {args.seed}", rows, args.out)
            name = f"rows_analytic_{kind}_{schedule_name}_{args.size}px_seed{args.seed}.json"
            (args.out / name).write_text(json.dumps(rows, indent=1))
            print(f"({time.perf_counter() - t0:.1f} s)")


def _data(kind: str, args: argparse.Namespace) -> tuple[np.ndarray, float]:
    """Training + held-out images in the model domain, and radians per model unit (InSAR).

    ``insar``: unwrapped phase divided by its training std (model domain), physical = x * scale;
    ``insar-wrapped``: the observed wrapped phase as (cos, sin) channels (scale 1, unused).
    """
    n = args.train_images + args.n
    if kind == "sar":
        from eoforge.sar.wv import synth_wv

        return synth_wv(n, size=args.size, seed=args.seed).images, 1.0
    from eoforge.sar.insar import synth_interferograms, to_cos_sin

    ifg = synth_interferograms(n, size=args.size, seed=args.seed)
    if kind == "insar-wrapped":
        return to_cos_sin(ifg["wrapped"]).astype(np.float32), 1.0
    scale = float(ifg["unwrapped"][: args.train_images].std())
    return ifg["unwrapped"] / scale, scale


def _unet(args: argparse.Namespace, in_channels: int = 1) -> UNetConfig:
    """The U-Net of ``--size``, ``--channels`` and ``--attention`` (training and speed runs)."""
    from eoforge.diffusion.model import UNetConfig

    return UNetConfig(
        image_size=args.size,
        in_channels=in_channels,
        block_out_channels=args.channels,
        attention_levels=args.attention,
        norm_num_groups=min(8, args.channels[0]),
    )


def _train(kind: str, args: argparse.Namespace) -> tuple[Path, np.ndarray, float]:
    """Train one model; returns (run folder, held-out images in physical units, scale)."""
    from eoforge.diffusion.training.train import DiffusionConfig, train

    n_train = args.train_images
    data, scale = _data(kind, args)
    config = DiffusionConfig(
        kind="sar" if kind == "sar" else "identity",
        unet=_unet(args, in_channels=2 if kind == "insar-wrapped" else 1),
        num_timesteps=1000, steps=args.train_steps, batch_size=args.train_batch, lr=args.lr,
        ema_decay=0.999, checkpoint_every=args.checkpoint_every, seed=args.seed,
        accelerator=args.accelerator, channels_last=args.channels_last, compile=args.compile,
    )  # fmt: skip
    t0 = time.perf_counter()
    run = train(config, data[:n_train], out=args.out / f"train_{kind}")
    print(f"trained {kind} model: {args.train_steps} steps in {time.perf_counter() - t0:.0f} s")
    return run, data[n_train:] * scale, scale


def _compare_run(
    kind: str, run: Path, ref: np.ndarray, scale: float, args: argparse.Namespace
) -> list[dict]:
    """Sampler rows of a trained run; InSAR unwrapped samples mapped to radians by ``scale``."""
    from eoforge.diffusion.evaluation.compare import compare_samplers, default_configs
    from eoforge.diffusion.run_io import load_run

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, schedule, normaliser, cfg = load_run(run, device=device)
    unet = cfg.unet
    configs = args.configs or default_configs(len(schedule))
    return compare_samplers(
        model, schedule, ref, configs=configs, n=args.n,
        shape=(unet.in_channels, unet.image_size, unet.image_size), seed=args.seed,
        inverse=lambda x: np.asarray(normaliser.inverse_transform(x), np.float64) * scale,
        kind="sar" if kind == "sar" else "insar", batch_size=args.batch_size,
        sample_kwargs={"variance": cfg.variance, "prediction": cfg.prediction},
    )  # fmt: skip


def _speed_run(args: argparse.Namespace, steps: int, out: Path) -> float:
    """Seconds of one fresh training run of ``steps`` steps of the default U-Net (SAR)."""
    from eoforge.diffusion.training.train import DiffusionConfig, train
    from eoforge.sar.wv import synth_wv

    images = synth_wv(args.train_images, size=args.size, seed=args.seed).images
    config = DiffusionConfig(
        unet=_unet(args), steps=steps, batch_size=args.train_batch, checkpoint_every=0,
        log_every=max(10, steps // 10), accelerator=args.accelerator,
        channels_last=args.channels_last, compile=args.compile, seed=args.seed,
    )  # fmt: skip
    train(config, images, out=out, resume=False)
    metrics = json.loads((out / "metrics.json").read_text())
    print(f"  {steps} steps: {metrics['train_seconds_this_session']:.2f} s ({metrics['device']}, "
          f"{metrics['precision']}, {metrics['parameters']} parameters)")  # fmt: skip
    return float(metrics["train_seconds_this_session"])


def train_speed(args: argparse.Namespace) -> None:
    """Training steps/s: after a warm-up run, two fresh runs of A and B steps; (B - A) / (t_B -
    t_A) is the rate without the fixed costs of a run (Lightning start, compilation, first
    steps), B / t_B with them."""
    a, b = args.train_speed
    print(f"training speed: {args.size} px, batch {args.train_batch}, widths {args.channels}, "
          f"channels_last={args.channels_last}, compile={args.compile}")  # fmt: skip
    _speed_run(args, a, args.out / "speed_warmup")  # one-off costs of the process (imports...)
    t_a = _speed_run(args, a, args.out / f"speed_{a}")
    t_b = _speed_run(args, b, args.out / f"speed_{b}")
    line = (f"steps/s: {(b - a) / (t_b - t_a):.1f} steady ({b - a} steps in "
            f"{t_b - t_a:.2f} s), {b / t_b:.1f} over the whole {b}-step run; "
            f"images/s {args.train_batch * (b - a) / (t_b - t_a):.0f}")  # fmt: skip
    print(line)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "train_speed.md").write_text(line + "\n")


def trained(args: argparse.Namespace) -> None:
    kinds = [args.kind] if args.kind else ["sar", "insar"]
    for kind in kinds:
        if args.run is not None:
            run, ref = args.run, np.load(args.reference)
            scale = (
                float(json.loads((args.run / "phase_scale.json").read_text()))
                if (kind == "insar" and (args.run / "phase_scale.json").is_file())
                else 1.0
            )
        else:
            run, ref, scale = _train(kind, args)
            np.save(args.out / f"reference_{kind}.npy", ref)
            (run / "phase_scale.json").write_text(json.dumps(scale))
        if args.train_only:
            continue
        rows = _compare_run(kind, run, ref, scale, args)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"rows_{kind}_seed{args.seed}.json").write_text(json.dumps(rows, indent=1))
        _report(f"trained {kind} model seed {args.seed}", rows, args.out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--analytic", action="store_true", help="exact denoiser, no training")
    ap.add_argument("--run", type=Path, default=None, help="existing diffusion run folder")
    ap.add_argument("--reference", type=Path, default=None, help="reference images with --run")
    ap.add_argument("--kind", choices=["sar", "insar", "insar-wrapped"], default=None)
    ap.add_argument("--n", type=int, default=256, help="samples per configuration")
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--train-steps", type=int, default=3000)
    ap.add_argument("--train-images", type=int, default=2048)
    ap.add_argument(
        "--channels",
        type=lambda v: tuple(int(c) for c in v.split(",")),
        default=(32, 64, 64),
        help="U-Net widths per level, e.g. 16,32 for a quick CPU run",
    )
    ap.add_argument(
        "--attention",
        type=lambda v: tuple(int(c) for c in v.split(",") if c),
        default=(1,),
        help="U-Net levels with self-attention (0 = full resolution), e.g. 3 at 64 px",
    )
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--checkpoint-every", type=int, default=0, help="0: at the end only")
    ap.add_argument("--train-only", action="store_true", help="train, save the reference, stop")
    ap.add_argument(
        "--configs",
        type=lambda v: [(c.split(":")[0], int(c.split(":")[1])) for c in v.split(",")],
        default=None,
        help="sampler:steps list, first = reference, e.g. ddpm:1000,dpm++:20,ddim:20",
    )
    ap.add_argument(
        "--train-speed",
        type=lambda v: tuple(int(c) for c in v.split(",")),
        default=None,
        metavar="A,B",
        help="time two fresh training runs of A and B steps (default config) and stop",
    )
    ap.add_argument(
        "--schedules",
        type=lambda v: v.split(","),
        default=["cosine", "linear"],
        help="schedules of the --analytic mode, e.g. cosine",
    )
    ap.add_argument("--accelerator", choices=["auto", "cpu", "gpu"], default="auto")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile", action="store_true", help="torch.compile the U-Net")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/bench-diffusion-samplers"))
    args = ap.parse_args()
    if args.run is not None and (args.reference is None or args.kind is None):
        ap.error("--run needs --reference and --kind")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor()
    print(f"machine: {platform.node()} ({device}), torch {torch.__version__}")
    if args.train_speed is not None:
        train_speed(args)
    elif args.analytic:
        if args.kind == "insar-wrapped":
            ap.error("--analytic has the kinds sar and insar")
        analytic(args)
    else:
        trained(args)


if __name__ == "__main__":
    main()
