"""End-to-end jobs behind ``eoforge extremes ...``: read files, run, write a run folder.

Each job takes a frozen config (saved as ``config.yaml``), writes its results atomically into the
run folder (``regions.nc``, ``summary.json``, ``figures/``, ``report.html``) and returns the
summary. The CLI only builds the config and prints.
"""

from __future__ import annotations

import glob
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import xarray as xr

from eoforge.core.atomic import atomic_write_json
from eoforge.core.config import RunConfig
from eoforge.core.errors import DataNotFoundError
from eoforge.core.progress import progress_bar
from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.extremes import plots
from eoforge.extremes.clustering.partitions import match_labels
from eoforge.extremes.data.files import (
    check_same_sites,
    load_maxima,
    regions_dataset,
    site_lonlat,
    write_regions,
)
from eoforge.extremes.data.maxima import SiteStack
from eoforge.extremes.ensemble import (
    Attribution,
    EnsembleRegions,
    attribute,
    regionalise_ensemble,
)
from eoforge.extremes.options import as_options, check_against_data, check_regions, check_simulate
from eoforge.extremes.regionalise import Regionalisation, regionalise
from eoforge.extremes.simulate.ensemble import simulate_ensemble
from eoforge.io.netcdf import write_dataset

Method = Literal["rfa-madogram", "fmadogram", "pwm-ratio"]
Rule = Literal["mean-dissimilarity", "co-association"]


class ClusterConfig(RunConfig):
    """Configuration of ``eoforge extremes cluster``."""

    input: str
    var: str = "pr"
    method: Method = "rfa-madogram"
    k: int | Literal["auto"] = "auto"
    k_min: int = 2
    k_max: int = 10
    min_years: int = 10
    min_common_years: int | None = None
    n_sim: int = 500
    scheduler: str | None = None


class _ConsensusSettings(RunConfig):
    """Settings shared by the multi-model jobs (consensus and attribution)."""

    var: str = "pr"
    method: Method = "rfa-madogram"
    rule: Rule = "mean-dissimilarity"
    k: int | Literal["auto"] = "auto"
    k_min: int = 2
    k_max: int = 10
    min_years: int = 10
    min_common_years: int | None = None


class EnsembleConfig(_ConsensusSettings):
    """Configuration of ``eoforge extremes consensus`` (one experiment, several models)."""

    inputs: list[str]


class AttributeConfig(_ConsensusSettings):
    """Configuration of ``eoforge extremes attribute`` (natural vs all forcings)."""

    natural: list[str]
    all_forcing: list[str]


def expand_inputs(patterns: Sequence[str], option: str = "INPUTS") -> list[str]:
    """Expand glob patterns (sorted) and check every file exists."""
    files: list[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if not matches:
            raise DataNotFoundError(f"{option}: no file matches {pattern!r}; check the pattern.")
        files.extend(matches)
    missing = [f for f in files if not Path(f).exists()]
    if missing:
        raise DataNotFoundError(f"{option}: {missing} do not exist; check the paths.")
    return files


def _k_range(cfg: ClusterConfig | EnsembleConfig | AttributeConfig) -> range:
    return range(cfg.k_min, cfg.k_max + 1)


def _check(cfg: ClusterConfig | EnsembleConfig | AttributeConfig) -> None:
    """Check every numeric and named setting before anything is read or written."""
    check_regions(
        k=cfg.k, k_min=cfg.k_min, k_max=cfg.k_max, min_years=cfg.min_years, method=cfg.method,
        rule=getattr(cfg, "rule", None), n_sim=getattr(cfg, "n_sim", None), seed=cfg.seed,
        min_common_years=cfg.min_common_years,
    )  # fmt: skip


def _check_data(
    cfg: ClusterConfig | EnsembleConfig | AttributeConfig, stack: SiteStack, path: str
) -> None:
    check_against_data(
        stack.values, path, k=cfg.k, k_min=cfg.k_min, k_max=cfg.k_max, min_years=cfg.min_years,
        min_common_years=cfg.min_common_years,
    )  # fmt: skip


def report_warnings(report: Report, warnings: Sequence[str]) -> None:
    """A "Warnings" section (first in the report) when the results need a caveat."""
    if warnings:
        report.section("Warnings")
        for w in warnings:
            report.add_text(f"warning: {w}")


_REASON_TEXT = {
    "infinite": "contain +/-inf",
    "all_missing": "have no value (e.g. ocean cells)",
    "too_few_years": "have fewer than --min-years maxima",
    "constant": "are constant",
    "too_few_common_years": "share fewer than --min-common-years years with other sites "
    "(the site in the most such pairs is masked until none is left)",
}


def report_masked(report: Report, reasons: dict[str, list[int]]) -> None:
    """One line per reason sites were masked, naming up to 20 site indices."""
    for reason, sites in reasons.items():
        if sites:
            shown = ", ".join(map(str, sites[:20])) + (", ..." if len(sites) > 20 else "")
            text = _REASON_TEXT.get(reason, reason)
            report.add_text(f"masked: {len(sites)} sites {text}: [{shown}].")


def _silhouette_figure(report: Report, run: RunDir, table: list[dict], k: int, name: str) -> None:
    if len(table) > 1:
        fig = plots.silhouette_curve([r["k"] for r in table], [r["silhouette"] for r in table], k)
        run.save_figure(fig, name)
        report.add_image_file(run.figures / f"{name}.png", "average silhouette width against K")


def report_regionalisation(
    report: Report, run: RunDir, res: Regionalisation, stack: SiteStack, title: str
) -> None:
    """Add the map, K table, heat map and per-region diagnostics of one partition."""
    lon, lat = site_lonlat(stack)
    report.section(title)
    report.add_text(
        f"{stack.n_sites} sites, {res.masked.size} masked, {stack.values.shape[0]} years; "
        f"method {res.method}; K = {res.k}."
    )
    report_masked(report, res.masked_reasons)
    run.save_figure(
        plots.region_map(res.labels, lon, lat, medoids=res.medoids, title=title), "regions"
    )
    report.add_image_file(run.figures / "regions.png", "regions (stars: medoid sites)")
    with warnings.catch_warnings():  # all-NaN (masked) sites give NaN, drawn blank
        warnings.simplefilter("ignore", RuntimeWarning)
        median = np.nanmedian(stack.values, axis=0)
    units = stack.units or "units not given in the file"
    fig = plots.field_map(median, lon, lat, label=f"median annual maximum ({units})")
    run.save_figure(fig, "median_maximum")
    report.add_image_file(run.figures / "median_maximum.png", "median annual maximum per site")
    _silhouette_figure(report, run, res.k_table, res.k, "silhouette")
    report.add_table(res.k_table, caption="choice of K (largest average silhouette)")
    rows = [
        {
            "region": r["region"],
            "sites": r["n_sites"],
            "medoid": r["medoid"],
            "H1": r.get("H1", float("nan")),
            "verdict": r.get("verdict", r.get("diagnostics_error", "")),
            "discordant": len(r.get("discordant_sites", [])),
        }
        for r in res.regions
    ]
    report.add_table(rows, caption="Hosking & Wallis heterogeneity H1 and discordant sites")
    if res.dissimilarity is not None and res.dissimilarity.shape[0] <= 3000:
        kept = res.labels[res.labels >= 0]
        fig = plots.dissimilarity_heatmap(
            res.dissimilarity,
            kept,
            title=f"{res.method}, by region",
            label=f"{res.method} dissimilarity (unitless)",
        )
        run.save_figure(fig, "dissimilarity")
        report.add_image_file(run.figures / "dissimilarity.png", "dissimilarity ordered by region")


def run_cluster(cfg: ClusterConfig, out: str | Path) -> dict:
    """Regionalise one file: writes regions.nc, summary.json, figures and report.html."""
    _check(cfg)
    stack = load_maxima(cfg.input, cfg.var)
    _check_data(cfg, stack, cfg.input)
    run = RunDir(out, cfg)
    with progress_bar("dissimilarity matrix") as progress, as_options():
        res = regionalise(
            stack.values,
            method=cfg.method,
            k=cfg.k,
            k_range=_k_range(cfg),
            min_years=cfg.min_years,
            min_common_years=cfg.min_common_years,
            n_sim=cfg.n_sim,
            random_state=cfg.seed,
            progress=progress,
            scheduler=cfg.scheduler,
        )
    ds = regions_dataset(stack, res.labels, res.medoids, attrs={"method": res.method, "k": res.k})
    write_regions(ds, run.file("regions.nc"))
    summary = res.summary()
    atomic_write_json(run.file("summary.json"), summary)
    run.save_metrics({"k": res.k, "best_silhouette": max(r["silhouette"] for r in res.k_table)})
    report = Report("eoforge extremes cluster", f"input {cfg.input}")
    report_warnings(report, res.warnings)
    report_regionalisation(report, run, res, stack, "Regions")
    report.section("Configuration").add_config(cfg)
    report.write(run.file("report.html"))
    run.write_manifest()
    return summary


def _load_ensemble(cfg: EnsembleConfig | AttributeConfig, files: Sequence[str]) -> list[SiteStack]:
    """Read and check every model's maxima; all must be on the grid of the first file."""
    stacks = []
    for f in files:
        stacks.append(load_maxima(f, cfg.var))
        _check_data(cfg, stacks[-1], f)
    check_same_sites(stacks, files)
    return stacks


def _ensemble(
    cfg: EnsembleConfig | AttributeConfig,
    stacks: Sequence[SiteStack],
    files: Sequence[str],
    label: str,
) -> tuple[EnsembleRegions, SiteStack]:
    names = [Path(f).stem for f in files]
    with progress_bar(f"models ({label})", total=len(names)) as progress, as_options():
        ens = regionalise_ensemble(
            (s.values for s in stacks),
            names,
            method=cfg.method,
            k=cfg.k,
            k_range=_k_range(cfg),
            rule=cfg.rule,
            min_years=cfg.min_years,
            min_common_years=cfg.min_common_years,
            random_state=cfg.seed,
            on_member=progress,
        )
    return ens, stacks[0]


def report_ensemble(
    report: Report, run: RunDir, ens: EnsembleRegions, stack: SiteStack, tag: str
) -> None:
    """Consensus map, member maps and agreement table of one experiment."""
    lon, lat = site_lonlat(stack)
    report.section(f"Consensus regions ({tag})")
    n = len(ens.names)
    spread = (
        f"mean pairwise ARI between models {ens.spread():.3f}"
        if n > 1
        else "one model only: no agreement between models to measure"
    )
    report.add_text(
        f"{n} model{'s' if n > 1 else ''}; consensus rule {ens.rule}; "
        f"K = {int(ens.consensus.max()) + 1}; {spread}."
    )
    report_masked(report, ens.masked_reasons())
    fig = plots.region_map(
        ens.consensus, lon, lat, medoids=ens.consensus_medoids, title=f"consensus ({tag})"
    )
    run.save_figure(fig, f"consensus_{tag}")
    report.add_image_file(run.figures / f"consensus_{tag}.png", f"consensus regions, {tag}")
    parts = [match_labels(ens.consensus, m.labels) for m in ens.members[:8]]
    run.save_figure(plots.maps_side_by_side(parts, ens.names[:8], lon, lat), f"members_{tag}")
    report.add_image_file(run.figures / f"members_{tag}.png", "single-model regions (first 8)")
    _silhouette_figure(report, run, ens.k_table, int(ens.consensus.max()) + 1, f"silhouette_{tag}")
    report.add_table(
        [
            {"model": n, "K": m.k, "ARI with consensus": a}
            for n, m, a in zip(ens.names, ens.members, ens.member_agreement, strict=True)
        ],
        caption="agreement of each model with the consensus",
    )


def _write_ensemble(run: RunDir, ens: EnsembleRegions, stack: SiteStack, name: str) -> None:
    extra = {"other_rule_region": ens.other_consensus.astype(float)}
    ds = regions_dataset(
        stack, ens.consensus, ens.consensus_medoids, attrs={"rule": ens.rule}, extra=extra
    )
    write_regions(ds, run.file(name))


def run_consensus(cfg: EnsembleConfig, out: str | Path) -> dict:
    """Consensus regions of several models of one experiment."""
    _check(cfg)
    files = expand_inputs(cfg.inputs)
    stacks = _load_ensemble(cfg, files)
    run = RunDir(out, cfg)
    ens, stack = _ensemble(cfg, stacks, files, "ensemble")
    _write_ensemble(run, ens, stack, "regions.nc")
    summary = ens.summary()
    atomic_write_json(run.file("summary.json"), summary)
    run.save_metrics(
        {"k": summary["k"], "mean_pairwise_member_ari": summary["mean_pairwise_member_ari"]}
    )
    report = Report("eoforge extremes consensus", f"{len(files)} models")
    report_warnings(report, ens.warnings)
    report_ensemble(report, run, ens, stack, "ensemble")
    report.section("Configuration").add_config(cfg)
    report.write(run.file("report.html"))
    run.write_manifest()
    return summary


def report_attribution(report: Report, run: RunDir, att: Attribution, stack: SiteStack) -> None:
    """Side-by-side maps, changed sites and the comparison table."""
    lon, lat = site_lonlat(stack)
    report.section("Natural vs all forcings")
    fig = plots.maps_side_by_side(
        [att.all_forcing.consensus, att.natural_matched], ["all forcings", "natural only"], lon, lat
    )
    run.save_figure(fig, "natural_vs_all")
    report.add_image_file(run.figures / "natural_vs_all.png", "consensus regions, matched labels")
    fig = plots.changed_sites_map(
        att.all_forcing.consensus, att.natural_matched, lon, lat, title="sites that change region"
    )
    run.save_figure(fig, "changed_sites")
    report.add_image_file(run.figures / "changed_sites.png", "sites whose region differs")
    s = att.summary()
    c = s["comparison_all_vs_natural"]
    spread = {
        k: "n/a (one model)" if v is None else v
        for k, v in s["within_experiment_mean_pairwise_ari"].items()
    }
    report.add_table(
        [
            {"quantity": "ARI all vs natural consensus", "value": c["ari"]},
            {"quantity": "variation of information (nats)", "value": c["vi"]},
            {"quantity": "sites that change region", "value": c["n_changed_after_matching"]},
            {"quantity": "share of sites changed", "value": c["share_changed"]},
            {
                "quantity": "mean pairwise ARI between models, all forcings",
                "value": spread["all_forcing"],
            },
            {"quantity": "mean pairwise ARI between models, natural", "value": spread["natural"]},
        ],
        caption="a forced change stands out when the consensus partitions differ more than "
        "models of one experiment differ among themselves",
    )


def run_attribute(cfg: AttributeConfig, out: str | Path) -> dict:
    """Regionalise the natural-only and all-forcing ensembles and compare their consensus."""
    _check(cfg)
    nat_files = expand_inputs(cfg.natural, "--natural")
    all_files = expand_inputs(cfg.all_forcing, "--all")
    nat_stacks = _load_ensemble(cfg, nat_files)
    all_stacks = _load_ensemble(cfg, all_files)
    check_same_sites([nat_stacks[0], all_stacks[0]], [nat_files[0], all_files[0]])
    run = RunDir(out, cfg)
    natural, stack = _ensemble(cfg, nat_stacks, nat_files, "natural")
    del nat_stacks
    all_forcing, _ = _ensemble(cfg, all_stacks, all_files, "all forcings")
    del all_stacks
    att = attribute(natural, all_forcing)
    _write_ensemble(run, all_forcing, stack, "regions_all_forcing.nc")
    _write_ensemble(run, natural, stack, "regions_natural.nc")
    summary = att.summary()
    atomic_write_json(run.file("summary.json"), summary)
    run.save_metrics({"ari_all_vs_natural": summary["comparison_all_vs_natural"]["ari"]})
    report = Report(
        "eoforge extremes attribute", f"{len(nat_files)} natural, {len(all_files)} all-forcing runs"
    )
    report_warnings(report, summary["warnings"])
    report_attribution(report, run, att, stack)
    report_ensemble(report, run, all_forcing, stack, "all")
    report_ensemble(report, run, natural, stack, "natural")
    report.section("Configuration").add_config(cfg)
    report.write(run.file("report.html"))
    run.write_manifest()
    return summary


def write_simulated_ensemble(
    out: str | Path,
    *,
    n_models: int = 6,
    n_years: int = 60,
    resolution: float = 10.0,
    seed: int = 0,
) -> list[Path]:
    """Write a synthetic ensemble as ``OUT/<experiment>_<model>.nc`` plus ``OUT/truth.nc``."""
    check_simulate(models=n_models, years=n_years, resolution=resolution, seed=seed)
    ens = simulate_ensemble(n_models, n_years, resolution=resolution, random_state=seed)
    out = Path(out)
    paths = []
    for exp, runs in ens.maxima.items():
        for da in runs:
            paths.append(write_dataset(da, out / f"{exp}_{da.attrs['model']}.nc"))
    truth = {f"truth_{exp.replace('-', '_')}": da for exp, da in ens.truth.items()}
    paths.append(write_dataset(xr.Dataset(truth), out / "truth.nc"))
    return paths
