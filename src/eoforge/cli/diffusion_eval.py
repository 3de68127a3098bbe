"""``eoforge diffusion evaluate`` and ``eoforge diffusion compare-samplers``.

Registered on the diffusion sub-app with :func:`register`; the commands only parse, call
:func:`eoforge.diffusion.evaluation.evaluate.run_evaluate` / :func:`eoforge.diffusion.evaluation.compare.run_compare`
and print.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from eoforge.cli._common import fail_on_error, named_as_typed
from eoforge.core.errors import InputError
from eoforge.core.progress import progress_bar

#: How compare-samplers' errors name what the user typed.
NAMES = {
    "steps": "--configs steps", "batch_size": "--batch-size", "n": "--n", "kind": "--kind",
    "configs": "--configs", "features": "--features", "seed": "--seed",
}  # fmt: skip

Reference = Annotated[
    Path,
    typer.Option(
        help="Reference images (.npy, .npz or .zarr, (N, H, W)) in physical units, e.g. "
        "held-out data."
    ),
]
Seed = Annotated[int, typer.Option(help="Seed of the initial noise and the KID subsets.")]
Features = Annotated[
    str | None,
    typer.Option(
        help="FID/KID/PR feature extractor: ssl (the shipped SSL encoder; default when "
        "installed, else random with a warning), random (fixed random conv net), or the path "
        "of an SSL pre-training run folder or exported encoder (.safetensors)."
    ),
]


def _parse_configs(text: str | None) -> list[tuple[str, int]] | None:
    """``"ddpm:1000,ddim:20"`` -> ``[("ddpm", 1000), ("ddim", 20)]``."""
    if text is None:
        return None
    out = []
    for item in text.split(","):
        name, _, steps = item.strip().partition(":")
        if not name or not steps.isdigit():
            raise InputError(
                f"--configs entry {item!r} must look like SAMPLER:STEPS with STEPS a positive "
                "int, e.g. 'dpm++:20'."
            )
        out.append((name, int(steps)))
    return out


@fail_on_error
def evaluate(
    samples: Annotated[Path, typer.Argument(help="Generated images (.npy, .npz or .zarr).")],
    reference: Reference,
    kind: Annotated[
        str, typer.Option(help="sar (linear intensity) or insar (phase in radians).")
    ] = "sar",
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path(
        "runs/diffusion-evaluate"
    ),
    training: Annotated[
        Path | None,
        typer.Option(help="Training images: adds the memorisation check (default: none)."),
    ] = None,
    features: Features = None,
    seed: Seed = 0,
) -> None:
    """SAR/InSAR statistics and FID/KID/precision/recall of SAMPLES against --reference."""
    # deferred (here and in compare_samplers): torch and diffusers load only when it runs
    from eoforge.diffusion.evaluation.evaluate import run_evaluate

    metrics = run_evaluate(
        samples, reference, out, kind=kind, training=training, features=features, seed=seed
    )
    typer.echo(json.dumps(metrics, indent=2))
    typer.echo(f"report: {out / 'report.html'}")


@fail_on_error
def compare_samplers(
    run: Annotated[Path, typer.Argument(help="Folder of a trained diffusion run.")],
    reference: Reference,
    out: Annotated[Path, typer.Option(help="Run folder to write.")] = Path(
        "runs/diffusion-compare"
    ),
    n: Annotated[int, typer.Option(help="Samples per sampler configuration.")] = 64,
    configs: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated SAMPLER:STEPS (first = reference), e.g. "
            "'ddpm:1000,dpm++:20,rebuilt-ddim:20'; steps must not exceed the run's T. "
            "Default: the paper's comparison with DDPM over all T trained steps first."
        ),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="sar or insar (default: from the trained run).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Samples per sampler call.")] = 64,
    no_features: Annotated[
        bool, typer.Option("--no-features", help="Skip FID/KID/precision/recall.")
    ] = False,
    features: Features = None,
    seed: Seed = 0,
) -> None:
    """Quality versus NFE of several samplers on one trained model (table and plot)."""
    from eoforge.diffusion.evaluation.compare import CompareConfig, format_table, run_compare

    fields: dict[str, Any] = dict(run=str(run), reference=str(reference), kind=kind, n=n,
                                  batch_size=batch_size, feature_space=not no_features,
                                  features=features, seed=seed)  # fmt: skip
    parsed = _parse_configs(configs)
    if parsed is not None:
        fields["configs"] = parsed
    cfg = CompareConfig.from_dict(fields, source="the command line", names=NAMES)
    n_configs = len(cfg.configs) if cfg.configs else None
    with progress_bar("samplers", total=n_configs) as progress, named_as_typed(NAMES):
        rows = run_compare(cfg, out, progress=progress)
    typer.echo(format_table(rows))
    typer.echo(f"report: {out / 'report.html'}")


def register(app: typer.Typer) -> None:
    """Add ``evaluate`` and ``compare-samplers`` to the ``eoforge diffusion`` app."""
    app.command()(evaluate)
    app.command("compare-samplers")(compare_samplers)
