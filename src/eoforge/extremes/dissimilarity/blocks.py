"""Blocks of a dissimilarity matrix, shared by the in-memory, on-disk and dask drivers.

A validated (T, n) maxima array is prepared once per site (:func:`prepare_sites`: sorted columns
for the madograms, omega = (3 b2 - b0) / (2 b1 - b0) for the PWM ratio); :func:`upper_block`
computes one tile of the upper triangle with the compiled kernels of :mod:`._kernels`.
:func:`row_blocks` walks the rows in blocks, yielding D[r0:r1, r0:] with its diagonal tile
mirrored; the drivers mirror the rest, into an array
(:func:`~eoforge.extremes.dissimilarity.matrix.dissimilarity_matrix`) or a ``.npy`` file
(:func:`~eoforge.extremes.dissimilarity.disk.dissimilarity_matrix_to_disk`). The dask driver
(:func:`~eoforge.extremes.dissimilarity.distributed.dissimilarity_matrix_dask`) schedules
:func:`upper_block` tiles itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.extremes.dissimilarity import _kernels
from eoforge.extremes.margins.pwm import pwm_ratio

Progress = Callable[[int, int], None]


SitePrep = _kernels.Prepared | np.ndarray
"""What :func:`prepare_sites` returns: sorted-site arrays (madograms) or omega per site (PWM)."""


def prepare_sites(x: np.ndarray, method: str) -> SitePrep:
    """Per-site arrays of a validated (T, n) array: sorted columns (madograms) or omega (PWM)."""
    if method == "pwm-ratio":
        return np.array([pwm_ratio(col) for col in x.T])
    return _kernels.prepare_rfa(x, normalise=method == "rfa-madogram")


def upper_block(
    prep: SitePrep,
    method: str,
    r0: int,
    r1: int,
    c0: int,
    c1: int,
    parallel: bool = True,
) -> np.ndarray:
    """Block rows [r0, r1) x cols [c0, c1) of the matrix, entries with j <= i set to 0."""
    if method == "pwm-ratio":
        om = np.asarray(prep)
        blk = np.abs(om[r0:r1, None] - om[None, c0:c1])
        blk[np.arange(r0, r1)[:, None] >= np.arange(c0, c1)[None, :]] = 0.0
        return blk
    if not isinstance(prep, _kernels.Prepared):
        raise TypeError(f"method={method!r} needs the sorted-site arrays of prepare_sites")
    return _kernels.block(prep, method, r0, r1, c0, c1, parallel=parallel)


def row_blocks(
    x: np.ndarray, method: str, block_size: int, progress: Progress | None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (r0, block) with block = D[r0:r1, r0:] fully symmetric on its diagonal tile."""
    block_size = int(block_size)
    if block_size < 1:
        raise bad_value("block_size", block_size, "a positive integer")
    n = x.shape[1]
    prep = prepare_sites(x, method)
    starts = list(range(0, n, block_size))
    for k, r0 in enumerate(starts):
        r1 = min(r0 + block_size, n)
        blk = upper_block(prep, method, r0, r1, r0, n)
        tile = blk[:, : r1 - r0]
        tile += tile.T
        yield r0, blk
        if progress is not None:
            progress(k + 1, len(starts))
