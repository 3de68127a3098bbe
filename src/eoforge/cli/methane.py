"""``eoforge methane``: methane plume detection and quantification in Sentinel-2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from eoforge.cli._common import fail_on_error, named_as_typed
from eoforge.cli._options import Device, Devices, Workers, either, int_list, precision_option
from eoforge.core.progress import progress_bar
from eoforge.methane.detect.context_veto import DEFAULT_MAX_CONTEXT_CHANGE

if TYPE_CHECKING:
    from eoforge.methane.detector import Detector

app = typer.Typer(
    help="Methane plumes in Sentinel-2: simulate pairs, train the detector, detect, evaluate.",
    no_args_is_help=True,
)

Weights = Annotated[
    Path | None,
    typer.Option(help="Detector NAME.safetensors (with NAME.json); default: the shipped one."),
]

SimulatedSize = Annotated[int, typer.Option(help="Scene side (pixels of 20 m).")]
SceneSize = Annotated[int, typer.Option(help="Scene side (pixels).")]
FpBudget = Annotated[float, typer.Option(help="False plumes per 100 km2.")]

MaxContextChange = Annotated[
    float,
    typer.Option(
        help="Veto plumes whose B04/B8A changed by more than this median log change (surface "
        "change, not methane); 0 keeps them all."
    ),
]

FpConfidence = Annotated[
    float | None,
    typer.Option(
        help="Pick the threshold on the bootstrap upper quantile (e.g. 0.9) of the FP rate "
        "instead of its point estimate: holds the budget with that confidence."
    ),
]
References = Annotated[
    int | None,
    typer.Option(
        help="Reference dates per simulated scene (revisits of the site); a single-date "
        "detector keeps the majority of its per-reference probabilities.",
        show_default="the detector's K (1: the pair's own reference)",
    ),
]


EVALUATE_OPTIONS = {
    "n_negative": "--n-negative", "n_per_rate": "--n-per-rate", "shape": "--size",
    "fp_budget": "--fp-budget", "seed": "--seed", "weights": "--weights",
    "noise_scale": "--noise-scale", "threshold": "--threshold", "surfaces": "--surface",
    "confounders_max": "--confounders-max", "cloud_prob": "--cloud-prob",
    "fp_confidence": "--fp-confidence", "max_context_change": "--max-context-change",
    "references": "--references",
}  # fmt: skip
"""Option of each EvaluateConfig key set by ``evaluate`` (named in its error messages)."""


def _detector(weights: Path | None) -> Detector:
    """The detector in ``--weights``, else the shipped one."""
    # deferred (here and in the commands): torch loads only when a command runs
    from eoforge.methane.detector import load_default_detector, load_detector

    return load_default_detector() if weights is None else load_detector(weights)


@app.command()
@fail_on_error
def detect(
    target: Annotated[Path, typer.Argument(help="Target-date GeoTIFF (bands B04, B8A, B11, B12).")],
    reference: Annotated[
        list[Path],
        typer.Option(
            help="Plume-free reference-date GeoTIFF on the same grid; repeat for several dates "
            "(a plume must then stand out against each)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/methane-detect"),
    wind_speed: Annotated[float, typer.Option(help="10 m wind speed (m/s).")] = 3.0,
    threshold: Annotated[
        float | None,
        typer.Option(help="Plume probability threshold (default: the detector's calibrated one)."),
    ] = None,
    min_area: Annotated[int, typer.Option(help="Smallest plume (pixels).")] = 4,
    sza: Annotated[float | None, typer.Option(help="Solar zenith (deg); default: SZA tag.")] = None,
    vza: Annotated[
        float | None, typer.Option(help="View zenith (deg); default: VZA tag or 5.")
    ] = None,
    tile: Annotated[int, typer.Option(help="Inference window (pixels).")] = 512,
    weights: Weights = None,
    max_context_change: MaxContextChange = DEFAULT_MAX_CONTEXT_CHANGE,
    quantification: Annotated[
        float | None,
        typer.Option(
            help="Divide the files' values by this to get reflectance (e.g. 100 for percent); "
            "default: their QUANTIFICATION_VALUE tag, else 10000 for integer DN, 1 for floats."
        ),
    ] = None,
) -> None:
    """Detect plumes: writes probability.tif, column.tif, plumes.geojson, detection.png and report.html.

    The files must be on a projected grid in metres at 20 m; 10 m (or 20/k m) grids are
    averaged k x k to 20 m (said on stderr and in plumes.geojson), other grids are refused.
    """
    from eoforge.methane.detect.outputs import write_outputs
    from eoforge.methane.detect.pipeline import detect as run_detect
    from eoforge.methane.pair_files import load_pair, load_reference

    names = {"min_area_px": "--min-area", "wind_speed": "--wind-speed", "tile": "--tile",
             "threshold": "--threshold", "max_context_change": "--max-context-change",
             "quantification": "--quantification"}  # fmt: skip
    names |= {k: f"--{k}" for k, v in (("sza", sza), ("vza", vza)) if v is not None}
    notes: list[str] = []
    with named_as_typed(names):
        t, r, geo, sza_, vza_ = load_pair(target, reference[0], sza, vza,
                                          quantification=quantification, notes=notes)  # fmt: skip
        refs = [r] + [load_reference(path, t, geo, target, quantification=quantification,
                                     notes=notes) for path in reference[1:]]  # fmt: skip
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        with progress_bar("detecting", None) as prog:
            result = run_detect(t, refs, geo, sza_, vza_, threshold=threshold,
                                min_area_px=min_area, wind_speed=wind_speed,
                                model=_detector(weights), tile=tile, progress=prog,
                                max_context_change=max_context_change or None)  # fmt: skip
    if notes:
        result.scene["input_resampled"] = notes
    paths = write_outputs(result, out)
    typer.echo(json.dumps(result.table(), indent=2))
    for warning in result.scene.get("warnings", []):
        typer.echo(f"warning: {warning}", err=True)
    typer.echo(f"{len(result.plumes)} plume(s); outputs in {out}: "
               + ", ".join(p.name for p in paths.values()))  # fmt: skip


@app.command()
@fail_on_error
def simulate(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/methane-sim"),
    surface: Annotated[str, typer.Option(help="desert, semi-arid, vegetated or urban.")] = (
        "semi-arid"
    ),
    rate: Annotated[float, typer.Option(help="Emission rate (kg/h); 0 for no plume.")] = 1500.0,
    seed: Annotated[int, typer.Option(help="Scene seed.")] = 0,
    size: SimulatedSize = 256,
    wind_speed: Annotated[float, typer.Option(help="Wind speed (m/s).")] = 3.0,
    wind_direction: Annotated[float, typer.Option(help="Wind from (deg from north).")] = 270.0,
) -> None:
    """Simulate a target/reference GeoTIFF pair with a plume of known rate, plus its truth."""
    from eoforge.methane.pair_files import simulate_to_files

    names = {"shape": "--size", "rate": "--rate", "surface": "--surface",
             "wind_speed": "--wind-speed", "wind_direction": "--wind-direction"}  # fmt: skip
    with named_as_typed(names):
        paths = simulate_to_files(out, surface=surface, rate_kg_h=rate, seed=seed, shape=size,
                                  wind_speed=wind_speed, wind_direction=wind_direction)  # fmt: skip
    for kind, p in paths.items():
        typer.echo(f"{kind}: {p}")


@app.command("simulate-series")
@fail_on_error
def simulate_series(
    out: Annotated[Path, typer.Option(help="Archive folder.")] = Path("runs/methane-series"),
    sites: Annotated[int, typer.Option(help="Number of sites (one grid each).")] = 3,
    dates: Annotated[int, typer.Option(help="Revisit dates per site (5 days apart).")] = 6,
    size: SimulatedSize = 256,
    seed: Annotated[int, typer.Option(help="Archive seed.")] = 0,
    cloud_prob: Annotated[float, typer.Option(help="Share of cloudy dates.")] = 0.2,
    plume_prob: Annotated[float, typer.Option(help="Share of dates the source emits.")] = 0.5,
    rate: Annotated[float, typer.Option(help="Emission rate of each source (kg/h).")] = 4000.0,
) -> None:
    """Simulate a monitoring archive: per site GeoTIFFs SITE/SITE_YYYYMMDD.tif (clouds on some dates, a persistent source emitting on some) and OUT/truth.json, for `methane monitor`."""
    from eoforge.methane.monitor.series import simulate_series as simulate

    names = {"n_sites": "--sites", "n_dates": "--dates", "size": "--size", "seed": "--seed",
             "cloud_prob": "--cloud-prob", "plume_prob": "--plume-prob", "rate_kg_h": "--rate"}  # fmt: skip
    with named_as_typed(names):
        root = simulate(out, n_sites=sites, n_dates=dates, size=size, seed=seed,
                        cloud_prob=cloud_prob, plume_prob=plume_prob, rate_kg_h=rate)  # fmt: skip
    typer.echo(f"archive: {root} ({sites} sites x {dates} dates)")
    typer.echo(f"truth: {root / 'truth.json'}")


@app.command()
@fail_on_error
def train(
    out: Annotated[Path, typer.Option(help="Run folder (resumes from its last checkpoint).")] = (
        Path("runs/methane-train")
    ),
    steps: Annotated[int | None, typer.Option(help="Optimiser steps.", show_default="5000")] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Scenes per batch.", show_default="16")
    ] = None,
    size: Annotated[
        int | None, typer.Option(help="Training scene side (pixels of 20 m).", show_default="64")
    ] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.", show_default="3e-3")] = None,
    device: Device = None,
    devices: Devices = None,
    precision: Annotated[str | None, precision_option("auto")] = None,
    workers: Workers = None,
    threads: Annotated[
        int | None, typer.Option(help="Torch CPU threads (default: all cores).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the data stream and init.", show_default="0")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML DetectorConfig.")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Fine-tune from these weights (e.g. the shipped ones).")
    ] = None,
    patch: Annotated[int | None, typer.Option("--patch", hidden=True)] = None,
    architecture: Annotated[
        str | None,
        typer.Option(
            help="unet (small, for CPUs) or resunet (the larger GPU detector).", show_default="unet"
        ),
    ] = None,
    widths: Annotated[
        str | None,
        typer.Option(
            help="Channels per level, finest first, e.g. 32,64,128,256,256.",
            show_default="12,24,48",
        ),
    ] = None,
    compile: Annotated[
        bool | None, typer.Option(help="torch.compile the network.", show_default="no")
    ] = None,
    channels_last: Annotated[
        bool | None,
        typer.Option(help="Channels-last memory format (faster on GPUs).", show_default="no"),
    ] = None,
    stream: Annotated[
        str | None,
        typer.Option(
            help="Training data: bank (crops of a Zarr bank, physics and features on the training "
            "device) or simulate (whole pairs on the CPU).",
            show_default="bank",
        ),
    ] = None,
    bank: Annotated[
        Path | None,
        typer.Option(help="Zarr bank folder, reusable across runs.", show_default="OUT/bank.zarr"),
    ] = None,
    bank_items: Annotated[
        int | None, typer.Option(help="Background pairs in the bank.", show_default="512")
    ] = None,
    rebuild_bank: Annotated[
        bool | None,
        typer.Option(help="Replace a bank made with other settings.", show_default="no"),
    ] = None,
    reference_dates: Annotated[
        int | None,
        typer.Option(
            help="Reference dates the network sees at once (K > 1: reference-stack channels; "
            "detect then needs exactly K --reference).",
            show_default="1",
        ),
    ] = None,
) -> None:
    """Train the detector on scene pairs simulated on the fly; writes OUT/detector.safetensors."""
    from eoforge.methane.detector.training.config import OPTIONS as TRAIN_OPTIONS
    from eoforge.methane.detector.training.config import DetectorConfig
    from eoforge.methane.detector.training.run import train_detector

    cfg = DetectorConfig.load(config) if config is not None else DetectorConfig()
    size = either(size, patch, "--size", "--patch")
    cfg = cfg.updated(steps=steps, batch_size=batch_size, patch=size, lr=lr, device=device,
                      devices=devices, precision=precision, num_workers=workers,
                      threads=threads, seed=seed, init=None if init is None else str(init),
                      architecture=architecture, widths=int_list(widths, "--widths"),
                      compile=compile, channels_last=channels_last, stream=stream,
                      bank_path=None if bank is None else str(bank), bank_items=bank_items,
                      bank_rebuild=rebuild_bank, reference_dates=reference_dates,
                      names=TRAIN_OPTIONS)  # fmt: skip
    with progress_bar("training (steps)", cfg.steps) as prog:
        path = train_detector(cfg, out, progress=prog)
    typer.echo(f"detector: {path}")


@app.command()
@fail_on_error
def evaluate(
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/methane-eval"),
    weights: Weights = None,
    n_negative: Annotated[int, typer.Option(help="Plume-free scenes.")] = 40,
    n_per_rate: Annotated[int, typer.Option(help="Plume scenes per emission rate.")] = 8,
    size: SceneSize = 256,
    fp_budget: FpBudget = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the held-out scenes.")] = 0,
    surface: Annotated[
        list[str] | None,
        typer.Option(
            help="Surface type(s) of the scenes (repeat; default: all four). The "
            "threshold is re-selected on them: a per-region operating point."
        ),
    ] = None,
    noise_scale: Annotated[
        float,
        typer.Option(help="Sensor noise x this (1: MSI requirement; 0.5: about in-flight)."),
    ] = 1.0,
    confounders_max: Annotated[
        int, typer.Option(help="Confounders per scene ~ U{0..N} (0: plain scenes).")
    ] = 0,
    cloud_prob: Annotated[float, typer.Option(help="Share of scenes with clouds.")] = 0.0,
    threshold: Annotated[
        str | None,
        typer.Option(
            help="Score at this fixed threshold: a number, or 'detector' for the weights' own "
            "(default: the lowest within the FP budget on these scenes)."
        ),
    ] = None,
    fp_confidence: FpConfidence = None,
    max_context_change: MaxContextChange = DEFAULT_MAX_CONTEXT_CHANGE,
    references: References = None,
) -> None:
    """POD vs emission rate at a fixed false-positive budget, against the MBMP baseline."""
    from eoforge.methane.evaluate.benchmark import evaluate_detector
    from eoforge.methane.evaluate.config import EvaluateConfig, fixed_threshold

    model = _detector(weights)
    fixed = fixed_threshold(threshold, model)
    cfg = EvaluateConfig.from_dict(
        dict(n_negative=n_negative, n_per_rate=n_per_rate, shape=size, fp_budget=fp_budget,
             seed=seed, weights=None if weights is None else str(weights),
             noise_scale=noise_scale, threshold=fixed, confounders_max=confounders_max,
             cloud_prob=cloud_prob, fp_confidence=fp_confidence,
             max_context_change=max_context_change or None, references=references)
        | ({"surfaces": tuple(surface)} if surface else {}),
        source="the command line", names=EVALUATE_OPTIONS,
    )  # fmt: skip
    names = {"surface": "--surface", "references": "--references"}
    with progress_bar("evaluating", None) as prog, named_as_typed(names):
        summary = evaluate_detector(cfg, out, model=model, progress=prog)
    typer.echo(json.dumps(summary, indent=2))


@app.command()
@fail_on_error
def calibrate(
    weights: Annotated[Path, typer.Argument(help="Detector NAME.safetensors (NAME.json beside).")],
    n_negative: Annotated[int, typer.Option(help="Plume-free scenes of the threshold scan.")] = 400,
    size: SceneSize = 256,
    fp_budget: FpBudget = 2.0,
    seed: Annotated[int, typer.Option(help="Seed of the plume-free scenes.")] = 1,
    n_rate_cases: Annotated[int, typer.Option(help="Simulated plumes for the U_eff fit.")] = 200,
    grow: Annotated[int, typer.Option(help="Pixels added around a detection for the IME.")] = 3,
    threshold: Annotated[
        float | None, typer.Option(help="Keep this threshold (no scan); calibrate rates only.")
    ] = None,
    fp_confidence: FpConfidence = None,
    references: References = None,
) -> None:
    """Set a trained detector's threshold (false-positive budget) and emission-rate calibration.

    Rewrites WEIGHTS' JSON in place; validate afterwards with 'eoforge methane evaluate'.
    """
    from eoforge.methane.calibration.detector import calibrate_file

    names = {"n_negative": "--n-negative", "size": "--size", "fp_budget": "--fp-budget",
             "n_rate_cases": "--n-rate-cases", "grow_px": "--grow", "threshold": "--threshold",
             "fp_confidence": "--fp-confidence", "references": "--references"}  # fmt: skip
    with progress_bar("calibrating", None) as prog, named_as_typed(names):
        det = calibrate_file(weights, n_negative=n_negative, size=size, fp_budget=fp_budget,
                             seed=seed, n_rate_cases=n_rate_cases, grow_px=grow,
                             threshold=threshold, fp_confidence=fp_confidence,
                             references=references, progress=prog)  # fmt: skip
    typer.echo(json.dumps({"threshold": det.threshold,
                           "rate_calibration": det.rate_calibration.to_dict(),
                           "calibration": det.calibration}, indent=2))  # fmt: skip


@app.command()
@fail_on_error
def monitor(
    input: Annotated[
        Path, typer.Argument(help="Folder of scenes (GeoTIFFs, L1C .SAFE), searched recursively.")
    ],
    out: Annotated[Path, typer.Option(help="Output folder (rerun: resumes).")] = Path(
        "runs/methane-monitor"
    ),
    references: Annotated[
        int, typer.Option(help="Reference dates per scene: the K most recent earlier clear ones.")
    ] = 3,
    min_valid: Annotated[
        float, typer.Option(help="Least valid (cloud-free) fraction of a reference scene.")
    ] = 0.5,
    scheduler: Annotated[
        str | None,
        typer.Option(help="dask.distributed scheduler address (default: a local cluster)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Worker processes of the local cluster.", show_default="the cores"),
    ] = None,
    save_rasters: Annotated[
        bool, typer.Option(help="Also write probability/column GeoTIFFs per scene.")
    ] = False,
    weights: Weights = None,
    link_distance: Annotated[
        float, typer.Option(help="Plumes of different dates closer than this (m): one source.")
    ] = 1000.0,
) -> None:
    """Detect plumes in every scene of an archive: scenes/*.json, plumes.geojson, scenes.csv, sources.geojson, figures/ and report.html in OUT. A rerun skips the scenes already done."""
    from eoforge.methane.monitor.run import monitor as run_monitor

    names = {"references": "--references", "min_valid": "--min-valid", "input": "INPUT",
             "scheduler": "--scheduler", "workers": "--workers", "weights": "--weights",
             "out": "--out", "link_distance_m": "--link-distance"}  # fmt: skip
    with named_as_typed(names), progress_bar("scenes", None) as prog:
        summary = run_monitor(input, out, references=references, min_valid=min_valid,
                              scheduler=scheduler, workers=workers, weights=weights,
                              save_rasters=save_rasters, link_distance_m=link_distance,
                              progress=prog)  # fmt: skip
    typer.echo(json.dumps(summary, indent=2))
