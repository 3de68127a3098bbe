"""Detection benchmark on held-out simulated scenes: POD vs emission rate at a fixed FP budget.

Protocol (Orbio Project Eucalyptus' detection-threshold test, notes section 5, on the project's
own simulator):

1. ``n_negative`` plume-free pairs and ``n_per_rate`` pairs per emission rate are simulated with
   scene seeds >= 2^30, never used in training (:mod:`.heldout`), on every surface type, random
   wind; plain scenes by default, or with 0..``confounders_max``
   confounders and (in ``cloud_prob`` of the scenes) clouds, as in training: harder negatives.
   With K = ``references`` > 1 reference dates (default: the detector's K) each scene's target
   is its site's revisit 0 and its references the reference scenes of revisits 1..K
   (:mod:`eoforge.methane.scenes.revisits`); a K-date detector sees them in one pass, a
   single-date one gives the majority of its per-reference probabilities (as ``detect``), and
   the context veto drops a component only if it fires against every reference date.
2. A detection map is thresholded at t; its 8-connected components of >= ``min_area_px`` pixels
   that the context veto keeps are candidate plumes (the rule of ``detect``:
   :mod:`eoforge.methane.detect.candidates`; the scan is :mod:`.scan`).
   On plume-free scenes each one is a false positive; the FP rate is
   FP(t) = (number of components) / (scanned area) x 100 km2.
3. The detector's threshold t* is the lowest with FP(t*) <= ``fp_budget`` (default 2 per
   100 km2, Orbio's 2 plumes per 500 x 500 px). A plume is detected when a component overlaps
   its true mask; POD(Q) is the detected fraction at rate Q, and Q50 the rate at which POD
   crosses 50 % (log-linear interpolation). With ``threshold`` set (e.g. the detector's own saved
   threshold, ``"detector"`` on the command line), t* is that value instead, and the FP rate at
   it is reported as measured: the operating point as shipped, not re-selected.
   The FP rate's 90 % interval comes from a bootstrap over the plume-free scenes (false plumes
   cluster in a few hard scenes, so a Poisson interval would be too narrow). With
   ``fp_confidence`` c set, t* is instead the lowest threshold whose bootstrap c-quantile of the
   FP rate is within the budget: an operating point that holds the budget with confidence c on
   scenes like these (it still moves between negative sets: the FP curve is flat there).
4. Baseline: connected components of the MBMP column retrieve_column(mbmp(T, R), AMF)
   (Varon et al. 2021) above tau. At equal recall (the lowest-FP tau whose recall over all
   plumes reaches the detector's), the FP rates of both are reported with their ratio.
5. Emission-rate error: for detected plumes, |Q_hat - Q| / Q with Q_hat from the detector's
   column inside the detected components that overlap the plume, with the detector's rate
   calibration (:func:`~eoforge.methane.detector.rates.quantify_detection`).

Settings: :mod:`.config`; report: :mod:`.report`; intervals: :mod:`.stats`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from eoforge.core.atomic import atomic_write_json
from eoforge.core.progress import ProgressCallback
from eoforge.core.runs import RunDir
from eoforge.core.seeding import as_generator
from eoforge.methane.detect.candidates import candidate_plumes
from eoforge.methane.detector.rates import quantify_detection
from eoforge.methane.detector.weights import Detector, load_default_detector, load_detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.evaluate.heldout import Changes, draw_scene, score_scene
from eoforge.methane.evaluate.report import write_evaluate_report
from eoforge.methane.evaluate.scan import (
    baseline_thresholds,
    detector_thresholds,
    equal_recall_index,
    first_within,
    rate_at,
    scan,
)
from eoforge.methane.evaluate.stats import fp_bootstrap, wilson_interval
from eoforge.methane.scenes.revisits import reference_count


@dataclass(frozen=True)
class _PlumeScene:
    """What the rate errors need of one plume scene."""

    prob: np.ndarray
    column: np.ndarray
    truth: np.ndarray
    wind: float
    rate: float
    changes: Changes | None
    surface: str


@dataclass
class _Tallies:
    """Per-threshold counts over all scenes (detector grid ``t_det``, baseline grid ``t_base``)."""

    false_detector: list[np.ndarray] = field(default_factory=list)
    """Per plume-free scene: its false plumes at each detector threshold."""
    false_baseline: np.ndarray = field(default_factory=lambda: np.zeros(0))
    """False plumes of the baseline at each of its thresholds, summed over plume-free scenes."""
    hits_detector: list[np.ndarray] = field(default_factory=list)
    hits_baseline: list[np.ndarray] = field(default_factory=list)
    plume_scenes: list[_PlumeScene] = field(default_factory=list)


@dataclass(frozen=True)
class _OperatingPoint:
    """The chosen thresholds of detector and baseline and the FP rates (per 100 km2) there."""

    i_detector: int
    i_baseline: int
    i_equal_recall: int
    """Baseline threshold index at the detector's recall."""
    fp_detector: np.ndarray
    fp_baseline: np.ndarray
    fp_boot: np.ndarray
    """(n_boot, len(t_det)) bootstrap FP rates of the detector."""
    recall: float
    baseline_recall: np.ndarray


def _tally(
    det: Detector,
    config: EvaluateConfig,
    grids: tuple[np.ndarray, np.ndarray],
    n_refs: int,
    progress: ProgressCallback | None,
) -> _Tallies:
    """Draw and score every scene: plume-free ones first, then ``n_per_rate`` per rate."""
    t_det, t_base = grids
    rng = as_generator(config.seed)
    max_change = float(config.max_context_change or 0.0)
    rates = [float(q) for q in np.asarray(config.rates, dtype=float)]
    jobs = [None] * config.n_negative + [q for q in rates for _ in range(config.n_per_rate)]
    tallies = _Tallies(false_baseline=np.zeros(len(t_base)))
    for k, rate in enumerate(jobs):
        scene = draw_scene(rng, config, rate, n_refs)
        maps = score_scene(scene, det, config)
        n_det, hit_det = scan(maps.prob, scene.truth, t_det, config.min_area_px, maps.changes,
                              max_change)  # fmt: skip
        n_base, hit_base = scan(maps.baseline, scene.truth, t_base, config.min_area_px)
        if rate is None or scene.truth is None:
            tallies.false_detector.append(n_det)
            tallies.false_baseline += n_base
        else:
            tallies.hits_detector.append(hit_det)
            tallies.hits_baseline.append(hit_base)
            tallies.plume_scenes.append(_PlumeScene(maps.prob, maps.column, scene.truth,
                                                    scene.wind, rate, maps.changes,
                                                    scene.surface))  # fmt: skip
        if progress is not None:
            progress(k + 1, len(jobs))
    return tallies


def _operating_point(
    tallies: _Tallies, config: EvaluateConfig, t_det: np.ndarray, area_km2: float
) -> _OperatingPoint:
    """Thresholds within the FP budget (or the fixed one), and the baseline at equal recall."""
    to_per100 = 100.0 / (config.n_negative * area_km2)
    fp_det = np.sum(tallies.false_detector, axis=0) * to_per100
    fp_base = tallies.false_baseline * to_per100
    boot = fp_bootstrap(np.asarray(tallies.false_detector), config.seed) * to_per100
    select = fp_det
    if config.fp_confidence is not None:
        select = np.quantile(boot, config.fp_confidence, axis=0)
    i_det = first_within(select, config.fp_budget)
    if config.threshold is not None:
        i_det = int(np.searchsorted(t_det, config.threshold))
    i_base = first_within(fp_base, config.fp_budget)
    recall = float(np.array(tallies.hits_detector)[:, i_det].mean())
    base_recall = np.array(tallies.hits_baseline).mean(axis=0)  # decreasing with tau
    j = equal_recall_index(base_recall, recall)
    return _OperatingPoint(i_det, i_base, j, fp_det, fp_base, boot, recall, base_recall)


def _rate_errors(
    tallies: _Tallies, threshold: float, det: Detector, config: EvaluateConfig
) -> tuple[list[float], list[dict[str, Any]]]:
    """|Q_hat - Q| / Q of the detected plumes, and one row per plume scene for plumes.json."""
    errors, plumes = [], []
    max_change = float(config.max_context_change or 0.0)
    for s in tallies.plume_scenes:
        labels, n = candidate_plumes(s.prob, threshold, config.min_area_px, s.changes, max_change)
        ids = np.unique(labels[s.truth & (labels > 0)])
        row: dict[str, Any] = {
            "true_rate_kg_h": s.rate, "surface": s.surface, "wind_speed_m_s": s.wind,
            "detected": bool(n and len(ids)), "estimated_rate_kg_h": None, "sigma_kg_h": None,
            "relative_error": None,
        }  # fmt: skip
        plumes.append(row)
        if n == 0 or len(ids) == 0:
            continue
        est = quantify_detection(s.column, labels, ids, s.wind, det.rate_calibration,
                                 pixel_size=config.pixel_size)  # fmt: skip
        errors.append(abs(est.rate_kg_h - s.rate) / s.rate)
        row.update(estimated_rate_kg_h=float(est.rate_kg_h), sigma_kg_h=float(est.sigma_kg_h),
                   relative_error=float((est.rate_kg_h - s.rate) / s.rate))  # fmt: skip
    return errors, plumes


def _pod(
    tallies: _Tallies, op: _OperatingPoint, rates: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """POD per rate of detector and baseline at their thresholds, and the detector's interval."""
    hits_det, hits_base = np.array(tallies.hits_detector), np.array(tallies.hits_baseline)
    rate_of = np.array([s.rate for s in tallies.plume_scenes])
    pod_det = np.array([hits_det[rate_of == q, op.i_detector].mean() for q in rates])
    pod_base = np.array([hits_base[rate_of == q, op.i_baseline].mean() for q in rates])
    ci = [wilson_interval(int(hits_det[rate_of == q, op.i_detector].sum()),
                          int((rate_of == q).sum())) for q in rates]  # fmt: skip
    return pod_det, pod_base, ci


def _summary(
    tallies: _Tallies,
    op: _OperatingPoint,
    grids: tuple[np.ndarray, np.ndarray],
    config: EvaluateConfig,
    errors: list[float],
) -> dict[str, Any]:
    """The summary of :func:`evaluate_detector` (``metrics.json``)."""
    t_det, t_base = grids
    rates = np.asarray(config.rates, dtype=float)
    pod_det, pod_base, pod_ci = _pod(tallies, op, rates)
    fp_equal_det = float(op.fp_detector[op.i_detector])
    fp_equal_base = float(op.fp_baseline[op.i_equal_recall])
    area_km2 = config.shape**2 * (config.pixel_size / 1000.0) ** 2
    return {
        "threshold": float(t_det[op.i_detector]),
        "fp_per_100km2_at_threshold": fp_equal_det,
        "fp_per_100km2_ci90": np.quantile(op.fp_boot[:, op.i_detector], [0.05, 0.95]).tolist(),
        "fp_confidence": config.fp_confidence,
        "rates_kg_h": rates.tolist(),
        "pod_detector": pod_det.tolist(),
        "pod_mbmp_baseline": pod_base.tolist(),
        "pod_detector_ci90": pod_ci,
        "mbmp_threshold_mol_m2": float(t_base[op.i_baseline]),
        "q50_detector_kg_h": rate_at(pod_det, rates),
        "q50_mbmp_kg_h": rate_at(pod_base, rates),
        "recall_detector": op.recall,
        "recall_mbmp_at_equal_recall": float(op.baseline_recall[op.i_equal_recall]),
        "fp_per_100km2_mbmp_at_equal_recall": fp_equal_base,
        # undefined without detections (recall 0) or without detector false positives
        "fp_ratio_mbmp_over_detector": fp_equal_base / fp_equal_det
        if fp_equal_det > 0 and op.recall > 0 else None,
        "scanned_negative_km2": config.n_negative * area_km2,
        "rate_error_median": float(np.median(errors)) if errors else None,
        "rate_error_mean": float(np.mean(errors)) if errors else None,
        "rate_error_within_30pct": float(np.mean(np.asarray(errors) <= 0.3)) if errors else None,
        "n_quantified": len(errors),
    }  # fmt: skip


def _write_run(
    out: str | os.PathLike[str],
    config: EvaluateConfig,
    summary: dict[str, Any],
    plumes: list[dict[str, Any]],
) -> None:
    """``metrics.json``, the POD figure, ``plumes.json`` and ``report.html`` in run ``out``."""
    run = RunDir(out, config)
    run.save_metrics(summary)
    figure = run.save_figure(_pod_figure(summary), "pod_vs_rate")
    atomic_write_json(run.file("plumes.json"), plumes)
    write_evaluate_report(run.file("report.html"), summary, plumes, figure, config)
    run.write_manifest()


def evaluate_detector(
    config: EvaluateConfig,
    out: str | os.PathLike[str] | None = None,
    model: Detector | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Run the benchmark of the module docstring.

    Args:
        config: The benchmark's settings.
        out: Run folder for ``metrics.json``, the POD figure, ``plumes.json`` (each plume's true
            and estimated rate) and ``report.html``; None writes nothing.
        model: The detector; default: ``config.weights`` or the shipped one.
        progress: Optional ``progress(done, total)`` callback over scenes.

    Returns:
        Summary dict: threshold, POD per rate (detector and MBMP baseline at the same FP budget),
        Q50, FP rates at equal recall and their ratio, emission-rate errors.
    """
    det = model
    if det is None:
        det = load_default_detector() if config.weights is None else load_detector(config.weights)
    n_refs = reference_count(config.references, det.reference_dates)
    grids = (detector_thresholds(config), baseline_thresholds())
    tallies = _tally(det, config, grids, n_refs, progress)
    area_km2 = config.shape**2 * (config.pixel_size / 1000.0) ** 2
    op = _operating_point(tallies, config, grids[0], area_km2)
    errors, plumes = _rate_errors(tallies, float(grids[0][op.i_detector]), det, config)
    summary = _summary(tallies, op, grids, config, errors) | {"references": n_refs}
    if out is not None:
        _write_run(out, config, summary, plumes)
    return summary


def _pod_figure(summary: dict[str, Any]) -> Figure:
    """POD vs emission rate of detector (with its 90 % interval) and MBMP baseline."""
    rates = np.asarray(summary["rates_kg_h"])
    pod = np.asarray(summary["pod_detector"])
    lo, hi = np.asarray(summary["pod_detector_ci90"]).T
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.fill_between(rates, lo, hi, color="C0", alpha=0.2, lw=0, label="detector, 90 % interval")
    ax.plot(rates, pod, "o-", color="C0", label="detector")
    ax.plot(rates, summary["pod_mbmp_baseline"], "s--", color="C1", label="MBMP threshold")
    ax.set_xscale("log")
    ax.axhline(0.5, color="0.6", lw=0.8)
    ax.set_xlabel("emission rate (kg/h)")
    ax.set_ylabel("probability of detection")
    f_lo, f_hi = summary["fp_per_100km2_ci90"]
    ax.set_title(f"POD at {summary['fp_per_100km2_at_threshold']:.2g} FP / 100 km2 "
                 f"({f_lo:.2g}-{f_hi:.2g}), threshold {summary['threshold']:.3g}")  # fmt: skip
    ax.legend()
    fig.tight_layout()
    return fig


def evaluate_to(out: str | os.PathLike[str], **overrides: Any) -> dict[str, Any]:
    """Convenience wrapper: ``evaluate_detector(EvaluateConfig(**overrides), out)``.

    Args:
        out: Run folder.
        **overrides: Fields of :class:`EvaluateConfig`.

    Returns:
        The summary of :func:`evaluate_detector`.
    """
    return evaluate_detector(EvaluateConfig.from_dict(overrides, source="arguments"), Path(out))
