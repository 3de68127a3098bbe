"""The dissimilarity matrix straight to a ``.npy`` file, in bounded memory.

:func:`dissimilarity_matrix_to_disk` writes the row blocks of :mod:`.blocks` with
``os.pwrite`` into a temporary file that is renamed into place once complete; the resident memory
stays at about one block whatever the number of sites (20,000+). The in-memory driver is
:func:`~eoforge.extremes.dissimilarity.matrix.dissimilarity_matrix` (that one also fills a user
``numpy.memmap``).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from eoforge.extremes.dissimilarity.blocks import Progress, row_blocks
from eoforge.extremes.dissimilarity.checks import check_dtype, check_maxima


def dissimilarity_matrix_to_disk(
    maxima: np.ndarray,
    path: str | os.PathLike,
    method: str = "rfa-madogram",
    *,
    block_size: int = 256,
    dtype: type | np.dtype = np.float32,
    progress: Progress | None = None,
    min_common_years: int = 10,
) -> Path:
    """Write the matrix of :func:`.dissimilarity_matrix` to a ``.npy`` file in bounded memory.

    Rows are written with ``os.pwrite`` (no memory map, so the resident memory stays at about
    one block, ``block_size * n_sites * 8`` bytes, whatever n). The file appears atomically:
    a temporary file in the same folder is renamed (``os.replace``) once complete. Read it back
    with ``numpy.load(path, mmap_mode="r")``. n = 20,000 in float32 takes 1.6 GB on disk.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing.
        path: Destination ``.npy`` file.
        method: One of ``METHODS``.
        block_size: Rows per block.
        dtype: float32 (default) or float64.
        progress: Optional callback ``progress(done_blocks, total_blocks)``.
        min_common_years: Least number of non-missing years per site and per pair.

    Returns:
        The path written.
    """
    x = check_maxima(maxima, method, min_common_years)
    dt = check_dtype(dtype)
    path = Path(path)
    n = x.shape[1]
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        mm = np.lib.format.open_memmap(tmp, mode="w+", dtype=dt, shape=(n, n))
        offset, isz = mm.offset, dt.itemsize
        del mm  # header written, data never touched (sparse file, no resident pages)
        with open(tmp, "r+b") as f:
            fno = f.fileno()
            for r0, blk in row_blocks(x, method, block_size, progress):
                b = blk.astype(dt)
                r1 = r0 + b.shape[0]
                for r in range(r0, r1):  # full rows [r0, n) of the block's own rows
                    os.pwrite(fno, b[r - r0].tobytes(), offset + (r * n + r0) * isz)
                bt = np.ascontiguousarray(b.T)
                for r in range(r1, n):  # mirrored part: D[r, r0:r1] = D[r0:r1, r]
                    os.pwrite(fno, bt[r - r0].tobytes(), offset + (r * n + r0) * isz)
            f.flush()
            os.fsync(fno)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path
