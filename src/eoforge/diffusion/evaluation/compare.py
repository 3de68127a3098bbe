"""Quality versus number of function evaluations (NFE) for several samplers on one model.

The paper's core experiment (Tuel, Kerdreux et al., arXiv 2308.16847): draw ``n`` samples with
each sampler configuration from the same initial noise, map them to physical units, and score
them with :func:`eoforge.diffusion.evaluation.evaluate.evaluate` against reference images. Each row also
reports NFE, seconds per sample and the relative error of every statistic against the row of the
reference sampler (1000-step DDPM by default),

    rel_err_m = |m - m_ref| / |m_ref|,

and ``max_rel_err`` over the physical statistics of the kind (SAR: ENL, mean linear intensity,
std of the dB values; InSAR: residue density, gradient circular variance, phase std), which is
what "within 10 % of 1000-step DDPM" is measured with.

A configuration is ``(sampler, steps)`` with sampler ``"ddpm"``, ``"ddim"``, ``"dpm++"``,
``"heun"`` (respaced trained schedule, see :func:`eoforge.diffusion.sample`) or
``"rebuilt-<sampler>"`` for the paper code's rebuilt schedule (``spacing="rebuilt"``), or
``"logsnr-<sampler>"`` for the trained schedule respaced uniformly in log-SNR
(``spacing="logsnr"``).

Tables and figures of the rows: :mod:`.compare_report`; an exact denoiser to check samplers (and
this comparison) without training: :class:`eoforge.diffusion.evaluation.gaussian_oracle.StationaryGaussianDenoiser`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from pydantic import Field

from eoforge.core.atomic import atomic_write_json, atomic_write_text
from eoforge.core.config import RunConfig
from eoforge.core.errors import InputError, bad_value
from eoforge.core.progress import ProgressCallback
from eoforge.core.report import Report
from eoforge.core.runs import RunDir
from eoforge.diffusion.evaluation.compare_report import (
    format_table,
    plot_quality_vs_nfe,
    report_tables,
)
from eoforge.diffusion.evaluation.evaluate import KINDS, evaluate, load_images
from eoforge.diffusion.evaluation.features import FeatureSpec, resolve_features
from eoforge.diffusion.run_io import load_run
from eoforge.diffusion.samplers import SAMPLERS, sample
from eoforge.diffusion.schedules import NoiseSchedule, check_sample_steps

Config = tuple[str, int]
DEFAULT_CONFIGS: tuple[Config, ...] = (
    ("ddpm", 1000),
    ("ddpm", 50),
    ("ddim", 20),
    ("dpm++", 20),
    ("dpm++", 10),
    ("heun", 10),
    ("rebuilt-ddpm", 50),
    ("rebuilt-ddim", 20),
)
STAT_KEYS: dict[str, tuple[str, ...]] = {
    "sar": ("enl_samples", "mean_intensity_samples", "std_db_samples"),
    "insar": ("residue_density_samples", "gradient_circvar_samples", "std_samples"),
}


# --------------------------------------------------------------------------- comparison


def default_configs(num_timesteps: int = 1000) -> list[Config]:
    """The paper's comparison for a model trained with T steps: DDPM over all T steps first.

    :data:`DEFAULT_CONFIGS` with the reference ``("ddpm", 1000)`` replaced by ``("ddpm", T)``
    and the configurations of more than T steps left out.
    """
    configs = [("ddpm", num_timesteps), *DEFAULT_CONFIGS[1:]]
    return [c for c in configs if c[1] <= num_timesteps]


def _parse(config: Config, num_timesteps: int) -> tuple[str, str | None, int]:
    try:
        name, steps = config
    except (TypeError, ValueError):
        raise bad_value("configs entry", config, "a (sampler, steps) pair") from None
    spacing = None
    sampler = str(name)
    for prefix in ("rebuilt", "logsnr"):
        if sampler.startswith(f"{prefix}-"):
            sampler, spacing = sampler[len(prefix) + 1 :], prefix
    if sampler not in SAMPLERS or (spacing and sampler == "heun"):
        raise bad_value(
            "sampler",
            name,
            f"one of {SAMPLERS} or 'rebuilt-'/'logsnr-' + one of ('ddpm', 'ddim', 'dpm++')",
        )
    if isinstance(steps, np.integer):
        steps = int(steps)
    check_sample_steps(steps, num_timesteps)  # the check (and message) of `diffusion sample`
    return sampler, spacing, steps


def _model_device(model: Any) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for p in model.parameters():
            return p.device
    return torch.device("cpu")


def draw_samples(
    model: Any,
    schedule: NoiseSchedule,
    config: Config,
    *,
    n: int,
    shape: tuple[int, ...],
    seed: int = 0,
    batch_size: int = 64,
    sample_kwargs: dict[str, Any] | None = None,
) -> tuple[np.ndarray, int, float]:
    """``n`` samples ``(n, *shape)`` with one configuration, in batches, from seeded noise.

    Batch ``b`` starts from noise drawn with seed ``seed + b`` (and uses that generator for the
    sampler's own noise), so every configuration starts from the same ``x_T``.

    Returns:
        ``(samples, nfe, seconds_per_sample)`` (samples in the model domain, float64).
    """
    sampler, spacing, steps = _parse(config, len(schedule))
    device = _model_device(model)
    out, nfe, seconds = [], 0, 0.0
    for b, start in enumerate(range(0, n, batch_size)):
        m = min(batch_size, n - start)
        gen = torch.Generator().manual_seed(seed + b)
        noise = torch.randn((m, *shape), generator=gen).to(device)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        x, nfe = sample(
            model, schedule, (m, *shape), sampler, steps, gen, spacing=spacing, noise=noise,
            return_nfe=True, **(sample_kwargs or {}),
        )  # fmt: skip
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        seconds += time.perf_counter() - t0
        out.append(x.detach().to("cpu", torch.float64).numpy())
    return np.concatenate(out), int(nfe), seconds / n


def compare_samplers(
    model: Any,
    schedule: NoiseSchedule,
    reference: np.ndarray,
    *,
    configs: Sequence[Config] | None = None,
    n: int = 64,
    shape: tuple[int, ...] = (1, 32, 32),
    seed: int = 0,
    inverse: Callable[[np.ndarray], np.ndarray] | None = None,
    kind: str = "sar",
    features: FeatureSpec = None,
    feature_space: bool = True,
    batch_size: int = 64,
    sample_kwargs: dict[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Score several sampler configurations of one model against reference images.

    Args:
        model: ``model(x_t, t)`` returning the noise (or v) prediction (see ``sample``).
        schedule: The trained schedule.
        reference: Real images in physical units (the domain of ``inverse``'s output).
        configs: ``(sampler, steps)`` pairs; the first is the reference sampler. Steps must
            lie in [1, T] (T = ``len(schedule)``; more is refused, as by ``sample``). Default:
            :func:`default_configs` of T.
        n: Samples per configuration.
        shape: Shape of one sample ``(C, H, W)``.
        seed: Seed of the initial noise (shared by all configurations).
        inverse: Maps model-domain samples ``(n, C, H, W)`` to physical units (e.g. the
            normaliser's ``inverse_transform``); identity when None.
        kind: ``"sar"`` or ``"insar"`` (see :func:`~eoforge.diffusion.evaluation.evaluate.evaluate`).
        features: Feature extractor for FID/KID/PR, resolved once for all configurations by
            :func:`~eoforge.diffusion.evaluation.features.resolve_features` (default: the shipped SSL
            encoder, or the random conv net with a warning when it is not installed).
        feature_space: Compute FID/KID/PR.
        batch_size: Samples per sampler call.
        sample_kwargs: Extra arguments of ``sample`` (``variance``, ``prediction``, ...).
        progress: ``progress(done, total)`` over configurations.

    Returns:
        One dict per configuration: ``sampler`` (as given), ``steps``, ``nfe``,
        ``seconds_per_sample``, every metric of ``evaluate``, ``rel_err_<metric>`` against the
        first row, and ``max_rel_err`` over :data:`STAT_KEYS`.
    """
    configs = _checked_request(schedule, configs, kind, n, batch_size)
    fn = resolve_features(features) if feature_space else None
    rows: list[dict[str, Any]] = []
    for i, config in enumerate(configs):
        x, nfe, sec = draw_samples(
            model, schedule, config, n=n, shape=tuple(shape), seed=seed,
            batch_size=batch_size, sample_kwargs=sample_kwargs,
        )  # fmt: skip
        phys = np.asarray(x if inverse is None else inverse(x), dtype=np.float64)
        metrics = evaluate(
            phys, reference, kind, fn, feature_space=feature_space, random_state=seed
        )
        cost = {"sampler": str(config[0]), "steps": int(config[1]), "nfe": nfe}
        rows.append({**cost, "seconds_per_sample": sec, **metrics})
        if progress is not None:
            progress(i + 1, len(configs))
    _relative_errors(rows, STAT_KEYS[kind])
    return rows


def _checked_request(
    schedule: NoiseSchedule, configs: Sequence[Config] | None, kind: str, n: int, batch_size: int
) -> Sequence[Config]:
    """The configurations to run (default: :func:`default_configs` of T), every input checked.

    Raises:
        InputError: Unknown kind or sampler, no configuration, steps outside [1, T], ``n < 2``
            or a batch size below 1.
    """
    if kind not in KINDS:
        raise bad_value("kind", kind, f"one of {KINDS}")
    if configs is None:
        configs = default_configs(len(schedule))
    if not configs:
        raise InputError("configs is empty: give at least one (sampler, steps) pair.")
    for c in configs:
        _parse(c, len(schedule))
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise bad_value("n", n, "an int >= 2")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise bad_value("batch_size", batch_size, "a positive int")
    return configs


def _relative_errors(rows: list[dict[str, Any]], stat_keys: tuple[str, ...]) -> None:
    ref = rows[0]
    skip = {"sampler", "steps", "nfe", "seconds_per_sample", "n_samples", "n_reference"}
    keys = [k for k, v in ref.items() if k not in skip and isinstance(v, float)]
    for row in rows:
        for k in keys:
            denom = abs(ref[k])
            row[f"rel_err_{k}"] = abs(row[k] - ref[k]) / denom if denom > 1e-12 else float("nan")
        errs = [row[f"rel_err_{k}"] for k in stat_keys if f"rel_err_{k}" in row]
        row["max_rel_err"] = float(np.nanmax(errs)) if errs else float("nan")


# --------------------------------------------------------------------------- job


class CompareConfig(RunConfig):
    """Configuration of ``eoforge diffusion compare-samplers`` (saved as ``config.yaml``)."""

    run: str
    reference: str
    kind: str | None = None
    n: int = Field(64, ge=2)
    configs: tuple[tuple[str, int], ...] | None = None  # None: default_configs(T of the run)
    batch_size: int = Field(64, ge=1)
    weights: str = "ema"
    feature_space: bool = True
    features: str | None = None


def run_compare(
    config: CompareConfig,
    out: str | os.PathLike[str],
    *,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """Compare samplers on a trained run (``eoforge.diffusion.training.train``) and write a run folder.

    Loads the model with ``eoforge.diffusion.run_io.load_run`` (on CUDA when available), maps
    samples to physical units with the run's normaliser, and writes ``OUT/rows.json``,
    ``OUT/table.md``, ``OUT/figures/quality_vs_nfe.png``, ``OUT/report.html``,
    ``OUT/config.yaml`` (with the configurations as run) and ``OUT/manifest.json``. A
    configuration of more steps than the run's T is refused before anything is sampled
    (default configurations: :func:`default_configs` of T). The kind defaults to ``"sar"`` for a model
    trained on SAR intensity and ``"insar"`` otherwise (identity normaliser: phase data).
    Class-conditional models are not supported here.
    """
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, schedule, normaliser, train_cfg = load_run(
        config.run, weights=config.weights, device=device
    )
    unet = train_cfg.unet
    if getattr(unet, "num_classes", None):
        raise InputError(
            f"the run {config.run!r} is class-conditional; compare-samplers handles "
            "unconditional models only."
        )
    configs = default_configs(len(schedule)) if config.configs is None else config.configs
    configs = [(str(c[0]), int(c[1])) for c in configs]
    for c in configs:  # refused before any sampling, with the message of `diffusion sample`
        _parse(c, len(schedule))
    config = config.model_copy(update={"configs": tuple(configs)})  # saved as run
    kind = config.kind or ("sar" if train_cfg.kind == "sar" else "insar")
    reference = load_images(config.reference)
    rows = compare_samplers(
        model, schedule, reference, configs=configs, n=config.n,
        shape=(unet.in_channels, unet.image_size, unet.image_size), seed=config.seed,
        inverse=lambda x: np.asarray(normaliser.inverse_transform(x), dtype=np.float64),
        kind=kind, features=config.features, feature_space=config.feature_space,
        batch_size=config.batch_size,
        sample_kwargs={"variance": train_cfg.variance, "prediction": train_cfg.prediction},
        progress=progress,
    )  # fmt: skip
    run = RunDir(out, config)
    _write_outputs(run, config, rows, kind)
    run.write_manifest(device=device)
    return rows


def _write_outputs(
    run: RunDir, config: CompareConfig, rows: list[dict[str, Any]], kind: str
) -> None:
    """``rows.json``, ``table.md``, the quality-versus-NFE figure and ``report.html``."""
    atomic_write_json(run.file("rows.json"), rows)
    table = format_table(rows)
    atomic_write_text(run.file("table.md"), table + "\n")
    fig = plot_quality_vs_nfe(rows)
    fig_path = run.save_figure(fig, "quality_vs_nfe")
    report = Report("eoforge diffusion compare-samplers", f"run {config.run}, {config.n} samples")
    ref = f"{rows[0]['sampler']}-{rows[0]['steps']}"
    report.section("Quality versus NFE")
    captions = {
        "cost": f"cost; max rel. err: largest relative error of the {kind} statistics against "
        f"{ref}",
        "statistics": f"{kind} statistics of the samples and distances to the reference images",
        "features": "feature-space metrics against the reference images",
    }
    for topic, topic_rows in report_tables(rows):
        report.add_table(topic_rows, caption=captions[topic])
    report.add_image_file(fig_path, "metrics against the number of function evaluations")
    report.section("Configuration").add_config(config)
    report.write(run.file("report.html"))
