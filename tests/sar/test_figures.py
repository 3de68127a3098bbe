"""The example figure: units on U10/Hs, a dB colourbar per imagette, "synthetic" only when it is."""

import dataclasses

import matplotlib.pyplot as plt
import numpy as np

from eoforge.sar.wv import examples_figure, synth_wv


def _titles_and_colourbars(fig):
    images = [ax for ax in fig.axes if ax.images]
    bars = [ax for ax in fig.axes if ax.get_ylabel() == "sigma0 (dB)"]
    return [ax.get_title() for ax in images], len(bars)


def test_examples_have_units_and_colourbars():
    wv = synth_wv(40, size=16, seed=0, class_prior="uniform")
    fig = examples_figure(wv)
    titles, n_bars = _titles_and_colourbars(fig)
    assert len(titles) == len(set(wv.labels.tolist())) == n_bars
    for t in titles:
        assert "U10 " in t and " m/s, Hs " in t and t.endswith(" m")
    assert "synthetic" in fig._suptitle.get_text() and "real" not in fig._suptitle.get_text()
    plt.close(fig)


def test_unknown_targets_are_left_out_and_imported_sets_are_not_called_synthetic():
    wv = synth_wv(10, size=16, seed=1)
    imported = dataclasses.replace(
        wv, wind_speed=np.full(10, np.nan, np.float32), attrs={"source": "import"}
    )
    fig = examples_figure(imported)
    titles, _ = _titles_and_colourbars(fig)
    assert titles and all("U10" not in t and "Hs" in t for t in titles)
    assert fig._suptitle is None
    plt.close(fig)
