"""``report.html`` of ``eoforge methane train``: the loss curve, final metrics and configuration.

The loss curve comes from the CSV log that Lightning writes into ``RUN/logs``: the total loss
and its BCE, Dice and Huber column parts (:mod:`.loss`) per logged step.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from eoforge.core.atomic import atomic_write_bytes
from eoforge.core.report import Report, figure_png

if TYPE_CHECKING:
    from matplotlib.figure import Figure

_PARTS = {
    "loss": "total",
    "loss_bce": "BCE (plume mask)",
    "loss_dice": "Dice (plume mask)",
    "loss_col": "Huber (column, mol/m2)",
}


def read_loss_log(run_path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The logged losses of a run: ``{"step": (n,), "loss": (n,), "loss_bce": ...}``.

    Reads every ``RUN/logs/*/metrics.csv`` (one per resumed session, same version folder in
    practice); rows without a loss are skipped, a step logged twice keeps its last value.
    """
    by_step: dict[int, dict[str, float]] = {}
    for path in sorted(Path(run_path, "logs").glob("*/metrics.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                if not row.get("loss") or not row.get("step"):
                    continue
                vals = {k: float(row[k]) for k in _PARTS if row.get(k)}
                by_step[int(float(row["step"]))] = vals
    steps = sorted(by_step)
    out = {"step": np.asarray(steps, dtype=int)}
    for k in _PARTS:
        out[k] = np.asarray([by_step[s].get(k, np.nan) for s in steps], dtype=float)
    return out


def _loss_figure(log: dict[str, np.ndarray]) -> Figure:
    """The logged losses against the optimiser step (log scale when all are positive)."""
    import matplotlib  # deferred: the Agg backend is chosen only when a figure is drawn

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for k, label in _PARTS.items():
        if np.isfinite(log[k]).any():
            style = {"lw": 1.6, "color": "k"} if k == "loss" else {"lw": 0.9}
            ax.plot(log["step"], log[k], label=label, **style)
    ax.set_xlabel("optimiser step")
    ax.set_ylabel("loss (dimensionless)")
    if np.nanmin(np.concatenate([log[k] for k in _PARTS])) > 0:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def write_train_report(run_path: str | os.PathLike[str]) -> Path:
    """Write ``RUN/report.html`` (and ``RUN/figures/training_loss.png``) for a training run.

    Args:
        run_path: The run folder of :func:`~eoforge.methane.detector.training.run.train_detector`.

    Returns:
        The report's path.
    """
    run = Path(run_path)
    log = read_loss_log(run)
    report = Report("eoforge methane train", f"run {run}")
    report.section("Training loss")
    if len(log["step"]):
        png_bytes = figure_png(_loss_figure(log), dpi=100)
        png = atomic_write_bytes(run / "figures" / "training_loss.png", png_bytes)
        report.add_image_file(
            png,
            f"Training loss per logged step ({len(log['step'])} points, steps "
            f"{log['step'][0]}-{log['step'][-1]}): total = BCE + Dice + Huber column term "
            "(methane/detector/training/loss.py), on simulated scene pairs.",
        )
    else:
        report.add_text("No loss was logged (fewer steps than the logging interval of 10).")
    metrics = run / "metrics.json"
    if metrics.is_file():
        report.section("Final metrics").add_table(json.loads(metrics.read_text()))
    config = run / "config.yaml"
    if config.is_file():
        report.section("Configuration").add_config(yaml.safe_load(config.read_text()))
    return report.write(run / "report.html")
