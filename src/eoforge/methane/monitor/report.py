"""Per-site time-series figures and the monitoring ``report.html``.

Each site's figure shows emission rate against date: detections as points with their 1 sigma
bars (one colour per source), clear-sky non-detections as open circles at 0, and scenes that
could not be used (cloudy, no reference, error) as grey crosses at 0.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from eoforge.core.atomic import atomic_write_bytes
from eoforge.core.report import Report, figure_png


def _site_png(site: str, records: list[dict], source_of: dict, min_valid: float) -> bytes:
    """PNG of one site's rate time series (module docstring)."""
    import matplotlib  # deferred: the Agg backend is chosen only when a figure is drawn

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.6), constrained_layout=True)
    cmap = plt.get_cmap("tab10")
    labelled: set = set()
    for rec in records:
        day = np.datetime64(dt.date.fromisoformat(rec["date"]), "D")
        clear = rec["status"] == "ok" and (rec.get("valid_fraction") or 0) >= min_valid
        if rec["status"] != "ok" or (not clear and not rec["plumes"]):
            label = None if "unused" in labelled else "cloudy / no reference / error"
            labelled.add("unused")
            ax.plot(day, 0, "x", color="0.6", label=label)
        elif not rec["plumes"]:
            label = None if "none" in labelled else "clear, no plume"
            labelled.add("none")
            ax.plot(day, 0, "o", mfc="none", color="k", label=label)
        for p in rec["plumes"] if rec["status"] == "ok" else []:
            src = source_of.get((p["scene"], p["lon"], p["lat"]))
            key = f"source {src}" if src is not None else "unlinked"
            ax.errorbar(day, p["rate_kg_h"], yerr=p["sigma_kg_h"] or 0, fmt="o",
                        color=cmap(((src or 0) - 1) % 10), capsize=3,
                        label=None if key in labelled else key)  # fmt: skip
            labelled.add(key)
    ax.set_xlabel("date")
    ax.set_ylabel("emission rate (kg/h)")
    ax.set_title(f"site {site}")
    ax.set_ylim(bottom=-0.05 * max(1.0, ax.get_ylim()[1]))
    ax.legend(fontsize=8, loc="upper left")
    fig.autofmt_xdate()
    return figure_png(fig, dpi=90, tight=False)


def write_report(out: Path, records: list[dict], sources: list[dict], *,
                 min_valid: float = 0.5) -> dict[str, Path]:  # fmt: skip
    """Write ``figures/site_<site>.png`` per site and ``report.html`` into ``out``."""
    out = Path(out)
    source_of: dict = {}
    for s in sources:
        for rec in records:
            for p in rec.get("plumes", []):
                if p["scene"] in s["scenes"] and p["date"] in s["detection_dates"]:
                    source_of.setdefault((p["scene"], p["lon"], p["lat"]), s["id"])
    sites = sorted({r["site"] for r in records if r.get("site")})
    counts: dict[str, int] = {}
    for r in records:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    n_plumes = sum(len(r.get("plumes", [])) for r in records if r["status"] == "ok")
    report = Report("eoforge methane monitor",
                    f"{len(records)} scene(s) on {len(sites)} site(s): "
                    + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
                    + f"; {n_plumes} plume(s), {len(sources)} source(s)")  # fmt: skip
    report.section("Sources")
    if sources:
        keys = ("id", "lon", "lat", "first_seen", "last_seen", "n_detections", "n_revisits",
                "detection_frequency", "mean_rate_kg_h", "rate_se_kg_h")  # fmt: skip
        report.add_table([{k: s[k] for k in keys} for s in sources],
                         caption="Persistent sources (sources.geojson): rate mean and standard "
                         "error over the detection dates, in kg/h")  # fmt: skip
    else:
        report.add_text("No plume detected.")
    paths: dict[str, Path] = {}
    report.section("Time series per site")
    for site in sites:
        recs = [r for r in records if r.get("site") == site]
        png = _site_png(site, recs, source_of, min_valid)
        paths[f"figure_{site}"] = atomic_write_bytes(out / "figures" / f"site_{site}.png", png)
        report.add_png(png, f"Site {site}: rate (kg/h, 1 sigma bars) per date; open circles: "
                       "clear-sky scenes without plume; grey crosses: unusable scenes.")  # fmt: skip
    errors = [r for r in records if r["status"] == "error"]
    if errors:
        report.section("Errors")
        report.add_table([{"scene": r["scene_id"], "path": r["path"], "message": r["message"]}
                          for r in errors], caption="Scenes that could not be processed")  # fmt: skip
    paths["report"] = report.write(out / "report.html")
    return paths
