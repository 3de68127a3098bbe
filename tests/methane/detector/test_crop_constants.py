"""Training crops fit c_t, c_r, the log-change medians and the noise on a regular subsample
(bank_stream.CROP_FIT_PIXELS): the error this adds against the fit on every pixel must be far
below how these constants differ between the two dates of a scene, and negligible in the
features (median-centred, so a band-scale error mostly cancels)."""

import numpy as np
import pytest
import torch

from eoforge.methane.detector import features_torch as ft
from eoforge.methane.detector import robust_torch
from eoforge.methane.detector.inject_torch import add_noise, inject
from eoforge.methane.detector.training.bank import bank_settings, open_bank
from eoforge.methane.detector.training.bank_stream import CROP_FIT_PIXELS, BankBatches
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.retrievals import fit_band_scale

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Noisy target/reference crops of 128 px with plumes, from a small bank."""
    cfg = DetectorConfig(patch=128, batch_size=12, bank_items=4, plume_pool=2, bank_size=160,
                         bank_block=4, bank_reuse=1, cloud_prob=0.3, confounders_max=1)  # fmt: skip
    path = tmp_path_factory.mktemp("bank") / "bank.zarr"
    open_bank(path, bank_settings(cfg))
    raw = next(iter(BankBatches(cfg, path, seed=5)))
    names = ["B11", "B12", *cfg.context]
    gen = torch.Generator().manual_seed(0)
    t = inject(raw["bands"][:, 0], names, raw["column"], raw["amf"], raw["clear"], raw["path"])
    t = add_noise(t, names, raw["noise_scale"], gen)
    r = add_noise(raw["bands"][:, 1], names, raw["noise_scale"], gen)
    return t, r, raw["amf"], cfg


def test_subsampled_constants_are_far_below_the_date_to_date_differences(crops):
    t, r, amf, _ = crops
    full = ft.crop_constants(t, r, amf, None)
    sub = ft.crop_constants(t, r, amf, CROP_FIT_PIXELS)  # every 2nd row and column
    assert ft.fit_step(128, 128, CROP_FIT_PIXELS) == 2

    def rms(v: torch.Tensor) -> float:
        return float(v.pow(2).mean().sqrt())

    # Band scales: the error vs the difference of the two dates' scales of the same scenes.
    assert rms(sub["c_t"] - full["c_t"]) < 0.25 * rms(full["c_t"] - full["c_r"])
    assert rms(sub["c_r"] - full["c_r"]) < 0.25 * rms(full["c_t"] - full["c_r"])
    # Log-change medians: the error vs the changes themselves.
    assert rms(sub["med_change"] - full["med_change"]) < 0.1 * rms(full["med_change"])
    # Noise level within 5 %; the MBMP median (fitted on every pixel with the subsample's
    # scales) moves by far less than the per-pixel MBMP noise of its crop.
    np.testing.assert_allclose(sub["noise"], full["noise"], rtol=0.05)
    assert ((sub["med_mbmp"] - full["med_mbmp"]).abs() < 0.2 * full["noise"]).all()


def test_subsampled_constants_barely_move_the_features(crops):
    t, r, amf, cfg = crops
    x_full = ft.features(t, r, ft.crop_constants(t, r, amf, None), cfg.smooth_sigma, True)
    x_sub = ft.features(t, r, ft.crop_constants(t, r, amf, CROP_FIT_PIXELS), cfg.smooth_sigma,
                        True)  # fmt: skip
    ok = x_full[:, -1] > 0
    for ch in range(x_full.shape[1] - 2):  # the per-pixel channels (not noise level, valid)
        d = (x_sub[:, ch] - x_full[:, ch])[ok]
        spread = float(x_full[:, ch][ok].std())
        assert float(d.pow(2).mean().sqrt()) <= 0.02 * spread + 1e-6, ch
    # The MBMP channel (x 20) moves by far less than its per-pixel noise 20 sigma_MBMP.
    noise = 20.0 * float(ft.crop_constants(t, r, amf, None)["noise"].min())
    assert float((x_sub[:, 7] - x_full[:, 7])[ok].abs().max()) < 0.2 * noise


def test_batched_band_scale_equals_the_numpy_fit_per_row():
    """Rows that stop trimming at different passes (the CPU ends the passes once all stopped)
    give retrievals.fit_band_scale's c on each row's kept pixels."""
    g = torch.Generator().manual_seed(3)
    num = torch.rand(6, 3000, generator=g, dtype=torch.float64) * 0.3 + 0.1
    den = num * (1.2 + 0.01 * torch.randn(6, 3000, generator=g, dtype=torch.float64))
    for i, frac in enumerate((0.0, 0.02, 0.1, 0.3, 0.45, 0.05)):  # outliers: plumes, clouds
        n_out = int(frac * 3000)
        den[i, :n_out] *= 1.0 + 0.2 * torch.rand(n_out, generator=g, dtype=torch.float64)
    keep = torch.rand(6, 3000, generator=g) > 0.05
    got = robust_torch.fit_band_scale(num, den, keep)
    for i in range(6):
        k = keep[i].numpy()
        want = fit_band_scale(num[i].numpy()[k], den[i].numpy()[k])
        assert float(got[i]) == pytest.approx(want, rel=1e-12), i
