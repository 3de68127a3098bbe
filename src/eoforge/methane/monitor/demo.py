"""Demo stage of methane monitoring: a small synthetic archive through ``methane monitor``.

2 sites x 5 dates of 128 x 128 px (clouds on some dates, a 4000 kg/h source emitting on some)
run on a LocalCluster of 2 worker processes; the report shows the sources against the truth.
"""

from __future__ import annotations

import json
from typing import Any

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.methane.monitor.run import monitor
from eoforge.methane.monitor.series import simulate_series


def stage(run: RunDir, report: Report, seed: int) -> dict[str, Any]:
    """Run the monitoring demo inside ``run.path / "methane-monitor"`` and add its section."""
    root = run.path / "methane-monitor"
    archive = simulate_series(root / "archive", n_sites=2, n_dates=5, size=128, seed=seed)
    summary = monitor(archive, root / "catalogue", workers=2)
    truth = json.loads((archive / "truth.json").read_text())
    found = json.loads((root / "catalogue" / "sources.geojson").read_text())["features"]
    rows = []
    for src in truth["sources"]:
        looks = [s["date"] for s in truth["scenes"] if s["site"] == src["site"]
                 and not s["cloudy"]][1:]  # fmt: skip
        match = [f["properties"] for f in found if f["properties"]["sites"] == [src["site"]]]
        best = max(match, key=lambda p: p["n_detections"], default=None)
        rows.append({
            "site": src["site"],
            "true clear-sky emitting dates": sum(d in looks for d in src["dates_emitting"]),
            "detections": None if best is None else best["n_detections"],
            "clear-sky looks (true)": len(looks),
            "clear-sky looks (found)": None if best is None else best["n_revisits"],
            "true rate (kg/h)": src["rate_kg_h"],
            "mean rate (kg/h)": None if best is None else best["mean_rate_kg_h"],
            "std. error (kg/h)": None if best is None else best["rate_se_kg_h"],
        })  # fmt: skip
    report.section("Methane monitoring of an archive")
    report.add_text(
        f"A synthetic archive of {summary['scenes']} scenes (2 sites x 5 revisits, clouds on some "
        f"dates) run by 'eoforge methane monitor' on 2 dask worker processes in "
        f"{summary['seconds']:.1f} s: {summary['plumes']} plume(s) linked into "
        f"{summary['sources']} source(s). Catalogue and per-site time series: "
        f"{root / 'catalogue'}."
    )
    report.add_table(rows, caption="Sources found vs the planted truth")
    return {k: summary[k] for k in ("scenes", "by_status", "plumes", "sources", "seconds")}
