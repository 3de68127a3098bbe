"""Interval estimates of the detection benchmark (:mod:`.evaluate`).

- POD at one emission rate is a binomial proportion: its interval is Wilson's score interval,
  which keeps its coverage at 0 or n detections out of n, where the normal interval collapses.
- False plumes cluster in a few hard scenes, so their count is over-dispersed: the FP-rate
  interval comes from a bootstrap that resamples whole plume-free scenes, each keeping its
  counts at every threshold of the scan.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm

from eoforge.core.seeding import as_generator


def wilson_interval(hits: int, n: int, confidence: float = 0.9) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion hits / n (two-sided ``confidence``)."""
    if n <= 0:
        return (0.0, 1.0)
    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def fp_bootstrap(counts: np.ndarray, seed: int, n_boot: int = 2000) -> np.ndarray:
    """Bootstrap totals (n_boot, T) of per-scene false-plume counts (n_scenes, T).

    Scenes are resampled with replacement, each keeping its counts at every threshold.
    """
    counts = np.asarray(counts)
    idx = as_generator(seed).integers(0, counts.shape[0], size=(n_boot, counts.shape[0]))
    return np.stack([counts[row].sum(axis=0) for row in idx])
