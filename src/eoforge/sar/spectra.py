"""Directional ocean-wave spectra, sea-surface elevation fields and their SAR image (quasi-linear).

Everything is vectorised over a batch of ``b`` sea states and evaluated on the FFT wavenumber grid
of an ``N x N`` image with pixel ``dx`` metres. Image axes: rows = azimuth (``y``), columns =
range (``x``, the radar look direction); ``k_l = k_x`` is the range wavenumber, ``k_a = k_y``.

Physics (deep water, ``omega^2 = g k``):

* JONSWAP frequency spectrum (Hasselmann et al. 1973)
  ``S(omega) ∝ omega^-5 exp(-5/4 (omega_p/omega)^4) gamma^r``,
  ``r = exp(-(omega - omega_p)^2 / (2 sigma^2 omega_p^2))`` (``sigma`` = 0.07 / 0.09 below / above
  the peak), scaled so that ``m0 = ∫ S = (Hs / 4)^2``; ``gamma = 1`` is Pierson–Moskowitz.
* Wavenumber spectrum ``S_k(k) = S(omega) d omega / dk = S(omega) g / (2 omega)``.
* cos-2s spreading (Longuet-Higgins 1963)
  ``D(theta) = Gamma(s+1) / (2 sqrt(pi) Gamma(s+1/2)) cos^{2s}((theta - theta0) / 2)``,
  ``∫ D = 1``; Cartesian spectrum ``F(k_x, k_y) = S_k(k) D(theta) / k``.
* Random-phase surface: ``A(k) = sqrt(F(k) dk^2) (g1 + i g2)``, ``eta(x) = Re sum_k A(k) e^{ikx}``,
  so ``E[eta^2] = sum_k F(k) dk^2 = m0`` and ``Hs = 4 sqrt(m0)`` (tested).
* SAR imaging, quasi-linear (Hasselmann & Hasselmann 1991): relative intensity modulation
  ``m(x) = Re sum_k exp(-k_a^2 xi^2 / 2) T(k) A(k) e^{ikx}`` with ``T = T_tilt + T_hydro + T_vb``:
  ``T_tilt = 4 i k_l cot(theta) / (1 + sin^2 theta)`` (VV Bragg tilt),
  ``T_hydro = 4.5 omega (k_l^2 / k) (omega - i mu) / (omega^2 + mu^2)`` (``mu`` = 0.5 s^-1),
  ``T_vb = -beta k_a omega (sin(theta) k_l / k + i cos(theta))`` (velocity bunching,
  ``beta = R / V``; Hasselmann & Hasselmann 1991 up to the sign of ``k_a``, which follows the
  flight direction), and the azimuth cutoff ``xi^2 = beta^2 var(v_r)`` from the orbital velocity
  variance of the whole sea state (including waves shorter than a pixel).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln

from eoforge.core.errors import bad_value

G = 9.81
"""Gravity (m s^-2)."""


def wavenumber_grid(size: int, pixel_size: float) -> tuple[np.ndarray, np.ndarray, float]:
    """FFT wavenumber grid of an ``size x size`` image.

    Args:
        size: Pixels per side ``N``.
        pixel_size: Pixel spacing ``dx`` in metres.

    Returns:
        ``(kx, ky, dk)``: range and azimuth wavenumbers (rad/m), each ``(N, N)`` (rows = azimuth),
        and the bin width ``dk = 2 pi / (N dx)``.
    """
    if not (isinstance(size, int | np.integer) and size >= 4):
        raise bad_value("size", size, "an int >= 4")
    if not (pixel_size > 0 and math.isfinite(pixel_size)):
        raise bad_value("pixel_size", pixel_size, "a positive number of metres")
    k1 = 2.0 * np.pi * np.fft.fftfreq(size, d=pixel_size)
    ky, kx = np.meshgrid(k1, k1, indexing="ij")  # (N, N) each
    return kx, ky, 2.0 * np.pi / (size * pixel_size)


def _jonswap_shape(omega: np.ndarray, omega_p: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """Unnormalised JONSWAP ``omega^-5 exp(-5/4 (wp/w)^4) gamma^r`` (broadcasting)."""
    w = np.maximum(omega, 1e-12)
    sigma = np.where(w <= omega_p, 0.07, 0.09)
    r = np.exp(-((w - omega_p) ** 2) / (2.0 * sigma**2 * omega_p**2))
    return w**-5 * np.exp(-1.25 * (omega_p / w) ** 4) * gamma**r


def _as_batch(*values: object) -> list[np.ndarray]:
    arrs = [np.atleast_1d(np.asarray(v, dtype=np.float64)) for v in values]
    b = max(a.shape[0] for a in arrs)
    return [np.broadcast_to(a, (b,)).copy() for a in arrs]


def jonswap_moments(
    hs: np.ndarray, peak_wavelength: np.ndarray, gamma: np.ndarray | float = 3.3, n: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Normalisation and orbital-velocity moment of JONSWAP spectra, by quadrature in ``k``.

    Args:
        hs: Significant wave heights ``(b,)`` in metres.
        peak_wavelength: Peak wavelengths ``lambda_p = 2 pi / k_p`` ``(b,)`` in metres.
        gamma: Peak enhancement (1 = Pierson–Moskowitz).
        n: Quadrature points (log-spaced over ``[0.2 k_p, 60 k_p]``).

    Returns:
        ``(scale, m_w2)``: the factor turning the unnormalised shape into ``S_k`` with
        ``∫ S_k dk = (Hs/4)^2``, and ``m_w2 = ∫ omega^2 S_k dk`` (orbital velocity variance, m^2/s^2).
    """
    hs, lam, gam = _as_batch(hs, peak_wavelength, gamma)
    kp = 2.0 * np.pi / lam  # (b,)
    u = np.geomspace(0.2, 60.0, n)  # (n,)
    k = kp[:, None] * u[None, :]  # (b, n)
    w = np.sqrt(G * k)
    wp = np.sqrt(G * kp)[:, None]
    s_k = _jonswap_shape(w, wp, gam[:, None]) * G / (2.0 * w)  # (b, n) unnormalised S_k
    integral = np.trapezoid(s_k, k, axis=1)
    scale = (hs / 4.0) ** 2 / integral
    m_w2 = scale * np.trapezoid(G * k * s_k, k, axis=1)
    return scale, m_w2


def spreading(theta: np.ndarray, theta0: np.ndarray, s: np.ndarray) -> np.ndarray:
    """cos-2s directional distribution ``D = N_s cos^{2s}((theta - theta0) / 2)``, ``∫ D = 1``."""
    log_norm = gammaln(s + 1.0) - gammaln(s + 0.5) - math.log(2.0 * math.sqrt(math.pi))
    half = np.abs(np.cos(0.5 * (theta - theta0)))
    return np.exp(log_norm) * half ** (2.0 * s)


def directional_spectrum(
    kx: np.ndarray,
    ky: np.ndarray,
    hs: np.ndarray,
    peak_wavelength: np.ndarray,
    direction: np.ndarray,
    spread: np.ndarray | float,
    gamma: np.ndarray | float = 3.3,
    scale: np.ndarray | None = None,
) -> np.ndarray:
    """Cartesian directional JONSWAP spectra ``F(k_x, k_y) = S_k(k) D(theta) / k`` on a grid.

    Args:
        kx: Range wavenumbers ``(N, N)``.
        ky: Azimuth wavenumbers ``(N, N)``.
        hs: ``(b,)`` significant wave heights (m).
        peak_wavelength: ``(b,)`` peak wavelengths (m).
        direction: ``(b,)`` propagation directions (rad, 0 = +range, pi/2 = +azimuth).
        spread: ``(b,)`` spreading exponents ``s`` (larger = narrower).
        gamma: JONSWAP peak enhancement.
        scale: Normalisation from :func:`jonswap_moments` if already computed.

    Returns:
        ``(b, N, N)`` spectral densities (m^4/rad^2); ``sum F dk^2`` approximates ``(Hs/4)^2`` when
        the grid resolves the spectrum.
    """
    hs, lam, d0, s, gam = _as_batch(hs, peak_wavelength, direction, spread, gamma)
    if scale is None:
        scale, _ = jonswap_moments(hs, lam, gam)
    k = np.hypot(kx, ky)[None]  # (1, N, N)
    theta = np.arctan2(ky, kx)[None]
    w = np.sqrt(G * k)
    wp = np.sqrt(G * 2.0 * np.pi / lam)[:, None, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        s_k = _jonswap_shape(w, wp, gam[:, None, None]) * G / (2.0 * np.maximum(w, 1e-12))
        f = scale[:, None, None] * s_k * spreading(theta, d0[:, None, None], s[:, None, None])
        f = np.where(k > 0, f / np.maximum(k, 1e-12), 0.0)
    return f  # (b, N, N)


def random_amplitudes(f: np.ndarray, dk: float, rng: np.random.Generator) -> np.ndarray:
    """Complex random-phase amplitudes ``A = sqrt(F dk^2) (g1 + i g2)`` with ``g ~ N(0, 1)``."""
    amp = np.sqrt(f * dk * dk)
    noise = rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)
    return amp * noise  # (b, N, N) complex


def elevation(a: np.ndarray) -> np.ndarray:
    """Sea-surface elevation ``eta(x) = Re sum_k A(k) e^{ikx}`` (metres), ``(b, N, N)``."""
    n = a.shape[-1] * a.shape[-2]
    return np.fft.ifft2(a, axes=(-2, -1)).real * n


def significant_wave_height(eta: np.ndarray) -> np.ndarray:
    """``Hs = 4 std(eta)`` over the last two axes."""
    return 4.0 * np.std(eta, axis=(-2, -1))


def sar_transfer_function(
    kx: np.ndarray, ky: np.ndarray, incidence_deg: float, beta: float = 115.0, mu: float = 0.5
) -> np.ndarray:
    """Linear SAR modulation transfer function ``T = T_tilt + T_hydro + T_vb`` (VV), ``(N, N)``.

    See the module docstring for the three terms. ``beta = R/V`` in seconds (about 115 s for
    Sentinel-1 wave mode); ``beta = 0`` switches velocity bunching off.
    """
    th = math.radians(incidence_deg)
    k = np.hypot(kx, ky)
    w = np.sqrt(G * k)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_over_k = np.where(k > 0, kx / k, 0.0)
        t_tilt = 4j * kx / math.tan(th) / (1.0 + math.sin(th) ** 2)
        t_hydro = 4.5 * w * kx * kl_over_k * (w - 1j * mu) / (w**2 + mu**2)
        t_vb = -beta * ky * w * (math.sin(th) * kl_over_k + 1j * math.cos(th))
    return np.where(k > 0, t_tilt + t_hydro + t_vb, 0.0)


def azimuth_displacement_std(
    m_w2: np.ndarray,
    direction: np.ndarray,
    spread: np.ndarray | float,
    incidence_deg: float,
    beta: float = 115.0,
) -> np.ndarray:
    """Azimuth displacement std ``xi = beta sqrt(var(v_r))`` of one wave system per row.

    ``var(v_r) = m_w2 (cos^2 theta + sin^2 theta E[cos^2 phi])`` with
    ``E[cos^2 phi] = (1 + cos(2 phi0) s(s-1) / ((s+1)(s+2))) / 2`` for cos-2s spreading about
    ``phi0`` (angle to the range axis). Sum the squares of several systems for a mixed sea.
    """
    th = math.radians(incidence_deg)
    s = np.asarray(spread, dtype=np.float64)
    c2 = s * (s - 1.0) / ((s + 1.0) * (s + 2.0))
    cos2 = 0.5 * (1.0 + np.cos(2.0 * np.asarray(direction)) * c2)
    var_v = np.asarray(m_w2) * (math.cos(th) ** 2 + math.sin(th) ** 2 * cos2)
    return beta * np.sqrt(var_v)


def sar_modulation(
    a: np.ndarray, transfer: np.ndarray, ky: np.ndarray, xi: np.ndarray
) -> np.ndarray:
    """Relative intensity modulation ``m = Re sum exp(-k_a^2 xi^2/2) T A e^{ikx}``, ``(b, N, N)``."""
    cutoff = np.exp(-0.5 * (ky[None] * np.asarray(xi)[:, None, None]) ** 2)  # (b, N, N)
    return elevation(a * transfer[None] * cutoff)
