"""Tests of the partition comparison measures (ARI, variation of information, label matching)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.metrics import adjusted_rand_score, mutual_info_score

from eoforge.core.errors import InputError
from eoforge.extremes.clustering.partitions import (
    adjusted_rand_index,
    as_labels,
    compare_partitions,
    match_labels,
    variation_of_information,
)


def test_variation_of_information_closed_forms():
    a = np.array([0, 0, 1, 1])
    b = np.array([0, 1, 0, 1])  # independent of a, both balanced binary
    assert variation_of_information(a, a) == 0.0
    assert variation_of_information(a, 1 - a) == 0.0  # relabelling
    assert variation_of_information(a, b) == pytest.approx(2 * np.log(2), abs=1e-15)
    assert variation_of_information(b, a) == variation_of_information(a, b)
    # all in one cluster against all singletons: VI = log n
    assert variation_of_information(np.zeros(8), np.arange(8)) == pytest.approx(np.log(8))


def test_variation_of_information_matches_entropy_formula():
    rng = np.random.default_rng(7)
    for _ in range(5):
        a = rng.integers(0, 4, 500)
        b = np.where(rng.random(500) < 0.6, a, rng.integers(0, 6, 500))
        h_a = entropy(np.bincount(a))
        h_b = entropy(np.bincount(b))
        vi = h_a + h_b - 2 * mutual_info_score(a, b)
        assert variation_of_information(a, b) == pytest.approx(vi, abs=1e-12)
        assert variation_of_information(a, b) == pytest.approx(variation_of_information(b, a))


def test_masked_sites_are_left_out():
    rng = np.random.default_rng(8)
    a = rng.integers(0, 3, 100)
    b = rng.integers(0, 3, 100)
    b_masked = b.astype(float)
    b_masked[:10] = np.nan
    keep = slice(10, None)
    assert adjusted_rand_index(a, b_masked) == pytest.approx(adjusted_rand_score(a[keep], b[keep]))
    assert variation_of_information(a, b_masked) == pytest.approx(
        variation_of_information(a[keep], b[keep])
    )
    np.testing.assert_array_equal(as_labels(b_masked)[:10], -1)
    with pytest.raises(InputError, match="integer-valued"):
        as_labels(np.array([0.5, 1.0]))


def test_match_labels_undoes_a_permutation():
    rng = np.random.default_rng(9)
    ref = rng.integers(0, 6, 200)
    perm = rng.permutation(6)
    np.testing.assert_array_equal(match_labels(ref, perm[ref]), ref)
    # noisy copy: the matching still maps every cluster back
    noisy = perm[ref].copy()
    noisy[:15] = (noisy[:15] + 1) % 6
    matched = match_labels(ref, noisy)
    assert np.count_nonzero(matched != ref) <= 15
    # an extra cluster gets a new label; masked sites stay masked
    extra = perm[ref].copy()
    extra[:5] = 17
    extra[5] = -1
    m = match_labels(ref, extra)
    assert set(m[:5]) == {ref.max() + 1}
    assert m[5] == -1
    np.testing.assert_array_equal(m[6:], ref[6:])


def test_compare_partitions_counts_changed_sites():
    rng = np.random.default_rng(10)
    a = rng.integers(0, 4, 300)
    b = rng.permutation(4)[a]
    moved = rng.choice(300, 12, replace=False)
    b[moved] = (b[moved] + 1) % 4
    out = compare_partitions(a, b)
    assert out["n_changed_after_matching"] == 12
    assert out["share_changed"] == pytest.approx(12 / 300)
    assert out["ari"] == pytest.approx(adjusted_rand_score(a, b))
    assert out["vi"] == pytest.approx(variation_of_information(a, b))
    assert out["vi_normalized"] == pytest.approx(out["vi"] / np.log(300))
    assert out["n_sites"] == 300
    assert out["n_clusters_a"] == out["n_clusters_b"] == 4
    assert np.count_nonzero(out["b_matched"] != a) == 12
    same = compare_partitions(a, a)
    assert same["ari"] == 1.0
    assert same["vi"] == 0.0
    assert same["n_changed_after_matching"] == 0
