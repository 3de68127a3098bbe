"""Benchmark: memory of archive-scale stores -- writing them and pre-training DINO from them.

Every measured job runs in its own Python process; its peak resident memory is the kernel's
``ru_maxrss`` of that process (``os.wait4``), so nothing of this script is counted.

1. ``write``: ``eoforge.sar.store.write_synth_wv`` of ``--n-synth`` imagettes (uint8 dB, chunks
   of 1024), block by block: peak RSS vs the size of the decoded set.
2. ``archive``: a ``--n`` imagette uint8 store (default 10^6 of 64 px, 3.9 GiB stored raw,
   15.3 GiB decoded), filled by appending one generated 8192-imagette block again and again
   (``--fill repeat``, minutes; content does not matter for memory) or generated block by block
   (``--fill synth``, ~1.4 ms an imagette on one core).
3. ``pretrain``: ``eoforge.ssl.pretrain`` streaming from the archive (``stream=True``), a tiny ViT,
   one epoch of a random ``--seen`` imagette subset (``curation.mode = "random"``): peak RSS
   against the 4 GB target; the baseline in the same run is the in-memory path
   (``stream=False``) on the first ``--n-baseline`` imagettes, and the stream on that same store.
4. ``embed``: ``eoforge.ssl.embed.embed_dataset`` (chunk by chunk, chunked Zarr output) of the
   small store and of the archive with a run's teacher, against the former in-memory path (load
   the store, embed the array, write it) on the small store; and ``probe_run`` on the archive
   with ``--max-items`` items drawn uniformly. The teacher is the streamed pre-training run of the
   small store (trained here when ``pretrain`` is not among ``--jobs``).

Usage::

    python benchmarks/ssl_stream.py                       # 10^6 imagettes, ~10 min, ~4 GB disk
    python benchmarks/ssl_stream.py --n 100000 --n-synth 20000 --seen 1024
    python benchmarks/ssl_stream.py --jobs embed --n 300000 --workdir W   # W's stores are reused
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_WRITE = """
import sys
from eoforge.sar.store import write_synth_wv
write_synth_wv(sys.argv[1], int(sys.argv[2]), seed=0, size=int(sys.argv[3]), chunk_size=8192,
               encoding="uint8", sample_chunk=1024)
"""

_FILL = """
import sys
import numpy as np
from eoforge.sar.store import set_chunks, to_dataset, write_synth_wv
from eoforge.sar.wv import synth_wv
path, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
block = synth_wv(min(n, 8192), size=size, seed=0)
done = 0
while done < n:
    m = min(len(block), n - done)
    part = block.subset(np.arange(m))
    ds = to_dataset(part, "uint8")
    if done == 0:
        set_chunks(ds, 1024)
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_zarr(path, append_dim="sample", consolidated=False)
    done += m
"""

_PRETRAIN = """
import json, sys
from eoforge.curation.dynamic import CurationConfig
from eoforge.ssl.pretrain import SSLConfig, pretrain
data, out, ratio, stream = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4] == "1"
cfg = SSLConfig(encoder="vit-tiny/8", encoder_dim=32, encoder_depth=2, batch_size=64, out_dim=64,
                head_hidden_dim=64, head_bottleneck_dim=32, n_local_crops=2, global_size=32,
                local_size=16, epochs=1, accelerator="cpu", stream=stream,
                curation=CurationConfig(mode="random", ratio=ratio))
run = pretrain(cfg, data, out)
print(json.dumps(json.loads((run / "metrics.json").read_text())["images_seen"]))
"""

_EMBED_MEMORY = """
import sys
import numpy as np
import xarray as xr
from eoforge.sar.store import load_wv
from eoforge.ssl.embed import embed_images, load_teacher
run, data, out = sys.argv[1:4]
wv = load_wv(data)  # the former path: the whole store in memory
encoder, normaliser, info = load_teacher(run)
Z = embed_images(encoder, wv.images, normaliser, info["eval_size"], device="cpu")
xr.Dataset({"embedding": (("item", "feature"), Z), "label": ("item", wv.labels)}).to_zarr(
    out, mode="w", consolidated=False)
"""

_EMBED_STREAM = """
import sys
from eoforge.ssl.embed import embed_dataset
embed_dataset(sys.argv[1], sys.argv[2], sys.argv[3], device="cpu", workers=int(sys.argv[4]))
"""

_PROBE = """
import json, sys
from eoforge.ssl.probe import probe_run
res = probe_run(sys.argv[1], sys.argv[2], max_items=int(sys.argv[3]), write=False, device="cpu")
print(res["probed"]["n_probed"])
"""


def _run(code: str, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, stdout) of ``python -c code args`` in a child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed:\n{err[-2000:]}")
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, out.strip()


def _embed_jobs(
    run: Path, small: Path, big: Path, args: argparse.Namespace, work: Path
) -> list[tuple[str, int, float, float, float]]:
    """Rows of the embed job: former in-memory embedding vs the chunked one, and a probe."""
    px, rows = args.size * args.size, []
    for name, code, data, n in (
        ("embed in memory (former)", _EMBED_MEMORY, small, args.n_baseline),
        ("embed streamed", _EMBED_STREAM, small, args.n_baseline),
        ("embed streamed", _EMBED_STREAM, big, args.n),
    ):
        out = work / f"emb_{code is _EMBED_STREAM}_{n}.zarr"
        extra = [str(args.workers)] if code is _EMBED_STREAM else []
        t, rss, _ = _run(code, str(run), str(data), str(out), *extra)
        rows.append((name, n, t, rss, n * px * 4 / 2**20))
        shutil.rmtree(out, ignore_errors=True)
    t, rss, probed = _run(_PROBE, str(run), str(big), str(args.max_items))
    rows.append((f"probe streamed ({probed} probed)", args.n, t, rss, args.n * px * 4 / 2**20))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="imagettes of the archive")
    ap.add_argument("--n-synth", type=int, default=50_000, help="imagettes of the write test")
    ap.add_argument("--n-baseline", type=int, default=20_000, help="in-memory baseline size")
    ap.add_argument("--size", type=int, default=64, help="pixels per side")
    ap.add_argument("--seen", type=int, default=2048, help="imagettes trained on (1 epoch)")
    ap.add_argument("--fill", choices=["repeat", "synth"], default="repeat")
    ap.add_argument("--workdir", type=Path, default=None, help="where the stores go (default tmp)")
    ap.add_argument("--jobs", default="write,pretrain,embed", help="comma-separated jobs to run")
    ap.add_argument("--max-items", type=int, default=100_000, help="items probed (embed job)")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers of the embed job")
    args = ap.parse_args()
    jobs = set(args.jobs.split(","))
    work = Path(args.workdir or tempfile.mkdtemp(prefix="eoforge_stream_"))
    px = args.size * args.size
    rows: list[tuple[str, int, float, float, float]] = []

    if "write" in jobs:
        t, rss, _ = _run(_WRITE, str(work / "synth.zarr"), str(args.n_synth), str(args.size))
        rows.append(("write synth-wv uint8", args.n_synth, t, rss, args.n_synth * px * 4 / 2**20))
    small, big = work / "small.zarr", work / "archive.zarr"
    if not small.exists():
        _run(_FILL, str(small), str(args.n_baseline), str(args.size))
    if not big.exists():
        t, rss, _ = _run(_WRITE if args.fill == "synth" else _FILL, str(big), str(args.n),
                         str(args.size))  # fmt: skip
        rows.append((f"write archive ({args.fill})", args.n, t, rss, args.n * px * 4 / 2**20))
    pretrain_jobs = [("pretrain in memory", small, args.n_baseline, "0"),
                     ("pretrain streamed", small, args.n_baseline, "1"),
                     ("pretrain streamed", big, args.n, "1")]  # fmt: skip
    run = work / f"run_streamed_{args.n_baseline}"
    if "pretrain" not in jobs and not (run / "encoder.json").exists():
        pretrain_jobs = pretrain_jobs[1:2]  # the teacher of the embed job
    elif "pretrain" not in jobs:
        pretrain_jobs = []
    for name, data, n, stream in pretrain_jobs:
        out = work / f"run_{name.split()[-1]}_{n}"
        t, rss, seen = _run(_PRETRAIN, str(data), str(out), str(args.seen / n), stream)
        rows.append((f"{name} ({seen} seen)", n, t, rss, n * px * 4 / 2**20))
    if "embed" in jobs:
        rows += _embed_jobs(run, small, big, args, work)
    print(f"{'job':<36}{'imagettes':>11}{'wall s':>9}{'peak RSS MiB':>14}{'decoded MiB':>13}")
    for name, n, t, rss, dec in rows:
        print(f"{name:<36}{n:>11}{t:>9.1f}{rss:>14.0f}{dec:>13.0f}")
    print(json.dumps({"workdir": str(work)}))


if __name__ == "__main__":
    main()
