"""Regionalisation of precipitation extremes (Le Gall et al., arXiv 2111.00798).

Covariate-free clustering of sites by their annual maxima with the RFA-madogram dissimilarity
D_c = 1/2 E|F2(c X1) - F1(X2 / c)|, k-medoids with K chosen by the average silhouette,
Hosking & Wallis regional diagnostics, consensus over climate models and natural-vs-all-forcing
comparison. Modules, in dependency order:

- ``pwm``, ``lmoments``, ``kappa``, ``gev``: marginal statistics (PWMs, L-moments, H and D_i, GEV).
- ``maxima``, ``dataio``: annual maxima of daily data, site stacking, files in and out.
- ``dissimilarity``: one pair and the matrix in memory; ``dissimilarity_checks``: input checks;
  ``dissimilarity_blocks`` (+ ``_kernels``): row blocks; ``dissimilarity_disk``: to a ``.npy``
  file; ``distributed``: on dask.
- ``kmedoids`` (+ ``_kmedoids_kernels``), ``selection``, ``consensus``: clustering, choice of K,
  combining partitions.
- ``regionalise``, ``ensemble``: the pipelines; ``simulation``, ``ensemble_sim``: planted truths.
- ``plots``, ``jobs``, ``demo``: figures, the CLI's run-folder jobs and the demo stage.
"""

from eoforge.extremes.consensus import (
    ConsensusResult,
    adjusted_rand_index,
    coassociation_consensus,
    coassociation_matrix,
    compare_partitions,
    match_labels,
    mean_dissimilarity,
    mean_dissimilarity_consensus,
    variation_of_information,
)
from eoforge.extremes.dissimilarity import (
    METHODS,
    dissimilarity_matrix,
    dissimilarity_matrix_to_disk,
    rfa_madogram,
    validate_maxima,
)
from eoforge.extremes.distributed import dissimilarity_matrix_dask
from eoforge.extremes.ensemble import (
    Attribution,
    EnsembleRegions,
    attribute,
    regionalise_ensemble,
)
from eoforge.extremes.ensemble_sim import SimulatedEnsemble, simulate_ensemble
from eoforge.extremes.gev import GEVFit, fit_gev, return_level
from eoforge.extremes.kmedoids import KMedoids
from eoforge.extremes.lmoments import (
    HeterogeneityResult,
    LMoments,
    discordancy,
    heterogeneity,
    sample_lmoments,
)
from eoforge.extremes.maxima import SiteStack, annual_maxima, stack_sites
from eoforge.extremes.pwm import gev_pwm_ratio, pwm_ratio, sample_pwms
from eoforge.extremes.regionalise import Regionalisation, regionalise
from eoforge.extremes.selection import KSelection, choose_k
from eoforge.extremes.simulation import SimulatedRegions, simulate_regions, simulate_scenario

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
