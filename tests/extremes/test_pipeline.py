"""regionalise / regionalise_ensemble / attribute on planted truths, and their bad input."""

import numpy as np
import pytest

from eoforge.core.errors import InputError, ShapeError
from eoforge.extremes import (
    adjusted_rand_index,
    attribute,
    regionalise,
    regionalise_ensemble,
    simulate_ensemble,
    simulate_regions,
    stack_sites,
)


@pytest.fixture(scope="module")
def ensemble():
    return simulate_ensemble(n_models=5, n_years=50, resolution=15.0, random_state=1)


def test_regionalise_finds_planted_k_and_regions():
    sim = simulate_regions(150, 60, 3, shapes=(0.0, 0.15, 0.3), alpha=0.5, random_state=3)
    res = regionalise(sim.maxima, n_sim=50, random_state=0)
    assert res.k == 3
    assert adjusted_rand_index(res.labels, sim.labels) > 0.95
    assert [r["k"] for r in res.k_table] == list(range(2, 11))
    best = max(res.k_table, key=lambda r: r["silhouette"])
    assert best["k"] == 3
    assert all(res.labels[m] == i for i, m in enumerate(res.medoids))
    assert sum(r["n_sites"] for r in res.regions) == 150
    assert all("H1" in r for r in res.regions)


def test_masked_sites_are_reported_not_silently_nan():
    sim = simulate_regions(60, 40, 2, random_state=0)
    x = sim.maxima.copy()
    x[:, 5] = np.nan  # an all-NaN (ocean) cell
    x[:35, 7] = np.nan  # only 5 years left
    x[:, 9] = 2.0  # constant
    res = regionalise(x, k=2, n_sim=20)
    assert res.masked.tolist() == [5, 7, 9]
    assert (res.labels[[5, 7, 9]] == -1).all()
    assert (res.labels[np.setdiff1d(np.arange(60), [5, 7, 9])] >= 0).all()
    assert np.isfinite(res.dissimilarity).all()


def test_bad_input_errors():
    sim = simulate_regions(30, 30, 2, random_state=0)
    neg = sim.maxima.copy()
    neg[3, 4] = -1.0
    with pytest.raises(InputError, match=r"sites \[4\] have negative maxima"):
        regionalise(neg)
    with pytest.raises(ShapeError, match="n_years, n_sites"):
        regionalise(sim.maxima[:, 0])
    with pytest.raises(InputError, match="method"):
        regionalise(sim.maxima, method="euclid")
    with pytest.raises(InputError, match="min_years"):
        regionalise(sim.maxima[:8])
    with pytest.raises(InputError, match="'auto' or an integer"):
        regionalise(sim.maxima, k=0)
    with pytest.raises(InputError, match=r"n_sim=-1 is invalid"):  # was an error in every region
        regionalise(sim.maxima, k=2, n_sim=-1)
    assert regionalise(sim.maxima, k=2, n_sim=-1, diagnostics=False).k == 2


def test_consensus_beats_single_models_and_attribution_finds_planted_change(ensemble):
    results = {}
    for exp, runs in ensemble.maxima.items():
        stacks = [stack_sites(da) for da in runs]
        ens = regionalise_ensemble(
            [s.values for s in stacks], [f"m{i}" for i in range(len(stacks))], random_state=0
        )
        truth = ensemble.truth[exp].values.ravel()
        single = [adjusted_rand_index(m.labels, truth) for m in ens.members]
        consensus = adjusted_rand_index(ens.consensus, truth)
        assert consensus > max(single)
        assert consensus > 0.95
        assert adjusted_rand_index(ens.other_consensus, truth) > 0.9
        results[exp] = ens
    att = attribute(results["hist-nat"], results["historical"])
    planted = (
        ensemble.truth["historical"].values.ravel() != ensemble.truth["hist-nat"].values.ravel()
    )
    changed = att.natural_matched != att.all_forcing.consensus
    assert changed.sum() == att.comparison["n_changed_after_matching"]
    # the detected changes are the planted ones (allowing one stray cell)
    assert (changed & ~planted).sum() <= 1 and (planted & ~changed).sum() <= 1
    s = att.summary()
    assert s["comparison_all_vs_natural"]["ari"] < 1.0
    assert set(s["within_experiment_mean_pairwise_ari"]) == {"all_forcing", "natural"}


def test_attribute_rejects_mismatched_grids(ensemble):
    a = [stack_sites(da).values for da in ensemble.maxima["historical"][:2]]
    b = [stack_sites(da).values[:, :-3] for da in ensemble.maxima["hist-nat"][:2]]
    ea = regionalise_ensemble(a, ["a", "b"], k=4)
    eb = regionalise_ensemble(b, ["a", "b"], k=4)
    with pytest.raises(InputError, match="different grids"):
        attribute(eb, ea)
    with pytest.raises(InputError, match="one each"):
        regionalise_ensemble(a, ["only-one-name"], k=4)
