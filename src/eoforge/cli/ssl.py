"""``eoforge ssl``: curated self-supervised pre-training of SAR encoders."""

from eoforge.cli._common import planned_app

app = planned_app("ssl", 4, "curated DINO pre-training of SAR encoders and linear probes")
