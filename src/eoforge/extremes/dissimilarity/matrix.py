"""The dissimilarity matrix of many sites in memory (or into a user ``numpy.memmap``).

Methods (T_ij pairwise-complete years, ecdfs from each site's own non-missing years; the
definitions and estimators are those of :mod:`.pair`):

* ``"rfa-madogram"``: D_ij = 1/(2 T_ij) sum_t |G_j(Y_i,t) - G_i(Y_j,t)|, Y = M / mean(M);
* ``"fmadogram"``: d_ij = 1/(2 T_ij) sum_t |F_i(M_i,t) - F_j(M_j,t)| (Bernard et al. 2013);
* ``"pwm-ratio"``: |omega_i - omega_j|, omega = (3 b2 - b0) / (2 b1 - b0) (Le Gall et al. 2022).

The matrix is computed by row blocks (:mod:`.blocks`) with the compiled kernels of
:mod:`._kernels` (upper triangle only, mirrored).
"""

from __future__ import annotations

import numpy as np

from eoforge.extremes.dissimilarity.blocks import Progress, row_blocks
from eoforge.extremes.dissimilarity.checks import check_maxima, output_matrix


def dissimilarity_matrix(
    maxima: np.ndarray,
    method: str = "rfa-madogram",
    *,
    block_size: int = 256,
    dtype: type | np.dtype = np.float64,
    out: np.ndarray | None = None,
    progress: Progress | None = None,
    min_common_years: int = 10,
) -> np.ndarray:
    """Symmetric (n_sites, n_sites) dissimilarity matrix of annual maxima, zero diagonal.

    Methods (T_ij pairwise-complete years, ecdfs from each site's own non-missing years):

    * ``"rfa-madogram"``: D_ij = 1/(2 T_ij) sum_t |G_j(Y_i,t) - G_i(Y_j,t)|, Y = M / mean(M)
      (mean-ratio scale c).
    * ``"fmadogram"``: d_ij = 1/(2 T_ij) sum_t |F_i(M_i,t) - F_j(M_j,t)| (Bernard et al. 2013).
    * ``"pwm-ratio"``: |omega_i - omega_j| (Le Gall et al. 2022).

    Row blocks of ``block_size`` sites are computed in parallel (numba, all threads of
    ``numba.get_num_threads()``); only the upper triangle is computed, then mirrored.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing.
        method: One of ``METHODS``.
        block_size: Rows per block (memory ~ block_size * n_sites * 8 bytes).
        dtype: float32 or float64 output.
        out: Optional (n_sites, n_sites) array or ``numpy.memmap`` to fill (its dtype wins).
        progress: Optional callback ``progress(done_blocks, total_blocks)``.
        min_common_years: Least number of non-missing years per site and per pair.

    Returns:
        The matrix (``out`` when given).

    Raises:
        InputError: Unknown method, unusable sites (named, with the fix), too few common years.
        ShapeError: Bad ``maxima`` or ``out`` shape.
    """
    x = check_maxima(maxima, method, min_common_years)
    out = output_matrix(out, x.shape[1], dtype)
    for r0, blk in row_blocks(x, method, block_size, progress):
        r1 = r0 + blk.shape[0]
        out[r0:r1, r0:] = blk
        out[r0:, r0:r1] = blk.T
    return out
