"""Figures of the extremes reports: region maps name their regions, value maps carry units."""

import matplotlib.pyplot as plt
import numpy as np

from eoforge.extremes import plots


def _grid():
    lon, lat = np.meshgrid(np.arange(0.0, 50.0, 10.0), np.arange(0.0, 30.0, 10.0))
    return lon.ravel(), lat.ravel()  # 15 sites on a regular 3 x 5 grid


def _legend_texts(legend) -> list[str]:
    return [t.get_text() for t in legend.get_texts()]


def test_region_map_legend_names_regions_sizes_medoids_and_masked():
    lon, lat = _grid()
    labels = np.array([0] * 6 + [1] * 5 + [2] * 3 + [-1])
    fig = plots.region_map(labels, lon, lat, medoids=[0, 6, 11], title="regions")
    texts = _legend_texts(fig.axes[0].get_legend())
    assert texts == [
        "region 0 (6 sites)",
        "region 1 (5 sites)",
        "region 2 (3 sites)",
        "medoid site",
        "masked (1 site)",
    ]
    plt.close(fig)


def test_side_by_side_maps_share_one_region_legend():
    lon, lat = _grid()
    a = np.repeat([0, 1, 2], 5)
    fig = plots.maps_side_by_side([a, a[::-1]], ["all", "natural"], lon, lat)
    assert _legend_texts(fig.legends[0]) == ["region 0", "region 1", "region 2"]
    plt.close(fig)


def test_changed_sites_legend_counts_sites():
    lon, lat = _grid()
    a = np.repeat([0, 1, 2], 5)
    b = a.copy()
    b[:4] = 1
    fig = plots.changed_sites_map(a, b, lon, lat, title="changes")
    assert _legend_texts(fig.axes[0].get_legend()) == ["same region (11)", "changed (4)"]
    plt.close(fig)


def test_value_maps_have_colourbars_with_units():
    lon, lat = _grid()
    fig = plots.field_map(np.arange(15.0), lon, lat, label="median annual maximum (mm/day)")
    assert len(fig.axes) == 2  # the map and its colourbar
    assert fig.axes[1].get_ylabel() == "median annual maximum (mm/day)"
    plt.close(fig)
    D = np.abs(np.subtract.outer(np.arange(6.0), np.arange(6.0)))
    fig = plots.dissimilarity_heatmap(D, np.repeat([0, 1], 3), title="D")
    assert fig.axes[1].get_ylabel() == "dissimilarity (unitless)"
    plt.close(fig)


def test_maps_of_lonlat_sites_have_a_labelled_graticule():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(-109, -102, 40), rng.uniform(37, 41, 40)
    fig = plots.region_map(rng.integers(0, 3, 40), lon, lat, medoids=[0, 1, 2])
    ax = fig.axes[0]
    fig.canvas.draw()
    xt = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    yt = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert xt and all(t.endswith("°W") for t in xt), xt
    assert yt and all(t.endswith("°N") for t in yt), yt
    assert ax.xaxis.get_gridlines()[0].get_visible()
    assert plots._degrees(-105.0, "EW") == "105°W" and plots._degrees(190.0, "EW") == "170°W"
    assert plots._degrees(-33.5, "NS") == "33.5°S" and plots._degrees(0.0, "NS") == "0°"
    # sites without coordinates (index along x, zeros along y): no degree labels
    assert not plots.is_lonlat(np.arange(40.0), np.zeros(40))
