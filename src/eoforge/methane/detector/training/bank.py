"""A bank of simulated plume-free date-pairs and unit-rate plumes, written once to a Zarr store.

Rendering a scene pair costs ~40 ms at 128 px on one core, which starves an accelerator. The
bank renders ``items`` background pairs once, at ``size`` px (larger than the training crop), with
the scene generator of :mod:`eoforge.methane.scenes` but *without* sensor noise or quantisation,
and ``plumes`` plume column maps of the existing puff generator (:mod:`eoforge.methane.plumes`,
PSF-blurred) at a unit emission rate Q = 1 kg/h on a (2P, 2P) canvas whose source sits at the
centre. Training draws (:mod:`.bank_stream`) then crop, flip and rotate a background by 90
degrees, scale a plume by Q (the column is linear in Q: puff masses are Q dt, their paths do not
depend on Q), inject it by Beer-Lambert and add fresh sensor noise, so each draw is a new pair.

Store layout (one chunk per item, so a reader touches only the items it draws):

    backgrounds  (N, 1+K, nb, S, S) float32 dates (target, K references), bands SWIR + context
    clear        (N, S, S) bool            clear land of the target (where methane may go)
    scalars      (N, 2 + nb) float32       sza, vza, path reflectance of each target band
    plumes       (M, 2P, 2P) float32       dOmega (mol/m2) at Q = 1 kg/h, source at (P, P) + u
    winds        (M,) float32              wind speed of each plume (m/s)
    attrs        settings (below), refused when they differ from the asked ones

With K = ``reference_dates`` > 1 an item is a site seen on K + 1 revisits (the scene generator's
``date_seed``, as in :mod:`eoforge.methane.monitor.series`): the target is revisit 0's target
scene (its confounders and clouds), reference k is revisit k's reference scene, or with
probability 1/3 revisit k's *target* scene with 1..max(1, confounders_max) confounders of its own
(a surface change present on that reference date only); each date is cloudy with probability
``cloud_prob``. K = 1 renders the pair as before (the store of K = 1 banks is unchanged).

Draws per item i come from ``SeedSequence([seed, 0, i])`` (plumes ``[seed, 1, j]``), so a bank is
reproducible and its first items do not depend on ``items``. The store is written to a temporary
folder and renamed, so an interrupted build leaves no half bank.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np
import zarr
from numpy.typing import NDArray

from eoforge.core.errors import InputError
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.plumes import gaussian_puffs, psf_blur
from eoforge.methane.scenes import ScenePair, simulate_pair
from eoforge.methane.scenes.spectra import PATH_REFLECTANCE, S2_BANDS

BANK_FORMAT = 1
#: Config option that names each setting in errors.
SETTING_OPTIONS = {
    "seed": "bank_seed", "items": "bank_items (--bank-items)", "size": "bank_size",
    "plumes": "plume_pool", "canvas": "patch (--size; canvas 2 x patch)", "bands": "context",
    "surfaces": "surfaces", "cloud_prob": "cloud_prob", "cloud_max": "cloud_max",
    "confounders_max": "confounders_max", "time_gap_max": "time_gap_max",
    "wind_min": "wind_min", "wind_max": "wind_max", "format": "(bank format version)",
    "reference_dates": "reference_dates (--reference-dates)",
}  # fmt: skip


class BankSettings(TypedDict):
    """The settings a bank is made with (stored in the bank, compared when it is reused)."""

    reference_dates: NotRequired[int]  # K, only when K > 1 (the K = 1 banks are unchanged)
    seed: int
    items: int
    size: int
    plumes: int
    canvas: int
    bands: list[str]
    surfaces: list[str]
    cloud_prob: float
    cloud_max: float
    confounders_max: int
    time_gap_max: float
    wind_min: float
    wind_max: float
    format: int


def bank_settings(cfg: DetectorConfig) -> BankSettings:
    """The settings a bank is made with, from a training configuration (JSON-friendly values)."""
    size = int(cfg.bank_size) if cfg.bank_size is not None else 2 * int(cfg.patch)
    settings: BankSettings = {
        "seed": int(cfg.bank_seed), "items": int(cfg.bank_items), "size": size,
        "plumes": int(cfg.plume_pool), "canvas": 2 * int(cfg.patch),
        "bands": ["B11", "B12", *cfg.context], "surfaces": list(cfg.surfaces),
        "cloud_prob": float(cfg.cloud_prob), "cloud_max": float(cfg.cloud_max),
        "confounders_max": int(cfg.confounders_max), "time_gap_max": float(cfg.time_gap_max),
        "wind_min": float(cfg.wind_min), "wind_max": float(cfg.wind_max), "format": BANK_FORMAT,
    }  # fmt: skip
    if cfg.reference_dates > 1:  # first, as the banks made so far store it
        settings = {"reference_dates": int(cfg.reference_dates), **settings}
    return settings


#: An item of the bank: dates (1 + K, nb, S, S) float32, clear (S, S) bool, scalars (2 + nb,)
#: float32 (sza, vza, path reflectance per band).
BankItem = tuple[NDArray[np.float32], NDArray[np.bool_], NDArray[np.float32]]


def render_background(settings: BankSettings, i: int) -> BankItem:
    """Item ``i`` of the bank (module docstring), drawn from ``SeedSequence([seed, 0, i])``."""
    rng = np.random.default_rng(np.random.SeedSequence([settings["seed"], 0, int(i)]))
    surface = str(rng.choice(settings["surfaces"]))
    seed = int(rng.integers(0, 2**30))
    if settings.get("reference_dates", 1) > 1:
        return _render_revisits(settings, rng, surface, seed)
    cloudy = rng.random() < settings["cloud_prob"]
    pair = simulate_pair(
        (settings["size"],) * 2, surface, seed,
        cloud_fraction=float(rng.uniform(0.0, settings["cloud_max"])) if cloudy else 0.0,
        confounders=int(rng.integers(0, settings["confounders_max"] + 1)),
        time_gap_days=float(rng.uniform(2.0, max(2.0, settings["time_gap_max"]))),
        noise_scale=0.0, quantize=False, bands=[b for b in S2_BANDS if b in settings["bands"]],
    )  # fmt: skip
    dates = np.stack([np.stack([d[b] for b in settings["bands"]])
                      for d in (pair.target, pair.reference)]).astype(np.float32)  # fmt: skip
    return dates, *_target_info(pair, settings)


def _target_info(
    pair: ScenePair, settings: BankSettings
) -> tuple[NDArray[np.bool_], NDArray[np.float32]]:
    """Clear land (S, S) of the pair's target and its scalars (sza, vza, path per band)."""
    m = pair.masks
    clear = ~(m["cloud_target"] | m["shadow_target"] | m["water"])
    path = [PATH_REFLECTANCE[S2_BANDS.index(b)] * pair.metadata["path_scale"][0]
            for b in settings["bands"]]  # fmt: skip
    return clear, np.array([pair.sza, pair.vza, *path], dtype=np.float32)


def _render_revisits(
    settings: BankSettings, rng: np.random.Generator, surface: str, seed: int
) -> BankItem:
    """A K-reference item: revisits 0..K of site ``seed`` (module docstring)."""
    bands = [b for b in S2_BANDS if b in settings["bands"]]

    def cover() -> float:
        cloudy = rng.random() < settings["cloud_prob"]
        return float(rng.uniform(0.0, settings["cloud_max"])) if cloudy else 0.0

    def revisit(k: int, target_cover: float, n_conf: int) -> ScenePair:
        return simulate_pair(
            (settings["size"],) * 2, surface, seed, cloud_fraction=(target_cover, cover()),
            confounders=n_conf, date_seed=k, noise_scale=0.0, quantize=False, bands=bands,
            time_gap_days=float(rng.uniform(2.0, max(2.0, settings["time_gap_max"]))),
        )  # fmt: skip

    first = revisit(0, cover(), int(rng.integers(0, settings["confounders_max"] + 1)))
    scenes = [first.target]
    for k in range(1, settings.get("reference_dates", 1) + 1):
        changed = rng.random() < 1.0 / 3.0
        n_conf = int(rng.integers(1, max(1, settings["confounders_max"]) + 1)) if changed else 0
        pair = revisit(k, cover() if changed else 0.0, n_conf)
        scenes.append(pair.target if changed else pair.reference)
    dates = np.stack([np.stack([d[b] for b in settings["bands"]]) for d in scenes])
    return dates.astype(np.float32), *_target_info(first, settings)


def render_plume(settings: BankSettings, j: int) -> tuple[NDArray[np.float32], float]:
    """Plume ``j``: (2P, 2P) float32 dOmega at Q = 1 kg/h with its source near the centre."""
    rng = np.random.default_rng(np.random.SeedSequence([settings["seed"], 1, int(j)]))
    n = settings["canvas"]
    wind = float(rng.uniform(settings["wind_min"], settings["wind_max"]))
    src = (n // 2 + float(rng.random()), n // 2 + float(rng.random()))
    col = gaussian_puffs(1.0, wind, float(rng.uniform(0.0, 360.0)), shape=(n, n), source=src,
                         random_state=rng)  # fmt: skip
    return psf_blur(col, 0.52).astype(np.float32), wind


def _differences(found: Mapping[str, object], wanted: Mapping[str, object]) -> list[str]:
    """Each setting that differs between the bank found and the one asked, named for the user."""
    keys = sorted(set(found) | set(wanted))
    return [f"{SETTING_OPTIONS.get(k, k)}: bank {found.get(k)!r}, asked {wanted.get(k)!r}"
            for k in keys if found.get(k) != wanted.get(k)]  # fmt: skip


def _write(path: Path, settings: BankSettings, progress: Callable[[int, int], None] | None) -> None:
    """Render every item and plume into a new Zarr store at ``path`` (layout: module docstring)."""
    n, s, nb, m, c = (settings["items"], settings["size"], len(settings["bands"]),
                      settings["plumes"], settings["canvas"])  # fmt: skip
    g = zarr.open_group(str(path), mode="w")
    d = 1 + settings.get("reference_dates", 1)
    bg = g.create_array("backgrounds", shape=(n, d, nb, s, s), chunks=(1, d, nb, s, s),
                        dtype="float32")  # fmt: skip
    clear = g.create_array("clear", shape=(n, s, s), chunks=(1, s, s), dtype="bool")
    scal = g.create_array("scalars", shape=(n, 2 + nb), chunks=(n, 2 + nb), dtype="float32")
    plumes = g.create_array("plumes", shape=(m, c, c), chunks=(1, c, c), dtype="float32")
    winds = g.create_array("winds", shape=(m,), chunks=(m,), dtype="float32")
    rows, w = np.empty((n, 2 + nb), np.float32), np.empty(m, np.float32)
    for i in range(n):
        bg[i], clear[i], rows[i] = render_background(settings, i)
        if progress is not None:
            progress(i + 1, n + m)
    for j in range(m):
        plumes[j], w[j] = render_plume(settings, j)
        if progress is not None:
            progress(n + j + 1, n + m)
    scal[:], winds[:] = rows, w
    # A TypedDict of str, int, float and list values is JSON, which zarr's JSON alias cannot see.
    g.attrs["settings"] = settings  # type: ignore[assignment]


def open_bank(
    path: str | os.PathLike[str],
    settings: BankSettings,
    rebuild: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> zarr.Group:
    """Open the bank at ``path``, building it first when missing (or when ``rebuild``).

    Args:
        path: Zarr folder of the bank.
        settings: :func:`bank_settings` of the run.
        rebuild: Replace a bank made with other settings instead of refusing it (a bank made
            with the same settings is always reused).
        progress: Optional ``progress(done, total)`` callback of the build.

    Returns:
        The read-only Zarr group.

    Raises:
        InputError: If a bank made with other settings is there and ``rebuild`` is False.
    """
    path = Path(path)
    if path.exists():
        found = zarr.open_group(str(path), mode="r").attrs.get("settings", {})
        diff = _differences(found if isinstance(found, Mapping) else {}, settings)
        if not diff:
            return zarr.open_group(str(path), mode="r")
        if not rebuild:
            raise InputError(
                f"the training bank {str(path)!r} was made with other settings ({'; '.join(diff)})."
                " Set these options back, point bank_path (--bank) to another folder, or pass "
                "bank_rebuild=true (--rebuild-bank) to replace it."
            )
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write(tmp, settings, progress)
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return zarr.open_group(str(path), mode="r")
