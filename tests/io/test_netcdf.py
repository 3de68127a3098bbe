import cftime
import numpy as np
import pytest
import xarray as xr

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.netcdf import open_dataset, read_variable, write_dataset


def _dataset() -> xr.Dataset:
    time = [cftime.DatetimeNoLeap(2000, 1, 1 + d) for d in range(5)]
    lat = np.array([-2.5, 2.5])
    lon = np.array([-177.5, -172.5, -167.5])
    pr = np.random.default_rng(0).gamma(2.0, 3.0, size=(5, 2, 3)).astype(np.float32)
    da = xr.DataArray(
        pr,
        dims=("time", "lat", "lon"),
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"units": "mm/day"},
        name="pr",
    )
    return da.to_dataset()


@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_round_trip_keeps_coordinates(tmp_path, suffix):
    ds = _dataset()
    path = write_dataset(ds, tmp_path / f"pr{suffix}")
    da = read_variable(path, "pr", dims=("time", "lat", "lon")).load()
    np.testing.assert_array_equal(da.values, ds.pr.values)
    np.testing.assert_array_equal(da.lat.values, ds.lat.values)
    np.testing.assert_array_equal(da.lon.values, ds.lon.values)
    assert isinstance(da.time.values[0], cftime.DatetimeNoLeap)
    assert da.attrs["units"] == "mm/day"


def test_errors(tmp_path):
    path = write_dataset(_dataset(), tmp_path / "pr.nc")
    with pytest.raises(DataNotFoundError, match=r"holds \['pr'\]"):
        read_variable(path, "tas")
    with pytest.raises(ShapeError, match="missing \\['site'\\]"):
        read_variable(path, "pr", dims=("time", "site"))
    with pytest.raises(DataNotFoundError):
        open_dataset(tmp_path / "none.nc")
    (tmp_path / "junk.nc").write_text("junk")
    with pytest.raises(InputError, match="NetCDF or Zarr"):
        open_dataset(tmp_path / "junk.nc")
    with pytest.raises(InputError, match="named DataArray"):
        write_dataset(xr.DataArray([1, 2]), tmp_path / "x.nc")
