"""Sentinel-2 readers: band naming, DN offsets, georeferencing round-trips, .SAFE folders."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.raster import GeoInfo
from eoforge.io.sentinel2 import read_s2_geotiff, read_s2_safe, write_s2_geotiff
from eoforge.io.sentinel2_dn import canonical_band
from eoforge.io.sentinel2_safe import safe_metadata

GEO = GeoInfo.from_bounds(600000.0, 3500000.0, 20.0, crs="EPSG:32632")


def _bands(shape=(40, 56), seed=0):
    rng = np.random.default_rng(seed)
    return {b: rng.uniform(0.05, 0.6, shape).astype(np.float32) for b in ("B12", "B11", "B8A")}


def test_canonical_band_names():
    cases = {
        "B11": "B11", "b11": "B11", "B11_20m": "B11", "B11 (SWIR1)": "B11", "SWIR1": "B11",
        "swir16": "B11", "swir22": "B12", "B8A": "B8A", "nir08": "B8A", "B1": "B01",
        "B02_10m": "B02", "red": "B04", "nir": "B08", "B13": None, "SCL": None, "": None,
    }  # fmt: skip
    for name, expected in cases.items():
        assert canonical_band(name) == expected, name


def test_float_round_trip_keeps_georeferencing(tmp_path):
    bands = _bands()
    bands["B12"][3, 4] = np.nan
    path = write_s2_geotiff(tmp_path / "t.tif", bands, GEO)
    out, geo = read_s2_geotiff(path, ("swir16", "B12"))
    assert list(out) == ["B11", "B12"] and geo.descriptions == ("B11", "B12")
    np.testing.assert_array_equal(out["B11"], bands["B11"])
    np.testing.assert_array_equal(out["B12"], bands["B12"])  # NaN stays NaN
    assert geo.crs.to_epsg() == 32632 and geo.transform == GEO.transform
    with rasterio.open(path) as src:
        assert src.descriptions == ("B12", "B11", "B8A")


def test_uint16_offset_round_trip_and_override(tmp_path):
    bands = _bands(seed=1)
    bands["B11"][0, 0] = np.nan
    path = write_s2_geotiff(tmp_path / "dn.tif", bands, GEO, dtype="uint16")
    with rasterio.open(path) as src:
        dn = src.read(2)
        assert src.dtypes[0] == "uint16" and src.tags(2)["BOA_ADD_OFFSET"] == "-1000"
    assert dn[0, 0] == 0  # no-data
    np.testing.assert_array_equal(dn[1:, 1:], np.rint(bands["B11"][1:, 1:] * 1e4 + 1000))
    out, _ = read_s2_geotiff(path, ("B11", "B12"))
    np.testing.assert_allclose(out["B12"], bands["B12"], atol=0.5e-4 + 1e-7)
    assert np.isnan(out["B11"][0, 0])
    raw, _ = read_s2_geotiff(path, ("B12",), offset=0)
    np.testing.assert_allclose(raw["B12"] - out["B12"], 0.1, atol=1e-6)


def _write_dn(path, dn, descriptions, tags=None, band_tags=None):
    profile = dict(driver="GTiff", height=dn.shape[1], width=dn.shape[2], count=dn.shape[0],
                   dtype="uint16", crs=GEO.crs, transform=GEO.transform)  # fmt: skip
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(dn)
        for i, d in enumerate(descriptions, start=1):
            if d:
                dst.set_band_description(i, d)
        if tags:
            dst.update_tags(**tags)
        for i, t in (band_tags or {}).items():
            dst.update_tags(i, **t)


@pytest.mark.parametrize(
    ("tags", "band_tags", "offset"),
    [
        ({"PROCESSING_BASELINE": "04.00"}, None, -1000),
        ({"PROCESSING_BASELINE": "03.01"}, None, 0),
        ({"RADIO_ADD_OFFSET": "-1000"}, None, -1000),
        (None, {2: {"BOA_ADD_OFFSET": "-1000"}}, -1000),
        (None, None, 0),
    ],
)
def test_offset_autodetection_from_tags(tmp_path, tags, band_tags, offset):
    dn = np.full((2, 8, 8), 3000, dtype=np.uint16)
    _write_dn(tmp_path / "x.tif", dn, ["B11_20m", "B12 (SWIR2)"], tags, band_tags)
    out, _ = read_s2_geotiff(tmp_path / "x.tif", ("B11", "B12"))
    np.testing.assert_allclose(out["B12"], (3000 + offset) / 1e4, rtol=1e-6)


def test_missing_bands_and_band_index(tmp_path):
    dn = np.full((2, 8, 8), 2000, dtype=np.uint16)
    _write_dn(tmp_path / "nodesc.tif", dn, [None, None])
    with pytest.raises(DataNotFoundError, match="band_index"):
        read_s2_geotiff(tmp_path / "nodesc.tif", ("B11", "B12"))
    out, _ = read_s2_geotiff(tmp_path / "nodesc.tif", ("B11",), band_index={"B11": 2})
    np.testing.assert_allclose(out["B11"], 0.2)
    with pytest.raises(InputError, match="band_index"):
        read_s2_geotiff(tmp_path / "nodesc.tif", ("B11",), band_index={"B11": 5})
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_s2_geotiff(tmp_path / "missing.tif")
    with pytest.raises(InputError, match="bands"):
        read_s2_geotiff(tmp_path / "nodesc.tif", ("B99",))
    with pytest.raises(InputError, match="bands"):
        write_s2_geotiff(tmp_path / "bad.tif", {"foo": np.zeros((2, 2))}, GEO)
    with pytest.raises(ShapeError):
        write_s2_geotiff(tmp_path / "bad.tif", {"B11": np.zeros((2, 2)), "B12": np.zeros(3)}, GEO)


def test_single_band_files_on_mismatched_grids(tmp_path):
    bands = _bands()
    a = write_s2_geotiff(tmp_path / "b11.tif", {"B11": bands["B11"]}, GEO)
    b = write_s2_geotiff(tmp_path / "b12.tif", {"B12": bands["B12"]}, GEO)
    out, geo = read_s2_geotiff({"B11": a, "swir22": b}, ("B11", "B12"))
    assert geo.descriptions == ("B11", "B12") and geo.transform == GEO.transform
    np.testing.assert_array_equal(out["B12"], bands["B12"])
    shifted = GeoInfo.from_bounds(600020.0, 3500000.0, 20.0, crs="EPSG:32632")
    c = write_s2_geotiff(tmp_path / "b12s.tif", {"B12": bands["B12"]}, shifted)
    with pytest.raises(ShapeError, match="geotransforms differ"):
        read_s2_geotiff({"B11": a, "B12": c}, ("B11", "B12"))
    with pytest.raises(DataNotFoundError, match="no file"):
        read_s2_geotiff({"B11": a}, ("B11", "B12"))


MTD_L1C = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-1C.xsd">
<n1:General_Info><Product_Info><PRODUCT_START_TIME>2022-06-01T10:36:31.024Z</PRODUCT_START_TIME>
<PROCESSING_BASELINE>04.00</PROCESSING_BASELINE>
<Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake></Product_Info>
<Product_Image_Characteristics><QUANTIFICATION_VALUE unit="none">10000</QUANTIFICATION_VALUE>
<Radiometric_Offset_List>{offsets}</Radiometric_Offset_List>
</Product_Image_Characteristics></n1:General_Info></n1:Level-1C_User_Product>
"""
MTD_TL = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-1C_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-1C_Tile_Metadata.xsd">
<n1:Geometric_Info><Tile_Angles>
<Mean_Sun_Angle><ZENITH_ANGLE unit="deg">31.5</ZENITH_ANGLE><AZIMUTH_ANGLE unit="deg">145.2</AZIMUTH_ANGLE></Mean_Sun_Angle>
<Mean_Viewing_Incidence_Angle_List>
<Mean_Viewing_Incidence_Angle bandId="11"><ZENITH_ANGLE unit="deg">5.0</ZENITH_ANGLE></Mean_Viewing_Incidence_Angle>
<Mean_Viewing_Incidence_Angle bandId="12"><ZENITH_ANGLE unit="deg">6.0</ZENITH_ANGLE></Mean_Viewing_Incidence_Angle>
</Mean_Viewing_Incidence_Angle_List></Tile_Angles></n1:Geometric_Info></n1:Level-1C_Tile_ID>
"""


def _write_band_file(path, dn, res, origin=(600000.0, 3500000.0)):
    profile = dict(height=dn.shape[0], width=dn.shape[1], count=1, dtype="uint16",
                   crs="EPSG:32632", transform=from_origin(*origin, res, res))  # fmt: skip
    try:
        with rasterio.open(path, "w", driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES",
                           **profile) as dst:  # fmt: skip
            dst.write(dn[None])
    except Exception:  # no JPEG2000 writer: a GeoTIFF under the .jp2 name opens the same way
        with rasterio.open(path, "w", driver="GTiff", **profile) as dst:
            dst.write(dn[None])


def _fake_safe(tmp_path, offsets=True, b12_origin=(600000.0, 3500000.0)):
    safe = tmp_path / "S2A_MSIL1C_20220601T103631_N0400_R008_T32RNP_20220601T123456.SAFE"
    img = safe / "GRANULE" / "L1C_T32RNP_A036235_20220601T103631" / "IMG_DATA"
    img.mkdir(parents=True)
    off = "".join(f'<RADIO_ADD_OFFSET band_id="{i}">-1000</RADIO_ADD_OFFSET>' for i in range(13))
    (safe / "MTD_MSIL1C.xml").write_text(MTD_L1C.format(offsets=off if offsets else ""))
    (img.parent / "MTD_TL.xml").write_text(MTD_TL)
    rng = np.random.default_rng(3)
    dn = {
        "B04": rng.integers(1500, 4000, (36, 48)).astype(np.uint16),
        "B11": rng.integers(2000, 6000, (18, 24)).astype(np.uint16),
        "B12": rng.integers(2000, 6000, (18, 24)).astype(np.uint16),
        "B01": rng.integers(1500, 3000, (6, 8)).astype(np.uint16),
    }
    dn["B11"][0, 0] = 0
    res = {"B04": 10, "B11": 20, "B12": 20, "B01": 60}
    for band, arr in dn.items():
        origin = b12_origin if band == "B12" else (600000.0, 3500000.0)
        _write_band_file(img / f"T32RNP_20220601T103631_{band}.jp2", arr, res[band], origin)
    _write_band_file(img / "T32RNP_20220601T103631_TCI.jp2", dn["B04"], 10)
    return safe, dn


def test_read_fake_l1c_safe(tmp_path):
    safe, dn = _fake_safe(tmp_path)
    out, geo = read_s2_safe(safe, ("B04", "B11", "B12", "B01"), resolution=20)
    assert set(out) == {"B04", "B11", "B12", "B01"}
    refl = (dn["B04"].astype(np.float64) - 1000) / 1e4
    expected = refl.reshape(18, 2, 24, 2).mean(axis=(1, 3))  # 2 x 2 mean to 20 m
    np.testing.assert_allclose(out["B04"], expected, atol=1e-6)
    np.testing.assert_allclose(out["B12"], (dn["B12"] - 1000.0) / 1e4, atol=1e-6)
    assert np.isnan(out["B11"][0, 0])
    np.testing.assert_allclose(out["B01"][:3, :3], (dn["B01"][0, 0] - 1000.0) / 1e4, atol=1e-6)
    assert out["B01"].shape == (18, 24)  # 60 m repeated 3 x 3
    assert geo.transform.a == 20.0 and geo.transform.c == 600000.0 and geo.crs.to_epsg() == 32632
    meta = safe_metadata(safe)
    assert meta["level"] == "L1C" and meta["processing_baseline"] == 4.0
    assert meta["sza"] == 31.5 and meta["saa"] == 145.2 and meta["vza"] == pytest.approx(5.5)
    assert meta["spacecraft"] == "Sentinel-2A" and meta["offsets"]["B12"] == -1000.0
    # same grid at 20 m for 20 m bands only
    sub, _ = read_s2_safe(safe, ("B11", "B12"))
    assert sub["B11"].shape == (18, 24)


def test_safe_without_offset_elements_uses_baseline_and_errors(tmp_path):
    safe, dn = _fake_safe(tmp_path, offsets=False)
    out, _ = read_s2_safe(safe, ("B12",))
    np.testing.assert_allclose(out["B12"], (dn["B12"] - 1000.0) / 1e4, atol=1e-6)
    with pytest.raises(DataNotFoundError, match="B8A"):
        read_s2_safe(safe, ("B8A",))
    with pytest.raises(InputError, match="resolution"):
        read_s2_safe(safe, ("B12",), resolution=30)
    with pytest.raises(DataNotFoundError, match="SAFE"):
        read_s2_safe(tmp_path / "nothing.SAFE", ("B12",))


def test_safe_mismatched_grid(tmp_path):
    safe, _ = _fake_safe(tmp_path, b12_origin=(600100.0, 3500000.0))
    with pytest.raises(ShapeError, match="B12"):
        read_s2_safe(safe, ("B11", "B12"))


def test_safe_angle_without_value_is_one_input_error(tmp_path):
    """An empty angle element in MTD_TL.xml names the element (it was a TypeError)."""
    safe, _ = _fake_safe(tmp_path)
    tl = next(safe.glob("GRANULE/*/MTD_TL.xml"))
    tl.write_text(MTD_TL.replace('<AZIMUTH_ANGLE unit="deg">145.2</AZIMUTH_ANGLE>',
                                 '<AZIMUTH_ANGLE unit="deg"></AZIMUTH_ANGLE>'))  # fmt: skip
    with pytest.raises(InputError, match="AZIMUTH_ANGLE"):
        safe_metadata(safe)
