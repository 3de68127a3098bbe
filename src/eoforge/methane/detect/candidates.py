"""Candidate plumes of a probability map: the one rule shared by detection, evaluation, calibration.

A candidate plume at threshold t is an 8-connected component C of {p > t} with
|C| >= ``min_area_px`` pixels. The context veto (:mod:`.context_veto`) then drops a candidate
when its visible/NIR bands changed as well against every reference date. Components keep the
labels :func:`scipy.ndimage.label` gives them (row-major order of their first pixel);
:func:`renumber` maps the kept ones to 1..n in that order (the plume ids of ``detect``).

Users: :func:`eoforge.methane.detect.pipeline.detect` (one threshold, veto computed only when
there are candidates), the threshold scan of :mod:`eoforge.methane.evaluate.scan` and the rate
calibration of :mod:`eoforge.methane.calibration.detector_rates` (every component,
``min_area_px`` = 1 and no veto: the masks the shipped rate calibration was fitted on).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from eoforge.methane.detect.context_veto import veto_every

EIGHT = np.ones((3, 3), dtype=bool)
"""Structuring element of 8-connectivity."""

Labels = NDArray[np.int32]
"""(H, W) component labels, 0 = no component."""


def components(binary: NDArray[np.bool_], min_area_px: int) -> tuple[Labels, int]:
    """8-connected components of ``binary`` with at least ``min_area_px`` pixels.

    Args:
        binary: (H, W) mask, e.g. ``prob > t``.
        min_area_px: Smallest component kept (pixels); smaller ones are set to 0.

    Returns:
        ``(labels, n)``: labels as numbered by :func:`scipy.ndimage.label` (gaps where small
        components were) and the number of components kept.
    """
    labels, n = ndimage.label(binary, structure=EIGHT)
    if n == 0:
        return labels, 0
    sizes = np.bincount(labels.ravel())
    small = sizes < min_area_px
    small[0] = False
    labels[small[labels]] = 0
    return labels, int((~small[1:]).sum())


def drop_vetoed(
    labels: Labels, n: int, changes: Sequence[Sequence[np.ndarray]], max_change: float
) -> tuple[int, int]:
    """Set to 0, in place, the components the context veto drops against every reference date.

    Args:
        labels: Components of :func:`components` (changed in place).
        n: Their number.
        changes: ``changes[k]``: reference date k's :func:`.context_veto.context_changes`.
        max_change: Largest |median log change| of a context band inside a plume.

    Returns:
        ``(n_kept, n_vetoed)``.
    """
    if not changes or n == 0:
        return n, 0
    drop = veto_every(labels, changes, max_change)
    if drop.size:
        labels[np.isin(labels, drop)] = 0
    return n - int(drop.size), int(drop.size)


def candidate_plumes(
    prob: np.ndarray,
    threshold: float,
    min_area_px: int,
    changes: Sequence[Sequence[np.ndarray]] | None = None,
    max_change: float = 0.0,
) -> tuple[Labels, int]:
    """The candidate plumes of ``prob`` at ``threshold`` (module docstring).

    Args:
        prob: (H, W) plume probability (or any score).
        threshold: Pixels with ``prob > threshold`` are plume pixels.
        min_area_px: Smallest candidate (pixels).
        changes: Per reference date, the context changes of the veto; None: no veto.
        max_change: The veto's largest |median log change|.

    Returns:
        ``(labels, n)``: the kept candidates (0 elsewhere) and their number.
    """
    labels, n = components(prob > threshold, min_area_px)
    if changes is not None:
        n, _ = drop_vetoed(labels, n, changes, max_change)
    return labels, n


def renumber(labels: Labels) -> Labels:
    """``labels`` with its components numbered 1..n in ascending order of their old labels."""
    ids = np.unique(labels[labels > 0])
    lut = np.zeros(int(labels.max(initial=0)) + 1, dtype=np.int32)
    lut[ids] = np.arange(1, ids.size + 1, dtype=np.int32)
    return lut[labels]
