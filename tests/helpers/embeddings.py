"""Synthetic frozen-SSL-like embeddings with class structure, wind speed and Hs.

``C`` long-tailed classes (Zipf prior) whose centres lie in an ``r``-dimensional latent space,
wind speed (gamma, m/s) and Hs (``0.02 U^2`` + swell, m) encoded as ``log1p(U)`` and
``sqrt(Hs)`` on two more latent axes, unit latent noise, then a random ``(r + 2) -> D``
projection, GELU and isotropic noise of std 0.05: low-rank, correlated, non-negative-leaning
features whose classes overlap (a linear probe reaches ~0.8 accuracy at 20,000 x 384).
"""

from __future__ import annotations

import math

import numpy as np


def synthetic_embeddings(
    n: int, dim: int = 384, n_classes: int = 10, rank: int = 24, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``(features (n, dim) float32, labels (n,), {"wind_speed", "hs"})`` (module docstring)."""
    rng = np.random.default_rng(seed)
    prior = 1.0 / np.arange(1, n_classes + 1)
    labels = rng.choice(n_classes, n, p=prior / prior.sum())
    wind = rng.gamma(4.0, 2.0, n)  # m/s
    hs = 0.02 * wind**2 + rng.gamma(2.0, 0.6, n)  # m, partly wind sea
    centres = rng.normal(size=(n_classes, rank)) * 0.45
    z = centres[labels] + rng.normal(size=(n, rank))  # (n, r)
    z = np.concatenate([z, np.log1p(wind)[:, None], np.sqrt(hs)[:, None]], axis=1)
    P = rng.normal(size=(rank + 2, dim)) / math.sqrt(rank)
    h = z @ P  # (n, D)
    feats = 0.5 * h * (1 + np.tanh(0.79788456 * (h + 0.044715 * h**3)))  # GELU
    feats += 0.05 * rng.normal(size=feats.shape)
    return feats.astype(np.float32), labels, {"wind_speed": wind, "hs": hs}
