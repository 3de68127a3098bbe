"""``probe_features`` (torch probes) against the scikit-learn probes it replaced
(tests/helpers/probe_sklearn.py), on synthetic embeddings with class structure."""

import numpy as np
import pytest
import torch

from eoforge.ssl.probe import probe_features
from tests.helpers.embeddings import synthetic_embeddings
from tests.helpers.probe_sklearn import probe_features_sklearn

torch.set_num_threads(1)  # small problems: threads only add spin-waits on a shared CPU


@pytest.fixture(scope="module")
def data():
    X, y, t = synthetic_embeddings(1500, dim=48, n_classes=6, rank=8, seed=3)
    t["hs"][::17] = np.nan  # a target with missing values: its own split rows
    y[::29] = -1  # unlabelled items: excluded from the class probes only
    return X, y, t


def test_torch_probes_match_sklearn_probes(data):
    X, y, t = data
    got = probe_features(X, y, t, knn_k=10, C=0.5, alpha=3.0, seed=1, device="cpu")
    ref = probe_features_sklearn(X, y, t, knn_k=10, C=0.5, alpha=3.0, seed=1, tol=1e-8)
    assert 0.3 < ref["linear_accuracy"] < 0.95  # classes overlap: a probe that can differ
    for key in ("linear_accuracy", "linear_macro_f1", "balanced_linear_accuracy",
                "balanced_linear_macro_f1", "rare_class_recall", "balanced_rare_class_recall"):  # fmt: skip
        assert got[key] == pytest.approx(ref[key], abs=0.01), key
    # kNN on continuous features has no ties: identical neighbours, identical metrics
    for key in ("knn_accuracy", "knn_macro_f1", "knn_wind_speed_rmse", "knn_hs_rmse"):
        assert got[key] == pytest.approx(ref[key], rel=1e-9), key
    for key in ("wind_speed_rmse", "hs_rmse"):
        assert got[key] == pytest.approx(ref[key], rel=1e-4), key
        assert got[f"{key}_mean_baseline"] == ref[f"{key}_mean_baseline"]
    assert (got["n_train"], got["n_test"]) == (ref["n_train"], ref["n_test"])


def test_tensor_features_run_where_they_are_and_match_numpy(data):
    X, y, t = data
    a = probe_features(torch.as_tensor(X), y, t, seed=2)  # device None: the tensor's (CPU)
    b = probe_features(X.astype(np.float64), y, t, seed=2, device="cpu")
    assert a["linear_recall_per_class"] == b["linear_recall_per_class"]
    assert a["hs_rmse"] == pytest.approx(b["hs_rmse"], rel=1e-6)
