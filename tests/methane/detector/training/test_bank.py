"""Training bank and the torch data path: reproducible bank, bounded reads, crops that are views
of the bank, injection equal to the NumPy injection, features equal to the former NumPy ones,
one feature function for training and detection, and the errors for a bank of other settings."""

import numpy as np
import pytest
import torch
import zarr

from eoforge.core.errors import InputError
from eoforge.methane import scenes
from eoforge.methane.detector import features, infer
from eoforge.methane.detector import features_torch as ft
from eoforge.methane.detector.inject_torch import add_noise, inject
from eoforge.methane.detector.training.bank import bank_settings, open_bank
from eoforge.methane.detector.training.bank_stream import BankBatches, make_inputs
from eoforge.methane.detector.training.config import DetectorConfig
from eoforge.methane.physics import _interp_extrap, band_table, inject_plume
from tests.methane import numpy_features_reference as ref

torch.set_num_threads(1)


def _cfg(**kw) -> DetectorConfig:
    fields = dict(patch=32, batch_size=4, bank_items=3, plume_pool=2, bank_size=40,
                  bank_block=2, bank_reuse=2, cloud_prob=0.5, confounders_max=1)  # fmt: skip
    return DetectorConfig(**{**fields, **kw})


@pytest.fixture(scope="module")
def bank(tmp_path_factory):
    cfg = _cfg()
    path = tmp_path_factory.mktemp("bank") / "bank.zarr"
    open_bank(path, bank_settings(cfg))
    return cfg, path


def test_bank_is_seeded_and_refuses_other_settings(bank, tmp_path):
    cfg, path = bank
    again = open_bank(tmp_path / "again.zarr", bank_settings(cfg))
    first = zarr.open_group(str(path), mode="r")
    for name in ("backgrounds", "clear", "scalars", "plumes", "winds"):
        np.testing.assert_array_equal(first[name][:], again[name][:], err_msg=name)
    assert first["backgrounds"].shape == (3, 2, 4, 40, 40) and first["plumes"].shape == (2, 64, 64)
    assert first["backgrounds"].chunks == (1, 2, 4, 40, 40)  # one chunk per item
    # Unit-rate plumes: Q = 1 kg/h, mass on the canvas ~ Q x residence time (< 1800 s).
    mass_kg = first["plumes"][:].sum(axis=(1, 2)) * 400.0 * 16.04e-3
    assert np.all(mass_kg > 0) and np.all(mass_kg < 1.0 * 1800 / 3600)
    # Another bank seed gives other scenes.
    other = open_bank(tmp_path / "seed1.zarr", bank_settings(cfg.updated(bank_seed=1)))
    assert not np.array_equal(other["backgrounds"][0], first["backgrounds"][0])
    with pytest.raises(
        InputError, match=r"bank_items \(--bank-items\): bank 3, asked 4.*--rebuild-bank"
    ):
        open_bank(path, bank_settings(cfg.updated(bank_items=4)))
    with pytest.raises(InputError, match="bank_seed: bank 0, asked 1"):
        open_bank(tmp_path / "again.zarr", bank_settings(cfg.updated(bank_seed=1)))
    rebuilt = open_bank(tmp_path / "again.zarr", bank_settings(cfg.updated(bank_items=4)),
                        rebuild=True)  # fmt: skip
    assert rebuilt["backgrounds"].shape[0] == 4
    np.testing.assert_array_equal(rebuilt["backgrounds"][:3], first["backgrounds"][:])


def test_stream_is_seeded_and_reads_only_its_block(bank, monkeypatch):
    cfg, path = bank
    reads = []
    real = zarr.Array.get_orthogonal_selection

    def spy(self, selection, *args, **kwargs):
        out = real(self, selection, *args, **kwargs)
        reads.append((self.path, out.shape[0]))
        return out

    monkeypatch.setattr(zarr.Array, "get_orthogonal_selection", spy)
    a = [b for _, b in zip(range(5), BankBatches(cfg, path, seed=1), strict=False)]
    b = [b for _, b in zip(range(5), BankBatches(cfg, path, seed=1), strict=False)]
    c = next(iter(BankBatches(cfg, path, seed=2)))
    for x, y in zip(a, b, strict=True):
        for k in x:
            assert torch.equal(x[k], y[k]) if torch.is_tensor(x[k]) else x[k] == y[k]
    assert not torch.equal(a[0]["bands"], c["bands"])
    # 5 batches with reuse 2: 3 blocks of bank_block = 2 items per stream (7 for the three
    # streams), each read array by array; never the whole bank.
    assert {n for _, n in reads} == {2} and len(reads) == 7 * 4
    assert a[0]["bands"].shape == (4, 2, 4, 32, 32) and a[0]["clear"].dtype == torch.bool


def test_crops_are_rotated_flipped_windows_of_the_bank(bank):
    cfg, path = bank
    g = zarr.open_group(str(path), mode="r")
    stored = g["backgrounds"][:]  # (3, 2, 4, 40, 40)
    views = []
    for item in stored:
        for k in range(4):
            for flip in (False, True):
                v = np.rot90(item, k, axes=(-2, -1))
                views.append(v[..., ::-1] if flip else v)
    raw = next(iter(BankBatches(cfg, path, seed=3)))
    for crop in raw["bands"].numpy():
        hits = [v for v in views for r in range(9) for c in range(9)
                if np.array_equal(v[..., r:r + 32, c:c + 32], crop)]  # fmt: skip
        assert hits, "a crop is not a window of a rotated/flipped bank background"
    # Plumes: Q x a pool plume, present in about 1 - negative_fraction of the items.
    has = raw["column"].amax(dim=(1, 2)) > 0
    assert raw["column"].min() >= 0 and 0 < int(has.sum()) <= 4


def test_batched_injection_matches_the_numpy_injection():
    pair, column, _, _ = scenes.simulate_plume_pair((48, 48), "desert", 5,
                                                    emission_rate_kg_h=20000.0)  # fmt: skip
    names = ["B11", "B12", "B8A", "B04"]
    rng = np.random.default_rng(0)
    clear = rng.random((48, 48)) > 0.2
    bands = np.stack([pair.reference[b] for b in names])[None]  # (1, 4, H, W)
    amf = torch.tensor([pair.amf], dtype=torch.float64)
    got = inject(torch.from_numpy(bands), names, torch.from_numpy(column)[None], amf,
                 torch.from_numpy(clear)[None])[0].numpy()  # fmt: skip
    want = inject_plume({b: bands[0, i] for i, b in enumerate(names)}, column, pair.amf,
                        valid_mask=clear)  # fmt: skip
    assert column.max() > 1.0
    for i, b in enumerate(names):
        t_got, t_want = got[i] / bands[0, i], want[b] / bands[0, i]
        np.testing.assert_allclose(t_got, t_want, rtol=0, atol=1e-5, err_msg=b)
    assert (got[:2] < bands[0, :2]).any() and np.array_equal(got[2:], bands[0, 2:])
    # With a path reflectance p, only R - p is darkened: (R - p) T + p.
    path = torch.tensor([[0.01, 0.005, 0.0, 0.0]])
    got_p = inject(torch.from_numpy(bands), names, torch.from_numpy(column)[None], amf,
                   torch.from_numpy(clear)[None], path)[0].numpy()  # fmt: skip
    want_p = inject_plume({"B11": bands[0, 0] - 0.01}, column, pair.amf, ("B11",),
                          valid_mask=clear)["B11"] + 0.01  # fmt: skip
    np.testing.assert_allclose(got_p[0], want_p, rtol=0, atol=1e-6)


def test_fresh_noise_has_the_sensor_level():
    r = torch.full((2, 2, 64, 64), 0.3)
    out = add_noise(r, ["B11", "B12"], torch.tensor([1.0, 0.5]), torch.Generator().manual_seed(0),
                    quantize=False)  # fmt: skip
    sd = (out - r).std(dim=(2, 3))
    from eoforge.methane.scenes.spectra import noise_sigma

    want = noise_sigma(np.array([0.3]), 4)[0]  # B11 at noise scale 1
    np.testing.assert_allclose(sd[:, 0].numpy(), [want, want / 2], rtol=0.05)
    q = add_noise(r, ["B11", "B12"], torch.ones(2), torch.Generator().manual_seed(0))
    np.testing.assert_allclose((q * 1e4).numpy(), np.round((q * 1e4).numpy()), atol=1e-3)


@pytest.mark.parametrize("surface,seed", [("desert", 1), ("vegetated", 2), ("urban", 3)])
def test_torch_features_match_the_former_numpy_features(surface, seed, monkeypatch):
    pair, _, _, _ = scenes.simulate_plume_pair(
        (64, 72), surface, seed, emission_rate_kg_h=5000.0, cloud_fraction=0.2, confounders=2
    )
    args = (pair.target, pair.reference, pair.sza, pair.vza)
    got = features.build_inputs(*args, smooth=1.5, noise=True)
    want = ref.build_inputs(*args, smooth=1.5, noise=True)
    assert np.abs(got - want).max() < 1e-4
    c_got, c_want = features.scene_constants(*args), ref.scene_constants(*args)
    for k in ("c_t", "c_r", "med_mbsp", "med_mbmp", "amf", "noise", "valid_fraction"):
        assert getattr(c_got, k) == pytest.approx(getattr(c_want, k), rel=1e-9, abs=1e-12), k
    assert c_got.med_change == pytest.approx(c_want.med_change, rel=1e-9, abs=1e-12)
    # Large scenes fit on a subsample (every step-th row and column) and its noise pairs.
    monkeypatch.setattr(features, "_MAX_FIT_PIXELS", 500)
    monkeypatch.setattr(ref, "_MAX_FIT_PIXELS", 500)
    c_got, c_want = features.scene_constants(*args), ref.scene_constants(*args)
    for k in ("c_t", "c_r", "med_mbmp", "noise"):
        assert getattr(c_got, k) == pytest.approx(getattr(c_want, k), rel=1e-9), k


def test_masked_median_is_numpys_median_with_ties():
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 5, (200, 9), generator=g).double()
    m = torch.rand(200, 9, generator=g) > 0.4
    m[:, 0] = True
    got = ft.masked_median(x, m)
    want = [np.median(x[i][m[i]].numpy()) for i in range(200)]
    np.testing.assert_array_equal(got.numpy(), want)


def test_train_and_detect_use_the_same_feature_function(bank, monkeypatch):
    cfg, path = bank
    calls = []
    real = ft.features

    def spy(*args, **kwargs):
        calls.append(args[0].shape[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(ft, "features", spy)
    raw = next(iter(BankBatches(cfg, path, seed=4)))
    batch = make_inputs(raw, cfg)
    assert calls == [4]
    # The detection path on the same noisy dates gives the training inputs.
    names = ["B11", "B12", *cfg.context]
    gen = torch.Generator().manual_seed(raw["seed"])
    t = add_noise(inject(raw["bands"][:, 0], names, raw["column"], raw["amf"], raw["clear"],
                         raw["path"]), names, raw["noise_scale"], gen)  # fmt: skip
    r = add_noise(raw["bands"][:, 1], names, raw["noise_scale"], gen)
    sza, vza = (float(v) for v in zarr.open_group(str(path), mode="r")["scalars"][0, :2])
    for i in range(4):
        tb = {b: t[i, k].numpy() for k, b in enumerate(names)}
        rb = {b: r[i, k].numpy() for k, b in enumerate(names)}
        const = features.scene_constants(tb, rb, 30.0, 5.0)
        const = type(const)(**{**const.__dict__, "amf": float(raw["amf"][i])})
        x = features.compute_features(tb, rb, const, None, cfg.context, cfg.smooth_sigma)
        np.testing.assert_allclose(x, batch["x"][i].numpy(), rtol=0, atol=1e-5)
    n = len(calls)
    tb = {b: t[0, k].numpy() for k, b in enumerate(names)}
    rb = {b: r[0, k].numpy() for k, b in enumerate(names)}
    infer.predict(tb, rb, sza, vza, tile=64, overlap=16)
    assert len(calls) > n  # detect went through the same function


def test_labels_follow_the_plume_rule(bank):
    cfg, path = bank
    n_strong = 0
    for raw in (b for _, b in zip(range(3), BankBatches(cfg, path, seed=5), strict=False)):
        batch = make_inputs(raw, cfg)
        y, col = batch["mask"] > 0, batch["column"]
        assert torch.all(col[y] >= cfg.label_min_column)
        assert torch.all(raw["clear"][y]) and torch.all(batch["valid"][y] == 1)
        strong = (col > 0.3) & raw["clear"] & (batch["valid"] > 0)
        assert torch.all(y[strong])
        n_strong += int(strong.sum())
    assert n_strong > 0


def test_config_checks_the_bank_options():
    from eoforge.core.errors import ConfigError

    with pytest.raises(ConfigError, match="bank_size"):
        DetectorConfig.from_dict({"patch": 64, "bank_size": 48})
    with pytest.raises(ConfigError, match="stream"):
        DetectorConfig.from_dict({"stream": "disk"})


def test_runs_share_a_bank_and_one_with_other_settings_is_refused(tmp_path):
    from eoforge.methane.detector.training.run import train_detector

    shared = tmp_path / "shared.zarr"
    cfg = DetectorConfig(steps=2, batch_size=2, patch=32, widths=(4, 8), threads=1, bank_items=2,
                         plume_pool=2, bank_block=2, bank_path=str(shared))  # fmt: skip
    train_detector(cfg, tmp_path / "a")
    built = shared.stat().st_mtime_ns
    train_detector(cfg.updated(seed=1), tmp_path / "b")  # same bank settings: reused as is
    assert shared.stat().st_mtime_ns == built and not (tmp_path / "b" / "bank.zarr").exists()
    with pytest.raises(InputError, match=r"bank_items \(--bank-items\): bank 2, asked 3"):
        train_detector(cfg.updated(bank_items=3), tmp_path / "c")
    train_detector(cfg.updated(bank_items=3, bank_rebuild=True), tmp_path / "d")
    assert zarr.open_group(str(shared), mode="r")["backgrounds"].shape[0] == 3


def test_the_gpu_kernels_equal_the_cpu_ones():
    """The device-side branches (torch selection, convolution) run here on the CPU against the
    NumPy/SciPy kernels the CPU branch uses; the bucketed interpolation (all devices) against
    NumPy's interpolation of the physics module."""
    from eoforge.methane.detector import inject_torch, robust_torch

    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 7, (50, 11), generator=g).double()
    m = torch.rand(50, 11, generator=g) > 0.3
    m[:, 0] = True
    np.testing.assert_array_equal(robust_torch.masked_median_torch(x, m), ft.masked_median(x, m))
    tab = band_table("B12", "S2A")  # the bucketed interpolation against NumPy's (any device)
    grid = inject_torch._table("B12", "S2A", "cpu", torch.float64)
    v = torch.cat([torch.linspace(-20.0, 300.0, 50001, dtype=torch.float64),
                   torch.from_numpy(tab.x), torch.tensor([-1e3, 1e4, torch.nan])])  # fmt: skip
    np.testing.assert_allclose(inject_torch.interp_grid(v, grid).numpy(),
                               _interp_extrap(v.numpy(), tab.x, tab.ln_t), rtol=1e-13, atol=1e-13)  # fmt: skip
    img = torch.rand(2, 23, 31, generator=g)
    torch.testing.assert_close(ft.smooth_torch(img, 1.5), ft.gaussian_smooth(img, 1.5),
                               rtol=0, atol=1e-6)  # fmt: skip
    q = torch.rand(3, 400, generator=g, dtype=torch.float64) + 0.5
    keep = torch.rand(3, 400, generator=g) > 0.1
    num = torch.rand(3, 400, generator=g, dtype=torch.float64) + 0.1
    cpu = robust_torch.fit_band_scale(num, num * q, keep)
    real = robust_torch._sort_rows
    try:
        robust_torch._sort_rows = lambda t: torch.sort(t, dim=1)
        torch.testing.assert_close(robust_torch.fit_band_scale(num, num * q, keep), cpu)
    finally:
        robust_torch._sort_rows = real
