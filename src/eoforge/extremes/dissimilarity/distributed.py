"""Dissimilarity matrices on a dask.distributed cluster (one task per row-block x col-block tile).

The per-site arrays (sorted columns, argsort and rank arrays, or PWM ratios) are built once on
the client and broadcast to the workers; each task computes one upper-triangle tile
D[I, J] (J >= I) with the serial numba kernel (the workers already give one task per thread),
and the client writes D[I, J] and its mirror D[J, I] into the output as tiles arrive. The result
equals :func:`eoforge.extremes.dissimilarity.matrix.dissimilarity_matrix` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.extremes.dissimilarity.blocks import Progress, SitePrep, prepare_sites, upper_block
from eoforge.extremes.dissimilarity.checks import check_maxima, output_matrix

if TYPE_CHECKING:  # dask.distributed is imported when a matrix is computed (slow to import)
    from distributed import Client, LocalCluster


def _tile(prep: SitePrep, method: str, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    return upper_block(prep, method, r0, r1, c0, c1, parallel=False)


def dissimilarity_matrix_dask(
    maxima: np.ndarray,
    method: str = "rfa-madogram",
    client: Client | str | None = None,
    *,
    block_size: int = 512,
    dtype: type | np.dtype = np.float64,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
    min_common_years: int = 10,
) -> np.ndarray:
    """Symmetric dissimilarity matrix computed as tiles on a dask.distributed cluster.

    Same definitions, validation and result as
    :func:`~eoforge.extremes.dissimilarity.matrix.dissimilarity_matrix`.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing.
        method: ``"rfa-madogram"``, ``"fmadogram"`` or ``"pwm-ratio"``.
        client: A ``distributed.Client``, a scheduler address (``"tcp://host:8786"``), or None
            for the current default client (``distributed.get_client()``); with no client
            running, a temporary in-process ``LocalCluster`` is started and closed.
        block_size: Tile side (sites); about n^2 / (2 block_size^2) tasks.
        dtype: float32 or float64 output (when ``out`` is None).
        out: Optional (n_sites, n_sites) array or ``numpy.memmap`` to fill.
        progress: Optional callback ``progress(done_tiles, total_tiles)``.
        min_common_years: Least number of non-missing years per site and per pair.

    Returns:
        The (n_sites, n_sites) matrix (``out`` when given).

    Raises:
        InputError: As :func:`~eoforge.extremes.dissimilarity.matrix.dissimilarity_matrix`.
        ShapeError: If ``out`` has the wrong shape.
    """
    x = check_maxima(maxima, method, min_common_years)
    block_size = int(block_size)
    if block_size < 1:
        raise bad_value("block_size", block_size, "a positive integer")
    out = output_matrix(out, x.shape[1], dtype)
    with _connected(client) as connected:
        _fill_tiles(connected, x, method, block_size, out, progress)
    return out


@contextmanager
def _connected(client: Client | str | None) -> Iterator[Client]:
    """The client to use; one started here (from an address, or a LocalCluster) is closed after."""
    import distributed  # slow to import: only when a matrix is computed on dask

    owned: list[Client | LocalCluster] = []
    if client is None:
        try:
            client = distributed.get_client()
        except ValueError:
            cluster = distributed.LocalCluster(processes=False, dashboard_address=None)
            client = distributed.Client(cluster)
            owned = [client, cluster]
    elif isinstance(client, str):
        client = distributed.Client(client)
        owned = [client]
    try:
        yield client
    finally:
        for obj in owned:
            obj.close()


def _fill_tiles(
    client: Client,
    x: np.ndarray,
    method: str,
    block_size: int,
    out: np.ndarray,
    progress: Progress | None,
) -> None:
    """Submit every upper-triangle tile; write each one and its mirror into ``out`` as it comes."""
    from distributed import as_completed  # slow to import: only when a matrix is computed

    n = x.shape[1]
    # a one-element list: the NamedTuple travels as one object, not element-wise
    [prep] = client.scatter([prepare_sites(x, method)], broadcast=True)
    starts = list(range(0, n, block_size))
    futures = {}
    for a, r0 in enumerate(starts):
        for c0 in starts[a:]:
            r1, c1 = min(r0 + block_size, n), min(c0 + block_size, n)
            fut = client.submit(_tile, prep, method, r0, r1, c0, c1, pure=False)
            futures[fut] = (r0, r1, c0, c1)
    for done, (fut, tile) in enumerate(as_completed(futures, with_results=True), start=1):
        r0, r1, c0, c1 = futures[fut]
        if r0 == c0:
            tile = tile + tile.T
        out[r0:r1, c0:c1] = tile
        out[c0:c1, r0:r1] = tile.T
        if progress is not None:
            progress(done, len(futures))
