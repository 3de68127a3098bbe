"""Diffusion models for SAR and InSAR images (Tuel, Kerdreux et al., arXiv 2308.16847).

Schedules and samplers are pure tensor code, kept apart from models (models never import them).
"""

from eoforge.diffusion.samplers import PREDICTIONS, SAMPLERS, VARIANCES, sample
from eoforge.diffusion.schedules import SPACINGS, NoiseSchedule, space_timesteps

__all__ = [
    "PREDICTIONS",
    "SAMPLERS",
    "SPACINGS",
    "VARIANCES",
    "NoiseSchedule",
    "sample",
    "space_timesteps",
]
