"""The regionalisation pipeline: maxima -> dissimilarity -> k-medoids (K by silhouette) -> checks.

``regionalise`` is what ``eoforge extremes cluster`` runs: it masks unusable sites (documented
rule below), builds the chosen dissimilarity, clusters it with k-medoids (K fixed, or chosen by the
largest average silhouette as the authors' ``pamk``), and reports Hosking & Wallis diagnostics of
every region found (heterogeneity H1 and discordant sites).

Site mask rule: a site takes part only if it has at least ``min_years`` finite annual maxima, no
infinite value, and is not constant (``validate_maxima``); then, so that every pair of sites
shares ``min_common_years`` non-missing years (station records covering different periods), the
site in the most pairs that do not is masked, again and again, until none is left
(``comparable_sites``). Masked sites (e.g. all-NaN ocean cells) get label -1, are listed in
``Regionalisation.masked`` and, by reason, in ``Regionalisation.masked_reasons``.
Negative maxima are an error (precipitation is non-negative).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from eoforge.core.errors import InputError, ShapeError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.extremes.clustering.kmedoids import KMedoids
from eoforge.extremes.clustering.selection import WEAK_STRUCTURE, KScore, choose_k, k_table_rows
from eoforge.extremes.dissimilarity.checks import (
    METHODS,
    comparable_sites,
    site_value_summary,
    validate_maxima,
)
from eoforge.extremes.dissimilarity.distributed import dissimilarity_matrix_dask
from eoforge.extremes.dissimilarity.matrix import dissimilarity_matrix
from eoforge.extremes.margins.lmoments import (
    discordancy,
    discordancy_critical_value,
    heterogeneity,
    site_lmoment_ratios,
)


@dataclass
class Regionalisation:
    """Result of :func:`regionalise` on n sites.

    Attributes:
        labels: (n,) region of each site, -1 for masked sites.
        medoids: (K,) site index (into all n sites) of each region's medoid.
        k: Number of regions.
        method: Dissimilarity used.
        k_table: Average silhouette and inertia for every K tried (one row when K was fixed).
        masked: Indices of sites left out (too few years or constant).
        regions: One dict per region: size, medoid, H1 and its verdict, discordant sites.
        dissimilarity: (m, m) matrix over the unmasked sites (kept for reports and consensus).
        warnings: What a reader must know before trusting the regions (e.g. weak structure).
        masked_reasons: The masked sites by reason (keys of :data:`MASK_REASONS`).
    """

    labels: np.ndarray
    medoids: np.ndarray
    k: int
    method: str
    k_table: list[dict]
    masked: np.ndarray
    regions: list[dict] = field(default_factory=list)
    dissimilarity: np.ndarray | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    masked_reasons: dict[str, list[int]] = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-ready summary (what ``summary.json`` holds)."""
        return {
            "k": self.k,
            "method": self.method,
            "n_sites": int(self.labels.size),
            "n_masked": int(self.masked.size),
            "masked_sites": self.masked_reasons or {"unusable": self.masked.tolist()},
            "medoids": self.medoids.tolist(),
            "silhouette_table": self.k_table,
            "regions": self.regions,
            "warnings": self.warnings,
        }


#: Why a site is masked, in the order the reasons are tested (a site is listed under the first).
MASK_REASONS = (
    "infinite",
    "all_missing",
    "too_few_years",
    "constant",
    "too_few_common_years",
)


def masked_by_reason(
    maxima: np.ndarray, min_years: int, usable: np.ndarray
) -> dict[str, list[int]]:
    """The sites masked in ``usable`` (from :func:`usable_sites`), by reason.

    Every key of :data:`MASK_REASONS` is present; a site is listed under the first that applies.
    """
    x = np.asarray(maxima, dtype=float)
    nval, lo, hi = site_value_summary(x)
    tests = {
        "infinite": np.isinf(x).any(axis=0),
        "all_missing": nval == 0,
        "too_few_years": nval < min_years,
        "constant": lo == hi,
        "too_few_common_years": ~np.asarray(usable, dtype=bool),
    }
    taken = np.zeros(x.shape[1], dtype=bool)
    out = {}
    for reason in MASK_REASONS:
        hit = tests[reason] & ~taken
        out[reason] = np.flatnonzero(hit).tolist()
        taken |= hit
    return out


def usable_sites(
    maxima: np.ndarray, min_years: int = 10, min_common_years: int | None = None
) -> np.ndarray:
    """Boolean mask of usable sites (see :func:`~eoforge.extremes.dissimilarity.checks.validate_maxima`).

    With ``min_common_years``, sites are also masked until every pair of the others shares that
    many non-missing years (:func:`~eoforge.extremes.dissimilarity.checks.comparable_sites`).

    Raises:
        ShapeError: If ``maxima`` is not (n_years, n_sites).
        InputError: If any value is negative (the message lists the first offending sites).
    """
    maxima = np.asarray(maxima, dtype=float)
    if maxima.ndim != 2:
        raise ShapeError(
            f"maxima must be (n_years, n_sites), got shape {maxima.shape}; stack the grid first."
        )
    with np.errstate(invalid="ignore"):
        negative = np.flatnonzero((maxima < 0).any(axis=0))
    if negative.size:
        raise InputError(
            f"sites {negative[:10].tolist()} have negative maxima; precipitation must be >= 0. "
            "Check the units and the fill value of the input."
        )
    ok = validate_maxima(maxima, min_years)
    if min_common_years is not None and ok.any():
        ok[ok] = comparable_sites(maxima[:, ok], min_common_years)
    return ok


def _region_row(region: int, labels: np.ndarray, medoid: int) -> dict:
    """Region number, size and medoid site: the start of every row of ``summary["regions"]``."""
    return {"region": region, "n_sites": int((labels == region).sum()), "medoid": int(medoid)}


def region_diagnostics(
    maxima: np.ndarray,
    labels: np.ndarray,
    medoids: np.ndarray,
    *,
    n_sim: int = 500,
    random_state: int | None = 0,
) -> list[dict]:
    """Hosking & Wallis H1 and discordancy D_i of every region (labels >= 0)."""
    out = []
    for r, medoid in enumerate(medoids):
        sites = np.flatnonzero(labels == r)
        row = _region_row(r, labels, medoid)
        try:
            if sites.size >= 2:
                het = heterogeneity(maxima[:, sites], n_sim=n_sim, random_state=random_state)
                row.update(H1=round(het.H1, 3), verdict=het.verdict)
            if sites.size >= 4:
                ratios, _ = site_lmoment_ratios(maxima[:, sites])
                d = discordancy(ratios)
                crit = discordancy_critical_value(sites.size)
                row["discordant_sites"] = sites[d > crit].tolist()
        except InputError as err:  # e.g. a region of dry cells (mean 0): report, do not abort
            row["diagnostics_error"] = str(err)
        out.append(row)
    return out


def _checked_settings(
    method: str,
    diagnostics: bool,
    n_sim: int,
    min_years: int,
    min_common_years: int | None,
) -> int:
    """Check the settings of :func:`regionalise`; returns ``min_common_years`` (or ``min_years``)."""
    if method not in METHODS:
        raise bad_value("method", method, f"one of {list(METHODS)}")
    if diagnostics and (
        isinstance(n_sim, bool) or not isinstance(n_sim, int | np.integer) or n_sim < 2
    ):
        raise bad_value("n_sim", n_sim, "an integer >= 2", "Hosking & Wallis recommend 500.")
    min_common = min_years if min_common_years is None else min_common_years
    if (
        isinstance(min_common, bool)
        or not isinstance(min_common, int | np.integer)
        or min_common < 3
    ):
        raise bad_value("min_common_years", min_common, "an integer >= 3")
    return min_common


def _usable(maxima: np.ndarray, min_years: int, min_common: int) -> np.ndarray:
    """:func:`usable_sites`, refusing fewer than 3 (clustering needs 3 or more)."""
    ok = usable_sites(maxima, min_years, min_common)
    n_ok = int(ok.sum())
    if n_ok < 3:
        raise InputError(
            f"only {n_ok} site(s) have at least min_years={min_years} non-constant maxima "
            f"and share min_common_years={min_common} years with each other; clustering needs 3 "
            "or more. Lower min_years or min_common_years, or pass more sites."
        )
    return ok


def _matrix(
    data: np.ndarray,
    method: str,
    min_common: int,
    progress: ProgressCallback | None,
    scheduler: str | None,
) -> np.ndarray:
    """The dissimilarity matrix of the usable sites, here or on a dask.distributed scheduler."""
    if scheduler is None:
        return dissimilarity_matrix(data, method, min_common_years=min_common, progress=progress)
    return dissimilarity_matrix_dask(
        data, method, scheduler, min_common_years=min_common, progress=progress
    )


def _fit_k(
    D: np.ndarray,
    k: int | Literal["auto"],
    k_range: Iterable[int],
    random_state: int | None,
    weak_structure: float,
) -> tuple[KMedoids, tuple[KScore, ...], str | None]:
    """k-medoids with K fixed or chosen by silhouette: (model, K table, weak-structure warning)."""
    n = D.shape[0]
    if k == "auto":
        ks = [kk for kk in k_range if 2 <= kk <= n - 1]
        if not ks:
            raise bad_value("k_range", list(k_range), f"values in [2, {n - 1}]")
        sel = choose_k(D, ks, random_state=random_state)
        return sel.model, sel.table, sel.warning(weak_structure)
    if isinstance(k, int | np.integer) and 1 <= k < n:
        model = KMedoids(int(k), random_state=random_state).fit(D)
        return model, (KScore(int(k), float("nan"), float(model.inertia_)),), None
    raise bad_value("k", k, f"'auto' or an integer in [1, {n - 1}]")


def regionalise(
    maxima: np.ndarray,
    *,
    method: str = "rfa-madogram",
    k: int | Literal["auto"] = "auto",
    k_range: Iterable[int] = range(2, 11),
    min_years: int = 10,
    min_common_years: int | None = None,
    n_sim: int = 500,
    diagnostics: bool = True,
    random_state: int | None = 0,
    progress: ProgressCallback | None = None,
    scheduler: str | None = None,
    weak_structure: float = WEAK_STRUCTURE,
) -> Regionalisation:
    """Cluster sites into regions from their annual maxima.

    Args:
        maxima: (n_years, n_sites) annual maxima, NaN for missing years.
        method: ``"rfa-madogram"`` (default), ``"fmadogram"`` or ``"pwm-ratio"``.
        k: Number of regions, or ``"auto"`` for the best average silhouette over ``k_range``.
        k_range: Candidate K when ``k="auto"`` (2..10 as the authors).
        min_years: Sites with fewer finite maxima are masked (label -1).
        min_common_years: Least number of non-missing years every pair of sites must share
            (default ``min_years``); sites are masked until it holds (module docstring).
        n_sim: Simulated regions for the heterogeneity measure H1.
        diagnostics: Compute H1 and discordancy per region.
        random_state: Seed of k-medoids and of the H1 simulations.
        progress: Optional ``progress(done, total)`` callback for the dissimilarity matrix.
        scheduler: Address of a dask.distributed scheduler (``tcp://host:8786``) to build the
            matrix on a cluster; None computes it on this machine (all cores).
        weak_structure: With ``k="auto"``, a best average silhouette at or below it adds a
            warning to the result (default 0.25, Kaufman & Rousseeuw's "no substantial structure").

    Returns:
        A :class:`Regionalisation`.
    """
    min_common = _checked_settings(method, diagnostics, n_sim, min_years, min_common_years)
    maxima = np.asarray(maxima, dtype=float)
    ok = _usable(maxima, min_years, min_common)
    idx = np.flatnonzero(ok)
    D = _matrix(maxima[:, idx], method, min_common, progress, scheduler)
    model, table, weak = _fit_k(D, k, k_range, random_state, weak_structure)
    labels = np.full(maxima.shape[1], -1, dtype=np.int64)
    labels[idx] = model.labels_
    medoids = idx[model.medoid_indices_]
    if diagnostics:
        regions = region_diagnostics(
            maxima, labels, medoids, n_sim=n_sim, random_state=random_state
        )
    else:
        regions = [_region_row(r, labels, m) for r, m in enumerate(medoids)]
    return Regionalisation(
        labels=labels,
        medoids=medoids,
        k=int(model.n_clusters),
        method=method,
        k_table=k_table_rows(table),
        masked=np.flatnonzero(~ok),
        regions=regions,
        dissimilarity=D,
        warnings=[weak] if weak else [],
        masked_reasons=masked_by_reason(maxima, min_years, ok),
    )
