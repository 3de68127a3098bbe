"""Digests of the seeded outputs of methane detect / evaluate / calibration, for before/after checks.

Prints one JSON object: for detect on the test scenes (the 2000 kg/h plume, three reference dates
with the majority and the "all" rule, the deterministic prior detector, the four-confounder scene
with and without the context veto) the plumes' repr and sha256 prefixes of labels, maps and
outlines; evaluate's summary at 64 px (plain, K = 3, confounders + clouds + bootstrap rule,
fixed threshold without veto); the detector rate fit (K = 1 and 3), calibrate at 64 px, three
simulate_case cases and calibrate_effective_wind on 20 seeds. Run it on two checkouts (an older
one with its own module paths) and compare the files:

    PYTHONPATH=src python benchmarks/methane_seeded_digest.py > after.json
"""

import hashlib
import json
import sys

import numpy as np
import torch

from eoforge.io.raster import GeoInfo
from eoforge.methane.calibration.detector import calibrate_detector
from eoforge.methane.calibration.detector_rates import calibrate_detector_rates
from eoforge.methane.calibration.effective_wind import calibrate_effective_wind, simulate_case
from eoforge.methane.detect.pipeline import detect
from eoforge.methane.detector import load_default_detector
from eoforge.methane.evaluate.benchmark import evaluate_detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.scenes import simulate_pair, simulate_plume_pair
from eoforge.methane.scenes.revisits import revisit_references

torch.set_num_threads(1)
GEO = GeoInfo.from_bounds(west=700000.0, north=3700000.0, resolution=20.0, crs="EPSG:3857")
det = load_default_detector()
out = {}


def h(obj):
    if isinstance(obj, np.ndarray):
        return hashlib.sha256(np.ascontiguousarray(obj).tobytes()).hexdigest()[:16]
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def res_digest(r):
    return {
        "plumes": [repr(p) for p in r.plumes],
        "geom": h([p.geometry for p in r.plumes]),
        "labels": h(r.labels),
        "prob": h(r.prob),
        "column": h(r.column),
        "scene": h(r.scene),
        "thr": r.threshold,
    }


def prior_detector():
    """The deterministic detector of tests/methane/detect/test_pipeline.py, copied so the
    script needs only the src tree of the checkout it digests."""
    from eoforge.methane.detector import Detector, PlumeUNet, UNetSpec, channel_names

    names = channel_names(smooth=1.5)
    k = names.index("col_mbmp_smooth")
    net = PlumeUNet(UNetSpec(len(names), (8, 16), prior_channel=k)).eval()
    with torch.no_grad():
        for head in (net.head_logit, net.head_column):
            head.weight.zero_()
            head.bias.zero_()
        net.shortcut.weight[0, k] = 40.0
        net.shortcut.bias[0] = -6.0
    return Detector(net, smooth=1.5)


def detect_digest(pair, refs=None, **kw):
    """res_digest of detect on ``pair`` (or its target against ``refs``), 128 px tiles."""
    kw = {"model": det, "tile": 128, "overlap": 32, **kw}
    refs = pair.reference if refs is None else refs
    return res_digest(detect(pair.target, refs, GEO, pair.sza, pair.vza, **kw))


def plume_pair(rate, wind):
    return simulate_plume_pair((192, 192), "semi-arid", 11, emission_rate_kg_h=rate,
                               wind_speed=wind, wind_direction=250.0, source=(96.0, 70.0))  # fmt: skip


four = ["albedo", "shadow", "wet_soil", "burn_scar"]
pair, _, _, _ = plume_pair(2000.0, 3.0)
out["detect_plume"] = detect_digest(pair, wind_speed=3.0)
refs = [pair.reference, *revisit_references((192, 192), "semi-arid", 11, 2)]
out["detect_3refs"] = detect_digest(pair, refs, wind_speed=3.0)
out["detect_3refs_all"] = detect_digest(pair, refs, wind_speed=3.0, reference_rule="all")
pair, _, _, _ = plume_pair(8000.0, 2.5)
out["detect_prior"] = detect_digest(pair, wind_speed=2.5, model=prior_detector(), min_area_px=8)
pair = simulate_pair((192, 192), "semi-arid", 104, confounders=four)
for mcc in (None, 0.05):
    out[f"detect_confounders_{mcc}"] = detect_digest(pair, max_context_change=mcc)
for name, kw in {
    "plain": {},
    "k3": {"references": 3},
    "hard": {"confounders_max": 3, "cloud_prob": 0.5, "fp_confidence": 0.9},
    "fixed": {"threshold": 0.7, "max_context_change": None},
}.items():
    cfg = EvaluateConfig.from_dict(
        dict(n_negative=3, n_per_rate=2, rates=(1000.0, 8000.0), shape=64, seed=0, **kw),
        source="arguments",
    )
    s = evaluate_detector(cfg, model=det)
    out[f"evaluate_{name}"] = json.dumps(s, sort_keys=True)
for k in (1, 3):
    try:
        out[f"rates_k{k}"] = calibrate_detector_rates(det, range(1000, 1006), references=k).__dict__
    except Exception as err:
        out[f"rates_k{k}"] = repr(err)
try:
    c = calibrate_detector(det, n_negative=2, size=64, n_rate_cases=5)
    out["calibrate"] = [c.threshold, c.rate_calibration.__dict__, c.calibration]
except Exception as err:
    out["calibrate"] = repr(err)
cases = [simulate_case(s) for s in range(3)]
out["simulate_case"] = [
    {k: (h(v) if isinstance(v, np.ndarray) else v) for k, v in c.items()} for c in cases
]
try:
    out["effective_wind"] = repr(calibrate_effective_wind(range(20)))
except Exception as err:
    out["effective_wind"] = repr(err)
json.dump(out, sys.stdout, indent=1, sort_keys=True, default=repr)
