"""Plume detection on a georeferenced Sentinel-2 pair: probability map -> plumes -> kg/h.

Pipeline (Rouet-Leduc, Kerdreux et al., arXiv 2308.11003, as reconstructed in the project notes):

1. the detector (:mod:`eoforge.methane.detector`) gives a plume probability p and a column enhancement
   dOmega (mol/m2) per pixel, by blended tiles; with several reference dates R_1..R_n it runs
   once per pair (T, R_k) and keeps dOmega = mean_k dOmega_k and the majority probability
   p = the m-th largest p_k, m = floor(n / 2) + 1 (the minimum for n <= 2, the median for
   n = 3): a plume must stand out against most references, so a change that happened on one
   reference date only (a wet, dark or disturbed patch then) cannot raise a false plume. On 80
   simulated sites x 3 references (benchmarks/RESULTS.md, v11 weights) the majority keeps the
   false plumes near the minimum's (0.15 vs 0.05 per 100 km2, against 1.8 with one reference)
   and finds 60 % of 2000 kg/h plumes, against 40 % for the minimum. A detector trained on K > 1
   reference dates (``reference_dates``) instead sees the stack of exactly K in one pass;
2. plumes are the 8-connected components of {p > threshold} with at least ``min_area_px``
   pixels whose visible/NIR bands did not change as well (:mod:`.candidates`, with the veto of
   :mod:`.context_veto`), numbered 1..n in row-major order of their first pixel; each gets a
   score max_i p_i, a probability-weighted centroid, an area n_pixels * |pixel area| (m2) and
   a polygon outline;
3. each plume's emission rate and uncertainty come from the integrated mass enhancement of
   the detector's column inside the component grown by a few pixels, Q = U_eff IME / L, with
   U_eff = a U10 + b calibrated for this detector's masks (:mod:`eoforge.methane.detector.rates`; the
   calibration is saved with the weights).

Output files: :mod:`.outputs`; reading and simulating pairs on disk:
:mod:`eoforge.methane.pair_files`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from rasterio.features import shapes
from rasterio.warp import transform as warp_transform
from rasterio.windows import Window
from rasterio.windows import transform as window_transform
from scipy import ndimage

from eoforge.core.errors import bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.io.raster import GeoInfo
from eoforge.methane.detect.candidates import Labels, components, drop_vetoed, renumber
from eoforge.methane.detect.context_veto import DEFAULT_MAX_CONTEXT_CHANGE, context_changes
from eoforge.methane.detector.features import SceneConstants
from eoforge.methane.detector.infer import (
    predict_references,
    reference_constants,
    reference_list,
)
from eoforge.methane.detector.rates import background_std, quantify_detection
from eoforge.methane.detector.scene_quality import combine_reports, scene_report
from eoforge.methane.detector.weights import Detector, load_default_detector

Box = tuple[slice, slice]
"""Bounding box of a component (rows, cols), as :func:`scipy.ndimage.find_objects` gives it."""


@dataclass(frozen=True)
class Plume:
    """One detected plume (coordinates of the probability-weighted centroid)."""

    id: int
    row: float
    col: float
    x: float
    y: float
    lon: float | None
    lat: float | None
    n_pixels: int
    area_m2: float
    score: float
    rate_kg_h: float
    sigma_kg_h: float
    geometry: dict = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class DetectionResult:
    """Maps and plumes of one detection run."""

    prob: np.ndarray
    column: np.ndarray
    plumes: list[Plume]
    geo: GeoInfo
    threshold: float
    wind_speed: float
    labels: np.ndarray = field(repr=False)
    """(H, W) plume ids 1..n (0: no plume), those of :attr:`plumes`."""
    scene: dict[str, Any] = field(default_factory=dict)
    """Scene checks (:func:`~eoforge.methane.detector.scene_quality.scene_report`): MBMP noise, valid fraction,
    warnings when the pair is unlike the training pairs."""

    def table(self) -> list[dict]:
        """The plumes as plain dicts (no geometry), e.g. for a report table."""
        return [{k: v for k, v in asdict(p).items() if k != "geometry"} for p in self.plumes]


@dataclass(frozen=True)
class _Pair:
    """A target with its reference dates, their scene constants and the detector."""

    target: Mapping[str, np.ndarray]
    refs: list[Mapping[str, np.ndarray]]
    consts: list[SceneConstants]
    model: Detector


def _pixel_size(geo: GeoInfo) -> tuple[float, float]:
    """(|dx|, |dy|) of the grid's pixels (CRS units, m for Sentinel-2)."""
    a = geo.transform
    return abs(float(a.a)), abs(float(a.e))


def _to_lonlat(
    geo: GeoInfo, xs: list[float], ys: list[float]
) -> tuple[list[float], list[float]] | None:
    """Transform CRS coordinates to EPSG:4326, or None if the CRS is unknown/untransformable."""
    if geo.crs is None or not xs:
        return None
    try:
        lon, lat = warp_transform(geo.crs, "EPSG:4326", xs, ys)
    except Exception:  # any CRS that PROJ cannot transform falls back to the raster CRS
        return None
    return list(lon), list(lat)


def _outline(labels: np.ndarray, k: int, box: Box, geo: GeoInfo) -> dict:
    """MultiPolygon (raster CRS) of component ``k`` inside its bounding box."""
    win = Window(box[1].start, box[0].start, box[1].stop - box[1].start,
                 box[0].stop - box[0].start)  # fmt: skip
    sub = (labels[box] == k).astype(np.uint8)
    parts = shapes(sub, mask=sub.astype(bool), connectivity=8,
                   transform=window_transform(win, geo.transform))  # fmt: skip
    polys = [g["coordinates"] for g, v in parts if v == 1]
    return {"type": "MultiPolygon", "coordinates": polys}


def _centroid(prob: np.ndarray, box: Box, comp: np.ndarray) -> tuple[float, float]:
    """Probability-weighted (row, col) centroid of the component ``comp`` of ``prob[box]``."""
    w = prob[box] * comp
    r, c = np.nonzero(comp)
    r0 = float(np.sum(w[r, c] * (r + box[0].start)) / np.sum(w[r, c]))
    c0 = float(np.sum(w[r, c] * (c + box[1].start)) / np.sum(w[r, c]))
    return r0, c0


def _check_options(
    threshold: float,
    min_area_px: int,
    wind_speed: float,
    max_context_change: float | None,
    reference_rule: str,
) -> None:
    """Raise an InputError naming the first option of :func:`detect` out of its range."""
    if not 0.0 < float(threshold) < 1.0:
        raise bad_value("threshold", threshold, "a probability in (0, 1)")
    if int(min_area_px) != min_area_px or min_area_px < 1:
        raise bad_value("min_area_px", min_area_px, "a positive number of pixels")
    if not np.isfinite(wind_speed) or wind_speed <= 0:
        raise bad_value("wind_speed", wind_speed, "a positive 10 m wind speed in m/s")
    if max_context_change is not None and not max_context_change > 0:
        raise bad_value("max_context_change", max_context_change,
                        "a positive median log change (e.g. 0.05)",
                        "0 (None in Python) turns the veto off.")  # fmt: skip
    if reference_rule not in ("majority", "all"):
        raise bad_value("reference_rule", reference_rule, "'majority' or 'all'")


def _reference_dates(
    model: Detector, reference: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]]
) -> list[Mapping[str, np.ndarray]]:
    """The reference dates as a list: at least one, exactly K for a K-date detector."""
    refs = [reference] if isinstance(reference, Mapping) else list(reference)
    if not refs:
        raise bad_value("reference", "[]", "at least one reference date")
    return reference_list(model, refs)


def _plume_labels(
    prob: np.ndarray,
    pair: _Pair,
    threshold: float,
    min_area_px: int,
    max_context_change: float | None,
) -> tuple[Labels, int]:
    """Candidate plumes of the pair numbered 1..n, and how many the context veto dropped.

    The context changes are computed only when there are candidates to veto.
    """
    labels, n = components(prob > threshold, min_area_px)
    n_vetoed = 0
    if max_context_change is not None and n:  # surface change against every reference date
        changes = [context_changes(pair.target, ref, const, pair.model.context)
                   for ref, const in zip(pair.refs, pair.consts, strict=True)]  # fmt: skip
        n, n_vetoed = drop_vetoed(labels, n, changes, float(max_context_change))
    return renumber(labels), n_vetoed


def _plumes(
    prob: np.ndarray,
    column: np.ndarray,
    labels: Labels,
    geo: GeoInfo,
    model: Detector,
    wind_speed: float,
    wind_speed_std: float | None,
) -> list[Plume]:
    """One :class:`Plume` per component of ``labels`` (1..n): centroid, outline, area, rate."""
    dx, dy = _pixel_size(geo)
    boxes = [box for box in ndimage.find_objects(labels) if box is not None]
    comps = [labels[box] == i for i, box in enumerate(boxes, start=1)]
    centroids = [_centroid(prob, box, comp) for box, comp in zip(boxes, comps, strict=True)]
    xys = [geo.transform * (c0 + 0.5, r0 + 0.5) for r0, c0 in centroids]
    lonlat = _to_lonlat(geo, [float(x) for x, _ in xys], [float(y) for _, y in xys])
    noise_std = background_std(column, labels)
    grow = model.rate_calibration.grow_px + 1
    plumes = []
    for i, (box, comp) in enumerate(zip(boxes, comps, strict=True)):
        ebox = tuple(slice(max(0, b.start - grow), min(n, b.stop + grow))
                     for b, n in zip(box, labels.shape, strict=True))  # fmt: skip
        rate = quantify_detection(column[ebox], labels[ebox], [i + 1], wind_speed,
                                  model.rate_calibration, pixel_size=float(np.sqrt(dx * dy)),
                                  wind_speed_std=wind_speed_std, noise_std=noise_std)  # fmt: skip
        plumes.append(Plume(
            id=i + 1, row=centroids[i][0], col=centroids[i][1],
            x=float(xys[i][0]), y=float(xys[i][1]),
            lon=None if lonlat is None else float(lonlat[0][i]),
            lat=None if lonlat is None else float(lonlat[1][i]),
            n_pixels=int(comp.sum()), area_m2=float(comp.sum() * dx * dy),
            score=float(prob[box][comp].max()), rate_kg_h=float(rate.rate_kg_h),
            sigma_kg_h=float(rate.sigma_kg_h), geometry=_outline(labels, i + 1, box, geo),
        ))  # fmt: skip
    return plumes


def detect(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    geo: GeoInfo,
    sza: float,
    vza: float,
    *,
    threshold: float | None = None,
    min_area_px: int = 4,
    wind_speed: float = 3.0,
    wind_speed_std: float | None = None,
    model: Detector | None = None,
    tile: int = 512,
    overlap: int = 64,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    max_context_change: float | None = DEFAULT_MAX_CONTEXT_CHANGE,
    reference_rule: Literal["majority", "all"] = "majority",
) -> DetectionResult:
    """Detect and quantify methane plumes in a target/reference pair (module docstring).

    Args:
        target: Target-date bands (B11, B12, B8A, B04), band -> (H, W) reflectance.
        reference: Plume-free reference-date bands on the same grid, or a sequence of several
            reference dates (module docstring).
        geo: Georeferencing of the grid (e.g. from ``read_s2_geotiff``).
        sza: Solar zenith angle (degrees).
        vza: Viewing zenith angle (degrees).
        threshold: Probability above which a pixel belongs to a plume, in (0, 1); default: the
            detector's calibrated threshold (:attr:`Detector.threshold`).
        min_area_px: Smallest plume kept, in pixels.
        wind_speed: 10 m wind speed at the scene (m/s), e.g. from ERA5.
        wind_speed_std: Its uncertainty (m/s); default: quantify_plume's default.
        model: Detector; default: the shipped one.
        tile: Inference window (pixels).
        overlap: Window overlap (pixels).
        threads: Torch threads (default: all cores).
        progress: Optional ``progress(done, total)`` callback over windows.
        max_context_change: Veto plumes whose context bands (B04, B8A) changed by more than
            this (median log change) against every reference: surface change, not methane
            (:mod:`.context_veto`); None keeps them.
        reference_rule: With several references, ``"majority"`` (a strict majority of the
            per-reference probabilities must exceed the threshold) or ``"all"`` (every one: the
            minimum, fewer false plumes and fewer plumes found).

    Returns:
        A :class:`DetectionResult`.

    Raises:
        InputError: If an option is out of range, or a K-date detector gets another number of
            reference dates.
    """
    model = load_default_detector() if model is None else model
    threshold = model.threshold if threshold is None else threshold
    _check_options(threshold, min_area_px, wind_speed, max_context_change, reference_rule)
    refs = _reference_dates(model, reference)
    pair = _Pair(target, refs, reference_constants(target, refs, sza, vza, model), model)
    prob, column = predict_references(target, refs, pair.consts, sza, vza, model, tile, overlap,
                                      threads, progress, reference_rule)  # fmt: skip
    labels, n_vetoed = _plume_labels(prob, pair, threshold, min_area_px, max_context_change)
    plumes = _plumes(prob, column, labels, geo, model, wind_speed, wind_speed_std)
    scene: dict[str, Any] = dict(combine_reports([scene_report(c) for c in pair.consts]))
    scene["vetoed_for_surface_change"] = n_vetoed
    return DetectionResult(prob, column, plumes, geo, float(threshold), float(wind_speed), labels,
                           scene)  # fmt: skip
