"""A folder of real imagettes (loose files or Sentinel-1 ``.SAFE`` products) into a WV store.

Loose files into a ``.zarr`` store are read and appended ``block`` files at a time (memory
bounded by one block); ``.SAFE`` products and ``.nc`` outputs are read whole.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eoforge.core.errors import bad_value
from eoforge.sar.codec import DB_RANGE
from eoforge.sar.readers import iter_imagettes, load_imagettes
from eoforge.sar.safe_import import find_safe_products
from eoforge.sar.store.layout import save_wv, write_blocks


def import_imagettes(
    folder: str | os.PathLike[str],
    path: str | os.PathLike[str],
    *,
    block: int = 8192,
    encoding: str = "float32",
    db_range: tuple[float, float] = DB_RANGE,
    sample_chunk: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **read: Any,
) -> Path:
    """Read a folder of imagettes into a store; loose files into ``.zarr`` go ``block`` at a time.

    Loose files (``.tif/.png/.nc/.npy``) written to a ``.zarr`` store are read and appended in
    blocks of ``block`` files (:func:`eoforge.sar.readers.iter_imagettes`), so memory does not
    grow with the folder; ``.SAFE`` products and ``.nc`` outputs are read whole
    (:func:`eoforge.sar.readers.load_imagettes`).

    Args:
        folder: The folder (see :func:`eoforge.sar.readers.load_imagettes`).
        path: Output store.
        block: Files read (and held) at a time.
        encoding: Image encoding (float32, float16 or uint8).
        db_range: dB range of the uint8 encoding.
        sample_chunk: Imagettes per Zarr chunk.
        progress: Optional ``progress(done, total)``.
        **read: ``labels``, ``pattern``, ``db``, ``crop`` and the ``.SAFE`` options
            (``polarisation``, ``swath``, ``denoise``, ``multilook``) of ``load_imagettes``.

    Returns:
        ``path``.
    """
    if not (isinstance(block, int) and block >= 1):
        raise bad_value("block", block, "a positive int (files read at a time)")
    loose = {k: read[k] for k in ("labels", "pattern", "db", "crop") if k in read}
    safe_options = {k: v for k, v in read.items() if k not in loose and v is not None}
    safe_options.pop("denoise", None)
    root = Path(folder)
    has_safe = root.is_dir() and bool(find_safe_products(root, loose.get("pattern", "**/*"))[0])
    if Path(path).suffix != ".zarr" or has_safe or safe_options:
        wvset = load_imagettes(folder, progress=progress, **read)
        return save_wv(wvset, path, encoding=encoding, db_range=db_range, sample_chunk=sample_chunk)
    total, blocks = iter_imagettes(folder, block=block, progress=progress, **loose)
    return write_blocks(path, blocks, encoding=encoding, db_range=db_range,
                        sample_chunk=sample_chunk, progress=None, total=total)  # fmt: skip
