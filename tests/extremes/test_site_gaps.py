"""Sites whose records do not overlap enough are masked (``comparable_sites``), not refused."""

import numpy as np
import pytest

from eoforge.extremes import regionalise, simulate_regions
from eoforge.extremes.dissimilarity.checks import comparable_sites
from eoforge.extremes.regionalise import MASK_REASONS


def _naive_greedy(fin: np.ndarray, m: int) -> np.ndarray:
    """The documented rule, written as plainly as possible (O(n^3))."""
    n = fin.shape[1]
    keep = np.ones(n, dtype=bool)
    nval = fin.sum(axis=0)
    while True:
        bad = np.zeros(n, dtype=int)
        for i in range(n):
            for j in range(n):
                if i != j and keep[i] and keep[j] and (fin[:, i] & fin[:, j]).sum() < m:
                    bad[i] += 1
        if bad.max() == 0:
            return keep
        # most bad pairs, then fewest years, then lowest index
        v = min(np.flatnonzero(bad > 0), key=lambda s: (-bad[s], nval[s], s))
        keep[v] = False


def _station_gaps(n_years: int, n_sites: int, seed: int) -> np.ndarray:
    """Records that start and end at random years, with a few holes, like station networks."""
    rng = np.random.default_rng(seed)
    x = rng.gumbel(30.0, 8.0, size=(n_years, n_sites))
    for s in range(n_sites):
        a = rng.integers(0, n_years - 5)
        b = rng.integers(a + 5, n_years + 1)
        x[:a, s] = np.nan
        x[b:, s] = np.nan
    x[rng.random(x.shape) < 0.05] = np.nan
    return x


@pytest.mark.parametrize("seed", range(6))
def test_greedy_mask_matches_a_plain_implementation(seed):
    x = _station_gaps(40, 25, seed)
    keep = comparable_sites(x, 8)
    np.testing.assert_array_equal(keep, _naive_greedy(np.isfinite(x), 8))
    fin = np.isfinite(x[:, keep]).astype(int)
    common = fin.T @ fin
    assert common.min() >= 8  # every kept pair (and every site) shares >= 8 years
    assert keep.sum() >= 2


def test_one_isolated_site_is_the_only_one_dropped():
    x = np.random.default_rng(0).gumbel(30.0, 8.0, size=(30, 6))
    x[10:, 2] = np.nan  # 10 years, all shared with the others: fine for m = 10
    x[:25, 4] = np.nan  # 5 years
    assert comparable_sites(x, 10).tolist() == [True, True, True, True, False, True]
    assert comparable_sites(x, 11).tolist() == [True, True, False, True, False, True]


def test_regionalise_reports_every_reason_once():
    sim = simulate_regions(40, 40, 2, random_state=0)
    x = sim.maxima.copy()
    x[:, 3] = np.nan  # all missing
    x[:35, 5] = np.nan  # 5 years
    x[:, 7] = 2.0  # constant
    x[:20, 9] = np.nan  # 20 late years ...
    x[20:, 11] = np.nan  # ... and 20 early ones: no overlap
    res = regionalise(x, k=2, n_sim=20, min_years=10)
    reasons = res.masked_reasons
    assert list(reasons) == list(MASK_REASONS)
    assert reasons["all_missing"] == [3] and reasons["too_few_years"] == [5]
    assert reasons["constant"] == [7] and reasons["too_few_common_years"] == [9]
    assert res.masked.tolist() == [3, 5, 7, 9]
    assert res.summary()["masked_sites"] == reasons
    assert (res.labels[res.masked] == -1).all() and (np.delete(res.labels, res.masked) >= 0).all()
