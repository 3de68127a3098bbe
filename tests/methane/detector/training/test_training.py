"""Training pieces: simulated stream, loss values, a tiny end-to-end run with resume."""

import pytest
import torch

from eoforge.core.errors import ConfigError
from eoforge.methane.detector import load_detector, n_channels
from eoforge.methane.detector.training import simulate
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.detector.training.loss import detector_loss
from eoforge.methane.detector.training.run import train_detector
from eoforge.methane.detector.training.simulate import SimulatedPairs

torch.set_num_threads(1)

#: A bank small enough for unit tests (the default holds 512 backgrounds).
SMALL_BANK = {"bank_items": 3, "plume_pool": 3}


def test_stream_is_seeded_and_labels_match_the_plume():
    cfg = DetectorConfig(patch=64, negative_fraction=0.3, cloud_prob=0.0)
    a = [s for _, s in zip(range(8), SimulatedPairs(cfg, seed=1), strict=False)]
    b = [s for _, s in zip(range(8), SimulatedPairs(cfg, seed=1), strict=False)]
    c = next(iter(SimulatedPairs(cfg, seed=2)))
    for s, t in zip(a, b, strict=True):
        torch.testing.assert_close(s["x"], t["x"])
    assert not torch.equal(a[0]["x"], c["x"])
    assert a[0]["x"].shape == (n_channels(smooth=cfg.smooth_sigma), 64, 64)
    n_pos = 0
    for s in a:
        if s["mask"].sum() > 0:
            n_pos += 1
            # labels: the scene's plume mask where dOmega >= label_min_column
            assert s["column"][s["mask"] > 0].min() >= cfg.label_min_column
        else:  # plume-free, or a plume too faint to label
            assert s["column"].max() < cfg.label_min_column
    assert 0 < n_pos < 8


def test_loss_is_small_for_the_truth_and_large_for_its_opposite():
    cfg = DetectorConfig()
    y = torch.zeros(1, 16, 16)
    y[0, 4:10, 4:10] = 1
    col = 0.5 * y
    batch = {"mask": y, "valid": torch.ones_like(y), "column": col}
    good, parts = detector_loss(20 * (2 * y - 1), col, batch, cfg)
    bad, _ = detector_loss(-20 * (2 * y - 1), torch.zeros_like(col), batch, cfg)
    assert float(parts["col"]) == 0.0 and float(parts["dice"]) < 0.02
    assert float(good) < 0.05 < 1.0 < float(bad)
    # Huber part: 0.5 e^2 for |e| <= delta, weighted mean over plume (w=1) and off-plume pixels.
    _, parts = detector_loss(20 * (2 * y - 1), col + 0.1, batch, cfg)
    w = y + cfg.off_plume_weight * (1 - y)
    expected = float((0.5 * 0.01 * w).sum() / w.sum())
    assert float(parts["col"]) == pytest.approx(expected, rel=1e-5)


def test_noise_range_is_drawn_per_scene_and_checked(monkeypatch):
    seen = []
    for name in ("simulate_pair", "simulate_plume_pair"):
        real = getattr(simulate, name)

        def spy(*args, _real=real, **kwargs):
            seen.append(kwargs.get("noise_scale"))
            return _real(*args, **kwargs)

        monkeypatch.setattr(simulate, name, spy)
    cfg = DetectorConfig(patch=32, noise_min=0.4, noise_max=0.6)
    list(zip(range(6), SimulatedPairs(cfg, seed=3), strict=False))
    assert len(seen) == 6 and all(0.4 <= v <= 0.6 for v in seen) and len(set(seen)) == 6
    seen.clear()
    list(zip(range(2), SimulatedPairs(DetectorConfig(patch=32), seed=3), strict=False))
    assert seen == [None, None]  # default: the scene generator's own noise (x 1)
    with pytest.raises(ConfigError, match="noise_min"):
        DetectorConfig.from_dict({"noise_min": 0.8, "noise_max": 0.5})


def test_config_rejects_unknown_keys():
    with pytest.raises(ConfigError, match="stepz"):
        DetectorConfig.from_dict({"stepz": 3})


def test_tiny_training_run_writes_loadable_weights_and_resumes(tmp_path):
    cfg = DetectorConfig(steps=3, batch_size=2, patch=64, widths=(4, 8), threads=1, seed=0,
                         **SMALL_BANK)  # fmt: skip
    path = train_detector(cfg, tmp_path / "run")
    det = load_detector(path)
    assert det.config["steps"] == 3 and det.model.spec.widths == (4, 8)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert (tmp_path / "run" / "config.yaml").is_file()
    # Running again with more steps resumes from last.ckpt (global step continues at 3).
    train_detector(cfg.updated(steps=4), tmp_path / "run")
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert ckpt["global_step"] == 4
    # Other settings on the same folder stop with the options named; nothing is rewritten.
    saved = [(tmp_path / "run" / n).read_bytes() for n in ("config.yaml", "detector.json")]
    for change, named in (({"batch_size": 4}, "--batch-size 2 -> 4"), ({"patch": 96}, "--size 64 -> 96"),
                          ({"lr": 1e-2}, "--lr"), ({"seed": 3}, "--seed 0 -> 3")):  # fmt: skip
        with pytest.raises(ConfigError, match=named):
            train_detector(cfg.updated(steps=4, **change), tmp_path / "run")
    assert saved == [(tmp_path / "run" / n).read_bytes() for n in ("config.yaml", "detector.json")]
    # The same config in a fresh folder reproduces the first weights exactly (seeded).
    again = load_detector(train_detector(cfg, tmp_path / "again"))
    x = torch.randn(1, n_channels(smooth=cfg.smooth_sigma), 32, 32)
    with torch.inference_mode():
        torch.testing.assert_close(again.model(x)[0], det.model(x)[0], rtol=0, atol=1e-6)


def test_fine_tuning_starts_from_the_given_weights(tmp_path):
    from eoforge.core.errors import InputError
    from eoforge.methane.detector.weights import default_weights_path, load_default_detector

    shipped = load_default_detector()
    spec = shipped.config
    cfg = DetectorConfig(steps=1, batch_size=2, patch=64, widths=tuple(spec["widths"]),
                         lr=1e-12, threads=1, init=str(default_weights_path()), **SMALL_BANK)  # fmt: skip
    tuned = load_detector(train_detector(cfg, tmp_path / "ft"))
    for (name, a), b in zip(tuned.model.state_dict().items(),
                            shipped.model.state_dict().values(), strict=True):  # fmt: skip
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    with pytest.raises(InputError, match="widths"):
        train_detector(cfg.updated(widths=(4, 8)), tmp_path / "bad")


def test_fine_tuning_can_add_the_noise_channel(tmp_path):
    """A detector without the noise channel starts a run that has it: same outputs at step 0
    (zero weights on the new channel), saved as a noise-channel detector."""
    from eoforge.methane.detector.features import channel_names

    base = load_detector(train_detector(
        DetectorConfig(steps=1, batch_size=2, patch=64, widths=(4, 8), threads=1, **SMALL_BANK),
        tmp_path / "a",
    ))  # fmt: skip
    cfg = DetectorConfig(steps=1, batch_size=2, patch=64, widths=(4, 8), threads=1, lr=1e-12,
                         noise_channel=True, init=str(tmp_path / "a" / "detector.safetensors"),
                         **SMALL_BANK)  # fmt: skip
    tuned = load_detector(train_detector(cfg, tmp_path / "b"))
    names = channel_names(smooth=cfg.smooth_sigma, noise=True)
    assert tuned.noise and tuned.model.spec.in_channels == len(names)
    x = torch.randn(1, len(names), 32, 32)
    x_plain = torch.cat([x[:, : names.index("noise")], x[:, -1:]], dim=1)
    with torch.inference_mode():
        torch.testing.assert_close(tuned.model(x)[0], base.model(x_plain)[0], atol=1e-5, rtol=0)
    with pytest.raises(Exception, match="noise"):  # a noise-channel init cannot drop the channel
        train_detector(cfg.updated(noise_channel=False, init=str(tmp_path / "b" / "detector")),
                       tmp_path / "c")  # fmt: skip
