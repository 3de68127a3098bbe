"""Spectral tables of the synthetic Sentinel-2 scenes: end-members, atmosphere, noise, confounders.

All reflectances are for the six bands of :data:`S2_BANDS` (B02 blue 490 nm, B03 green 560 nm,
B04 red 665 nm, B8A narrow NIR 865 nm, B11 SWIR-1 1610 nm, B12 SWIR-2 2190 nm), the 20 m set a
methane detector needs (VNIR for context, SWIR for the retrieval; the 10 m bands are resampled to
20 m as in :func:`eoforge.io.sentinel2.read_s2_safe`).

Sources [INF]: the end-member values are typical library spectra remembered from the USGS
spectral library v7 (Kokaly et al. 2017) and the ECOSTRESS/ASTER library (Baldridge et al. 2009;
Meerdink et al. 2019), band-averaged by eye over the S2 responses, then checked against the
shapes every remote-sensing text shows: green vegetation has a red edge (B8A / B04 ~ 6-12) and
strong liquid-water absorption in the SWIR (B12 / B11 ~ 0.4-0.55); dry soils and sands rise
from blue to SWIR-1 with B12 / B11 ~ 0.8-0.9 (the notes' "R12 ~ 0.6-0.9 R11 over deserts");
non-photosynthetic vegetation (dry grass, litter) has cellulose/lignin absorption near 2.1 um
(B12 / B11 ~ 0.7); man-made materials are spectrally flat (concrete B12 / B11 ~ 0.95, asphalt
dark and flat); water is dark in the NIR and black in the SWIR. They are plausible, not
measured: expose them, do not quote them as data.

Sensor noise [MEM]: the Sentinel-2 MSI radiometric requirements (ESA S2 User Handbook / MSI
performance reports) give SNR at a reference radiance L_ref of 154 (B02), 168 (B03), 142 (B04),
72 (B8A), 100 (B11) and 100 (B12); with the band solar irradiances that L_ref corresponds to the
reflectances rho_ref below (rho = pi L / E_sun at normal incidence). In-flight SNRs exceed the
requirement by a factor ~1.5-3 over bright scenes; using the requirement is conservative. Noise
grows like photon noise, sigma(rho) = (rho_ref / SNR) sqrt(rho / rho_ref), so a 0.3 SWIR
reflectance has SNR ~ 240 (0.4 % noise, within the notes' 0.3-1 % range).
"""

from __future__ import annotations

import numpy as np

S2_BANDS = ("B02", "B03", "B04", "B8A", "B11", "B12")
"""Bands of the synthetic scenes, in array order."""

ENDMEMBERS: dict[str, tuple[float, ...]] = {
    # B02,  B03,  B04,  B8A,  B11,  B12      B12/B11
    "sand": (0.22, 0.30, 0.40, 0.50, 0.58, 0.50),  # 0.86 bright aeolian sand
    "gravel": (0.12, 0.16, 0.22, 0.30, 0.38, 0.33),  # 0.87 desert pavement (reg)
    "soil": (0.09, 0.13, 0.17, 0.24, 0.32, 0.27),  # 0.84 brown semi-arid soil
    "dry_grass": (0.07, 0.10, 0.13, 0.25, 0.33, 0.24),  # 0.73 non-photosynthetic vegetation
    "shrub": (0.04, 0.07, 0.06, 0.30, 0.21, 0.115),  # 0.55 sparse green shrubs
    "crop": (0.03, 0.07, 0.04, 0.42, 0.22, 0.10),  # 0.45 dense green crop
    "forest": (0.02, 0.04, 0.025, 0.28, 0.14, 0.06),  # 0.43 broadleaf/conifer canopy
    "bare_field": (0.07, 0.10, 0.13, 0.20, 0.28, 0.23),  # 0.82 ploughed moist soil
    "concrete": (0.20, 0.22, 0.24, 0.28, 0.32, 0.30),  # 0.94
    "roof": (0.10, 0.11, 0.16, 0.24, 0.30, 0.26),  # 0.87 tile/metal mix
    "asphalt": (0.06, 0.07, 0.08, 0.10, 0.12, 0.11),  # 0.92
    "water": (0.05, 0.04, 0.025, 0.008, 0.004, 0.003),  # dark in NIR, black in SWIR
}
"""Surface reflectance of each end-member in the :data:`S2_BANDS` (see module sources)."""

CLOUD_SPECTRUM = (1.0, 1.0, 1.0, 1.0, 0.85, 0.68)
"""Relative cloud-top reflectance: flat in the VNIR, lower in the SWIR (droplet absorption)."""

SHADOW_DIFFUSE = (0.35, 0.30, 0.27, 0.22, 0.20, 0.20)
"""Fraction of the reflectance left in a cloud shadow (blue-rich diffuse sky light) [INF]."""

PATH_REFLECTANCE = (0.045, 0.025, 0.012, 0.004, 0.001, 0.0005)
"""Additive path reflectance (Rayleigh + aerosol) making surface reflectance TOA-like [INF]."""

SNR_REF = (154.0, 168.0, 142.0, 72.0, 100.0, 100.0)
"""S2 MSI SNR requirement at L_ref per band (module docstring) [MEM]."""

RHO_REF = (0.205, 0.220, 0.224, 0.173, 0.051, 0.055)
"""Reflectance of L_ref per band: pi L_ref / E_sun (L_ref 128, 128, 108, 52.5, 4, 1.5
W m-2 sr-1 um-1; E_sun 1959, 1824, 1512, 955, 245, 85 W m-2 um-1) [MEM]."""

CONFOUNDERS: dict[str, tuple[float, ...]] = {
    # multiplicative change of each band at full strength; B12 drops more than B11
    "albedo": (0.88, 0.88, 0.88, 0.87, 0.86, 0.79),  # disturbed/darkened ground, stains
    "shadow": (0.45, 0.42, 0.40, 0.38, 0.34, 0.30),  # new structure or terrain shadow
    "wet_soil": (0.82, 0.80, 0.79, 0.78, 0.70, 0.61),  # rain/irrigation: SWIR water absorption
    "burn_scar": (0.70, 0.64, 0.58, 0.52, 0.72, 0.66),  # char over dry cover
}
"""Confounders: band multipliers of a surface change that darkens B12 relative to B11 without
methane (B12/B11 ratio x0.86-0.93), applied to the target date only [INF: wet-soil darkening grows
with wavelength in the SWIR (Lobell & Asner 2002); diffuse-lit shadows lose more in the SWIR than
in the blue; the burn-scar case is dark char over dry soil, whose SWIR response depends on the
pre-fire cover]."""


def spectrum(name: str) -> np.ndarray:
    """Reflectance of end-member ``name`` as a (6,) float32 array in :data:`S2_BANDS` order."""
    return np.asarray(ENDMEMBERS[name], dtype=np.float32)


def noise_sigma(reflectance: np.ndarray, band_index: int, scale: float = 1.0) -> np.ndarray:
    """Per-pixel noise standard deviation sigma = (rho_ref / SNR) sqrt(rho / rho_ref) * scale.

    Args:
        reflectance: Reflectance array of one band.
        band_index: Index of the band in :data:`S2_BANDS`.
        scale: Multiplier (0: noise-free; 0.5: roughly in-flight performance).

    Returns:
        Array of standard deviations, same shape (float32).
    """
    sig = np.atleast_1d(np.maximum(np.asarray(reflectance, dtype=np.float32), np.float32(0.0)))
    np.sqrt(sig, out=sig)
    sig *= np.float32(noise_coefficient(band_index, scale))
    return sig


def noise_coefficient(band_index: int, scale: float = 1.0) -> float:
    """Noise coefficient scale * k_b of band ``band_index``: sigma = scale k_b sqrt(rho).

    k_b = sqrt(rho_ref) / SNR of the band.
    """
    return float(scale * np.sqrt(RHO_REF[band_index]) / SNR_REF[band_index])
