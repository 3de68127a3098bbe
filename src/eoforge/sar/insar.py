"""InSAR phase tools and a generator of synthetic interferograms with known ingredients.

Units: phase in radians, distances and displacements in metres, volumes in m^3. The default
radar is Sentinel-1 C-band, wavelength ``lambda = 5.55 cm``; a line-of-sight (LOS) displacement
``d`` (positive towards the satellite) gives the interferometric phase ``phi = 4 pi d / lambda``
(one fringe, 2 pi, is ``lambda / 2 = 2.8 cm`` of LOS motion).

A synthetic interferogram (:func:`synth_interferograms`) is

    phi_unwrapped = phi_deformation + phi_turbulence (+ phi_stratified)
    phi_wrapped   = arg( z ),  z = sum over L looks of s1 conj(s2)  (decorrelation noise)

with the deformation from closed-form elastic half-space sources (Mogi point source; a buried
strike-slip screw dislocation) projected on the LOS, the turbulent atmosphere an isotropic
power-law random field (2-D spectrum ``~ |k|^-8/3``, Hanssen 2001), and the decorrelation noise
drawn by complex circular Gaussian mixing of two SLCs with coherence ``gamma``.
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.core.seeding import RandomState, as_generator

C_BAND_WAVELENGTH = 0.0555  # metres (Sentinel-1)
_TWO_PI = 2.0 * np.pi


# --------------------------------------------------------------------------- phase tools


@overload
def wrap(phase: float) -> float: ...
@overload
def wrap(phase: np.ndarray) -> np.ndarray: ...
def wrap(phase: np.ndarray | float) -> np.ndarray | float:
    """Wrap phase to (-pi, pi]: ``phi - 2 pi ceil((phi - pi) / 2 pi)``."""
    p = np.asarray(phase, dtype=np.float64)
    out = p - _TWO_PI * np.ceil((p - np.pi) / _TWO_PI)
    return float(out) if out.ndim == 0 else out


def to_cos_sin(phase: np.ndarray) -> np.ndarray:
    """Two-channel representation ``(cos phi, sin phi)`` of phase ``(..., H, W)``.

    Returns:
        Array ``(..., 2, H, W)`` (a channel axis inserted before H): ``(2, H, W)`` for one image,
        ``(N, 2, H, W)`` for a stack.
    """
    p = np.asarray(phase, dtype=np.float64)
    if p.ndim < 2:
        raise ShapeError(f"phase has shape {p.shape}: expected (..., H, W).")
    return np.stack([np.cos(p), np.sin(p)], axis=-3)


def from_cos_sin(c: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
    """Wrapped phase ``arctan2(s, c)`` in (-pi, pi] from cos/sin channels.

    Args:
        c: The cos channel, or with ``s=None`` an array ``(..., 2, H, W)`` holding both.
        s: The sin channel (same shape as ``c``). Neither needs unit norm (model outputs).
    """
    c = np.asarray(c, dtype=np.float64)
    if s is None:
        if c.ndim < 3 or c.shape[-3] != 2:
            raise ShapeError(
                f"from_cos_sin got one array of shape {c.shape}: expected (..., 2, H, W), or "
                "pass the cos and sin channels separately."
            )
        c, s = c[..., 0, :, :], c[..., 1, :, :]
    s = np.asarray(s, dtype=np.float64)
    if c.shape != s.shape:
        raise ShapeError(f"c has shape {c.shape} and s {s.shape}: they must match.")
    return wrap(np.arctan2(s, c))


def los_vector(incidence_deg: float = 39.0, heading_deg: float = -170.0) -> np.ndarray:
    """Unit vector (east, north, up) from the ground to a right-looking satellite.

    ``e = (-sin(theta) cos(alpha), sin(theta) sin(alpha), cos(theta))`` with incidence
    ``theta`` and heading ``alpha`` (flight direction, degrees clockwise from north). The
    default is a descending Sentinel-1 pass (looks west, so the vector points east and up).
    """
    th, al = np.deg2rad(incidence_deg), np.deg2rad(heading_deg)
    return np.array([-np.sin(th) * np.cos(al), np.sin(th) * np.sin(al), np.cos(th)])


def displacement_to_phase(
    los_displacement: np.ndarray, wavelength: float = C_BAND_WAVELENGTH
) -> np.ndarray:
    """Phase ``phi = 4 pi d / lambda`` (radians) of a LOS displacement ``d`` (m, towards sat)."""
    if not wavelength > 0:
        raise bad_value("wavelength", wavelength, "a positive length in metres", "C-band: 0.0555.")
    return 4.0 * np.pi * np.asarray(los_displacement, dtype=np.float64) / wavelength


# --------------------------------------------------------------------------- deformation


def mogi(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x0: float = 0.0,
    y0: float = 0.0,
    depth: float = 2000.0,
    dvolume: float = 1e6,
    nu: float = 0.25,
) -> np.ndarray:
    """Surface displacement of a Mogi point source (pressure change in an elastic half-space).

    ``u = (1 - nu) dV / pi * (x - x0, y - y0, d) / R^3``, ``R = sqrt((x-x0)^2 + (y-y0)^2 + d^2)``
    (Mogi 1958; Segall 2010, Eq. 7.14): maximum uplift ``(1 - nu) dV / (pi d^2)`` above the
    source, radial decay ``(1 + r^2/d^2)^(-3/2)``.

    Args:
        x: East coordinates (m), broadcastable with ``y``.
        y: North coordinates (m).
        x0: Source east position (m).
        y0: Source north position (m).
        depth: Source depth d (m, > 0).
        dvolume: Volume change dV (m^3; > 0 inflation, < 0 deflation).
        nu: Poisson's ratio.

    Returns:
        Displacement (east, north, up) stacked on a leading axis: ``(3, *shape)`` in metres.
    """
    if not depth > 0:
        raise bad_value("depth", depth, "a positive depth in metres")
    dx = np.asarray(x, dtype=np.float64) - x0
    dy = np.asarray(y, dtype=np.float64) - y0
    dx, dy = np.broadcast_arrays(dx, dy)
    r3 = (dx**2 + dy**2 + depth**2) ** 1.5
    c = (1.0 - nu) * dvolume / np.pi
    return np.stack([c * dx / r3, c * dy / r3, c * depth / r3 * np.ones_like(dx)])


def screw_dislocation(
    x: np.ndarray,
    y: np.ndarray,
    *,
    x0: float = 0.0,
    y0: float = 0.0,
    strike_deg: float = 0.0,
    slip: float = 0.05,
    locking_depth: float = 5000.0,
    length: float | None = None,
) -> np.ndarray:
    """Surface displacement of a buried strike-slip (screw) dislocation.

    Infinite fault (Savage & Burford 1973): slip ``s`` below the locking depth ``D`` gives the
    fault-parallel displacement ``u_par = (s / pi) arctan(x_perp / D)`` (x_perp the distance
    from the fault trace, right-lateral for s > 0). With ``length`` the field is tapered along
    strike by ``exp(-(x_par / (length/2))^4)`` — an approximation to a finite fault, not an
    exact elastic solution (Okada 1985 is not implemented).

    Returns:
        Displacement (east, north, up) ``(3, *shape)`` in metres (no vertical motion).
    """
    if not locking_depth > 0:
        raise bad_value("locking_depth", locking_depth, "a positive depth in metres")
    phi = np.deg2rad(strike_deg)
    strike = np.array([np.sin(phi), np.cos(phi)])  # (east, north) unit vector along strike
    dx = np.asarray(x, dtype=np.float64) - x0
    dy = np.asarray(y, dtype=np.float64) - y0
    dx, dy = np.broadcast_arrays(dx, dy)
    x_par = dx * strike[0] + dy * strike[1]
    x_perp = dx * strike[1] - dy * strike[0]  # positive to the right of the strike direction
    u = -(slip / np.pi) * np.arctan(x_perp / locking_depth)
    if length is not None:
        u = u * np.exp(-((x_par / (0.5 * length)) ** 4))
    return np.stack([u * strike[0], u * strike[1], np.zeros_like(u)])


# --------------------------------------------------------------------------- random fields


def powerlaw_field(
    shape: tuple[int, int],
    beta: float = 8.0 / 3.0,
    *,
    std: float = 1.0,
    random_state: RandomState = None,
    n: int | None = None,
) -> np.ndarray:
    """Isotropic Gaussian random field with power spectrum ``P(k) ~ |k|^-beta`` (FFT synthesis).

    White Gaussian noise is filtered in Fourier space by ``|k|^(-beta/2)`` (the k = 0 term set
    to 0), the field is periodic, and each field is rescaled to zero mean and standard deviation
    ``std``. ``beta = 8/3`` is the Kolmogorov turbulence slope of InSAR atmospheric delay
    (Hanssen 2001); ``beta = 0`` is white noise.

    Args:
        shape: ``(H, W)``.
        beta: Spectral slope (>= 0).
        std: Standard deviation of each field.
        random_state: Seed or ``numpy.random.Generator``.
        n: Number of fields; ``None`` returns one ``(H, W)`` field, else ``(n, H, W)``.
    """
    h, w = (int(s) for s in shape)
    if h < 2 or w < 2:
        raise bad_value("shape", shape, "(H, W) with H, W >= 2")
    if not beta >= 0:
        raise bad_value("beta", beta, "a float >= 0", "8/3 for Kolmogorov turbulence.")
    rng = as_generator(random_state)
    count = 1 if n is None else int(n)
    k = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.fftfreq(w)[None, :] ** 2)
    amp = np.zeros_like(k)
    amp[k > 0] = k[k > 0] ** (-beta / 2.0)
    white = rng.standard_normal((count, h, w))
    field = np.fft.ifft2(np.fft.fft2(white) * amp).real
    field -= field.mean(axis=(1, 2), keepdims=True)
    field *= std / np.maximum(field.std(axis=(1, 2), keepdims=True), 1e-300)
    return field[0] if n is None else field


def decorrelation_noise(
    phase: np.ndarray,
    coherence: np.ndarray | float,
    *,
    looks: int = 4,
    random_state: RandomState = None,
) -> np.ndarray:
    """Observed wrapped phase of ``phase`` seen with coherence ``gamma`` and ``looks`` looks.

    Two SLCs ``s1 = a``, ``s2 = (gamma a + sqrt(1 - gamma^2) b) exp(-i phi)`` with
    ``a, b ~ CN(0, 1)`` i.i.d. have coherence ``gamma`` and interferometric phase ``phi``; the
    multilooked interferogram ``z = sum_l s1_l conj(s2_l)`` has the phase PDF of Lee et al.
    (1994) for L looks. Returns ``arg z`` in (-pi, pi].
    """
    p = np.asarray(phase, dtype=np.float64)
    g = np.broadcast_to(np.asarray(coherence, dtype=np.float64), p.shape)
    if np.any((g < 0) | (g > 1)):
        raise InputError("coherence must lie in [0, 1].")
    if isinstance(looks, bool) or not isinstance(looks, int | np.integer) or looks < 1:
        raise bad_value("looks", looks, "an int >= 1")
    rng = as_generator(random_state)
    size = (int(looks), *p.shape)
    a = (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2.0)
    b = (rng.standard_normal(size) + 1j * rng.standard_normal(size)) / np.sqrt(2.0)
    # s1 conj(s2) = exp(i phi) (gamma |a|^2 + sqrt(1 - gamma^2) a conj(b))
    z = (g * np.abs(a) ** 2 + np.sqrt(1.0 - g**2) * a * np.conj(b)).sum(axis=0)
    return wrap(np.angle(z * np.exp(1j * p)))


# --------------------------------------------------------------------------- generator


def _deformation(
    kind: str, x: np.ndarray, y: np.ndarray, extent: float, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, Any]]:
    """One random source: displacement (3, H, W) in metres and its parameters."""
    cx, cy = rng.uniform(0.25, 0.75, size=2) * extent
    if kind == "mogi":
        depth = rng.uniform(0.08, 0.25) * extent
        uplift = rng.uniform(0.02, 0.12) * rng.choice([-1.0, 1.0])  # max vertical motion (m)
        nu = 0.25
        dvolume = uplift * np.pi * depth**2 / (1.0 - nu)
        params = dict(kind=kind, x0=cx, y0=cy, depth=depth, dvolume=dvolume, nu=nu)
        return mogi(x, y, x0=cx, y0=cy, depth=depth, dvolume=dvolume, nu=nu), params
    if kind == "dislocation":
        params = dict(
            kind=kind,
            x0=cx,
            y0=cy,
            strike_deg=rng.uniform(0.0, 180.0),
            slip=rng.uniform(0.03, 0.15) * rng.choice([-1.0, 1.0]),
            locking_depth=rng.uniform(0.03, 0.15) * extent,
            length=rng.uniform(0.5, 1.2) * extent,
        )
        field = screw_dislocation(x, y, **{k: v for k, v in params.items() if k != "kind"})
        return field, params
    return np.zeros((3, *x.shape)), dict(kind="none")


def _check_synth(
    n: int,
    size: int,
    sources: tuple[str, ...],
    source_probs: tuple[float, ...] | None,
    coherence: tuple[float, float],
) -> np.ndarray | None:
    """Refuse bad :func:`synth_interferograms` arguments; the source probabilities as an array."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise bad_value("n", n, "an int >= 1")
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 8:
        raise bad_value("size", size, "an int >= 8 (pixels)")
    unknown = [s for s in sources if s not in ("mogi", "dislocation", "none")]
    if not sources or unknown:
        raise bad_value("sources", sources, "a non-empty tuple of 'mogi', 'dislocation', 'none'")
    lo, hi = coherence
    if not 0 <= lo <= hi <= 1:
        raise bad_value("coherence", coherence, "(min, max) with 0 <= min <= max <= 1")
    probs = None if source_probs is None else np.asarray(source_probs, dtype=np.float64)
    if probs is not None and (probs.shape != (len(sources),) or abs(probs.sum() - 1) > 1e-9):
        raise bad_value("source_probs", source_probs, f"{len(sources)} probabilities summing to 1")
    return probs


def _deformations(
    n: int,
    size: int,
    pixel_size: float,
    los: np.ndarray,
    wavelength: float,
    sources: tuple[str, ...],
    probs: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``n`` LOS deformation phases ``(n, size, size)`` and their source parameters."""
    extent = size * pixel_size
    coords = (np.arange(size) + 0.5) * pixel_size
    x, y = np.meshgrid(coords, coords[::-1])  # rows run north to south
    deformation = np.empty((n, size, size))
    params: list[dict[str, Any]] = []
    for i in range(n):
        kind = str(rng.choice(list(sources), p=probs))
        disp, p = _deformation(kind, x, y, extent, rng)
        d_los = np.tensordot(los, disp, axes=1)  # (H, W) metres towards the satellite
        deformation[i] = displacement_to_phase(d_los, wavelength)
        params.append(p)
    return deformation, params


def _coherence_maps(
    n: int, size: int, coherence: tuple[float, float], rng: np.random.Generator
) -> np.ndarray:
    """Smooth coherence maps ``(n, size, size)``: a power-law field's ranks scaled to the range."""
    lo, hi = coherence
    smooth = powerlaw_field((size, size), 3.0, random_state=rng, n=n)
    ranks = (smooth - smooth.min(axis=(1, 2), keepdims=True)) / np.maximum(
        np.ptp(smooth, axis=(1, 2), keepdims=True), 1e-12
    )
    return lo + (hi - lo) * ranks


def synth_interferograms(
    n: int,
    size: int = 64,
    seed: RandomState = 0,
    *,
    pixel_size: float = 200.0,
    wavelength: float = C_BAND_WAVELENGTH,
    incidence_deg: float = 39.0,
    heading_deg: float = -170.0,
    sources: tuple[str, ...] = ("mogi", "dislocation", "none"),
    source_probs: tuple[float, ...] | None = None,
    turbulence_std: float = 1.0,
    turbulence_beta: float = 8.0 / 3.0,
    stratified: float = 0.0,
    coherence: tuple[float, float] = (0.3, 0.95),
    looks: int = 4,
) -> dict[str, Any]:
    """Synthetic interferograms with known deformation, atmosphere and decorrelation.

    For each image: a deformation source drawn from ``sources`` (Mogi inflation/deflation with
    2-12 cm peak uplift, or a strike-slip dislocation with 3-15 cm slip) projected on the LOS
    (:func:`los_vector`) and converted to phase (``4 pi d / lambda``); plus turbulent
    atmosphere (:func:`powerlaw_field`, ``turbulence_std`` radians); plus optionally a
    stratified delay ``stratified * h`` (radians per km of a synthetic power-law topography
    ``h`` in km); then decorrelation noise (:func:`decorrelation_noise`) with a smooth random
    coherence map in the ``coherence`` range.

    Args:
        n: Number of interferograms.
        size: Image side in pixels.
        seed: Seed or generator (everything is drawn from it).
        pixel_size: Pixel spacing in metres (scene side = size * pixel_size).
        wavelength: Radar wavelength in metres.
        incidence_deg: Incidence angle of the viewing geometry (:func:`los_vector`).
        heading_deg: Heading of the viewing geometry (:func:`los_vector`).
        sources: Source kinds to draw from (``"mogi"``, ``"dislocation"``, ``"none"``).
        source_probs: Their probabilities (uniform by default).
        turbulence_std: Standard deviation of the turbulent delay (radians).
        turbulence_beta: Spectral slope of the turbulence.
        stratified: Stratified-delay coefficient (radians per km of elevation); 0 disables it.
        coherence: ``(min, max)`` of the coherence maps.
        looks: Number of looks of the decorrelation noise.

    Returns:
        dict with ``unwrapped`` (n, H, W) float32 noise-free phase (deformation + atmosphere),
        ``wrapped`` (n, H, W) float32 observed noisy wrapped phase, ``coherence`` (n, H, W),
        ``deformation`` (n, H, W) LOS deformation phase alone, ``topography`` (n, H, W) in km
        (zeros unless ``stratified``), and ``params``: one dict per image (source parameters in
        metres / m^3) plus the generator settings under ``"settings"``.
    """
    probs = _check_synth(n, size, sources, source_probs, coherence)
    rng = as_generator(seed)
    los = los_vector(incidence_deg, heading_deg)
    deformation, params = _deformations(n, size, pixel_size, los, wavelength, sources, probs, rng)
    atmosphere = powerlaw_field(
        (size, size), turbulence_beta, std=turbulence_std, random_state=rng, n=n
    )
    topo = np.zeros((n, size, size))
    if stratified:
        topo = 0.5 + 0.3 * powerlaw_field((size, size), 3.5, random_state=rng, n=n)  # km
        atmosphere = atmosphere + stratified * topo
    coh = _coherence_maps(n, size, coherence, rng)
    unwrapped = deformation + atmosphere
    wrapped = decorrelation_noise(unwrapped, coh, looks=looks, random_state=rng)
    settings = dict(
        size=int(size), pixel_size=pixel_size, wavelength=wavelength, incidence_deg=incidence_deg,
        heading_deg=heading_deg, turbulence_std=turbulence_std, turbulence_beta=turbulence_beta,
        stratified=stratified, coherence=list(coherence), looks=int(looks),
    )  # fmt: skip
    return {
        "unwrapped": unwrapped.astype(np.float32),
        "wrapped": np.asarray(wrapped, dtype=np.float32),
        "coherence": coh.astype(np.float32),
        "deformation": deformation.astype(np.float32),
        "topography": topo.astype(np.float32),
        "params": params,
        "settings": settings,
    }
