"""Memory of ``embed_dataset`` on a store much larger than one chunk: the process grows by far
less than the decoded store, and not at all once the first chunks are embedded."""

import subprocess
import sys
import textwrap

import numpy as np
import zarr

from tests.helpers.big_store import DECODED_BYTES, write_big_store
from tests.ssl.fake_run import make_run

_MEASURE = textwrap.dedent(
    """
    import sys
    import torch
    from eoforge.ssl.embed import embed_dataset
    rss = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096
    torch.set_num_threads(1)
    before = rss()
    samples = []
    def progress(done, total):  # called at every flush (one chunk of 1000 rows)
        samples.append(rss())
    embed_dataset(sys.argv[1], sys.argv[2], sys.argv[3], batch_size=256, flush_rows=1000,
                  chunk_rows=512, device="cpu", progress=progress)
    warm = samples[3]  # three chunks in: buffers and torch's first allocations are made
    print(len(samples), max(0, max(samples) - before), max(0, max(samples[4:]) - warm))
    """
)


def test_embedding_memory_is_bounded_by_a_chunk_not_the_store(tmp_path):
    path = tmp_path / "big.zarr"
    part = write_big_store(path)
    run = make_run(tmp_path / "run", part.images[:64], size=8, dim=16)
    whole = DECODED_BYTES
    out = tmp_path / "emb.zarr"
    res = subprocess.run([sys.executable, "-c", _MEASURE, str(run), str(path), str(out)],
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    n_flush, growth, late = (int(v) for v in res.stdout.split())
    assert n_flush == 24  # 24 chunks of 1000 (the first block sets the chunk): a flush each
    mib = f"held {growth >> 20} MiB ({late >> 20} after 3 chunks), store {whole >> 20} MiB"
    # Resident memory sampled at every flush (not the lifetime peak, which a transient sets):
    # measured ~120 MiB held (one chunk decoded, normalised and read; allocator slack) and
    # ~40 MiB of late swing. Holding the decoded store (the former path) holds all of it.
    assert growth < 0.75 * whole, mib  # a loading reader holds all of it
    assert late < 0.25 * whole, mib  # a reader that kept what it read would add ~20/24 of it
    emb = zarr.open_group(str(out), mode="r")["embedding"]
    assert emb.shape == (24_000, 16) and np.isfinite(emb[-5:]).all()
