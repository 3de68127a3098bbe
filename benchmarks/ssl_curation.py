"""Benchmark: DINO with dynamic curation vs full data and random subsets, at equal images seen.

The claim (Kerdreux et al. 2025, issue 4): on a long-tailed, redundant archive, dynamic curation
reaches the full-data probe accuracy with at most half the images seen, improves rare-class
recall, and its embedding + clustering overhead stays under 10 % of training time.

Runs (every one sees the same number of images, ``budget`` full-data epochs' worth, unless noted):

* ``full``            all images, ``budget`` epochs;
* ``full-half``       all images, ``budget / 2`` epochs (half the images seen);
* ``random``          one random subset of ``ratio * N``, ``budget / ratio`` epochs;
* ``random-redrawn``  full warm-up, then a new random subset every ``refresh`` epochs;
* ``dynamic``         full warm-up, then curated (teacher embeddings, hierarchical k-means,
                      balanced sampling) every ``refresh`` epochs;
* ``dynamic-half``    as ``dynamic`` with half the images seen;
* ``random-init``     no training: the same network at its seeded initialisation (reference).

Each run's frozen teacher is probed on a held-out synthetic set (same generator, other seed):
logistic accuracy, rare-class recall (mean recall of the five classes rarest in the
*pre-training* set) of the plain and of a class-balanced logistic probe, ridge RMSE of wind
speed and Hs. The probe set has a uniform class prior by default (``--probe-prior``), so every
class has test items.
The table shows mean +- std over seeds. Defaults are tiny (minutes on a CPU); scale up with
``--n``, ``--size``, ``--budget``, ``--width``, ``--depth``, ``--seeds``.

Usage::

    python benchmarks/ssl_curation.py --seeds 0 1 2
    python benchmarks/ssl_curation.py --n 20000 --size 64 --budget 40 --width 192 --depth 12 \
        --device gpu
    python benchmarks/ssl_curation.py --preset h200 --out runs/ssl-h200   # ~8 min on one H200

``--preset h200`` is the archive-scale test of the claim sized for one H200 (issue 15): 100,000
long-tailed 64 px imagettes, ViT-S/8 (width 384, depth 12), batch 256, bf16, full data for 4
epochs against dynamic curation at half the images seen, (1000, 100) clusters, seeds 0 and 1
paired, 10,000 uniform-prior probe imagettes. Explicit options given with the preset win.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from eoforge.curation.dynamic import CurationConfig
from eoforge.sar.wv import synth_wv
from eoforge.ssl.embed import embed_images, embed_run, load_teacher
from eoforge.ssl.pretrain import SSLConfig, build_seeded_encoder, pretrain
from eoforge.ssl.probe import probe_wv

METRICS = (
    "linear_accuracy", "rare_class_recall", "balanced_rare_class_recall", "knn_accuracy",
    "wind_speed_rmse", "hs_rmse",
)  # fmt: skip


PAIRED = ("linear_accuracy", "rare_class_recall", "balanced_rare_class_recall")

PRESETS = {
    "h200": dict(n=100_000, n_test=10_000, size=64, budget=4.0, ratio=0.5, warmup=1, refresh=1,
                 n_clusters=[1000, 100], encoder="vit-small/8", width=384, depth=12,
                 batch_size=256, device="gpu", precision="bf16-mixed", seeds=[0, 1],
                 runs=["full", "dynamic-half"]),
}  # fmt: skip
"""Named sets of defaults (``--preset``); options typed on the command line override them."""


def paired_differences(rows: dict[str, list[dict]], base: str = "full") -> dict[str, dict]:
    """Per-seed differences of each run against ``base`` (runs share data and probe set per
    seed, so pairing removes the seed-to-seed spread): mean, standard error, wins, n."""
    if len(rows.get(base, [])) < 2:
        return {}
    out = {}
    for name, rs in rows.items():
        if name == base or len(rs) != len(rows[base]):
            continue
        out[name] = {}
        for k in PAIRED:
            d = np.array([r[k] - b[k] for r, b in zip(rs, rows[base], strict=True)], dtype=float)
            out[name][k] = {"mean": float(d.mean()), "se": float(d.std(ddof=1) / np.sqrt(d.size)),
                            "wins": int((d > 0).sum()), "n": int(d.size)}  # fmt: skip
    return out


def plan(budget: float, ratio: float, warmup: int) -> dict[str, tuple[str, int]]:
    """(curation mode, epochs) of every run so that images seen match (see module docstring)."""
    cur_epochs = max(1, round(warmup + (budget - warmup) / ratio))
    half_cur = max(1, round(warmup + (budget / 2 - warmup) / ratio))
    return {
        "full": ("none", round(budget)),
        "full-half": ("none", max(1, round(budget / 2))),
        "random": ("random", max(1, round(budget / ratio))),
        "random-redrawn": ("random-redrawn", cur_epochs),
        "dynamic": ("dynamic", cur_epochs),
        "dynamic-half": ("dynamic", half_cur),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=600, help="training imagettes")
    ap.add_argument("--n-test", type=int, default=600, help="probe imagettes (other seed)")
    ap.add_argument(
        "--probe-prior", choices=["uniform", "long-tail"], default="uniform",
        help="class prior of the held-out probe set (uniform: every class is probed equally; "
        "the rare classes are those rare in the pre-training set either way)",
    )  # fmt: skip
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--budget", type=float, default=6, help="full-data epochs of images seen")
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--warmup", type=int, default=1, help="curation warm-up epochs (full data)")
    ap.add_argument("--refresh", type=int, default=2)
    ap.add_argument("--n-clusters", type=int, nargs="+", default=[32, 8])
    ap.add_argument("--encoder", default="vit-tiny/8")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--runs", nargs="+", default=None, help="subset of the run names")
    ap.add_argument("--out", type=Path, default=None, help="keep run folders and results here")
    ap.add_argument("--precision", default="auto", help="Lightning precision, e.g. bf16-mixed")
    ap.add_argument("--preset", choices=sorted(PRESETS), default=None,
                    help="a named set of defaults (module docstring)")  # fmt: skip
    pre = ap.parse_known_args()[0].preset
    if pre is not None:
        ap.set_defaults(**PRESETS[pre])
    args = ap.parse_args()

    torch.set_num_threads(max(1, torch.get_num_threads()))
    root = args.out or Path(tempfile.mkdtemp(prefix="ssl-bench-"))
    runs = plan(args.budget, args.ratio, args.warmup)
    if args.runs:
        runs = {k: v for k, v in runs.items() if k in args.runs}
    rows: dict[str, list[dict]] = {k: [] for k in runs}
    rows["random-init"] = []
    for seed in args.seeds:
        train = synth_wv(args.n, size=args.size, seed=seed)
        test = synth_wv(args.n_test, size=args.size, seed=10_000 + seed,
                        class_prior=args.probe_prior)  # fmt: skip
        counts = np.bincount(train.labels[train.labels >= 0], minlength=len(train.classes))
        rare = [int(c) for c in np.argsort(counts, kind="stable")[: len(counts) // 2]]
        for name, (mode, epochs) in runs.items():
            cfg = SSLConfig(
                encoder=args.encoder, encoder_dim=args.width, encoder_depth=args.depth,
                epochs=epochs, batch_size=args.batch_size, lr=5e-3, momentum_teacher=0.99,
                teacher_temp=0.02, warmup_teacher_temp=0.02,
                out_dim=256, head_hidden_dim=128, head_bottleneck_dim=64, n_local_crops=2,
                global_size=args.size, local_size=args.size // 2, warmup_epochs=1,
                accelerator=args.device, precision=args.precision, seed=seed,
                curation=CurationConfig(mode=mode, warmup_epochs=args.warmup,
                                        refresh_every=args.refresh, ratio=args.ratio,
                                        n_clusters=tuple(args.n_clusters), seed=seed),
            )  # fmt: skip
            folder = root / f"{name}-seed{seed}"
            shutil.rmtree(folder, ignore_errors=True)
            t0 = time.perf_counter()
            pretrain(cfg, train, folder)
            wall = time.perf_counter() - t0
            m = json.loads((folder / "metrics.json").read_text())
            feats = embed_run(folder, test)
            res = probe_wv(feats, test, seed=seed, rare=rare)
            overhead = m["curation_seconds_embedding"] + m["curation_seconds_clustering"]
            row = {k: res.get(k) for k in METRICS}
            row.update(images_seen=m["images_seen"], epochs=epochs, seconds=wall,
                       curation_share=overhead / max(m["fit_seconds_last_call"], 1e-9))  # fmt: skip
            rows[name].append(row)
            print(f"seed {seed} {name:15s} " + " ".join(
                f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
            ), flush=True)  # fmt: skip
        _, normaliser, info = load_teacher(folder)  # same normaliser and view as the runs
        init = embed_images(build_seeded_encoder(cfg), test.images, normaliser, info["eval_size"])
        res = probe_wv(init, test, seed=seed, rare=rare)
        rows["random-init"].append({k: res.get(k) for k in METRICS} | dict(
            images_seen=0, epochs=0, seconds=0.0, curation_share=0.0))  # fmt: skip

    cols = [*METRICS, "images_seen", "curation_share", "seconds"]
    print(f"\n{args.n} training / {args.n_test} probe imagettes, {args.size} px, {args.encoder} "
          f"(width {args.width}, depth {args.depth}), budget {args.budget} full epochs, "
          f"ratio {args.ratio}, seeds {args.seeds}; mean +- std")  # fmt: skip
    print("| run | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    summary = {}
    for name, rs in rows.items():
        cells, summary[name] = [], {}
        for c in cols:
            v = np.array([r[c] if r[c] is not None else math.nan for r in rs], dtype=float)
            summary[name][c] = {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v))}
            fmt = ".0f" if c == "images_seen" else ".3f"
            cells.append(f"{np.nanmean(v):{fmt}} +- {np.nanstd(v):{fmt}}")
        print(f"| {name} | " + " | ".join(cells) + " |")
    paired = paired_differences(rows)
    if paired:
        print(
            "\nPaired against full data (same seed = same training and probe images): "
            "mean difference +- standard error over seeds, and seeds where the run is higher"
        )
        print("| run | " + " | ".join(f"d {k}" for k in PAIRED) + " |")
        print("|---" * (len(PAIRED) + 1) + "|")
        for name, d in paired.items():
            print(f"| {name} | " + " | ".join(
                f"{d[k]['mean']:+.3f} +- {d[k]['se']:.3f} ({d[k]['wins']}/{d[k]['n']})"
                for k in PAIRED) + " |")  # fmt: skip
    (root / "results.json").write_text(json.dumps({"args": vars(args) | {"out": str(root)},
                                                   "rows": rows, "summary": summary,
                                                   "paired": paired}, indent=2,
                                                  default=str))  # fmt: skip
    print(f"\nrun folders and results.json in {root}")


if __name__ == "__main__":
    main()
