"""Context veto: candidate plumes whose visible/NIR bands changed too are surface change."""

import numpy as np

from eoforge.methane.detect.context_veto import context_changes, veto
from eoforge.methane.detector.features import SceneConstants


def test_veto_uses_the_median_signed_change_of_each_component():
    rng = np.random.default_rng(0)
    labels = np.zeros((40, 40), dtype=np.int32)
    labels[2:10, 2:10] = 1  # NIR darkened by 8 %: vetoed
    labels[20:28, 2:10] = 2  # no change, but 5 % per-pixel noise: the median averages it out
    labels[2:10, 20:28] = 3  # red changed by +4 %: kept at 0.05, vetoed at 0.03
    nir = np.zeros((40, 40), dtype=np.float32)
    red = np.zeros((40, 40), dtype=np.float32)
    nir[labels == 1] = -0.08
    nir[labels == 2] = 0.05 * rng.standard_normal(64)
    red[labels == 2] = 0.05 * rng.standard_normal(64)
    red[labels == 3] = 0.04
    assert veto(labels, [nir, red], 0.05).tolist() == [1]
    assert veto(labels, [nir, red], 0.03).tolist() == [1, 3]
    assert veto(np.zeros_like(labels), [nir, red], 0.05).size == 0
    assert veto(labels, [], 0.05).size == 0


def test_context_changes_remove_the_scene_wide_change_and_ignore_invalid_pixels():
    rng = np.random.default_rng(1)
    ref = {b: (0.2 + 0.05 * rng.random((16, 16))).astype(np.float32) for b in ("B8A", "B04")}
    tgt = {b: 1.1 * v for b, v in ref.items()}  # brighter illumination everywhere
    tgt["B04"][0, 0] = np.nan
    tgt["B8A"][3:6, 3:6] *= 0.9  # a local 10 % darkening
    const = SceneConstants(c_t=1.0, c_r=1.0, med_mbsp=0.0, med_mbmp=0.0, amf=2.0,
                           med_change={"B8A": float(np.log(1.1)), "B04": float(np.log(1.1))})  # fmt: skip
    d_nir, d_red = context_changes(tgt, ref, const, ("B8A", "B04"))
    np.testing.assert_allclose(d_red, 0.0, atol=1e-6)  # the NaN pixel counts as no change
    np.testing.assert_allclose(d_nir[3:6, 3:6], np.log(0.9), rtol=1e-5)
    assert np.abs(d_nir[8:, 8:]).max() < 1e-6
