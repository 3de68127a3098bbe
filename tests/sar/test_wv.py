"""Synthetic WV imagettes: speckle statistics, radiometry, class prior, duplicates, seeds,
and that the images encode their labels and targets (planted detectability)."""

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from eoforge.core.errors import InputError, ShapeError
from eoforge.sar.wv import CLASSES, WVSet, class_prior, nrcs_vv, plot_examples, speckle, synth_wv

ONLY_WAVES = [1.0] + [0.0] * 9


def features(images: np.ndarray) -> np.ndarray:
    """Hand features: dB moments/percentiles and the dB power spectrum in radial bins, split
    into azimuth- and range-dominated wavevectors."""
    db = 10 * np.log10(np.maximum(images, 1e-10))
    flat = db.reshape(len(db), -1)
    cols = [flat.mean(1), flat.std(1), stats.skew(flat, 1), stats.kurtosis(flat, 1),
            *np.percentile(flat, [1, 50, 99, 100], axis=1)]  # fmt: skip
    n = images.shape[-1]
    p = np.abs(np.fft.fft2(db - db.mean(axis=(1, 2), keepdims=True))) ** 2 / n**2
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    f, az = np.hypot(fx, fy), np.abs(fy) > np.abs(fx)
    edges = [0.5 / n, 2 / n, 4 / n, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5]
    for a, b in itertools.pairwise(edges):
        for sel in (az, ~az):
            cols.append(np.log(p[:, (f >= a) & (f < b) & sel].mean(1)))
    return np.column_stack(cols)


def test_contract_types_and_shapes():
    s = synth_wv(40, size=32, seed=3)
    assert s.classes == CLASSES and len(CLASSES) == 10 and len(s) == 40
    assert s.images.shape == (40, 32, 32) and s.images.dtype == np.float32
    assert s.images.min() > 0 and np.isfinite(s.images).all()
    assert s.labels.dtype == np.int64 and s.duplicate_of.dtype == np.int64
    assert s.wind_speed.dtype == np.float32 and s.hs.dtype == np.float32
    assert s.class_counts().sum() == 40 and s.class_counts().shape == (10,)


def test_speckle_enl_equals_looks():
    rng = np.random.default_rng(0)
    for looks in (1, 4, 16):
        patch = speckle(np.full((64, 64, 64), 0.05), looks, rng)
        enl = patch.mean() ** 2 / patch.var()
        assert enl == pytest.approx(looks, rel=0.05)
        assert patch.mean() == pytest.approx(0.05, rel=0.01)


def test_generator_speckle_has_enl_looks():
    """Same seed, one block: the scene is identical, only the speckle differs. The ratio to a
    practically noise-free render (10^6 looks) is the speckle, whose ENL must be `looks`."""
    kw = dict(size=32, seed=11, class_prior=ONLY_WAVES, duplicate_fraction=0.0)
    clean = synth_wv(60, looks=1_000_000, **kw).images.astype(np.float64)
    for looks in (1, 3):
        ratio = synth_wv(60, looks=looks, **kw).images / clean
        assert ratio.mean() == pytest.approx(1.0, abs=0.02)
        assert ratio.mean() ** 2 / ratio.var() == pytest.approx(looks, rel=0.06)


def test_nrcs_monotone_in_wind_and_generated_images_follow():
    wind = np.linspace(0.3, 30.0, 300)
    for inc in (23.5, 36.5):
        for phi in (0.0, 1.0, np.pi / 2, np.pi):
            assert np.all(np.diff(nrcs_vv(wind, inc, phi)) > 0)
    assert 10 * np.log10(nrcs_vv(10.0, 36.5, 0.0)) == pytest.approx(-11.7, abs=0.1)
    assert nrcs_vv(8.0, 23.5) > nrcs_vv(8.0, 36.5)  # brighter at lower incidence
    s = synth_wv(300, size=32, seed=2, class_prior=ONLY_WAVES, looks=4)
    mean_db = 10 * np.log10(s.images.mean(axis=(1, 2)))
    assert stats.spearmanr(s.wind_speed, mean_db).statistic > 0.85


def test_class_frequencies_follow_the_prior():
    p = class_prior("long-tail")
    assert p[CLASSES.index("pure_ocean_waves")] > 0.5
    assert 0.008 < p.min() < 0.015 and p.min() == p[CLASSES.index("icebergs")]
    s = synth_wv(4000, size=8, seed=0, duplicate_fraction=0.0)
    res = stats.chisquare(s.class_counts(), 4000 * p)
    assert res.pvalue > 1e-3
    u = synth_wv(2000, size=8, seed=1, class_prior="uniform", duplicate_fraction=0.0)
    assert stats.chisquare(u.class_counts()).pvalue > 1e-3


def test_duplicates_are_near_copies():
    s = synth_wv(200, size=32, seed=4, duplicate_fraction=0.1)
    dup = np.flatnonzero(s.duplicate_of >= 0)
    assert dup.size == 20
    src = s.duplicate_of[dup]
    assert np.all(s.duplicate_of[src] == -1)
    np.testing.assert_array_equal(s.labels[dup], s.labels[src])
    np.testing.assert_array_equal(s.hs[dup], s.hs[src])
    log = np.log(s.images)

    def best_corr(a, b):
        return max(np.corrcoef(np.roll(a, (dy, dx), (0, 1)).ravel(), b.ravel())[0, 1]
                   for dy in range(-2, 3) for dx in range(-2, 3))  # fmt: skip

    for i, j in zip(dup[:8], src[:8], strict=True):
        assert best_corr(log[j], log[i]) > 0.95
    others = np.flatnonzero(s.duplicate_of < 0)[:6]
    assert best_corr(log[others[0]], log[others[1]]) < 0.5


def test_seeds_deterministic_and_distinct():
    a = synth_wv(30, size=16, seed=7)
    b = synth_wv(30, size=16, seed=7)
    c = synth_wv(30, size=16, seed=8)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.duplicate_of, b.duplicate_of)
    assert not np.array_equal(a.images, c.images)


def test_images_encode_classes_wind_and_hs():
    """Planted detectability: linear models on simple hand features recover the truth."""
    tr = synth_wv(1500, seed=0, class_prior="uniform")
    te = synth_wv(600, seed=1, class_prior="uniform")
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    clf.fit(features(tr.images), tr.labels)
    acc = balanced_accuracy_score(te.labels, clf.predict(features(te.images)))
    assert acc > 0.6  # chance is 0.1
    # wind and Hs, with the multi-look speckle of 50 m imagettes (realistic ENL)
    tr = synth_wv(1500, seed=2, looks=16)
    te = synth_wv(600, seed=3, looks=16)
    xtr, xte = features(tr.images), features(te.images)
    for target, floor in (("wind_speed", 0.8), ("hs", 0.5)):
        reg = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        reg.fit(xtr, getattr(tr, target))
        assert reg.score(xte, getattr(te, target)) > floor, target


def test_subset_reindexes_duplicates():
    s = synth_wv(100, size=8, seed=5, duplicate_fraction=0.2)
    i = int(np.flatnonzero(s.duplicate_of >= 0)[0])
    j = int(s.duplicate_of[i])
    sub = s.subset([i, j])
    assert list(sub.duplicate_of) == [1, -1]
    assert s.subset([i]).duplicate_of[0] == -1
    np.testing.assert_array_equal(sub.images[0], s.images[i])
    with pytest.raises(InputError):
        s.subset([1000])


def test_plot_examples(tmp_path):
    s = synth_wv(60, size=32, seed=0, class_prior="uniform")
    out = plot_examples(s, tmp_path / "ex.png")
    assert out.stat().st_size > 5000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_clear_errors():
    with pytest.raises(InputError, match="n=0"):
        synth_wv(0)
    with pytest.raises(InputError, match="class_prior"):
        synth_wv(10, class_prior="zipf")
    with pytest.raises(InputError, match="class_prior"):
        synth_wv(10, class_prior=[1.0, 2.0])
    with pytest.raises(InputError, match="looks"):
        synth_wv(10, looks=0)
    with pytest.raises(InputError, match="duplicate_fraction"):
        synth_wv(10, duplicate_fraction=1.5)
    with pytest.raises(InputError, match="size"):
        synth_wv(10, size=2)
    with pytest.raises(ShapeError):
        WVSet(np.ones((2, 4, 4), np.float32), np.zeros(3, np.int64), np.zeros(2, np.float32),
              np.zeros(2, np.float32), np.full(2, -1))  # fmt: skip


def test_two_beams_recorded_and_brighter_at_wv1():
    s = synth_wv(300, size=16, seed=6, incidence=(23.5, 36.5), looks=4)
    assert s.incidence.dtype == np.float32 and set(np.unique(s.incidence)) == {23.5, 36.5}
    assert abs((s.incidence == 23.5).mean() - 0.5) < 0.1
    dup = np.flatnonzero(s.duplicate_of >= 0)
    np.testing.assert_array_equal(s.incidence[dup], s.incidence[s.duplicate_of[dup]])
    mean_db = 10 * np.log10(s.images.mean(axis=(1, 2)))
    waves = s.labels == 0
    wv1, wv2 = waves & (s.incidence == 23.5), waves & (s.incidence == 36.5)
    assert np.median(mean_db[wv1]) > np.median(mean_db[wv2]) + 3
    single = synth_wv(20, size=16, seed=6)
    assert np.all(single.incidence == 36.5)
    with pytest.raises(InputError, match="incidence"):
        synth_wv(5, incidence=(23.5, 95.0))
