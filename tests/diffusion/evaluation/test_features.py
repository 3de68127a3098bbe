"""SSL feature extractor of the diffusion metrics: input convention, shapes, loading, default rule."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from eoforge.core.errors import DataNotFoundError, InputError, ShapeError
from eoforge.diffusion.evaluation.evaluate import evaluate
from eoforge.diffusion.evaluation.features import RandomConvFeatures, SSLFeatures, resolve_features
from eoforge.diffusion.evaluation.metrics import fid, fid_from_features
from eoforge.nn import frozen
from eoforge.sar.wv import CLASSES, synth_wv
from eoforge.ssl import export
from eoforge.ssl.embed import embed_images, load_teacher
from eoforge.ssl.pretrain import SSLConfig, pretrain

torch.set_num_threads(1)

TINY = dict(encoder="vit-tiny/8", encoder_dim=16, encoder_depth=1, batch_size=16, out_dim=32,
            head_hidden_dim=32, head_bottleneck_dim=16, n_local_crops=1, global_size=16,
            local_size=8, warmup_epochs=1, accelerator="cpu")  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real (tiny, one-epoch) DINO pre-training run on 16 px synthetic WV imagettes."""
    out = tmp_path_factory.mktemp("ssl") / "run"
    return pretrain(SSLConfig(**TINY, epochs=1), synth_wv(96, size=16, seed=1), out)


def _db(x):
    return 10 * np.log10(np.maximum(x, 1e-10))


def test_sar_convention_is_the_runs_own_normaliser(run):
    """evaluate(kind='sar') embeds exactly what ssl.embed does on linear intensity."""
    fe = SSLFeatures.from_run(run, device="cpu")
    encoder, normaliser, info = load_teacher(run)
    a, b = synth_wv(40, size=16, seed=2).images, synth_wv(40, size=16, seed=3).images
    np.testing.assert_allclose(fe.standardise_db(_db(a)), normaliser.transform(a), atol=1e-5)
    ea, eb = (embed_images(encoder, x, normaliser, info["eval_size"]) for x in (a, b))
    np.testing.assert_allclose(fe(fe.standardise_db(_db(a))), ea, rtol=1e-5, atol=1e-5)
    out = evaluate(a, b, "sar", fe, enl_window=None)
    assert out["fid"] == pytest.approx(fid_from_features(eb, ea), rel=1e-5)
    assert evaluate(a, a.copy(), "sar", fe)["fid"] == pytest.approx(0.0, abs=1e-6)
    z = fe.standardise_db(_db(a))
    assert fid(z, z.copy(), fe) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("pair", [("pure_ocean_waves", "low_wind_area"), ("wind_streaks", "rain_cells")])  # fmt: skip
def test_different_textures_are_further_apart_than_halves_of_one(run, pair):
    fe = SSLFeatures.from_run(run, device="cpu")
    ia, ib = CLASSES.index(pair[0]), CLASSES.index(pair[1])
    prior = np.zeros(len(CLASSES))
    prior[[ia, ib]] = 1.0
    wv = synth_wv(240, size=16, seed=5, class_prior=prior)
    z = fe.standardise_db(_db(wv.images))
    A, B = z[wv.labels == ia][:100], z[wv.labels == ib][:100]
    within = max(fid(A[:50], A[50:], fe), fid(B[:50], B[50:], fe))
    between = min(fid(A[:50], B[:50], fe), fid(A[50:], B[50:], fe))
    assert between > 3 * within > 0


def test_shapes_channels_and_sizes(run):
    fe = SSLFeatures.from_run(run, device="cpu", batch_size=7)
    D = fe.embed_dim
    x = np.random.default_rng(0).normal(size=(10, 2, 19, 21)).astype(np.float32)
    f = fe(x)
    assert f.shape == (10, 2 * D) and f.dtype == np.float64
    np.testing.assert_allclose(f[:, :D], fe(x[:, 0]), atol=1e-6)  # channel by channel, concat
    np.testing.assert_allclose(f[:, D:], fe(x[:, 1:2]), atol=1e-6)
    np.testing.assert_allclose(SSLFeatures.from_run(run, device="cpu")(x), f, atol=1e-5)
    # crop mode: the centre (19 // 8) * 8 x (21 // 8) * 8 = 16 x 16 window, pixel scale kept
    crop = SSLFeatures.from_run(run, device="cpu", resize="crop")
    np.testing.assert_allclose(crop(x[:, 0]), fe(x[:, 0, 1:17, 2:18]), atol=1e-6)
    assert np.isfinite(fe(x[:, 0, :5, :7])).all()  # eval view: any size (bilinear up)
    with pytest.raises(ShapeError, match="patch size"):
        crop(x[:, 0, :5, :7])
    with pytest.raises(ShapeError, match="N, H, W"):
        fe(x[0, 0])


def test_resolve_features_and_the_default_rule(run, tmp_path, monkeypatch):
    monkeypatch.setattr(frozen, "SHIPPED_ENCODER", tmp_path / "weights" / "wv_encoder.safetensors")
    with pytest.raises(DataNotFoundError, match=r"train_fid_encoder\.sh"):
        resolve_features("ssl")
    with pytest.warns(UserWarning, match=r"wv_encoder\.safetensors"):
        assert isinstance(resolve_features(None), RandomConvFeatures)
    assert isinstance(resolve_features("random"), RandomConvFeatures)
    fn = lambda x: np.zeros((len(x), 2))  # noqa: E731
    assert resolve_features(fn) is fn
    assert isinstance(resolve_features(run), SSLFeatures)
    export.export_encoder(run, tmp_path / "weights" / "wv_encoder")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning once the shipped file exists
        shipped = resolve_features(None)
    x = np.random.default_rng(1).normal(size=(6, 16, 16))
    np.testing.assert_array_equal(shipped(x), SSLFeatures.from_run(run)(x))
    assert isinstance(resolve_features("ssl"), SSLFeatures)
    assert isinstance(resolve_features(tmp_path / "weights" / "wv_encoder.json"), SSLFeatures)
    with pytest.raises(DataNotFoundError, match="neither"):
        resolve_features(tmp_path / "nothing.safetensors")
    with pytest.raises(InputError, match="features"):
        resolve_features("inception")


def test_cli_features_option(run, tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    from eoforge.cli.diffusion_eval import register

    monkeypatch.setattr(frozen, "SHIPPED_ENCODER", tmp_path / "missing.safetensors")
    ref = synth_wv(12, size=16, seed=4).images
    np.save(tmp_path / "ref.npy", ref)
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    args = ["evaluate", str(tmp_path / "ref.npy"), "--reference", str(tmp_path / "ref.npy")]
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "--features", str(run)])
    assert res.exit_code == 0, res.output
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["fid"] == pytest.approx(0, abs=1e-6)
    assert str(run) in (tmp_path / "a" / "config.yaml").read_text()
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "--features", "ssl"])
    assert res.exit_code != 0 and "missing.safetensors" in res.output
