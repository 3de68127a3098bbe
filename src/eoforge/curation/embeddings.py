"""Embeddings as k-means takes them: finite, real, 2-D ``(n, d)``, float32 and contiguous.

Every clustering entry point (:class:`~eoforge.curation.kmeans.KMeans`,
:func:`~eoforge.curation.hierarchy.hierarchical_kmeans`) validates its points here, so a NaN row,
a complex dtype or a 1-D array is refused in one place, naming the first bad row.
"""

from __future__ import annotations

import numpy as np
import torch

from eoforge.core.errors import ShapeError, bad_value


def as_float32_matrix(X: object, name: str = "X") -> np.ndarray:
    """Validate embeddings: a finite 2-D array, returned as C-contiguous float32 (copied if needed).

    Raises:
        ShapeError: ``X`` is not 2-D or has no rows/columns.
        InputError: ``X`` holds NaN or infinite values.
    """
    arr = np.asarray(X)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(
            f"{name} has shape {arr.shape}: expected a non-empty 2-D array (n_points, n_features)."
        )
    if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise bad_value(f"{name}.dtype", arr.dtype, "a real numeric dtype (float32 preferred)")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(arr).all(axis=1)
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise bad_value(
            name,
            f"<array with {bad.size} rows holding NaN/inf, first row {int(bad[0])}>",
            "finite embeddings",
            "Drop or repair those rows (e.g. images that failed to embed) before clustering.",
        )
    return arr


def as_float32_tensor(X: object, device: torch.device, name: str = "X") -> torch.Tensor:
    """Validated ``(n, d)`` float32 contiguous tensor on ``device``.

    A NumPy array or CPU tensor shares memory where it can (then faiss and torch read the same
    buffer); a tensor on another device is checked there (one synchronisation).

    Raises:
        ShapeError: Not 2-D, or no rows/columns.
        InputError: NaN/inf values, or a non-real dtype.
    """
    if not isinstance(X, torch.Tensor):
        return torch.from_numpy(as_float32_matrix(X, name)).to(device)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ShapeError(
            f"{name} has shape {tuple(X.shape)}: expected a non-empty 2-D array (n_points, "
            "n_features)."
        )
    if X.is_complex() or X.dtype == torch.bool:
        raise bad_value(f"{name}.dtype", X.dtype, "a real numeric dtype (float32 preferred)")
    Xt = X.detach().to(device=device, dtype=torch.float32).contiguous()
    finite = torch.isfinite(Xt).all(1)
    if not bool(finite.all()):
        bad = torch.nonzero(~finite).flatten()
        raise bad_value(
            name,
            f"<tensor with {bad.numel()} rows holding NaN/inf, first row {int(bad[0])}>",
            "finite embeddings",
            "Drop or repair those rows (e.g. images that failed to embed) before clustering.",
        )
    return Xt
