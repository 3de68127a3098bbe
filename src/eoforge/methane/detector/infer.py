"""Tiled inference of the plume detector over scenes of any size, without seams.

The scene is cut into ``tile`` x ``tile`` windows with stride ``tile - overlap``. Each window's
features are computed with the scene-wide constants (:mod:`.features`), run through the
network, and accumulated with a blending weight

    w(d) = sin^2(pi/2 * clip((d - m) / (overlap - 2 m), 0, 1)),   m = overlap / 4,

of the distance d (pixels) to the nearest window edge that lies inside the scene (edges on the
scene border get no taper). The blended output is sum_k w_k y_k / sum_k w_k. Pixels within m of
an inner window edge, where zero padding of the convolutions distorts the output, get zero
weight; the cosine ramp then hands one window over to the next smoothly. Because the network is
purely local (:mod:`.model`), the tiled result equals the whole-image result away from borders.

Memory is bounded by the two (H, W) float32 accumulators plus one window's features and
activations, whatever the scene size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from eoforge.core.errors import InputError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.methane.detector.features import (
    SceneConstants,
    check_pair,
    compute_features,
    scene_constants,
)
from eoforge.methane.detector.weights import Detector, load_default_detector, set_threads


def _windows(n: int, tile: int, step: int, mult: int) -> list[tuple[int, int]]:
    """(start, stop) of the windows along one axis.

    Starts are multiples of ``mult`` so that every window sees the same pooling grid as the
    whole image (the U-Net is equivariant only to shifts by multiples of 2^(levels - 1)); the
    last window runs to the end of the axis.
    """
    if n <= tile + mult:
        return [(0, n)]
    step = max(mult, step - step % mult)
    last = (n - tile) - (n - tile) % mult
    starts = [*range(0, last, step), last]
    return [(s, min(s + tile, n)) if s != last else (s, n) for s in starts]


def _ramp(length: int, lo_inner: bool, hi_inner: bool, overlap: int) -> np.ndarray:
    """1-D blending weight along one axis of a window (module docstring)."""
    d = np.arange(length, dtype=np.float64)
    w = np.ones(length)
    m = overlap / 4.0
    span = max(overlap - 2.0 * m, 1.0)
    for inner, dist in ((lo_inner, d + 0.5), (hi_inner, length - d - 0.5)):
        if inner:
            w *= np.sin(0.5 * np.pi * np.clip((dist - m) / span, 0.0, 1.0)) ** 2
    return w


def _run(model: torch.nn.Module, x: np.ndarray, device: str) -> tuple[np.ndarray, np.ndarray]:
    """Network outputs (prob, column) of one (C, h, w) window, padded to the model multiple."""
    mult = model.multiple
    _, h, w = x.shape
    ph, pw = (-h) % mult, (-w) % mult
    xt = torch.from_numpy(x)[None]  # (1, C, h, w)
    if ph or pw:
        xt = torch.nn.functional.pad(xt, (0, pw, 0, ph), mode="replicate")
    with torch.inference_mode():
        logits, column = model(xt.to(device))  # (1, h+ph, w+pw) each
    prob = torch.sigmoid(logits)[0, :h, :w].float().cpu().numpy()
    return prob, column[0, :h, :w].float().cpu().numpy()


def reference_list(
    det: Detector, reference: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]]
) -> list[Mapping[str, np.ndarray]]:
    """The reference dates as a list, checked against a K-date detector (K > 1 needs exactly K).

    Raises:
        InputError: If a K-date detector is given another number of references.
    """
    refs = [reference] if isinstance(reference, Mapping) else list(reference)
    k = det.reference_dates
    if k > 1 and len(refs) != k:
        raise InputError(
            f"this detector sees {k} reference dates at once but {len(refs)} were given: pass "
            f"--reference exactly {k} times (reference= a list of {k} dates), or use a "
            "single-reference detector."
        )
    return refs


def predict(
    target: Mapping[str, np.ndarray],
    reference: Mapping[str, np.ndarray] | Sequence[Mapping[str, np.ndarray]],
    sza: float,
    vza: float,
    model: Detector | None = None,
    tile: int = 512,
    overlap: int = 64,
    device: str = "cpu",
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    constants: SceneConstants | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plume probability and column enhancement maps of a scene pair, by blended tiles.

    Args:
        target: Target-date bands (B11, B12 and the detector's context bands), (H, W) each.
        reference: Reference-date bands on the same grid; for a detector of K > 1 reference
            dates the list of exactly K dates (seen in one pass; :func:`reference_list`).
        sza: Solar zenith angle (degrees).
        vza: Viewing zenith angle (degrees).
        model: A :class:`Detector`; default: the shipped one.
        tile: Window size in pixels (>= 64).
        overlap: Overlap between windows in pixels (>= 16, <= tile / 2).
        device: Torch device.
        threads: Torch CPU threads (default: all available cores).
        progress: Optional ``progress(done, total)`` callback.
        constants: The pair's :func:`scene_constants` when already computed (else fitted here;
            with K > 1 references they must include the stack constants).

    Returns:
        ``(prob, column)``: (H, W) float32 plume probability in [0, 1] and column in mol/m2.
    """
    if int(tile) != tile or tile < 64:
        raise bad_value("tile", tile, "an int >= 64 pixels")
    if int(overlap) != overlap or overlap < 16 or 2 * overlap > tile:
        raise bad_value("overlap", overlap, f"an int in [16, {tile // 2}] pixels")
    det = load_default_detector() if model is None else model
    net = det.model.to(device).eval()
    if device == "cpu":
        set_threads(threads)
    refs = reference_list(det, reference)
    if det.reference_dates == 1 and len(refs) != 1:
        raise bad_value("reference", f"{len(refs)} dates", "one date for a single-reference "
                        "detector (detect combines several by the majority rule)")  # fmt: skip
    stack = refs if det.reference_dates > 1 else None
    reference = refs[0]
    h, w = check_pair(target, reference, det.context)
    const = constants
    if const is None:
        const = scene_constants(target, reference, sza, vza, det.context, stack)
    mult = net.multiple
    rows = _windows(h, tile, tile - overlap, mult)
    cols = _windows(w, tile, tile - overlap, mult)
    acc_p = np.zeros((h, w), dtype=np.float32)
    acc_c = np.zeros((h, w), dtype=np.float32)
    acc_w = np.zeros((h, w), dtype=np.float32)
    total, done = len(rows) * len(cols), 0
    for r0, r1 in rows:
        for c0, c1 in cols:
            win = (slice(r0, r1), slice(c0, c1))
            x = compute_features(
                target, reference, const, win, det.context, det.smooth, det.noise, stack
            )  # (C, h, w)
            prob, column = _run(net, x, device)
            th, tw = prob.shape
            wr = _ramp(th, r0 > 0, r1 < h, overlap)
            wc = _ramp(tw, c0 > 0, c1 < w, overlap)
            wgt = (wr[:, None] * wc[None, :]).astype(np.float32)  # (th, tw)
            acc_p[win] += wgt * prob
            acc_c[win] += wgt * column
            acc_w[win] += wgt
            done += 1
            if progress is not None:
                progress(done, total)
    np.maximum(acc_w, 1e-12, out=acc_w)
    acc_p /= acc_w
    acc_c /= acc_w
    return acc_p, acc_c


def majority_index(k: int) -> int:
    """Ascending index, among ``k`` per-reference probabilities, of the one a majority exceeds.

    A pixel's probability is the m-th largest of the k, m = floor(k / 2) + 1 (a strict majority
    of the references): the median for 3 references, the minimum for 1 or 2.
    """
    return k - (k // 2 + 1)


def reference_constants(
    target: Mapping[str, np.ndarray],
    refs: Sequence[Mapping[str, np.ndarray]],
    sza: float,
    vza: float,
    det: Detector,
) -> list[SceneConstants]:
    """The scene constants of the target against each reference.

    For a K-date detector the first one also holds the stack constants of all K (what
    :func:`predict_references` needs).
    """
    stack = refs if det.reference_dates > 1 else None
    return [scene_constants(target, ref, sza, vza, det.context, stack if k == 0 else None)
            for k, ref in enumerate(refs)]  # fmt: skip


def predict_references(
    target: Mapping[str, np.ndarray],
    refs: Sequence[Mapping[str, np.ndarray]],
    consts: Sequence[SceneConstants],
    sza: float,
    vza: float,
    det: Detector,
    tile: int = 512,
    overlap: int = 64,
    threads: int | None = None,
    progress: ProgressCallback | None = None,
    rule: str = "majority",
) -> tuple[np.ndarray, np.ndarray]:
    """(prob, column) of the target against several reference dates.

    A detector of K > 1 reference dates sees the whole stack in one pass. A single-date
    detector runs once per reference and keeps the majority probability (the
    :func:`majority_index`-th of the per-reference ones; the minimum when ``rule`` is "all")
    and the mean column. ``consts``: :func:`reference_constants`.
    """
    if det.reference_dates > 1:
        return predict(target, refs, sza, vza, model=det, tile=tile, overlap=overlap,
                       threads=threads, progress=progress, constants=consts[0])  # fmt: skip
    n = len(refs)
    probs = np.empty((0,), dtype=np.float32)  # (n, H, W) once the first date's map is known
    column = np.empty((0,), dtype=np.float32)
    for k, (ref, const) in enumerate(zip(refs, consts, strict=True)):

        def step(done: int, total: int, k: int = k) -> None:
            if progress is not None:
                progress(k * total + done, n * total)

        p_k, c_k = predict(target, ref, sza, vza, model=det, tile=tile, overlap=overlap,
                           threads=threads, progress=step, constants=const)  # fmt: skip
        if k == 0:
            probs = np.empty((n, *p_k.shape), dtype=np.float32)
            column = c_k
        else:
            column += c_k
        probs[k] = p_k
    i = majority_index(n) if rule == "majority" else 0
    prob = probs[0] if n == 1 else np.partition(probs, i, axis=0)[i]
    column /= len(refs)
    return prob, column
