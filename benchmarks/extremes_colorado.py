"""Real data: regions of Colorado station maxima (R ``fields``, ``COmonthlyMet``) through the CLI.

    python benchmarks/extremes_colorado.py [--folder data/colorado] [--export-only]
        [--min-years 30 --min-common-years 20 --n-sim 500]

* Exports ``CO.ppt`` with Rscript (needs R and the package ``fields``, Debian ``r-cran-fields``)
  and writes ``FOLDER/colorado_maxima.nc``: ``ppt_max`` (year, site), the annual maximum of the
  monthly totals in mm of each station-year with >= 11 of 12 months reported (the rule and the
  cm -> mm fix are documented in ``tests/helpers/colorado.py``), with lon, lat, elev, station_id.
* Unless ``--export-only``: runs ``eoforge extremes cluster FOLDER/colorado_maxima.nc --var
  ppt_max --k auto ...`` into ``FOLDER/run`` and prints the figures recorded in
  benchmarks/RESULTS.md (stations kept and masked by reason, K, silhouette, H1 per region, mean
  longitude and elevation per region, wall time).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.colorado import colorado_maxima_nc, r_fields_available


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=Path("data/colorado"))
    ap.add_argument("--export-only", action="store_true")
    ap.add_argument("--min-years", type=int, default=30)
    ap.add_argument("--min-common-years", type=int, default=20)
    ap.add_argument("--n-sim", type=int, default=500)
    args = ap.parse_args()
    if not r_fields_available():
        sys.exit("Rscript or the R package fields is missing (apt-get install r-cran-fields).")
    path = colorado_maxima_nc(args.folder)
    print(f"wrote {path}")
    if args.export_only:
        return
    import xarray as xr
    from typer.testing import CliRunner

    from eoforge.cli.main import app

    out = args.folder / "run"
    shutil.rmtree(out, ignore_errors=True)
    cmd = ["extremes", "cluster", str(path), "--var", "ppt_max", "--k", "auto",
           "--min-years", str(args.min_years), "--min-common-years", str(args.min_common_years),
           "--n-sim", str(args.n_sim), "--out", str(out)]  # fmt: skip
    t0 = time.perf_counter()
    res = CliRunner().invoke(app, cmd)
    wall = time.perf_counter() - t0
    if res.exit_code != 0:
        sys.exit(res.output)
    s = json.loads((out / "summary.json").read_text())
    ds = xr.open_dataset(path)
    region = xr.open_dataset(out / "regions.nc")["region"].values
    lon, elev = ds["lon"].values, ds["elev"].values
    print(f"eoforge {' '.join(cmd)}  ({wall:.1f} s)")
    masked = {k: len(v) for k, v in s["masked_sites"].items() if v}
    print(f"stations {s['n_sites']}, kept {s['n_sites'] - s['n_masked']}, masked {masked}")
    sil = {r["k"]: r["silhouette"] for r in s["silhouette_table"]}
    print(f"K = {s['k']}, silhouette by K {sil}")
    print("| region | stations | mean lon | mean elev (m) | median max (mm) | H1 | verdict |")
    print("|---|---|---|---|---|---|---|")
    med = np.nanmedian(ds["ppt_max"].values, axis=0)
    for r in s["regions"]:
        m = region == r["region"]
        print(f"| {r['region']} | {r['n_sites']} | {lon[m].mean():.2f} | {elev[m].mean():.0f} | "
              f"{np.mean(med[m]):.1f} | {r.get('H1')} | {r.get('verdict', '')} |")  # fmt: skip
    for w in s["warnings"]:
        print(f"warning: {w}")


if __name__ == "__main__":
    main()
