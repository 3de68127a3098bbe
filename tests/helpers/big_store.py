"""A uint8 Zarr store of 24,000 64 px imagettes (375 MiB decoded) for bounded-memory tests."""

from __future__ import annotations

from pathlib import Path

from eoforge.sar.store import set_chunks, to_dataset
from eoforge.sar.wv import WVSet, synth_wv

N_BLOCKS, BLOCK, SIZE = 24, 1000, 64
DECODED_BYTES = N_BLOCKS * BLOCK * SIZE * SIZE * 4
"""Size of the whole store decoded to float32 (393 MB)."""


def write_big_store(path: Path) -> WVSet:
    """Append one generated block 24 times (the writer never holds the store); chunks of 1024
    imagettes along ``sample``. Returns the block."""
    part = synth_wv(BLOCK, size=SIZE, seed=0)
    for i in range(N_BLOCKS):
        ds = to_dataset(part, "uint8")
        if i == 0:
            set_chunks(ds, 1024)
            ds.to_zarr(path, mode="w", consolidated=False)
        else:
            ds.to_zarr(path, append_dim="sample", consolidated=False)
    return part
