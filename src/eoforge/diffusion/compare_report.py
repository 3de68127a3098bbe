"""Tables and figures of a sampler comparison (rows of :func:`eoforge.diffusion.compare.compare_samplers`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from eoforge.core.atomic import atomic_write_bytes
from eoforge.core.errors import InputError


def default_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Columns shown by default: sampler, steps, NFE, s/sample, max_rel_err and key metrics."""
    wanted = ("sampler", "steps", "nfe", "seconds_per_sample", "max_rel_err", "psd_distance",
              "log_hist_w1_db", "semivariogram_distance", "enl_samples", "std_db_samples",
              "residue_density_samples", "fid", "kid", "precision", "recall")  # fmt: skip
    return [k for k in wanted if k in rows[0]]


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
    import io

    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if not rows:
        raise InputError("plot_quality_vs_nfe got no rows.")
    if metrics is None:
        wanted = ("max_rel_err", "psd_distance", "log_hist_w1_db", "semivariogram_distance",
                  "enl_samples", "residue_density_samples", "fid", "kid")  # fmt: skip
        metrics = [m for m in wanted if m in rows[0]]
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.8 * len(metrics), 3.3), squeeze=False)
    families: dict[str, list[dict[str, Any]]] = {}
    for r in rows[1:]:
        families.setdefault(r["sampler"], []).append(r)
    for ax, m in zip(axes[0], metrics, strict=True):
        for name, fam in families.items():
            fam = sorted(fam, key=lambda r: r["nfe"])
            style = "s--" if name.startswith("rebuilt") else "o-"
            ax.plot([r["nfe"] for r in fam], [r[m] for r in fam], style, label=name)
        ref = rows[0]
        ax.axhline(ref[m], color="k", ls=":", label=f"{ref['sampler']}-{ref['steps']} (ref)")
        ax.set_xscale("log")
        ax.set_xlabel("NFE")
        ax.set_title(m)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    if path is None:
        return fig
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())
