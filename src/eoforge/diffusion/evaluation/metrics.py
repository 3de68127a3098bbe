"""Feature-space sample-quality metrics: FID, KID, precision/recall, memorisation check.

Every metric compares two image sets through a feature extractor ``features(images) -> (N, D)``
that the caller may inject (the ``features=`` argument, resolved by
:func:`eoforge.diffusion.evaluation.features.resolve_features`: ``None`` for the default, ``"ssl"``,
``"random"``, the path of an SSL run or exported encoder, or any callable). The default is the
eoforge SSL encoder shipped with the package (:class:`~eoforge.diffusion.evaluation.features.SSLFeatures`),
or, when its weights file is not installed, the weak fixed-seed
:class:`~eoforge.diffusion.evaluation.features.RandomConvFeatures` with a warning. Nothing is downloaded.
Numbers are only comparable with the same extractor and the same sample counts.

Metrics on features ``A`` (real, n x D) and ``B`` (generated, m x D):

- FID (Heusel et al. 2017): ``|mu_A - mu_B|^2 + tr(S_A + S_B - 2 (S_A S_B)^(1/2))``.
- KID (Binkowski et al. 2018): unbiased MMD^2 with the kernel ``k(a, b) = (a.b / D + 1)^3``,
  averaged over random subsets.
- Precision / recall (Kynkaenniemi et al. 2019): a point is on the manifold of a set when it
  lies in the ball of some member of that set whose radius is the distance to its k-th nearest
  neighbour in the set; precision = fraction of B on the manifold of A, recall = fraction of A
  on the manifold of B.
- Memorisation: distance of each generated sample to its nearest training image, against the
  nearest-neighbour distances of the training images among themselves.
"""

from __future__ import annotations

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.core.seeding import RandomState, as_generator
from eoforge.diffusion.evaluation.features import (
    FeatureFn,
    FeatureSpec,
    RandomConvFeatures,
    resolve_features,
)

__all__ = [
    "FeatureFn",
    "FeatureSpec",
    "RandomConvFeatures",
    "extract",
    "feature_metrics",
    "fid",
    "fid_from_features",
    "flatten_features",
    "frechet_distance",
    "kid",
    "kid_from_features",
    "memorisation",
    "memorisation_from_features",
    "precision_recall",
    "precision_recall_from_features",
    "resolve_features",
]


def flatten_features(images: np.ndarray) -> np.ndarray:
    """Pixel-space "features": each image flattened to a vector (for memorisation checks)."""
    x = np.asarray(images, dtype=np.float64)
    return x.reshape(len(x), -1)


def extract(images: np.ndarray, features: FeatureSpec = None) -> np.ndarray:
    """Apply ``features`` (see :func:`resolve_features`) and check its output ``(N, D)``."""
    fn = resolve_features(features)
    x = np.asarray(images)
    if x.ndim < 2 or len(x) < 2:
        raise ShapeError(f"images have shape {x.shape}: expected a batch of at least 2 images.")
    f = np.asarray(fn(x), dtype=np.float64)
    if f.ndim != 2 or f.shape[0] != len(x):
        raise ShapeError(
            f"features(images) returned shape {f.shape} for {len(x)} images: expected (N, D)."
        )
    if not np.all(np.isfinite(f)):
        raise InputError("features(images) returned NaN or inf; check the images' value range.")
    return f


# --------------------------------------------------------------------------- FID


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-10
) -> float:
    """Frechet distance between N(mu1, S1) and N(mu2, S2).

    ``d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))``. The trace of the matrix
    square root is computed in the symmetric form
    ``tr((S1 S2)^(1/2)) = tr((S1^(1/2) S2 S1^(1/2))^(1/2)) = sum_i sqrt(lambda_i)`` with
    ``S1^(1/2)`` and the eigenvalues ``lambda_i`` from ``numpy.linalg.eigh`` (the two forms are
    equal since S1 S2 is similar to S1^(1/2) S2 S1^(1/2)). This is the numerically guarded
    version of ``scipy.linalg.sqrtm(S1 @ S2)``: it is exact for S1 = S2, never complex, works
    for singular covariances (fewer samples than dimensions; eigenvalues below
    ``eps * max eigenvalue`` are set to 0), and is an order of magnitude faster.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    s1, s2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ShapeError(
            f"mean/covariance shapes {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape} do not "
            "match: expected (D,) and (D, D) for both."
        )
    if not (np.all(np.isfinite(s1)) and np.all(np.isfinite(s2))):
        raise InputError("covariances contain NaN or inf; check the features.")
    diff = mu1 - mu2
    s1, s2 = 0.5 * (s1 + s1.T), 0.5 * (s2 + s2.T)
    w1, v1 = np.linalg.eigh(s1)
    w1 = np.where(w1 > eps * max(w1.max(), 0.0), w1, 0.0)
    root1 = (v1 * np.sqrt(w1)) @ v1.T  # S1^(1/2)
    inner = root1 @ s2 @ root1
    lam = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    tr_covmean = np.sqrt(np.clip(lam, 0.0, None)).sum()
    value = diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean
    return float(max(value, 0.0))


def fid_from_features(fa: np.ndarray, fb: np.ndarray) -> float:
    """FID between two feature sets ``(n, D)`` and ``(m, D)`` (Gaussian fits, ddof=1)."""
    fa, fb = _pair(fa, fb)
    return frechet_distance(
        fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False)
    )


def fid(real: np.ndarray, fake: np.ndarray, features: FeatureSpec = None) -> float:
    """Frechet Inception-style distance of two image sets in the space of ``features``."""
    fn = resolve_features(features)
    return fid_from_features(extract(real, fn), extract(fake, fn))


# --------------------------------------------------------------------------- KID


def kid_from_features(
    fa: np.ndarray,
    fb: np.ndarray,
    *,
    subsets: int = 20,
    subset_size: int = 500,
    random_state: RandomState = 0,
) -> tuple[float, float]:
    """Kernel Inception-style distance: unbiased MMD^2, cubic polynomial kernel, subsets.

    For subsets X (of A) and Y (of B) of size m,
    ``MMD^2_u = sum_{i != j} k(x_i, x_j) / (m (m-1)) + sum_{i != j} k(y_i, y_j) / (m (m-1))
    - 2 sum_{i, j} k(x_i, y_j) / m^2`` with ``k(a, b) = (a.b / D + 1)^3``. Unbiased: its
    expectation is 0 when both sets come from the same distribution (it can be negative).

    Returns:
        ``(mean, std)`` over the subsets.
    """
    fa, fb = _pair(fa, fb)
    m = min(int(subset_size), len(fa), len(fb))
    if m < 2:
        raise bad_value("subset_size", subset_size, "an int >= 2 (and both sets >= 2 samples)")
    rng = as_generator(random_state)
    d = fa.shape[1]
    values = []
    for _ in range(int(subsets)):
        x = fa[rng.choice(len(fa), m, replace=False)]
        y = fb[rng.choice(len(fb), m, replace=False)]
        kxx = (x @ x.T / d + 1.0) ** 3
        kyy = (y @ y.T / d + 1.0) ** 3
        kxy = (x @ y.T / d + 1.0) ** 3
        off = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        values.append(off - 2.0 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def kid(
    real: np.ndarray,
    fake: np.ndarray,
    features: FeatureSpec = None,
    **kwargs: object,
) -> tuple[float, float]:
    """KID ``(mean, std)`` of two image sets (see :func:`kid_from_features` for options)."""
    fn = resolve_features(features)
    return kid_from_features(extract(real, fn), extract(fake, fn), **kwargs)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- precision / recall


def _pairwise(a: np.ndarray, b: np.ndarray, block: int = 1024) -> np.ndarray:
    """Euclidean distances (n, m), in row blocks."""
    b2 = (b**2).sum(1)
    out = np.empty((len(a), len(b)))
    for s in range(0, len(a), block):
        x = a[s : s + block]
        d2 = (x**2).sum(1)[:, None] + b2[None, :] - 2.0 * x @ b.T
        out[s : s + block] = np.sqrt(np.maximum(d2, 0.0))
    return out


def _kth_nn_radius(f: np.ndarray, k: int) -> np.ndarray:
    d = _pairwise(f, f)
    np.fill_diagonal(d, np.inf)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def precision_recall_from_features(fa: np.ndarray, fb: np.ndarray, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkaenniemi et al. 2019) of ``fb`` against ``fa``.

    ``precision = mean_{b in B} 1[exists a in A: |b - a| <= r_k(a)]`` and
    ``recall = mean_{a in A} 1[exists b in B: |a - b| <= r_k(b)]``, with ``r_k(x)`` the distance
    from x to its k-th nearest neighbour within its own set (k = 3 in the paper).
    """
    fa, fb = _pair(fa, fb)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k < min(len(fa), len(fb)):
        raise bad_value("k", k, f"an int in [1, {min(len(fa), len(fb)) - 1}]", "The paper uses 3.")
    ra, rb = _kth_nn_radius(fa, k), _kth_nn_radius(fb, k)
    d = _pairwise(fb, fa)  # (m, n)
    precision = float(np.mean(np.any(d <= ra[None, :], axis=1)))
    recall = float(np.mean(np.any(rb[None, :] >= d.T, axis=1)))
    return {"precision": precision, "recall": recall}


def precision_recall(
    real: np.ndarray, fake: np.ndarray, features: FeatureSpec = None, k: int = 3
) -> dict[str, float]:
    """Precision/recall of ``fake`` against ``real`` in the space of ``features``."""
    fn = resolve_features(features)
    return precision_recall_from_features(extract(real, fn), extract(fake, fn), k)


# --------------------------------------------------------------------------- memorisation


def memorisation_from_features(
    f_samples: np.ndarray, f_train: np.ndarray, quantile: float = 0.05
) -> dict[str, float]:
    """Nearest-neighbour memorisation check.

    ``d_i = min_j |g_i - x_j|`` (generated to training) is compared with the training set's own
    nearest-neighbour distances ``t_j = min_{l != j} |x_j - x_l|``. A model that generalises
    gives ``d`` distributed like ``t`` (ratio of medians ~ 1, ``fraction_below`` ~ ``quantile``);
    copies of training images give ``d ~ 0`` (ratio ~ 0, ``fraction_below`` ~ 1).

    Returns:
        dict with ``nn_distance_median`` (median d), ``train_nn_distance_median`` (median t),
        ``nn_ratio`` (their ratio), ``fraction_below`` (fraction of samples with d below the
        ``quantile``-quantile of t) and ``nn_distance_min``.
    """
    fs, ft = _pair(f_samples, f_train)
    if not 0 < quantile < 1:
        raise bad_value("quantile", quantile, "a float in (0, 1)")
    d = _pairwise(fs, ft).min(axis=1)
    t = _kth_nn_radius(ft, 1)
    t_med = float(np.median(t))
    return {
        "nn_distance_median": float(np.median(d)),
        "train_nn_distance_median": t_med,
        "nn_ratio": float(np.median(d) / t_med) if t_med > 0 else float("nan"),
        "fraction_below": float(np.mean(d < np.quantile(t, quantile))),
        "nn_distance_min": float(d.min()),
    }


def memorisation(
    samples: np.ndarray, training: np.ndarray, features: FeatureSpec = flatten_features
) -> dict[str, float]:
    """Memorisation check of ``samples`` against ``training`` (pixel space by default)."""
    fn = resolve_features(features)
    return memorisation_from_features(extract(samples, fn), extract(training, fn))


def feature_metrics(
    reference: np.ndarray,
    samples: np.ndarray,
    features: FeatureSpec = None,
    *,
    k: int = 3,
    kid_subsets: int = 20,
    kid_subset_size: int = 500,
    random_state: RandomState = 0,
) -> dict[str, float]:
    """FID, KID (mean, std), precision and recall with one feature extraction per set."""
    fn = resolve_features(features)
    fa, fb = extract(reference, fn), extract(samples, fn)
    kid_mean, kid_std = kid_from_features(
        fa, fb, subsets=kid_subsets, subset_size=kid_subset_size, random_state=random_state
    )
    out = {"fid": fid_from_features(fa, fb), "kid": kid_mean, "kid_std": kid_std}
    k_eff = min(k, min(len(fa), len(fb)) - 1)
    out.update(precision_recall_from_features(fa, fb, k_eff))
    return out


def _pair(fa: np.ndarray, fb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    fa, fb = np.asarray(fa, dtype=np.float64), np.asarray(fb, dtype=np.float64)
    if fa.ndim != 2 or fb.ndim != 2 or fa.shape[1] != fb.shape[1]:
        raise ShapeError(
            f"feature sets have shapes {fa.shape} and {fb.shape}: expected (n, D) and (m, D)."
        )
    if len(fa) < 2 or len(fb) < 2:
        raise InputError("each feature set needs at least 2 samples.")
    return fa, fb
