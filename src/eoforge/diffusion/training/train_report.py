"""``report.html`` of a diffusion training run: training curves, sample grids, configuration.

Written by :func:`eoforge.diffusion.training.train.train` at the end of every session (a resumed run's
report covers the whole run: the log rows are kept in the checkpoint). Figures are saved in
``figures/`` and embedded in the report; each caption names its file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.report import Report
from eoforge.core.runs import RunDir

#: (column of train_log.csv, axis label with its unit)
CURVES: tuple[tuple[str, str], ...] = (
    ("loss", "weighted training loss\n(model domain, dimensionless)"),
    ("mse", "MSE of the target\n(model domain, dimensionless)"),
    ("vlb", "VLB term L_t (bits / dim)"),
)


def training_curve_figure(rows: Sequence[dict[str, float]]) -> Any:
    """Loss, MSE and (with a learned variance) the VLB term against the optimiser step."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    steps = np.array([r["step"] for r in rows], dtype=np.float64)
    curves = [(k, label) for k, label in CURVES if np.isfinite([r[k] for r in rows]).any()]
    fig, axes = plt.subplots(1, len(curves), figsize=(4.0 * len(curves), 3.2), squeeze=False)
    for ax, (key, label) in zip(axes[0], curves, strict=True):
        ax.plot(steps, [r[key] for r in rows], lw=1.2)
        ax.set_xlabel("optimiser step")
        ax.set_ylabel(label, fontsize=9)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _grid_step(path: Path) -> int:
    match = re.search(r"samples_step(\d+)", path.name)
    return int(match.group(1)) if match else -1


def write_train_report(
    run: RunDir, config: Any, rows: Sequence[dict[str, float]], metrics: dict[str, Any]
) -> Path:
    """Write ``run/report.html`` (and ``figures/training_curve.png``); returns the report path.

    Args:
        run: The run folder.
        config: The run's :class:`~eoforge.diffusion.training.config.DiffusionConfig`.
        rows: The rows of ``train_log.csv`` (``step``, ``loss``, ``mse``, ``vlb``).
        metrics: What ``metrics.json`` holds.
    """
    domain = "standardised dB" if config.kind == "sar" else "the data as given (identity)"
    variance = (
        "learned-range variance, hybrid loss" if config.unet.learned_variance else "fixed variance"
    )
    report = Report("eoforge diffusion train", f"run {run.path}")
    report.section("Training")
    report.add_text(
        f"{metrics.get('steps')} optimiser steps of a U-Net with {metrics.get('parameters'):,} "
        f"parameters ({variance}; "
        f"{config.prediction}-prediction, {config.schedule} schedule T={config.num_timesteps}, "
        f"{config.timestep_sampler} timesteps), batch {config.batch_size} x {config.accumulate}, "
        f"on {metrics.get('device')} ({metrics.get('precision')}). The model domain is {domain}."
    )
    report.add_table({k: v for k, v in metrics.items() if v is not None}, caption="metrics.json")
    if rows:
        path = run.save_figure(training_curve_figure(rows), "training_curve")
        report.add_image_file(
            path,
            "figures/training_curve.png: train_log.csv, each point the mean over "
            f"{config.log_every} steps (the loss is importance-weighted, the MSE and the VLB "
            "term L_t, in bits per dimension, are plain means over the sampled timesteps)",
        )
    grids = sorted(run.figures.glob("samples_step*.png"), key=_grid_step)[-4:]
    if grids:
        report.section("Samples")
        for grid in grids:
            report.add_image_file(
                grid,
                f"figures/{grid.name}: {config.sample_n} samples of the EMA weights at step "
                f"{_grid_step(grid)} (dpm++, {config.sample_steps} steps), first channel in the "
                f"model domain ({domain}), grey scale from the 1st to the 99th percentile",
            )
    report.section("Configuration").add_config(config)
    return report.write(run.file("report.html"))
