"""The detector architectures (small U-Net, larger residual-encoder U-Net): shapes, parameter
counts against a closed form, weights JSON round trip, and the shipped v11 JSON still loading."""

import json

import numpy as np
import pytest
import torch

from eoforge.core.errors import ConfigError, InputError, ShapeError
from eoforge.methane.detector import Detector, PlumeUNet, UNetSpec, load_detector, save_detector
from eoforge.methane.detector.model import insert_input_channel, n_parameters
from eoforge.methane.detector.training.config import OPTIONS, DetectorConfig
from eoforge.methane.detector.weights import default_weights_path, load_default_detector

torch.set_num_threads(1)

TINY = {
    "unet": UNetSpec(6, (4, 8, 8), prior_channel=2),
    "resunet": UNetSpec(
        6, (4, 8, 8, 16), prior_channel=2, architecture="resunet", blocks=(1, 0, 2, 1)
    ),
}


def _net(spec, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return PlumeUNet(spec).eval()


def _expected_parameters(spec: UNetSpec) -> int:
    """Closed-form count: 3x3 convs without bias, LayerNorm (gamma, beta), 2x2 transposed convs
    with bias, two 1x1 heads and the 1x1 shortcut to both heads."""
    w, c = spec.widths, spec.in_channels

    def conv_block(a, b):
        return 9 * a * b + 2 * b + 9 * b * b + 2 * b

    total = 0
    for i, n in enumerate(spec.level_blocks()):
        c_in = c if i == 0 else w[i - 1]
        if spec.architecture == "unet":
            total += conv_block(c_in, w[i])
        else:  # stem conv + LayerNorm, then n residual blocks of two (LayerNorm, conv)
            total += 9 * c_in * w[i] + 2 * w[i] + n * (18 * w[i] ** 2 + 4 * w[i])
    for i in range(len(w) - 1, 0, -1):
        total += 4 * w[i] * w[i - 1] + w[i - 1] + conv_block(2 * w[i - 1], w[i - 1])
    return total + 2 * (w[0] + 1) + 2 * c + 2


@pytest.mark.parametrize("arch", ["unet", "resunet"])
def test_each_architecture_builds_and_keeps_the_input_size(arch):
    spec = TINY[arch]
    net = _net(spec)
    mult = net.multiple
    assert mult == 2 ** (len(spec.widths) - 1)
    for h, w in ((32, 32), (mult, 3 * mult), (48, 64)):
        logits, column = net(torch.randn(2, spec.in_channels, h, w))
        assert logits.shape == column.shape == (2, h, w)
        assert torch.isfinite(logits).all() and torch.isfinite(column).all()
    with pytest.raises(ShapeError, match=f"multiples of {mult}"):
        net(torch.randn(1, spec.in_channels, 32 + mult // 2, 32))


@pytest.mark.parametrize("arch", ["unet", "resunet"])
def test_parameter_counts_match_the_closed_form(arch):
    assert n_parameters(_net(TINY[arch])) == _expected_parameters(TINY[arch])


def test_parameter_counts_of_the_shipped_and_large_detectors():
    """Reported figures: v11 67,460 parameters; the GPU recipe's resunet 9,175,232."""
    v11 = load_default_detector().model
    large = DetectorConfig(architecture="resunet", widths=(32, 64, 128, 256, 256),
                           blocks=(1, 1, 2, 2, 2)).spec(14, 12)  # fmt: skip
    assert n_parameters(v11) == _expected_parameters(v11.spec) == 67_460
    assert _expected_parameters(large) == 9_175_232


def test_residual_blocks_start_as_the_identity():
    """Zero-initialised last convs: a resunet with blocks equals the same net without them."""
    spec = TINY["resunet"]
    deep = _net(spec)
    shallow = PlumeUNet(UNetSpec(6, spec.widths, 2, "resunet", (0, 0, 0, 0))).eval()
    keep = {k: v for k, v in deep.state_dict().items() if k in shallow.state_dict()}
    shallow.load_state_dict(keep)
    x = torch.randn(1, 6, 32, 32)
    for a, b in zip(deep(x), shallow(x), strict=True):
        torch.testing.assert_close(a, b)


def test_a_larger_detector_round_trips_through_its_json(tmp_path):
    spec = TINY["resunet"]
    net = _net(spec, seed=3)
    with torch.no_grad():  # non-trivial residual weights, so a wrong rebuild would show
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = save_detector(Detector(net, smooth=1.5, threshold=0.7), tmp_path / "det")
    meta = json.loads((tmp_path / "det.json").read_text())
    assert meta["spec"]["architecture"] == "resunet" and meta["spec"]["blocks"] == [1, 0, 2, 1]
    back = load_detector(path)
    assert back.model.spec == spec and back.threshold == 0.7
    x = torch.randn(1, 6, 32, 32)
    for a, b in zip(net(x), back.model(x), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_old_jsons_without_an_architecture_load_as_unets(tmp_path):
    """The shipped v11 JSON has no architecture key; nor has a JSON written before this change."""
    shipped = json.loads(default_weights_path().with_suffix(".json").read_text())
    assert "architecture" not in shipped["spec"]
    assert load_default_detector().model.spec.architecture == "unet"
    net = _net(TINY["unet"])
    save_detector(Detector(net), tmp_path / "old")
    meta = json.loads((tmp_path / "old.json").read_text())
    meta["spec"] = {k: meta["spec"][k] for k in ("in_channels", "widths", "prior_channel")}
    (tmp_path / "old.json").write_text(json.dumps(meta))
    back = load_detector(tmp_path / "old.safetensors")
    assert back.model.spec == TINY["unet"]
    x = torch.randn(1, 6, 32, 32)
    np.testing.assert_array_equal(net(x)[0].detach(), back.model(x)[0].detach())


def test_a_weights_file_of_one_architecture_is_refused_by_the_other(tmp_path):
    save_detector(Detector(_net(TINY["resunet"])), tmp_path / "det")
    meta = json.loads((tmp_path / "det.json").read_text())
    meta["spec"].update(architecture="unet", blocks=[])
    (tmp_path / "det.json").write_text(json.dumps(meta))
    with pytest.raises(InputError, match="do not match"):
        load_detector(tmp_path / "det")


def test_a_new_input_channel_keeps_a_resunet_output():
    net = _net(TINY["resunet"])
    wider = insert_input_channel(net, 3).eval()
    x = torch.randn(1, 6, 32, 32)
    x7 = torch.cat([x[:, :3], torch.randn(1, 1, 32, 32), x[:, 3:]], dim=1)
    assert wider.spec.prior_channel == 2 and wider.spec.architecture == "resunet"
    for a, b in zip(net(x), wider(x7), strict=True):
        torch.testing.assert_close(a, b)


def test_config_errors_name_the_architecture_fields():
    with pytest.raises(ConfigError, match=r"--architecture: .*'unet' or 'resunet'"):
        DetectorConfig().updated(architecture="vit", names=OPTIONS)
    with pytest.raises(ConfigError, match=r"blocks.*resunet"):
        DetectorConfig.from_dict({"blocks": (1, 1, 1)})
    with pytest.raises(ConfigError, match=r"blocks.*3 counts"):
        DetectorConfig.from_dict({"architecture": "resunet", "blocks": (1, 1)})
    cfg = DetectorConfig.from_dict({"architecture": "resunet", "widths": (8, 16)})
    assert cfg.spec(5, None).level_blocks() == (1, 1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--architecture", "vit"], "--architecture"),
        (["--widths", "8,x"], "--widths '8,x' is not a list of integers"),
        (["--widths", "8"], "--widths: Value error, widths=(8,) is invalid"),
    ],
)
def test_train_options_refuse_a_bad_architecture_in_one_line(tmp_path, args, says):
    from typer.testing import CliRunner

    from eoforge.cli.main import app

    res = CliRunner().invoke(app, ["methane", "train", "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2 and says in res.output, res.output
    assert not (tmp_path / "r").exists()
