"""``eoforge demo``: every capability that exists, on built-in generated data, in minutes on a CPU.

Each capability contributes a *stage*: a function ``stage(run: RunDir, report: Report, seed: int)``
that writes its outputs into a sub-folder of the run and adds its sections to the shared report.
The demo writes ``OUT/report.html`` (self-contained, opens offline) and ``OUT/metrics.json``.
"""

from __future__ import annotations

import importlib
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

from eoforge import __version__
from eoforge.core.report import Report
from eoforge.core.runs import RunDir

Stage = Callable[[RunDir, Report, int], dict]

#: (name, "module:function") of every demo stage, in the order they run.
STAGES: list[tuple[str, str]] = [
    ("extremes", "eoforge.extremes.demo:stage"),
    ("sar", "eoforge.sar.demo:stage"),
    ("ssl", "eoforge.ssl.demo:stage"),
    ("diffusion", "eoforge.diffusion.demo:stage"),
    ("methane", "eoforge.methane.demo:stage"),
    ("methane-monitor", "eoforge.methane.monitor.demo:stage"),
]


def _load(target: str) -> Stage:
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run_demo(out: str | os.PathLike[str] = "runs/demo", *, seed: int = 0) -> Path:
    """Run all demo stages and write the report.

    Args:
        out: Run folder.
        seed: Seed shared by every stage's generators.

    Returns:
        Path of ``report.html``.
    """
    run = RunDir(out)
    report = Report(
        "eoforge demo",
        f"eoforge {__version__} · Python {platform.python_version()} · {platform.machine()} · "
        f"seed {seed}",
    )
    timings = []
    metrics: dict[str, dict] = {}
    for name, target in STAGES:
        t0 = time.perf_counter()
        metrics[name] = _load(target)(run, report, seed)
        timings.append({"stage": name, "seconds": round(time.perf_counter() - t0, 2)})
    report.section("Run")
    if timings:
        report.add_table(timings, caption="wall time of each demo stage")
    else:
        report.add_text("No capability stage is available yet in this version.")
    report.add_text(f"Outputs are in {Path(out).resolve()}.")
    run.save_metrics({"stages": metrics, "timings": timings})
    path = report.write(run.file("report.html"))
    run.write_manifest(stages=[n for n, _ in STAGES])
    return path
