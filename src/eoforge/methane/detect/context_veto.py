"""Veto candidate plumes where the visible/NIR surface changed too: surface change, not methane.

Methane absorbs only in the SWIR (B11 and B12); between the dates it leaves B04 (red) and B8A
(NIR) untouched. The confounders that mimic a plume in B12/B11 — darkened or disturbed ground,
new shadows, wet soil, burn scars — all change the visible and NIR bands as well. A candidate
plume (a connected component of the probability map) is vetoed when, for some context band b,

    | median over the component of D_b | > max_change,   D_b = ln(R_b / R'_b) - med_b,

with med_b the scene-wide median log change (:class:`~.detector.features.SceneConstants`); the
median of the signed change averages the sensor noise out over the component's pixels, so a
dark surface's noisy B04 does not trip it. Invalid pixels count as no change.

The default 0.05 lies above the largest value of the true plumes the shipped detector found on
plain held-out scenes (0.044, of 49 detected plumes on evaluation seeds 2 and 5); it removes 7 %
of its false components on plain scenes and 2.5 % on scenes with 0-3 confounders and clouds,
and drops plumes that sit on a surface that changed as well (1 of 27 on those scenes). It is a
rule against confounders that change the VNIR strongly (e.g. the 4-confounder test scene, whose
false plume had a median B8A change of -5.8 %), not a general false-positive filter: most false
plumes of the detector show no VNIR change at all (benchmarks/RESULTS.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:  # keeps this module (and the CLI that reads its default) free of torch
    from eoforge.methane.detector.features import SceneConstants

DEFAULT_MAX_CONTEXT_CHANGE = 0.05
"""Largest |median log change| of a context band inside a plume (module docstring)."""


def context_changes(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray],
    const: SceneConstants,
    bands: Sequence[str],
) -> list[np.ndarray]:
    """D_b (float32, 0 where invalid) of each context band b, scene-median removed."""
    out = []
    for b in bands:
        t = np.asarray(target[b], dtype=np.float32)
        r = np.asarray(reference[b], dtype=np.float32)
        ok = np.isfinite(t) & np.isfinite(r) & (t > 0) & (r > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.log(np.where(ok, t, 1.0) / np.where(ok, r, 1.0)) - np.float32(
                const.med_change[b]
            )
        out.append(np.where(ok, d, np.float32(0.0)).astype(np.float32))
    return out


def veto(labels: np.ndarray, changes: Sequence[np.ndarray], max_change: float) -> np.ndarray:
    """Ids (sorted) of the components of ``labels`` (0 = background) that the rule vetoes."""
    inside = labels > 0
    lab = labels[inside]  # only the labelled pixels: ndimage.median sorts whatever it is given
    ids = np.unique(lab)
    if ids.size == 0 or not changes:
        return ids[:0]
    worst = np.zeros(ids.size)
    for d in changes:
        med = np.asarray(ndimage.median(d[inside], lab, ids), dtype=np.float64)
        np.maximum(worst, np.abs(med), out=worst)
    return ids[worst > max_change]


def veto_every(
    labels: np.ndarray, changes: Sequence[Sequence[np.ndarray]], max_change: float
) -> np.ndarray:
    """Ids (sorted) of the components vetoed against every reference date.

    ``changes[k]`` holds date k's :func:`context_changes`, and a component goes only if the rule
    vetoes it on all of them (a surface change against one date that the others do not show is
    no reason to drop it).
    """
    ids = veto(labels, changes[0], max_change)
    for per_date in changes[1:]:
        if ids.size == 0:
            break
        # only the components still vetoed are looked at again (the medians are the cost)
        ids = veto(np.where(np.isin(labels, ids), labels, 0), per_date, max_change)
    return ids
