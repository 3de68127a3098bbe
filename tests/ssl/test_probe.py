"""Probe metrics against scikit-learn, cosine kNN against sklearn, planted features."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, recall_score
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

from eoforge.ssl.probe import (
    classification_metrics,
    knn_predict,
    probe_features,
    rmse,
    split_indices,
)


def test_classification_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 6, 300)
    p = np.where(rng.random(300) < 0.6, y, rng.integers(0, 7, 300))  # class 6 only predicted
    m = classification_metrics(y, p)
    assert m["accuracy"] == pytest.approx(accuracy_score(y, p))
    assert m["macro_f1"] == pytest.approx(f1_score(y, p, average="macro"))
    rec = recall_score(y, p, average=None, labels=np.arange(6))
    assert [m["recall_per_class"][str(c)] for c in range(6)] == pytest.approx(rec)
    assert rmse(y, p) == pytest.approx(np.sqrt(mean_squared_error(y, p)))


def test_knn_matches_sklearn_cosine():
    rng = np.random.default_rng(1)
    Xtr, Xte = rng.normal(size=(200, 8)), rng.normal(size=(50, 8))
    ytr = rng.integers(0, 3, 200)
    ref = KNeighborsClassifier(5, metric="cosine", algorithm="brute").fit(Xtr, ytr)
    got = knn_predict(Xtr, ytr, Xte, k=5, block=7)
    # sklearn breaks vote ties by the smallest label too; distances are continuous so no ties
    assert (got == ref.predict(Xte)).mean() == 1.0
    t = rng.normal(size=200)
    reg = KNeighborsRegressor(5, metric="cosine", algorithm="brute").fit(Xtr, t)
    np.testing.assert_allclose(knn_predict(Xtr, t, Xte, 5, regression=True), reg.predict(Xte))


def test_split_is_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), [100, 10, 3, 1])
    tr, te = split_indices(labels, 0.3, seed=0)
    assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == labels.size
    assert np.bincount(labels[te], minlength=4).tolist() == [30, 3, 1, 0]
    _, te2 = split_indices(labels, 0.3, seed=0)
    assert np.array_equal(te, te2)


def test_planted_features_are_recovered():
    rng = np.random.default_rng(2)
    n, C = 600, 5
    labels = rng.integers(0, C, n)
    wind = rng.uniform(2, 20, n)
    centers = rng.normal(size=(C, 16)) * 3
    X = centers[labels] + rng.normal(size=(n, 16))
    X[:, 0] = wind + 0.1 * rng.normal(size=n)  # wind linearly encoded with noise 0.1
    res = probe_features(X, labels, {"wind_speed": wind}, seed=0)
    assert res["linear_accuracy"] > 0.95 and res["knn_accuracy"] > 0.9
    assert res["wind_speed_rmse"] < 0.2 < res["wind_speed_rmse_mean_baseline"]
    noise = probe_features(rng.normal(size=(n, 16)), labels, {"wind_speed": wind}, seed=0)
    assert noise["linear_accuracy"] < 0.4
    assert noise["wind_speed_rmse"] > 0.9 * noise["wind_speed_rmse_mean_baseline"]
    assert set(res["linear_recall_per_class"]) == {str(c) for c in range(C)}
    assert 0 <= res["rare_class_recall"] <= 1


def test_balanced_probe_recovers_rare_classes_the_prior_hides():
    # 2 common classes and 2 rare ones (3 % each) that sit half a noise std from a common one:
    # the plain logistic probe mostly predicts the common class, the balanced one finds them
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(4), [900, 900, 30, 30])
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 1.2], [6.0, 1.2]])
    X = centers[labels] + rng.normal(size=(labels.size, 2))
    res = probe_features(X, labels, seed=0)
    assert res["rare_classes"] == res["balanced_rare_classes"] == ["2", "3"]
    assert res["balanced_rare_class_recall"] > res["rare_class_recall"] + 0.3
    assert res["linear_accuracy"] >= res["balanced_linear_accuracy"]


def test_rare_classes_can_be_given():
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), 200)
    X = np.eye(3)[labels] * 4 + rng.normal(size=(600, 3))
    X[labels == 2] = X[labels == 0] + 0.01  # class 2 is drawn like class 0: not separable
    res = probe_features(X, labels, rare=[2], seed=0)
    assert res["rare_classes"] == ["2"]
    per = res["linear_recall_per_class"]
    assert res["rare_class_recall"] == per["2"] < 0.8 < per["1"]
