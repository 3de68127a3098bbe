"""Self-supervised pre-training of SAR encoders: DINO with dynamic dataset curation.

Kerdreux et al. 2025 (arXiv 2504.06962): DINO on Sentinel-1 WV imagettes whose training set is
re-pruned during training by clustering the teacher's own embeddings (``eoforge.curation``).
The loss, head and augmentations are plain torch; pre-training, probes and embedding (which import
Lightning and scikit-learn) load on first use; pre-training itself is
``from eoforge.ssl.pretrain import pretrain`` (a package attribute named like its submodule would
be replaced by the submodule once imported).
"""

from __future__ import annotations

from eoforge.core.lazy import lazy_getattr
from eoforge.ssl.augment import MultiCropAugment
from eoforge.ssl.dino import DINOHead, DINOLoss
from eoforge.ssl.sampler import CuratedSampler

#: name -> module of the heavier parts, imported on first attribute access.
_LAZY = {
    "SSLConfig": "eoforge.ssl.pretrain",
    "probe_features": "eoforge.ssl.probe",
    "probe_run": "eoforge.ssl.probe",
    "embed_dataset": "eoforge.ssl.embed",
    "load_teacher": "eoforge.ssl.embed",
    "export_encoder": "eoforge.ssl.export",
    "load_encoder": "eoforge.ssl.export",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "CuratedSampler",
    "DINOHead",
    "DINOLoss",
    "MultiCropAugment",
    "SSLConfig",
    "embed_dataset",
    "export_encoder",
    "load_encoder",
    "load_teacher",
    "probe_features",
    "probe_run",
]
