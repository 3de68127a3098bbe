"""Torch probe estimators against scikit-learn: logistic objective and predictions, ridge
coefficients, cosine kNN neighbours and votes; device rule and input errors."""

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from eoforge.core.errors import InputError
from eoforge.nn.linear_probes import (
    LogisticProbe,
    RidgeProbe,
    cpu_threads,
    exact_matmuls,
    knn_neighbours,
    knn_predict,
    probe_device,
)

torch.set_num_threads(1)  # small problems: threads only add spin-waits on a shared CPU


def _classes(n=600, d=12, seed=0):
    """4 overlapping Gaussian classes, long-tailed prior, correlated features."""
    rng = np.random.default_rng(seed)
    K = 4
    y = rng.choice(K, n, p=[0.55, 0.25, 0.15, 0.05])
    mix = rng.normal(size=(d, d)) / np.sqrt(d) + np.eye(d)
    X = (rng.normal(size=(K, d))[y] + rng.normal(size=(n, d))) @ mix
    return X, y + 3  # labels 3..3+K-1: classes_ need not start at 0


def _sk_objective(clf, X, y, C, weights):
    """Scaled objective of a scikit-learn fit, from its probabilities (independent of ours)."""
    s = np.ones(len(y)) if weights is None else weights
    nll = log_loss(y, clf.predict_proba(X), sample_weight=s, normalize=False)
    return (nll + (clf.coef_**2).sum() / (2 * C)) / s.sum()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("class_weight", [None, "balanced"])
def test_logistic_matches_sklearn_objective_and_predictions(dtype, class_weight):
    X, y = _classes()
    C = 0.5
    ref = LogisticRegression(C=C, tol=1e-8, max_iter=10000, class_weight=class_weight).fit(X, y)
    got = LogisticProbe(C=C, class_weight=class_weight).fit(torch.as_tensor(X, dtype=dtype),
                                                          torch.as_tensor(y))  # fmt: skip
    counts = np.bincount(y)[y]
    w = None if class_weight is None else len(y) / (4 * counts)
    f_ref = _sk_objective(ref, X, y, C, w)
    X64 = torch.as_tensor(X)
    ours = LogisticProbe(C=C, class_weight=class_weight)
    ours.classes_, ours.coef_, ours.intercept_ = (
        got.classes_, got.coef_.double(), got.intercept_.double())  # fmt: skip
    f_got = float(ours.objective(X64, torch.as_tensor(y)))
    assert abs(f_got - f_ref) <= 1e-4 * f_ref
    # our objective at scikit-learn's optimum equals scikit-learn's loss: same objective
    ours.coef_, ours.intercept_ = torch.as_tensor(ref.coef_), torch.as_tensor(ref.intercept_)
    assert float(ours.objective(X64, torch.as_tensor(y))) == pytest.approx(f_ref, rel=1e-9)
    pred = got.predict(torch.as_tensor(X, dtype=dtype)).numpy()
    assert (pred == ref.predict(X)).mean() >= 0.99
    if dtype == torch.float64:  # a tighter stop reaches scikit-learn's coefficients too
        tight = LogisticProbe(C=C, class_weight=class_weight, tol=1e-7)
        tight.fit(torch.as_tensor(X), torch.as_tensor(y))
        np.testing.assert_allclose(tight.coef_.numpy(), ref.coef_, atol=1e-4 * abs(ref.coef_).max())


def test_logistic_warm_start_and_preconditioning_reach_the_same_optimum():
    X, y = _classes(seed=1)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    cold = LogisticProbe(tol=1e-7).fit(Xt, yt)
    plain = LogisticProbe(tol=1e-7, precondition=False).fit(Xt, yt)
    warm = LogisticProbe(tol=1e-7).fit(Xt, yt, init=cold)
    torch.testing.assert_close(plain.coef_, cold.coef_, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(warm.coef_, cold.coef_, atol=1e-5, rtol=1e-5)
    assert warm.n_iter_ <= 2 < cold.n_iter_  # started at the optimum


def test_ridge_matches_sklearn():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 9)) @ rng.normal(size=(9, 9)) + 5.0  # not centred, correlated
    T = X @ rng.normal(size=(9, 2)) + rng.normal(size=(300, 2)) + [3.0, -1.0]
    for t in (T[:, 0], T):
        ref = Ridge(alpha=2.5).fit(X, t)
        got = RidgeProbe(2.5).fit(torch.as_tensor(X), torch.as_tensor(t))
        np.testing.assert_allclose(got.coef_.numpy(), ref.coef_, rtol=1e-9, atol=1e-10)
        np.testing.assert_allclose(got.intercept_.numpy(), ref.intercept_, rtol=1e-9)
        np.testing.assert_allclose(got.predict(torch.as_tensor(X)).numpy(), ref.predict(X),
                                   rtol=1e-9)  # fmt: skip
    got32 = RidgeProbe(2.5).fit(torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(T[:, 0]))
    np.testing.assert_allclose(got32.coef_.numpy(), Ridge(2.5).fit(X, T[:, 0]).coef_, rtol=1e-3)


def test_knn_neighbours_and_votes_match_sklearn():
    rng = np.random.default_rng(3)
    Xtr, Xte = rng.normal(size=(250, 6)), rng.normal(size=(80, 6))  # continuous: no ties
    ytr = rng.integers(0, 4, 250)
    ref_idx = NearestNeighbors(n_neighbors=7, metric="cosine", algorithm="brute").fit(Xtr)
    ref_idx = ref_idx.kneighbors(Xte, return_distance=False)
    A, B = torch.as_tensor(Xtr), torch.as_tensor(Xte)
    for block, block_bytes in ((None, 256 * 2**20), (9, 1), (None, 250 * 8 * 5)):
        idx = knn_neighbours(A, B, 7, block, block_bytes).numpy()
        assert np.array_equal(np.sort(idx, 1), np.sort(ref_idx, 1))
    ref = KNeighborsClassifier(7, metric="cosine", algorithm="brute").fit(Xtr, ytr)
    pred = knn_predict(A.float(), torch.as_tensor(ytr), B.float(), k=7, block=13).numpy()
    assert np.array_equal(pred, ref.predict(Xte))
    # a vote tie goes to the smaller label (2 neighbours, labels 2 and 1 -> 1)
    lab = torch.tensor([2, 1, 0])
    Xs = torch.tensor([[1.0, 0.0], [1.0, 0.1], [-1.0, 0.0]])
    assert knn_predict(Xs, lab, torch.tensor([[1.0, 0.05]]), k=2).tolist() == [1]


def test_device_rule_errors_and_matmul_precision():
    assert probe_device("cpu") == torch.device("cpu")
    assert probe_device(None, torch.zeros(1)) == torch.device("cpu")
    with pytest.raises(InputError, match="device 'tpu'"):
        probe_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="no CUDA device"):
            probe_device("gpu")
    with pytest.raises(InputError, match="C=0"):
        LogisticProbe(C=0)
    with pytest.raises(InputError, match="at least 2 classes"):
        LogisticProbe().fit(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(InputError, match="k=0"):
        knn_neighbours(torch.zeros(3, 2), torch.zeros(1, 2), 0)
    threads = torch.get_num_threads()
    with cpu_threads(max(threads + 1, 2)):
        assert torch.get_num_threads() == max(threads + 1, 2)
    assert torch.get_num_threads() == threads
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("medium")
    try:
        with exact_matmuls():
            assert torch.get_float32_matmul_precision() == "highest"
        assert torch.get_float32_matmul_precision() == "medium"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_matches_cpu():
    X, y = _classes(seed=4)
    Xt, yt = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    cpu = LogisticProbe().fit(Xt, yt)
    gpu = LogisticProbe().fit(Xt.cuda(), yt.cuda())
    assert (gpu.predict(Xt.cuda()).cpu() == cpu.predict(Xt)).float().mean() >= 0.99
    idx = knn_neighbours(Xt.cuda(), Xt[:50].cuda(), 5).cpu()
    assert (idx.sort(1).values == knn_neighbours(Xt, Xt[:50], 5).sort(1).values).all()
