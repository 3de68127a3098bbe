"""Atomic file writes: write to a temporary file in the same folder, then rename.

A crash or an exception during the write leaves the previous file (if any) untouched and no
half-written result behind: ``os.replace`` is atomic on POSIX and Windows within one filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from eoforge.core.errors import InputError


def _current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The process umask, read once (reading it means setting it).
_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    Works for files and for folders (e.g. a Zarr store): whatever the caller creates at the
    temporary path replaces ``path`` only if the ``with`` block finishes without an exception.

    Args:
        path: Final destination.
        suffix: Suffix of the temporary name (defaults to the destination's suffix, so that
            libraries that pick a format from the extension still work).

    Yields:
        The temporary path to write to (it does not exist yet).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    suffix = final.suffix if suffix is None else suffix
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".tmp{suffix}", dir=final.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary path {tmp} for {final}")
        if tmp.is_file():  # some writers (safetensors) create 0600 files: use the umask
            os.chmod(tmp, 0o666 & ~_UMASK)
        if final.is_dir() and not final.is_symlink():
            backup = final.with_name(f".{final.name}.old")
            shutil.rmtree(backup, ignore_errors=True)
            final.rename(backup)
            tmp.rename(final)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (fsync, then rename). Returns the path."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically. Returns the path."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, *, indent: int = 2) -> Path:
    """Serialise ``obj`` as JSON (NaN written as null) and write it atomically."""
    text = json.dumps(_json_safe(obj), indent=indent, sort_keys=False)
    return atomic_write_text(path, text + "\n")


def refuse_existing(
    *paths: str | os.PathLike[str], option: str = "--out", flag: str = "--overwrite"
) -> None:
    """Raise one :class:`~eoforge.core.errors.InputError` if any of ``paths`` exists.

    Commands that write an output call this unless the user passed ``flag``, so that an existing
    result is never replaced by accident.
    """
    for p in paths:
        if Path(p).exists():
            raise InputError(
                f"{option} {str(p)!r} already exists; pass {flag} to replace it, or choose "
                f"another {option}."
            )


def atomic_write_with(path: str | os.PathLike[str], writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` and move its output onto ``path`` only if it succeeds."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _json_safe(obj: Any) -> Any:
    """Convert numpy scalars/arrays and non-finite floats into plain JSON values."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj
