"""Threshold scans of the detection benchmark: candidate counts, hits and the operating point.

For a score map s (the detector's probability, or the MBMP column of the baseline) and each
threshold t of a grid, the candidate plumes are those of :mod:`eoforge.methane.detect.candidates`
(8-connected components of {s > t} with a minimum area, then the context veto for the detector);
a plume scene is a hit at t when a candidate overlaps its true mask. From the plume-free scenes,
FP(t) = (number of candidates) / (scanned area) x 100 km2; the operating point is the lowest t
with FP(t) (or its bootstrap c-quantile) within the budget. POD(Q) is the hit fraction at rate Q
and Q50 the rate where POD crosses 50 %, interpolated linearly in log Q.
"""

from __future__ import annotations

import numpy as np

from eoforge.methane.detect.candidates import candidate_plumes
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.evaluate.heldout import Changes


def detector_thresholds(config: EvaluateConfig) -> np.ndarray:
    """The probability grid of the scan (dense near 0 and 1), with a fixed threshold added."""
    t_det = np.concatenate([np.geomspace(0.002, 0.04, 8), np.linspace(0.05, 0.9, 35),
                            1.0 - np.logspace(-1, -4, 25)])  # fmt: skip
    if config.threshold is not None:
        t_det = np.unique(np.append(t_det, config.threshold))
    return t_det


def baseline_thresholds() -> np.ndarray:
    """The MBMP column grid of the baseline's scan (mol/m2)."""
    return np.concatenate([np.linspace(0.05, 4.0, 80), np.geomspace(4.5, 40.0, 20)])


def scan(
    score: np.ndarray,
    truth: np.ndarray | None,
    thresholds: np.ndarray,
    min_area: int,
    changes: Changes | None = None,
    max_change: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Per threshold: (number of candidate plumes, detected?) of one map.

    Args:
        score: (H, W) score map.
        truth: True plume mask, or None on a plume-free scene (never detected).
        thresholds: The grid.
        min_area: Smallest candidate (pixels).
        changes: Context changes per reference date for the veto; None: no veto.
        max_change: The veto's largest |median log change|.

    Returns:
        ``(n_candidates, hit)``, each of the grid's length.
    """
    n_comp = np.zeros(len(thresholds), dtype=int)
    hit = np.zeros(len(thresholds), dtype=bool)
    for i, t in enumerate(thresholds):
        labels, n = candidate_plumes(score, t, min_area, changes, max_change)
        n_comp[i] = n
        if truth is not None and n:
            hit[i] = bool(np.any(labels[truth] > 0))
    return n_comp, hit


def first_within(fp: np.ndarray, budget: float) -> int:
    """Index of the lowest threshold with ``fp <= budget``; the last one if none is."""
    ok = np.nonzero(fp <= budget)[0]
    return int(ok[0]) if len(ok) else len(fp) - 1


def equal_recall_index(baseline_recall: np.ndarray, recall: float) -> int:
    """Index of the highest baseline threshold whose recall still reaches ``recall`` (else 0)."""
    reach = np.nonzero(baseline_recall >= recall)[0]
    return int(reach[-1]) if len(reach) else 0


def rate_at(pod: np.ndarray, rates: np.ndarray, level: float = 0.5) -> float | None:
    """Lowest emission rate where POD reaches ``level`` (log-linear interpolation)."""
    above = np.nonzero(pod >= level)[0]
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(rates[0])
    lo, hi = np.log(rates[i - 1]), np.log(rates[i])
    f = (level - pod[i - 1]) / max(pod[i] - pod[i - 1], 1e-12)
    return float(np.exp(lo + f * (hi - lo)))
