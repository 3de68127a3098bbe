"""Detector network, features, weights round-trip and tiled inference (no trained weights)."""

import numpy as np
import pytest
import torch

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.methane.detector import (
    Detector,
    PlumeUNet,
    UNetSpec,
    build_inputs,
    channel_names,
    load_detector,
    n_channels,
    predict,
    save_detector,
)
from eoforge.methane.detector.infer import _run
from eoforge.methane.physics import air_mass_factor, inject_plume
from eoforge.methane.plumes import gaussian_plume
from eoforge.methane.retrievals import mbmp, retrieve_column

torch.set_num_threads(1)


def _pair(shape=(120, 100), seed=0):
    rng = np.random.default_rng(seed)
    base = 0.3 * np.exp(0.1 * rng.standard_normal(shape))

    def date(noise):
        return {b: (base * f * (1 + noise * rng.standard_normal(shape))).astype(np.float32)
                for b, f in (("B11", 1.0), ("B12", 0.8), ("B8A", 0.9), ("B04", 0.5))}  # fmt: skip

    return date(0.002), date(0.002)


def _random_detector(seed=0, widths=(8, 16, 16), smooth=0.0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = PlumeUNet(UNetSpec(n_channels(smooth=smooth), widths)).eval()
    return Detector(net, smooth=smooth)


def test_feature_column_channel_matches_mbmp_retrieval():
    """The MBMP column channel equals retrieve_column(mbmp(...)) on a planted plume."""
    t, r = _pair()
    amf = air_mass_factor(30.0, 5.0)
    col = gaussian_plume(3000.0, 3.0, 270.0, shape=(120, 100), source=(60.0, 20.0))
    t = inject_plume(t, col, amf)
    x = build_inputs(t, r, 30.0, 5.0)
    assert x.shape == (n_channels(), 120, 100) and x.dtype == np.float32
    names = channel_names()
    ref = retrieve_column(mbmp(t, r), amf)
    got = x[names.index("col_mbmp")]
    plume = col > 0.2
    # Same retrieval up to the (robust) offset of the fit: within 0.03 mol/m2 on the plume.
    assert np.median(np.abs(got[plume] - ref[plume])) < 0.03
    assert np.corrcoef(got[plume], col[plume])[0, 1] > 0.9
    assert np.all(x[names.index("valid")] == 1)


def test_features_reject_missing_bands_and_mismatched_grids():
    t, r = _pair()
    del t["B8A"]
    with pytest.raises(InputError, match="B8A"):
        build_inputs(t, r, 30.0, 5.0)
    t, r = _pair()
    r["B12"] = r["B12"][:-1]
    with pytest.raises(ShapeError, match="same 20 m grid"):
        build_inputs(t, r, 30.0, 5.0)


def test_unet_shapes_and_bad_input():
    net = PlumeUNet(UNetSpec(n_channels(), (8, 16, 16)))
    logits, column = net(torch.zeros(2, n_channels(), 32, 48))
    assert logits.shape == column.shape == (2, 32, 48)
    with pytest.raises(ShapeError, match="multiples of 4"):
        net(torch.zeros(1, n_channels(), 30, 32))
    with pytest.raises(ShapeError, match="expected"):
        net(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("smooth", [0.0, 1.5])
def test_tiled_prediction_equals_whole_image_prediction(smooth):
    """Blended tiles reproduce the whole-image output (the net is local; no seams)."""
    t, r = _pair((300, 236), seed=1)
    det = _random_detector(widths=(8, 16, 16), smooth=smooth)
    x = build_inputs(t, r, 30.0, 5.0, smooth=smooth)
    whole_p, whole_c = _run(det.model, x, "cpu")
    prob, column = predict(t, r, 30.0, 5.0, model=det, tile=96, overlap=40, threads=1)
    assert np.abs(prob - whole_p).max() < 2e-3
    assert np.abs(column - whole_c).max() < 2e-2 * max(1.0, np.abs(whole_c).max())
    # No seam: differences between neighbouring columns/rows are no larger at window edges.
    grad = np.abs(np.diff(prob - whole_p, axis=1))
    assert grad.max() < 2e-3


def test_weights_round_trip(tmp_path):
    det = _random_detector(seed=3)
    det.config = {"seed": 3}
    path = save_detector(det, tmp_path / "det")
    assert path.name == "det.safetensors" and (tmp_path / "det.json").is_file()
    back = load_detector(path)
    x = torch.randn(1, n_channels(), 32, 32)
    with torch.inference_mode():
        a, b = det.model(x), back.model(x)
    torch.testing.assert_close(a[0], b[0])
    torch.testing.assert_close(a[1], b[1])
    assert back.config == {"seed": 3} and back.context == ("B8A", "B04")
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_detector(tmp_path / "missing.safetensors")


def test_predict_rejects_bad_tiles():
    t, r = _pair()
    with pytest.raises(InputError, match="overlap"):
        predict(t, r, 30.0, 5.0, model=_random_detector(), tile=64, overlap=40)
    with pytest.raises(InputError, match="tile"):
        predict(t, r, 30.0, 5.0, model=_random_detector(), tile=32, overlap=16)


def test_prior_shortcut_starts_from_the_mbmp_retrieval():
    """With the U-Net heads silenced, the outputs are exactly the classical prior."""
    names = channel_names(smooth=1.5)
    k = names.index("col_mbmp_smooth")
    net = PlumeUNet(UNetSpec(len(names), (8, 16), prior_channel=k)).eval()
    with torch.no_grad():
        net.head_logit.weight.zero_()
        net.head_column.weight.zero_()
        net.head_column.bias.zero_()
    x = torch.randn(1, len(names), 16, 16)
    logits, column = net(x)
    torch.testing.assert_close(column, x[:, k])
    torch.testing.assert_close(logits, 10.0 * x[:, k] - 4.5)
    assert UNetSpec.from_dict(net.spec.to_dict()) == net.spec
    with pytest.raises(InputError, match="prior_channel"):
        PlumeUNet(UNetSpec(4, (8, 16), prior_channel=7))


@pytest.mark.parametrize("max_fit", [1_000_000, 2000])
def test_noise_channel_measures_the_planted_mbmp_noise(monkeypatch, max_fit):
    """Per-band relative noise s in both dates on a texture that cancels in the band ratio:
    MBMP ~ n12_t - n11_t - n12_r + n11_r has standard deviation 2 s (closed form), with or
    without the subsampling of large scenes (neighbour pairs stay at full resolution)."""
    from eoforge.methane.detector import features

    monkeypatch.setattr(features, "_MAX_FIT_PIXELS", max_fit)
    t, r = _pair((160, 150), seed=4)  # s = 0.002
    const = features.scene_constants(t, r, 30.0, 5.0)
    assert const.noise == pytest.approx(0.004, rel=0.06)
    x = build_inputs(t, r, 30.0, 5.0, smooth=1.5, noise=True)
    names = channel_names(smooth=1.5, noise=True)
    assert names[-2:] == ["noise", "valid"] and x.shape[0] == len(names)
    np.testing.assert_allclose(x[names.index("noise")], 100.0 * const.noise, rtol=1e-6)
    # The other channels are exactly those of a detector without the noise channel.
    plain = build_inputs(t, r, 30.0, 5.0, smooth=1.5)
    np.testing.assert_array_equal(np.delete(x, names.index("noise"), axis=0), plain)


def test_noise_channel_follows_the_sensor_noise_of_simulated_scenes():
    from eoforge.methane import scenes
    from eoforge.methane.detector.features import scene_constants

    levels = []
    for scale in (0.5, 1.0):
        p = scenes.simulate_pair((64, 64), "desert", 3, noise_scale=scale)
        levels.append(scene_constants(p.target, p.reference, p.sza, p.vza).noise)
    assert 0.002 < levels[0] < levels[1] < 0.012 and levels[1] > 1.5 * levels[0]


def test_inserted_input_channel_keeps_the_outputs_and_round_trips(tmp_path):
    from eoforge.methane.detector.model import insert_input_channel

    names = channel_names(smooth=1.5)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        net = PlumeUNet(UNetSpec(len(names), (8, 16), names.index("col_mbmp_smooth"))).eval()
        x = torch.randn(1, len(names), 16, 16)
    wide = insert_input_channel(net, len(names) - 1)  # before "valid"
    assert wide.spec.in_channels == len(names) + 1 and wide.spec.prior_channel == 12
    assert insert_input_channel(net, 0).spec.prior_channel == 13
    x_wide = torch.cat([x[:, :-1], torch.full_like(x[:, :1], 3.0), x[:, -1:]], dim=1)
    with torch.no_grad():
        for a, b in zip(net(x), wide(x_wide), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    back = load_detector(save_detector(Detector(wide, smooth=1.5, noise=True), tmp_path / "d"))
    assert back.noise and back.model.spec == wide.spec
    with pytest.raises(InputError, match="index"):
        insert_input_channel(net, len(names) + 1)
