"""Sentinel-1 annotation, calibration and noise parsers on real ESA XML (IPF 003.31).

tests/data/xarray-sentinel/ holds the IW1 VV annotation, calibration and noise files of
S1B_IW_SLC__1SDV_20210401T052622_..._EFA4 (Dolomites, 1 April 2021), from the xarray-sentinel
0.9.6 sdist. The checks compare files against each other and against physics: the calibration
LUTs obey sigma0 = beta0 sin(theta) and gamma0 = beta0 tan(theta) (A_beta / A_sigma squared is
sin(theta)), and the theta they imply matches the geolocation grid's incidence angles of the
annotation file; the thermal noise divided by A_sigma^2 is the noise-equivalent sigma0 (NESZ),
which ESA specifies below -22 dB for IW.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from eoforge.io.sentinel1_annotation import (
    read_annotation,
    read_calibration,
    read_geolocation_grid,
    read_noise,
)

pytestmark = pytest.mark.realdata

SAFE = (
    Path(__file__).resolve().parents[1] / "data" / "xarray-sentinel"
    / "S1B_IW_SLC__1SDV_20210401T052622_20210401T052650_026269_032297_EFA4.SAFE"
)  # fmt: skip
STEM = "s1b-iw1-slc-vv-20210401t052624-20210401t052649-026269-032297-004"
ANNOTATION = SAFE / "annotation" / f"{STEM}.xml"
CALIBRATION = SAFE / "annotation" / "calibration" / f"calibration-{STEM}.xml"
NOISE = SAFE / "annotation" / "calibration" / f"noise-{STEM}.xml"
LINES, SAMPLES = 13509, 21632  # 9 bursts of 1501 lines; numberOfLines x numberOfSamples


def _at_points(lut, lines, pixels) -> np.ndarray:
    return np.array([lut.evaluate(np.array([ln]), np.array([p]))[0, 0]
                     for ln, p in zip(lines, pixels, strict=True)])  # fmt: skip


def test_real_annotation_and_geolocation_grid():
    meta = read_annotation(ANNOTATION)
    assert (meta["lines"], meta["samples"]) == (LINES, SAMPLES)
    assert (meta["mission"], meta["mode"], meta["swath"]) == ("S1B", "IW", "IW1")
    assert (meta["product_type"], meta["polarisation"]) == ("SLC", "VV")
    assert meta["range_spacing"] == pytest.approx(2.33, abs=0.01)  # slant range, 64 MHz
    assert meta["azimuth_spacing"] == pytest.approx(13.9, abs=0.1)
    grid = read_geolocation_grid(ANNOTATION)
    assert grid["line"].size == 210  # 10 lines (one per burst start + end) x 21 pixels
    lines, pixels = np.unique(grid["line"]), np.unique(grid["pixel"])
    assert lines.size == 10 and pixels.size == 21
    assert (lines[0], lines[-1], pixels[0], pixels[-1]) == (0, LINES - 1, 0, SAMPLES - 1)
    inc = grid["incidenceAngle"]
    assert inc.min() > 29.0 and inc.max() < 46.0  # the IW range
    assert 30.0 < inc.min() < 31.0 and 36.0 < inc.max() < 37.5  # sub-swath IW1
    for ln in lines:  # incidence grows from near to far range along every grid line
        sel = grid["line"] == ln
        assert np.all(np.diff(inc[sel][np.argsort(grid["pixel"][sel])]) > 0)
    assert inc.min() < meta["incidence"] < inc.max()  # incidenceAngleMidSwath: 33.87 deg
    assert grid["latitude"].min() < meta["lat"] < grid["latitude"].max()
    assert grid["longitude"].min() < meta["lon"] < grid["longitude"].max()
    assert 45.5 < meta["lat"] < 47.3 and 10.8 < meta["lon"] < 12.5  # the eastern Alps
    assert 0.0 < np.median(grid["height"]) < 3000.0  # terrain heights of the Alps (m)


def test_real_calibration_luts_sizes_and_radiometric_relations():
    sigma, beta, gamma, dn = (read_calibration(CALIBRATION, k)
                              for k in ("sigmaNought", "betaNought", "gamma", "dn"))  # fmt: skip
    assert sigma.lines.size == 30 and np.all(np.diff(sigma.lines) > 0)
    assert sigma.lines[0] < 0 and sigma.lines[-1] > LINES - 1  # the vectors bracket the image
    for lut in (beta, gamma, dn):
        np.testing.assert_array_equal(lut.lines, sigma.lines)
    for p in sigma.pixels:  # 542 columns every 40 pixels, the last one the image's last
        assert p.size == 542 and p[-1] == SAMPLES - 1
        np.testing.assert_array_equal(p[:-1], np.arange(0, 541 * 40, 40))
    b, s, g = (np.concatenate(lut.values) for lut in (beta, sigma, gamma))
    assert np.unique(b).size == 1 and 200 < b[0] < 300  # beta0 LUT constant (S1 IPF >= 2.x)
    assert np.unique(np.concatenate(dn.values)).size == 1
    for v in sigma.values + gamma.values:  # A_sigma, A_gamma fall as theta grows with range
        assert np.all(np.diff(v) < 0)
    assert np.all(s > b) and np.all(g > b)  # sin(theta) < 1, tan(theta) < 1 below 45 deg
    sin, cos = (b / s) ** 2, (g / s) ** 2  # sigma0 = beta0 sin, gamma0 = sigma0 / cos
    np.testing.assert_allclose(sin**2 + cos**2, 1.0, atol=1e-5)  # 7-digit LUT values


def test_real_calibration_incidence_matches_geolocation_grid():
    """theta = arcsin((A_beta / A_sigma)^2) from the calibration file, at the grid points of
    the annotation file, against their incidenceAngle: within 0.25 deg (the LUTs use a smoothed
    terrain height, the grid the DEM height; the difference correlates with height)."""
    grid = read_geolocation_grid(ANNOTATION)
    lines, pixels = grid["line"], grid["pixel"]
    sigma = _at_points(read_calibration(CALIBRATION, "sigmaNought"), lines, pixels)
    beta = _at_points(read_calibration(CALIBRATION, "betaNought"), lines, pixels)
    gamma = _at_points(read_calibration(CALIBRATION, "gamma"), lines, pixels)
    from_sigma = np.degrees(np.arcsin((beta / sigma) ** 2))
    from_gamma = np.degrees(np.arctan((beta / gamma) ** 2))
    diff = from_sigma - grid["incidenceAngle"]
    assert np.abs(diff).max() < 0.25 and abs(diff.mean()) < 0.1, (diff.min(), diff.max())
    np.testing.assert_allclose(from_gamma, from_sigma, atol=1e-3)
    assert np.corrcoef(diff, grid["height"])[0, 1] < -0.5


def test_real_noise_vectors_and_nesz():
    noise = read_noise(NOISE)
    rng = noise.range_lut
    assert rng.lines.size == 10 and rng.lines[0] < 0 and rng.lines[-1] > 12000
    assert all(p.size == 542 and p[-1] == SAMPLES - 1 for p in rng.pixels)
    values = np.concatenate(rng.values)
    assert np.all(values > 0)
    (block,) = noise.azimuth  # IPF >= 2.9: one azimuth block covering the IW1 image
    assert (block.first_line, block.last_line) == (0, LINES - 1)
    assert (block.first_sample, block.last_sample) == (0, SAMPLES - 1)
    step = np.diff(block.lines)  # every 10 lines, plus each burst's last line (1501 lines)
    assert block.lines.size == 1359 and set(step) == {1, 10}
    np.testing.assert_array_equal(block.lines[1:][step == 1], 1501 * np.arange(1, 9))
    assert block.lut.min() > 0.95 and block.lut.max() < 1.3
    lines, pixels = np.arange(0, LINES, 50), np.arange(0, SAMPLES, 50)
    eta = noise.evaluate(lines, pixels)
    a_sigma = read_calibration(CALIBRATION, "sigmaNought").evaluate(lines, pixels)
    nesz = 10 * np.log10(eta / a_sigma**2)  # noise-equivalent sigma0 (dB)
    assert nesz.min() > -30.0 and nesz.max() < -19.0, (nesz.min(), nesz.max())
    assert -26.0 < np.median(nesz) < -22.0  # ESA: IW NESZ better than -22 dB
    no_azimuth = rng.evaluate(lines, pixels)  # the azimuth factor is applied (1.0 .. 1.17)
    assert (eta / no_azimuth).min() >= 1.0 and (eta / no_azimuth).max() > 1.1
