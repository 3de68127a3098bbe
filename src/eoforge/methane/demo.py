"""Demo stage of the methane capability: simulate a pair -> detect -> quantify -> map.

A 256 x 256 Sentinel-2 pair (20 m, semi-arid surface) is simulated with a 1750 kg/h plume, written
as GeoTIFFs, read back and run through the same pipeline as ``eoforge methane detect`` with the
shipped detector weights; the report shows the map and the plume table against the truth.
"""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import rasterio

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.methane.detect.outputs import write_outputs
from eoforge.methane.detect.pipeline import detect
from eoforge.methane.pair_files import load_pair, simulate_to_files

RATE_KG_H = 1750.0
WIND_SPEED = 3.0


def stage(run: RunDir, report: Report, seed: int) -> dict:
    """Run the methane demo inside ``run.path / "methane"`` and add its report section."""
    root = run.path / "methane"
    paths = simulate_to_files(root / "scene", surface="semi-arid", rate_kg_h=RATE_KG_H, seed=seed,
                              shape=256, wind_speed=WIND_SPEED, wind_direction=240.0)  # fmt: skip
    truth = json.loads(paths["truth"].read_text())
    t, r, geo, sza, vza = load_pair(paths["target"], paths["reference"])
    result = detect(t, r, geo, sza, vza, wind_speed=WIND_SPEED)
    write_outputs(result, root / "detection")

    with rasterio.open(paths["truth_column"]) as src:
        true_col = src.read(1)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.6), constrained_layout=True)
    axes[0].imshow(t["B12"], cmap="gray")
    axes[0].set_title("target B12 reflectance")
    vmax = max(0.2, float(np.percentile(true_col, 99.9)))
    axes[1].imshow(true_col, vmin=0, vmax=vmax)
    axes[1].set_title(f"true column ({RATE_KG_H:.0f} kg/h)")
    im = axes[2].imshow(result.column, vmin=0, vmax=vmax)
    if result.plumes:
        axes[2].contour(result.labels > 0, levels=[0.5], colors="r", linewidths=0.8)
    axes[2].set_title("detected plumes (red) on the predicted column")
    fig.colorbar(im, ax=axes[1:], label="mol/m2")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])

    best = max(result.plumes, key=lambda p: p.score, default=None)
    scores = {
        "true_rate_kg_h": RATE_KG_H,
        "n_plumes": len(result.plumes),
        "estimated_rate_kg_h": None if best is None else best.rate_kg_h,
        "estimated_sigma_kg_h": None if best is None else best.sigma_kg_h,
        "best_score": None if best is None else best.score,
        "plume_pixels_true": truth["plume_pixels"],
    }
    report.section("Methane plume detection in Sentinel-2")
    report.add_text(
        f"A simulated Sentinel-2 pair (semi-arid surface, 20 m, 5.1 km side) with a {RATE_KG_H:.0f}"
        f" kg/h methane plume in the target date, detected with the shipped U-Net detector "
        f"(threshold {result.threshold:g}) and quantified by the integrated mass enhancement with "
        f"a {WIND_SPEED:g} m/s wind."
    )
    report.add_figure(fig, "target band, true column, detection")
    rows = result.table()
    if rows:
        keep = ("id", "lon", "lat", "area_m2", "score", "rate_kg_h", "sigma_kg_h")
        report.add_table([{k: row[k] for k in keep} for row in rows], caption="detected plumes")
    else:
        report.add_text("No plume was detected.")
    report.add_text(f"Outputs (GeoTIFFs, plumes.geojson, map): {root / 'detection'}.")
    return scores
