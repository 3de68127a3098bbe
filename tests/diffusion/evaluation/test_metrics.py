"""FID, KID, precision/recall and the memorisation check against closed forms and planted truth."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from eoforge.core.errors import ShapeError
from eoforge.diffusion.evaluation.metrics import (
    RandomConvFeatures,
    feature_metrics,
    fid,
    fid_from_features,
    flatten_features,
    frechet_distance,
    kid_from_features,
    memorisation,
    precision_recall,
    precision_recall_from_features,
)

torch.set_num_threads(1)


def _images(n: int, seed: int, shift: float = 0.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 1, 16, 16))
    return np.cumsum(base, axis=-1) / 4.0 + shift  # some spatial structure


def test_fid_of_a_set_with_itself_is_zero() -> None:
    x = _images(300, 0)
    rc = RandomConvFeatures()  # explicit: the default depends on the shipped SSL encoder
    assert fid(x, x.copy(), rc) == pytest.approx(0.0, abs=1e-6)
    feats = rc(x)
    assert feats.shape == (300, 14 * 8)
    np.testing.assert_array_equal(feats, RandomConvFeatures()(x))  # deterministic weights
    assert fid(x, _images(300, 1, shift=1.0), "random") > 5 * fid(x, _images(300, 2), rc) > 0


def test_frechet_distance_matches_closed_forms() -> None:
    # Commuting (diagonal) covariances: |mu1 - mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = 5.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    # General SPD pair against the textbook formula with scipy.linalg.sqrtm(S1 S2).
    rng = np.random.default_rng(3)
    m1, m2 = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = m1 @ m1.T + 0.1 * np.eye(6), m2 @ m2.T + 0.1 * np.eye(6)
    expected = np.trace(s1) + np.trace(s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    assert frechet_distance(np.zeros(6), s1, np.zeros(6), s2) == pytest.approx(expected, rel=1e-8)
    # Singular covariances (fewer samples than dimensions) still give a finite number.
    f = rng.normal(size=(5, 20))
    assert np.isfinite(fid_from_features(f, f + 0.1))


def test_fid_of_sampled_gaussians_approaches_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    d = 4
    s2 = np.diag([1.0, 2.0, 0.5, 1.5])
    fa = rng.normal(size=(20000, d))
    fb = rng.multivariate_normal(np.full(d, 0.5), s2, size=20000)
    expected = d * 0.25 + np.sum((1 - np.sqrt(np.diag(s2))) ** 2)
    assert fid_from_features(fa, fb) == pytest.approx(expected, abs=0.03)


def test_kid_is_unbiased_near_zero_for_same_distribution() -> None:
    rng = np.random.default_rng(1)
    fa, fb = rng.normal(size=(1000, 8)), rng.normal(size=(1000, 8))
    mean, std = kid_from_features(fa, fb, subsets=20, subset_size=200, random_state=0)
    assert abs(mean) < 3 * std / np.sqrt(20) + 1e-3
    shifted, _ = kid_from_features(fa, fb + 0.5, subsets=20, subset_size=200, random_state=0)
    assert shifted > 20 * abs(mean) and shifted > 0.01
    again, _ = kid_from_features(fa, fb + 0.5, subsets=20, subset_size=200, random_state=0)
    assert again == shifted  # seeded subsets


def test_precision_recall_identical_and_shifted() -> None:
    rng = np.random.default_rng(2)
    fa = rng.normal(size=(400, 3))
    pr = precision_recall_from_features(fa, fa.copy())
    assert pr == {"precision": 1.0, "recall": 1.0}
    far = precision_recall_from_features(fa, fa + 3.0)
    assert far["precision"] < 0.2 and far["recall"] < 0.2
    # Mode collapse: samples from a small part of the support keep precision, lose recall.
    collapsed = rng.normal(scale=0.2, size=(400, 3))
    pc = precision_recall_from_features(fa, collapsed)
    assert pc["precision"] > 0.95 and pc["recall"] < 0.5
    x = _images(120, 0)
    assert precision_recall(x, x.copy(), "random") == {"precision": 1.0, "recall": 1.0}


def test_memorisation_flags_copies_of_training_images() -> None:
    train = _images(200, 5)
    copies = train[:50] + 1e-3 * _images(50, 6)
    fresh = _images(50, 7)
    m_copy = memorisation(copies, train)
    m_fresh = memorisation(fresh, train)
    assert m_copy["fraction_below"] == 1.0 and m_copy["nn_ratio"] < 0.01
    assert m_fresh["fraction_below"] < 0.2 and 0.7 < m_fresh["nn_ratio"] < 1.4
    np.testing.assert_array_equal(flatten_features(train)[3], train[3].ravel())


def test_feature_metrics_bundle_and_errors() -> None:
    x = _images(100, 0)
    out = feature_metrics(x, x.copy(), "random", kid_subset_size=50)
    assert out["fid"] == pytest.approx(0, abs=1e-6) and out["precision"] == out["recall"] == 1.0
    with pytest.raises(ShapeError, match=r"\(N, D\)"):
        fid(x, x, features=lambda a: a.mean())
    with pytest.raises(ShapeError, match="feature sets"):
        fid_from_features(np.zeros((5, 3)), np.zeros((5, 4)))
