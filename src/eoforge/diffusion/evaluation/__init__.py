"""Scoring generated images against real ones, and comparing samplers.

``evaluate`` (SAR and InSAR statistics, figures, ``eoforge diffusion evaluate``), ``metrics``
(FID, KID, precision/recall, memorisation), ``features`` (the feature extractors those metrics
use), ``compare`` and ``compare_report`` (quality against NFE for several samplers,
``eoforge diffusion compare-samplers``) and ``gaussian_oracle`` (an exact denoiser of
stationary Gaussian fields, to score a sampler without a trained network). A new feature-space
metric goes in ``metrics``, a new image statistic in ``evaluate`` (with its key in the docstring
of :func:`~eoforge.diffusion.evaluation.evaluate.evaluate`).
"""
