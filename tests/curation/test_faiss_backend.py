"""faiss backend: Lloyd in several calls equals one call, exact assignment, the tolerance rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eoforge.core.errors import InputError, ShapeError
from eoforge.curation.embeddings import as_float32_matrix, as_float32_tensor
from eoforge.curation.faiss_backend import assign, converged, faiss_lloyd


def _points(n: int = 600, d: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(5, d)) * 5
    return (centers[rng.integers(0, 5, n)] + rng.normal(size=(n, d))).astype(np.float32)


def test_lloyd_in_several_calls_equals_one_call() -> None:
    X = torch.from_numpy(_points())
    C0 = X[:5].clone()
    one, h1 = faiss_lloyd(X, C0, 6, k=5, seed=1, per_call=6)
    ticks: list[tuple[int, int]] = []
    many, h2 = faiss_lloyd(
        X, C0, 6, k=5, seed=1, per_call=1, progress=lambda d, t: ticks.append((d, t)),
        offset=(12, 30),
    )  # fmt: skip
    torch.testing.assert_close(one, many, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h1, h2, rtol=1e-5)
    assert ticks[0] == (13, 30) and len(ticks) == len(h2)


def test_assign_matches_brute_force() -> None:
    X = _points(200)
    C = X[:7] + 0.1
    labels, sqdist = assign(X, C)
    d2 = ((X[:, None, :].astype(np.float64) - C[None]) ** 2).sum(-1)  # (n, k)
    np.testing.assert_array_equal(labels, d2.argmin(1))
    np.testing.assert_allclose(sqdist, d2.min(1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("history", "tol", "expected"),
    [([10.0, 9.0], 0.2, True), ([10.0, 9.0], 0.05, False), ([10.0], 0.5, False),
     ([10.0, 9.99], 0.0, False)],
)  # fmt: skip
def test_converged_is_the_relative_decrease(
    history: list[float], tol: float, expected: bool
) -> None:
    assert converged(history, tol) is expected


def test_embeddings_are_checked_once_for_arrays_and_tensors() -> None:
    X = _points(10)
    X[3, 1] = np.nan
    with pytest.raises(InputError, match="first row 3"):
        as_float32_matrix(X)
    with pytest.raises(InputError, match="first row 3"):
        as_float32_tensor(torch.from_numpy(X), torch.device("cpu"))
    with pytest.raises(ShapeError, match="2-D"):
        as_float32_tensor(np.zeros(4), torch.device("cpu"))
    same = as_float32_tensor(_points(10).astype(np.float64), torch.device("cpu"))
    assert same.dtype == torch.float32 and same.is_contiguous()
