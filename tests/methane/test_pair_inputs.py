"""``methane detect`` refuses physically wrong inputs (grid, CRS, reflectance scale) in one line,
and averages 10 m grids to the detector's 20 m."""

import json

import numpy as np
import pytest
import rasterio
import torch
from typer.testing import CliRunner

from eoforge.core.errors import InputError
from eoforge.methane.pair_files import load_pair, simulate_to_files

torch.set_num_threads(1)
runner = CliRunner()


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out = tmp_path_factory.mktemp("pair")
    simulate_to_files(out, rate_kg_h=8000.0, seed=11, shape=96, wind_speed=2.5)
    return out


def _rewrite(src_path, dst_path, data=None, **profile_changes):
    """Copy a GeoTIFF (descriptions and tags kept) with other data or profile entries."""
    with rasterio.open(src_path) as src:
        profile, arr, desc, tags = src.profile, src.read(), src.descriptions, src.tags()
    profile.update(profile_changes)
    arr = arr if data is None else data(arr)
    profile.update(count=arr.shape[0], height=arr.shape[1], width=arr.shape[2])
    profile.pop("blockxsize", None), profile.pop("blockysize", None), profile.pop("tiled", None)
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(arr)
        dst.descriptions = desc
        dst.update_tags(**tags)
    return dst_path


def _detect(target, reference, out, *extra):
    from eoforge.cli.main import app

    return runner.invoke(app, ["methane", "detect", str(target), "--reference", str(reference),
                               "--out", str(out), "--tile", "128", *extra])  # fmt: skip


def _one_line_error(res, *words):
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for w in words:
        assert w in lines[0], lines[0]


UP2 = rasterio.Affine(10, 0, 300000, 0, -10, 3512000)  # the simulated grid at 10 m


@pytest.mark.parametrize(
    ("name", "changes", "words"),
    [
        ("lonlat", {"crs": "EPSG:4326", "transform": rasterio.Affine(2e-4, 0, 5.9, 0, -2e-4, 31.7)},
         ["geographic", "EPSG:4326", "gdalwarp -t_srs EPSG:326xx -tr 20 20"]),
        ("nocrs", {"crs": None}, ["no georeferencing", "no CRS", "gdalwarp"]),
        ("feet", {"crs": "EPSG:2263"}, ["not metres", "gdalwarp"]),
        ("m30", {"transform": rasterio.Affine(30, 0, 300000, 0, -30, 3512000)},
         ["30 x 30 m pixels", "-tr 20 20"]),
        ("m15", {"transform": rasterio.Affine(15, 0, 300000, 0, -15, 3512000)},
         ["15 x 15 m pixels"]),
    ],
)  # fmt: skip
def test_detect_refuses_grids_the_detector_cannot_use(sim, tmp_path, name, changes, words):
    """Both dates on the same wrong grid (so the same-grid check passes)."""
    bad = _rewrite(sim / "target.tif", tmp_path / f"{name}.tif", **changes)
    ref = _rewrite(sim / "reference.tif", tmp_path / f"{name}_ref.tif", **changes)
    res = _detect(bad, ref, tmp_path / "out")
    _one_line_error(res, repr(str(bad)), *words)
    assert not (tmp_path / "out").exists()


def test_detect_refuses_a_file_without_any_georeferencing(sim, tmp_path):
    bad, ref = (_rewrite(sim / f"{n}.tif", tmp_path / f"bare_{n}.tif", crs=None,
                         transform=rasterio.Affine.identity()) for n in ("target", "reference"))  # fmt: skip
    res = _detect(bad, ref, tmp_path / "out")
    _one_line_error(res, "bare_target.tif", "no CRS and no geotransform")


@pytest.mark.parametrize(("factor", "dtype"), [(100.0, "float32"), (10000.0, "float32")])
def test_detect_refuses_reflectance_at_another_scale(sim, tmp_path, factor, dtype):
    """Reflectance x 100 (percent) or DN stored as floats: median far above 1 after the scale."""
    bad = _rewrite(sim / "reference.tif", tmp_path / "scaled.tif",
                   data=lambda a: (a * factor).astype(dtype))  # fmt: skip
    bad_t = _rewrite(sim / "target.tif", tmp_path / "scaled_t.tif",
                     data=lambda a: (a * factor).astype(dtype))  # fmt: skip
    res = _detect(sim / "target.tif", bad, tmp_path / "out")  # the reference alone
    _one_line_error(res, "scaled.tif", "band B1", "--quantification", "QUANTIFICATION_VALUE")
    res = _detect(bad_t, bad, tmp_path / "out")  # both dates at the same wrong scale
    _one_line_error(res, "scaled_t.tif", "band B1", "--quantification")
    # the declared scale fixes it: same bands as the original file
    _, r_fixed, *_ = load_pair(sim / "target.tif", bad, quantification=factor)
    _, r_orig, *_ = load_pair(sim / "target.tif", sim / "reference.tif")
    np.testing.assert_allclose(r_fixed["B12"], r_orig["B12"], rtol=1e-6)


def test_integer_dn_are_read_at_the_scale_their_tag_declares(sim, tmp_path):
    """uint16 reflectance x 1000: right with QUANTIFICATION_VALUE=1000, refused when the tag
    declares 10 (values 100x too large), naming the tag."""
    dn = _rewrite(sim / "reference.tif", tmp_path / "permille.tif", dtype="uint16", nodata=0,
                  data=lambda a: np.clip(np.rint(a * 1000), 1, None).astype("uint16"))  # fmt: skip
    with rasterio.open(dn, "r+") as dst:
        dst.update_tags(QUANTIFICATION_VALUE="10")
    with pytest.raises(InputError, match="QUANTIFICATION_VALUE") as err:
        load_pair(sim / "target.tif", dn)
    assert "permille.tif" in str(err.value) and "/ 10 (integer data)" in str(err.value)
    with rasterio.open(dn, "r+") as dst:
        dst.update_tags(QUANTIFICATION_VALUE="1000")
    _, r, *_ = load_pair(sim / "target.tif", dn)
    _, r_orig, *_ = load_pair(sim / "target.tif", sim / "reference.tif")
    np.testing.assert_allclose(r["B12"], r_orig["B12"], atol=0.6e-3)


def test_a_10_m_pair_is_averaged_to_20_m_and_gives_the_20_m_result(sim, tmp_path):
    """Each 20 m pixel repeated 2 x 2 at 10 m: the 2 x 2 mean restores the 20 m pair exactly, so
    the detection (and the rates, which depend on the pixel area) must be the 20 m one."""
    from eoforge.methane.detector import save_detector
    from tests.methane.detect.test_pipeline import prior_detector

    weights = save_detector(prior_detector(), tmp_path / "prior")

    def up(a):
        return np.repeat(np.repeat(a, 2, axis=1), 2, axis=2)

    t10 = _rewrite(sim / "target.tif", tmp_path / "t10.tif", data=up, transform=UP2)
    r10 = _rewrite(sim / "reference.tif", tmp_path / "r10.tif", data=up, transform=UP2)
    common = ["--wind-speed", "2.5", "--min-area", "8", "--weights", str(weights)]
    res20 = _detect(sim / "target.tif", sim / "reference.tif", tmp_path / "d20", *common)
    res10 = _detect(t10, r10, tmp_path / "d10", *common)
    assert res20.exit_code == 0 and res10.exit_code == 0, res10.output
    a = json.loads((tmp_path / "d20" / "plumes.geojson").read_text())
    b = json.loads((tmp_path / "d10" / "plumes.geojson").read_text())
    assert len(a["features"]) >= 1 and len(b["features"]) == len(a["features"])
    for fa, fb in zip(a["features"], b["features"], strict=True):
        pa, pb = fa["properties"], fb["properties"]
        assert pb["area_m2"] == pytest.approx(pa["area_m2"])
        assert pb["rate_kg_h"] == pytest.approx(pa["rate_kg_h"], rel=1e-4)
    assert "10 m pixels averaged 2 x 2 to 20 m" in res10.output
    assert b["scene"]["input_resampled"] and "input_resampled" not in a["scene"]
    with rasterio.open(tmp_path / "d10" / "probability.tif") as src:
        assert src.res == (20.0, 20.0) and src.shape == (96, 96)
