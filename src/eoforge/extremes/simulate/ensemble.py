"""Seeded synthetic multi-model ensembles of annual precipitation maxima on a lat/lon grid.

Used by the demo, the tests and the benchmarks in place of CMIP data (which cannot be downloaded
here). The planted truth is a map of four regions: tropics, northern and southern mid-latitudes
and a "monsoon" ellipse; in the all-forcing experiment the monsoon region is larger than in the
natural-forcing one (the forced change to detect). Inside region r, site s has maxima

    X_s = lambda_s * GEV(mu = 3, sigma = 1, xi_r)   (RFA-homogeneous, xi > 0 heavy tail)

with a smooth site scale lambda_s (wetter tropics) and logistic dependence of strength alpha_r
within the region, regions being independent. Each model perturbs the shapes and dependence and
misplaces a share of cells (model error), so single models disagree and a consensus helps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from eoforge.core.errors import bad_value
from eoforge.core.seeding import RandomState, as_generator
from eoforge.extremes.simulate.regions import gev_from_frechet, logistic_frechet

EXPERIMENTS = ("historical", "hist-nat")
REGION_NAMES = ("tropics", "northern mid-latitudes", "southern mid-latitudes", "monsoon")
_SHAPES = np.array([0.05, 0.20, 0.12, 0.30])
_ALPHAS = np.array([0.55, 0.45, 0.50, 0.40])
_ATTRS = {"units": "mm/day", "long_name": "annual maximum of daily precipitation"}


@dataclass(frozen=True)
class SimulatedEnsemble:
    """Annual maxima of every (experiment, model) and the true region maps.

    Attributes:
        maxima: ``{experiment: [DataArray (year, lat, lon) per model]}``, named ``pr``, mm/day.
        truth: ``{experiment: DataArray (lat, lon) of true region labels}``.
    """

    maxima: dict[str, list[xr.DataArray]]
    truth: dict[str, xr.DataArray]


def true_regions(lon: np.ndarray, lat: np.ndarray, experiment: str) -> np.ndarray:
    """Planted region (0..3) of each (lat, lon) cell; the monsoon grows under all forcings."""
    if experiment not in EXPERIMENTS:
        raise bad_value("experiment", experiment, f"one of {EXPERIMENTS}")
    lon2, lat2 = np.meshgrid(lon, lat)
    labels = np.where(lat2 >= 20, 1, np.where(lat2 <= -20, 2, 0))
    grow = 1.35 if experiment == "historical" else 1.0
    inside = ((lon2 - 80.0) / (40.0 * grow)) ** 2 + ((lat2 - 15.0) / (18.0 * grow)) ** 2 <= 1.0
    return np.where(inside, 3, labels)


def _one_model(
    labels: np.ndarray,
    lam: np.ndarray,
    n_years: int,
    model_error: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n_years, n_cells) maxima of one model: misplaced cells, perturbed shapes and alphas."""
    sim_labels = labels.copy()
    wrong = rng.random(labels.size) < model_error
    sim_labels[wrong] = rng.integers(0, 4, wrong.sum())
    shapes = _SHAPES + rng.normal(0, 0.02, 4)
    alphas = np.clip(_ALPHAS + rng.normal(0, 0.03, 4), 0.1, 1.0)
    lam = lam * rng.lognormal(0.0, 0.1, labels.size)
    z = np.empty((n_years, labels.size))
    for r in range(4):
        idx = np.flatnonzero(sim_labels == r)
        if idx.size:
            z[:, idx] = logistic_frechet(n_years, idx.size, float(alphas[r]), rng)
    return lam * gev_from_frechet(z, 3.0, 1.0, shapes[sim_labels])


def simulate_ensemble(
    n_models: int = 6,
    n_years: int = 60,
    *,
    resolution: float = 10.0,
    lat_max: float = 60.0,
    model_error: float = 0.08,
    experiments: tuple[str, ...] = EXPERIMENTS,
    random_state: RandomState = 0,
) -> SimulatedEnsemble:
    """Simulate an ensemble of climate models on a regular grid.

    Args:
        n_models: Models per experiment.
        n_years: Years of annual maxima.
        resolution: Grid spacing in degrees (cells centred on multiples of it plus a half).
        lat_max: Latitudes covered are [-lat_max, lat_max].
        model_error: Share of cells each model simulates with a wrong region's parameters.
        experiments: Subset of ``("historical", "hist-nat")``.
        random_state: Seed or generator.

    Returns:
        A :class:`SimulatedEnsemble`.
    """
    if n_models < 1 or n_years < 10:
        raise bad_value("n_models/n_years", (n_models, n_years), "n_models >= 1, n_years >= 10")
    if not 0 <= model_error < 0.5:
        raise bad_value("model_error", model_error, "a share in [0, 0.5)")
    rng = as_generator(random_state)
    lon = np.arange(-180 + resolution / 2, 180, resolution)
    lat = np.arange(-lat_max + resolution / 2, lat_max, resolution)
    years = np.arange(1950, 1950 + n_years)
    lam_grid = 4.0 + 16.0 * np.cos(np.deg2rad(np.meshgrid(lon, lat)[1])) ** 2
    maxima: dict[str, list[xr.DataArray]] = {}
    truth: dict[str, xr.DataArray] = {}
    for exp in experiments:
        labels = true_regions(lon, lat, exp).ravel()
        truth[exp] = xr.DataArray(
            labels.reshape(lat.size, lon.size), dims=("lat", "lon"), coords={"lat": lat, "lon": lon}
        )
        runs = []
        for m in range(n_models):
            x = _one_model(labels, lam_grid.ravel(), n_years, model_error, rng)
            runs.append(
                xr.DataArray(
                    np.maximum(x, 0.0).reshape(n_years, lat.size, lon.size).astype(np.float32),
                    dims=("year", "lat", "lon"),
                    coords={"year": years, "lat": lat, "lon": lon},
                    name="pr",
                    attrs={**_ATTRS, "model": f"model{m:02d}", "experiment": exp},
                )
            )
        maxima[exp] = runs
    return SimulatedEnsemble(maxima=maxima, truth=truth)
