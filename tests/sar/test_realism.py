"""Unit checks of eoforge.sar.realism and eoforge.sar.gamma on planted inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.special import polygamma

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.sar import gamma, stats
from eoforge.sar.realism import fill_nodata, inverse_trigamma, speckle_statistics, tiles


def test_fill_nodata_restores_a_plane_exactly_and_keeps_valid_pixels() -> None:
    rows, cols = np.mgrid[:20, :30]
    plane = 0.3 * rows - 0.2 * cols + 1.0
    holed = plane.copy()
    holed[5:9, 10:14] = np.nan
    holed[0, 0] = np.nan  # outside the hull of nothing: a corner, filled by linear/nearest
    out = fill_nodata(holed)[0]
    assert np.allclose(out[5:9, 10:14], plane[5:9, 10:14])
    assert np.array_equal(out[np.isfinite(holed)], holed[np.isfinite(holed)])
    assert np.all(np.isfinite(out))


def test_tiles_order_and_speckle_statistics_of_planted_gamma_speckle() -> None:
    x = np.arange(2 * 4 * 6, dtype=float).reshape(2, 4, 6)
    t = tiles(x, 2)
    assert t.shape == (12, 2, 2)
    assert np.array_equal(t[1], x[0, :2, 2:4]) and np.array_equal(t[6], x[1, :2, :2])
    speckle = np.random.default_rng(0).gamma(4.0, 0.25, (8, 64, 64))
    s = speckle_statistics(speckle)
    assert s["enl"] == pytest.approx(4.0, rel=0.1)
    assert s["enl_log"] == pytest.approx(4.0, rel=0.1)
    assert abs(s["speckle_corr_x"]) < 0.05 and s["psd_hf_ratio"] == pytest.approx(1.0, abs=0.2)


def test_phase_residues_ignore_loops_touching_nan() -> None:
    yy, xx = np.mgrid[:31, :31]
    vortex = np.arctan2(yy - 15.5, xx - 15.5)  # one residue in the central loop
    assert stats.phase_residues(vortex) == pytest.approx(1 / 30**2)
    holed = vortex.copy()
    holed[0, 0] = np.nan  # one corner loop lost
    assert stats.phase_residues(holed) == pytest.approx(1 / (30**2 - 1))
    assert stats.residue_map(holed)[0, 0] == 0
    assert np.isnan(stats.phase_residues(np.full((3, 3), np.nan)))


def test_gamma_reader_errors(tmp_path: Path) -> None:
    with pytest.raises(DataNotFoundError, match="does not exist"):
        gamma.read_par(tmp_path / "none.par")
    par = tmp_path / "x.par"
    par.write_text("title: test\nwidth: 3\n")
    with pytest.raises(InputError, match="nlines"):
        gamma.read_raster(tmp_path / "x.unw", par)
    par.write_text("width:   3\nnlines:  2\n")
    raster = tmp_path / "x.unw"
    np.array([[0, 1, 2], [3, 4, 5]], dtype=">f4").tofile(raster)
    out = gamma.read_raster(raster, par)
    assert np.isnan(out[0, 0]) and out[1, 2] == 5.0
    assert gamma.read_raster(raster, par, nodata=None)[0, 0] == 0.0


def test_inverse_trigamma_round_trip() -> None:
    for looks in (0.5, 1.0, 4.4, 30.0):
        assert inverse_trigamma(float(polygamma(1, looks))) == pytest.approx(looks, rel=1e-6)
