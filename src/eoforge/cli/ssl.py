"""``eoforge ssl``: curated DINO pre-training of SAR encoders, probes and embeddings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from eoforge.cli._common import fail_on_error

app = typer.Typer(
    help="Self-supervised SAR encoders: DINO with dynamic curation, probes, embeddings.",
    no_args_is_help=True,
)

Data = Annotated[
    Path, typer.Option(help="WV data set (a store written by `eoforge sar synth-wv`).")
]
RunArg = Annotated[Path, typer.Argument(help="Pre-training run folder.")]


def _n_clusters(value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise typer.BadParameter(f"--n-clusters must look like '64,8', got {value!r}.") from None


@app.command()
@fail_on_error
def pretrain(
    data: Data,
    out: Annotated[Path, typer.Option(help="Run folder (resumes if it holds a checkpoint).")],
    curation: Annotated[
        str, typer.Option(help="none, random, random-redrawn, static or dynamic.")
    ] = "dynamic",
    config: Annotated[
        Path | None, typer.Option(help="YAML SSLConfig; options given here override it.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    encoder: Annotated[
        str | None, typer.Option(help="vit-tiny/8, vit-tiny/16, vit-small/8, vit-small/16, resnet.")
    ] = None,
    encoder_dim: Annotated[int | None, typer.Option(help="Override the ViT width.")] = None,
    encoder_depth: Annotated[int | None, typer.Option(help="Override the ViT depth.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Per-device batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Base learning rate per 256 images.")] = None,
    devices: Annotated[int | None, typer.Option(help="Devices/processes per node (DDP).")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Machines (multi-node DDP).")] = None,
    accelerator: Annotated[str | None, typer.Option(help="auto, cpu or gpu.")] = None,
    global_size: Annotated[int | None, typer.Option(help="Global crop size (pixels).")] = None,
    local_size: Annotated[int | None, typer.Option(help="Local crop size (pixels).")] = None,
    n_local_crops: Annotated[int | None, typer.Option(help="Local crops per image.")] = None,
    ratio: Annotated[float | None, typer.Option(help="Curation: kept fraction rho.")] = None,
    warmup_epochs: Annotated[
        int | None, typer.Option(help="Curation: full-data warm-up epochs T_w.")
    ] = None,
    refresh_every: Annotated[int | None, typer.Option(help="Curation: refresh period T_s.")] = None,
    n_clusters: Annotated[
        str | None, typer.Option(help="Curation: cluster counts per level, e.g. '64,8'.")
    ] = None,
    eta: Annotated[
        float | None, typer.Option(help="Curation: share of each quota closest to centroid.")
    ] = None,
    pool_size: Annotated[int | None, typer.Option(help="Curation: items clustered.")] = None,
    num_workers: Annotated[int | None, typer.Option(help="DataLoader workers.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of everything random.")] = None,
) -> None:
    """Pre-train an encoder with DINO on DATA; writes the run folder OUT."""
    from eoforge.core.progress import progress_bar
    from eoforge.ssl.pretrain import SSLConfig
    from eoforge.ssl.pretrain import pretrain as run_pretrain

    base = SSLConfig.load(config) if config is not None else SSLConfig()
    cur = base.curation.updated(
        mode=curation, ratio=ratio, warmup_epochs=warmup_epochs, refresh_every=refresh_every,
        n_clusters=_n_clusters(n_clusters), eta=eta, pool_size=pool_size, seed=seed,
    )  # fmt: skip
    cfg = base.updated(
        data=str(data), epochs=epochs, encoder=encoder, encoder_dim=encoder_dim,
        encoder_depth=encoder_depth, batch_size=batch_size, lr=lr, devices=devices,
        num_nodes=num_nodes, accelerator=accelerator, global_size=global_size,
        local_size=local_size, n_local_crops=n_local_crops, num_workers=num_workers, seed=seed,
        curation=cur,
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
    data: Data,
    test_fraction: Annotated[float, typer.Option(help="Share of the test split.")] = 0.3,
    knn_k: Annotated[int, typer.Option(help="Neighbours of the kNN probe.")] = 20,
    seed: Annotated[int, typer.Option(help="Split seed.")] = 0,
) -> None:
    """Linear and kNN probes of RUN's frozen teacher on DATA; writes RUN/probe.json."""
    from eoforge.ssl.probe import probe_run

    res = probe_run(run, data, test_fraction=test_fraction, knn_k=knn_k, seed=seed)
    typer.echo(json.dumps(res, indent=2))


@app.command()
@fail_on_error
def embed(
    run: RunArg,
    data: Data,
    out: Annotated[Path, typer.Option(help="Zarr store to write (e.g. E.zarr).")],
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 256,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing OUT.")
    ] = False,
) -> None:
    """Embed DATA with RUN's teacher backbone into a Zarr store."""
    from eoforge.core.atomic import refuse_existing
    from eoforge.core.progress import progress_bar
    from eoforge.ssl.embed import embed_dataset

    if not overwrite:
        refuse_existing(out)

    with progress_bar("embedding") as progress:
        path = embed_dataset(run, data, out, batch_size=batch_size, progress=progress)
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
    from eoforge.core.atomic import refuse_existing
    from eoforge.nn.frozen import encoder_pair
    from eoforge.ssl.export import export_encoder

    if not overwrite:
        refuse_existing(*encoder_pair(out))
    weights, meta = export_encoder(run, out, command=command)
    typer.echo(f"encoder: {weights}\nmetadata: {meta}")
