"""Build ``src/eoforge/methane/data/ch4_band_transmittance.json`` (run once, by a developer).

The shipped table gives the band-averaged CH4 transmittance of Sentinel-2A/B bands B11 and B12
as a function of the *slant* column enhancement ``x = amf * dOmega`` (mol/m2). It is computed
from two public, permissively licensed inputs, read straight from their PyPI distributions
(``pip download --no-deps``; nothing is installed and nothing is needed at run time):

* ``mag1c`` 1.2.0 (BSD-3-Clause; Foote et al. 2020, IEEE TGRS 58(9)), file ``mag1c/ch4.lut``:
  MODTRAN at-sensor radiance spectra L_k(lambda), 1399.6-2522.0 nm on 31 800 points
  (0.02-0.06 nm, i.e. ~0.1 cm-1), for CH4 enhancements C_k = 0, 500, 1000, 2000, 4000, 8000,
  16000 ppm*m. The same array is redistributed in ``onboard-methane-detection`` 0.1.2.
* ``pyrsr`` 0.8.0 (Apache-2.0), files ``pyrsr/data/Sentinel-2{A,B}/MSI/band_{11,12}``: the ESA
  relative spectral responses S2-SRF_COPE-GSEG-EOPG-TN-15-0007 v3.0 (19 Dec 2017), 1 nm.

Model (band-integrated Beer-Lambert, per MODTRAN spectral bin):

    T_k(lambda) = L_k(lambda) / L_0(lambda),   tau_k(lambda) = -ln T_k(lambda)
    tau(lambda, x): piecewise linear in the slant column x through the nodes (x_k, tau_k),
                    x_k = C_k * PPMM_TO_MOL_M2 * AMF_LUT, extended beyond both end nodes with
                    the end segments' slopes (monochromatic Beer-Lambert in each bin)
    T_b(x) = sum_lambda w_b(lambda) exp(-tau(lambda, x)),
    w_b(lambda) = SRF_b(lambda) L_0(lambda) dlambda / sum(...)

so the band value is the radiance-weighted mean of the monochromatic transmittances (not the
exponential of a mean optical depth) and equals the MODTRAN band ratio exactly at the LUT nodes.
L_0 carries the solar spectrum and the background H2O/CO2/CH4 absorption, i.e. the
``SRF * E_sun * T_bg`` weighting of Orbio's radiative-transfer note.

The MAG1C table does not state its geometry. Its ppm*m unit is a vertical column; the two-way
air-mass factor of the MODTRAN runs is inferred here as AMF_LUT = 2.219 by matching the small-
column S2A B12 sensitivity (-6.45 % per mol/m2 at AMF = 2) of the independent Gorroño et al.
(2023) look-up table shipped in ``marss2l`` 0.2.12 (``integrated_transmittances.json``). With that
single constant the S2A B11 sensitivity, the S2B/S2A ratio and Orbio's S2 table (notes/methane.md
section 2.3) are reproduced independently (see the ``accuracy`` field written below).

Usage::

    python scripts/make_ch4_transmittance_lut.py            # downloads the two inputs with pip
    python scripts/make_ch4_transmittance_lut.py --mag1c-wheel W.whl --pyrsr-sdist S.tar.gz
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

LUT_PPMM = np.array([0.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0])
PPMM_TO_MOL_M2 = 4.229e-5  # 1 ppm*m of CH4 at 1013 hPa, 288 K (rho_air / M_air = 42.29 mol/m3)
AMF_LUT = 2.219  # inferred two-way air-mass factor of the MAG1C MODTRAN runs (see docstring)
SATELLITES = {"S2A": "Sentinel-2A", "S2B": "Sentinel-2B"}
BANDS = ("B11", "B12")
OUT = Path(__file__).resolve().parents[1] / "src/eoforge/methane/data/ch4_band_transmittance.json"


def x_grid() -> np.ndarray:
    """Slant-column nodes (mol/m2): fine near zero where plumes live, geometric beyond."""
    neg = np.linspace(-3.0, -0.1, 30)
    fine = np.linspace(-0.1, 0.1, 41)
    mid = np.linspace(0.1, 3.0, 146)
    far = np.geomspace(3.0, 200.0, 140)
    return np.unique(np.round(np.concatenate([neg, fine, mid, far]), 10))


def download(workdir: Path) -> tuple[Path, Path]:
    """``pip download --no-deps`` the two source distributions into ``workdir``."""
    for spec in ("mag1c==1.2.0", "pyrsr==0.8.0"):
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(workdir), spec],
            check=True,
        )
    return next(workdir.glob("mag1c-1.2.0*.whl")), next(workdir.glob("pyrsr-0.8.0*"))


def load_mag1c(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (wavelength nm (n,), radiance (7, n)) from mag1c's ENVI ``ch4.lut``/``ch4.hdr``."""
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read("mag1c/ch4.lut")
        hdr = zf.read("mag1c/ch4.hdr").decode()
    block = hdr.split("wavelength = {", 1)[1].split("}", 1)[0]
    wave = np.array([float(v) for v in block.replace("\n", " ").split(",")])
    # ENVI: 7 samples x 1 line x 31800 bands, bsq, data type 5 (float64), little endian.
    rads = np.frombuffer(raw, dtype="<f8").reshape(wave.size, LUT_PPMM.size).T.copy()
    return wave, rads


def load_srf(sdist: Path, satellite: str, band: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (wavelength nm, relative response) of one ESA S2 band from the pyrsr sdist."""
    name = f"pyrsr/data/{SATELLITES[satellite]}/MSI/band_{band[1:].lstrip('0')}"
    with tarfile.open(sdist) as tf:
        member = next(m for m in tf.getmembers() if m.name.endswith(name))
        text = tf.extractfile(member).read().decode()
    table = np.array([[float(v) for v in line.split()] for line in text.splitlines()[1:] if line])
    return table[:, 0], table[:, 1]


def band_model(wave, rads, srf_wl, srf, xs):
    """Band transmittance T_b(x) for slant columns ``xs`` and its derivative at x = 0."""
    s = np.interp(wave, srf_wl, srf, left=0.0, right=0.0)
    sel = s > 0
    dl = np.gradient(wave)[sel]
    tau = -np.log(rads[:, sel] / rads[0, sel])  # (7, m)
    w = s[sel] * rads[0, sel] * dl
    w /= w.sum()
    nodes = LUT_PPMM * PPMM_TO_MOL_M2 * AMF_LUT
    slopes = np.diff(tau, axis=0) / np.diff(nodes)[:, None]  # (6, m)
    out = np.empty(len(xs))
    for i, x in enumerate(xs):
        k = int(np.clip(np.searchsorted(nodes, x) - 1, 0, nodes.size - 2))
        out[i] = np.sum(w * np.exp(-(tau[k] + slopes[k] * (x - nodes[k]))))
    exact = (w[None, :] * np.exp(-tau)).sum(axis=1)  # MODTRAN band ratios at the nodes
    centroid = float(np.sum(srf_wl * srf) / np.sum(srf))
    return out, float(-np.sum(w * slopes[0])), exact, nodes, centroid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mag1c-wheel", type=Path)
    parser.add_argument("--pyrsr-sdist", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.mag1c_wheel is None or args.pyrsr_sdist is None:
            args.mag1c_wheel, args.pyrsr_sdist = download(Path(tmp))
        wave, rads = load_mag1c(args.mag1c_wheel)
        srfs = {(s, b): load_srf(args.pyrsr_sdist, s, b) for s in SATELLITES for b in BANDS}
    xs = x_grid()
    mids = 0.5 * (xs[1:] + xs[:-1])
    table, interp_err = {}, 0.0
    for (sat, band), (swl, srf) in srfs.items():
        t_nodes, slope0, exact, nodes, centroid = band_model(wave, rads, swl, srf, xs)
        t_mid = band_model(wave, rads, swl, srf, mids)[0]
        lin = np.exp(0.5 * (np.log(t_nodes[1:]) + np.log(t_nodes[:-1])))
        interp_err = max(interp_err, float(np.max(np.abs(lin - t_mid))))
        table.setdefault(sat, {})[band] = {
            "ln_t": [round(float(v), 12) for v in np.log(t_nodes)],
            "slope_per_slant_column": round(slope0, 10),
            "srf_centroid_nm": round(centroid, 2),
            "modtran_band_ratio_at_lut_nodes": [round(float(v), 10) for v in exact],
        }
        print(f"{sat} {band}: centroid {centroid:.1f} nm, dT/dx(0) = {slope0:.5f} per mol/m2")
    doc = {
        "description": (
            "Band-averaged CH4 transmittance of Sentinel-2 B11/B12 versus slant column "
            "enhancement x = amf * dOmega (mol/m2); ln_t holds ln T_b at the nodes x."
        ),
        "generated_by": "scripts/make_ch4_transmittance_lut.py",
        "sources": [
            "mag1c 1.2.0 (PyPI, BSD-3-Clause), mag1c/ch4.lut: MODTRAN radiance spectra for CH4 "
            "enhancements 0-16000 ppm*m (Foote et al. 2020, IEEE TGRS 58(9):6480-6492)",
            "pyrsr 0.8.0 (PyPI, Apache-2.0): ESA Sentinel-2A/B MSI spectral responses, "
            "S2-SRF_COPE-GSEG-EOPG-TN-15-0007 v3.0 (2017)",
        ],
        "ppmm_to_mol_m2": PPMM_TO_MOL_M2,
        "amf_lut": AMF_LUT,
        "amf_lut_provenance": (
            "not stated by MAG1C; inferred by matching the S2A B12 small-column sensitivity "
            "(-6.45 %/(mol/m2) at AMF 2) of the Gorroño et al. (2023) LUT shipped in marss2l 0.2.12"
        ),
        "lut_nodes_slant_mol_m2": [round(float(v), 10) for v in nodes],
        "accuracy": {
            "table_interpolation_max_abs_error": interp_err,
            "vs_gorrono2023_marss2l_amf_2_to_3.9": (
                "absorption 1-T within -1/+6 % (B12) and 0/+19 % (B11) of the reference for "
                "dOmega <= 2.3 mol/m2"
            ),
            "vs_gorrono2023_marss2l_fractional_signal": (
                "m = T_B12/T_B11 - 1 within -1/+4 % of the reference at AMF 2-3.9, S2A"
            ),
            "vs_orbio_s2_table_amf_2": "absorption within 3 % (B12) and 7 % (B11), 0.1-10 mol/m2",
        },
        "x": [round(float(v), 10) for v in xs],
        "satellites": table,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB), interp err {interp_err:.2e}"
    )


if __name__ == "__main__":
    main()
