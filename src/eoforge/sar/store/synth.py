"""Synthetic imagettes generated block by block straight into a Zarr store, in bounded memory.

Block ``i`` of ``n_blocks = ceil(n / chunk_size)`` is ``synth_wv(m_i, seed=s_i)`` with
``s = spawn_seeds(seed, n_blocks)`` (one block: ``seed`` itself), so the store is the same for
any number of worker processes; workers run at most ``workers`` blocks ahead of the writer.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from eoforge.core.errors import InputError, bad_value
from eoforge.core.seeding import spawn_seeds
from eoforge.sar.codec import DB_RANGE
from eoforge.sar.store.layout import save_wv, write_blocks
from eoforge.sar.wv import WVSet, synth_wv


def write_synth_wv(
    path: str | os.PathLike[str],
    n: int,
    *,
    seed: int = 0,
    chunk_size: int = 8192,
    progress: Callable[[int, int], None] | None = None,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
    workers: int = 1,
    **kwargs: Any,
) -> Path:
    """Generate ``n`` synthetic imagettes block by block straight into a Zarr store.

    Memory stays bounded by ``chunk_size`` imagettes (times ``workers`` + 1 with several worker
    processes, which generate the next blocks while one is written; the store is the same for
    any number of workers). With ``n <= chunk_size`` the store holds
    exactly ``synth_wv(n, seed=seed, **kwargs)``; otherwise block ``i`` is
    ``synth_wv(m_i, seed=spawn_seeds(seed, n_blocks)[i], **kwargs)`` (near-duplicates stay
    within their block). The store is written atomically.

    Args:
        path: Output ``.zarr`` store (``.nc`` only when ``n <= chunk_size``).
        n: Number of imagettes.
        seed: Seed of the whole set.
        chunk_size: Imagettes generated (and held in memory) at a time.
        progress: Optional ``progress(done, total)`` callback.
        encoding: Image encoding (float32, float16 or uint8; :mod:`eoforge.sar.codec`).
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk (see :func:`save_wv`).
        workers: Processes generating blocks (1: in this process).
        **kwargs: Passed to :func:`eoforge.sar.wv.synth_wv` (size, class_prior, looks, ...).

    Returns:
        ``path``.
    """
    p = Path(path)
    if not (isinstance(n, int) and n >= 1):
        raise bad_value("n", n, "a positive int")
    if isinstance(workers, bool) or not (isinstance(workers, int) and workers >= 1):
        raise bad_value("workers", workers, "a number of processes >= 1")
    if not (isinstance(chunk_size, int) and chunk_size >= 1):
        raise bad_value("chunk_size", chunk_size, "a positive int")
    if p.suffix != ".zarr":
        if n > chunk_size:
            raise InputError(
                f"path={str(p)!r}: sets larger than chunk_size={chunk_size} are written "
                "block by block to a .zarr store; use a .zarr path or a larger chunk_size."
            )
        part = synth_wv(n, seed=seed, progress=progress, **kwargs)
        return save_wv(part, p, encoding=encoding, db_range=db_range, sample_chunk=sample_chunk)
    n_blocks = math.ceil(n / chunk_size)
    seeds = [seed] if n_blocks == 1 else spawn_seeds(seed, n_blocks)
    sizes = [min(chunk_size, n - i * chunk_size) for i in range(n_blocks)]
    jobs = [(m, s, kwargs) for m, s in zip(sizes, seeds, strict=True)]
    blocks = _generated(jobs, workers)
    extra = {"seed": seed, "n": n, "chunk_size": chunk_size}
    return write_blocks(p, blocks, encoding=encoding, db_range=db_range,
                        sample_chunk=sample_chunk, attrs=extra, progress=progress, total=n)  # fmt: skip


def _synth_block(job: tuple[int, Any, dict[str, Any]]) -> WVSet:
    m, block_seed, kwargs = job
    return synth_wv(m, seed=block_seed, **kwargs)


def _generated(jobs: list[tuple[int, Any, dict[str, Any]]], workers: int) -> Iterator[WVSet]:
    """The blocks of ``jobs`` in order.

    With ``workers`` > 1 they are generated in a process pool that runs at most ``workers``
    blocks ahead of the one being consumed (bounded memory).
    """
    if workers == 1 or len(jobs) == 1:
        yield from map(_synth_block, jobs)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[WVSet]] = deque()
        for job in jobs:
            pending.append(pool.submit(_synth_block, job))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
