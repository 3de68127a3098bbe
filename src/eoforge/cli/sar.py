"""``eoforge sar``: SAR data tools (synthetic wave-mode imagettes, readers, store summaries)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from eoforge.cli._common import fail_on_error
from eoforge.cli._options import Overwrite
from eoforge.core.atomic import refuse_existing
from eoforge.core.progress import progress_bar
from eoforge.sar.codec import ENCODINGS

app = typer.Typer(
    help="SAR data tools: synthetic Sentinel-1 WV imagettes, folders of real imagettes, stores.",
    no_args_is_help=True,
)


def _summary(summary: dict[str, Any]) -> str:
    """Plain-text table of class counts and target ranges (from ``store.summarise``)."""
    n = summary["n"]
    lines = [f"{'class':<24}{'count':>8}{'share':>9}"]
    for name, c in zip(summary["classes"], summary["class_counts"], strict=True):
        lines.append(f"{name:<24}{c:>8}{c / max(n, 1):>9.1%}")
    if summary["unlabelled"]:
        u = summary["unlabelled"]
        lines.append(f"{'(unlabelled)':<24}{u:>8}{u / n:>9.1%}")
    lines.append(f"{'total':<24}{n:>8}")
    lines.append(
        f"imagettes: {n} of {summary['height']}x{summary['width']} pixels, {summary['dtype']}"
        + (
            f" ({summary['encoding']} dB)"
            if summary.get("encoding", "float32") != "float32"
            else ""
        )
    )
    lines.append(f"near-duplicates: {summary['near_duplicates']}")
    if summary.get("incidence") and len(summary["incidence"]) > 4:  # real data: one per imagette
        angles = list(summary["incidence"])
        lines.append(f"incidence: {len(angles)} angles, {min(angles):.2f} to {max(angles):.2f} deg")
    elif summary.get("incidence"):
        beams = ", ".join(f"{a:g} deg: {c}" for a, c in summary["incidence"].items())
        lines.append(f"incidence: {beams}")
    for name, unit in (("wind_speed", "m/s"), ("hs", "m")):
        r = summary[name]
        text = f"{r[0]:.2f} to {r[2]:.2f} {unit} (median {r[1]:.2f})" if r else "unknown"
        lines.append(f"{name}: {text}")
    return "\n".join(lines)


def _encoding(encoding: str, db_range: str) -> dict[str, Any]:
    """``--encoding`` and ``--db-range`` as ``save_wv`` arguments (refused with the option)."""
    if encoding not in ENCODINGS:
        raise typer.BadParameter(
            f"--encoding must be one of {', '.join(ENCODINGS)}, got {encoding!r}."
        )
    try:
        lo, hi = (float(v) for v in db_range.split(","))
    except ValueError:
        lo = hi = float("nan")
    if not lo < hi:
        raise typer.BadParameter(
            f"--db-range must be LO,HI dB with LO < HI (e.g. -60,10), got {db_range!r}."
        )
    return {"encoding": encoding, "db_range": (lo, hi)}


StoreOut = Annotated[Path, typer.Option(help="Output store (.zarr or .nc).")]
Encoding = Annotated[
    str,
    typer.Option(
        help="Stored images: float32 (linear, exact), float16 (dB, <= 0.016 dB error) or uint8 "
        "(dB quantised over --db-range, error <= step/2)."
    ),
]
DbRange = Annotated[str, typer.Option(help="LO,HI dB range of --encoding uint8 (clipped).")]
SampleChunk = Annotated[
    int | None,
    typer.Option(
        help="Imagettes per Zarr chunk (streaming reads whole chunks; default ~16 MiB).", min=1
    ),
]


@app.command("synth-wv")
@fail_on_error
def synth_wv(
    n: Annotated[int, typer.Option(help="Number of imagettes (near-duplicates included).")] = 1000,
    size: Annotated[int, typer.Option(help="Pixels per side.")] = 64,
    seed: Annotated[int, typer.Option(help="Seed of the generator.")] = 0,
    out: StoreOut = Path("wv.zarr"),
    prior: Annotated[str, typer.Option(help="Class prior: long-tail or uniform.")] = "long-tail",
    duplicate_fraction: Annotated[float, typer.Option(help="Share of near-copies.")] = 0.05,
    looks: Annotated[
        int,
        typer.Option(
            help="Speckle looks (ENL). 16 is the speckle of a 50 m pixel averaged from 5 m "
            "single-look WV data (16-64 is realistic there); 1 gives single-look speckle."
        ),
    ] = 16,
    pixel_size: Annotated[float, typer.Option(help="Pixel spacing in metres.")] = 50.0,
    incidence: Annotated[
        str, typer.Option(help="Incidence angle(s) in deg: 36.5 (WV2), or 23.5,36.5 (both beams).")
    ] = "36.5",
    examples: Annotated[
        Path | None, typer.Option(help="Also save a PNG with one imagette of each class.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(help="Imagettes generated per block.")] = 8192,
    encoding: Encoding = "float32",
    db_range: DbRange = "-60,10",
    sample_chunk: SampleChunk = None,
    workers: Annotated[
        int,
        typer.Option(help="Processes generating blocks in parallel (same store for any number)."),
    ] = 1,
    overwrite: Overwrite = False,
) -> None:
    """Generate synthetic WV imagettes with the ten TenGeoP-SARwv phenomena; write a store.

    Memory stays bounded by --chunk-size imagettes (times --workers + 1): blocks are appended
    to the Zarr store.
    """
    from eoforge.sar import store, wv  # deferred: xarray and zarr load when a command runs

    if not overwrite:
        refuse_existing(out)
    stored = _encoding(encoding, db_range)

    try:
        angles = [float(a) for a in incidence.split(",")]
    except ValueError:
        raise typer.BadParameter(
            f"--incidence must be numbers separated by commas, got {incidence!r}."
        ) from None

    with progress_bar("synth-wv", total=n) as progress:
        path = store.write_synth_wv(
            out,
            n,
            seed=seed,
            chunk_size=chunk_size,
            progress=progress,
            size=size,
            class_prior=prior,
            duplicate_fraction=duplicate_fraction,
            looks=looks,
            pixel_size=pixel_size,
            incidence=angles,
            sample_chunk=sample_chunk,
            workers=workers,
            **stored,
        )
    typer.echo(_summary(store.summarise(path)))
    if examples is not None:  # a small uniform sample, so that every class is shown
        sample = wv.synth_wv(200, size=size, seed=seed, class_prior="uniform", looks=looks,
                             pixel_size=pixel_size, incidence=angles)  # fmt: skip
        typer.echo(f"examples: {wv.plot_examples(sample, examples)}")
    typer.echo(f"wrote {path}")


@app.command()
@fail_on_error
def info(
    path: Annotated[Path, typer.Argument(help="A store written by synth-wv or import.")],
) -> None:
    """Print the size, class counts and target ranges of a WV store."""
    from eoforge.sar.store import summarise  # deferred: xarray and zarr load when it runs

    summary = summarise(path)
    typer.echo(f"{path}")
    typer.echo(_summary(summary))


def _int_pair(text: str | None, option: str) -> tuple[int, int] | None:
    """``"8"`` -> (8, 8), ``"8,4"`` -> (8, 4); None stays None."""
    if text is None:
        return None
    try:
        values = [int(v) for v in text.replace("x", ",").split(",")]
    except ValueError:
        values = []
    if len(values) not in (1, 2):
        raise typer.BadParameter(f"{option} must be N or N,M (integers), got {text!r}.")
    return (values[0], values[-1])


@app.command("import")
@fail_on_error
def import_folder(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Folder of .tif/.png/.nc/.npy imagettes, a Sentinel-1 .SAFE "
            "product, or a folder of .SAFE products."
        ),
    ],
    out: StoreOut = Path("wv.zarr"),
    labels: Annotated[
        str | None,
        typer.Option(help="TenGeoP-style CSV (filename,class[,wind_speed,hs]) or 'folders'."),
    ] = None,
    pattern: Annotated[
        str, typer.Option(help="Glob selecting files (or .SAFE folders, e.g. '*WV_SLC*').")
    ] = "**/*",
    db: Annotated[bool, typer.Option("--db", help="Files hold decibels.")] = False,
    polarisation: Annotated[
        str | None, typer.Option(help=".SAFE: keep one polarisation (VV, VH, HH, HV).")
    ] = None,
    swath: Annotated[str | None, typer.Option(help=".SAFE: keep one swath (wv1, wv2, iw).")] = None,
    denoise: Annotated[
        bool, typer.Option(help=".SAFE: subtract thermal noise (noise LUT) from |DN|^2.")
    ] = True,
    multilook: Annotated[
        str | None,
        typer.Option(help=".SAFE: average LA,LR lines x samples (e.g. 10 for 5 m WV -> 50 m)."),
    ] = None,
    crop: Annotated[
        str | None, typer.Option(help="Centre-crop every imagette to H,W (or N) pixels.")
    ] = None,
    encoding: Encoding = "float32",
    db_range: DbRange = "-60,10",
    sample_chunk: SampleChunk = None,
    chunk_size: Annotated[
        int, typer.Option(help="Loose files read (and held in memory) per block.", min=1)
    ] = 8192,
    overwrite: Overwrite = False,
) -> None:
    """Read a folder of real imagettes (and labels) into a store usable by ssl/diffusion.

    Sentinel-1 Level-1 .SAFE products (WV SLC imagettes, or GRD) are read as calibrated sigma0
    = (|DN|^2 - noise) / A_sigma^2, one imagette per measurement; labels match measurement file
    stems.
    """
    from eoforge.sar.store import import_imagettes, summarise  # deferred: xarray, zarr

    if not overwrite:
        refuse_existing(out)
    stored = _encoding(encoding, db_range)

    with progress_bar("import") as progress:
        path = import_imagettes(folder, out, labels=labels, pattern=pattern, db=db,
                                polarisation=polarisation, swath=swath, denoise=denoise,
                                multilook=_int_pair(multilook, "--multilook"),
                                crop=_int_pair(crop, "--crop"), progress=progress,
                                block=chunk_size, sample_chunk=sample_chunk, **stored)  # fmt: skip
    typer.echo(_summary(summarise(path)))
    typer.echo(f"wrote {path}")
