"""Diffusion models for SAR and InSAR images (Tuel, Kerdreux et al., arXiv 2308.16847).

Schedules and samplers are pure tensor code, kept apart from models (models never import them).
Training, generation and evaluation (which import Lightning and diffusers) load on first use.
Functions named like their module (``train``, ``generate``, ``evaluate``) are imported from it,
e.g. ``from eoforge.diffusion.train import train``: a package attribute of that name would be
replaced by the submodule as soon as it is imported.
"""

from __future__ import annotations

from eoforge.core.lazy import lazy_getattr
from eoforge.diffusion.samplers import PREDICTIONS, SAMPLERS, VARIANCES, sample
from eoforge.diffusion.schedules import SPACINGS, NoiseSchedule, space_timesteps

#: name -> module of the heavier parts, imported on first attribute access.
_LAZY = {
    "DiffusionConfig": "eoforge.diffusion.config",
    "load_run": "eoforge.diffusion.run_io",
    "compare_samplers": "eoforge.diffusion.compare",
    "SSLFeatures": "eoforge.diffusion.features",
    "RandomConvFeatures": "eoforge.diffusion.features",
    "resolve_features": "eoforge.diffusion.features",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "PREDICTIONS",
    "SAMPLERS",
    "SPACINGS",
    "VARIANCES",
    "DiffusionConfig",
    "NoiseSchedule",
    "RandomConvFeatures",
    "SSLFeatures",
    "compare_samplers",
    "load_run",
    "resolve_features",
    "sample",
    "space_timesteps",
]
