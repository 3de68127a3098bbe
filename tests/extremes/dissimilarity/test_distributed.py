"""Dissimilarity matrices on dask.distributed equal the in-memory ones (in-process LocalCluster)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from eoforge.core.errors import InputError  # noqa: E402
from eoforge.extremes.dissimilarity.distributed import dissimilarity_matrix_dask  # noqa: E402
from eoforge.extremes.dissimilarity.matrix import dissimilarity_matrix  # noqa: E402
from eoforge.extremes.simulate.regions import simulate_regions  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    cl = distributed.Client(cluster)
    yield cl
    cl.close()
    cluster.close()


@pytest.fixture(scope="module")
def maxima() -> np.ndarray:
    x = simulate_regions(57, 40, 3, shapes=(0.0, 0.1, 0.2), random_state=0).maxima
    x[np.random.default_rng(1).random(x.shape) < 0.05] = np.nan
    return x


@pytest.mark.parametrize("method", ["rfa-madogram", "fmadogram", "pwm-ratio"])
def test_dask_equals_in_memory(client, maxima: np.ndarray, method: str) -> None:
    ref = dissimilarity_matrix(maxima, method)
    calls: list[tuple[int, int]] = []
    got = dissimilarity_matrix_dask(
        maxima, method, client, block_size=10, progress=lambda a, b: calls.append((a, b))
    )
    assert np.array_equal(got, ref)
    assert calls[-1] == (21, 21) and len(calls) == 21  # 6 row blocks -> 6*7/2 tiles


def test_dask_scheduler_address_and_memmap_output(client, maxima, tmp_path: Path) -> None:
    n = maxima.shape[1]
    out = np.lib.format.open_memmap(tmp_path / "d.npy", mode="w+", dtype=np.float32, shape=(n, n))
    res = dissimilarity_matrix_dask(maxima, client=client.scheduler.address, block_size=16, out=out)
    assert res is out
    out.flush()
    ref = dissimilarity_matrix(maxima, dtype=np.float32)
    assert np.array_equal(np.load(tmp_path / "d.npy"), ref)


def test_dask_default_client(client, maxima) -> None:
    # client=None picks the running default client (the fixture's)
    ref = dissimilarity_matrix(maxima, "fmadogram")
    assert np.array_equal(dissimilarity_matrix_dask(maxima, "fmadogram", block_size=25), ref)


def test_dask_validates_like_in_memory(client, maxima) -> None:
    bad = maxima.copy()
    bad[:, 4] = 1.0
    with pytest.raises(InputError, match=r"sites \[4\].*constant"):
        dissimilarity_matrix_dask(bad, client=client)
