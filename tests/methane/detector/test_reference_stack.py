"""Several reference dates as detector input (issue 13): the K = 1 inputs are unchanged, the
stack channels ignore a surface change on one reference date of three, a K-date bank is seeded
and refused for another K, and a K-date detector trains and detects on exactly K references."""

import json

import numpy as np
import pytest
import torch
import zarr
from typer.testing import CliRunner

from eoforge.cli.main import app
from eoforge.core.errors import InputError
from eoforge.io.raster import GeoInfo
from eoforge.methane.detect.pipeline import detect
from eoforge.methane.detector import infer
from eoforge.methane.detector.features import build_inputs, channel_names, n_channels
from eoforge.methane.detector.training.bank import bank_settings, open_bank
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.run import train_detector
from eoforge.methane.detector.weights import load_detector
from eoforge.methane.pair_files import simulate_to_files
from eoforge.methane.scenes import simulate_pair

torch.set_num_threads(1)
SEED, SIZE = 11, 48
GEO = GeoInfo.from_bounds(west=700000.0, north=3700000.0, resolution=20.0, crs="EPSG:3857")


@pytest.fixture(scope="module")
def site():
    """Target (revisit 0) and the reference scenes of revisits 1..3 of one desert site."""
    target = simulate_pair((SIZE, SIZE), "desert", SEED, date_seed=0).target
    refs = [simulate_pair((SIZE, SIZE), "desert", SEED, date_seed=k).reference for k in (1, 2, 3)]
    return target, refs


def _blob(ref: dict, gain: float = 1.04) -> dict:
    """``ref`` with B12 ``gain`` times brighter in a disk of radius 8 px at the centre."""
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disk = (yy - SIZE / 2) ** 2 + (xx - SIZE / 2) ** 2 < 64
    out = dict(ref)
    out["B12"] = np.where(disk, ref["B12"] * gain, ref["B12"]).astype(ref["B12"].dtype)
    return out, disk


def test_one_reference_gives_the_former_channels(site):
    target, refs = site
    assert channel_names(reference_dates=1) == channel_names()
    x1 = build_inputs(target, refs[0], 30.0, 5.0, smooth=1.5, noise=True)
    np.testing.assert_array_equal(
        build_inputs(target, refs[0], 30.0, 5.0, smooth=1.5, noise=True, references=refs[:1]), x1
    )
    x3 = build_inputs(target, refs[0], 30.0, 5.0, smooth=1.5, noise=True, references=refs)
    names = channel_names(smooth=1.5, noise=True, reference_dates=3)
    assert x3.shape[0] == n_channels(smooth=1.5, noise=True, reference_dates=3) == 19
    assert names[12:16] == ["mbmp_stack", "spread_stack", "dB8A_stack", "dB04_stack"]
    np.testing.assert_array_equal(x3[:12], x1[:12])  # the pair channels: first reference
    np.testing.assert_array_equal(x3[16:], x1[12:])  # smoothed column, noise, valid


def test_a_change_on_one_reference_leaves_the_stack_channels(site):
    target, refs = site
    changed, disk = _blob(refs[0])
    names = channel_names(reference_dates=3)
    mb, st = names.index("mbmp"), names.index("mbmp_stack")
    base = build_inputs(target, refs[0], 30.0, 5.0, references=refs)
    one = build_inputs(target, changed, 30.0, 5.0, references=[changed, *refs[1:]])
    every = [_blob(r)[0] for r in refs]
    allc = build_inputs(target, every[0], 30.0, 5.0, references=every)
    pair_shift = float(np.mean(one[mb][disk] - base[mb][disk]))
    stack_one = float(np.mean(one[st][disk] - base[st][disk]))
    stack_all = float(np.mean(allc[st][disk] - base[st][disk]))
    noise = float(np.std(base[st][~disk]))  # per-pixel spread of the stack channel
    assert pair_shift < -0.4  # the pair channel sees the 4 % change (20 x -0.04 x ratio)
    assert stack_all < -0.4  # a change on every date is seen by the stack channel too
    # One date of three: the median moves from the middle of three noisy values to the larger
    # of the other two (sigma / sqrt(pi) for Gaussian noise): within the channel's noise, and
    # a fraction of what the pair channel sees.
    assert abs(stack_one) < 0.75 * noise and abs(stack_one) < 0.25 * abs(pair_shift)
    spread = names.index("spread_stack")
    assert abs(float(np.mean(one[spread][disk] - base[spread][disk]))) < 0.75 * noise


def _cfg(**kw) -> DetectorConfig:
    fields = dict(patch=32, batch_size=2, bank_items=3, plume_pool=2, bank_size=40, bank_block=2,
                  bank_reuse=2, cloud_prob=0.5, confounders_max=1, reference_dates=3,
                  widths=(4, 8), threads=1, steps=2)  # fmt: skip
    return DetectorConfig(**{**fields, **kw})


def test_a_three_date_bank_is_seeded_and_refused_for_another_k(tmp_path):
    cfg = _cfg()
    first = open_bank(tmp_path / "a.zarr", bank_settings(cfg))
    again = open_bank(tmp_path / "b.zarr", bank_settings(cfg))
    assert first["backgrounds"].shape == (3, 4, 4, 40, 40)
    np.testing.assert_array_equal(first["backgrounds"][:], again["backgrounds"][:])
    np.testing.assert_array_equal(first["clear"][:], again["clear"][:])
    bg = first["backgrounds"][:]
    assert not np.array_equal(bg[:, 1], bg[:, 2])  # the revisits differ
    for k, asked in ((1, "None"), (2, "2")):
        with pytest.raises(InputError, match=rf"reference_dates \(--reference-dates\): bank 3, "
                                             rf"asked {asked}"):  # fmt: skip
            open_bank(tmp_path / "a.zarr", bank_settings(cfg.updated(reference_dates=k)))
    with pytest.raises(ValueError, match=r"\(--reference-dates\) 3 needs the bank stream"):
        _cfg(stream="simulate")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("k3")
    return out, train_detector(_cfg(), out)


def test_training_with_three_dates_records_k(trained):
    out, path = trained
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["reference_dates"] == 3 and meta["config"]["reference_dates"] == 3
    det = load_detector(path)
    assert det.reference_dates == 3
    assert det.model.spec.in_channels == n_channels(det.context, det.smooth, det.noise, 3)
    assert zarr.open_group(str(out / "bank.zarr"), mode="r")["backgrounds"].shape[1] == 4


def test_a_three_date_detector_detects_on_exactly_three_references(trained, site, monkeypatch):
    det = load_detector(trained[1])
    target, refs = site
    calls = []
    real = infer.compute_features
    monkeypatch.setattr(infer, "compute_features",
                        lambda *a, **k: calls.append(a) or real(*a, **k))  # fmt: skip
    res = detect(target, refs, GEO, 30.0, 5.0, model=det, wind_speed=3.0)
    assert res.prob.shape == (SIZE, SIZE) and np.isfinite(res.prob).all()
    assert len(calls) == 1 and len(calls[0][-1]) == 3  # one pass over the whole stack
    for n in (1, 2, 4):
        with pytest.raises(InputError, match=r"--reference exactly 3 times"):
            detect(target, (refs * 2)[:n], GEO, 30.0, 5.0, model=det, wind_speed=3.0)
        with pytest.raises(InputError, match=r"sees 3 reference dates at once"):
            infer.predict(target, (refs * 2)[:n], 30.0, 5.0, model=det)


def test_the_cli_refuses_a_wrong_number_of_references(trained, tmp_path):
    simulate_to_files(tmp_path, rate_kg_h=0.0, seed=3, shape=64)
    ref = str(tmp_path / "reference.tif")
    target, out, weights = str(tmp_path / "target.tif"), str(tmp_path / "out"), str(trained[1])
    args = ["methane", "detect", target, "--reference", ref, "--reference", ref]
    res = CliRunner().invoke(app, [*args, "--weights", weights, "--out", out])
    assert res.exit_code == 2, res.output
    line = res.output.strip()
    assert "\n" not in line and "--reference exactly 3 times" in line, res.output
    res = CliRunner().invoke(app, ["methane", "train", "--reference-dates", "3", "--stream",
                                   "simulate", "--out", str(tmp_path / "t")])  # fmt: skip
    assert res.exit_code == 2 and "--reference-dates" in res.output, res.output


def test_the_median_over_dates_is_numpys_median_of_the_valid_dates():
    from eoforge.methane.detector.features_torch import median_over_dates

    gen = torch.Generator().manual_seed(0)
    for k in (2, 3, 4):
        x = torch.randn(3, k, 5, 7, generator=gen, dtype=torch.float64)
        x[0, 0] = x[0, 1]  # ties
        ok = torch.rand(3, k, 5, 7, generator=gen) > 0.3
        got = median_over_dates(x, ok).numpy()
        xs, oks = x.numpy(), ok.numpy()
        want = np.array([[[np.median(xs[b, oks[b, :, i, j], i, j]) if oks[b, :, i, j].any()
                           else np.nan for j in range(7)] for i in range(5)]
                         for b in range(3)])  # fmt: skip
        np.testing.assert_array_equal(got, want)


def test_fine_tuning_keeps_k(trained, tmp_path):
    out, path = trained
    bank = str(out / "bank.zarr")
    again = train_detector(_cfg(init=str(path), steps=1, bank_path=bank), tmp_path / "a")
    assert load_detector(again).reference_dates == 3
    with pytest.raises(InputError, match=r"reference dates 3.*reference_dates"):
        train_detector(_cfg(init=str(path), reference_dates=1, steps=1), tmp_path / "b")
