"""``eoforge diffusion``: diffusion models for SAR and InSAR images."""

from eoforge.cli._common import planned_app

app = planned_app("diffusion", 5, "diffusion models for SAR/InSAR: train, sample, evaluate")
