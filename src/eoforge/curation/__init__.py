"""Dataset curation: hierarchical k-means, balanced sampling, the dynamic curator.

Vo et al. 2024 (arXiv 2405.15613) hierarchical k-means with resampling and balanced sampling, used
by Kerdreux et al. 2025 (arXiv 2504.06962) to re-prune an SSL training set on the model's own
embeddings during training.
"""

from eoforge.curation.balanced import balanced_sample
from eoforge.curation.curate import curate
from eoforge.curation.dynamic import CurationConfig, DynamicCurator
from eoforge.curation.hierarchy import Hierarchy, hierarchical_kmeans
from eoforge.curation.kmeans import KMeans
from eoforge.curation.selections import load_selection

__all__ = [
    "CurationConfig",
    "DynamicCurator",
    "Hierarchy",
    "KMeans",
    "balanced_sample",
    "curate",
    "hierarchical_kmeans",
    "load_selection",
]
