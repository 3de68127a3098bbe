"""Multi-model regionalisation: one partition per climate model, consensus, and D&A comparison.

For M models on one common grid, each model is regionalised on its own (``regionalise``); the M
results are combined by the mean-dissimilarity consensus (k-medoids on D_bar = mean_m D^(m)) and
by the co-association consensus (k-medoids on 1 - A). Consensus is computed over the sites usable
in every model; other sites get label -1.

For detection and attribution, the natural-forcing and all-forcing ensembles are regionalised in
turn and their consensus partitions compared (adjusted Rand index, variation of information, sites
that change region after label matching), next to the spread between models inside each
experiment: a forced change is only notable when the two consensus partitions differ more than
models of one experiment differ among themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import combinations
from typing import Literal

import numpy as np

from eoforge.core.errors import InputError
from eoforge.extremes.clustering.consensus import (
    ConsensusResult,
    coassociation_consensus,
    mean_dissimilarity_consensus,
)
from eoforge.extremes.clustering.partitions import (
    adjusted_rand_index,
    compare_partitions,
    match_labels,
)
from eoforge.extremes.clustering.selection import WEAK_STRUCTURE, k_table_rows
from eoforge.extremes.regionalise import Regionalisation, regionalise

ConsensusRule = Literal["mean-dissimilarity", "co-association"]


@dataclass
class EnsembleRegions:
    """Regions of every model of one experiment and their consensus.

    Attributes:
        names: Model names.
        members: One :class:`Regionalisation` per model (dissimilarity matrices dropped).
        common: Boolean (n_sites,) mask of sites usable in every model.
        consensus: Consensus labels (n_sites,) of the chosen rule, -1 outside ``common``.
        consensus_medoids: Medoid site index of every consensus region.
        rule: The consensus rule used for ``consensus``.
        other_consensus: Labels from the other rule (for comparison).
        k_table: Silhouette table of the consensus K choice (empty when K was fixed).
        member_agreement: ARI of each member with the consensus.
        warnings: What a reader must know first (one member only, weak structure).
    """

    names: list[str]
    members: list[Regionalisation]
    common: np.ndarray
    consensus: np.ndarray
    consensus_medoids: np.ndarray
    rule: ConsensusRule
    other_consensus: np.ndarray
    k_table: list[dict] = field(default_factory=list)
    member_agreement: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def spread(self) -> float:
        """Mean pairwise ARI between members (1 = all models agree; NaN for a single member)."""
        pairs = list(combinations(range(len(self.members)), 2))
        if not pairs:
            return float("nan")
        return float(
            np.mean(
                [
                    adjusted_rand_index(self.members[i].labels, self.members[j].labels)
                    for i, j in pairs
                ]
            )
        )

    def masked_reasons(self) -> dict[str, list[int]]:
        """Sites masked in at least one model, by reason (the first model's reason for a site)."""
        out: dict[str, list[int]] = {}
        seen: set[int] = set()
        for member in self.members:
            for reason, sites in member.masked_reasons.items():
                new = [s for s in sites if s not in seen]
                out.setdefault(reason, []).extend(new)
                seen.update(new)
        return {reason: sorted(sites) for reason, sites in out.items()}

    def summary(self) -> dict:
        """JSON-ready summary."""
        return {
            "models": self.names,
            "rule": self.rule,
            "k": int(self.consensus.max()) + 1,
            "n_common_sites": int(self.common.sum()),
            "n_masked": int((~self.common).sum()),
            "masked_sites": self.masked_reasons(),
            "consensus_medoids": self.consensus_medoids.tolist(),
            "k_table": self.k_table,
            "member_k": [m.k for m in self.members],
            "member_agreement_ari": [round(a, 4) for a in self.member_agreement],
            "rules_agreement_ari": round(
                adjusted_rand_index(self.consensus, self.other_consensus), 4
            ),
            "mean_pairwise_member_ari": _rounded(self.spread()),
            "warnings": self.warnings,
        }


def _rounded(x: float) -> float | None:
    """Rounded for JSON; None where undefined (NaN, e.g. the spread of one model)."""
    return None if np.isnan(x) else round(x, 4)


def _full_labels(result: ConsensusResult, idx: np.ndarray, n: int) -> np.ndarray:
    labels = np.full(n, -1, np.int64)
    labels[idx] = result.labels
    return labels


def regionalise_ensemble(
    maxima: Iterable[np.ndarray],
    names: Sequence[str],
    *,
    method: str = "rfa-madogram",
    k: int | Literal["auto"] = "auto",
    k_range: Iterable[int] = range(2, 11),
    rule: ConsensusRule = "mean-dissimilarity",
    min_years: int = 10,
    min_common_years: int | None = None,
    random_state: int | None = 0,
    on_member: Callable[[int, int], None] | None = None,
    weak_structure: float = WEAK_STRUCTURE,
) -> EnsembleRegions:
    """Regionalise every model, then combine them into consensus regions.

    Args:
        maxima: One (n_years_m, n_sites) array per model, all on the same sites (a generator is
            consumed once: one model's data in memory at a time).
        names: Model names, in the same order.
        method: Dissimilarity of :func:`regionalise`.
        k: Number of regions (members and consensus), or ``"auto"`` (silhouette).
        k_range: Candidate K when ``k="auto"``.
        rule: Consensus rule reported as ``consensus``; the other is kept for comparison.
        min_years: Minimum number of finite maxima per site.
        min_common_years: Least number of years every pair of sites shares in a model (default
            ``min_years``); sites are masked until it holds (see :func:`regionalise`).
        random_state: Seed.
        on_member: Callback ``on_member(done, total)`` after each model.
        weak_structure: With ``k="auto"``, a best average silhouette of the consensus at or
            below it adds a warning (default 0.25).

    Returns:
        An :class:`EnsembleRegions`.
    """
    if rule not in ("mean-dissimilarity", "co-association"):
        raise InputError(f"rule={rule!r} is invalid: use 'mean-dissimilarity' or 'co-association'.")
    names = list(names)
    fit = partial(
        regionalise, method=method, k=k, k_range=k_range, min_years=min_years,
        min_common_years=min_common_years, diagnostics=False, random_state=random_state,
    )  # fmt: skip
    members, total = _members(maxima, len(names), fit, on_member)
    common = np.logical_and.reduce([m.labels >= 0 for m in members])
    idx = np.flatnonzero(common)
    if idx.size < 3:
        raise InputError(
            f"only {idx.size} sites are usable in every model; check the models' masks and grids."
        )
    D_bar = total[np.ix_(idx, idx)] / len(members)
    mean_res = mean_dissimilarity_consensus([D_bar], k, k_range=k_range, random_state=random_state)
    co_res = coassociation_consensus(
        [m.labels[idx] for m in members], k, k_range=k_range, random_state=random_state
    )
    chosen, other = (mean_res, co_res) if rule == "mean-dissimilarity" else (co_res, mean_res)
    consensus = _full_labels(chosen, idx, common.size)
    return EnsembleRegions(
        names=names,
        members=members,
        common=common,
        consensus=consensus,
        consensus_medoids=idx[chosen.medoid_indices],
        rule=rule,
        other_consensus=match_labels(consensus, _full_labels(other, idx, common.size)),
        k_table=k_table_rows(chosen.selection.table) if chosen.selection is not None else [],
        member_agreement=[adjusted_rand_index(consensus, m.labels) for m in members],
        warnings=_warnings(names, chosen, weak_structure),
    )


def _members(
    maxima: Iterable[np.ndarray],
    n_names: int,
    fit: Callable[[np.ndarray], Regionalisation],
    on_member: Callable[[int, int], None] | None,
) -> tuple[list[Regionalisation], np.ndarray]:
    """Regionalise each model in turn with ``fit``: (members without matrices, matrix sum).

    Each member's (m, m) matrix over its usable sites is added into one (n, n) sum (NaN where a
    site is masked in that model) and dropped, so memory holds one matrix sum, not M matrices.
    """
    members: list[Regionalisation] = []
    total: np.ndarray | None = None
    for m, x in enumerate(maxima):
        res = fit(x)
        ok = res.labels >= 0
        D_full = np.full((ok.size, ok.size), np.nan)
        idx = np.flatnonzero(ok)
        D_full[np.ix_(idx, idx)] = res.dissimilarity
        total = D_full if total is None else total + D_full
        res.dissimilarity = None
        members.append(res)
        if on_member is not None:
            on_member(m + 1, n_names)
    if total is None or len(members) != n_names:
        raise InputError(f"got {len(members)} model arrays for {n_names} names; pass one each.")
    return members, total


def _warnings(names: list[str], chosen: ConsensusResult, weak_structure: float) -> list[str]:
    """What a reader must know first: a consensus of one model, a K chosen on weak structure."""
    warnings = []
    if len(names) == 1:
        warnings.append(
            f"the consensus has one member ({names[0]}): it is that model's own partition and "
            "says nothing about agreement between models; pass two or more models."
        )
    weak = chosen.selection.warning(weak_structure) if chosen.selection is not None else None
    return warnings + ([weak] if weak else [])


@dataclass
class Attribution:
    """Natural-forcing vs all-forcing comparison of consensus regions."""

    natural: EnsembleRegions
    all_forcing: EnsembleRegions
    comparison: dict
    natural_matched: np.ndarray

    def summary(self) -> dict:
        """JSON-ready summary: the comparison next to the within-experiment model spread."""
        cmp = {k: v for k, v in self.comparison.items() if k != "b_matched"}
        return {
            "warnings": [f"all forcings: {w}" for w in self.all_forcing.warnings]
            + [f"natural: {w}" for w in self.natural.warnings],
            "comparison_all_vs_natural": cmp,
            "within_experiment_mean_pairwise_ari": {
                "all_forcing": _rounded(self.all_forcing.spread()),
                "natural": _rounded(self.natural.spread()),
            },
            "all_forcing": self.all_forcing.summary(),
            "natural": self.natural.summary(),
        }


def attribute(natural: EnsembleRegions, all_forcing: EnsembleRegions) -> Attribution:
    """Compare the consensus regions of natural-only and all-forcing runs (D&A).

    The natural partition's labels are renamed onto the all-forcing ones (Hungarian matching) so
    that maps share colours; see :func:`~eoforge.extremes.clustering.partitions.compare_partitions`.
    """
    if natural.consensus.shape != all_forcing.consensus.shape:
        raise InputError(
            "the natural and all-forcing ensembles are on different grids "
            f"({natural.consensus.size} vs {all_forcing.consensus.size} sites); regrid them."
        )
    cmp = compare_partitions(all_forcing.consensus, natural.consensus)
    return Attribution(
        natural=natural,
        all_forcing=all_forcing,
        comparison=cmp,
        natural_matched=cmp["b_matched"],
    )
