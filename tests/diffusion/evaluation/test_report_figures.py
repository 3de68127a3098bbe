"""Report figures and tables of the diffusion wing: page-wide tables, units, honest labels."""

import numpy as np

from eoforge.diffusion.evaluation.compare_report import (
    default_columns,
    plot_quality_vs_nfe,
    report_tables,
)
from eoforge.diffusion.evaluation.evaluate import plot_evaluation
from eoforge.diffusion.training.module import grid_figure

KEYS = ("max_rel_err", "psd_distance", "log_hist_w1_db", "semivariogram_distance", "enl_samples",
        "std_db_samples", "fid", "kid", "precision", "recall")  # fmt: skip


def _rows():
    rng = np.random.default_rng(0)
    rows = []
    for sampler, steps in (("ddpm", 400), ("dpm++", 20), ("dpm++", 10), ("rebuilt-ddim", 20)):
        rows.append({"sampler": sampler, "steps": steps, "nfe": steps, "seconds_per_sample": 0.1,
                     **{k: float(rng.random()) for k in KEYS}})  # fmt: skip
    return rows


def test_sampler_table_is_split_to_fit_the_page():
    rows = _rows()
    assert len(default_columns(rows)) == 14  # one table of 14 columns overflowed the page
    topics, tables = zip(*report_tables(rows), strict=True)
    assert topics == ("cost", "statistics", "features")
    assert all(len(t[0]) <= 8 for t in tables)
    assert all(list(t[0])[:2] == ["sampler", "steps"] for t in tables)
    shown = {k for t in tables for k in t[0]}
    assert {"NFE", "s / sample", "hist. W1 (dB)", "std (dB)", "FID"} <= shown
    assert [r["sampler"] for r in tables[1]] == [r["sampler"] for r in rows]


def test_quality_figure_labels_its_axes_with_units_and_stays_page_wide():
    fig = plot_quality_vs_nfe(_rows())
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == 7 and fig.get_size_inches()[0] <= 4 * 3.6 + 1e-9
    assert all(ax.get_ylabel() and ax.get_title() == "" for ax in axes)
    assert "hist. W1 (dB)" in {ax.get_ylabel() for ax in axes}


def test_evaluation_psd_has_units():
    x = np.random.default_rng(0).gamma(4, 0.25, (4, 16, 16))
    fig = plot_evaluation(x, x, "sar")
    assert "dB²" in fig.axes[1].get_ylabel() and fig.axes[1].get_ylabel() != "power"


def test_sample_grid_has_no_title_over_the_images():
    fig = grid_figure(np.zeros((4, 1, 8, 8)))
    assert fig._suptitle is None and all(ax.get_title() == "" for ax in fig.axes)
