"""SAR- and InSAR-aware evaluation of generated images against a reference set.

:func:`evaluate` returns one flat dict of numbers (JSON-ready): the physical statistics of
:mod:`eoforge.sar.stats` for both sets and their distances, plus feature-space FID, KID and
precision/recall (:mod:`eoforge.diffusion.evaluation.metrics`). :func:`plot_evaluation` draws the curves
behind them; :func:`run_evaluate` is the job behind ``eoforge diffusion evaluate``.

Input domains (physical units, *not* the model's normalised domain):

- ``kind="sar"``: linear intensity (sigma0 power) ``(N, H, W)`` or ``(N, 1, H, W)``.
  Value distributions and spectra are computed on ``10 log10 I`` (dB), the ENL on linear
  intensity. An SSL feature extractor (one with ``standardise_db``, e.g.
  :class:`~eoforge.diffusion.evaluation.features.SSLFeatures`, the default) sees the dB images mapped by
  its own training normaliser, ``(dB - mean_db) / std_db``, i.e. exactly what its pre-training
  saw; any other extractor sees the dB images standardised with the reference's mean and std.
- ``kind="insar"``: unwrapped phase in radians ``(N, H, W)`` / ``(N, 1, H, W)``, or wrapped
  phase as ``(N, 2, H, W)`` (cos, sin) channels, in which case only the wrapped-phase
  statistics are computed. Features see the phase standardised with the reference's
  statistics (or the cos/sin channels, embedded channel by channel by SSL encoders).

The feature extractor is chosen by ``features=`` (see
:func:`eoforge.diffusion.evaluation.features.resolve_features`): by default the SSL encoder shipped with
eoforge, or the weak random conv net with a warning when its weights are not installed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import wasserstein_distance

from eoforge.core.config import RunConfig
from eoforge.core.errors import DataNotFoundError, InputError, ShapeError, bad_value
from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.core.seeding import RandomState
from eoforge.diffusion.array_files import read_npy, read_npz, read_zarr
from eoforge.diffusion.evaluation.features import FeatureFn, FeatureSpec, resolve_features
from eoforge.diffusion.evaluation.metrics import feature_metrics, memorisation
from eoforge.sar import stats
from eoforge.sar.insar import from_cos_sin, wrap

KINDS: tuple[str, ...] = ("sar", "insar")
DB_FLOOR = 1e-10


class EvaluateConfig(RunConfig):
    """Configuration of ``eoforge diffusion evaluate`` (saved as ``config.yaml``)."""

    samples: str
    reference: str
    kind: str = "sar"
    training: str | None = None
    features: str | None = None


def _prepare(x: np.ndarray, kind: str, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(N, H, W) working array (dB for SAR; wrapped or unwrapped phase) and unwrapped or None."""
    a = np.asarray(x, dtype=np.float64)
    if kind == "insar" and a.ndim == 4 and a.shape[1] == 2:
        return from_cos_sin(a), None
    a = stats.as_image_stack(a, name)
    if len(a) < 2:
        raise ShapeError(f"{name} holds {len(a)} image(s): evaluation needs at least 2.")
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name} contains NaN or inf values; remove or fill them first.")
    if kind == "sar":
        if np.any(a < 0):
            raise InputError(
                f"{name} has negative values: kind='sar' expects linear intensity. Convert dB "
                "with 10 ** (db / 10) (or pass the inverse of the model's normalisation)."
            )
        return 10.0 * np.log10(np.maximum(a, DB_FLOOR)), None
    return a, a


def evaluate(
    samples: np.ndarray,
    reference: np.ndarray,
    kind: str = "sar",
    features: FeatureSpec = None,
    *,
    enl_window: int | None = 8,
    lags: np.ndarray | list[float] | None = None,
    feature_space: bool = True,
    kid_subset_size: int = 500,
    training: np.ndarray | None = None,
    random_state: RandomState = 0,
) -> dict[str, float]:
    """All statistics of generated ``samples`` against ``reference`` images.

    SAR keys: ``enl_samples``, ``enl_reference``, ``enl_ratio`` (:func:`~eoforge.sar.stats.enl`
    with ``enl_window``), ``mean_intensity_*`` (linear), ``mean_db_*``, ``std_db_*``, ``log_hist_w1_db`` (Wasserstein-1 of the
    dB values), ``log_hist_js``, ``psd_distance`` (on dB images).

    InSAR keys: ``residue_density_*`` (:func:`~eoforge.sar.stats.phase_residues` of the wrapped
    phase), ``gradient_circvar_*`` (circular variance of the wrapped phase differences between
    neighbouring pixels: 0 for smooth fields, 1 for noise), and for unwrapped phase also
    ``semivariogram_distance`` (``mean_h |ln gamma_s(h) - ln gamma_r(h)|`` over ``lags``),
    ``phase_w1`` (Wasserstein-1 of the values, radians), ``std_*`` and ``psd_distance``.

    Feature keys (``feature_space=True``): ``fid``, ``kid``, ``kid_std``, ``precision``,
    ``recall`` (k = 3); with ``training`` also the memorisation check (pixel space) as
    ``memo_*``.

    Args:
        samples: Generated images in physical units (see the module docstring).
        reference: Real images, same image size.
        kind: ``"sar"`` or ``"insar"``.
        features: Feature extractor for FID/KID/PR: ``None`` (the shipped SSL encoder, or
            the random conv net with a warning if it is missing), ``"ssl"``, ``"random"``, an
            SSL run folder or exported encoder path, or a callable (``resolve_features``).
        enl_window: Window of the ENL (None: whole images).
        lags: Semivariogram lags in pixels (default 1, 2, 4, ... up to a quarter of the size).
        feature_space: Compute FID/KID/PR.
        kid_subset_size: Subset size of KID (capped by the set sizes).
        training: Training images (physical units) for the memorisation check.
        random_state: Seed of the KID subsets.

    Returns:
        Flat dict of floats, plus ``n_samples`` and ``n_reference``.
    """
    (s, s_unw), (r, r_unw) = _prepared_pair(samples, reference, kind)
    out: dict[str, float] = {"n_samples": float(len(s)), "n_reference": float(len(r))}
    if kind == "sar":
        out.update(_sar_stats(s, r, enl_window))
    else:
        out.update(_insar_stats(s, r, s_unw, r_unw, lags))
    if feature_space:
        fn = resolve_features(features)
        feat_s, feat_r = feature_inputs(fn, kind, s, r, s_unw, r_unw)
        out.update(
            feature_metrics(
                feat_r, feat_s, fn, kid_subset_size=kid_subset_size, random_state=random_state
            )
        )
    if training is not None:
        t, _ = _prepare(training, kind, "training")
        memo = memorisation(s, t)
        out.update({f"memo_{k}": v for k, v in memo.items()})
    return out


def _prepared_pair(
    samples: np.ndarray, reference: np.ndarray, kind: str
) -> tuple[tuple[np.ndarray, np.ndarray | None], tuple[np.ndarray, np.ndarray | None]]:
    """:func:`_prepare` of both sets, which must hold images of one size."""
    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {KINDS}")
    s = _prepare(samples, kind, "samples")
    r = _prepare(reference, kind, "reference")
    if s[0].shape[1:] != r[0].shape[1:]:
        raise ShapeError(
            f"samples have images of {s[0].shape[1:]} and reference of {r[0].shape[1:]}: use "
            "the same image size (crop the reference)."
        )
    return s, r


def feature_inputs(
    fn: FeatureFn,
    kind: str,
    s: np.ndarray,
    r: np.ndarray,
    s_unw: np.ndarray | None,
    r_unw: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """What the extractor ``fn`` is given for the samples and the reference.

    SAR with an extractor that has ``standardise_db`` (an SSL encoder): its own map of the dB
    images, ``(dB - mean_db) / std_db`` with its training statistics. Otherwise the working
    arrays (dB, unwrapped phase, or (N, 2, H, W) cos/sin of the wrapped phase) standardised
    with the reference's mean and std, ``(x - mean(r)) / std(r)``.
    """
    to_z = getattr(fn, "standardise_db", None)
    if kind == "sar" and callable(to_z):
        return to_z(s), to_z(r)
    if kind == "sar":
        feat_s, feat_r = s, r
    elif s_unw is None or r_unw is None:
        feat_s = np.stack([np.cos(s), np.sin(s)], axis=1)
        feat_r = np.stack([np.cos(r), np.sin(r)], axis=1)
    else:
        feat_s, feat_r = s_unw, r_unw
    mu, sd = feat_r.mean(), feat_r.std() or 1.0
    return (feat_s - mu) / sd, (feat_r - mu) / sd


def _sar_stats(s_db: np.ndarray, r_db: np.ndarray, window: int | None) -> dict[str, float]:
    s_lin, r_lin = 10.0 ** (s_db / 10.0), 10.0 ** (r_db / 10.0)
    enl_s, enl_r = stats.enl(s_lin, window), stats.enl(r_lin, window)
    return {
        "enl_samples": enl_s,
        "enl_reference": enl_r,
        "enl_ratio": enl_s / enl_r if enl_r > 0 else float("nan"),
        "mean_intensity_samples": float(s_lin.mean()),
        "mean_intensity_reference": float(r_lin.mean()),
        "mean_db_samples": float(s_db.mean()),
        "mean_db_reference": float(r_db.mean()),
        "std_db_samples": float(s_db.std()),
        "std_db_reference": float(r_db.std()),
        "log_hist_w1_db": stats.log_intensity_histogram_distance(s_db, r_db, domain="db"),
        "log_hist_js": stats.log_intensity_histogram_distance(s_db, r_db, metric="js", domain="db"),
        "psd_distance": stats.psd_distance(s_db, r_db),
    }


def default_lags(size: int) -> np.ndarray:
    """Lags 1, 2, 3, 4, 6, 8, 12, 16, ... up to a quarter of the image size (pixels)."""
    lags = [h for h in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128) if h <= size / 4]
    return np.asarray(lags or [1], dtype=np.float64)


def _gradient_circvar(phase: np.ndarray) -> float:
    dx = wrap(np.diff(phase, axis=-1))
    dy = wrap(np.diff(phase, axis=-2))
    return float(stats.circular_variance(np.concatenate([dx.ravel(), dy.ravel()])))


def _insar_stats(
    s: np.ndarray,
    r: np.ndarray,
    s_unw: np.ndarray | None,
    r_unw: np.ndarray | None,
    lags: np.ndarray | list[float] | None,
) -> dict[str, float]:
    out = {
        "residue_density_samples": stats.phase_residues(wrap(s)),
        "residue_density_reference": stats.phase_residues(wrap(r)),
        "gradient_circvar_samples": _gradient_circvar(s),
        "gradient_circvar_reference": _gradient_circvar(r),
    }
    if s_unw is None or r_unw is None:
        return out
    h = default_lags(min(s.shape[1:])) if lags is None else np.asarray(lags, dtype=np.float64)
    g_s, g_r = stats.semivariogram(s_unw, h), stats.semivariogram(r_unw, h)
    tiny = 1e-30
    out.update(
        semivariogram_distance=float(np.nanmean(np.abs(np.log(g_s + tiny) - np.log(g_r + tiny)))),
        phase_w1=float(wasserstein_distance(s_unw.ravel(), r_unw.ravel())),
        std_samples=float(s_unw.std()),
        std_reference=float(r_unw.std()),
        psd_distance=stats.psd_distance(s_unw, r_unw),
    )
    return out


# --------------------------------------------------------------------------- figures


def plot_evaluation(
    samples: np.ndarray,
    reference: np.ndarray,
    kind: str = "sar",
    *,
    labels: tuple[str, str] = ("generated", "reference"),
    lags: np.ndarray | list[float] | None = None,
) -> Any:
    """Figure comparing the two sets: value histograms, radial PSDs and (InSAR) semivariograms.

    Returns:
        A matplotlib Figure (save it with ``RunDir.save_figure`` or ``fig.savefig``).
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {KINDS}")
    sets = [_prepare(x, kind, name) for x, name in ((samples, "samples"), (reference, "reference"))]
    unwrapped = [u for _, u in sets if u is not None]
    n_panels = 3 if kind == "insar" and len(unwrapped) == len(sets) else 2
    fig, axes = plt.subplots(1, n_panels, figsize=(4.2 * n_panels, 3.4))
    xlabel = "10 log10 intensity (dB)" if kind == "sar" else "phase (rad)"
    for (x, _), label in zip(sets, labels, strict=True):
        axes[0].hist(x.ravel(), bins=80, density=True, histtype="step", label=label)
        f, p = stats.radial_power_spectrum(x)
        axes[1].loglog(f, p, label=label)
    axes[0].set_xlabel(xlabel)
    axes[0].set_ylabel("density")
    axes[0].legend()
    axes[1].set_xlabel("radial frequency (cycles / pixel)")
    unit = "dB²" if kind == "sar" else "rad²"  # PSD of white noise of variance s² is s²
    axes[1].set_ylabel(f"radially averaged PSD ({unit} pixel²)")
    if n_panels == 3:
        h = default_lags(min(sets[0][0].shape[1:])) if lags is None else np.asarray(lags)
        for u, label in zip(unwrapped, labels, strict=True):
            axes[2].loglog(h, stats.semivariogram(u, h), "o-", label=label)
        axes[2].set_xlabel("lag (pixels)")
        axes[2].set_ylabel("semivariogram (rad²)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- files and job


def load_images(path: str | os.PathLike[str]) -> np.ndarray:
    """Load an image stack from ``.npy``, ``.npz`` or a ``.zarr`` store.

    In ``.npz`` the key ``samples``, ``images`` or the first; in ``.zarr`` the array ``images``
    or ``samples`` (e.g. ``eoforge sar synth-wv`` or ``eoforge diffusion sample --out X.zarr``).

    Raises:
        DataNotFoundError: Missing file.
        InputError: Unsupported format, or a damaged file (one line naming it).
    """
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"image file {str(p)!r} does not exist; check the path.")
    if p.suffix == ".zarr":
        arrays = read_zarr(p, ("samples", "images"))
        if not arrays:
            raise DataNotFoundError(f"{str(p)!r} has no array 'images' or 'samples'.")
        return next(iter(arrays.values()))
    if p.suffix == ".npy":
        return read_npy(p)
    if p.suffix == ".npz":
        arrays = read_npz(p, None)
        if not arrays:
            raise InputError(f"{str(p)!r} holds no array.")
        key = next((k for k in ("samples", "images") if k in arrays), next(iter(arrays)))
        return arrays[key]
    raise InputError(
        f"{str(p)!r} has an unsupported extension {p.suffix!r}: save the images as .npy, .npz "
        "or .zarr (N, H, W) arrays in physical units."
    )


def run_evaluate(
    samples: str | os.PathLike[str],
    reference: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    kind: str = "sar",
    training: str | os.PathLike[str] | None = None,
    features: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Evaluate the image files ``samples`` against ``reference``; write a run folder.

    With ``training`` (the training images' file) the memorisation check is added.
    ``features`` names the FID/KID/PR extractor (``None``: the default rule, ``"ssl"``,
    ``"random"`` or an SSL run/encoder path; see ``resolve_features``).

    Writes ``OUT/config.yaml``, ``OUT/metrics.json``, ``OUT/figures/evaluation.png``,
    ``OUT/report.html`` and ``OUT/manifest.json``.
    """
    cfg = EvaluateConfig(
        samples=str(samples),
        reference=str(reference),
        kind=kind,
        training=None if training is None else str(training),
        features=None if features is None else str(features),
        seed=seed,
    )
    x, ref = load_images(samples), load_images(reference)
    train = None if training is None else load_images(training)
    fn = resolve_features(features)
    metrics = evaluate(x, ref, kind, fn, training=train, random_state=seed)
    run = RunDir(out, cfg)
    run.save_metrics(metrics)
    fig_path = run.save_figure(plot_evaluation(x, ref, kind), "evaluation")
    report = Report("eoforge diffusion evaluate", f"{kind} samples {samples} vs {reference}")
    report.section("Statistics").add_table(
        metrics, caption=f"generated vs reference (FID/KID/PR features: {fn!r})"
    )
    report.add_image_file(fig_path, "value histograms, spectra (and semivariograms)")
    report.section("Configuration").add_config(cfg)
    report.write(run.file("report.html"))
    run.write_manifest()
    return metrics
