import numpy as np
import pytest

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.raster import GeoInfo, read_geotiff, write_geotiff


def test_geotiff_round_trip_keeps_georeferencing(tmp_path):
    rng = np.random.default_rng(0)
    arr = rng.random((2, 300, 270)).astype(np.float32)
    info = GeoInfo.from_bounds(
        500000.0, 4200000.0, 20.0, crs="EPSG:32631", nodata=-9999.0, descriptions=("B11", "B12")
    )
    path = write_geotiff(tmp_path / "a.tif", arr, info)
    back, info2 = read_geotiff(path)
    np.testing.assert_array_equal(back, arr)
    assert info2.crs.to_epsg() == 32631
    assert info2.transform == info.transform
    assert info2.nodata == -9999.0
    assert info2.descriptions == ("B11", "B12")
    x, y = info2.coordinates(arr.shape[1:])
    assert x[0] == pytest.approx(500010.0) and y[0] == pytest.approx(4199990.0)
    assert x[-1] - x[0] == pytest.approx(20.0 * 269)


def test_geotiff_2d_and_errors(tmp_path):
    info = GeoInfo.from_bounds(0.0, 0.0, 1.0, crs="EPSG:4326")
    path = write_geotiff(tmp_path / "b.tif", np.ones((4, 5), dtype=np.uint16), info)
    arr, _ = read_geotiff(path)
    assert arr.shape == (1, 4, 5) and arr.dtype == np.uint16
    with pytest.raises(ShapeError, match="bands"):
        write_geotiff(
            tmp_path / "c.tif",
            np.ones((3, 4, 5)),
            GeoInfo(info.transform, info.crs, descriptions=("a",)),
        )
    with pytest.raises(ShapeError, match="shape"):
        write_geotiff(tmp_path / "d.tif", np.ones(5), info)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        read_geotiff(tmp_path / "missing.tif")
    (tmp_path / "bad.tif").write_text("not a tiff")
    with pytest.raises(InputError, match="readable raster"):
        read_geotiff(tmp_path / "bad.tif")
    assert not (tmp_path / "c.tif").exists()
