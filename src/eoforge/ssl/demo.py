"""Demo stage of the SSL capability: synthetic WV set -> curated DINO -> probes vs random init.

A small long-tailed synthetic wave-mode set is generated, a tiny ViT is pre-trained for a few
epochs with dynamic curation (CPU, about a minute or two), and its frozen teacher is probed
(logistic / ridge / kNN) against the same architecture at random initialisation. Figures: one
imagette per class, class counts and cluster sizes before/after curation, training curves.
"""

from __future__ import annotations

import json
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from numpy.typing import NDArray

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.curation.balanced import balanced_sample
from eoforge.curation.dynamic import CurationConfig
from eoforge.curation.hierarchy import hierarchical_kmeans
from eoforge.sar.wv import WVSet, plot_examples, synth_wv
from eoforge.ssl.embed import embed_images, load_teacher
from eoforge.ssl.pretrain import SSLConfig, build_seeded_encoder, pretrain
from eoforge.ssl.pretrain_report import CURVES_CAPTION, describe_curves, training_figure
from eoforge.ssl.probe import probe_wv

N_IMAGES = 600
SIZE = 32


def demo_config(seed: int = 0, epochs: int = 20) -> SSLConfig:
    """The small CPU configuration used by the demo (tiny ViT, dynamic curation)."""
    return SSLConfig(
        encoder="vit-tiny/8", encoder_dim=64, encoder_depth=2, epochs=epochs, batch_size=64,
        lr=5e-3, momentum_teacher=0.99, teacher_temp=0.02, warmup_teacher_temp=0.02,
        out_dim=256, head_hidden_dim=128,
        head_bottleneck_dim=64, n_local_crops=2, global_size=SIZE, local_size=SIZE // 2,
        warmup_epochs=1, accelerator="cpu", seed=seed,
        curation=CurationConfig(mode="dynamic", warmup_epochs=2, refresh_every=2, ratio=0.5,
                                n_clusters=(32, 8), seed=seed),
    )  # fmt: skip


def _plot_curation(
    wv: WVSet, features: NDArray[np.float32], cfg: SSLConfig, seed: int
) -> tuple[Figure, dict[str, float | int]]:
    """The curation of ``features`` by ``cfg``: cluster sizes and class shares before/after."""
    cur = cfg.curation
    h = hierarchical_kmeans(features, cur.n_clusters, n_resampling=cur.n_resampling,
                            spherical=cur.spherical, seed=seed)  # fmt: skip
    target = round(cur.ratio * len(wv))
    kept = balanced_sample(h, target, eta=cur.eta, seed=seed)
    sizes = h.sizes[0]
    kept_sizes = np.bincount(h.assignments[0][kept], minlength=sizes.size)
    order = np.argsort(-sizes, kind="stable")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    axes[0].bar(np.arange(sizes.size), sizes[order], color="0.7", label="all images")
    axes[0].bar(np.arange(sizes.size), kept_sizes[order], color="C0", label="kept")
    axes[0].set(xlabel="level-1 cluster (sorted by size)", ylabel="images",
                title="cluster sizes before / after balanced sampling")  # fmt: skip
    axes[0].legend()
    full = np.bincount(wv.labels, minlength=len(wv.classes))
    sel = np.bincount(wv.labels[kept], minlength=len(wv.classes))
    x = np.arange(len(wv.classes))
    axes[1].bar(x - 0.2, full / full.sum(), 0.4, label="full data", color="0.6")
    axes[1].bar(x + 0.2, sel / sel.sum(), 0.4, label="curated", color="C1")
    axes[1].set_xticks(x, [c.replace("_", " ") for c in wv.classes], rotation=60, ha="right",
                       fontsize=7)  # fmt: skip
    axes[1].set(ylabel="share of images", title="class shares (labels never used)")
    axes[1].legend()
    fig.tight_layout()
    return fig, {"n_clusters_level1": int(sizes.size), "largest_cluster_before": int(sizes.max()),
                 "largest_cluster_after": int(kept_sizes.max()),
                 "rarest_half_share_before": float(np.sort(full)[: len(full) // 2].sum()
                                                   / full.sum()),
                 "rarest_half_share_after": float(sel[np.argsort(full)[: len(full) // 2]].sum()
                                                  / sel.sum())}  # fmt: skip


def stage(run: RunDir, report: Report, seed: int) -> dict[str, Any]:
    """Run the SSL demo inside ``run.path / "ssl"`` and add its report section."""
    root = run.path / "ssl"
    root.mkdir(parents=True, exist_ok=True)
    wv = synth_wv(N_IMAGES, size=SIZE, seed=seed)
    plot_examples(wv, root / "examples.png", seed=seed)
    cfg = demo_config(seed)
    run_path = pretrain(cfg, wv, root / "pretrain")
    encoder, normaliser, info = load_teacher(run_path)
    feats = embed_images(encoder, wv.images, normaliser, info["eval_size"])
    rand = embed_images(build_seeded_encoder(cfg), wv.images, normaliser, info["eval_size"])
    res = probe_wv(feats, wv, seed=seed)
    res0 = probe_wv(rand, wv, seed=seed)
    keys = ["linear_accuracy", "linear_macro_f1", "rare_class_recall", "knn_accuracy",
            "wind_speed_rmse", "hs_rmse"]  # fmt: skip
    table = [{"metric": k.replace("_", " "), "DINO + dynamic curation": res.get(k),
              "random init": res0.get(k)} for k in keys]  # fmt: skip
    metrics = json.loads((run_path / "metrics.json").read_text())
    fig_cur, cur_stats = _plot_curation(wv, feats, cfg, seed)

    report.section("Curated self-supervised pre-training (SAR wave mode)")
    report.add_text(
        f"{N_IMAGES} synthetic Sentinel-1 WV imagettes ({SIZE} px, long-tailed classes, 5 % "
        f"near-duplicates). A tiny ViT ({cfg.encoder}, width {cfg.encoder_dim}, depth "
        f"{cfg.encoder_depth}) is pre-trained with DINO for {cfg.epochs} epochs on CPU: 2 warm-up "
        "epochs on the full set, then every 2 epochs the teacher re-embeds the set, hierarchical "
        "k-means clusters it and balanced sampling keeps half. The frozen teacher is probed "
        "against the same network at random initialisation (70/30 stratified split)."
    )
    report.add_image_file(root / "examples.png", "one synthetic imagette per class (dB)")
    report.add_table(table, caption="frozen-feature probes (higher accuracy, lower RMSE = better)")
    report.add_figure(fig_cur, "clusters of the final teacher's embeddings and the classes kept")
    history = json.loads((run_path / "curation_history.json").read_text())
    refreshes = [h["epoch"] for h in history if h.get("kind") != "full"]
    fig = training_figure(metrics["per_epoch"], cfg.out_dim, info.get("embed_dim"), refreshes)
    report.add_figure(fig, CURVES_CAPTION)
    report.add_text(describe_curves(metrics["per_epoch"], cfg.out_dim))
    plt.close("all")
    return {
        "probe_dino": {k: res.get(k) for k in keys},
        "probe_random_init": {k: res0.get(k) for k in keys},
        "images_seen": metrics["images_seen"],
        "curation": cur_stats,
    }
