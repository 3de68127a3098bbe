"""Samplers for variance-preserving diffusion models (pure tensor code; models never import this).

Use :func:`sample`; the individual loops are importable for tests and benchmarks.
"""

from eoforge.diffusion.samplers._common import Denoiser, Prediction
from eoforge.diffusion.samplers._ddim import ddim_loop
from eoforge.diffusion.samplers._ddpm import ddpm_loop
from eoforge.diffusion.samplers._dispatch import PREDICTIONS, SAMPLERS, VARIANCES, sample
from eoforge.diffusion.samplers._dpmpp import dpmpp_2m_loop
from eoforge.diffusion.samplers._heun import heun_loop, karras_timesteps

__all__ = [
    "PREDICTIONS",
    "SAMPLERS",
    "VARIANCES",
    "Denoiser",
    "Prediction",
    "ddim_loop",
    "ddpm_loop",
    "dpmpp_2m_loop",
    "heun_loop",
    "karras_timesteps",
    "sample",
]
