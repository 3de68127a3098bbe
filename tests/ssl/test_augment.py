"""Augmentations: shapes, dtypes, seeding, exact identity/rotation cases, speckle mean in dB."""

import numpy as np
import pytest
import torch
from scipy.special import digamma

from eoforge.core.errors import InputError
from eoforge.core.seeding import torch_generator
from eoforge.ssl.augment import MultiCropAugment, gaussian_blur, random_resized_crop

OFF = dict(gain_db=0.0, contrast=0.0, speckle_prob=0.0, blur_prob=0.0)


def test_views_shapes_dtypes_and_seeding():
    aug = MultiCropAugment(n_global=2, n_local=3, global_size=24, local_size=8)
    x = torch.randn(4, 1, 32, 32)
    v1 = aug(x, torch_generator(3))
    v2 = aug(x, torch_generator(3))
    v3 = aug(x, torch_generator(4))
    assert [v.shape for v in v1] == [(4, 1, 24, 24)] * 2 + [(4, 1, 8, 8)] * 3
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in v1)
    assert all(torch.equal(a, b) for a, b in zip(v1, v2, strict=True))
    assert not torch.equal(v1[0], v3[0])
    assert not torch.equal(v1[0][0], v1[0][1])  # each image gets its own parameters


def test_full_crop_without_jitter_is_identity():
    x = torch.randn(3, 1, 16, 16)
    out = random_resized_crop(x, 16, (1.0, 1.0), torch_generator(0), ratio=(1, 1),
                              flip=False, rot90=False)  # fmt: skip
    torch.testing.assert_close(out, x, atol=1e-5, rtol=0)
    views = MultiCropAugment(
        1, 0, 16, 8, global_scale=(1, 1), ratio=(1, 1), flip=False, rot90=False, **OFF
    )
    torch.testing.assert_close(views(x, torch_generator(1))[0], x, atol=1e-5, rtol=0)


def test_dihedral_views_are_exact_rotations_or_flips():
    x = torch.randn(16, 1, 8, 8)
    out = random_resized_crop(x, 8, (1.0, 1.0), torch_generator(5), ratio=(1, 1))
    group = []
    for k in range(4):
        r = torch.rot90(x, k, dims=(2, 3))
        group += [r, torch.flip(r, dims=(3,))]
    seen = set()
    for i in range(16):
        hits = [j for j, g in enumerate(group) if torch.allclose(out[i], g[i], atol=1e-5)]
        assert hits, f"view {i} is not a dihedral transform of its image"
        seen.add(hits[0])
    assert len(seen) >= 4


def test_speckle_mean_matches_log_gamma_expectation():
    # E[10 log10 G], G ~ Gamma(L, 1/L) = 10 / ln(10) * (digamma(L) - ln L)
    L = 3
    aug = MultiCropAugment(1, 0, 32, 8, global_scale=(1, 1), ratio=(1, 1), flip=False, rot90=False,
                           gain_db=0.0, contrast=0.0, blur_prob=0.0, speckle_prob=1.0,
                           speckle_looks=L, db_scale=2.0)  # fmt: skip
    x = torch.zeros(64, 1, 32, 32)
    v = aug(x, torch_generator(0))[0]
    expected = 10 / np.log(10) * (digamma(L) - np.log(L)) / 2.0
    assert float(v.mean()) == pytest.approx(expected, abs=0.02)


def test_gain_jitter_std_in_db():
    aug = MultiCropAugment(1, 0, 8, 8, global_scale=(1, 1), ratio=(1, 1), flip=False, rot90=False,
                           gain_db=1.5, contrast=0.0, speckle_prob=0.0, blur_prob=0.0,
                           db_scale=3.0)  # fmt: skip
    v = aug(torch.zeros(4000, 1, 8, 8), torch_generator(1))[0]
    assert float(v.mean(dim=(1, 2, 3)).std()) == pytest.approx(0.5, rel=0.05)


def test_blur_preserves_constants_and_zero_sigma():
    x = torch.randn(2, 1, 12, 12)
    torch.testing.assert_close(gaussian_blur(x, torch.zeros(2)), x, atol=1e-6, rtol=0)
    c = torch.full((2, 1, 12, 12), 3.0)
    torch.testing.assert_close(gaussian_blur(c, torch.tensor([0.5, 1.0])), c)
    smooth = gaussian_blur(x, torch.tensor([1.0, 1.0]))
    assert float(smooth.std()) < float(x.std())


def test_invalid_parameters_raise():
    with pytest.raises(InputError, match="local_scale"):
        MultiCropAugment(local_scale=(0.5, 0.1))
