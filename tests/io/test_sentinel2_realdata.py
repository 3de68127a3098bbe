"""Sentinel-2 readers on the real BigEarthNet L2A patches (tests/data/bigearthnet-s2/).

Each patch is a folder of single-band GeoTIFFs (uint16 reflectance x 10000, baseline 02.05, no
offset): B02/B03/B04/B08 at 10 m (120 x 120), B05-B07/B8A/B11/B12 at 20 m (60 x 60), B01/B09 at
60 m (20 x 20). The checks use facts from outside the reader: the patch corners in each
``*_labels_metadata.json``, numpy block means of the raw files, the spatial correlation of
neighbouring bands (which drops when a grid is shifted by one pixel), the red/NIR contrast of
vegetation and the visible/SWIR contrast of snow. The processing-baseline offset is checked by
rebuilding a real patch as a baseline >= 04.00 product (DN + 1000, with the metadata or tags
that declare it) in ``tmp_path`` and reading the same reflectance back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from eoforge.io.sentinel2 import read_s2_band_files, read_s2_geotiff, read_s2_safe
from eoforge.io.sentinel2_dn import NATIVE_RESOLUTION
from eoforge.io.sentinel2_safe import safe_metadata

pytestmark = pytest.mark.realdata

DATA = Path(__file__).resolve().parents[1] / "data" / "bigearthnet-s2"
PATCHES = sorted(p for p in DATA.iterdir() if p.is_dir())
BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B11", "B12")
SNOW = "S2B_MSIL2A_20180204T94161_57_38"  # Finland, February: snow-covered fields and forest
SUMMER = PATCHES[0]  # S2A_MSIL2A_20170613T101031_87_48: arable land, June (Austria)


def _raw(patch: Path, band: str) -> tuple[np.ndarray, rasterio.Affine]:
    with rasterio.open(patch / f"{patch.name}_{band}.tif") as src:
        return src.read(1).astype(np.float64), src.transform


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_real_patches_all_bands_on_one_20m_grid():
    assert len(PATCHES) == 6
    for patch in PATCHES:
        meta = json.loads(next(patch.glob("*_labels_metadata.json")).read_text())
        c = meta["coordinates"]
        out, geo = read_s2_band_files(patch, BANDS, resolution=20)
        assert list(out) == list(BANDS) and geo.descriptions == BANDS
        assert {a.shape for a in out.values()} == {(60, 60)}
        t = geo.transform
        assert (t.a, t.e, t.c, t.f) == (20.0, -20.0, c["ulx"], c["uly"])
        assert (t.c + 60 * t.a, t.f + 60 * t.e) == (c["lrx"], c["lry"])  # 1.2 km x 1.2 km
        assert geo.crs.to_epsg() == int(meta["projection"].rsplit('"', 2)[-2])
        for band in BANDS:  # the native grids share the corner and cover the same 1.2 km
            dn, tr = _raw(patch, band)
            res = NATIVE_RESOLUTION[band]
            assert (tr.a, tr.c, tr.f) == (res, c["ulx"], c["uly"]) and dn.shape[0] * res == 1200
        ten, _ = _raw(patch, "B04")  # 10 m -> 20 m: the mean of each 2 x 2 block
        np.testing.assert_allclose(
            out["B04"], ten.reshape(60, 2, 60, 2).mean(axis=(1, 3)) / 1e4, rtol=1e-6
        )
        sixty, _ = _raw(patch, "B01")  # 60 m -> 20 m: each pixel repeated 3 x 3
        np.testing.assert_allclose(out["B01"][1::3, 2::3], sixty / 1e4, rtol=1e-6)
        np.testing.assert_array_equal(out["B01"][::3, ::3], out["B01"][2::3, 1::3])


def test_resampled_bands_line_up_on_real_texture():
    """Neighbouring bands correlate best where the grids line up: a one-pixel shift of the 20 m
    grid (B05 vs B04) or of the 60 m grid (B01 vs B02) costs correlation on every patch."""
    for patch in PATCHES:
        out, _ = read_s2_band_files(patch, ("B01", "B02", "B04", "B05"), resolution=20)
        red_edge, red = out["B05"][1:-1, 1:-1], out["B04"]
        aligned, shifted = _corr(red_edge, red[1:-1, 1:-1]), _corr(red_edge, red[2:, 1:-1])
        assert aligned > 0.8 and aligned > shifted + 0.04, (patch.name, aligned, shifted)
        coastal = out["B01"][3:-3:3, 3:-3:3]  # one value per 60 m pixel
        blue = out["B02"].reshape(20, 3, 20, 3).mean(axis=(1, 3))  # B02 at 60 m
        aligned, shifted = _corr(coastal, blue[1:-1, 1:-1]), _corr(coastal, blue[2:, 1:-1])
        assert aligned > 0.85 and aligned > shifted + 0.05, (patch.name, aligned, shifted)


def test_real_reflectance_ranges_vegetation_and_snow():
    for patch in PATCHES:
        out, _ = read_s2_band_files(patch, BANDS, resolution=20)
        med = {b: float(np.median(a)) for b, a in out.items()}
        assert all(0.003 < m < 0.8 for m in med.values()), (patch.name, med)
        ndvi = (out["B8A"] - out["B04"]) / (out["B8A"] + out["B04"])
        ndsi = (out["B03"] - out["B11"]) / (out["B03"] + out["B11"])
        if patch.name == SNOW:  # snow: bright in the visible, dark in the SWIR
            assert np.median(ndsi) > 0.6 and med["B03"] > 0.2 and med["B11"] < 0.06
            assert np.median(ndvi) < 0.2
        else:  # vegetation: NIR plateau far above the red chlorophyll absorption
            assert med["B8A"] > 2 * med["B04"] and np.median(ndvi) > 0.55, patch.name
            assert med["B8A"] > med["B05"] > med["B04"]  # the red edge rises
            assert np.median(ndsi) < -0.3


MTD_L2A = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info><PRODUCT_START_TIME>2017-06-13T10:10:31.026Z</PRODUCT_START_TIME>
<PROCESSING_BASELINE>{baseline}</PROCESSING_BASELINE>
<Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake></Product_Info>
<Product_Image_Characteristics>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
<AOT_QUANTIFICATION_VALUE unit="none">1000.0</AOT_QUANTIFICATION_VALUE></QUANTIFICATION_VALUES_LIST>
{offsets}
</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>
"""


def _offset_xml(value: int = -1000) -> str:
    items = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{value}</BOA_ADD_OFFSET>' for i in range(13))
    return f"<BOA_ADD_OFFSET_VALUES_LIST>{items}</BOA_ADD_OFFSET_VALUES_LIST>"


def _copy_band(src_path: Path, dst_path: Path, add: int, tags=None, band_tags=None, gdal=None):
    """``src_path`` rewritten with DN + ``add`` (DN 0 = no-data kept) and the given tags."""
    with rasterio.open(src_path) as src:
        dn, profile = src.read(1), src.profile
    shifted = np.where(dn > 0, dn.astype(np.int64) + add, 0).astype(np.uint16)
    assert shifted.max() < 65535  # no wrap-around (the brightest snow DN is ~16000)
    with rasterio.open(dst_path, "w", **profile) as dst:
        dst.write(shifted[None])
        dst.update_tags(**(tags or {}))
        dst.update_tags(1, **(band_tags or {}))
        if gdal:
            dst.scales, dst.offsets = (gdal[0],), (gdal[1],)


def _l2a_safe(root: Path, patch: Path, baseline: str, offsets: str, add: int) -> Path:
    """A real patch laid out as an L2A .SAFE (R10m/R20m/R60m at the native pixel sizes)."""
    tile = "T33UUP_20170613T101031"
    safe = root / f"S2A_MSIL2A_20170613T101031_N{baseline.replace('.', '')}_R022_T33UUP.SAFE"
    img = safe / "GRANULE" / "L2A_T33UUP_A010270_20170613T101608" / "IMG_DATA"
    for band in BANDS:
        res = NATIVE_RESOLUTION[band]
        (img / f"R{res}m").mkdir(parents=True, exist_ok=True)
        src = patch / f"{patch.name}_{band}.tif"
        _copy_band(src, img / f"R{res}m" / f"{tile}_{band}_{res}m.tif", add)
    (safe / "MTD_MSIL2A.xml").write_text(MTD_L2A.format(baseline=baseline, offsets=offsets))
    return safe


@pytest.mark.parametrize("patch", [SUMMER, DATA / SNOW], ids=["summer", "snow"])
def test_baseline_offset_safe_gives_same_reflectance(tmp_path, patch):
    """Baseline 02.05 as shipped vs the same patch stored as baseline 04.00 (DN + 1000 with
    BOA_ADD_OFFSET = -1000), as a reprocessed 2017 product (05.00, sensing date before 2022)
    and as 04.00 metadata without offset elements (the reader falls back on the baseline)."""
    ref, ref_geo = read_s2_band_files(patch, BANDS, resolution=20)
    plain = _l2a_safe(tmp_path / "a", patch, "02.05", "", 0)
    new = _l2a_safe(tmp_path / "b", patch, "04.00", _offset_xml(), 1000)
    reproc = _l2a_safe(tmp_path / "c", patch, "05.00", _offset_xml(), 1000)
    bare = _l2a_safe(tmp_path / "d", patch, "04.00", "", 1000)
    assert safe_metadata(new)["offsets"]["B12"] == -1000.0
    assert safe_metadata(reproc)["processing_baseline"] == 5.0
    for safe in (plain, new, reproc, bare):
        out, geo = read_s2_safe(safe, BANDS, resolution=20)
        assert geo.transform == ref_geo.transform
        for b in BANDS:  # the same reflectance, to the DN quantum (here exactly)
            np.testing.assert_allclose(out[b], ref[b], rtol=0, atol=0.5e-4, err_msg=safe.name)
    ignored, _ = read_s2_safe(new, ("B04", "B11"), offset=0)  # the check can fail:
    np.testing.assert_allclose(ignored["B11"] - ref["B11"], 0.1, atol=1e-6)  # +10 % of scale


def test_baseline_offset_band_files_tags_metadata_and_gdal_scaling(tmp_path):
    """Per-band GeoTIFFs of a baseline >= 04.00 product: the offset declared by a per-band
    BOA_ADD_OFFSET tag, a PROCESSING_BASELINE tag, GDAL scale/offset (1e-4, -0.1) or an
    MTD_MSIL2A.xml beside the files gives the shipped patch's reflectance back."""
    patch = SUMMER
    ref, _ = read_s2_band_files(patch, BANDS, resolution=20)
    ways = {
        "band_tag": {"band_tags": {"BOA_ADD_OFFSET": "-1000"}},
        "baseline_tag": {"tags": {"PROCESSING_BASELINE": "N0400"}},
        "gdal": {"gdal": (1e-4, -0.1)},
        "mtd": {},
    }
    for name, kwargs in ways.items():
        folder = tmp_path / name
        folder.mkdir()
        for band in BANDS:
            f = f"{patch.name}_{band}.tif"
            _copy_band(patch / f, folder / f, 1000, **kwargs)
        if name == "mtd":
            text = MTD_L2A.format(baseline="04.00", offsets=_offset_xml())
            (folder / "MTD_MSIL2A.xml").write_text(text)
        out, _ = read_s2_band_files(folder, BANDS, resolution=20)
        for b in BANDS:
            np.testing.assert_allclose(out[b], ref[b], rtol=0, atol=0.5e-4, err_msg=name)
        if name == "mtd":  # read_s2_geotiff reads files, not the product metadata beside them
            continue
        files = {b: folder / f"{patch.name}_{b}.tif" for b in ("B11", "B12")}  # same 20 m grid
        single, _ = read_s2_geotiff(files, ("B11", "B12"))
        np.testing.assert_allclose(single["B12"], ref["B12"], rtol=0, atol=0.5e-4, err_msg=name)
    untagged = tmp_path / "untagged"
    shutil.copytree(tmp_path / "band_tag", untagged)
    for f in untagged.glob("*.tif"):  # the same DN declared with offset 0: +0.1 everywhere
        with rasterio.open(f, "r+") as dst:
            dst.update_tags(1, BOA_ADD_OFFSET="0")
    out, _ = read_s2_band_files(untagged, ("B11",))
    np.testing.assert_allclose(out["B11"] - ref["B11"], 0.1, atol=1e-6)
