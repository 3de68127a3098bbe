"""Diffusion models for SAR and InSAR images (Tuel, Kerdreux et al., arXiv 2308.16847).

Layout by role: at the top the U-Net (``model``), the noise schedules (``schedules``), the data
in the model's domain (``data``, ``array_files``), loading a trained run (``run_io``), sampling
from it (``generate``) and the demo stage (``demo``); ``samplers/`` (one module per sampler,
pure tensor code), ``training/`` (config, losses, Lightning module, the loop, its report) and
``evaluation/`` (statistics, feature-space metrics and their extractors, sampler comparison).
Schedules and samplers are kept apart from models (models never import them).

Training, generation and evaluation (which import Lightning and diffusers) load on first use.
Functions named like their module (``train``, ``generate``, ``evaluate``) are imported from it,
e.g. ``from eoforge.diffusion.training.train import train``: a package attribute of that name
would be replaced by the submodule as soon as it is imported.
"""

from __future__ import annotations

from eoforge.core.lazy import lazy_getattr
from eoforge.diffusion.samplers import PREDICTIONS, SAMPLERS, VARIANCES, sample
from eoforge.diffusion.schedules import SPACINGS, NoiseSchedule, space_timesteps

#: name -> module of the heavier parts, imported on first attribute access.
_LAZY = {
    "DiffusionConfig": "eoforge.diffusion.training.config",
    "load_run": "eoforge.diffusion.run_io",
    "compare_samplers": "eoforge.diffusion.evaluation.compare",
    "SSLFeatures": "eoforge.diffusion.evaluation.features",
    "RandomConvFeatures": "eoforge.diffusion.evaluation.features",
    "resolve_features": "eoforge.diffusion.evaluation.features",
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
