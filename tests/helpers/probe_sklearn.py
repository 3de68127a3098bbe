"""The scikit-learn probes that ``probe_features`` used before its torch path: the test oracle.

Same metrics and split as :func:`eoforge.ssl.probe.probe_features`; the estimators are
scikit-learn's ``StandardScaler``, ``LogisticRegression`` (lbfgs, ``class_weight`` None and
``"balanced"``), ``Ridge`` and a brute-force cosine ``KNeighbors*`` (majority vote / mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.preprocessing import StandardScaler

from eoforge.ssl.probe import _with_rare_recall, classification_metrics, rmse, split_indices


def probe_features_sklearn(
    features: np.ndarray,
    labels: np.ndarray,
    targets: dict[str, np.ndarray] | None = None,
    *,
    test_fraction: float = 0.3,
    knn_k: int = 20,
    C: float = 1.0,
    alpha: float = 1.0,
    seed: int = 0,
    max_iter: int = 3000,
    tol: float = 1e-4,
) -> dict[str, Any]:
    """The metrics of ``probe_features`` (without class names), computed with scikit-learn."""
    X, labels = np.asarray(features, np.float64), np.asarray(labels)
    tr, te = split_indices(labels, test_fraction, seed)
    Xs = StandardScaler().fit(X[tr]).transform(X)
    res: dict[str, Any] = {"n_train": int(tr.size), "n_test": int(te.size)}
    ctr, cte = tr[labels[tr] >= 0], te[labels[te] >= 0]
    for prefix, weight in (("", None), ("balanced_", "balanced")):
        clf = LogisticRegression(C=C, max_iter=max_iter, tol=tol, class_weight=weight)
        clf.fit(Xs[ctr], labels[ctr])
        m = classification_metrics(labels[cte], clf.predict(Xs[cte]))
        res.update(_with_rare_recall(m, labels[ctr], labels[cte], None, prefix))
    knn = KNeighborsClassifier(knn_k, metric="cosine", algorithm="brute")
    mk = classification_metrics(labels[cte], knn.fit(X[ctr], labels[ctr]).predict(X[cte]))
    res.update(knn_accuracy=mk["accuracy"], knn_macro_f1=mk["macro_f1"])
    for key, t in (targets or {}).items():
        t = np.asarray(t, np.float64)
        ok_tr, ok_te = tr[np.isfinite(t[tr])], te[np.isfinite(t[te])]
        reg = Ridge(alpha=alpha).fit(Xs[ok_tr], t[ok_tr])
        res[f"{key}_rmse"] = rmse(t[ok_te], reg.predict(Xs[ok_te]))
        knr = KNeighborsRegressor(knn_k, metric="cosine", algorithm="brute")
        res[f"knn_{key}_rmse"] = rmse(t[ok_te], knr.fit(X[ok_tr], t[ok_tr]).predict(X[ok_te]))
        res[f"{key}_rmse_mean_baseline"] = rmse(t[ok_te], np.full(ok_te.size, t[ok_tr].mean()))
    return res
