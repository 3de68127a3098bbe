"""Detection benchmark on held-out simulated scenes: POD vs emission rate at a fixed FP budget.

Protocol (Orbio Project Eucalyptus' detection-threshold test, notes section 5, on the project's
own simulator):

1. ``n_negative`` plume-free pairs and ``n_per_rate`` pairs per emission rate are simulated with
   scene seeds >= 2^30, never used in training (:data:`~eoforge.methane.detector.training.config.TRAIN_SEED_LIMIT`), on
   every surface type, random wind; plain scenes by default, or with 0..``confounders_max``
   confounders and (in ``cloud_prob`` of the scenes) clouds, as in training: harder negatives.
   With K = ``references`` > 1 reference dates (default: the detector's K) each scene's target
   is its site's revisit 0 and its references the reference scenes of revisits 1..K
   (:mod:`eoforge.methane.revisit_scenes`); a K-date detector sees them in one pass, a
   single-date one gives the majority of its per-reference probabilities (as ``detect``), and
   the context veto drops a component only if it fires against every reference date.
2. A detection map is thresholded at t; its 8-connected components of >= ``min_area_px`` pixels
   that the context veto keeps (:mod:`.context_veto`, as in ``detect``) are candidate plumes.
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
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from pydantic import Field
from scipy import ndimage

from eoforge.core.atomic import atomic_write_json
from eoforge.core.config import RunConfig
from eoforge.core.errors import InputError
from eoforge.core.progress import ProgressCallback
from eoforge.core.runs import RunDir
from eoforge.core.seeding import as_generator
from eoforge.methane.context_veto import (
    DEFAULT_MAX_CONTEXT_CHANGE,
    context_changes,
    veto_every,
)
from eoforge.methane.detection_stats import fp_bootstrap, wilson_interval
from eoforge.methane.detector.infer import predict_references, reference_constants
from eoforge.methane.detector.training.config import TRAIN_SEED_LIMIT
from eoforge.methane.detector.weights import Detector, load_default_detector, load_detector
from eoforge.methane.physics import air_mass_factor
from eoforge.methane.retrievals import mbmp, retrieve_column
from eoforge.methane.revisit_scenes import reference_count, site_references, target_date

_EIGHT = np.ones((3, 3), dtype=bool)


class EvaluateConfig(RunConfig):
    """Configuration of :func:`evaluate_detector` (saved as ``config.yaml``)."""

    n_negative: int = Field(40, ge=1)
    rates: tuple[float, ...] = (100.0, 200.0, 350.0, 500.0, 750.0, 1000.0, 1500.0, 2500.0, 5000.0)
    n_per_rate: int = Field(8, ge=1)
    shape: int = Field(256, ge=64, description="Scene side in pixels (20 m).")
    surfaces: tuple[str, ...] = ("desert", "semi-arid", "vegetated", "urban")
    fp_budget: float = Field(2.0, gt=0, description="False-positive plumes per 100 km2.")
    min_area_px: int = Field(4, ge=1)
    wind_min: float = Field(2.0, gt=0)
    wind_max: float = Field(6.0, gt=0)
    weights: str | None = None
    pixel_size: float = 20.0
    confounders_max: int = Field(
        0, ge=0, description="Confounders per scene ~ U{0..max} (0: plain scenes, as before)."
    )
    cloud_prob: float = Field(0.0, ge=0, le=1, description="Share of scenes with clouds.")
    cloud_max: float = Field(0.3, ge=0, le=1, description="Largest cloud fraction drawn.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Fixed detector threshold (default: the lowest within the "
        "FP budget on these negatives)."
    )  # fmt: skip
    noise_scale: float = Field(
        1.0, ge=0, description="Sensor noise x this: 1 = the MSI SNR requirement (conservative), "
        "0.5 = roughly in-flight performance."
    )  # fmt: skip
    max_context_change: float | None = Field(
        DEFAULT_MAX_CONTEXT_CHANGE, gt=0, description="Veto detections whose B04/B8A changed by "
        "more than this (context_veto); None: no veto."
    )  # fmt: skip
    fp_confidence: float | None = Field(
        None, gt=0.5, lt=1, description="Select the threshold on the bootstrap upper quantile "
        "of the FP rate (e.g. 0.9) instead of its point estimate."
    )  # fmt: skip
    references: int | None = Field(
        None, ge=1, description="Reference dates per scene (revisit_scenes): 1 = the pair's own "
        "reference; K > 1: a K-date detector sees them in one pass, a single-date one keeps the "
        "majority probability. Default: the detector's K."
    )  # fmt: skip


def _components(binary: np.ndarray, min_area: int) -> tuple[np.ndarray, int]:
    labels, n = ndimage.label(binary, structure=_EIGHT)
    if n == 0:
        return labels, 0
    sizes = np.bincount(labels.ravel())
    small = sizes < min_area
    small[0] = False
    labels[small[labels]] = 0
    return labels, int((~small[1:]).sum())


def _detections(
    score: np.ndarray,
    t: float,
    min_area: int,
    changes: list[list[np.ndarray]] | None,
    max_change: float,
) -> tuple[np.ndarray, int]:
    """Components of {score > t} of >= ``min_area`` px, less those the context veto drops
    against every reference date (``changes[k]``: date k's; None: no veto)."""
    labels, n = _components(score > t, min_area)
    if changes and n:
        drop = veto_every(labels, changes, max_change)
        if drop.size:
            labels[np.isin(labels, drop)] = 0
            n -= int(drop.size)
    return labels, n


def _scan(
    score: np.ndarray,
    truth: np.ndarray | None,
    thresholds: np.ndarray,
    min_area: int,
    changes: list[list[np.ndarray]] | None = None,
    max_change: float = 0.0,
):
    """Per threshold: (number of components, detected?) of one map."""
    n_comp = np.zeros(len(thresholds), dtype=int)
    hit = np.zeros(len(thresholds), dtype=bool)
    for i, t in enumerate(thresholds):
        labels, n = _detections(score, t, min_area, changes, max_change)
        n_comp[i] = n
        if truth is not None and n:
            hit[i] = bool(np.any(labels[truth] > 0))
    return n_comp, hit


def _rate_at(pod: np.ndarray, rates: np.ndarray, level: float = 0.5) -> float | None:
    """Lowest emission rate where POD reaches ``level`` (log-linear interpolation)."""
    above = np.nonzero(pod >= level)[0]
    if len(above) == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(rates[0])
    lo, hi = np.log(rates[i - 1]), np.log(rates[i])
    f = (level - pod[i - 1]) / max(pod[i] - pod[i - 1], 1e-12)
    return float(np.exp(lo + f * (hi - lo)))


def fixed_threshold(value: str | float | None, detector: Detector) -> float | None:
    """``--threshold`` of the evaluation: None (re-select for the budget), ``"detector"`` (the
    weights' own threshold) or a number."""
    if value is None:
        return None
    if value == "detector":
        return float(detector.threshold)
    try:
        return float(value)
    except ValueError:
        raise InputError(f"--threshold {value!r}: pass a number in (0, 1) or 'detector'.") from None


def _scene_effects(rng: np.random.Generator, config: EvaluateConfig) -> dict:
    """Clouds and confounders of one scene, drawn only when asked for (default streams kept)."""
    out: dict = {}
    if config.confounders_max > 0:
        out["confounders"] = int(rng.integers(0, config.confounders_max + 1))
    if config.cloud_prob > 0 and rng.random() < config.cloud_prob:
        out["cloud_fraction"] = float(rng.uniform(0.0, config.cloud_max))
    return out


def _draw_scene(rng: np.random.Generator, config: EvaluateConfig, rate: float | None, k: int):
    """One held-out scene: (pair, its k reference dates, plume mask or None, wind, surface)."""
    from eoforge.methane import scenes

    surface = str(rng.choice(config.surfaces))
    seed = TRAIN_SEED_LIMIT + int(rng.integers(0, TRAIN_SEED_LIMIT))
    extra = _scene_effects(rng, config)
    shape = (config.shape, config.shape)
    date = target_date(k)
    if rate is None:
        pair = scenes.simulate_pair(
            shape, surface, seed, noise_scale=config.noise_scale, date_seed=date, **extra
        )
        truth = None
        wind = float(rng.uniform(config.wind_min, config.wind_max))
    else:
        wind = float(rng.uniform(config.wind_min, config.wind_max))
        src = tuple(float(v) for v in rng.uniform(0.3 * config.shape, 0.7 * config.shape, 2))
        pair, _, truth, _ = scenes.simulate_plume_pair(
            shape, surface, seed, emission_rate_kg_h=rate, wind_speed=wind,
            wind_direction=float(rng.uniform(0, 360)), source=src,
            noise_scale=config.noise_scale, date_seed=date, **extra,
        )  # fmt: skip
        truth = np.asarray(truth, dtype=bool)
    clouds = {key: v for key, v in extra.items() if key == "cloud_fraction"}
    refs = site_references(pair.reference, shape, surface, seed, k,
                           noise_scale=config.noise_scale, **clouds)  # fmt: skip
    return pair, refs, truth, wind, surface


def _score_scene(pair, refs: list, det: Detector, config: EvaluateConfig):
    """(prob, column, per-date context changes or None, MBMP column) of one scene; the MBMP
    baseline is against the first reference date."""
    consts = reference_constants(pair.target, refs, pair.sza, pair.vza, det)
    prob, column = predict_references(pair.target, refs, consts, pair.sza, pair.vza, det,
                                      tile=max(config.shape, 64), overlap=32)  # fmt: skip
    changes = None
    if config.max_context_change is not None:
        changes = [context_changes(pair.target, ref, const, det.context)
                   for ref, const in zip(refs, consts, strict=True)]  # fmt: skip
    amf = air_mass_factor(pair.sza, pair.vza)
    base = np.nan_to_num(retrieve_column(mbmp(pair.target, refs[0]), amf), nan=0.0)
    return prob, column, changes, base


def evaluate_detector(
    config: EvaluateConfig,
    out: str | os.PathLike[str] | None = None,
    model: Detector | None = None,
    progress: ProgressCallback | None = None,
) -> dict:
    """Run the benchmark of the module docstring; write ``metrics.json``, the POD figure,
    ``plumes.json`` (each plume's true and estimated rate) and ``report.html`` to ``out``.

    Returns:
        Summary dict: threshold, POD per rate (detector and MBMP baseline at the same FP budget),
        Q50, FP rates at equal recall and their ratio, emission-rate errors.
    """
    from eoforge.methane.detector.rates import quantify_detection

    det = model
    if det is None:
        det = load_default_detector() if config.weights is None else load_detector(config.weights)
    rng = as_generator(config.seed)
    t_det = np.concatenate([np.geomspace(0.002, 0.04, 8), np.linspace(0.05, 0.9, 35),
                            1.0 - np.logspace(-1, -4, 25)])  # fmt: skip
    if config.threshold is not None:
        t_det = np.unique(np.append(t_det, config.threshold))
    t_base = np.concatenate([np.linspace(0.05, 4.0, 80), np.geomspace(4.5, 40.0, 20)])  # mol/m2
    area_km2 = config.shape**2 * (config.pixel_size / 1000.0) ** 2
    rates = np.asarray(config.rates, dtype=float)
    max_change = float(config.max_context_change or 0.0)
    jobs = [None] * config.n_negative + [float(q) for q in rates for _ in range(config.n_per_rate)]
    neg_det = []  # per plume-free scene: false plumes at each t_det
    fp_base = np.zeros(len(t_base))
    hits_det, hits_base, rate_of, outs = [], [], [], []
    n_refs = reference_count(config.references, det.reference_dates)
    for k, rate in enumerate(jobs):
        pair, refs, truth, wind, surface = _draw_scene(rng, config, rate, n_refs)
        prob, column, changes, base = _score_scene(pair, refs, det, config)
        nd, hd = _scan(prob, truth, t_det, config.min_area_px, changes, max_change)
        nb, hb = _scan(base, truth, t_base, config.min_area_px)
        if rate is None:
            neg_det.append(nd)
            fp_base += nb
        else:
            hits_det.append(hd)
            hits_base.append(hb)
            rate_of.append(rate)
            outs.append((prob, column, truth, wind, rate, changes, surface))
        if progress is not None:
            progress(k + 1, len(jobs))
    to_per100 = 100.0 / (config.n_negative * area_km2)
    per100_det = np.sum(neg_det, axis=0) * to_per100
    per100_base = fp_base * to_per100
    boot_det = fp_bootstrap(neg_det, config.seed) * to_per100  # (n_boot, len(t_det))
    select = per100_det
    if config.fp_confidence is not None:
        select = np.quantile(boot_det, config.fp_confidence, axis=0)
    ok_det = np.nonzero(select <= config.fp_budget)[0]
    ok_base = np.nonzero(per100_base <= config.fp_budget)[0]
    i_det = int(ok_det[0]) if len(ok_det) else len(t_det) - 1
    if config.threshold is not None:
        i_det = int(np.searchsorted(t_det, config.threshold))
    i_base = int(ok_base[0]) if len(ok_base) else len(t_base) - 1
    hits_det_a, hits_base_a = np.array(hits_det), np.array(hits_base)
    rate_arr = np.array(rate_of)
    pod_det = np.array([hits_det_a[rate_arr == q, i_det].mean() for q in rates])
    pod_base = np.array([hits_base_a[rate_arr == q, i_base].mean() for q in rates])
    recall = float(hits_det_a[:, i_det].mean())
    base_recall = hits_base_a.mean(axis=0)  # (len(t_base),) decreasing with tau
    reach = np.nonzero(base_recall >= recall)[0]
    j = int(reach[-1]) if len(reach) else 0
    fp_equal_det, fp_equal_base = float(per100_det[i_det]), float(per100_base[j])
    errors, plumes = [], []
    thr = float(t_det[i_det])
    for prob, column, truth, wind, rate, changes, surface in outs:
        labels, n = _detections(prob, thr, config.min_area_px, changes, max_change)
        ids = np.unique(labels[truth & (labels > 0)])
        row = {"true_rate_kg_h": rate, "surface": surface, "wind_speed_m_s": wind,
               "detected": bool(n and len(ids)), "estimated_rate_kg_h": None,
               "sigma_kg_h": None, "relative_error": None}  # fmt: skip
        plumes.append(row)
        if n == 0 or len(ids) == 0:
            continue
        est = quantify_detection(column, labels, ids, wind, det.rate_calibration,
                                 pixel_size=config.pixel_size)  # fmt: skip
        errors.append(abs(est.rate_kg_h - rate) / rate)
        row.update(estimated_rate_kg_h=float(est.rate_kg_h), sigma_kg_h=float(est.sigma_kg_h),
                   relative_error=float((est.rate_kg_h - rate) / rate))  # fmt: skip
    summary = {
        "threshold": thr,
        "fp_per_100km2_at_threshold": fp_equal_det,
        "fp_per_100km2_ci90": np.quantile(boot_det[:, i_det], [0.05, 0.95]).tolist(),
        "fp_confidence": config.fp_confidence,
        "rates_kg_h": rates.tolist(),
        "pod_detector": pod_det.tolist(),
        "pod_mbmp_baseline": pod_base.tolist(),
        "pod_detector_ci90": [
            wilson_interval(int(hits_det_a[rate_arr == q, i_det].sum()), int((rate_arr == q).sum()))
            for q in rates
        ],
        "mbmp_threshold_mol_m2": float(t_base[i_base]),
        "q50_detector_kg_h": _rate_at(pod_det, rates),
        "q50_mbmp_kg_h": _rate_at(pod_base, rates),
        "recall_detector": recall,
        "recall_mbmp_at_equal_recall": float(base_recall[j]),
        "fp_per_100km2_mbmp_at_equal_recall": fp_equal_base,
        # undefined without detections (recall 0) or without detector false positives
        "fp_ratio_mbmp_over_detector": fp_equal_base / fp_equal_det
        if fp_equal_det > 0 and recall > 0 else None,
        "scanned_negative_km2": config.n_negative * area_km2,
        "rate_error_median": float(np.median(errors)) if errors else None,
        "rate_error_mean": float(np.mean(errors)) if errors else None,
        "rate_error_within_30pct": float(np.mean(np.asarray(errors) <= 0.3)) if errors else None,
        "n_quantified": len(errors),
        "references": n_refs,
    }  # fmt: skip
    if out is not None:
        from eoforge.methane.evaluate_report import write_evaluate_report

        run = RunDir(out, config)
        run.save_metrics(summary)
        figure = run.save_figure(_pod_figure(summary), "pod_vs_rate")
        atomic_write_json(run.file("plumes.json"), plumes)
        write_evaluate_report(run.file("report.html"), summary, plumes, figure, config)
        run.write_manifest()
    return summary


def _pod_figure(summary: dict):
    import matplotlib.pyplot as plt

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


def evaluate_to(out: str | os.PathLike[str], **overrides) -> dict:
    """Convenience wrapper: ``evaluate_detector(EvaluateConfig(**overrides), out)``."""
    return evaluate_detector(EvaluateConfig.from_dict(overrides, source="arguments"), Path(out))
