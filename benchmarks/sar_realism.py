"""SAR and InSAR realism: eoforge's generators against real Sentinel-1 and ENVISAT data.

    python benchmarks/sar_realism.py [--n-wv 24] [--out benchmarks/figures]

Real data (shipped, see their READMEs): 6 Sentinel-1 IW GRDH patches (VV, VH; 120 x 120 at 10 m,
land) in ``tests/data/bigearthnet-s1`` and 17 ENVISAT unwrapped interferograms (72 x 47,
about 85 m) in ``tests/data/pyrate-small``. Prints four tables:

1. speckle and texture (``eoforge.sar.realism.speckle_statistics``) of the real patches and of
   ``synth_wv`` imagettes of the same size at 1, 4 (the ENL of IW GRDH) and 16 looks;
2. the SAR metrics of ``eoforge.diffusion.evaluation.evaluate`` on 30 x 30 tiles: real vs real (other
   scenes, same scenes) against planted changes and the generator (a reading scale for a
   generated-vs-real score);
3. phase statistics (``insar_statistics``) of the real interferograms against
   ``synth_interferograms`` cropped to 72 x 47 (defaults; atmosphere only);
4. the InSAR metrics of ``evaluate`` (no-data filled): real vs real and generator vs real.

and saves ``sar_realism.png`` (dB histograms, radial spectra, semivariograms) in ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from eoforge.diffusion.evaluation.evaluate import evaluate
from eoforge.sar import gamma, stats
from eoforge.sar.insar import synth_interferograms
from eoforge.sar.readers import read_imagette
from eoforge.sar.realism import fill_nodata, insar_statistics, speckle_statistics, tiles
from eoforge.sar.wv import synth_wv

ROOT = Path(__file__).resolve().parents[1]
S1 = ROOT / "tests" / "data" / "bigearthnet-s1"
PYRATE = ROOT / "tests" / "data" / "pyrate-small"
TILE = 30
LAGS = np.array([1, 2, 3, 4, 6, 8, 12, 16], dtype=np.float64)


def load_s1(pol: str) -> np.ndarray:
    """(6, 120, 120) linear sigma0 of one polarisation, patches in name order."""
    files = sorted(S1.glob(f"*/*_{pol}.tif"))
    return np.stack([read_imagette(f, db=True) for f in files]).astype(np.float64)


def load_pyrate() -> tuple[np.ndarray, np.ndarray]:
    """(17, 72, 47) unwrapped phase (rad, NaN = no data) and coherence."""
    par = gamma.read_par(PYRATE / "20060619_utm_dem.par")
    files = sorted((PYRATE / "unw").glob("*.unw"))
    phase = np.stack([gamma.read_raster(f, par) for f in files])
    coh = np.stack([gamma.read_raster(PYRATE / "coherence" / f"{f.name}.cc", par) for f in files])
    return phase, coh


def table(rows: list[tuple[str, dict[str, float]]], keys: list[str]) -> str:
    head = "| set | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys)
    lines = [head]
    for name, d in rows:
        lines.append(f"| {name} | " + " | ".join(f"{d[k]:.4g}" for k in keys) + " |")
    return "\n".join(lines)


def sar_tables(vv: np.ndarray, vh: np.ndarray, n_wv: int) -> tuple[str, str, dict]:
    wv = {
        looks: synth_wv(n_wv, size=120, seed=0, looks=looks, duplicate_fraction=0.0).images
        for looks in (1, 4, 16)
    }
    rows = [("real S1 GRDH VV (6 land patches)", speckle_statistics(vv)),
            ("real S1 GRDH VH", speckle_statistics(vh))]  # fmt: skip
    rows += [(f"synth_wv, {k} looks ({n_wv} ocean imagettes)", speckle_statistics(v))
             for k, v in wv.items()]  # fmt: skip
    keys = ["enl", "enl_log", "mean_db", "db_std", "db_std_window", "db_skew",
            "speckle_corr_x", "speckle_corr_y", "psd_hf_ratio"]  # fmt: skip
    t1 = table(rows, keys)

    tv, th = tiles(vv, TILE), tiles(vh, TILE)  # (96, 30, 30): 16 tiles per patch
    k = len(tv) // 2
    checker = (np.arange(len(tv)) + np.arange(len(tv)) // 4) % 2 == 0  # tile checkerboard
    smooth = ndimage.uniform_filter(vv, size=(1, 3, 3))  # speckle-reduced (3x3 boxcar)
    wv_tiles = tiles(wv[4], TILE)[: len(tv)]
    a, b = tv[checker], tv[~checker]
    pairs = [
        ("VV scenes 1-3 vs VV scenes 4-6 (real vs real)", tv[:k], tv[k:]),
        ("VH scenes 1-3 vs VH scenes 4-6 (real vs real)", th[:k], th[k:]),
        ("VV checkerboard halves, same scenes (real vs real)", a, b),
        ("VV +1 dB vs VV (checkerboard; planted gain)", 10**0.1 * a, b),
        ("VV 3x3 boxcar vs VV (checkerboard; planted filter)", tiles(smooth, TILE)[checker], b),
        ("VH vs VV (checkerboard; other polarisation)", th[checker], b),
        ("synth_wv 4 looks vs VV (generator)", wv_tiles[: len(b)], b),
    ]
    rows2 = []
    for name, a, b in pairs:
        m = evaluate(a, b, "sar", "random", kid_subset_size=48)
        rows2.append((name, m))
    keys2 = ["enl_ratio", "log_hist_w1_db", "log_hist_js", "psd_distance", "fid", "kid"]
    return t1, table(rows2, keys2), wv


def insar_tables(phase: np.ndarray, coh: np.ndarray) -> tuple[str, str, dict]:
    n, h, w = phase.shape
    gen = synth_interferograms(n, size=h, seed=0, pixel_size=85.0, wavelength=0.0562)
    atm = synth_interferograms(n, size=h, seed=0, pixel_size=85.0, sources=("none",),
                               turbulence_std=0.55)  # fmt: skip
    g_unw = gen["unwrapped"][:, :, :w].astype(np.float64)
    a_unw = atm["unwrapped"][:, :, :w].astype(np.float64)
    sets = {"real ENVISAT (17 ifgs, 72 x 47)": phase, "synth_interferograms defaults": g_unw,
            "synth atmosphere only, std 0.55 rad": a_unw}  # fmt: skip
    rows = []
    for name, x in sets.items():
        d = insar_statistics(x, LAGS)
        d["coherence_mean"] = float(np.nanmean(coh if x is phase else gen["coherence"]))
        rows.append((name, d))
    rows.append(
        ("synth defaults, noisy 'wrapped' output",
         {"residue_density": stats.phase_residues(gen["wrapped"][:, :, :w])})
    )  # fmt: skip
    keys = ["std", "grad_std", "grad_max", "residue_density", "gradient_circvar",
            "gamma_1", "gamma_4", "gamma_16", "semivariogram_slope", "coherence_mean"]  # fmt: skip
    t3 = table([(r, {k: d.get(k, float("nan")) for k in keys}) for r, d in rows], keys)

    filled = fill_nodata(phase)
    k = n // 2
    pairs = [
        ("real ifgs 1-8 vs real 9-17", filled[:k], filled[k:]),
        ("real ifgs, odd vs even", filled[1::2], filled[::2]),
        ("real x 2 vs real (planted: double the phase)", 2 * filled[:k], filled[k:]),
        ("synth defaults vs real", g_unw, filled),
        ("synth atmosphere only vs real", a_unw, filled),
        ("synth noisy wrapped vs real re-wrapped", np.stack(
            [np.cos(gen["wrapped"][:, :, :w]), np.sin(gen["wrapped"][:, :, :w])], 1),
         np.stack([np.cos(filled), np.sin(filled)], 1)),
    ]  # fmt: skip
    rows4 = [(name, evaluate(a, b, "insar", feature_space=False)) for name, a, b in pairs]
    keys4 = ["residue_density_samples", "residue_density_reference", "gradient_circvar_samples",
             "gradient_circvar_reference", "semivariogram_distance", "phase_w1", "psd_distance"]  # fmt: skip
    t4 = table([(r, {k: d.get(k, float("nan")) for k in keys4}) for r, d in rows4], keys4)
    return t3, t4, {"real": phase, "synth defaults": g_unw, "synth atmosphere": a_unw}


def figure(vv: np.ndarray, vh: np.ndarray, wv: dict, phases: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    sets = {"real S1 VV": vv, "real S1 VH": vh} | {f"synth_wv {k} looks": v for k, v in wv.items()}
    for name, x in sets.items():
        db = 10 * np.log10(np.maximum(x, 1e-12))
        db = db - db.mean(axis=(1, 2), keepdims=True)
        ax[0].hist(db.ravel(), bins=120, range=(-25, 12), density=True, histtype="step", label=name)
        f, p = stats.radial_power_spectrum(db)
        ax[1].loglog(f, p / p[0], label=name)
    ax[0].set_xlabel("10 log10 I minus image mean (dB)")
    ax[0].set_ylabel("density")
    ax[0].legend(fontsize=7)
    ax[1].set_xlabel("radial frequency (cycles / pixel)")
    ax[1].set_ylabel("PSD of dB image / PSD at lowest f")
    for name, x in phases.items():
        z = x - np.nanmean(x, axis=(1, 2), keepdims=True)
        ax[2].loglog(LAGS, stats.semivariogram(z, LAGS), "o-", label=name)
    ax[2].set_xlabel("lag (pixels, about 85 m)")
    ax[2].set_ylabel("semivariogram of unwrapped phase (rad²)")
    ax[2].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-wv", type=int, default=24, help="synthetic WV imagettes per look count")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "figures"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    vv, vh = load_s1("VV"), load_s1("VH")
    t1, t2, wv = sar_tables(vv, vh, args.n_wv)
    print("## 1. Speckle and texture: real S1 GRDH (land) vs synth_wv (ocean), 120 x 120\n")
    print(t1)
    print(
        "\n## 2. SAR metrics of diffusion.evaluate on 30 x 30 tiles (48 vs 48; FID/KID: random)\n"
    )
    print(t2)
    phase, coh = load_pyrate()
    t3, t4, phases = insar_tables(phase, coh)
    print("\n## 3. Phase statistics: real ENVISAT vs synth_interferograms (72 x 47)\n")
    print(t3)
    print("\n## 4. InSAR metrics of diffusion.evaluate (no-data filled by interpolation)\n")
    print(t4)
    fig_path = Path(args.out) / "sar_realism.png"
    figure(vv, vh, wv, phases, fig_path)
    print(f"\nfigure: {fig_path}; {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
