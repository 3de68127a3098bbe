"""Tables and figures of a sampler comparison (rows of :func:`eoforge.diffusion.evaluation.compare.compare_samplers`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from eoforge.core.atomic import atomic_write_bytes
from eoforge.core.errors import InputError
from eoforge.core.report import figure_png


def default_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Columns shown by default: sampler, steps, NFE, s/sample, max_rel_err and key metrics."""
    wanted = ("sampler", "steps", "nfe", "seconds_per_sample", "max_rel_err", "psd_distance",
              "log_hist_w1_db", "semivariogram_distance", "enl_samples", "std_db_samples",
              "residue_density_samples", "fid", "kid", "precision", "recall")  # fmt: skip
    return [k for k in wanted if k in rows[0]]


#: Short column heads with units, for the HTML report (the keys stay in rows.json/table.md).
LABELS: dict[str, str] = {
    "sampler": "sampler", "steps": "steps", "nfe": "NFE", "seconds_per_sample": "s / sample",
    "max_rel_err": "max rel. err", "psd_distance": "PSD dist. (|ln P ratio|)",
    "log_hist_w1_db": "hist. W1 (dB)", "semivariogram_distance": "semivar. dist.",
    "enl_samples": "ENL", "std_db_samples": "std (dB)", "residue_density_samples":
    "residues / pixel", "fid": "FID", "kid": "KID", "precision": "precision", "recall": "recall",
}  # fmt: skip
_COST = ("nfe", "seconds_per_sample", "max_rel_err")
_FEATURES = ("fid", "kid", "precision", "recall")


def report_tables(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The default columns as narrow ``(topic, table)`` pairs headed by :data:`LABELS`.

    Fifteen columns in one table overflowed the page: here the ``"cost"``, the
    ``"statistics"`` and the ``"features"`` (FID, KID, precision, recall) each get a table that
    starts with ``sampler`` and ``steps``. A topic without a column is left out (e.g. the
    feature space with ``--no-features``).
    """
    keys = default_columns(rows)
    stats = [k for k in keys if k not in (*_COST, *_FEATURES, "sampler", "steps")]
    tables = []
    for topic, names in (("cost", _COST), ("statistics", stats), ("features", _FEATURES)):
        cols = ["sampler", "steps", *(k for k in keys if k in names)]
        if len(cols) > 2:
            tables.append((topic, [{LABELS.get(k, k): r.get(k, "") for k in cols} for r in rows]))
    return tables


def format_table(rows: Sequence[dict[str, Any]], keys: Sequence[str] | None = None) -> str:
    """A markdown table of the rows (columns ``keys``, default :func:`default_columns`)."""
    if not rows:
        raise InputError("format_table got no rows.")
    keys = default_columns(rows) if keys is None else list(keys)

    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def plot_quality_vs_nfe(
    rows: Sequence[dict[str, Any]],
    path: str | os.PathLike[str] | None = None,
    metrics: Sequence[str] | None = None,
) -> Any:
    """Plot each metric against NFE (log axis), one line per sampler family.

    The reference row (the first) is drawn as a dashed horizontal line. When ``path`` is given
    the PNG is written atomically there and the figure closed; else the figure is returned.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    if not rows:
        raise InputError("plot_quality_vs_nfe got no rows.")
    if metrics is None:
        wanted = ("max_rel_err", "psd_distance", "log_hist_w1_db", "semivariogram_distance",
                  "enl_samples", "residue_density_samples", "fid", "kid")  # fmt: skip
        metrics = [m for m in wanted if m in rows[0]]
    ncols = min(4, len(metrics))  # rows of at most four panels: the figure stays page-wide
    nrows = -(-len(metrics) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.6 * ncols, 3.1 * nrows), squeeze=False)
    for ax in axes.ravel()[len(metrics) :]:
        ax.set_visible(False)
    families: dict[str, list[dict[str, Any]]] = {}
    for r in rows[1:]:
        families.setdefault(r["sampler"], []).append(r)
    for ax, m in zip(axes.ravel(), metrics, strict=False):
        for name, fam in families.items():
            fam = sorted(fam, key=lambda r: r["nfe"])
            style = "s--" if name.startswith("rebuilt") else "o-"
            ax.plot([r["nfe"] for r in fam], [r[m] for r in fam], style, label=name)
        ref = rows[0]
        ax.axhline(ref[m], color="k", ls=":", label=f"{ref['sampler']}-{ref['steps']} (ref)")
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())  # no overlapping "3x10^1" labels
        ax.set_xlabel("NFE (network calls per sample)")
        ax.set_ylabel(LABELS.get(m, m))
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    if path is None:
        return fig
    return atomic_write_bytes(path, figure_png(fig, dpi=110))
