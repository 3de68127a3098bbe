"""DbNormaliser: closed-form statistics, exact inverse (numpy and torch), persistence, errors."""

import json

import numpy as np
import pytest
import torch

from eoforge.core.errors import InputError
from eoforge.sar.normalise import DbNormaliser


@pytest.fixture()
def images():
    return np.random.default_rng(0).gamma(2.0, 0.05, (6, 16, 16)).astype(np.float32)


def test_fit_learns_db_moments(images):
    norm = DbNormaliser().fit(images)
    db = 10 * np.log10(images.astype(np.float64))
    assert norm.mean_db_ == pytest.approx(db.mean())
    assert norm.std_db_ == pytest.approx(db.std())
    z = norm.transform(images)
    assert z.dtype == np.float32
    assert z.mean() == pytest.approx(0.0, abs=1e-5)
    assert z.std() == pytest.approx(1.0, abs=1e-5)


def test_inverse_is_exact_numpy_and_torch(images):
    norm = DbNormaliser().fit(images)
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(images)), images, rtol=2e-6)
    t = torch.from_numpy(images)
    z = norm.transform(t)
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float32
    np.testing.assert_allclose(z.numpy(), norm.transform(images), rtol=1e-6, atol=1e-6)
    back = norm.inverse_transform(z)
    assert isinstance(back, torch.Tensor)
    torch.testing.assert_close(back, t, rtol=2e-6, atol=0)
    # float64 round trip is exact to machine precision
    x64 = images.astype(np.float64)
    np.testing.assert_allclose(norm.inverse_transform(norm.transform(x64).astype(np.float64)),
                               x64, rtol=2e-6)  # fmt: skip


def test_floor_clips_below(images):
    norm = DbNormaliser(floor=1e-3).fit(images)
    x = np.array([0.0, 1e-5, 1e-3, 0.5])
    back = norm.inverse_transform(norm.transform(x).astype(np.float64))
    np.testing.assert_allclose(back, [1e-3, 1e-3, 1e-3, 0.5], rtol=1e-5)


def test_per_channel_and_json_round_trip():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.gamma(1, 0.01, (4, 1, 8, 8)), rng.gamma(1, 1.0, (4, 1, 8, 8))], 1)
    norm = DbNormaliser(per_channel=True).fit(x)
    assert norm.mean_db_.shape == (2,)
    assert norm.mean_db_[1] - norm.mean_db_[0] == pytest.approx(20.0, abs=1.5)
    z = norm.transform(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    d = json.loads(json.dumps(norm.to_dict()))
    assert d["kind"] == "db"
    again = DbNormaliser.from_dict(d)
    np.testing.assert_array_equal(again.transform(x), z)
    np.testing.assert_allclose(again.inverse_transform(z), x, rtol=1e-5)


def test_errors(images):
    with pytest.raises(InputError, match="not fitted"):
        DbNormaliser().transform(images)
    with pytest.raises(InputError, match="negative"):
        DbNormaliser().fit(-images)
    bad = images.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError, match="non-finite"):
        DbNormaliser().fit(bad)
    norm = DbNormaliser().fit(images)
    with pytest.raises(InputError, match="non-finite"):
        norm.transform(torch.from_numpy(bad))
    with pytest.raises(InputError, match="floor"):
        DbNormaliser(floor=0.0).fit(images)
    with pytest.raises(InputError, match="kind"):
        DbNormaliser.from_dict({"kind": "minmax"})


def test_per_group_statistics_match_subsets_and_invert():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.gamma(1, 0.1, (5, 8, 8)), rng.gamma(1, 0.01, (7, 8, 8))])
    beam = np.array([23.5] * 5 + [36.5] * 7, dtype=np.float32)
    norm = DbNormaliser().fit(x, groups=beam)
    assert norm.groups_.tolist() == [23.5, 36.5]
    ref = [DbNormaliser().fit(x[:5]), DbNormaliser().fit(x[5:])]
    np.testing.assert_allclose(norm.mean_db_, [r.mean_db_ for r in ref])
    np.testing.assert_allclose(norm.std_db_, [r.std_db_ for r in ref])
    z = norm.transform(x, groups=beam)
    np.testing.assert_allclose(z[:5], ref[0].transform(x[:5]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm.transform(x[7], groups=36.5), z[7], rtol=1e-6)
    np.testing.assert_allclose(norm.inverse_transform(z, groups=beam), x, rtol=2e-6)
    zt = norm.transform(torch.from_numpy(x), groups=torch.from_numpy(beam))
    np.testing.assert_allclose(zt.numpy(), z, rtol=1e-6, atol=1e-6)
    again = DbNormaliser.from_dict(json.loads(json.dumps(norm.to_dict())))
    np.testing.assert_array_equal(again.transform(x, groups=beam), z)
    with pytest.raises(InputError, match="groups="):
        norm.transform(x)
    with pytest.raises(InputError, match=r"30\.0"):
        norm.transform(x[:1], groups=30.0)
    with pytest.raises(InputError, match="one group per image"):
        DbNormaliser().fit(x, groups=beam[:3])
