"""Synthetic methane plumes on a pixel grid: steady Gaussian plume, Gaussian puffs, PSF blur.

Grid and wind conventions (all functions):

* pixel (i, j) covers rows i..i+1 and columns j..j+1 in pixel units; pixel centres are integer
  (row, col) positions; rows grow southward, columns eastward; ``pixel_size`` is in metres.
* ``wind_direction_deg`` is the meteorological direction the wind blows *from*, clockwise from
  north: 270 is a westerly wind and carries the plume east (increasing column), 0 carries it south
  (increasing row). The downwind unit vector in (row, col) is (cos theta, -sin theta).
* emission rates are in kg/h; q (mol/s) = Q / 3600 / M_CH4 with M_CH4 = 16.04e-3 kg/mol; output
  maps are column enhancements dOmega in mol/m2, the pixel-area average of the plume's column.

Steady plume (vertically integrated Gaussian plume, e.g. Varon et al. 2018; notes section 2.5):

    dOmega(s, y) = q / (sqrt(2 pi) sigma_y(s) U) exp(-y^2 / (2 sigma_y(s)^2)),   s > 0,

with s the downwind and y the crosswind distance, and Briggs (1973) open-country dispersion
sigma_y(s) = a s (1 + 1e-4 s)^(-1/2), a = 0.22, 0.16, 0.11, 0.08, 0.06, 0.04 for Pasquill-Gifford
classes A-F. Its crosswind integral times U is q at every s (flux conservation).

Gaussian puffs (Orbio Project Eucalyptus; notes section 2.5b): one puff of q * dt mol is released
every dt; all puffs drift with a uniform wind U_mean + w(t), where w is a 2-D Ornstein-Uhlenbeck
process (stationary standard deviation ``ou_sigma`` per component, correlation time ``ou_tau``),
integrated exactly on the release steps:

    w_{n+1} = w_n exp(-dt / tau) + sigma_w sqrt(1 - exp(-2 dt / tau)) xi_n,

and each puff of age a spreads as an isotropic Gaussian with sigma(a) = sqrt(sigma_0^2 + (D a)^2).
Mass is put on pixels with the exact Gaussian CDF per axis, so a puff inside the grid contributes
exactly its mass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.special import ndtr

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.core.seeding import RandomState, as_generator
from eoforge.methane.physics import M_CH4, SECONDS_PER_HOUR

BRIGGS_RURAL_SIGMA_Y = {"A": 0.22, "B": 0.16, "C": 0.11, "D": 0.08, "E": 0.06, "F": 0.04}
"""Briggs (1973) open-country coefficients a of sigma_y = a s (1 + 1e-4 s)^(-1/2), s in m."""


def emission_rate_mol_s(emission_rate_kg_h: float) -> float:
    """Convert an emission rate from kg/h to mol/s: q = Q / 3600 / M_CH4."""
    return float(emission_rate_kg_h) / SECONDS_PER_HOUR / M_CH4


def plume_mass_kg(column_mol_m2: np.ndarray, pixel_size: float = 20.0) -> float:
    """Total CH4 mass of a column map: sum(dOmega) * pixel_size^2 * M_CH4 (kg).

    Args:
        column_mol_m2: Column enhancement map in mol/m2 (NaNs are ignored).
        pixel_size: Pixel side in metres.

    Returns:
        Mass in kg.
    """
    _check_positive("pixel_size", pixel_size)
    return float(np.nansum(column_mol_m2)) * pixel_size**2 * M_CH4


def briggs_sigma_y(distance_m: np.ndarray, stability: str = "D") -> np.ndarray:
    """Crosswind spread sigma_y(s) = a s (1 + 1e-4 s)^(-1/2) (Briggs 1973, open country), metres."""
    if stability not in BRIGGS_RURAL_SIGMA_Y:
        raise bad_value("stability", stability, f"a Pasquill-Gifford class in {list('ABCDEF')}")
    s = np.asarray(distance_m, dtype=float)
    return BRIGGS_RURAL_SIGMA_Y[stability] * s / np.sqrt(1.0 + 1e-4 * s)


def downwind_unit(wind_direction_deg: float) -> np.ndarray:
    """Downwind unit vector (d_row, d_col) for a meteorological (blowing-from) direction."""
    if not np.isfinite(wind_direction_deg):
        raise bad_value("wind_direction_deg", wind_direction_deg, "a finite angle in degrees")
    theta = np.deg2rad(wind_direction_deg)
    return np.array([np.cos(theta), -np.sin(theta)])


def _check_positive(name: str, value: float, allow_zero: bool = False) -> float:
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise bad_value(name, value, "a finite number " + (">= 0" if allow_zero else "> 0"))
    return v


def _check_grid(shape: tuple[int, int], source: tuple[float, float] | None) -> np.ndarray:
    if len(tuple(shape)) != 2 or any(int(n) != n or n < 1 for n in shape):
        raise ShapeError(f"shape={shape!r} is invalid: expected (H, W) with positive ints.")
    if source is None:
        return np.array([(shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0])
    src = np.asarray(source, dtype=float)
    if src.shape != (2,) or not np.all(np.isfinite(src)):
        raise bad_value("source", source, "a (row, col) pair of pixel coordinates")
    return src


def _slice_masses(
    centre: np.ndarray, across: np.ndarray, half_len: float, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Exact split of a unit-mass crosswind Gaussian line among the pixels it crosses.

    The line centre + t * across, |t| <= half_len (pixels), carries N(0, sigma^2) mass (sigma in
    pixels, truncated at half_len and renormalised). The crossings with pixel edges (half-integer
    rows and columns) cut it into pieces that each lie in one pixel; a piece [t_a, t_b] holds
    Phi(t_b / sigma) - Phi(t_a / sigma).

    Returns:
        (row indices, column indices) and masses of the pieces (unclipped indices).
    """
    cuts = [np.array([-half_len, half_len])]
    for axis in range(2):
        if abs(across[axis]) > 1e-12:
            lo, hi = sorted(
                (centre[axis] - half_len * across[axis], centre[axis] + half_len * across[axis])
            )
            edges = np.arange(np.ceil(lo - 0.5), np.floor(hi - 0.5) + 1) + 0.5
            cuts.append((edges - centre[axis]) / across[axis])
    t = np.unique(np.clip(np.concatenate(cuts), -half_len, half_len))
    cdf = ndtr(t / sigma)
    mass = np.diff(cdf) / (cdf[-1] - cdf[0])
    mid = 0.5 * (t[1:] + t[:-1])
    ij = np.floor(centre[:, None] + across[:, None] * mid[None, :] + 0.5).astype(np.int64)
    return ij, mass


def gaussian_plume(
    emission_rate_kg_h: float,
    wind_speed: float,
    wind_direction_deg: float,
    shape: tuple[int, int] = (128, 128),
    pixel_size: float = 20.0,
    source: tuple[float, float] | None = None,
    stability: str = "D",
    length_m: float | None = None,
    samples_per_pixel: int = 4,
) -> np.ndarray:
    """Steady vertically integrated Gaussian plume, pixel-averaged, in mol/m2.

    The plume is cut into crosswind slices of along-wind width ds = pixel_size /
    ``samples_per_pixel``; slice k at downwind distance s_k = (k + 1/2) ds holds (q / U) ds mol
    spread across the wind as N(0, sigma_y(s_k)^2), and each pixel receives the exact Gaussian
    mass of the piece of the slice's centre line that crosses it (CDF differences between the
    line's crossings with pixel edges). The map is therefore the pixel average of
    dOmega(s, y) = q / (sqrt(2 pi) sigma_y U) exp(-y^2 / (2 sigma_y^2)) (module docstring) up to
    the along-wind midpoint rule, and conserves mass exactly: for a wind along a grid axis,
    U * sum over a crosswind line of pixels of dOmega * pixel_size = q.

    Args:
        emission_rate_kg_h: Source rate Q in kg/h (>= 0).
        wind_speed: Mean wind speed U in m/s (> 0).
        wind_direction_deg: Direction the wind blows from, clockwise from north (degrees).
        shape: Grid (H, W).
        pixel_size: Pixel side in metres.
        source: Source position (row, col) in pixel coordinates (default: grid centre).
        stability: Pasquill-Gifford class "A".."F" for sigma_y (Briggs 1973 open country).
        length_m: Downwind length simulated (default: the grid diagonal).
        samples_per_pixel: Along-wind slices per pixel length (>= 2).

    Returns:
        (H, W) column enhancement in mol/m2.
    """
    q = emission_rate_mol_s(_check_positive("emission_rate_kg_h", emission_rate_kg_h, True))
    u = _check_positive("wind_speed", wind_speed)
    dx = _check_positive("pixel_size", pixel_size)
    src = _check_grid(shape, source)
    if int(samples_per_pixel) < 2:
        raise bad_value("samples_per_pixel", samples_per_pixel, "an int >= 2")
    n_sub = int(samples_per_pixel)
    d = downwind_unit(wind_direction_deg)
    perp = np.array([-d[1], d[0]])
    length = (
        float(np.hypot(*shape) * dx) if length_m is None else _check_positive("length_m", length_m)
    )
    ds = dx / n_sub
    s = (np.arange(int(np.ceil(length / ds))) + 0.5) * ds
    sig = briggs_sigma_y(s, stability)
    out = np.zeros(tuple(int(n) for n in shape))
    if q == 0.0:
        return out
    half_width = 5.0  # crosswind truncation in sigma_y (renormalised, so mass is exact)
    rows, cols, masses = [], [], []
    for s_k, sig_k in zip(s, sig / dx, strict=True):
        ij, mass = _slice_masses(src + (s_k / dx) * d, perp, half_width * sig_k, sig_k)
        rows.append(ij[0])
        cols.append(ij[1])
        masses.append(mass)
    i, j, m = np.concatenate(rows), np.concatenate(cols), np.concatenate(masses) * (q / u) * ds
    inside = (i >= 0) & (i < out.shape[0]) & (j >= 0) & (j < out.shape[1])
    flat = np.bincount(i[inside] * out.shape[1] + j[inside], weights=m[inside], minlength=out.size)
    return flat.reshape(out.shape) / dx**2


@dataclass(frozen=True)
class Puffs:
    """State of released puffs at the observation time.

    Attributes:
        rows: (N,) puff centre rows (pixel coordinates).
        cols: (N,) puff centre columns.
        sigma_m: (N,) isotropic spread in metres.
        mass_mol: (N,) CH4 per puff in mol.
        age_s: (N,) time since release in seconds.
    """

    rows: np.ndarray
    cols: np.ndarray
    sigma_m: np.ndarray
    mass_mol: np.ndarray
    age_s: np.ndarray


def simulate_puffs(
    emission_rate_kg_h: float,
    wind_speed: float,
    wind_direction_deg: float,
    duration_s: float = 1800.0,
    dt: float = 1.0,
    pixel_size: float = 20.0,
    source: tuple[float, float] = (0.0, 0.0),
    random_state: RandomState = None,
    ou_sigma: float = 0.5,
    ou_tau: float = 60.0,
    dispersion_speed: float | None = None,
    sigma0_m: float = 1.0,
) -> Puffs:
    """Release and advect Gaussian puffs in an Ornstein-Uhlenbeck wind (module docstring).

    Args:
        emission_rate_kg_h: Source rate Q in kg/h (>= 0).
        wind_speed: Mean wind speed in m/s (> 0).
        wind_direction_deg: Mean wind direction (blowing from, clockwise from north).
        duration_s: Release duration; the map is observed at its end.
        dt: Release (and wind) time step in seconds; floor(duration_s / dt) puffs.
        pixel_size: Pixel side in metres.
        source: Source position (row, col) in pixel coordinates.
        random_state: Seed or generator for the turbulent wind.
        ou_sigma: Stationary standard deviation of each wind component (m/s; Orbio: 0.5).
        ou_tau: Correlation time of the turbulent wind (s; Orbio: 60).
        dispersion_speed: D in sigma(a) = sqrt(sigma0^2 + (D a)^2), m/s. Default 0.08 * wind_speed,
            which matches Briggs class D sigma_y near the source (an inferred default).
        sigma0_m: Initial puff size in metres.

    Returns:
        The :class:`Puffs` at t = duration_s.
    """
    q = emission_rate_mol_s(_check_positive("emission_rate_kg_h", emission_rate_kg_h, True))
    u = _check_positive("wind_speed", wind_speed)
    dur = _check_positive("duration_s", duration_s)
    step = _check_positive("dt", dt)
    dx = _check_positive("pixel_size", pixel_size)
    _check_positive("ou_sigma", ou_sigma, allow_zero=True)
    tau = _check_positive("ou_tau", ou_tau)
    s0 = _check_positive("sigma0_m", sigma0_m)
    disp = (
        0.08 * u
        if dispersion_speed is None
        else _check_positive("dispersion_speed", dispersion_speed, True)
    )
    n = int(np.floor(dur / step + 1e-9))
    if n < 1:
        raise InputError(f"duration_s={duration_s} is shorter than dt={dt}: no puff is released.")
    rng = as_generator(random_state)
    d = downwind_unit(wind_direction_deg)
    rho = np.exp(-step / tau)
    w = np.empty((n, 2))
    w[0] = ou_sigma * rng.standard_normal(2)
    noise = ou_sigma * np.sqrt(1.0 - rho**2) * rng.standard_normal((n - 1, 2))
    for k in range(1, n):
        w[k] = rho * w[k - 1] + noise[k - 1]
    velocity = u * d[None, :] + w  # (n, 2) m/s in (row, col) axes, wind during [t_k, t_k + dt)
    # Puff k, released at t_k = k dt, has drifted sum_{m >= k} velocity_m * dt by t = n dt.
    drift = np.cumsum(velocity[::-1], axis=0)[::-1] * step / dx
    age = (n - np.arange(n)) * step
    src = np.asarray(source, dtype=float)
    return Puffs(
        rows=src[0] + drift[:, 0],
        cols=src[1] + drift[:, 1],
        sigma_m=np.sqrt(s0**2 + (disp * age) ** 2),
        mass_mol=np.full(n, q * step),
        age_s=age,
    )


def render_puffs(puffs: Puffs, shape: tuple[int, int], pixel_size: float = 20.0) -> np.ndarray:
    """Column map (mol/m2) of puffs: exact Gaussian mass per pixel, separable per axis.

    mass_ij = sum_k M_k [Phi((i + 1/2 - r_k) / s_k) - Phi((i - 1/2 - r_k) / s_k)]
                        [Phi((j + 1/2 - c_k) / s_k) - Phi((j - 1/2 - c_k) / s_k)],

    with s_k the puff sigma in pixels; dOmega = mass / pixel_size^2.
    """
    _check_grid(shape, None)
    dx = _check_positive("pixel_size", pixel_size)
    sig = puffs.sigma_m / dx
    edges_r = np.arange(shape[0] + 1) - 0.5
    edges_c = np.arange(shape[1] + 1) - 0.5
    a = np.diff(ndtr((edges_r[None, :] - puffs.rows[:, None]) / sig[:, None]), axis=1)
    b = np.diff(ndtr((edges_c[None, :] - puffs.cols[:, None]) / sig[:, None]), axis=1)
    return (a * puffs.mass_mol[:, None]).T @ b / dx**2


def puff_column(
    emission_rate_kg_h: float,
    wind_speed: float,
    wind_direction: float,
    shape: tuple[int, int],
    pixel_size: float,
    source: tuple[float, float],
    rng: np.random.Generator,
    duration_s: float,
) -> np.ndarray:
    """Column map (mol/m2) of :func:`simulate_puffs` rendered only where its puffs reach.

    The puffs are rendered by :func:`render_puffs` on the window of rows and columns within
    4 sigma of any puff, zeros elsewhere, so a plume on a large grid stays cheap.

    Args:
        emission_rate_kg_h: Source rate Q in kg/h.
        wind_speed: Mean wind speed in m/s.
        wind_direction: Direction the wind blows from, clockwise from north (degrees).
        shape: Grid (H, W).
        pixel_size: Pixel size in metres.
        source: Source (row, col) in pixels.
        rng: Generator of the puffs' turbulence.
        duration_s: Release duration (s).

    Returns:
        (H, W) float64 column map.
    """
    puffs = simulate_puffs(emission_rate_kg_h, wind_speed, wind_direction, duration_s=duration_s,
                           pixel_size=pixel_size, source=(float(source[0]), float(source[1])),
                           random_state=rng)  # fmt: skip
    reach = 4.0 * puffs.sigma_m / pixel_size
    r0 = int(np.clip(np.floor(np.min(puffs.rows - reach)), 0, shape[0]))
    r1 = int(np.clip(np.ceil(np.max(puffs.rows + reach)) + 1, r0, shape[0]))
    c0 = int(np.clip(np.floor(np.min(puffs.cols - reach)), 0, shape[1]))
    c1 = int(np.clip(np.ceil(np.max(puffs.cols + reach)) + 1, c0, shape[1]))
    column = np.zeros(shape)
    if r1 > r0 and c1 > c0:
        shifted = Puffs(puffs.rows - r0, puffs.cols - c0, puffs.sigma_m, puffs.mass_mol,
                        puffs.age_s)  # fmt: skip
        column[r0:r1, c0:c1] = render_puffs(shifted, (r1 - r0, c1 - c0), pixel_size)
    return column


def gaussian_puffs(
    emission_rate_kg_h: float,
    wind_speed: float,
    wind_direction_deg: float,
    duration_s: float = 1800.0,
    dt: float = 1.0,
    shape: tuple[int, int] = (128, 128),
    pixel_size: float = 20.0,
    random_state: RandomState = None,
    ou_sigma: float = 0.5,
    ou_tau: float = 60.0,
    source: tuple[float, float] | None = None,
    dispersion_speed: float | None = None,
    sigma0_m: float = 1.0,
) -> np.ndarray:
    """Gaussian-puff plume in an Ornstein-Uhlenbeck wind, as a column map in mol/m2.

    Runs :func:`simulate_puffs` then :func:`render_puffs`; see the module docstring for the model
    and conventions. The mass on the grid is Q * dt * (number of puffs inside), i.e. the emission
    rate times the release time of the puffs that have not left the grid.

    Args:
        emission_rate_kg_h: Source rate in kg/h.
        wind_speed: Mean wind speed in m/s.
        wind_direction_deg: Mean wind direction (blowing from, clockwise from north).
        duration_s: Release duration in seconds.
        dt: Release interval in seconds.
        shape: Grid (H, W).
        pixel_size: Pixel side in metres.
        random_state: Seed or generator.
        ou_sigma: Turbulent wind standard deviation (m/s).
        ou_tau: Turbulent wind correlation time (s).
        source: Source (row, col) in pixel coordinates (default: grid centre).
        dispersion_speed: Puff growth speed D (m/s); default 0.08 * wind_speed.
        sigma0_m: Initial puff size (m).

    Returns:
        (H, W) column enhancement in mol/m2.
    """
    src = _check_grid(shape, source)
    puffs = simulate_puffs(
        emission_rate_kg_h,
        wind_speed,
        wind_direction_deg,
        duration_s=duration_s,
        dt=dt,
        pixel_size=pixel_size,
        source=(float(src[0]), float(src[1])),
        random_state=random_state,
        ou_sigma=ou_sigma,
        ou_tau=ou_tau,
        dispersion_speed=dispersion_speed,
        sigma0_m=sigma0_m,
    )
    return render_puffs(puffs, shape, pixel_size)


def psf_blur(column: np.ndarray, sigma_px: float = 0.52) -> np.ndarray:
    """Gaussian point-spread blur that preserves the total mass.

    A Gaussian kernel with symmetric ("reflect") boundaries: every pixel's mass is redistributed
    and none leaves the grid, so sum(out) == sum(column). The default 0.52 px is Orbio's
    sigma = 10.4 m PSF for the 20 m Sentinel-2 bands.

    Args:
        column: 2-D map (mol/m2).
        sigma_px: Standard deviation in pixels (>= 0; 0 returns a copy).

    Returns:
        The blurred map.
    """
    col = np.asarray(column, dtype=float)
    if col.ndim != 2:
        raise ShapeError(f"column has shape {col.shape}; expected a 2-D map.")
    sig = _check_positive("sigma_px", sigma_px, allow_zero=True)
    if sig == 0.0:
        return col.copy()
    return gaussian_filter(col, sigma=sig, mode="reflect", truncate=4.0)
