"""TenGeoP-SARwv class labels of imagette files: class names, label CSVs, file suffixes.

A labels CSV has the file name in its first column and the class name in its second (a header
row is optional; names are matched case-insensitively with spaces or hyphens read as
underscores, e.g. ``"Pure Ocean Waves"``; class indices 0-9 are accepted too). Optional columns
named ``wind_speed`` and ``hs`` in a header fill those targets; an empty cell is NaN. Rows are
keyed by the file stem, so ``a.tif`` and the Sentinel-1 measurement ``a`` match the same row.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from eoforge.core.errors import DataNotFoundError, InputError
from eoforge.sar.wv import CLASSES

#: Suffixes of the imagette files read from folders (GeoTIFF, PNG, NetCDF, NumPy).
SUFFIXES = (".tif", ".tiff", ".png", ".nc", ".npy")


def class_index(name: str, where: str) -> int:
    """The index in :data:`~eoforge.sar.wv.CLASSES` of a class name or a class number.

    Args:
        name: A class name (any case, spaces or hyphens for underscores) or an index ``0-9``.
        where: Where ``name`` was read, for the error message.

    Raises:
        InputError: ``name`` is no class.
    """
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key in CLASSES:
        return CLASSES.index(key)
    if key.isdigit() and int(key) < len(CLASSES):
        return int(key)
    raise InputError(f"unknown class name {name!r} in {where}; expected one of {list(CLASSES)}.")


def looks_like_class(value: str) -> bool:
    """Whether ``value`` names a class (as :func:`class_index` reads it)."""
    try:
        class_index(value, "")
    except InputError:
        return False
    return True


def read_labels(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """Parse a TenGeoP-style labels CSV into ``{file stem: {"label", "wind_speed", "hs"}}``.

    Raises:
        DataNotFoundError: The file does not exist.
        InputError: The file is empty, a row has fewer than two columns, or a class is unknown.
    """
    p = Path(path)
    if not p.is_file():
        raise DataNotFoundError(f"labels file {str(p)!r} does not exist; check the path.")
    with open(p, newline="") as fh:
        sample = fh.read(4096)
        fh.seek(0)
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
        rows = [r for r in csv.reader(fh, dialect) if r and any(c.strip() for c in r)]
    if not rows:
        raise InputError(f"labels file {str(p)!r} is empty; expected rows 'filename,class'.")
    header = [c.strip().lower() for c in rows[0]]
    has_header = (
        len(header) >= 2
        and not looks_like_class(header[1])
        and Path(header[0]).suffix.lower() not in SUFFIXES
    )
    cols = {
        name: header.index(name) for name in ("wind_speed", "hs") if has_header and name in header
    }
    out: dict[str, dict[str, float]] = {}
    for lineno, row in enumerate(rows[1:] if has_header else rows, start=2 if has_header else 1):
        if len(row) < 2:
            raise InputError(
                f"{p.name} line {lineno} has {len(row)} column(s); need filename,class."
            )
        entry = {"label": float(class_index(row[1], f"{p.name} line {lineno}"))}
        for name, j in cols.items():
            entry[name] = float(row[j]) if j < len(row) and row[j].strip() else float("nan")
        out[Path(row[0].strip()).stem] = entry
    return out
