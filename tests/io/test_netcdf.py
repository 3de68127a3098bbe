import cftime
import numpy as np
import pytest
import xarray as xr

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.io.netcdf import load_variable, open_dataset, read_variable, write_dataset


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
    with pytest.raises(InputError, match=r"junk\.nc' is not a NetCDF file"):
        open_dataset(tmp_path / "junk.nc")
    with pytest.raises(InputError, match="named DataArray"):
        write_dataset(xr.DataArray([1, 2]), tmp_path / "x.nc")


def _one_line(err: pytest.ExceptionInfo, path) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "http" not in msg, msg
    assert repr(str(path)) in msg, msg
    return msg


def test_unreadable_files_are_one_line_errors_naming_file_and_fix(tmp_path):
    good = write_dataset(_dataset(), tmp_path / "pr.nc")
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(np.random.default_rng(0).bytes(4096))  # xarray's error lists URLs
    with pytest.raises(InputError) as err:
        open_dataset(garbage)
    assert "pass a NetCDF file (.nc) or a Zarr store" in _one_line(err, garbage)
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError) as err:
        open_dataset(truncated)
    assert "truncated or corrupt" in _one_line(err, truncated)
    for name in ("empty.zarr", "folder"):
        (tmp_path / name).mkdir()
        with pytest.raises(InputError) as err:
            open_dataset(tmp_path / name)
        assert "not a Zarr store" in _one_line(err, tmp_path / name)


def test_corrupt_zarr_chunks_are_named_when_loading(tmp_path):
    store = write_dataset(_dataset(), tmp_path / "pr.zarr")
    chunks = [p for p in (store / "pr").rglob("*") if p.is_file() and "zarr" not in p.name]
    for chunk in chunks:
        if not chunk.name.startswith("."):
            chunk.write_bytes(b"garbage")
    assert read_variable(store, "pr").shape == (5, 2, 3)  # metadata still reads
    with pytest.raises(InputError, match="could not read the values of 'pr'") as err:
        load_variable(store, "pr")
    assert "write the file again" in _one_line(err, store)
    np.testing.assert_array_equal(
        load_variable(write_dataset(_dataset(), tmp_path / "ok.nc"), "pr").values,
        _dataset().pr.values,
    )
