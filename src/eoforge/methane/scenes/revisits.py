"""Several reference dates of a simulated site: the reference scenes of its revisits.

A site is one scene seed of :mod:`eoforge.methane.scenes` (surface, water and geometry). Its
revisit j is ``simulate_pair(..., date_seed=j)``: independent clouds, radiometry, water vapour,
misregistration and noise, and the pair's own surface change c(gap) between its reference and
its target. With K reference dates, the target is revisit :data:`TARGET_DATE` = 0's target
(plume or not) and reference k = 1..K is revisit k's *reference* scene, so each reference
differs from the target by its own surface change. The benchmark of reference rules
(benchmarks/methane_references.py), ``evaluate``, ``calibrate`` and the rate calibration draw
K > 1 references this way; K = 1 keeps the pair's own reference (the former streams, unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from eoforge.core.errors import bad_value
from eoforge.methane.scenes.simulate import simulate_pair

TARGET_DATE = 0
"""``date_seed`` of the target scene when a site is seen with K > 1 reference dates."""


def target_date(k: int) -> int | None:
    """``date_seed`` of the target for K references: None (the pair as before) for K = 1."""
    return None if k == 1 else TARGET_DATE


def revisit_references(
    shape: tuple[int, int], surface: str, seed: int, k: int, **options: Any
) -> list[Mapping[str, np.ndarray]]:
    """The reference scenes of revisits 1..k of site ``seed`` (module docstring).

    Args:
        shape: Grid (H, W).
        surface: Surface type of the site.
        seed: Scene seed of the site.
        k: Number of reference dates (>= 1).
        **options: Further :func:`~eoforge.methane.scenes.simulate_pair` options of every
            revisit (e.g. ``noise_scale``, ``cloud_fraction``); not ``date_seed``.

    Returns:
        ``k`` band -> (H, W) reflectance mappings, revisit 1 first.
    """
    if int(k) != k or k < 1:
        raise bad_value("references", k, "a number of reference dates >= 1")
    return [simulate_pair(shape, surface, seed, date_seed=j, **options).reference
            for j in range(1, int(k) + 1)]  # fmt: skip


def site_references(
    pair_reference: Mapping[str, np.ndarray],
    shape: tuple[int, int],
    surface: str,
    seed: int,
    k: int,
    **options: Any,
) -> list[Mapping[str, np.ndarray]]:
    """K reference dates of a simulated target.

    They are the pair's own reference for K = 1, else :func:`revisit_references` (the target
    then being drawn with :func:`target_date`).
    """
    if k == 1:
        return [pair_reference]
    return revisit_references(shape, surface, seed, k, **options)


def reference_count(references: int | None, reference_dates: int) -> int:
    """K of an evaluation: ``references`` as given, or the detector's own ``reference_dates``.

    Raises:
        InputError: If a K-date detector (K > 1) is asked for another number of references.
    """
    k = reference_dates if references is None else references
    if int(k) != k or k < 1:
        raise bad_value("references", references, "a number of reference dates >= 1")
    if reference_dates > 1 and k != reference_dates:
        raise bad_value("references", references, f"{reference_dates}: this detector sees "
                        f"{reference_dates} reference dates at once", "Omit it to use them.")  # fmt: skip
    return int(k)
