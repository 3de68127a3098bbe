"""Monitor an archive of Sentinel-2 scenes: one detection task per scene on dask.distributed.

:func:`monitor` scans INPUT (:func:`~.archive.scan_archive`), measures each scene's valid
fraction and picks its references (:func:`~.archive.choose_references`: the K most recent
earlier clear scenes of the same grid), then runs one task per scene
(:func:`~.tasks.process_scene`) on a LocalCluster (processes, one thread each) or on the cluster
behind ``scheduler``. Each scene's record lands atomically in ``OUT/scenes/<scene_id>.json``
with its input fingerprint (scene and reference files, detector weights): a rerun skips the
scenes whose record has the same fingerprint, re-runs changed ones and picks up new ones. The
catalogue (:mod:`.catalogue`) is rebuilt from the records at the end, each file atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
import distributed
import torch

from eoforge.core.atomic import atomic_write_json
from eoforge.core.errors import DataNotFoundError, InputError, bad_value
from eoforge.methane.monitor.archive import (
    Scene,
    choose_references,
    input_fingerprint,
    scan_archive,
    valid_fraction,
)
from eoforge.methane.monitor.catalogue import write_catalogue
from eoforge.methane.monitor.sources import LINK_DISTANCE_M
from eoforge.methane.monitor.tasks import (
    base_record,
    process_scene,
    scene_record_path,
    weights_id,
)


def _check(input: Path, out: Path, references: int, min_valid: float, scheduler: str | None,
           workers: int | None, weights: Path | None, link_distance_m: float) -> None:  # fmt: skip
    if not Path(input).is_dir():
        raise DataNotFoundError(f"input {str(input)!r} is not a folder; pass the folder that holds "
                                "the scenes (searched recursively).")  # fmt: skip
    if Path(out).exists() and not Path(out).is_dir():
        raise InputError(f"out {str(out)!r} is a file; pass a folder.")
    if isinstance(references, bool) or int(references) != references or references < 1:
        raise bad_value("references", references, "a number of reference dates >= 1")
    if not 0.0 <= float(min_valid) <= 1.0:
        raise bad_value("min_valid", min_valid, "a fraction of valid pixels in [0, 1]")
    if workers is not None and (int(workers) != workers or workers < 1):
        raise bad_value("workers", workers, "a number of worker processes >= 1")
    if scheduler is not None and "://" not in scheduler and ":" not in scheduler:
        raise bad_value("scheduler", scheduler, "a dask scheduler address such as "
                        "tcp://host:8786")  # fmt: skip
    if weights is not None and not Path(weights).with_suffix(".safetensors").is_file():
        raise DataNotFoundError(f"weights {str(weights)!r} not found; pass a NAME.safetensors "
                                "written by 'eoforge methane train' (NAME.json beside it).")  # fmt: skip
    if not link_distance_m > 0:
        raise bad_value("link_distance_m", link_distance_m, "a positive distance in metres")


def _cores() -> int:
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, int(n or 1))


WORKER_MALLOC_ENV = {"MALLOC_TRIM_THRESHOLD_": str(128 * 2**20),
                     "MALLOC_MMAP_THRESHOLD_": str(32 * 2**20)}  # fmt: skip
"""glibc settings of the local workers. dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536``,
which also freezes glibc's mmap threshold at 128 KiB: every large numpy array of the detector is
then mmapped and unmapped, and a 512 px scene took 2.3 s instead of 1.1 s (measured). A 32 MiB
mmap threshold and a 128 MiB trim threshold restore the in-process speed."""


def _one_thread() -> None:
    """Worker set-up: one torch thread per single-threaded worker process."""
    torch.set_num_threads(1)


Record = dict[str, Any]
"""One scene's record, as written to ``OUT/scenes/<scene_id>.json``."""


def _client(
    scheduler: str | None, workers: int | None
) -> tuple[distributed.Client, list[distributed.Client | distributed.LocalCluster]]:
    """(client, things to close): a Client to ``scheduler``, or to a new LocalCluster."""
    if scheduler is not None:
        try:
            client = distributed.Client(scheduler, timeout="10s")
        except OSError as err:
            raise InputError(f"scheduler={scheduler!r} cannot be reached ({err}); start one "
                             "('dask scheduler') or omit --scheduler for a local cluster.") from None  # fmt: skip
        return client, [client]
    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **WORKER_MALLOC_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn_env}):
        cluster = distributed.LocalCluster(n_workers=workers or _cores(), threads_per_worker=1,
                                           processes=True, dashboard_address=None)  # fmt: skip
    client = distributed.Client(cluster)
    client.run(_one_thread)
    return client, [client, cluster]


def _read_record(path: Path) -> Record | None:
    try:
        record: Record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record


def _file_fingerprint(path: Path) -> str:
    try:
        st = path.stat()
        key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        key = f"{path}|missing"
    return hashlib.sha256(key.encode()).hexdigest()


def _unreadable_record(path: Path, message: str, out: Path) -> Record:
    """Record of a file the scan could not read or date (status error)."""
    sid = "unreadable_" + hashlib.sha256(str(path).encode()).hexdigest()[:10]
    rec: Record = {
        "scene_id": sid, "path": str(path), "date": None, "site": None, "status": "error",
        "message": message, "references": [], "reference_dates": [], "valid_fraction": None,
        "plumes": [], "n_plumes": 0, "seconds": 0.0, "bounds_lonlat": None,
        "input_fingerprint": _file_fingerprint(path),
    }  # fmt: skip
    atomic_write_json(scene_record_path(out, sid), rec)
    return rec


def _safe_valid(scene: Scene) -> float:
    try:
        return float(valid_fraction(scene))
    except Exception:  # the detection task of this scene records the error itself
        return 0.0


def _valid_fractions(client: distributed.Client, scenes: list[Scene]) -> dict[str, float]:
    """Valid fraction of every scene, computed on the cluster (0 when it cannot be read)."""
    futures = client.map(_safe_valid, scenes, pure=False)
    return {s.scene_id: v for s, v in zip(scenes, client.gather(futures), strict=True)}


@dataclass
class _Plan:
    """What a run does with the scanned scenes (built by :func:`_plan`).

    Attributes:
        records: Records already final: unreadable files, unchanged scenes, scenes without a
            reference.
        todo: (scene, input fingerprint) of the scenes to detect in.
        references: scene_id -> its references.
        valid: scene_id -> valid fraction.
        own: scene_id -> fingerprint of the scene file alone.
        previous: scene_id -> its record from an earlier run (None: none or unreadable).
        skipped: Number of scenes whose record has the same input fingerprint.
    """

    records: list[Record]
    todo: list[tuple[Scene, str]] = field(default_factory=list)
    references: dict[str, list[Scene]] = field(default_factory=dict)
    valid: dict[str, float] = field(default_factory=dict)
    own: dict[str, str] = field(default_factory=dict)
    previous: dict[str, Record | None] = field(default_factory=dict)
    skipped: int = 0


def _cached_valid(previous: dict[str, Record | None], own: dict[str, str]) -> dict[str, float]:
    """Valid fractions recorded by an earlier run for scene files that did not change."""
    return {sid: rec["valid_fraction"] for sid, rec in previous.items() if rec is not None
            and rec.get("scene_fingerprint") == own[sid]
            and rec.get("valid_fraction") is not None}  # fmt: skip


def _triage(plan: _Plan, scenes: list[Scene], out: Path, wid: str, min_valid: float) -> None:
    """Keep unchanged records, record scenes without references, and list the rest to run."""
    for s in scenes:
        refs = plan.references[s.scene_id]
        fp = input_fingerprint(s, refs, wid)
        prev = plan.previous[s.scene_id]
        if prev is not None and prev.get("input_fingerprint") == fp:
            plan.records.append(prev)
            plan.skipped += 1
        elif not refs:
            rec = base_record(s, [], plan.valid[s.scene_id], fp, plan.own[s.scene_id])
            rec.update(status="no-reference", message=f"no earlier scene of this grid with "
                       f"a valid fraction >= {min_valid:g}")  # fmt: skip
            atomic_write_json(scene_record_path(out, s.scene_id), rec)
            plan.records.append(rec)
        else:
            plan.todo.append((s, fp))


def _run_tasks(
    client: distributed.Client,
    plan: _Plan,
    out: Path,
    weights: Path | None,
    save_rasters: bool,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Run the detection task of every scene to do; their records join ``plan.records``.

    Returns:
        The number of scenes run.
    """
    w = None if weights is None else str(Path(weights).with_suffix(".safetensors"))
    futures = {
        client.submit(process_scene, s, plan.references[s.scene_id], plan.valid[s.scene_id], fp,
                      w, str(out), save_rasters, plan.own[s.scene_id], pure=False,
                      key=f"scene-{s.scene_id}-{fp[:8]}"): s
        for s, fp in plan.todo
    }  # fmt: skip
    if progress is not None:
        progress(0, len(futures))
    n_run = 0
    for n_run, fut in enumerate(distributed.as_completed(futures), start=1):
        s = futures[fut]
        try:
            plan.records.append(fut.result())
        except Exception as err:  # the worker died (memory, signal): no fingerprint, rerun
            rec = base_record(s, plan.references[s.scene_id], plan.valid[s.scene_id], None,
                              plan.own[s.scene_id])  # fmt: skip
            rec.update(status="error", message=f"worker failed: {type(err).__name__}: {err}")
            atomic_write_json(scene_record_path(out, s.scene_id), rec)
            plan.records.append(rec)
        if progress is not None:
            progress(n_run, len(futures))
    return n_run


def _summary(
    records: list[Record], paths: dict[str, Any], n_run: int, skipped: int, wid: str, t0: float
) -> dict[str, Any]:
    """Scene counts by status, scenes run and skipped, plumes, sources, seconds, output paths."""
    by_status: dict[str, int] = {}
    for r in records:
        by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return {
        "scenes": len(records), "by_status": by_status, "run": n_run,
        "skipped": skipped, "weights_id": wid,
        "plumes": sum(r.get("n_plumes", 0) for r in records),
        "sources": paths.pop("n_sources", 0), "seconds": round(time.perf_counter() - t0, 2),
        "outputs": {k: str(v) for k, v in paths.items()},
    }  # fmt: skip


def monitor(
    input: Path,
    out: Path,
    *,
    references: int = 3,
    min_valid: float = 0.5,
    scheduler: str | None = None,
    workers: int | None = None,
    weights: Path | None = None,
    save_rasters: bool = False,
    link_distance_m: float = LINK_DISTANCE_M,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Detect plumes in every scene of an archive and write the catalogue (module docstring).

    Args:
        input: Folder of scenes (GeoTIFFs as ``methane detect`` reads them, L1C ``.SAFE``).
        out: Output folder (created; an existing one is resumed).
        references: K most recent earlier clear scenes of the same grid used as references.
        min_valid: Least valid (cloud-free) fraction of a reference scene, and of a scene for
            it to count as a clear-sky revisit of a source.
        scheduler: Address of a dask.distributed scheduler (``tcp://host:8786``); default: a
            LocalCluster of ``workers`` processes (default: the cores), one thread each.
        workers: Worker processes of the LocalCluster (ignored with ``scheduler``).
        weights: Detector ``NAME.safetensors``; default: the shipped one.
        save_rasters: Also write probability/column GeoTIFFs per scene (``OUT/rasters``).
        link_distance_m: Plumes of different dates closer than this form one source.
        progress: Optional ``progress(done, total)`` callback over the scenes to run.

    Returns:
        Summary: scene counts by status, scenes run and skipped, plumes, sources, seconds and
        the output paths.

    Raises:
        InputError, DataNotFoundError: A bad argument (named) or an unreachable scheduler.
    """
    t0 = time.perf_counter()
    input, out = Path(input), Path(out)
    _check(input, out, references, min_valid, scheduler, workers, weights, link_distance_m)
    scenes, bad = scan_archive(input)
    if not scenes and not bad:
        raise DataNotFoundError(f"input {str(input)!r} holds no scene (GeoTIFF or .SAFE); check "
                                "the folder.")  # fmt: skip
    wid = weights_id(weights)
    out.mkdir(parents=True, exist_ok=True)
    plan = _Plan([_unreadable_record(p, msg, out) for p, msg in bad])
    plan.previous = {s.scene_id: _read_record(scene_record_path(out, s.scene_id)) for s in scenes}
    plan.own = {s.scene_id: input_fingerprint(s, [], "") for s in scenes}  # the scene file alone
    plan.valid = _cached_valid(plan.previous, plan.own)
    client: distributed.Client | None = None
    owned: list[distributed.Client | distributed.LocalCluster] = []
    n_run = 0
    try:
        missing = [s for s in scenes if s.scene_id not in plan.valid]
        if missing:
            client, owned = _client(scheduler, workers)
            plan.valid |= _valid_fractions(client, missing)
        plan.references = choose_references(scenes, references, min_valid, plan.valid)
        _triage(plan, scenes, out, wid, min_valid)
        if plan.todo:
            if client is None:
                client, owned = _client(scheduler, workers)
            n_run = _run_tasks(client, plan, out, weights, save_rasters, progress)
        elif progress is not None:
            progress(0, 0)
    finally:
        for obj in owned:
            obj.close()
    paths = write_catalogue(out, plan.records, min_valid=min_valid,
                            link_distance_m=link_distance_m)  # fmt: skip
    return _summary(plan.records, paths, n_run, plan.skipped, wid, t0)
