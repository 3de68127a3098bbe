"""``eoforge diffusion``: train diffusion models on SAR/InSAR images and sample from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from eoforge.cli._common import fail_on_error, named_as_typed
from eoforge.cli._options import Device, FormerData, either, precision_option, required_input
from eoforge.cli.diffusion_eval import register
from eoforge.core.errors import bad_value
from eoforge.core.progress import progress_bar

app = typer.Typer(
    help="Diffusion models for SAR/InSAR images: train, sample (evaluate, compare-samplers).",
    no_args_is_help=True,
)

_PREDICTIONS = {"eps": "epsilon", "epsilon": "epsilon", "v": "v"}


@app.command()
@fail_on_error
def train(
    data: Annotated[
        Path | None,
        typer.Argument(
            help=".npy (images), .npz or .zarr (images, optional labels) file.",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Run folder (the same command on it again resumes the run).")
    ] = Path("runs/diffusion"),
    config: Annotated[
        Path | None, typer.Option(help="YAML DiffusionConfig to start from (options override).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            help="sar (linear intensity -> dB) or identity (as given).", show_default="sar"
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.", show_default="1000")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Images per micro-batch.", show_default="8")
    ] = None,
    accumulate: Annotated[
        int | None, typer.Option(help="Micro-batches per step.", show_default="1")
    ] = None,
    size: Annotated[
        int | None,
        typer.Option(help="Train on centre crops of this side (pixels; default: the images')."),
    ] = None,
    learned_variance: Annotated[
        bool | None,
        typer.Option(
            "--learned-variance/--fixed-variance", help="Learned-range variance + hybrid loss."
        ),
    ] = None,
    prediction: Annotated[
        str | None, typer.Option(help="What the network predicts: eps or v.", show_default="v")
    ] = None,
    class_cond: Annotated[bool, typer.Option(help="Condition on the data's labels.")] = False,
    timesteps: Annotated[
        int | None, typer.Option(help="Diffusion length T.", show_default="1000")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="AdamW learning rate.", show_default="1e-4")
    ] = None,
    ema_decay: Annotated[
        float | None, typer.Option(help="EMA decay of the weights.", show_default="0.9999")
    ] = None,
    checkpoint_every: Annotated[
        int | None,
        typer.Option(help="Steps between checkpoints (0: only at the end).", show_default="500"),
    ] = None,
    sample_every: Annotated[
        int | None, typer.Option(help="Steps between sample grids (0: at the end).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of weights, batches and noise.", show_default="0")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Resume from OUT's last checkpoint (--no-resume: start over).")
    ] = True,
    device: Device = None,
    precision: Annotated[str | None, precision_option("auto")] = None,
    data_option: FormerData = None,
    image_size: Annotated[int | None, typer.Option("--image-size", hidden=True)] = None,
) -> None:
    """Train a diffusion model on DATA; writes the run folder OUT.

    One device: the images are held on it and every batch, timestep and noise draw is made
    there, so no data-loading workers are needed.
    """
    # deferred (here and in `sample`): torch and diffusers load only when a command runs
    from eoforge.diffusion.training.train import DiffusionConfig, run_train

    if prediction is not None and prediction not in _PREDICTIONS:
        raise bad_value("--prediction", prediction, "eps or v")
    data = required_input(data, data_option, "DATA")
    size = either(size, image_size, "--size", "--image-size")
    base = DiffusionConfig.load(config) if config is not None else None
    with progress_bar("training", steps) as progress:
        path, _ = run_train(
            data, out, base=base, class_cond=class_cond, image_size=size,
            learned_variance=learned_variance, resume=resume, progress=progress, kind=kind,
            steps=steps, batch_size=batch_size, accumulate=accumulate,
            prediction=_PREDICTIONS.get(prediction or ""), num_timesteps=timesteps, lr=lr,
            ema_decay=ema_decay, checkpoint_every=checkpoint_every, sample_every=sample_every,
            seed=seed, accelerator=device, precision=precision,
        )  # fmt: skip
    metrics = json.loads((path / "metrics.json").read_text())
    typer.echo(json.dumps(metrics, indent=2))
    typer.echo(f"run: {path}")


@app.command()
@fail_on_error
def sample(
    run: Annotated[Path, typer.Argument(help="Run folder written by `eoforge diffusion train`.")],
    out: Annotated[Path, typer.Option(help="Output .npy or .zarr (plus .png grid, .json).")] = Path(
        "samples.npy"
    ),
    n: Annotated[int, typer.Option(help="Number of images.")] = 16,
    sampler: Annotated[str, typer.Option(help="ddpm, ddim, dpm++ or heun.")] = "dpm++",
    sample_steps: Annotated[
        int, typer.Option(help="Sampling steps (the sampler's NFE is this or twice it for heun).")
    ] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the noise.")] = 0,
    class_label: Annotated[
        int | None, typer.Option(help="Class of every image (default: classes in turn).")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Images per model call.")] = 64,
    weights: Annotated[str, typer.Option(help="ema or model.")] = "ema",
    clip_denoised: Annotated[
        float | None, typer.Option(help="Clamp x0 estimates to [-c, c] (model domain).")
    ] = None,
) -> None:
    """Sample N images from RUN in physical units and save them to OUT."""
    from eoforge.diffusion.generate import generate

    names = {"steps": "--sample-steps", "batch_size": "--batch-size", "n": "--n",
             "sampler": "--sampler", "weights": "--weights", "class_label": "--class-label",
             "clip_denoised": "--clip-denoised"}  # fmt: skip
    with progress_bar("sampling", n) as progress, named_as_typed(names):
        images = generate(
            run, n, sampler, sample_steps, seed, class_label, out=out, batch_size=batch_size,
            weights=weights, clip_denoised=clip_denoised, progress=progress,
        )  # fmt: skip
    meta = json.loads(out.with_suffix(".json").read_text())
    typer.echo(
        f"{images.shape[0]} images {tuple(images.shape[1:])} -> {out} "
        f"(NFE {meta['nfe']}, {meta['seconds_per_sample']:.4f} s/sample)"
    )


register(app)  # `evaluate` and `compare-samplers`, after train and sample in --help
