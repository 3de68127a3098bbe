"""SAR and InSAR image statistics (pure NumPy).

Speckle, value distributions, spatial structure, wrapped-phase quality.

Conventions: images are 2-D arrays ``(H, W)`` or stacks ``(N, H, W)`` (a singleton channel axis
``(N, 1, H, W)`` is accepted and dropped). SAR *intensity* is linear power (sigma0, not dB);
phases are in radians. Statistics of a stack pool all images.

Functions:

- :func:`enl`: equivalent number of looks ``ENL = mean(I)^2 / var(I)`` (= L for L-look speckle).
- :func:`log_intensity_histogram_distance`: Wasserstein-1 (dB) or Jensen-Shannon distance of the
  ``10 log10 I`` distributions.
- :func:`radial_power_spectrum`, :func:`psd_distance`: radially averaged power spectral density and
  the mean absolute log-ratio of two of them.
- :func:`semivariogram`: isotropic empirical semivariogram ``gamma(h)`` (FFT, NaN-aware).
- :func:`residue_map`, :func:`phase_residues`: phase residues of wrapped phase (2x2 loop integral).
- :func:`circular_mean`, :func:`resultant_length`, :func:`circular_variance`,
  :func:`circular_std`: circular statistics of phase.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _sps

from eoforge.core.errors import InputError, ShapeError, bad_value

_TWO_PI = 2.0 * np.pi


def as_image_stack(images: np.ndarray, name: str = "images") -> np.ndarray:
    """Return ``images`` as a float64 stack ``(N, H, W)``.

    Accepts ``(H, W)``, ``(N, H, W)`` or ``(N, 1, H, W)``.

    Raises:
        ShapeError: Any other shape.
    """
    a = np.asarray(images, dtype=np.float64)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or min(a.shape) < 1:
        raise ShapeError(
            f"{name} has shape {np.shape(images)}: expected (H, W), (N, H, W) or (N, 1, H, W) "
            "(one-channel images; split multi-channel data first)."
        )
    return a


# --------------------------------------------------------------------------- speckle


def enl(intensity: np.ndarray, window: int | None = None) -> float:
    """Equivalent number of looks of SAR intensity.

    ``ENL = mean(I)^2 / var(I)``; for fully developed L-look speckle on a homogeneous area
    (``I ~ Gamma(L, R/L)``) it equals L.

    Args:
        intensity: Linear intensity, ``(H, W)`` or a stack ``(N, H, W)``, all values >= 0.
        window: ``None``: the whole image is taken as one homogeneous area (ENL of each image,
            median over the stack). An int ``w``: ENL of every non-overlapping ``w x w`` window,
            median over all windows — robust on heterogeneous scenes, where most windows are
            nearly homogeneous (edges and texture only lower the ENL of a minority of windows).
            Small windows bias the estimate (ratio of sample moments); use ``w >= 8``.

    Returns:
        The ENL (float); ``inf`` for a constant area.

    Raises:
        InputError: Negative or non-finite intensity, or a window larger than the image.
    """
    x = as_image_stack(intensity, "intensity")
    if not np.all(np.isfinite(x)) or np.any(x < 0):
        raise InputError(
            "intensity must be finite and >= 0 (linear power, not dB); convert dB with "
            "10 ** (db / 10)."
        )
    n, h, w = x.shape
    if window is None:
        blocks = x.reshape(n, -1)
    else:
        if isinstance(window, bool) or not isinstance(window, int | np.integer) or window < 2:
            raise bad_value("window", window, "None or an int >= 2", "8 to 16 pixels is typical.")
        if window > min(h, w):
            raise bad_value("window", window, f"at most min(H, W) = {min(h, w)}")
        hh, ww = (h // window) * window, (w // window) * window
        blocks = (
            x[:, :hh, :ww]
            .reshape(n, hh // window, window, ww // window, window)
            .transpose(0, 1, 3, 2, 4)
            .reshape(-1, window * window)
        )
    mean = blocks.mean(axis=1)
    var = blocks.var(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(var > 0, mean**2 / np.where(var > 0, var, 1.0), np.inf)
    return float(np.median(values))


def _to_db(x: np.ndarray, floor: float) -> np.ndarray:
    return 10.0 * np.log10(np.maximum(x, floor))


def log_intensity_histogram_distance(
    a: np.ndarray,
    b: np.ndarray,
    bins: int = 100,
    *,
    metric: str = "wasserstein",
    domain: str = "intensity",
    floor: float = 1e-10,
) -> float:
    """Distance between the distributions of ``10 log10 I`` of two sets of SAR images.

    - ``metric="wasserstein"``: Wasserstein-1 (earth mover's) distance in dB between the two
      empirical distributions, ``W1 = int |F_a(v) - F_b(v)| dv`` (exact, no binning;
      ``bins`` unused). Interpretable: a pure shift of the dB distribution by ``c`` gives ``c``.
    - ``metric="js"``: Jensen-Shannon distance (base 2, in [0, 1]) between histograms with
      ``bins`` common bins over the pooled 0.1-99.9 % range,
      ``JS = sqrt(KL(p || m)/2 + KL(q || m)/2)``, ``m = (p + q)/2``.

    Args:
        a: Linear intensities (``domain="intensity"``) or values already in dB
            (``domain="db"``); any shape, flattened.
        b: The other set, like ``a``.
        bins: Number of histogram bins (``"js"``).
        metric: ``"wasserstein"`` or ``"js"``.
        domain: ``"intensity"`` or ``"db"``.
        floor: Intensities below ``floor`` are clipped before the log.

    Returns:
        The distance (0 for identical sets).
    """
    if domain not in ("intensity", "db"):
        raise bad_value("domain", domain, "'intensity' (linear power) or 'db'")
    if metric not in ("wasserstein", "js"):
        raise bad_value("metric", metric, "'wasserstein' or 'js'")
    va = np.asarray(a, dtype=np.float64).ravel()
    vb = np.asarray(b, dtype=np.float64).ravel()
    if va.size == 0 or vb.size == 0:
        raise InputError("log_intensity_histogram_distance needs non-empty a and b.")
    if domain == "intensity":
        va, vb = _to_db(va, floor), _to_db(vb, floor)
    va, vb = va[np.isfinite(va)], vb[np.isfinite(vb)]
    if metric == "wasserstein":
        return float(_sps.wasserstein_distance(va, vb))
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 2:
        raise bad_value("bins", bins, "an int >= 2")
    lo, hi = np.percentile(np.concatenate([va, vb]), [0.1, 99.9])
    if hi <= lo:
        hi = lo + 1.0
    p, _ = np.histogram(np.clip(va, lo, hi), bins=bins, range=(lo, hi))
    q, _ = np.histogram(np.clip(vb, lo, hi), bins=bins, range=(lo, hi))
    p = p / p.sum()
    q = q / q.sum()
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum()
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum()
    return float(np.sqrt(max(0.5 * (kl_p + kl_q), 0.0)))


# --------------------------------------------------------------------------- spectra


def radial_power_spectrum(
    images: np.ndarray, *, window: str | None = "hann"
) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectral density, averaged over a stack.

    Each image has its mean removed, is tapered by ``window`` (a separable Hann window reduces
    the leakage of non-periodic image edges; use ``None`` for periodic fields), and
    ``P(f) = |FFT(x w)|^2 / sum(w^2)`` is averaged over the images and over the annuli
    ``|f| in [(r - 1/2)/M, (r + 1/2)/M)``, ``r = 1..M/2``, ``M = min(H, W)``.
    For white noise of variance s^2, ``P(f) = s^2`` at every f; for a field with spectrum
    ``P ~ |f|^-beta``, the log-log slope is ``-beta``.

    Args:
        images: ``(H, W)`` or ``(N, H, W)``.
        window: ``"hann"`` or ``None``.

    Returns:
        ``(freqs, power)``: radial frequencies in cycles per pixel ``r/M`` (M//2,) and the
        averaged PSD (M//2,).
    """
    x = as_image_stack(images)
    if window not in ("hann", None):
        raise bad_value("window", window, "'hann' or None")
    _, h, w = x.shape
    m = min(h, w)
    if m < 4:
        raise ShapeError(f"images of {h}x{w} are too small for a spectrum; use at least 4x4.")
    x = x - x.mean(axis=(1, 2), keepdims=True)
    if window == "hann":
        taper = np.outer(np.hanning(h + 2)[1:-1], np.hanning(w + 2)[1:-1])
    else:
        taper = np.ones((h, w))
    spec = np.abs(np.fft.fft2(x * taper)) ** 2  # (N, H, W)
    power2d = spec.mean(axis=0) / np.sum(taper**2)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    radius = np.rint(np.sqrt(fx**2 + fy**2) * m).astype(np.int64)  # (H, W) ring index
    n_rings = m // 2
    keep = (radius >= 1) & (radius <= n_rings)
    sums = np.bincount(radius[keep], weights=power2d[keep], minlength=n_rings + 1)
    counts = np.bincount(radius[keep], minlength=n_rings + 1)
    rings = np.arange(1, n_rings + 1)
    return rings / m, sums[1:] / np.maximum(counts[1:], 1)


def psd_distance(a: np.ndarray, b: np.ndarray, *, window: str | None = "hann") -> float:
    """Mean absolute log-ratio of the radially averaged PSDs of two image sets.

    ``D = mean_f |ln P_a(f) - ln P_b(f)|`` over the radial frequencies of
    :func:`radial_power_spectrum`; 0 for identical spectra, ``ln 2 = 0.69`` when one set has
    twice the power at every frequency.

    Raises:
        ShapeError: The two sets have different image sizes.
    """
    xa, xb = as_image_stack(a, "a"), as_image_stack(b, "b")
    if xa.shape[1:] != xb.shape[1:]:
        raise ShapeError(
            f"a has images of {xa.shape[1:]} and b of {xb.shape[1:]}: spectra need equal sizes; "
            "crop or resample one set."
        )
    _, pa = radial_power_spectrum(xa, window=window)
    _, pb = radial_power_spectrum(xb, window=window)
    tiny = 1e-300
    return float(np.mean(np.abs(np.log(pa + tiny) - np.log(pb + tiny))))


# --------------------------------------------------------------------------- semivariogram


def semivariogram(
    field: np.ndarray, lags: np.ndarray | list[float], *, tolerance: float = 0.5
) -> np.ndarray:
    """Isotropic empirical semivariogram of a (stack of) 2-D field(s), NaN-aware.

    ``gamma(h) = 1 / (2 |N(h)|) sum_{(i, j) in N(h)} (z_i - z_j)^2`` where ``N(h)`` holds all
    ordered pixel pairs whose separation ``|d|`` (pixels) lies in ``[h - tol, h + tol)``, pooled
    over the stack. All displacement sums are computed at once with FFT cross-correlations:
    ``sum_x m(x) m(x+d) (z(x) - z(x+d))^2 = C[m, m z^2](d) + C[m z^2, m](d) - 2 C[m z, m z](d)``
    with ``C[a, b](d) = sum_x a(x) b(x + d)`` and ``m`` the mask of finite pixels.

    Use it on *unwrapped* phase (radians): the result is in rad^2. For a field with power
    spectrum ``~ |f|^-beta`` (2 < beta < 4), ``gamma(h) ~ h^(beta - 2)``.

    Args:
        field: ``(H, W)`` or ``(N, H, W)``; NaN marks missing pixels.
        lags: Lag distances in pixels (> 0), e.g. ``np.arange(1, 16)``.
        tolerance: Half-width of each lag bin in pixels.

    Returns:
        ``gamma`` of shape ``(len(lags),)``; NaN where a bin holds no pair.
    """
    z = as_image_stack(field, "field")
    h_arr = np.atleast_1d(np.asarray(lags, dtype=np.float64))
    if h_arr.ndim != 1 or h_arr.size == 0 or np.any(~np.isfinite(h_arr)) or np.any(h_arr <= 0):
        raise bad_value("lags", lags, "a non-empty 1-D list of positive distances in pixels")
    if not tolerance > 0:
        raise bad_value("tolerance", tolerance, "a positive float (pixels)")
    _, h, w = z.shape
    mask = np.isfinite(z).astype(np.float64)
    zf = np.where(mask > 0, z, 0.0)
    shape = (2 * h, 2 * w)
    fm = np.fft.rfft2(mask, shape)
    fz = np.fft.rfft2(zf, shape)
    fz2 = np.fft.rfft2(zf**2, shape)

    def corr(fa: np.ndarray, fb: np.ndarray) -> np.ndarray:  # sum over images of C[a, b]
        return np.fft.irfft2((np.conj(fa) * fb).sum(axis=0), shape)

    pairs = corr(fm, fm)  # (2H, 2W): number of pairs at each displacement
    sq = corr(fm, fz2) + corr(fz2, fm) - 2.0 * corr(fz, fz)
    dy = np.fft.fftfreq(2 * h, 1.0 / (2 * h))[:, None]
    dx = np.fft.fftfreq(2 * w, 1.0 / (2 * w))[None, :]
    dist = np.sqrt(dx**2 + dy**2)
    out = np.full(h_arr.shape, np.nan)
    for i, lag in enumerate(h_arr):
        sel = (dist >= lag - tolerance) & (dist < lag + tolerance)
        count = np.rint(pairs[sel]).sum()
        if count > 0:
            out[i] = sq[sel].sum() / (2.0 * count)
    return out


# --------------------------------------------------------------------------- wrapped phase


def _wrap(phase: np.ndarray) -> np.ndarray:
    return phase - _TWO_PI * np.ceil((phase - np.pi) / _TWO_PI)


def residue_map(wrapped: np.ndarray) -> np.ndarray:
    """Phase residues of wrapped phase: the 2x2 loop integral of the wrapped gradients.

    For the loop ``(r, c) -> (r, c+1) -> (r+1, c+1) -> (r+1, c) -> (r, c)``,
    ``q = (1 / 2 pi) sum_loop W(phi_next - phi)`` with ``W`` the wrapping to (-pi, pi]; q is an
    integer (0 for a smooth, correctly sampled field, +1 or -1 at a phase vortex). With columns
    as x and rows as y, a phase increasing counter-clockwise around a point (e.g.
    ``arctan2(row - r0, col - c0)``) gives +1.

    Args:
        wrapped: Phase in radians ``(..., H, W)`` (need not be wrapped already); NaN marks
            missing pixels (no-data of real interferograms): a loop touching one gets q = 0.

    Returns:
        Integer array ``(..., H-1, W-1)``.
    """
    p = np.asarray(wrapped, dtype=np.float64)
    if p.ndim < 2 or p.shape[-1] < 2 or p.shape[-2] < 2:
        raise ShapeError(f"wrapped has shape {p.shape}: expected (..., H, W) with H, W >= 2.")
    a, b = p[..., :-1, :-1], p[..., :-1, 1:]
    c, d = p[..., 1:, 1:], p[..., 1:, :-1]
    total = _wrap(b - a) + _wrap(c - b) + _wrap(d - c) + _wrap(a - d)
    total = np.where(np.isfinite(total), total, 0.0)
    return np.rint(total / _TWO_PI).astype(np.int64)


def _valid_loops(p: np.ndarray) -> np.ndarray:
    """Mask ``(..., H-1, W-1)`` of the 2x2 loops whose four corners are finite."""
    f = np.isfinite(p)
    return f[..., :-1, :-1] & f[..., :-1, 1:] & f[..., 1:, 1:] & f[..., 1:, :-1]


def phase_residues(wrapped: np.ndarray) -> float:
    """Residue density: the fraction of 2x2 loops holding a residue (of either sign).

    ``rho = mean |q|`` over all loops of all images (:func:`residue_map`); 0 for a smooth field,
    1/3 for pure noise (independent uniform phases), in between for decorrelated phase. Loops
    touching a NaN pixel (no data) are left out of the mean; NaN when no loop is complete.
    """
    p = np.asarray(wrapped, dtype=np.float64)
    q = np.abs(residue_map(p))
    valid = _valid_loops(p)
    if valid.all():
        return float(q.mean())
    return float(q[valid].mean()) if valid.any() else float("nan")


def circular_mean(phase: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Circular mean ``arg(mean exp(i phi))`` in (-pi, pi] (= ``scipy.stats.circmean`` wrapped)."""
    z = np.exp(1j * np.asarray(phase, dtype=np.float64)).mean(axis=axis)
    out = np.angle(z)
    return float(out) if np.ndim(out) == 0 else out


def resultant_length(phase: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Mean resultant length ``R = |mean exp(i phi)|`` in [0, 1] (1: all phases equal)."""
    out = np.abs(np.exp(1j * np.asarray(phase, dtype=np.float64)).mean(axis=axis))
    return float(out) if np.ndim(out) == 0 else out


def circular_variance(phase: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Circular variance ``1 - R`` in [0, 1] (``scipy.stats.circvar`` since SciPy 1.8)."""
    r = resultant_length(phase, axis)
    return 1.0 - r


def circular_std(phase: np.ndarray, axis: int | None = None) -> np.ndarray | float:
    """Circular standard deviation ``sqrt(-2 ln R)`` in radians (``scipy.stats.circstd``)."""
    r = np.asarray(resultant_length(phase, axis))
    with np.errstate(divide="ignore"):
        out = np.sqrt(-2.0 * np.log(np.clip(r, 0.0, 1.0)))
    return float(out) if np.ndim(out) == 0 else out
