"""``eoforge ssl``: curated DINO pre-training of SAR encoders, probes and embeddings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from eoforge.cli._common import fail_on_error
from eoforge.cli._options import (
    Device,
    Devices,
    FormerData,
    FormerDevice,
    FormerWorkers,
    Overwrite,
    Workers,
    either,
    int_list,
    precision_option,
    required_input,
)
from eoforge.core.atomic import refuse_existing
from eoforge.core.progress import progress_bar

app = typer.Typer(
    help="Self-supervised SAR encoders: DINO with dynamic curation, probes, embeddings.",
    no_args_is_help=True,
)

DataArg = Annotated[
    Path | None,
    typer.Argument(
        help="WV data set (a store written by `eoforge sar synth-wv` or `sar import`).",
        show_default=False,
    ),
]
RunArg = Annotated[Path, typer.Argument(help="Pre-training run folder.")]
BatchSize = Annotated[int, typer.Option(min=1, help="Images per forward pass.")]


@app.command()
@fail_on_error
def pretrain(
    data: DataArg = None,
    out: Annotated[
        Path, typer.Option(help="Run folder (the same command on it again resumes the run).")
    ] = Path("runs/dino"),
    curation: Annotated[
        str, typer.Option(help="none, random, random-redrawn, static or dynamic.")
    ] = "dynamic",
    config: Annotated[
        Path | None, typer.Option(help="YAML SSLConfig; options given here override it.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.", show_default="20")] = None,
    encoder: Annotated[
        str | None,
        typer.Option(
            help="vit-tiny/8, vit-tiny/16, vit-small/8, vit-small/16 or resnet.",
            show_default="vit-tiny/8",
        ),
    ] = None,
    encoder_dim: Annotated[
        int | None, typer.Option(help="ViT width (default: the encoder's).")
    ] = None,
    encoder_depth: Annotated[
        int | None, typer.Option(help="ViT depth (default: the encoder's).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Images per device and step.", show_default="64")
    ] = None,
    lr: Annotated[
        float | None, typer.Option(help="Base learning rate per 256 images.", show_default="5e-4")
    ] = None,
    device: Device = None,
    devices: Devices = None,
    num_nodes: Annotated[
        int | None, typer.Option(help="Machines (multi-node DDP).", show_default="1")
    ] = None,
    precision: Annotated[str | None, precision_option("auto")] = None,
    global_size: Annotated[
        int | None, typer.Option(help="Global crop size (pixels).", show_default="32")
    ] = None,
    local_size: Annotated[
        int | None, typer.Option(help="Local crop size (pixels).", show_default="16")
    ] = None,
    n_local_crops: Annotated[
        int | None, typer.Option(help="Local crops per image.", show_default="4")
    ] = None,
    ratio: Annotated[
        float | None, typer.Option(help="Curation: kept fraction rho.", show_default="0.5")
    ] = None,
    warmup_epochs: Annotated[
        int | None, typer.Option(help="Curation: full-data warm-up epochs T_w.", show_default="2")
    ] = None,
    refresh_every: Annotated[
        int | None, typer.Option(help="Curation: refresh period T_s (epochs).", show_default="2")
    ] = None,
    n_clusters: Annotated[
        str | None, typer.Option(help="Curation: cluster counts per level.", show_default="64,8")
    ] = None,
    eta: Annotated[
        float | None,
        typer.Option(help="Curation: share of each quota closest to centroid.", show_default="0.0"),
    ] = None,
    pool_size: Annotated[
        int | None, typer.Option(help="Curation: items clustered (default: all).")
    ] = None,
    workers: Workers = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of everything random.", show_default="0")
    ] = None,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Read DATA chunk by chunk instead of loading it (default: when DATA is several "
            "stores or more than 200,000 imagettes).",
            show_default=False,
        ),
    ] = None,
    data_option: FormerData = None,
    accelerator: FormerDevice = None,
    num_workers: FormerWorkers = None,
) -> None:
    """Pre-train an encoder with DINO on DATA; writes the run folder OUT.

    DATA may list several Zarr stores separated by commas (a.zarr,b.zarr): they are streamed.
    """
    # deferred (here and below): torch and Lightning load only when a command runs
    from eoforge.ssl.pretrain import OPTIONS, SSLConfig
    from eoforge.ssl.pretrain import pretrain as run_pretrain

    data = required_input(data, data_option, "DATA")
    device = either(device, accelerator, "--device", "--accelerator")
    workers = either(workers, num_workers, "--workers", "--num-workers")
    base = SSLConfig.load(config) if config is not None else SSLConfig()
    cur = base.curation.updated(
        mode=curation, ratio=ratio, warmup_epochs=warmup_epochs, refresh_every=refresh_every,
        n_clusters=int_list(n_clusters, "--n-clusters", "64,8"), eta=eta, pool_size=pool_size, seed=seed,
        names={k.removeprefix("curation."): v for k, v in OPTIONS.items()},
    )  # fmt: skip
    cfg = base.updated(
        data=str(data), epochs=epochs, encoder=encoder, encoder_dim=encoder_dim,
        encoder_depth=encoder_depth, batch_size=batch_size, lr=lr, devices=devices,
        num_nodes=num_nodes, accelerator=device, precision=precision, global_size=global_size,
        local_size=local_size, n_local_crops=n_local_crops, num_workers=workers, seed=seed,
        curation=cur, stream=stream, names=OPTIONS,
    )  # fmt: skip
    with progress_bar("DINO pre-training (epochs)", cfg.epochs) as progress:
        run = run_pretrain(cfg, data, out, progress=progress)
    metrics = json.loads((run / "metrics.json").read_text())
    final = metrics.get("final", {})
    typer.echo(json.dumps({
        "epochs_done": metrics["epochs_done"], "images_seen": metrics["images_seen"],
        "loss": final.get("loss"), "teacher_entropy": final.get("teacher_entropy"),
        "embedding_std": final.get("embedding_std"),
    }, indent=2))  # fmt: skip
    typer.echo(f"run: {run}")


@app.command()
@fail_on_error
def probe(
    run: RunArg,
    data: DataArg = None,
    test_fraction: Annotated[float, typer.Option(help="Share of the test split.")] = 0.3,
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN probe.")] = 20,
    seed: Annotated[int, typer.Option(help="Split seed (and seed of the --max-items draw).")] = 0,
    max_items: Annotated[
        int,
        typer.Option(
            min=1, help="Items probed: a larger DATA is probed on this many drawn uniformly."
        ),
    ] = 100_000,
    batch_size: BatchSize = 256,
    device: Device = None,
    workers: Workers = None,
    data_option: FormerData = None,
) -> None:
    """Linear and kNN probes of RUN's frozen teacher on DATA; writes RUN/probe.json.

    Zarr stores (several: a.zarr,b.zarr) are read chunk by chunk, in bounded memory.
    """
    data = required_input(data, data_option, "DATA")
    from eoforge.ssl.probe import probe_run

    with progress_bar("embedding") as progress:
        res = probe_run(run, data, test_fraction=test_fraction, knn_k=knn_k, seed=seed,
                        max_items=max_items, batch_size=batch_size, device=device or "auto",
                        workers=workers or 0, progress=progress)  # fmt: skip
    typer.echo(json.dumps(res, indent=2))


@app.command()
@fail_on_error
def embed(
    run: RunArg,
    data: DataArg = None,
    out: Annotated[
        Path, typer.Option(help="Zarr store to write (a folder such as emb.zarr).")
    ] = Path("emb.zarr"),
    batch_size: BatchSize = 256,
    device: Device = None,
    workers: Workers = None,
    overwrite: Overwrite = False,
    data_option: FormerData = None,
) -> None:
    """Embed DATA with RUN's teacher backbone into a Zarr store.

    Zarr stores (several: a.zarr,b.zarr) are read chunk by chunk and OUT is written chunk by
    chunk, in bounded memory; OUT appears only once complete.
    """
    data = required_input(data, data_option, "DATA")
    from eoforge.ssl.embed import embed_dataset

    if not overwrite:
        refuse_existing(out)

    with progress_bar("embedding") as progress:
        path = embed_dataset(run, data, out, batch_size=batch_size, device=device or "auto",
                             workers=workers or 0, progress=progress)  # fmt: skip
    typer.echo(f"embeddings: {path}")


@app.command()
@fail_on_error
def export(
    run: RunArg,
    out: Annotated[
        Path, typer.Option(help="Stem of the pair to write: OUT.safetensors and OUT.json.")
    ],
    command: Annotated[
        str | None, typer.Option(help="Command that produced RUN (recorded in OUT.json).")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT pair.")
    ] = False,
) -> None:
    """Export RUN's teacher backbone and normaliser as a small encoder file pair."""
    from eoforge.nn.frozen import encoder_pair
    from eoforge.ssl.export import export_encoder

    if not overwrite:
        refuse_existing(*encoder_pair(out))
    weights, meta = export_encoder(run, out, command=command)
    typer.echo(f"encoder: {weights}\nmetadata: {meta}")
