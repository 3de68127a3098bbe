"""Reading folders of real-format imagettes (GeoTIFF, PNG, NetCDF, .npy) with a labels CSV."""

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from affine import Affine

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.raster import GeoInfo, write_geotiff
from eoforge.sar.labels import read_labels
from eoforge.sar.readers import load_imagettes, read_imagette
from eoforge.sar.wv import CLASSES


@pytest.fixture()
def arrays():
    rng = np.random.default_rng(0)
    return [rng.gamma(1.0, 0.05, (8, 8)).astype(np.float32) for _ in range(4)]


@pytest.fixture()
def folder(tmp_path, arrays):
    root = tmp_path / "imagettes"
    (root / "sub").mkdir(parents=True)
    write_geotiff(
        root / "a_tif.tif", arrays[0], GeoInfo(transform=Affine(50, 0, 0, 0, -50, 0), crs=None)
    )
    np.save(root / "b_npy.npy", arrays[1])
    xr.Dataset({"sigma0": (("y", "x"), arrays[2]), "lat": ("y", np.arange(8.0))}).to_netcdf(
        root / "sub" / "c_nc.nc"
    )
    mpimg.imsave(root / "d_png.png", arrays[3] / arrays[3].max(), cmap="gray", vmin=0, vmax=1)
    (root / "notes.txt").write_text("ignored")
    return root


def test_reads_all_formats_with_labels(folder, arrays, tmp_path):
    csv = tmp_path / "labels.csv"
    csv.write_text("filename,class,wind_speed,hs\n"
                   "a_tif.tif,Pure Ocean Waves,7.5,2.0\n"
                   "c_nc.png,sea-ice,,\n"
                   "d_png.png,9,3.0,1.0\n")  # fmt: skip
    s = load_imagettes(folder, labels=csv)
    assert s.attrs["files"] == ["a_tif.tif", "b_npy.npy", "d_png.png", "sub/c_nc.nc"]
    assert s.images.shape == (4, 8, 8) and s.images.dtype == np.float32
    np.testing.assert_array_equal(s.images[0], arrays[0])
    np.testing.assert_array_equal(s.images[1], arrays[1])
    np.testing.assert_array_equal(s.images[3], arrays[2])
    png = s.images[2]  # grey levels proportional to the array
    np.testing.assert_allclose(png, arrays[3] / arrays[3].max(), atol=3 / 255)  # colormap + 8 bits
    assert list(s.labels) == [0, -1, CLASSES.index("oceanic_front"), CLASSES.index("sea_ice")]
    assert s.wind_speed[0] == 7.5 and np.isnan(s.wind_speed[1]) and np.isnan(s.hs[3])
    assert s.hs[2] == 1.0 and np.all(s.duplicate_of == -1)


def test_headerless_csv_and_db_files(tmp_path):
    root = tmp_path / "db"
    root.mkdir()
    np.save(root / "x.npy", np.full((4, 4), -20.0))
    (tmp_path / "l.csv").write_text("x.npy;wind_streaks\n")
    s = load_imagettes(root, labels=tmp_path / "l.csv", db=True)
    np.testing.assert_allclose(s.images, 0.01, rtol=1e-6)
    assert s.labels[0] == CLASSES.index("wind_streaks")
    assert read_labels(tmp_path / "l.csv") == {"x": {"label": 1.0}}


def test_clear_errors(folder, tmp_path):
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_imagettes(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError, match="no imagettes"):
        load_imagettes(empty)
    np.save(folder / "e_big.npy", np.ones((9, 9)))
    with pytest.raises(ShapeError, match="sizes"):
        load_imagettes(folder)
    (folder / "e_big.npy").unlink()
    bad = tmp_path / "bad.csv"
    bad.write_text("a_tif.tif,whales\n")
    with pytest.raises(InputError, match="whales"):
        load_imagettes(folder, labels=bad)
    neg = tmp_path / "neg.npy"
    np.save(neg, -np.ones((4, 4)))
    with pytest.raises(InputError, match="negative"):
        read_imagette(neg)
    nan = tmp_path / "nan.npy"
    np.save(nan, np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="NaN"):
        read_imagette(nan)
    with pytest.raises(ShapeError):
        np.save(tmp_path / "cube.npy", np.ones((2, 4, 4)))
        read_imagette(tmp_path / "cube.npy")


def test_labels_from_class_folders(tmp_path):
    for name in ("Rain Cells", "sea_ice"):
        (tmp_path / name).mkdir()
        np.save(tmp_path / name / "x.npy", np.ones((4, 4)))
    np.save(tmp_path / "loose.npy", np.ones((4, 4)))
    s = load_imagettes(tmp_path, labels="folders")
    assert s.attrs["files"] == ["Rain Cells/x.npy", "loose.npy", "sea_ice/x.npy"]
    assert list(s.labels) == [CLASSES.index("rain_cells"), -1, CLASSES.index("sea_ice")]
    (tmp_path / "whales").mkdir()
    np.save(tmp_path / "whales" / "y.npy", np.ones((4, 4)))
    with pytest.raises(InputError, match="whales"):
        load_imagettes(tmp_path, labels="folders")
