"""Sentinel-1 .SAFE reader: calibrated sigma0 against planted DN, LUTs and noise on tiny products.

The products are written here with the element names of the ESA product specification:
measurement tiffs (complex int16 SLC, uint16 GRD), product annotation, calibration and noise XMLs.
The expected sigma0 is computed with scipy's ``RegularGridInterpolator`` (an independent
bilinear interpolation) from the planted LUT knots.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from scipy.interpolate import RegularGridInterpolator
from typer.testing import CliRunner

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.sentinel1_safe import list_measurements, read_s1_safe
from eoforge.sar.readers import load_imagettes
from eoforge.sar.store import load_wv
from eoforge.sar.wv import CLASSES

T0 = "20160101t000102"
CAL_LINES = np.array([0.0, 9.0, 25.0])  # irregular; covers every line of the images below
CAL_PIXELS = np.array([0.0, 7.0, 18.0, 31.0])


def _vec(name: str, values) -> str:
    text = " ".join(f"{v:.10g}" for v in np.ravel(values))
    return f'<{name} count="{np.size(values)}">{text}</{name}>'


def _header(pol: str, swath: str, kind: str) -> str:
    return (f"<adsHeader><missionId>S1A</missionId><productType>{kind}</productType>"
            f"<polarisation>{pol.upper()}</polarisation><mode>{swath[:2].upper()}</mode>"
            f"<swath>{swath.upper()}</swath><startTime>2016-01-01T00:01:02.500000</startTime>"
            "<stopTime>2016-01-01T00:01:05.100000</stopTime></adsHeader>")  # fmt: skip


def _lut_xml(root: str, item: str, lut_name: str, lines, pixels, table, extra: str = "") -> str:
    vectors = "".join(
        f"<{item}><azimuthTime>2016-01-01T00:01:02</azimuthTime><line>{int(line)}</line>"
        f"{_vec('pixel', pixels.astype(int))}{_vec(lut_name, row)}"
        + (_vec("betaNought", row * 0.9) + _vec("gamma", row) + _vec("dn", row * 0 + 1)
           if root == "calibration" else "") + f"</{item}>"
        for line, row in zip(lines, table, strict=True)
    )  # fmt: skip
    return (
        f'<{root}>{{header}}<{item}List count="{len(lines)}">{vectors}</{item}List>{extra}</{root}>'
    )


def write_product(folder: Path, name: str, measurements: list[dict]) -> Path:
    """A .SAFE with one measurement per dict (keys: swath, pol, kind, dn, cal, noise, ...)."""
    safe = folder / f"{name}.SAFE"
    (safe / "measurement").mkdir(parents=True)
    (safe / "annotation" / "calibration").mkdir(parents=True)
    (safe / "manifest.safe").write_text("<xfdu:XFDU/>")
    for i, m in enumerate(measurements, start=1):
        stem = f"s1a-{m['swath']}-{m['kind'].lower()}-{m['pol']}-{T0}-{T0}-009303-00d6a2-{i:03d}"
        header = _header(m["pol"], m["swath"], m["kind"])
        dn = m["dn"]
        nl, ns = m.get("annotated_shape", dn.shape[-2:])
        ll, pp = np.meshgrid([0, nl - 1], [0, ns - 1], indexing="ij")
        lat, lon = m["lat0"] + 0.01 * ll - 0.002 * pp, 179.99 + 0.004 * pp  # crosses 180
        grid = "".join(
            f"<geolocationGridPoint><line>{a}</line><pixel>{b}</pixel><latitude>{c}</latitude>"
            f"<longitude>{(d + 180) % 360 - 180}</longitude><height>0</height>"
            f"<incidenceAngle>{m['incidence'] + 0.01 * b}</incidenceAngle></geolocationGridPoint>"
            for a, b, c, d in zip(ll.ravel(), pp.ravel(), lat.ravel(), lon.ravel(), strict=True)
        )  # fmt: skip
        (safe / "annotation" / f"{stem}.xml").write_text(
            f"<product>{header}<imageAnnotation><imageInformation>"
            "<rangePixelSpacing>2.5</rangePixelSpacing><azimuthPixelSpacing>4.0</azimuthPixelSpacing>"
            f"<incidenceAngleMidSwath>{m['incidence']}</incidenceAngleMidSwath>"
            f"<numberOfSamples>{ns}</numberOfSamples><numberOfLines>{nl}</numberOfLines>"
            "</imageInformation></imageAnnotation><geolocationGrid><geolocationGridPointList "
            f"count=\"4\">{grid}</geolocationGridPointList></geolocationGrid></product>"
        )  # fmt: skip
        cal = safe / "annotation" / "calibration" / f"calibration-{stem}.xml"
        cal.write_text(_lut_xml("calibration", "calibrationVector", "sigmaNought", CAL_LINES,
                                CAL_PIXELS, m["cal"]).replace("{header}", header))  # fmt: skip
        if m.get("noise") is not None:
            new = m.get("noise_format", "new") == "new"
            az = "".join(
                f"<noiseAzimuthVectorList count=\"{len(m['azimuth'])}\">"
                + "".join(f"<noiseAzimuthVector><swath>{m['swath'].upper()}</swath>"
                          f"<firstAzimuthLine>{b[0]}</firstAzimuthLine><firstRangeSample>{b[2]}"
                          f"</firstRangeSample><lastAzimuthLine>{b[1]}</lastAzimuthLine>"
                          f"<lastRangeSample>{b[3]}</lastRangeSample>{_vec('line', b[4])}"
                          f"{_vec('noiseAzimuthLut', b[5])}</noiseAzimuthVector>"
                          for b in m["azimuth"])
                + "</noiseAzimuthVectorList>"
            ) if m.get("azimuth") else ""  # fmt: skip
            xml = _lut_xml("noise", "noiseRangeVector" if new else "noiseVector",
                           "noiseRangeLut" if new else "noiseLut", CAL_LINES, CAL_PIXELS,
                           m["noise"], az)  # fmt: skip
            (safe / "annotation" / "calibration" / f"noise-{stem}.xml").write_text(
                xml.replace("{header}", header)
            )
        _write_tiff(safe / "measurement" / f"{stem}.tiff", dn)
    return safe


def _write_tiff(path: Path, dn: np.ndarray) -> None:
    if dn.ndim == 3:  # two int16 bands (I, Q)
        count, dtype, data = 2, "int16", dn
    elif np.iscomplexobj(dn):  # GDAL CInt16, read back by rasterio as complex64
        count, dtype, data = 1, "complex_int16", dn[None].astype(np.complex64)
    else:
        count, dtype, data = 1, "uint16", dn[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", driver="GTiff", height=data.shape[1],
                           width=data.shape[2], count=count, dtype=dtype) as dst:  # fmt: skip
            dst.write(data)


def bilinear(knots: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Reference: scipy's linear interpolation of LUT knots on every (line, pixel)."""
    ll, pp = np.meshgrid(np.arange(shape[0]), np.arange(shape[1]), indexing="ij")
    rgi = RegularGridInterpolator((CAL_LINES, CAL_PIXELS), knots, method="linear")
    return rgi(np.stack([ll, pp], axis=-1))


def slc_dn(rng, shape) -> np.ndarray:
    amp = rng.uniform(200, 3000, shape) * rng.choice([-1, 1], shape)
    return (np.rint(amp) + 1j * np.rint(rng.uniform(-3000, 3000, shape))).astype(np.complex64)


def measurement(rng, shape=(24, 30), kind="SLC", swath="wv1", pol="vv", **kw) -> dict:
    dn = slc_dn(rng, shape) if kind == "SLC" else rng.integers(100, 4000, shape).astype(np.uint16)
    cal = rng.uniform(200.0, 600.0, (CAL_LINES.size, CAL_PIXELS.size))  # non-constant LUT
    noise = rng.uniform(1e3, 5e4, (CAL_LINES.size, CAL_PIXELS.size))
    out = dict(swath=swath, pol=pol, kind=kind, dn=dn, cal=cal, noise=noise, lat0=-30.0,
               incidence=23.4 if swath == "wv1" else 36.6)  # fmt: skip
    out.update(kw)
    return out


def power(dn: np.ndarray) -> np.ndarray:
    return np.abs(dn.astype(np.complex128)) ** 2


@pytest.fixture()
def wv(tmp_path):
    rng = np.random.default_rng(0)
    ms = [measurement(rng, (24, 30), swath="wv1"), measurement(rng, (26, 32), swath="wv2")]
    ms[0]["azimuth"] = [(0, 23, 0, 14, np.array([0, 23]), np.array([0.5, 1.5])),
                        (0, 23, 15, 29, np.array([0, 11, 23]), np.array([1.0, 2.0, 1.0]))]  # fmt: skip
    safe = write_product(tmp_path / "data", "S1A_WV_SLC__1SSV_TEST", ms)
    return safe, ms


def test_sigma0_is_dn_power_over_bilinear_lut(wv):
    safe, ms = wv
    out = read_s1_safe(safe, denoise=False)
    assert [o.swath for o in out] == ["wv1", "wv2"] and out[0].product == "S1A_WV_SLC__1SSV_TEST"
    for o, m in zip(out, ms, strict=True):
        a = bilinear(m["cal"], m["dn"].shape)
        expected = power(m["dn"]) / a**2
        assert o.sigma0.dtype == np.float32 and o.sigma0.shape == m["dn"].shape
        np.testing.assert_allclose(o.sigma0, expected, rtol=1e-5)
        assert o.polarisation == "VV" and o.product_type == "SLC" and not o.denoised
    # a planted sigma0 field, quantised to DN = rint(sqrt(sigma0) A), comes back to within the
    # quantisation: |d sigma0| / sigma0 <= 2 * 0.5 / amplitude (+ float32 rounding)
    m = ms[0]
    planted = np.random.default_rng(1).uniform(0.05, 0.2, m["dn"].shape)
    amplitude = np.sqrt(planted) * bilinear(m["cal"], planted.shape)
    m["dn"] = np.rint(amplitude).astype(np.complex64)
    safe2 = write_product(safe.parent / "planted", "S1A_WV_SLC__1SSV_P", [m])
    back = read_s1_safe(safe2, denoise=False)[0].sigma0
    assert np.all(np.abs(back - planted) <= planted * (1.0 / amplitude + 1e-5))


def test_metadata_from_annotation(wv):
    safe, _ = wv
    o = read_s1_safe(safe, swath="wv1", denoise=False)[0]
    assert o.incidence == pytest.approx(23.4) and o.start_time == "2016-01-01T00:01:02.500000"
    assert o.lat == pytest.approx(-30.0 + 0.01 * 11.5 - 0.002 * 14.5)
    assert o.lon == pytest.approx(179.99 + 0.004 * 14.5 - 360.0)  # across the dateline
    assert (o.range_spacing, o.azimuth_spacing) == (2.5, 4.0)
    assert o.ground_range_spacing == pytest.approx(2.5 / np.sin(np.radians(23.4)))
    assert o.name.startswith("s1a-wv1-slc-vv-") and o.name.endswith("-001")


def test_noise_removal_subtracts_the_planted_noise(wv):
    safe, ms = wv
    out = read_s1_safe(safe, denoise=True, floor=1e-5)
    for o, m in zip(out, ms, strict=True):
        shape = m["dn"].shape
        eta = bilinear(m["noise"], shape)
        for first, last, c0, c1, lines, lut in m.get("azimuth", []):
            rows = np.arange(shape[0])
            factor = np.where((rows >= first) & (rows <= last), np.interp(rows, lines, lut), 1.0)
            eta[:, c0 : c1 + 1] *= factor[:, None]
        expected = np.maximum((power(m["dn"]) - eta) / bilinear(m["cal"], shape) ** 2, 1e-5)
        assert o.denoised
        np.testing.assert_allclose(o.sigma0, expected, rtol=1e-5)
    # the azimuth blocks matter: the range LUT alone gives other values
    m = ms[0]
    range_only = (power(m["dn"]) - bilinear(m["noise"], (24, 30))) / bilinear(
        m["cal"], (24, 30)
    ) ** 2
    assert np.abs(out[0].sigma0 - np.maximum(range_only, 1e-5)).max() > 1e-3


def test_noise_floor_and_old_noise_format(tmp_path):
    rng = np.random.default_rng(2)
    m = measurement(rng, (20, 30), kind="GRD", swath="iw", noise_format="old")
    m["dn"][3, 4] = 0  # power 0 < eta: clipped to the floor
    safe = write_product(tmp_path, "S1A_IW_GRDH_1SDV_OLD", [m])
    o = read_s1_safe(safe, floor=1e-4)[0]
    expected = (power(m["dn"]) - bilinear(m["noise"], (20, 30))) / bilinear(m["cal"], (20, 30)) ** 2
    np.testing.assert_allclose(o.sigma0, np.maximum(expected, 1e-4), rtol=1e-5)
    assert o.sigma0[3, 4] == np.float32(1e-4) and o.product_type == "GRD"
    (safe / "annotation" / "calibration" / f"noise-{o.name}.xml").unlink()
    with pytest.warns(UserWarning, match="no noise file"):
        assert not read_s1_safe(safe)[0].denoised


def test_multilook_equals_block_means(wv, monkeypatch):
    safe, _ = wv
    full = read_s1_safe(safe, swath="wv1", denoise=False)[0]
    looked = read_s1_safe(safe, swath="wv1", denoise=False, multilook=(5, 4))[0]
    assert looked.sigma0.shape == (4, 7)  # 24 // 5, 30 // 4: partial blocks dropped
    means = full.sigma0[:20, :28].astype(np.float64).reshape(4, 5, 7, 4).mean(axis=(1, 3))
    np.testing.assert_allclose(looked.sigma0, means, rtol=1e-5)
    assert (looked.range_spacing, looked.azimuth_spacing, looked.looks) == (10.0, 20.0, (5, 4))
    # reading in blocks of a few lines gives the same images
    import eoforge.io.sentinel1_safe as s1

    whole = [read_s1_safe(safe, multilook=ml)[0].sigma0 for ml in (None, (5, 4))]
    monkeypatch.setattr(s1, "_BLOCK_PIXELS", 70)  # 2 lines (or one 5-line block) at a time
    for ml, ref in zip((None, (5, 4)), whole, strict=True):
        np.testing.assert_array_equal(read_s1_safe(safe, multilook=ml)[0].sigma0, ref)
    with pytest.raises(InputError, match="multilook"):
        read_s1_safe(safe, multilook=(0, 2))
    with pytest.raises(InputError, match="multilook"):
        read_s1_safe(safe, multilook=100)


def test_two_int16_bands_read_like_complex(tmp_path):
    rng = np.random.default_rng(3)
    m = measurement(rng, (20, 30), noise=None)
    safe = write_product(tmp_path / "a", "S1A_WV_SLC__1SSV_C", [m])
    iq = dict(m, dn=np.stack([m["dn"].real, m["dn"].imag]).astype(np.int16))
    safe_iq = write_product(tmp_path / "b", "S1A_WV_SLC__1SSV_C", [iq])
    a = read_s1_safe(safe, denoise=False)[0].sigma0
    b = read_s1_safe(safe_iq, denoise=False)[0].sigma0
    np.testing.assert_array_equal(a, b)


def test_polarisation_selection(tmp_path):
    rng = np.random.default_rng(4)
    ms = [measurement(rng, kind="GRD", swath="iw", pol=p) for p in ("vh", "vv")]
    safe = write_product(tmp_path, "S1A_IW_GRDH_1SDV_TEST", ms)
    assert [o.polarisation for o in read_s1_safe(safe)] == ["VH", "VV"]
    (vh,) = read_s1_safe(safe, polarisation="vh", denoise=False)
    assert vh.polarisation == "VH"
    np.testing.assert_allclose(vh.sigma0, power(ms[0]["dn"]) / bilinear(ms[0]["cal"], (24, 30))
                               ** 2, rtol=1e-5)  # fmt: skip
    with pytest.raises(InputError, match=r"no measurement for polarisation='HH'.*VH/iw"):
        read_s1_safe(safe, polarisation="HH")
    with pytest.raises(InputError, match="polarisation='XY'"):
        read_s1_safe(safe, polarisation="XY")


def test_errors(wv, tmp_path):
    safe, _ = wv
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_s1_safe(tmp_path / "nope.SAFE")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InputError, match="not a Sentinel-1 SAFE product"):
        read_s1_safe(plain)
    broken = tmp_path / "broken" / safe.name
    shutil.copytree(safe, broken)
    name = list_measurements(broken, swath="wv2")[0].name
    (broken / "annotation" / "calibration" / f"calibration-{name}.xml").unlink()
    with pytest.raises(DataNotFoundError, match=f"calibration-{name}.xml"):
        read_s1_safe(broken)
    assert len(read_s1_safe(broken, swath="wv1")) == 1  # the other measurement still reads
    rng = np.random.default_rng(5)
    bad = write_product(tmp_path / "bad", "S1A_WV_SLC__1SSV_BAD",
                        [measurement(rng, (24, 30), annotated_shape=(25, 30))])  # fmt: skip
    with pytest.raises(ShapeError, match="24 x 30 pixels but its annotation says 25 x 30"):
        read_s1_safe(bad)


def test_load_imagettes_from_safe_folders(wv, tmp_path):
    safe, _ = wv
    with pytest.raises(ShapeError, match=r"2 sizes.*24x30.*26x32.*crop"):
        load_imagettes(safe)
    stems = [m.name for m in list_measurements(safe)]
    csv = tmp_path / "labels.csv"
    csv.write_text(f"filename,class,wind_speed\n{stems[1]}.png,rain cells,7.5\n")
    s = load_imagettes(safe.parent, labels=csv, crop=(20, 28), denoise=False)
    assert s.images.shape == (2, 20, 28) and s.images.dtype == np.float32
    full = read_s1_safe(safe, swath="wv2", denoise=False)[0].sigma0  # 26 x 32 -> rows 3..22
    np.testing.assert_array_equal(s.images[1], full[3:23, 2:30])
    assert list(s.labels) == [-1, CLASSES.index("rain_cells")] and s.wind_speed[1] == 7.5
    np.testing.assert_allclose(s.incidence, [23.4, 36.6], rtol=1e-6)
    assert s.attrs["files"] == [f"{safe.name}/measurement/{n}.tiff" for n in stems]
    assert s.attrs["swath"] == ["wv1", "wv2"] and s.attrs["polarisation"] == "VV"
    with pytest.raises(InputError, match=r"applies to Sentinel-1 \.SAFE"):
        load_imagettes(tmp_path / "data" / safe.name / "measurement", polarisation="VV")
    with pytest.raises(InputError, match="db=True"):
        load_imagettes(safe.parent, db=True, crop=20)


def test_load_imagettes_needs_one_polarisation(tmp_path):
    rng = np.random.default_rng(6)
    ms = [measurement(rng, kind="GRD", swath="iw", pol=p) for p in ("vh", "vv")]
    write_product(tmp_path / "d", "S1A_IW_GRDH_1SDV_TEST", ms)
    with pytest.raises(InputError, match=r"several polarisations \['VH', 'VV'\]"):
        load_imagettes(tmp_path / "d")
    assert len(load_imagettes(tmp_path / "d", polarisation="VV")) == 1


def test_cli_import_of_safe_products(wv, tmp_path):
    from eoforge.cli.main import app

    safe, _ = wv
    out = tmp_path / "real.zarr"
    runner = CliRunner()
    res = runner.invoke(app, ["sar", "import", str(safe.parent), "--out", str(out),
                              "--crop", "10,14", "--multilook", "2", "--polarisation", "VV"])  # fmt: skip
    assert res.exit_code == 0, res.output
    info = runner.invoke(app, ["sar", "info", str(out)])
    assert info.exit_code == 0, info.output
    assert re.search(r"^total\s+2$", info.output, re.M)
    assert "2 of 10x14 pixels" in info.output and "23.4 deg: 1, 36.6 deg: 1" in info.output
    back = load_wv(out)
    looked = read_s1_safe(safe, swath="wv1", multilook=2)[0].sigma0  # 12 x 15 -> rows 1..10
    np.testing.assert_array_equal(back.images[0], looked[1:11, 0:14])
    res = runner.invoke(app, ["sar", "import", str(safe.parent), "--out", str(out)])
    assert res.exit_code == 2 and "--overwrite" in res.output  # an existing store is kept
    res = runner.invoke(app, ["sar", "import", str(safe.parent), "--out", str(out),
                              "--overwrite"])  # fmt: skip
    assert res.exit_code == 2 and "crop" in res.output
    assert load_wv(out).images.shape == back.images.shape  # the failed import left it intact


def test_crop_also_applies_to_loose_imagettes(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(30.0).reshape(5, 6))
    np.save(tmp_path / "b.npy", np.ones((4, 4)))
    with pytest.raises(ShapeError, match="crop"):
        load_imagettes(tmp_path)
    s = load_imagettes(tmp_path, crop=(3, 4))
    np.testing.assert_array_equal(s.images[0], np.arange(30.0).reshape(5, 6)[1:4, 1:5])
    with pytest.raises(ShapeError, match=r"crop=5x5 is larger than 1 imagette\(s\), e.g. b.npy"):
        load_imagettes(tmp_path, crop=5)
