r"""``RUN/report.html`` of a DINO pre-training run: training curves, what they mean, curation record.

The DINO loss of a global view is the cross-entropy between the (centred, sharpened) teacher
distribution :math:`P_t` and the student's :math:`P_s`,

.. math::

    H(P_t, P_s) = H(P_t) + \mathrm{KL}(P_t \,\|\, P_s),

so its floor is the teacher entropy :math:`H(P_t)`. The loss can rise while the student matches
the teacher just as well: that is the teacher's output spreading over more prototypes (centring
at work), not the student getting worse. The curves therefore show the loss, :math:`H(P_t)` and
their difference, the KL part that the student actually reduces (``loss - teacher_entropy``
is exactly the mean KL over view pairs, since every global view is paired with the same number
of views), and the number of prototypes in use :math:`\exp H(\bar P_t) = K e^{-\mathrm{KL}(\bar
P_t \| U)}`, which is near 1 when the teacher collapses onto one prototype and near ``K`` when it
is uniform.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.report import Report
from eoforge.core.runs import RunDir

CURVES_CAPTION = (
    "Left: the DINO loss H(P_t, P_s) = H(P_t) + KL(P_t || P_s), its floor the teacher entropy "
    "H(P_t), and their difference, the KL part the student reduces. Middle: prototypes in use, "
    "exp H(mean P_t) (1 = collapse onto one prototype, K = uniform teacher). Right: std of the "
    "L2-normalised teacher features (about 1/sqrt(D) when spread, 0 on collapse). Dotted lines: "
    "curation refreshes."
)


def _series(per_epoch: Sequence[dict[str, float]], key: str) -> np.ndarray:
    return np.array([r.get(key, np.nan) for r in per_epoch], dtype=np.float64)


def curve_table(per_epoch: Sequence[dict[str, float]], out_dim: int) -> dict[str, np.ndarray]:
    """Per-epoch arrays of the training curves.

    ``epoch``, ``loss``, ``teacher_entropy``, ``kl`` (loss - entropy), ``prototypes_in_use``
    (``out_dim * exp(-teacher_kl_uniform)``), ``embedding_std``.
    """
    loss, ent = _series(per_epoch, "loss"), _series(per_epoch, "teacher_entropy")
    return {
        "epoch": _series(per_epoch, "epoch"),
        "loss": loss,
        "teacher_entropy": ent,
        "kl": loss - ent,
        "prototypes_in_use": out_dim * np.exp(-_series(per_epoch, "teacher_kl_uniform")),
        "embedding_std": _series(per_epoch, "embedding_std"),
    }


def training_figure(
    per_epoch: Sequence[dict[str, float]],
    out_dim: int,
    embed_dim: int | None = None,
    refresh_epochs: Sequence[int] = (),
) -> Any:
    """Three panels: loss = teacher entropy + KL, prototypes in use, embedding std (see module)."""
    import matplotlib.pyplot as plt

    t = curve_table(per_epoch, out_dim)
    ep = t["epoch"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.0))
    ax = axes[0]
    ax.plot(ep, t["loss"], "o-", ms=3, label="loss H(P_t, P_s)")
    ax.plot(ep, t["teacher_entropy"], "s-", ms=3, label="teacher entropy H(P_t)")
    ax.plot(ep, t["kl"], "^-", ms=3, label="loss - H(P_t) = KL(P_t || P_s)")
    ax.set(xlabel="epoch", ylabel="nats")
    ax.legend(fontsize=7)
    axes[1].plot(ep, t["prototypes_in_use"], "o-", ms=3, color="C3")
    axes[1].axhline(out_dim, color="0.6", ls="--", lw=0.8)
    axes[1].set(xlabel="epoch", ylabel=f"prototypes in use (of K = {out_dim})", yscale="log")
    axes[2].plot(ep, t["embedding_std"], "o-", ms=3, color="C2")
    if embed_dim:
        axes[2].axhline(1 / math.sqrt(embed_dim), color="0.6", ls="--", lw=0.8,
                        label=f"1/sqrt(D), D = {embed_dim}")  # fmt: skip
        axes[2].legend(fontsize=7)
    axes[2].set(xlabel="epoch", ylabel="embedding std (unit-norm features)", ylim=(0, None))
    for a in axes:
        for e in refresh_epochs:
            a.axvline(e - 0.5, color="0.5", ls=":", lw=0.8)
    fig.tight_layout()
    return fig


def describe_curves(per_epoch: Sequence[dict[str, float]], out_dim: int) -> str:
    """One paragraph saying what this run's curves did (loss rise explained by the entropy)."""
    t = curve_table(per_epoch, out_dim)
    if not np.isfinite(t["loss"]).any():
        return "No per-epoch metrics were logged."
    i = int(np.nanargmin(t["loss"]))
    last = len(t["loss"]) - 1
    text = (
        f"Loss {t['loss'][0]:.3f} at epoch 0, lowest {t['loss'][i]:.3f} at epoch {i}, "
        f"{t['loss'][last]:.3f} at the end; teacher entropy {t['teacher_entropy'][i]:.3f} -> "
        f"{t['teacher_entropy'][last]:.3f} nats over the same epochs; the KL part stayed between "
        f"{np.nanmin(t['kl'][i:]):.3f} and {np.nanmax(t['kl'][i:]):.3f} from epoch {i} on; "
        f"prototypes in use {t['prototypes_in_use'][i]:.1f} -> {t['prototypes_in_use'][last]:.1f} "
        f"of {out_dim}."
    )
    rise, ent_rise = t["loss"][last] - t["loss"][i], t["teacher_entropy"][last] - t[
        "teacher_entropy"][i]  # fmt: skip
    if rise > 0.1 and ent_rise > 0.5 * rise:
        text += (
            " The loss rose after its minimum because its floor, the teacher entropy, rose: the "
            "centring spread the teacher's output over more prototypes (an earlier dip in "
            "prototypes in use is the sharpening winning for a while). This is not the student "
            "getting worse; judge learning by the KL part and by the probes."
        )
    return text


def _curation_rows(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"epoch": int(h.get("epoch", -1)), "selection": str(h.get("kind", "")),
         "images": int(h.get("n_selected", 0)), "of": int(h.get("n_pool", 0)),
         "clusters": ",".join(str(c) for c in h.get("n_clusters", [])) or "-",
         "largest cluster": h.get("cluster_size_max", "-"),
         "embedding s": round(float(h.get("seconds_embedding", 0.0)), 3),
         "clustering s": round(float(h.get("seconds_clustering", 0.0)), 3)}
        for h in history
    ]  # fmt: skip


def write_pretrain_report(run: RunDir, config: Any) -> Path:
    """Write ``RUN/report.html`` and ``RUN/figures/training_curves.png`` from the run's files."""
    metrics = json.loads(run.file("metrics.json").read_text())
    per_epoch = metrics.get("per_epoch", [])
    hist_path = run.path / "curation_history.json"
    history = json.loads(hist_path.read_text()) if hist_path.is_file() else []
    enc_path = run.path / "encoder.json"
    embed_dim = json.loads(enc_path.read_text()).get("embed_dim") if enc_path.is_file() else None
    refreshes = [int(h["epoch"]) for h in history if h.get("kind") not in (None, "full")]

    report = Report("eoforge ssl pretrain", f"run {run.path}, data {config.data or '(in memory)'}")
    report.section("Training")
    report.add_text(
        f"{metrics.get('epochs_done')} epochs, {metrics.get('global_steps')} optimiser steps, "
        f"{metrics.get('images_seen')} images seen; encoder {config.encoder}, K = "
        f"{config.out_dim} prototypes, teacher temperature {config.teacher_temp} (warm-up from "
        f"{config.warmup_teacher_temp} over {config.warmup_teacher_temp_epochs} epochs), centre "
        f"momentum {config.center_momentum}, curation {config.curation.mode}."
    )
    if per_epoch:
        fig = training_figure(per_epoch, config.out_dim, embed_dim, refreshes)
        report.add_image_file(run.save_figure(fig, "training_curves"), CURVES_CAPTION)
        report.add_text(describe_curves(per_epoch, config.out_dim))
        final = metrics.get("final", {})
        report.add_table(
            {k: final.get(k) for k in ("loss", "teacher_entropy", "teacher_kl_uniform",
                                       "embedding_std", "lr", "teacher_temp")},
            caption="last epoch",
        )  # fmt: skip
    report.section("Curation")
    if history:
        report.add_text(
            f"Mode {config.curation.mode}: {len(refreshes)} curated selection(s) after "
            f"{len(history) - len(refreshes)} full-data one(s); curation took "
            f"{metrics.get('curation_seconds_embedding', 0.0):.2f} s of embedding and "
            f"{metrics.get('curation_seconds_clustering', 0.0):.2f} s of clustering."
        )
        report.add_table(_curation_rows(history), caption="every selection (selections/*.npz)")
    else:
        report.add_text("No curation record (mode none trains on every image each epoch).")
    report.section("Configuration").add_config(config)
    return report.write(run.file("report.html"))
