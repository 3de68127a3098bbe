"""Clustering sites on a precomputed dissimilarity matrix, and combining or comparing partitions.

- :mod:`.kmedoids` (+ :mod:`._kmedoids_kernels`, numba): k-medoids (BUILD, FasterPAM, PAM).
- :mod:`.selection`: the number of clusters K by the average silhouette width.
- :mod:`.consensus`: consensus of several partitions (mean dissimilarity, co-association).
- :mod:`.partitions`: labels with masked sites, and comparing two partitions (adjusted Rand
  index, variation of information, label matching).

A new clustering method takes the (n, n) matrix and returns labels, as :class:`.kmedoids.KMedoids`.
"""
