r"""Frozen-feature probes: logistic regression (classes), ridge (wind speed, Hs), cosine kNN.

Features are standardised on the training split. Metrics on the test split:

* accuracy :math:`\frac{1}{n}\sum_i [\hat y_i = y_i]`, per-class recall
  :math:`R_c = TP_c / (TP_c + FN_c)`, macro-F1 :math:`\frac{1}{C}\sum_c
  \frac{2 P_c R_c}{P_c + R_c}` over the classes present in the test split or predicted;
* rare-class recall: mean :math:`R_c` over the rarer half of the classes present in the
  training split (ranked by training count), for the plain and for a class-balanced logistic
  probe (``balanced_*`` keys);
* RMSE :math:`\sqrt{\frac{1}{n}\sum_i (\hat t_i - t_i)^2}` for ``wind_speed`` and ``hs``.

kNN: the ``k`` training items of largest cosine similarity vote (majority; ties to the smaller
label; regression: their mean).

The estimators are :mod:`eoforge.nn.linear_probes` (torch, float32, on the CPU or the GPU):
scikit-learn's logistic objective minimised by L-BFGS, ridge in closed form, top-k kNN whose
neighbours are shared by the class and target probes when their splits coincide.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from eoforge.core.atomic import atomic_write_json
from eoforge.core.errors import ShapeError, bad_value
from eoforge.core.resume import FINGERPRINT, data_fingerprint
from eoforge.core.seeding import RandomState, as_generator
from eoforge.nn import linear_probes
from eoforge.nn.linear_probes import DeviceLike, LogisticProbe, RidgeProbe, probe_device
from eoforge.ssl.embed import embed_items, item_table, load_teacher, open_wv

_DTYPE = torch.float32  # probes run in float32; the ridge system is solved in float64

# -- metrics --------------------------------------------------------------------------------------


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, classes: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Accuracy, macro-F1 and per-class recall from a confusion matrix (see module docstring)."""
    y_true, y_pred = np.asarray(y_true, np.int64), np.asarray(y_pred, np.int64)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or y_true.size == 0:
        raise ShapeError(f"y_true {y_true.shape} and y_pred {y_pred.shape} must be equal 1-D.")
    C = int(max(y_true.max(), y_pred.max())) + 1
    cm = np.zeros((C, C), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(1), cm.sum(0)
    recall = np.divide(tp, support, out=np.zeros(C), where=support > 0)
    precision = np.divide(tp, predicted, out=np.zeros(C), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(C), where=denom > 0)
    used = (support > 0) | (predicted > 0)
    name = (lambda c: classes[c]) if classes else str
    return {
        "accuracy": float(tp.sum() / y_true.size),
        "macro_f1": float(f1[used].mean()),
        "recall_per_class": {name(c): float(recall[c]) for c in range(C) if support[c] > 0},
    }


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root-mean-square error."""
    d = np.asarray(y_pred, float) - np.asarray(y_true, float)
    return float(np.sqrt(np.mean(d**2)))


def knn_predict(
    train_X: np.ndarray, train_y: np.ndarray, test_X: np.ndarray, k: int = 20,
    regression: bool = False, block: int | None = None, device: DeviceLike = None,
) -> np.ndarray:  # fmt: skip
    """Cosine kNN prediction (majority vote, or mean for ``regression``) of NumPy arrays.

    By :func:`eoforge.nn.linear_probes.knn_predict` on ``device`` (``None``: CUDA if visible)
    in blocks of ``block`` queries (default: a bounded similarity block).
    """
    dev = probe_device(device)
    y = torch.as_tensor(np.asarray(train_y), device=dev)
    pred = linear_probes.knn_predict(
        _tensor(train_X, dev), y if regression else y.long(), _tensor(test_X, dev), k,
        regression, block,
    )  # fmt: skip
    return pred.cpu().numpy()


def _tensor(a: Any, device: torch.device) -> torch.Tensor:
    """``a`` as a float32 tensor on ``device`` (float64 NumPy arrays are rounded once)."""
    return torch.as_tensor(np.asarray(a) if not torch.is_tensor(a) else a).to(device, _DTYPE)


# -- probes ---------------------------------------------------------------------------------------


def split_indices(
    labels: np.ndarray, test_fraction: float = 0.3, seed: RandomState = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified train/test split (each class split by ``test_fraction``, >= 1 train item)."""
    if not 0 < test_fraction < 1:
        raise bad_value("test_fraction", test_fraction, "a float in (0, 1)")
    rng = as_generator(seed)
    train, test = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_test = min(round(test_fraction * len(idx)), len(idx) - 1)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def probe_features(
    features: np.ndarray,
    labels: np.ndarray,
    targets: dict[str, np.ndarray] | None = None,
    *,
    classes: tuple[str, ...] | None = None,
    test_fraction: float = 0.3,
    knn_k: int = 20,
    C: float = 1.0,
    alpha: float = 1.0,
    rare: Sequence[int] | None = None,
    seed: RandomState = 0,
    device: DeviceLike = None,
) -> dict[str, Any]:
    """Linear (logistic / ridge) and kNN probes of frozen features (see module docstring).

    Args:
        features: ``(n, D)`` features.
        labels: ``(n,)`` class labels (``-1`` = unlabelled, excluded from classification).
        targets: Continuous targets, e.g. ``{"wind_speed": ..., "hs": ...}`` (NaN excluded).
        classes: Class names (keys of the per-class recall).
        test_fraction: Share of the test split.
        knn_k: Neighbours of the kNN probe.
        C: Inverse L2 strength of the logistic regression.
        alpha: Ridge penalty.
        rare: Class indices whose mean recall is the rare-class recall (default: the rarer
            half of the probe's training split). Pass the classes that were rare in the
            *pre-training* data when the probe set has another prior (e.g. uniform).
        seed: Split seed.
        device: Where the probes run (:mod:`eoforge.nn.linear_probes`, float32): ``None`` =
            where ``features`` are if a tensor, else ``"auto"`` (CUDA when visible);
            ``"cpu"``, ``"gpu"``/``"cuda"``, or a ``torch.device``.

    Returns:
        Metrics: ``linear_accuracy``, ``linear_macro_f1``, ``linear_recall_per_class``,
        ``rare_class_recall``, the same with the prefix ``balanced_`` for a class-balanced
        logistic regression (weights n / (C n_c): it asks whether the features separate the
        rare classes, where the plain probe mostly follows the class prior), ``knn_accuracy``,
        ``knn_macro_f1``, ``{target}_rmse``,
        ``knn_{target}_rmse``, ``{target}_rmse_mean_baseline``, ``n_train``, ``n_test``.
    """
    dev = probe_device(device, features if torch.is_tensor(features) else None)
    X = _tensor(features, dev)  # (n, D)
    labels = np.asarray(labels)
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise ShapeError(
            f"features {tuple(X.shape)} and labels {labels.shape} must be (n, D) and (n,)."
        )
    if not bool(torch.isfinite(X).all()):
        raise bad_value("features", "array with NaN/inf", "finite features")
    tr, te = split_indices(labels, test_fraction, seed)
    Xs = _standardise(X, torch.as_tensor(tr, device=dev))  # (n, D)
    res: dict[str, Any] = {"n_train": int(tr.size), "n_test": int(te.size)}
    knn = _Neighbours(X, knn_k)
    ctr, cte = tr[labels[tr] >= 0], te[labels[te] >= 0]
    if cte.size and np.unique(labels[ctr]).size >= 2:
        res.update(_logistic_probes(Xs, labels, ctr, cte, C, classes, rare))
        y = torch.as_tensor(labels, device=dev)
        pred = linear_probes.knn_vote(y[knn(ctr, cte)], int(labels.max()) + 1).cpu().numpy()
        mk = classification_metrics(labels[cte], pred)
        res.update(knn_accuracy=mk["accuracy"], knn_macro_f1=mk["macro_f1"])
    for key, t in (targets or {}).items():
        res.update(_target_probes(key, np.asarray(t, dtype=np.float64), Xs, knn, tr, te, alpha))
    return res


def _target_probes(
    key: str,
    t: NDArray[np.float64],
    Xs: torch.Tensor,
    knn: _Neighbours,
    tr: NDArray[np.int64],
    te: NDArray[np.int64],
    alpha: float,
) -> dict[str, float]:
    """Ridge, kNN-mean and train-mean RMSEs of target ``t`` (NaN items left out; none: ``{}``)."""
    ok_tr, ok_te = tr[np.isfinite(t[tr])], te[np.isfinite(t[te])]
    if ok_tr.size < 2 or ok_te.size < 1:
        return {}
    reg = RidgeProbe(alpha).fit(Xs[ok_tr], torch.as_tensor(t[ok_tr], device=Xs.device))
    t_dev = torch.as_tensor(t, device=Xs.device)
    return {
        f"{key}_rmse": rmse(t[ok_te], reg.predict(Xs[ok_te]).double().cpu().numpy()),
        f"knn_{key}_rmse": rmse(t[ok_te], t_dev[knn(ok_tr, ok_te)].mean(1).cpu().numpy()),
        f"{key}_rmse_mean_baseline": rmse(t[ok_te], np.full(ok_te.size, t[ok_tr].mean())),
    }


def _standardise(X: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """``(X - mean) / std`` with the training rows' mean and population std (std 0 -> 1)."""
    Xt = X[train].double()  # (n_train, D): float64 moments, as StandardScaler
    mean, std = Xt.mean(0), Xt.std(0, correction=0)
    std = torch.where(std > 10 * torch.finfo(torch.float64).eps * mean.abs().clamp_min(1), std, 1)
    return ((X - mean.to(X.dtype)) / std.to(X.dtype)).contiguous()


def _logistic_probes(
    Xs: torch.Tensor, labels: np.ndarray, ctr: np.ndarray, cte: np.ndarray, C: float,
    classes: tuple[str, ...] | None, rare: Sequence[int] | None,
) -> dict[str, Any]:  # fmt: skip
    """Plain and class-balanced logistic probes (the balanced fit starts from the plain one)."""
    dev = Xs.device
    X_tr, X_te = Xs[torch.as_tensor(ctr, device=dev)], Xs[torch.as_tensor(cte, device=dev)]
    y_tr = torch.as_tensor(labels[ctr], device=dev)
    res: dict[str, Any] = {}
    clf = None
    for prefix, weight in (("", None), ("balanced_", "balanced")):
        clf = LogisticProbe(C=C, class_weight=weight).fit(X_tr, y_tr, init=clf)
        m = classification_metrics(labels[cte], clf.predict(X_te).cpu().numpy(), classes)
        res.update(_with_rare_recall(m, labels[ctr], labels[cte], classes, prefix, rare))
    return res


class _Neighbours:
    """Cosine top-k neighbour indices (into the full array) of test rows among training rows.

    Remembered per (train, test) index pair so the class and target kNN probes share them.
    """

    def __init__(self, X: torch.Tensor, k: int) -> None:
        self.X, self.k = X, k
        self._cache: dict[tuple[bytes, bytes], torch.Tensor] = {}

    def __call__(self, train: np.ndarray, test: np.ndarray) -> torch.Tensor:
        key = (train.tobytes(), test.tobytes())
        if key not in self._cache:
            tr = torch.as_tensor(train, device=self.X.device)
            te = torch.as_tensor(test, device=self.X.device)
            self._cache = {key: tr[linear_probes.knn_neighbours(self.X[tr], self.X[te], self.k)]}
        return self._cache[key]  # (m, k) row indices of X


def _with_rare_recall(
    m: dict[str, Any],
    y_train: np.ndarray,
    y_test: np.ndarray,
    classes: tuple[str, ...] | None,
    prefix: str,
    rare: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Linear-probe keys (with ``prefix``) from metrics ``m``, plus the rare-class recall."""
    if rare is None:
        counts = np.bincount(y_train)
        present = [c for c in np.argsort(counts, kind="stable") if counts[c] > 0]
        rare = present[: max(1, len(present) // 2)]
    rare = [int(c) for c in rare if np.any(y_test == c)]
    per = m["recall_per_class"]
    name = (lambda c: classes[c]) if classes else str
    return {
        f"{prefix}linear_accuracy": m["accuracy"],
        f"{prefix}linear_macro_f1": m["macro_f1"],
        f"{prefix}linear_recall_per_class": per,
        f"{prefix}rare_classes": [name(c) for c in rare],
        f"{prefix}rare_class_recall": float(np.mean([per[name(c)] for c in rare]))
        if rare
        else None,
    }


def probe_wv(features: np.ndarray, wv: Any, **kwargs: Any) -> dict[str, Any]:
    """:func:`probe_features` with the labels, wind speed and Hs of a ``WVSet``."""
    table = item_table(wv)
    return probe_features(features, table["labels"], table["targets"], classes=table["classes"],
                          **kwargs)  # fmt: skip


#: Items probed by default: the probes hold the features in memory (100,000 x 384 = 154 MB).
MAX_PROBE_ITEMS = 100_000


def probe_items(n: int, max_items: int | None = MAX_PROBE_ITEMS, seed: int = 0) -> np.ndarray:
    """Sorted items probed out of ``n``.

    All when ``n <= max_items`` (or ``None``), else ``max_items`` drawn uniformly without
    replacement (generator ``SeedSequence([seed, 15])``).
    """
    if max_items is not None and (
        isinstance(max_items, bool) or not isinstance(max_items, int | np.integer) or max_items < 1
    ):
        raise bad_value("--max-items", max_items, "a positive int (items probed)")
    if max_items is None or n <= max_items:
        return np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 15]))
    return np.sort(rng.choice(n, int(max_items), replace=False)).astype(np.int64)


def probe_run(
    run: str | os.PathLike[str],
    data: Any,
    *,
    test_fraction: float = 0.3,
    knn_k: int = 20,
    seed: int = 0,
    batch_size: int = 256,
    write: bool = True,
    device: DeviceLike = None,
    max_items: int | None = MAX_PROBE_ITEMS,
    workers: int = 0,
    progress: Any = None,
) -> dict[str, Any]:
    """Probe a pre-training run's teacher on ``data`` (a ``WVSet``, or Zarr store path(s)).

    Stores are read chunk by chunk (:func:`eoforge.ssl.embed.embed_items`): only the features of
    the probed items (:func:`probe_items`: at most ``max_items``, drawn uniformly with ``seed``)
    are held, so an archive of any size is probed in bounded memory. Embeds and probes on
    ``device`` (``None``/``"auto"``: CUDA if visible, else the CPU). Writes ``RUN/probe.json``
    (atomically) when ``write``; its ``probed`` entry records what was probed
    (:func:`probe_record`).
    """
    wv = open_wv(data)
    dev = probe_device(device)
    items = probe_items(len(wv.images), max_items, seed)
    encoder, normaliser, info = load_teacher(run)
    feats = embed_items(encoder, wv, normaliser, info["eval_size"], indices=items,
                        batch_size=batch_size, device=dev, workers=workers,
                        progress=progress)  # fmt: skip
    table = item_table(wv)
    targets = {k: v[items] for k, v in table["targets"].items()}
    res = probe_features(feats, table["labels"][items], targets, classes=table["classes"],
                         test_fraction=test_fraction, knn_k=knn_k, seed=seed,
                         device=dev)  # fmt: skip
    res["probed"] = probe_record(run, data, wv, test_fraction=test_fraction, knn_k=knn_k,
                                 seed=seed, max_items=max_items, n_probed=int(items.size))  # fmt: skip
    if write:
        atomic_write_json(Path(run) / "probe.json", res)
    return res


def probe_record(
    run: str | os.PathLike[str], data: Any, wv: Any, **settings: Any
) -> dict[str, Any]:
    """What a probe was run on: the data's path, size and fingerprint, and the split settings.

    ``fingerprint`` is :func:`eoforge.core.resume.data_fingerprint` (shape, dtype and a SHA-256 of
    evenly spaced imagettes and all labels); ``same_as_pretraining`` compares it with the run's
    ``fingerprint.json`` (``None`` when the run has none), so a probe on the training images is
    told apart from one on held-out data.
    """
    paths = [Path(p).resolve() for p in wv.paths] if hasattr(wv, "paths") else None
    if paths is None and isinstance(data, str | os.PathLike):
        paths = [Path(data).resolve()]
    fp = data_fingerprint(wv.images, getattr(wv, "labels", None))  # reads a few items only
    record_file = Path(run) / FINGERPRINT
    trained_on = None
    if record_file.is_file():
        trained_on = json.loads(record_file.read_text()).get("data")
    return {
        "data": ",".join(map(str, paths)) if paths else "<in-memory WVSet>",
        "data_bytes": sum(_size_bytes(p) for p in paths) if paths else None,
        "n_images": len(wv.images),
        "image_size": [int(s) for s in wv.images.shape[1:]],
        "fingerprint": fp,
        "same_as_pretraining": None if trained_on is None else dict(trained_on) == fp,
        "run": str(Path(run).resolve()),
        **{k: (v if isinstance(v, int | float | str) or v is None else repr(v))
           for k, v in settings.items()},
    }  # fmt: skip


def _size_bytes(path: Path) -> int:
    """Bytes of a file, or of every file under a folder (a Zarr store)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
