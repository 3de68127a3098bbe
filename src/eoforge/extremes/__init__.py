"""Regionalisation of precipitation extremes (Le Gall et al., arXiv 2111.00798).

Covariate-free clustering of sites by their annual maxima with the RFA-madogram dissimilarity
D_c = 1/2 E|F2(c X1) - F1(X2 / c)|, k-medoids with K chosen by the average silhouette,
Hosking & Wallis regional diagnostics, consensus over climate models and natural-vs-all-forcing
comparison. Subpackages by role (each ``__init__`` says what goes where), in dependency order:

- ``margins/``: one site's distribution (PWMs, L-moments, kappa, GEV) and the H and D_i diagnostics.
- ``data/``: annual maxima of daily data, site stacking, files in and out.
- ``dissimilarity/``: one pair, input checks, row blocks (numba kernels) and the matrix in memory,
  to a ``.npy`` file or on dask.
- ``clustering/``: k-medoids, the choice of K, consensus of partitions and their comparison.
- ``simulate/``: planted truths (sites in regions, a multi-model ensemble).

Modules at this level use them: ``regionalise`` and ``ensemble`` (the pipelines), ``plots``,
``options`` and ``jobs`` (figures, option checks and the CLI's run-folder jobs), ``demo``.
"""

from eoforge.extremes.clustering.consensus import (
    ConsensusResult,
    coassociation_consensus,
    coassociation_matrix,
    mean_dissimilarity,
    mean_dissimilarity_consensus,
)
from eoforge.extremes.clustering.kmedoids import KMedoids
from eoforge.extremes.clustering.partitions import (
    adjusted_rand_index,
    compare_partitions,
    match_labels,
    variation_of_information,
)
from eoforge.extremes.clustering.selection import KSelection, choose_k
from eoforge.extremes.data.maxima import SiteStack, annual_maxima, stack_sites
from eoforge.extremes.dissimilarity.checks import METHODS, validate_maxima
from eoforge.extremes.dissimilarity.disk import dissimilarity_matrix_to_disk
from eoforge.extremes.dissimilarity.distributed import dissimilarity_matrix_dask
from eoforge.extremes.dissimilarity.matrix import dissimilarity_matrix
from eoforge.extremes.dissimilarity.pair import rfa_madogram
from eoforge.extremes.ensemble import (
    Attribution,
    EnsembleRegions,
    attribute,
    regionalise_ensemble,
)
from eoforge.extremes.margins.gev import GEVFit, fit_gev, return_level
from eoforge.extremes.margins.lmoments import (
    HeterogeneityResult,
    LMoments,
    discordancy,
    heterogeneity,
    sample_lmoments,
)
from eoforge.extremes.margins.pwm import gev_pwm_ratio, pwm_ratio, sample_pwms
from eoforge.extremes.regionalise import Regionalisation, regionalise
from eoforge.extremes.simulate.ensemble import SimulatedEnsemble, simulate_ensemble
from eoforge.extremes.simulate.regions import SimulatedRegions, simulate_regions, simulate_scenario

__all__ = [
    "METHODS",
    "Attribution",
    "ConsensusResult",
    "EnsembleRegions",
    "GEVFit",
    "HeterogeneityResult",
    "KMedoids",
    "KSelection",
    "LMoments",
    "Regionalisation",
    "SimulatedEnsemble",
    "SimulatedRegions",
    "SiteStack",
    "adjusted_rand_index",
    "annual_maxima",
    "attribute",
    "choose_k",
    "coassociation_consensus",
    "coassociation_matrix",
    "compare_partitions",
    "discordancy",
    "dissimilarity_matrix",
    "dissimilarity_matrix_dask",
    "dissimilarity_matrix_to_disk",
    "fit_gev",
    "gev_pwm_ratio",
    "heterogeneity",
    "match_labels",
    "mean_dissimilarity",
    "mean_dissimilarity_consensus",
    "pwm_ratio",
    "regionalise",
    "regionalise_ensemble",
    "return_level",
    "rfa_madogram",
    "sample_lmoments",
    "sample_pwms",
    "simulate_ensemble",
    "simulate_regions",
    "simulate_scenario",
    "stack_sites",
    "validate_maxima",
    "variation_of_information",
]
