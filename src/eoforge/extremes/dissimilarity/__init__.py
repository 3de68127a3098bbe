"""Pairwise dissimilarities of sites from their annual maxima, and the matrices built from them.

- :mod:`.pair`: one pair of sites (the RFA-madogram with a fixed, mean-ratio or minimised scale).
- :mod:`.checks`: input checks shared by every driver (usable sites, common years, dtypes) and
  ``METHODS``, the names of the dissimilarities.
- :mod:`.blocks` (+ :mod:`._kernels`, numba): per-site preparation and tiles of the upper triangle.
- :mod:`.matrix` (in memory), :mod:`.disk` (a ``.npy`` file in bounded memory),
  :mod:`.distributed` (tiles on dask.distributed): the drivers.

A new dissimilarity adds its kernel to :mod:`._kernels`, its preparation and tile to
:mod:`.blocks` and its name to ``checks.METHODS``; every driver then offers it.
"""
