"""Demo stage of the SAR data layer: synthetic WV imagettes and the checks of their physics.

Generates a long-tailed set (saved as Zarr, read back), shows one imagette per TenGeoP class,
the class counts against the prior, the CMOD-like NRCS curve, and three physical checks: Hs from
generated sea surfaces, the speckle ENL and the wind dependence of the imagettes' mean NRCS.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.sar import spectra
from eoforge.sar.store import load_wv, save_wv
from eoforge.sar.wv import (
    CLASSES,
    WVSet,
    class_prior,
    nrcs_vv,
    plot_examples,
    speckle,
    synth_wv,
)

N_IMAGETTES = 2000
LOOKS = 16


def _hs_check(seed: int) -> tuple[float, float]:
    """Mean of ``4 std(eta) / Hs`` over 16 surfaces (256 x 256, 10 m) and its spread."""
    kx, ky, dk = spectra.wavenumber_grid(256, 10.0)
    hs = np.linspace(0.5, 5.0, 16)
    f = spectra.directional_spectrum(kx, ky, hs, np.full(16, 150.0), np.zeros(16), 10.0)
    eta = spectra.elevation(spectra.random_amplitudes(f, dk, np.random.default_rng(seed)))
    ratio = spectra.significant_wave_height(eta) / hs
    return float(ratio.mean()), float(ratio.std())


def _classes_nrcs_figure(run: RunDir, counts: np.ndarray) -> Path:
    """Class shares against the long-tail prior, and the NRCS against wind speed."""
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.4))
    x = np.arange(len(CLASSES))
    ax1.bar(x - 0.2, counts / counts.sum(), 0.4, label="generated")
    ax1.bar(x + 0.2, class_prior("long-tail"), 0.4, label="long-tail prior")
    ax1.set_xticks(x, [c.replace("_", " ") for c in CLASSES], rotation=60, ha="right", fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("share")
    ax1.legend(fontsize=7)
    wind = np.linspace(0.5, 25, 200)
    for inc in (23.5, 36.5):
        ax2.plot(wind, 10 * np.log10(nrcs_vv(wind, inc)), label=f"upwind, {inc} deg")
    ax2.plot(wind, 10 * np.log10(nrcs_vv(wind, 36.5, np.pi / 2)), "--", label="crosswind, 36.5")
    ax2.set_xlabel("wind speed (m/s)")
    ax2.set_ylabel("sigma0 (dB)")
    ax2.legend(fontsize=7)
    fig.tight_layout()
    return run.save_figure(fig, "sar_classes_nrcs")


def _checks(wvset: WVSet, seed: int) -> tuple[dict[str, Any], dict[str, float]]:
    """The physical checks of the generator: the metrics, and the unrounded values they hold."""
    hs_ratio, hs_spread = _hs_check(seed)
    patch = speckle(np.full((32, 64, 64), 0.05), LOOKS, seed)
    enl = float(patch.mean() ** 2 / patch.var())
    mean_db = 10 * np.log10(wvset.images.mean(axis=(1, 2)))
    corr = float(np.corrcoef(wvset.wind_speed, mean_db)[0, 1])
    counts = wvset.class_counts()
    metrics = {
        "n_imagettes": len(wvset),
        "rarest_class_share": float(counts.min() / counts.sum()),
        "near_duplicates": int((wvset.duplicate_of >= 0).sum()),
        "hs_from_surface_over_true": round(hs_ratio, 4),
        "enl_measured": round(enl, 2),
        "enl_looks": LOOKS,
        "corr_wind_mean_db": round(corr, 3),
    }
    raw = {"hs_ratio": hs_ratio, "hs_spread": hs_spread, "enl": enl, "corr": corr}
    return metrics, raw


def _report_section(
    report: Report, metrics: dict[str, Any], raw: dict[str, float], figures: tuple[Path, Path]
) -> None:
    """The report section: what was generated, the two figures and the table of checks."""
    examples, counts_png = figures
    report.section("SAR wave-mode imagettes (synthetic)")
    report.add_text(
        f"{N_IMAGETTES} synthetic Sentinel-1 WV imagettes (64 x 64 pixels of 50 m, {LOOKS} looks) "
        "from directional JONSWAP sea states imaged by the quasi-linear SAR transfer function, a "
        "CMOD-like wind dependence of the backscatter, Gamma speckle and the ten TenGeoP-SARwv "
        "phenomena under a long-tailed class prior with 5 % near-duplicates. Stored as Zarr and "
        "read back for the checks below."
    )
    report.add_image_file(examples, "one imagette per class (dB, 1-99 % stretch)")
    report.add_image_file(counts_png, "class shares vs prior; NRCS vs wind")
    report.add_table(
        [
            {
                "check": "4 std(eta) / Hs (should be 1)",
                "value": f"{raw['hs_ratio']:.3f} +- {raw['hs_spread']:.3f}",
            },
            {
                "check": f"speckle ENL (should be {LOOKS})",
                "value": f"{raw['enl']:.2f}",
            },
            {"check": "corr(wind, mean NRCS dB)", "value": f"{raw['corr']:.3f}"},
            {"check": "rarest class share", "value": f"{metrics['rarest_class_share']:.3%}"},
            {"check": "near-duplicates", "value": metrics["near_duplicates"]},
        ],
        caption="physical checks of the generator",
    )


def stage(run: RunDir, report: Report, seed: int) -> dict[str, Any]:
    """Run the SAR data demo inside ``run.path / "sar"`` and add its report section."""
    import matplotlib

    matplotlib.use("Agg")
    wvset = synth_wv(N_IMAGETTES, size=64, seed=seed, looks=LOOKS)
    path = save_wv(wvset, run.file("sar/wv.zarr"))
    wvset = load_wv(path)
    examples = plot_examples(
        synth_wv(200, size=64, seed=seed + 1, class_prior="uniform", looks=LOOKS),
        run.file("figures/sar_examples.png"),
        seed=seed,
    )
    counts_png = _classes_nrcs_figure(run, wvset.class_counts())
    metrics, raw = _checks(wvset, seed)
    _report_section(report, metrics, raw, (examples, counts_png))
    return metrics
