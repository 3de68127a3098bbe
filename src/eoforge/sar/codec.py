"""Compact storage of linear sigma0 imagettes: float32, dB-scaled float16, or quantised uint8 dB.

Archive-scale stores keep the decibel value ``d = 10 log10(max(x, floor))`` rather than the linear
intensity ``x`` (a network sees standardised dB anyway, so precision is spent where it is used):

* ``"float32"``: ``x`` as is (exact; 4 bytes a pixel).
* ``"float16"``: ``d`` rounded to float16 (2 bytes). The error in dB is at most half a float16
  spacing, ``|d - d16| <= 2^(floor(log2 |d|) - 11)``: 0.0156 dB for ``|d| < 64``.
* ``"uint8"``: ``q = round((clip(d, lo, hi) - lo) / step)`` with ``step = (hi - lo) / 255``
  (1 byte); decoded as ``d = lo + q step``, so ``|d - d8| <= step / 2`` inside ``[lo, hi]``.

Decoding returns linear float32 ``10^(d / 10)``; the uint8 decode is a 256-entry look-up table.
The parameters (``encoding``, ``db_offset = lo``, ``db_step``, ``db_floor``) are stored as
attributes of the store, so that every reader decodes the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from eoforge.core.errors import InputError, bad_value

ENCODINGS = ("float32", "float16", "uint8")

#: Default dB range of the uint8 encoding (sigma0 of ocean WV imagettes lies well inside it).
DB_RANGE = (-60.0, 10.0)
DB_FLOOR = 1e-6

_ATTR = "image_encoding"


def check_encoding(encoding: str, db_range: tuple[float, float] = DB_RANGE) -> None:
    """Refuse an unknown encoding or an empty/non-finite dB range, naming the option."""
    if encoding not in ENCODINGS:
        raise bad_value("encoding", encoding, " or ".join(ENCODINGS))
    lo, hi = (float(v) for v in db_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise bad_value("db_range", db_range, "two finite dB values lo < hi, e.g. (-60, 10)")


def encoding_attrs(encoding: str, db_range: tuple[float, float] = DB_RANGE) -> dict[str, Any]:
    """The store attributes that describe ``encoding`` (JSON-safe)."""
    check_encoding(encoding, db_range)
    lo, hi = (float(v) for v in db_range)
    attrs: dict[str, Any] = {_ATTR: encoding}
    if encoding != "float32":
        attrs["db_floor"] = DB_FLOOR
    if encoding == "uint8":
        attrs.update(db_offset=lo, db_step=(hi - lo) / 255.0)
    return attrs


def encode(images: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """Linear sigma0 ``(n, H, W)`` -> the stored array of ``attrs[image_encoding]``."""
    enc = attrs.get(_ATTR, "float32")
    x = np.asarray(images)
    if enc == "float32":
        return x.astype(np.float32, copy=False)
    db = 10.0 * np.log10(np.maximum(x.astype(np.float32), attrs["db_floor"]))
    if enc == "float16":
        return db.astype(np.float16)
    lo, step = attrs["db_offset"], attrs["db_step"]
    return np.clip(np.rint((db - lo) / step), 0, 255).astype(np.uint8)


def decode(raw: np.ndarray, attrs: dict[str, Any]) -> np.ndarray:
    """The stored array -> linear sigma0 float32 (inverse of :func:`encode` up to its rounding)."""
    enc = attrs.get(_ATTR, "float32")
    if enc == "float32":
        return np.asarray(raw, dtype=np.float32)
    if enc == "float16":
        return np.power(np.float32(10.0), np.asarray(raw, dtype=np.float32) / np.float32(10.0))
    if enc == "uint8":
        q = np.arange(256, dtype=np.float64)
        lut = np.power(10.0, (attrs["db_offset"] + q * attrs["db_step"]) / 10.0).astype(np.float32)
        return lut[np.asarray(raw, dtype=np.uint8)]
    raise InputError(
        f"the store's images use encoding {enc!r}, unknown to this eoforge (known: "
        f"{', '.join(ENCODINGS)}); write the store again with `eoforge sar synth-wv --encoding`."
    )


def store_encoding(attrs: dict[str, Any]) -> dict[str, Any]:
    """The encoding attributes found in a store's ``attrs`` (float32 when none are recorded)."""
    keys = (_ATTR, "db_floor", "db_offset", "db_step")
    found = {k: attrs[k] for k in keys if k in attrs}
    found.setdefault(_ATTR, "float32")
    return found
