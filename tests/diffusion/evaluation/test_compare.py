"""Evaluation pipeline and sampler comparison, on an exactly known denoiser (no training).

Data: periodic stationary Gaussian images in the model domain (a white "speckle" part plus a
power-law texture), mapped to SAR intensity by ``I = 10^((M + S x)/10)``. The exact noise
prediction is closed form in Fourier space (:class:`StationaryGaussianDenoiser`), so every
correct sampler must reproduce the reference statistics and the paper code's rebuilt schedule
must not.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from eoforge.core.errors import InputError, ShapeError
from eoforge.diffusion import NoiseSchedule
from eoforge.diffusion.evaluation.compare import (
    compare_samplers,
    format_table,
    plot_quality_vs_nfe,
)
from eoforge.diffusion.evaluation.evaluate import (
    evaluate,
    load_images,
    plot_evaluation,
    run_evaluate,
)
from eoforge.diffusion.evaluation.gaussian_oracle import StationaryGaussianDenoiser
from eoforge.sar.insar import synth_interferograms, to_cos_sin

M_DB, S_DB = -8.0, 4.0
torch.set_num_threads(1)


def _inverse(x: np.ndarray) -> np.ndarray:
    return 10 ** ((M_DB + S_DB * x) / 10)


@pytest.fixture(scope="module")
def analytic() -> tuple[NoiseSchedule, StationaryGaussianDenoiser]:
    sched = NoiseSchedule.cosine(1000)
    return sched, StationaryGaussianDenoiser.powerlaw(sched, 16)


def test_stationary_gaussian_denoiser_is_the_exact_mmse_predictor(analytic) -> None:
    sched, _ = analytic
    rng = np.random.default_rng(0)
    s2 = rng.uniform(0.1, 2.0, (4, 4))
    s2 = 0.5 * (s2 + s2[(-np.arange(4)) % 4][:, (-np.arange(4)) % 4])  # s2(k) = s2(-k)
    model = StationaryGaussianDenoiser(sched, s2, mean=0.3)
    # Dense covariance C = F* diag(s2) F and the linear MMSE predictor, by brute force.
    eye = np.eye(16).reshape(16, 4, 4)
    cov = np.fft.ifft2(np.fft.fft2(eye, norm="ortho") * s2, norm="ortho").real.reshape(16, 16)
    x = rng.normal(size=(3, 1, 4, 4))
    t = torch.tensor([10, 500, 990])
    out = model(torch.from_numpy(x), t).numpy()
    for i, ti in enumerate(t.tolist()):
        a = float(sched.alphas_cumprod[ti])
        sigma_t = a * cov + (1 - a) * np.eye(16)
        expected = np.sqrt(1 - a) * np.linalg.solve(sigma_t, x[i].ravel() - np.sqrt(a) * 0.3)
        np.testing.assert_allclose(out[i].ravel(), expected, atol=1e-10)
    # Exact draws have the planted spectrum (radially averaged).
    data = model.sample_data(4000, 1)[:, 0]
    assert data.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_allclose(data.var(0).mean(), s2.mean(), rtol=0.03)


def test_evaluate_sar_is_zero_for_identical_sets_and_sees_planted_changes(analytic) -> None:
    _, model = analytic
    ref = _inverse(model.sample_data(200, 0))
    same = evaluate(ref, ref.copy(), "sar", "random")
    assert same["log_hist_w1_db"] == 0 and same["psd_distance"] == 0 and same["enl_ratio"] == 1
    assert same["fid"] == pytest.approx(0, abs=1e-6) and same["precision"] == 1.0
    fresh = evaluate(_inverse(model.sample_data(200, 1)), ref, "sar", "random")
    brighter = evaluate(_inverse(model.sample_data(200, 1) + 0.25), ref, "sar", "random")
    assert brighter["log_hist_w1_db"] == pytest.approx(0.25 * S_DB, rel=0.2)
    assert brighter["log_hist_w1_db"] > 3 * fresh["log_hist_w1_db"]
    assert brighter["fid"] > fresh["fid"]
    smooth = _inverse(0.5 * model.sample_data(200, 1))
    smooth_psd = evaluate(smooth, ref, "sar", feature_space=False)["psd_distance"]
    assert smooth_psd > 5 * fresh["psd_distance"]
    with pytest.raises(InputError, match="linear intensity"):
        evaluate(-ref, ref, "sar")
    with pytest.raises(ShapeError, match="image size"):
        evaluate(ref[:, :, :8, :8], ref, "sar")


def test_evaluate_insar_statistics() -> None:
    a = synth_interferograms(24, size=32, seed=0)
    b = synth_interferograms(24, size=32, seed=1)
    smooth = synth_interferograms(24, size=32, seed=1, coherence=(1.0, 1.0))
    out = evaluate(b["unwrapped"], a["unwrapped"], "insar", feature_space=False)
    assert out["residue_density_samples"] < 0.01  # unwrapped fields are smooth
    assert out["semivariogram_distance"] < 0.5
    rough = evaluate(2 * b["unwrapped"], b["unwrapped"], "insar", feature_space=False)
    assert rough["semivariogram_distance"] == pytest.approx(np.log(4), rel=1e-6)
    wrapped = evaluate(to_cos_sin(b["wrapped"]), to_cos_sin(smooth["wrapped"]), "insar", "random")
    assert wrapped["residue_density_samples"] > 5 * wrapped["residue_density_reference"] + 0.01
    assert wrapped["gradient_circvar_samples"] > wrapped["gradient_circvar_reference"]
    assert "semivariogram_distance" not in wrapped and "fid" in wrapped
    fig = plot_evaluation(b["unwrapped"], a["unwrapped"], "insar")
    assert len(fig.axes) == 3


def test_rebuilt_schedule_ranks_worse_than_respacing(analytic) -> None:
    sched, model = analytic
    ref = _inverse(model.sample_data(256, 99))
    configs = [("ddpm", 1000), ("ddim", 20), ("rebuilt-ddim", 20), ("dpm++", 20),
               ("rebuilt-dpm++", 20), ("ddpm", 10), ("rebuilt-ddpm", 10)]  # fmt: skip
    rows = compare_samplers(
        model, sched, ref, configs=configs, n=128, shape=(1, 16, 16), inverse=_inverse,
        feature_space=False, batch_size=128,
    )  # fmt: skip
    by = {(r["sampler"], r["steps"]): r for r in rows}
    reference = by[("ddpm", 1000)]
    assert reference["nfe"] == 1000 and reference["max_rel_err"] == 0
    # The 1000-step reference reproduces the data statistics.
    assert reference["std_db_samples"] == pytest.approx(reference["std_db_reference"], rel=0.05)
    assert reference["log_hist_w1_db"] < 0.3
    # DPM-Solver++ at 20 NFE is within 10 % of the reference on the SAR statistics.
    assert by[("dpm++", 20)]["max_rel_err"] < 0.1
    for name, steps in (("ddim", 20), ("dpm++", 20), ("ddpm", 10)):
        right, wrong = by[(name, steps)], by[(f"rebuilt-{name}", steps)]
        assert wrong["nfe"] == right["nfe"] == steps
        assert wrong["max_rel_err"] > right["max_rel_err"] + 0.1, name
        assert wrong["log_hist_w1_db"] > 2 * right["log_hist_w1_db"], name
        assert wrong["psd_distance"] > right["psd_distance"], name
    assert "| rebuilt-ddim | 20 | 20 |" in format_table(rows)


def test_outputs_and_job_files(analytic, tmp_path) -> None:
    _, model = analytic
    rows = [
        {"sampler": "ddpm", "steps": 1000, "nfe": 1000, "psd_distance": 0.1, "max_rel_err": 0.0},
        {"sampler": "dpm++", "steps": 10, "nfe": 10, "psd_distance": 0.2, "max_rel_err": 0.05},
        {"sampler": "dpm++", "steps": 20, "nfe": 20, "psd_distance": 0.15, "max_rel_err": 0.02},
    ]
    png = plot_quality_vs_nfe(rows, tmp_path / "q.png")
    assert png.read_bytes().startswith(b"\x89PNG")
    ref = _inverse(model.sample_data(64, 0))
    np.save(tmp_path / "ref.npy", ref)
    np.savez(tmp_path / "gen.npz", samples=_inverse(model.sample_data(64, 1)))
    np.testing.assert_array_equal(load_images(tmp_path / "ref.npy"), ref)
    metrics = run_evaluate(
        tmp_path / "gen.npz", tmp_path / "ref.npy", tmp_path / "run", features="random"
    )
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["psd_distance"] == pytest.approx(metrics["psd_distance"])
    assert (tmp_path / "run" / "report.html").stat().st_size > 1000
    assert (tmp_path / "run" / "figures" / "evaluation.png").is_file()
    with pytest.raises(InputError, match="sampler"):
        compare_samplers(model, NoiseSchedule.cosine(10), ref, configs=[("euler", 5)])
    with pytest.raises(InputError, match="extension"):
        load_images(tmp_path / "run" / "report.html")


def test_cli_evaluate_and_compare_samplers_on_a_tiny_trained_run(tmp_path) -> None:
    import typer
    from typer.testing import CliRunner

    from eoforge.cli.diffusion_eval import register
    from eoforge.diffusion.model import UNetConfig
    from eoforge.diffusion.training.train import DiffusionConfig, train

    images = np.random.default_rng(0).gamma(4, 0.25, (16, 16, 16))
    np.save(tmp_path / "ref.npy", images)
    unet = UNetConfig(image_size=16, block_out_channels=(8, 16), attention_levels=(),
                      norm_num_groups=4)  # fmt: skip
    cfg = DiffusionConfig(unet=unet, num_timesteps=100, steps=2, batch_size=4,
                          checkpoint_every=0, sample_n=4, sample_steps=2)  # fmt: skip
    run = train(cfg, images, out=tmp_path / "train")
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    res = runner.invoke(app, ["compare-samplers", str(run), "--reference", str(tmp_path / "ref.npy"),
                              "--out", str(tmp_path / "cmp"), "--n", "6", "--no-features",
                              "--configs", "ddpm:100,dpm++:5,rebuilt-ddim:5"])  # fmt: skip
    assert res.exit_code == 0, res.output
    rows = json.loads((tmp_path / "cmp" / "rows.json").read_text())
    assert [(r["sampler"], r["nfe"]) for r in rows] == [("ddpm", 100), ("dpm++", 5),
                                                        ("rebuilt-ddim", 5)]  # fmt: skip
    assert rows[0]["max_rel_err"] == 0 and "| rebuilt-ddim | 5 | 5 |" in res.output
    assert (tmp_path / "cmp" / "figures" / "quality_vs_nfe.png").is_file()
    res = runner.invoke(app, ["evaluate", str(tmp_path / "ref.npy"), "--reference",
                              str(tmp_path / "ref.npy"), "--out", str(tmp_path / "ev"),
                              "--training", str(tmp_path / "ref.npy")])  # fmt: skip
    assert res.exit_code == 0 and '"psd_distance": 0.0' in res.output
    assert '"memo_fraction_below": 1.0' in res.output  # the samples are the training images
    res = runner.invoke(app, ["evaluate", str(tmp_path / "missing.npy"), "--reference",
                              str(tmp_path / "ref.npy")])  # fmt: skip
    assert res.exit_code == 2 and "does not exist" in res.output
    res = runner.invoke(app, ["compare-samplers", str(run), "--reference", str(tmp_path / "ref.npy"),
                              "--configs", "ddpm"])  # fmt: skip
    assert res.exit_code != 0 and "SAMPLER:STEPS" in res.output
