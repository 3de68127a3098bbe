"""evaluate / calibrate / the rate fit with K reference dates (scenes.revisits), and K = 1 unchanged."""

from dataclasses import replace

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from eoforge.cli.main import app
from eoforge.core.errors import InputError
from eoforge.methane.calibration.detector import calibrate_detector
from eoforge.methane.calibration.detector_rates import calibrate_detector_rates
from eoforge.methane.detect.context_veto import veto, veto_every
from eoforge.methane.detector import infer, load_default_detector
from eoforge.methane.detector.features import channel_names
from eoforge.methane.detector.model import insert_input_channel
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.module import DetectorModule
from eoforge.methane.detector.weights import default_weights_path, save_detector
from eoforge.methane.evaluate.benchmark import evaluate_detector
from eoforge.methane.evaluate.config import EvaluateConfig
from eoforge.methane.scenes import simulate_pair
from eoforge.methane.scenes.revisits import revisit_references

torch.set_num_threads(1)

TINY = dict(n_negative=2, rates=(5000.0,), n_per_rate=2, shape=64, seed=3, confounders_max=2,
            cloud_prob=0.5)  # fmt: skip


def _three_date(det):
    """The single-date detector with the four stack channels added with zero weights."""
    names = channel_names(det.context, det.smooth, det.noise, 3)
    net = det.model
    for i in (i for i, n in enumerate(names) if n.endswith("_stack")):
        net = insert_input_channel(net, i)
    return replace(det, model=net, reference_dates=3)


def test_one_reference_gives_the_former_results():
    # Figures of the code before K references (commit f20fad2), same seeds.
    det = load_default_detector()
    s = evaluate_detector(EvaluateConfig(**TINY), model=det)
    assert s["references"] == 1 and s["pod_detector"] == [1.0]
    assert s["threshold"] == pytest.approx(0.00722128157528199, rel=1e-6)
    assert s["rate_error_median"] == pytest.approx(0.40916335085990707, rel=1e-6)
    assert s["mbmp_threshold_mol_m2"] == pytest.approx(6.353756054444999, rel=1e-9)
    fit = calibrate_detector_rates(det, seeds=range(1000, 1004), threshold=0.3)
    assert (fit.a, fit.b, fit.n) == pytest.approx((0.4104208476369328, 0.35262978606250234, 4))


def test_k_references_are_the_revisits_and_a_single_date_detector_takes_their_majority(
    monkeypatch,
):
    det, seen = load_default_detector(), []
    real = infer.predict
    monkeypatch.setattr(
        infer, "predict", lambda t, r, *a, **k: seen.append(r) or real(t, r, *a, **k)
    )
    cfg = EvaluateConfig(**{**TINY, "n_per_rate": 1, "n_negative": 1, "references": 3})
    assert evaluate_detector(cfg, model=det)["references"] == 3
    assert len(seen) == 6  # 2 scenes x 3 single-reference passes
    rng = np.random.default_rng(3)  # the first scene's draws (evaluate's order)
    surface = str(rng.choice(cfg.surfaces))
    seed = 2**30 + int(rng.integers(0, 2**30))
    refs = revisit_references((64, 64), surface, seed, 3, noise_scale=1.0)
    for got, want in zip(seen[:3], refs, strict=True):
        np.testing.assert_array_equal(got["B12"], want["B12"])
    assert not np.array_equal(refs[0]["B12"], refs[1]["B12"])
    # the majority of three is the per-pixel median of the three probabilities
    pair = simulate_pair((64, 64), surface, seed, date_seed=0)
    consts = infer.reference_constants(pair.target, refs, pair.sza, pair.vza, det)
    prob, _ = infer.predict_references(pair.target, refs, consts, pair.sza, pair.vza, det,
                                       tile=64, overlap=32)  # fmt: skip
    each = [infer.predict(pair.target, r, pair.sza, pair.vza, model=det, tile=64, overlap=32,
                          constants=c)[0] for r, c in zip(refs, consts, strict=True)]  # fmt: skip
    np.testing.assert_array_equal(prob, np.median(each, axis=0))


def test_a_three_date_detector_evaluates_and_calibrates_in_one_pass(monkeypatch):
    v11 = load_default_detector()
    det, calls = _three_date(v11), []
    real = infer.compute_features
    monkeypatch.setattr(infer, "compute_features",
                        lambda *a, **k: calls.append(a) or real(*a, **k))  # fmt: skip
    s = evaluate_detector(EvaluateConfig(**{**TINY, "n_negative": 1}), model=det)
    assert s["references"] == 3 and len(calls) == 3 and all(len(c[-1]) == 3 for c in calls)
    out = calibrate_detector(det, n_negative=2, size=64, n_rate_cases=4, threshold=0.3)
    assert out.threshold == 0.3 and out.rate_calibration.n >= 3 and out.reference_dates == 3
    # zero stack weights: the one pass equals v11 against the first reference date
    pair = simulate_pair((64, 64), "desert", 7, date_seed=0)
    refs = revisit_references((64, 64), "desert", 7, 3)
    consts = infer.reference_constants(pair.target, refs, pair.sza, pair.vza, det)
    p3, _ = infer.predict_references(pair.target, refs, consts, pair.sza, pair.vza, det,
                                     tile=64, overlap=32)  # fmt: skip
    p1, _ = infer.predict(pair.target, refs[0], pair.sza, pair.vza, model=v11, tile=64,
                          overlap=32)  # fmt: skip
    np.testing.assert_allclose(p3, p1, atol=1e-4)


def test_references_that_disagree_with_the_detector_are_refused(tmp_path):
    det = _three_date(load_default_detector())
    with pytest.raises(InputError, match=r"^references=2 is invalid: expected 3: this detector"):
        evaluate_detector(EvaluateConfig(**TINY, references=2), model=det)
    with pytest.raises(InputError, match=r"^references=1 is invalid"):
        calibrate_detector(det, n_negative=2, size=64, threshold=0.5, references=1)
    path = save_detector(det, tmp_path / "k3.safetensors")
    res = CliRunner().invoke(app, ["methane", "evaluate", "--weights", str(path), "--references",
                                   "2", "--out", str(tmp_path / "e")])  # fmt: skip
    line = res.output.strip()
    assert res.exit_code == 2 and "\n" not in line and "--references=2 is invalid" in line, line
    res = CliRunner().invoke(app, ["methane", "calibrate", str(default_weights_path()),
                                   "--references", "0"])  # fmt: skip
    assert res.exit_code == 2 and "--references=0 is invalid" in res.output, res.output


def test_the_veto_drops_a_plume_only_when_every_date_changed():
    labels = np.zeros((8, 8), dtype=int)
    labels[1:3, 1:3], labels[5:7, 5:7] = 1, 2
    changed, still = np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32)
    changed[labels > 0] = 0.2  # both plumes sit on a changed surface against this date
    still[labels == 2] = 0.2  # against this one only plume 2 does
    assert veto(labels, [changed], 0.05).tolist() == [1, 2]
    assert veto_every(labels, [[changed]], 0.05).tolist() == [1, 2]  # one date: the veto
    assert veto_every(labels, [[changed], [still]], 0.05).tolist() == [2]
    assert veto_every(labels, [[still], [np.zeros_like(still)]], 0.05).tolist() == []


def test_fine_tuning_single_date_weights_into_three_dates_starts_from_them():
    v11 = load_default_detector()
    init = str(default_weights_path())
    net = DetectorModule(DetectorConfig(reference_dates=3, init=init)).net.eval()
    x = torch.randn(2, net.spec.in_channels, 32, 32, generator=torch.Generator().manual_seed(0))
    names = channel_names(v11.context, v11.smooth, v11.noise, 3)
    pair = [i for i, n in enumerate(names) if not n.endswith("_stack")]
    with torch.no_grad():
        got, want = net(x), v11.model.eval()(x[:, pair])
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert net.spec.in_channels == len(names) == v11.model.spec.in_channels + 4
