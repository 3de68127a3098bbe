"""Curated selections on disk and in numbers: the selection files and their cluster statistics.

A selection file holds the sorted indices :math:`S_t` in force at an epoch with ``epoch``,
``made_at`` (the epoch :math:`t` it was selected at), ``mode`` and ``n_items``: ``.json`` or
``.npz``, written atomically. :func:`selection_stats` summarises one curated selection by the
level-1 and top-level cluster sizes of the hierarchy before and after sampling.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from eoforge.core.atomic import atomic_write_json, atomic_write_with
from eoforge.core.errors import DataNotFoundError
from eoforge.curation.hierarchy import Hierarchy


def selection_stats(hierarchy: Hierarchy, selected_local: np.ndarray) -> dict[str, Any]:
    """Cluster-size summary of one curated selection (level 1 and top level, before/after)."""
    sizes1 = hierarchy.sizes[0]
    kept1 = np.bincount(hierarchy.assignments[0][selected_local], minlength=sizes1.size)
    return {
        "n_clusters": list(hierarchy.n_clusters),
        "cluster_size_min": int(sizes1.min()),
        "cluster_size_median": float(np.median(sizes1)),
        "cluster_size_max": int(sizes1.max()),
        "n_empty_clusters": int(np.sum(sizes1 == 0)),
        "selected_per_cluster_max": int(kept1.max()),
        "top_cluster_sizes": hierarchy.sizes[-1].tolist(),
        "top_cluster_selected": np.bincount(
            hierarchy.labels(hierarchy.n_levels)[selected_local], minlength=hierarchy.sizes[-1].size
        ).tolist(),
    }


def write_selection(
    path: str | os.PathLike[str], indices: NDArray[np.int64], meta: dict[str, Any]
) -> Path:
    """Write ``indices`` and the ``meta`` fields atomically (``.json``, otherwise ``.npz``).

    Args:
        path: Destination file.
        indices: The selected item indices.
        meta: Scalar fields stored beside them (``epoch``, ``made_at``, ``mode``, ``n_items``).

    Returns:
        The written path.
    """
    if str(path).endswith(".json"):
        return atomic_write_json(path, {**meta, "indices": indices})

    def write(tmp: Path) -> None:
        arrays: dict[str, Any] = {k: np.asarray(v) for k, v in meta.items()}
        with open(tmp, "wb") as fh:
            np.savez(fh, indices=indices, **arrays)

    return atomic_write_with(path, write)


def load_selection(path: str | os.PathLike[str]) -> np.ndarray:
    """Indices saved by :meth:`DynamicCurator.save_selection` (``.npz`` or ``.json``)."""
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"selection file {str(p)!r} does not exist; check the path.")
    if p.suffix == ".json":
        return np.asarray(json.loads(p.read_text())["indices"], dtype=np.int64)
    with np.load(p) as data:
        return data["indices"].astype(np.int64)
