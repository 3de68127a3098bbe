"""``eoforge extremes``: regionalisation of precipitation extremes (RFA-madogram)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from eoforge.cli._common import fail_on_error
from eoforge.core.atomic import refuse_existing
from eoforge.core.errors import InputError

app = typer.Typer(
    help="Regionalisation of precipitation extremes: RFA-madogram clustering, consensus, D&A.",
    no_args_is_help=True,
)

Var = Annotated[str, typer.Option(help="Variable name in the input files.")]
MethodOpt = Annotated[
    str, typer.Option(help="Dissimilarity: rfa-madogram, fmadogram or pwm-ratio.")
]
KOpt = Annotated[str, typer.Option("--k", help="Number of regions, or 'auto' (best silhouette).")]
KMin = Annotated[int, typer.Option(help="Smallest K tried when --k auto.")]
KMax = Annotated[int, typer.Option(help="Largest K tried when --k auto.")]
MinYears = Annotated[int, typer.Option(help="Sites with fewer finite maxima are masked.")]
MinCommon = Annotated[
    int | None,
    typer.Option(
        help="Years every pair of sites must share; sites in the most pairs that share fewer "
        "are masked until all do.  [default: --min-years]",
        show_default=False,
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of k-medoids and of the H1 simulations.")]
Out = Annotated[Path, typer.Option(help="Run folder to write.")]
Rule = Annotated[str, typer.Option(help="Consensus rule: mean-dissimilarity or co-association.")]


def _k(value: str) -> int | str:
    """``--k``: ``"auto"`` or a number of regions."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise InputError(
            f"--k must be 'auto' or an integer, got {value!r}; pass e.g. --k 4 or --k auto."
        ) from None


def _check(**options: Any) -> None:
    """Check the options before the config is built, so errors name them as typed."""
    # deferred (here and in the commands): the extremes wing loads xarray, dask and numba
    from eoforge.extremes.options import check_regions

    check_regions(**options)


def _warn(summary: dict[str, Any]) -> None:
    """Print the run's warnings on stderr."""
    for warning in summary.get("warnings", []):
        typer.secho(f"warning: {warning}", err=True, fg=typer.colors.YELLOW)


def _print(summary: dict[str, Any], keys: list[str]) -> None:
    """Print ``keys`` of the run summary as JSON, then its warnings."""
    typer.echo(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2, default=str))
    _warn(summary)


@app.command()
@fail_on_error
def cluster(
    input: Annotated[
        Path, typer.Argument(help="NetCDF file or Zarr store (daily or annual maxima).")
    ],
    out: Out = Path("runs/extremes-cluster"),
    var: Var = "pr",
    method: MethodOpt = "rfa-madogram",
    k: KOpt = "auto",
    k_min: KMin = 2,
    k_max: KMax = 10,
    min_years: MinYears = 10,
    min_common_years: MinCommon = None,
    n_sim: Annotated[int, typer.Option(help="Simulated regions for the H1 statistic.")] = 500,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="dask.distributed scheduler address for the matrix (default: this process)."
        ),
    ] = None,
    seed: Seed = 0,
) -> None:
    """Cluster the sites of INPUT into regions: writes regions.nc, summary.json, report.html."""
    from eoforge.extremes.jobs import ClusterConfig, run_cluster

    _check(k=_k(k), k_min=k_min, k_max=k_max, min_years=min_years, method=method, n_sim=n_sim,
           seed=seed, min_common_years=min_common_years)  # fmt: skip
    cfg = ClusterConfig.from_dict(
        dict(input=str(input), var=var, method=method, k=_k(k), k_min=k_min, k_max=k_max,
             min_years=min_years, min_common_years=min_common_years, n_sim=n_sim,
             scheduler=scheduler, seed=seed),
        source="command line",
    )  # fmt: skip
    summary = run_cluster(cfg, out)
    counts = {r: len(v) for r, v in summary["masked_sites"].items() if v}
    _print({**summary, "n_masked_by_reason": counts},
           ["k", "method", "n_sites", "n_masked", "n_masked_by_reason", "medoids"])  # fmt: skip
    typer.echo(f"report: {out / 'report.html'}")


@app.command()
@fail_on_error
def consensus(
    inputs: Annotated[list[str], typer.Argument(help="One file per model (globs allowed).")],
    out: Out = Path("runs/extremes-consensus"),
    var: Var = "pr",
    method: MethodOpt = "rfa-madogram",
    rule: Rule = "mean-dissimilarity",
    k: KOpt = "auto",
    k_min: KMin = 2,
    k_max: KMax = 10,
    min_years: MinYears = 10,
    min_common_years: MinCommon = None,
    seed: Seed = 0,
) -> None:
    """Consensus regions of several climate models on one grid."""
    from eoforge.extremes.jobs import EnsembleConfig, run_consensus

    _check(k=_k(k), k_min=k_min, k_max=k_max, min_years=min_years, method=method, rule=rule,
           seed=seed, min_common_years=min_common_years)  # fmt: skip
    cfg = EnsembleConfig.from_dict(
        dict(inputs=list(inputs), var=var, method=method, rule=rule, k=_k(k), k_min=k_min,
             k_max=k_max, min_years=min_years, min_common_years=min_common_years, seed=seed),
        source="command line",
    )  # fmt: skip
    summary = run_consensus(cfg, out)
    _print(summary, ["k", "rule", "n_common_sites", "mean_pairwise_member_ari"])
    typer.echo(f"report: {out / 'report.html'}")


@app.command()
@fail_on_error
def attribute(
    natural: Annotated[
        list[str], typer.Option(help="Natural-forcing runs (repeat the option; globs allowed).")
    ],
    all_forcing: Annotated[
        list[str], typer.Option("--all", help="All-forcing runs (repeat; globs allowed).")
    ],
    out: Out = Path("runs/extremes-attribute"),
    var: Var = "pr",
    method: MethodOpt = "rfa-madogram",
    rule: Rule = "mean-dissimilarity",
    k: KOpt = "auto",
    k_min: KMin = 2,
    k_max: KMax = 10,
    min_years: MinYears = 10,
    min_common_years: MinCommon = None,
    seed: Seed = 0,
) -> None:
    """Compare the consensus regions of natural-only and all-forcing runs (D&A)."""
    from eoforge.extremes.jobs import AttributeConfig, run_attribute

    _check(k=_k(k), k_min=k_min, k_max=k_max, min_years=min_years, method=method, rule=rule,
           seed=seed, min_common_years=min_common_years)  # fmt: skip
    cfg = AttributeConfig.from_dict(
        dict(natural=list(natural), all_forcing=list(all_forcing), var=var, method=method,
             rule=rule, k=_k(k), k_min=k_min, k_max=k_max, min_years=min_years,
             min_common_years=min_common_years, seed=seed),
        source="command line",
    )  # fmt: skip
    summary = run_attribute(cfg, out)
    cmp = summary["comparison_all_vs_natural"]
    typer.echo(
        f"all vs natural: ARI {cmp['ari']:.3f}, VI {cmp['vi']:.3f} nats, "
        f"{cmp['n_changed_after_matching']} of {cmp['n_sites']} sites change region"
    )
    _warn(summary)
    typer.echo(f"report: {out / 'report.html'}")


@app.command()
@fail_on_error
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for the NetCDF files.")] = Path(
        "data/extremes-sim"
    ),
    models: Annotated[int, typer.Option(help="Models per experiment.")] = 6,
    years: Annotated[int, typer.Option(help="Years of annual maxima.")] = 60,
    resolution: Annotated[float, typer.Option(help="Grid spacing in degrees.")] = 10.0,
    seed: Seed = 0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace the files of an existing, non-empty --out folder.")
    ] = False,
) -> None:
    """Write a synthetic two-experiment ensemble (historical, hist-nat) with its true regions."""
    from eoforge.extremes.jobs import write_simulated_ensemble

    if not overwrite and out.is_dir() and any(out.iterdir()):
        refuse_existing(out)

    paths = write_simulated_ensemble(
        out, n_models=models, n_years=years, resolution=resolution, seed=seed
    )
    typer.echo(f"wrote {len(paths)} files to {out}")
