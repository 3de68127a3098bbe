"""Reading image arrays from ``.npy``, ``.npz`` and ``.zarr`` files, with one-line errors.

numpy and zarr raise many kinds of exceptions on a damaged file (``BadZipFile``, ``EOFError``,
``ValueError`` about pickled data or mmap lengths, ``GroupNotFoundError``, codec
``RuntimeError`` errors). Every reader here turns them into one :class:`InputError` or
:class:`DataNotFoundError` that names the file, what is wrong with it and how to write it again,
so that a command given a broken file prints one line and exits with code 2.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from eoforge.core.errors import DataNotFoundError, EoforgeError, InputError

_ZARR_METADATA = ("zarr.json", ".zgroup", ".zarray")
_MAGIC = {".npy": b"\x93NUMPY", ".npz": b"PK"}  # the .npy header; a .npz is a zip archive


def _reason(err: BaseException) -> str:
    """``Type: first line of the message`` (at most 160 characters)."""
    first = (str(err).strip().splitlines() or [""])[0][:160]
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


@contextmanager
def _one_line(what: str, fix: str) -> Iterator[None]:
    """Re-raise anything but an eoforge error as ``InputError("could not read WHAT (...); FIX")``."""
    try:
        with warnings.catch_warnings():  # zarr warns about unknown folders before failing
            warnings.simplefilter("ignore")
            yield
    except EoforgeError:
        raise
    except Exception as err:  # whatever numpy, zipfile, zarr or its codecs raise
        raise InputError(f"could not read {what}: {_reason(err)}; {fix}") from None


def _check_magic(p: Path, fix: str) -> None:
    """Refuse a file that does not start as a ``.npy``/``.npz`` does (numpy would try pickle)."""
    magic = _MAGIC[p.suffix.lower()]
    with _one_line(repr(str(p)), fix), open(p, "rb") as fh:
        head = fh.read(len(magic))
    if head != magic:
        raise InputError(
            f"{str(p)!r} is not a {p.suffix.lower()} file (it does not start with the "
            f"{p.suffix.lower()} signature; empty, garbage or another format); {fix}"
        )


def existing(path: str | os.PathLike[str], what: str = "data") -> Path:
    """``Path(path)``, or :class:`DataNotFoundError` when nothing is there."""
    p = Path(path)
    if not p.exists():
        raise DataNotFoundError(f"{what} {str(p)!r} does not exist; check the path.")
    return p


def read_npy(path: str | os.PathLike[str], *, mmap: bool = False) -> np.ndarray:
    """The array of a ``.npy`` file (memory-mapped when ``mmap``; pickled objects refused)."""
    p = existing(path)
    fix = "save the images with numpy.save(path, images) (a numeric (N, H, W) array)."
    _check_magic(p, fix)
    with _one_line(f"{str(p)!r} as a .npy array (truncated or damaged)", fix):
        return np.load(p, mmap_mode="r" if mmap else None, allow_pickle=False)


def read_npz(
    path: str | os.PathLike[str], keys: tuple[str, ...] | None, *, required: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` held by a ``.npz`` archive (those present), read into memory.

    Args:
        path: The archive.
        keys: Names to read when present (``None``: all, in the archive's order).
        required: A name that must be present (:class:`DataNotFoundError` otherwise).
    """
    p = existing(path)
    fix = "save it again with numpy.savez(path, images=..., labels=...)."
    _check_magic(p, fix)
    what = f"{str(p)!r} as a .npz archive (truncated or damaged)"
    with _one_line(what, fix), np.load(p, allow_pickle=False) as z:
        names = list(z.files)
        if required is not None and required not in names:
            raise DataNotFoundError(
                f"{str(p)!r} has no array {required!r} (found {sorted(names)}); "
                f"save it with numpy.savez(path, {required}=...)."
            )
        return {k: np.asarray(z[k]) for k in (names if keys is None else keys) if k in names}


def read_zarr(
    path: str | os.PathLike[str], keys: tuple[str, ...], *, required: str | None = None
) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of a zarr group (v2 or v3) that are present, read into memory."""
    import zarr

    p = existing(path)
    if not p.is_dir() or not any((p / name).is_file() for name in _ZARR_METADATA):
        raise DataNotFoundError(
            f"{str(p)!r} is not a zarr store: it has no zarr.json (zarr v3) or .zgroup (v2) "
            "metadata; write it again with zarr or `eoforge sar synth-wv`."
        )
    fix = "write the store again (zarr, or `eoforge sar synth-wv`)."
    with _one_line(f"the zarr store {str(p)!r}", fix):
        group: Any = zarr.open_group(str(p), mode="r")
        names = set(group.array_keys())
    if required is not None and required not in names:
        raise DataNotFoundError(
            f"{str(p)!r} has no array {required!r} (found {sorted(names)}); store the images "
            f"as the array {required!r} of the group."
        )
    out = {}
    for key in (k for k in keys if k in names):
        with _one_line(f"{key!r} from the zarr store {str(p)!r} (corrupt or missing chunks)", fix):
            out[key] = np.asarray(group[key][...])
    return out
