"""Plume detection on a georeferenced Sentinel-2 pair: probability map -> plumes -> kg/h.

Pipeline (Rouet-Leduc, Kerdreux et al., arXiv 2308.11003, as reconstructed in the project notes):

1. the detector (:mod:`.detector`) gives a plume probability p and a column enhancement
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
   pixels whose visible/NIR bands did not change as well (:mod:`.context_veto`); each gets a
   score max_i p_i, a probability-weighted centroid, an area n_pixels * |pixel area| (m2) and
   a polygon outline;
3. each plume's emission rate and uncertainty come from the integrated mass enhancement of
   the detector's column inside the component grown by a few pixels, Q = U_eff IME / L, with
   U_eff = a U10 + b calibrated for this detector's masks (:mod:`.detector.rates`; the
   calibration is saved with the weights).

Output files: :mod:`.detect_outputs`; reading and simulating pairs on disk: :mod:`.pair_files`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage

from eoforge.core.errors import bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.io.raster import GeoInfo
from eoforge.methane.context_veto import (
    DEFAULT_MAX_CONTEXT_CHANGE,
    context_changes,
    veto_every,
)
from eoforge.methane.detector.infer import (
    predict_references,
    reference_constants,
    reference_list,
)
from eoforge.methane.detector.scene_quality import combine_reports, scene_report
from eoforge.methane.detector.weights import Detector, load_default_detector


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
    labels: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    scene: dict = field(default_factory=dict)
    """Scene checks (:func:`~.detector.scene_quality.scene_report`): MBMP noise, valid fraction,
    warnings when the pair is unlike the training pairs."""

    def table(self) -> list[dict]:
        """The plumes as plain dicts (no geometry), e.g. for a report table."""
        return [{k: v for k, v in asdict(p).items() if k != "geometry"} for p in self.plumes]


def _pixel_size(geo: GeoInfo) -> tuple[float, float]:
    a = geo.transform
    return abs(float(a.a)), abs(float(a.e))  # type: ignore[attr-defined]


def _to_lonlat(geo: GeoInfo, xs: list[float], ys: list[float]):
    """Transform CRS coordinates to EPSG:4326, or None if the CRS is unknown/untransformable."""
    if geo.crs is None or not xs:
        return None
    from rasterio.warp import transform

    try:
        lon, lat = transform(geo.crs, "EPSG:4326", xs, ys)
    except Exception:  # any CRS that PROJ cannot transform falls back to the raster CRS
        return None
    return list(lon), list(lat)


def _outline(labels: np.ndarray, k: int, box: tuple[slice, slice], geo: GeoInfo) -> dict:
    """MultiPolygon (raster CRS) of component ``k`` inside its bounding box."""
    from rasterio.features import shapes
    from rasterio.windows import Window, transform

    win = Window(box[1].start, box[0].start, box[1].stop - box[1].start,
                 box[0].stop - box[0].start)  # fmt: skip
    sub = (labels[box] == k).astype(np.uint8)
    parts = shapes(sub, mask=sub.astype(bool), connectivity=8,
                   transform=transform(win, geo.transform))  # fmt: skip
    polys = [g["coordinates"] for g, v in parts if v == 1]
    return {"type": "MultiPolygon", "coordinates": polys}


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
    reference_rule: str = "majority",
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
    """
    from eoforge.methane.detector.rates import background_std, quantify_detection

    if model is None:
        model = load_default_detector()
    if threshold is None:
        threshold = model.threshold
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
    refs = [reference] if isinstance(reference, Mapping) else list(reference)
    if not refs:
        raise bad_value("reference", "[]", "at least one reference date")
    if reference_rule not in ("majority", "all"):
        raise bad_value("reference_rule", reference_rule, "'majority' or 'all'")
    refs = reference_list(model, refs)  # a K-date detector needs exactly K
    consts = reference_constants(target, refs, sza, vza, model)
    prob, column = predict_references(target, refs, consts, sza, vza, model, tile, overlap,
                                      threads, progress, reference_rule)  # fmt: skip
    dx, dy = _pixel_size(geo)
    labels, _ = ndimage.label(prob > threshold, structure=np.ones((3, 3), dtype=bool))
    boxes = ndimage.find_objects(labels)
    kept: list[tuple[int, tuple[slice, slice], np.ndarray]] = []
    for k, box in enumerate(boxes, start=1):
        comp = labels[box] == k
        if comp.sum() >= min_area_px:
            kept.append((k, box, comp))
        else:
            labels[box][comp] = 0
    vetoed: set[int] = set()
    if max_context_change is not None and kept:  # surface change against every reference date
        changes = [context_changes(target, ref, const, model.context)
                   for ref, const in zip(refs, consts, strict=True)]  # fmt: skip
        vetoed = {int(i) for i in veto_every(labels, changes, float(max_context_change))}
        for k, box, comp in kept:
            if k in vetoed:
                labels[box][comp] = 0
        kept = [item for item in kept if item[0] not in vetoed]
    rows, cols, xs, ys = [], [], [], []
    for _, box, comp in kept:
        w = prob[box] * comp
        r, c = np.nonzero(comp)
        r0 = float(np.sum(w[r, c] * (r + box[0].start)) / np.sum(w[r, c]))
        c0 = float(np.sum(w[r, c] * (c + box[1].start)) / np.sum(w[r, c]))
        x, y = geo.transform * (c0 + 0.5, r0 + 0.5)  # type: ignore[operator]
        rows.append(r0)
        cols.append(c0)
        xs.append(float(x))
        ys.append(float(y))
    lonlat = _to_lonlat(geo, xs, ys)
    lut = np.zeros(len(boxes) + 1, dtype=np.int32)  # renumber kept components 1..n (= plume id)
    for i, (k, _, _) in enumerate(kept):
        lut[k] = i + 1
    labels = lut[labels]
    plumes: list[Plume] = []
    noise_std = background_std(column, labels)
    grow = model.rate_calibration.grow_px + 1
    for i, (_, box, comp) in enumerate(kept):
        ebox = tuple(slice(max(0, b.start - grow), min(n, b.stop + grow))
                     for b, n in zip(box, labels.shape, strict=True))  # fmt: skip
        rate = quantify_detection(column[ebox], labels[ebox], [i + 1], wind_speed,
                                  model.rate_calibration, pixel_size=float(np.sqrt(dx * dy)),
                                  wind_speed_std=wind_speed_std, noise_std=noise_std)  # fmt: skip
        plumes.append(
            Plume(
                id=i + 1,
                row=rows[i],
                col=cols[i],
                x=xs[i],
                y=ys[i],
                lon=None if lonlat is None else float(lonlat[0][i]),
                lat=None if lonlat is None else float(lonlat[1][i]),
                n_pixels=int(comp.sum()),
                area_m2=float(comp.sum() * dx * dy),
                score=float(prob[box][comp].max()),
                rate_kg_h=float(rate.rate_kg_h),
                sigma_kg_h=float(rate.sigma_kg_h),
                geometry=_outline(labels, i + 1, box, geo),
            )
        )
    scene = combine_reports([scene_report(c) for c in consts])
    scene["vetoed_for_surface_change"] = len(vetoed)
    return DetectionResult(prob, column, plumes, geo, float(threshold), float(wind_speed), labels,
                           scene)  # fmt: skip
