"""Random spatial structures for synthetic scenes: power-law fields, parcels, blobs, shifts.

Power-law (fractal) fields are Gaussian random fields with spectrum

    P(k) ∝ (k^2 + k_0^2)^(-beta / 2),

made by filtering complex white noise in Fourier space: the real and imaginary parts of one
inverse FFT are two independent fields. ``beta`` ~ 2-3 is the fractal texture of natural surfaces
(beta = 2 + 2H for a fractional Brownian surface of Hurst exponent H); larger beta gives smoother
fields (cloud decks, moisture, abundances). Smooth fields of a large scene get random Fourier
coefficients only at the ``max_size`` lowest frequencies per axis (their power above is negligible
for beta >= 3), so a 5490 x 5490 tile draws ~1 M normals per field and pays one inverse FFT per
two fields.
"""

from __future__ import annotations

import numpy as np
import scipy.fft as sfft


def power_law_fields(
    shape: tuple[int, int],
    beta: float,
    rng: np.random.Generator,
    n: int = 2,
    corr_px: float | None = None,
    max_size: int | None = 1024,
) -> list[np.ndarray]:
    """``n`` independent standardised Gaussian fields with spectrum (k^2 + k_0^2)^(-beta/2).

    Args:
        shape: Output (H, W).
        beta: Spectral exponent (> 0).
        rng: Generator.
        n: Number of fields.
        corr_px: Outer scale 1 / k_0 in pixels (default 96 px, ~2 km at 20 m: a physical scale,
            so that chips and full tiles have the same statistics).
        max_size: Random Fourier coefficients are drawn only for the lowest ``max_size``
            frequencies per axis (the rest are zero: Fourier interpolation of a coarser field);
            ``None`` draws all of them (full-resolution texture).

    Returns:
        List of (H, W) float32 fields with zero mean and unit standard deviation.
    """
    h, w = (int(s) for s in shape)
    rows, cols = _low_frequencies(h, max_size), _low_frequencies(w, max_size)
    corr = 96.0 if corr_px is None else float(corr_px)
    ky = sfft.fftfreq(h)[rows][:, None]
    kx = sfft.fftfreq(w)[cols][None, :]
    amp = ((kx**2 + ky**2) + (1.0 / max(corr, 1.0)) ** 2) ** (-beta / 4.0)
    amp[(ky == 0) & (kx == 0)] = 0.0
    amp = amp.astype(np.float32)
    full = rows.size == h and cols.size == w
    out: list[np.ndarray] = []
    while len(out) < n:
        z = rng.standard_normal((2, rows.size, cols.size), dtype=np.float32)
        low = (z[0] + 1j * z[1]).astype(np.complex64)
        low *= amp
        if full:
            spec = low
        else:
            spec = np.zeros((h, w), dtype=np.complex64)
            spec[np.ix_(rows, cols)] = low
        field = sfft.ifft2(spec, workers=-1, overwrite_x=True)
        for part in (field.real, field.imag)[: n - len(out)]:
            arr = part.astype(np.float32)  # contiguous copy; zero mean (no DC term)
            std = max(float(np.sqrt(np.mean(arr[::2, ::2] ** 2))), 1e-12)
            arr *= np.float32(1.0 / std)
            out.append(arr)
    return out


def _low_frequencies(n: int, max_size: int | None) -> np.ndarray:
    """Indices of the ``max_size`` lowest FFT frequencies of an axis of length ``n``."""
    if max_size is None or n <= max_size:
        return np.arange(n)
    half = max_size // 2
    return np.concatenate([np.arange(half), np.arange(n - (max_size - half), n)])


def coords(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Open-mesh row and column indices (float32) of a grid."""
    r = np.arange(shape[0], dtype=np.float32)[:, None]
    c = np.arange(shape[1], dtype=np.float32)[None, :]
    return r, c


def parcels(
    shape: tuple[int, int],
    rng: np.random.Generator,
    strip_px: tuple[float, float],
    parcel_px: tuple[float, float],
    angle_deg: float | None = None,
    road_px: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Rectangular parcels (fields, city blocks) on a rotated grid of strips, at full resolution.

    The rotated coordinate u is cut into strips of random widths in ``strip_px``; each strip is cut
    along v into parcels of one width drawn in ``parcel_px`` with a random offset. Parcel ids come
    from a hash of (strip, parcel), so the construction is O(H W) with no neighbour search.

    Args:
        shape: (H, W).
        rng: Generator.
        strip_px: (min, max) strip width in pixels.
        parcel_px: (min, max) parcel length in pixels.
        angle_deg: Grid orientation (random if ``None``).
        road_px: Width of the roads drawn on parcel edges (0: none).

    Returns:
        (ids, road): int64 parcel ids (H, W) and a boolean road mask.
    """
    theta = np.deg2rad(rng.uniform(0.0, 90.0) if angle_deg is None else angle_deg)
    r, c = coords(shape)
    u = c * np.float32(np.cos(theta)) + r * np.float32(np.sin(theta))
    v = -c * np.float32(np.sin(theta)) + r * np.float32(np.cos(theta))
    span = float(np.hypot(*shape)) * 2.0 + 10.0
    widths = rng.uniform(*strip_px, size=int(span / strip_px[0]) + 2)
    edges = np.cumsum(widths) - span / 2.0
    strip = np.searchsorted(edges, u)
    length = rng.uniform(*parcel_px, size=edges.size + 1).astype(np.float32)[strip]
    offset = rng.uniform(0.0, parcel_px[1], size=edges.size + 1).astype(np.float32)[strip]
    pos = (v + offset) / length
    parcel = np.floor(pos).astype(np.int64)
    ids = strip.astype(np.int64) * 1_000_003 + parcel
    road = np.zeros(shape, dtype=bool)
    if road_px > 0:
        lo = np.concatenate([[-np.inf], edges])[strip]
        road = ((u - lo) < road_px) | ((pos - parcel) * length < road_px)
    return ids, road


def hash_choice(ids: np.ndarray, probs: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic class per parcel id: index drawn with probabilities ``probs`` from a hash."""
    x = (ids.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ np.uint64(seed)
    x ^= x >> np.uint64(29)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(32)
    uni = (x >> np.uint64(11)).astype(np.float64) / float(2**53)
    return np.searchsorted(np.cumsum(probs) / np.sum(probs), uni).astype(np.int64)


def blob(
    shape: tuple[int, int],
    centre: tuple[float, float],
    semi_axes: tuple[float, float],
    angle_deg: float,
    rng: np.random.Generator,
    roughness: float = 0.3,
) -> tuple[np.ndarray, tuple[slice, slice]]:
    """Soft elliptic patch with rough (fractal) edges, computed in its bounding window only.

    Returns:
        (weights in [0, 1] on the window, (row slice, col slice) of the window in the grid).
    """
    ext = 1.6 * max(semi_axes)
    r0, r1 = max(0, int(centre[0] - ext)), min(shape[0], int(centre[0] + ext) + 1)
    c0, c1 = max(0, int(centre[1] - ext)), min(shape[1], int(centre[1] + ext) + 1)
    win = (slice(r0, r1), slice(c0, c1))
    if r1 <= r0 or c1 <= c0:
        return np.zeros((0, 0), dtype=np.float32), win
    r, c = coords((r1 - r0, c1 - c0))
    dr, dc = r + r0 - centre[0], c + c0 - centre[1]
    t = np.deg2rad(angle_deg)
    a = (dr * np.cos(t) + dc * np.sin(t)) / semi_axes[0]
    b = (-dr * np.sin(t) + dc * np.cos(t)) / semi_axes[1]
    rough = power_law_fields((r1 - r0, c1 - c0), 3.0, rng, n=1, corr_px=max(semi_axes))[0]
    d = np.sqrt(a**2 + b**2) + roughness * rough
    return np.clip((1.15 - d) / 0.3, 0.0, 1.0).astype(np.float32), win


def shift_image(img: np.ndarray, d_row: float, d_col: float) -> np.ndarray:
    """Sub-pixel shift, separable bilinear with edge values repeated.

    out(r, c) = img(r - d_row, c - d_col).
    """
    out = np.asarray(img)
    for axis, d in ((0, d_row), (1, d_col)):
        if d != 0:
            out = _shift_axis(out, float(d), axis)
    return out.copy() if out is img else out


def _shift_axis(a: np.ndarray, d: float, axis: int) -> np.ndarray:
    """out[i] = a[i - d] along ``axis`` by linear interpolation (edge-clamped), with slices."""
    k = int(np.floor(d))
    frac = np.float32(d - k)
    lo = _shift_int(a, k, axis)
    if frac == 0:
        return lo
    hi = _shift_int(lo, 1, axis)
    hi -= lo
    hi *= frac
    lo += hi
    return lo


def _shift_int(a: np.ndarray, k: int, axis: int) -> np.ndarray:
    """out[i] = a[clip(i - k)] along ``axis`` (integer shift, edge values repeated)."""
    n = a.shape[axis]
    k = max(-n + 1, min(n - 1, k))
    out = np.empty_like(a)

    def sl(start: int | None, stop: int | None) -> tuple[slice, ...]:
        return tuple(slice(start, stop) if ax == axis else slice(None) for ax in range(a.ndim))

    if k >= 0:
        out[sl(k, None)] = a[sl(0, n - k)]
        out[sl(0, k)] = a[sl(0, 1)]
    else:
        out[sl(0, n + k)] = a[sl(-k, None)]
        out[sl(n + k, None)] = a[sl(n - 1, None)]
    return out


def translate(mask: np.ndarray, d_row: int, d_col: int) -> np.ndarray:
    """Integer translation with zero fill: out(r, c) = mask(r - d_row, c - d_col)."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    if abs(d_row) >= h or abs(d_col) >= w:
        return out
    src_r = slice(max(0, -d_row), h - max(0, d_row))
    dst_r = slice(max(0, d_row), h - max(0, -d_row))
    src_c = slice(max(0, -d_col), w - max(0, d_col))
    dst_c = slice(max(0, d_col), w - max(0, -d_col))
    out[dst_r, dst_c] = mask[src_r, src_c]
    return out
