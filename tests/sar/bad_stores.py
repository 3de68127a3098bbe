"""Broken copies of a small WV store, for the one-line-error tests of every command reading one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from eoforge.sar.store import save_wv
from eoforge.sar.wv import synth_wv


def make_bad_stores(folder: Path) -> dict[str, Path]:
    """A good ``ok.zarr`` and broken inputs: corrupt chunks, no metadata, garbage/truncated .npz."""
    folder.mkdir(parents=True, exist_ok=True)
    ok = save_wv(synth_wv(24, size=8, seed=0), folder / "ok.zarr")
    out = {"ok": ok}
    corrupt = folder / "corrupt_chunks.zarr"
    shutil.copytree(ok, corrupt)
    chunks = [p for p in (corrupt / "images").rglob("*") if p.is_file() and "zarr" not in p.name]
    assert chunks, "the store layout changed: no image chunk files found"
    for p in chunks:
        p.write_bytes(b"not a compressed chunk")
    out["corrupt_chunks"] = corrupt
    no_meta = folder / "no_metadata.zarr"
    shutil.copytree(ok, no_meta)
    for name in ("zarr.json", ".zgroup", ".zattrs", ".zmetadata"):
        (no_meta / name).unlink(missing_ok=True)
    out["no_metadata"] = no_meta
    garbage = folder / "garbage.npz"
    garbage.write_bytes(np.random.default_rng(0).bytes(2000))
    out["garbage_npz"] = garbage
    good_npz = folder / "good.npz"
    np.savez(good_npz, images=np.ones((4, 8, 8), np.float32))
    truncated = folder / "truncated.npz"
    truncated.write_bytes(good_npz.read_bytes()[:100])
    out["truncated_npz"] = truncated
    return out
