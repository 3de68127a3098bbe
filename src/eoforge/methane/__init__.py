"""Methane plume detection in Sentinel-2 (Rouet-Leduc, Kerdreux et al., arXiv 2308.11003).

Physics core: band transmittance of a CH4 enhancement (:mod:`.physics`), the classical Varon et al.
(2021) retrievals (:mod:`.retrievals`) and synthetic plumes (:mod:`.plumes`); the IME emission
rate (:mod:`.quantification`); pairs on disk (:mod:`.pair_files`).

By role: :mod:`.scenes` (simulated pairs and their revisits), :mod:`.detector` (the network, its
training, tiled inference, weights), :mod:`.detect` (a pair -> plumes with rates),
:mod:`.evaluate` (benchmarks), :mod:`.calibration` (thresholds and effective winds fitted on
simulated plumes), :mod:`.monitor` (archives of revisits).
"""

from eoforge.methane.physics import (
    BANDS,
    M_CH4,
    SATELLITES,
    air_mass_factor,
    band_table,
    band_transmittance,
    fractional_signal,
    inject_plume,
    transmittance_slope,
)
from eoforge.methane.plumes import (
    Puffs,
    briggs_sigma_y,
    downwind_unit,
    emission_rate_mol_s,
    gaussian_plume,
    gaussian_puffs,
    plume_mass_kg,
    psf_blur,
    render_puffs,
    simulate_puffs,
)
from eoforge.methane.retrievals import fit_band_scale, mbmp, mbsp, retrieve_column, sbmp

__all__ = [
    "BANDS",
    "M_CH4",
    "SATELLITES",
    "Puffs",
    "air_mass_factor",
    "band_table",
    "band_transmittance",
    "briggs_sigma_y",
    "downwind_unit",
    "emission_rate_mol_s",
    "fit_band_scale",
    "fractional_signal",
    "gaussian_plume",
    "gaussian_puffs",
    "inject_plume",
    "mbmp",
    "mbsp",
    "plume_mass_kg",
    "psf_blur",
    "render_puffs",
    "retrieve_column",
    "sbmp",
    "simulate_puffs",
    "transmittance_slope",
]
