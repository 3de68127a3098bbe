"""``report.html`` of ``eoforge methane evaluate``.

It shows the POD curve, the operating point and, for each simulated plume, its true emission
rate beside the detector's estimate.
"""

from __future__ import annotations

import os
from pathlib import Path

from eoforge.core.config import RunConfig
from eoforge.core.report import Report


def _fmt_rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def write_evaluate_report(
    path: str | os.PathLike[str],
    summary: dict,
    plumes: list[dict],
    figure: str | os.PathLike[str],
    config: RunConfig,
) -> Path:
    """Write the report.

    Args:
        path: Output HTML file.
        summary: The evaluation summary (``metrics.json``).
        plumes: One dict per plume scene: ``true_rate_kg_h``, ``surface``, ``wind_speed_m_s``,
            ``detected``, ``estimated_rate_kg_h``, ``sigma_kg_h``, ``relative_error``.
        figure: The POD-vs-rate PNG.
        config: The evaluation configuration (shown at the end).

    Returns:
        The path.
    """
    fp_lo, fp_hi = summary["fp_per_100km2_ci90"]
    q50 = summary["q50_detector_kg_h"]
    report = Report(
        "eoforge methane evaluate",
        f"held-out simulated scenes: {summary['scanned_negative_km2']:.0f} km2 plume-free, "
        f"{len(plumes)} plumes; threshold {summary['threshold']:.3g}",
    )
    report.section("Probability of detection")
    report.add_image_file(
        figure,
        "Probability of detection vs emission rate (kg/h, log axis) of the detector (with its "
        "90% Wilson interval) and of the thresholded MBMP column at the same false-positive "
        "budget.",
    )
    report.add_table(
        {
            "threshold": summary["threshold"],
            "false plumes per 100 km2": summary["fp_per_100km2_at_threshold"],
            "  90% interval": f"{fp_lo:.3g}-{fp_hi:.3g}",
            "rate at 50% detection (kg/h)": "not reached" if q50 is None else f"{q50:.0f}",
            "recall over all plumes": summary["recall_detector"],
            "MBMP false plumes per 100 km2 at equal recall": summary[
                "fp_per_100km2_mbmp_at_equal_recall"
            ],
            "MBMP / detector false plumes": summary["fp_ratio_mbmp_over_detector"] or "-",
            "median |rate error|": summary["rate_error_median"] or "-",
        },
        digits=3,
    )
    report.section("Emission rates: truth and estimate")
    rows = [
        {
            "true rate (kg/h)": f"{p['true_rate_kg_h']:.0f}",
            "estimated rate (kg/h)": _fmt_rate(p["estimated_rate_kg_h"])
            if p["detected"]
            else "not detected",
            "1 sigma (kg/h)": _fmt_rate(p["sigma_kg_h"]),
            "error": "-" if p["relative_error"] is None else f"{100 * p['relative_error']:+.0f}%",
            "surface": p["surface"],
            "wind (m/s)": f"{p['wind_speed_m_s']:.1f}",
        }
        for p in plumes
    ]
    if rows:
        report.add_table(
            rows, caption="Each simulated plume: its true rate beside the detector's estimate"
        )
    report.section("Configuration").add_config(config)
    return report.write(path)
