"""Figures for the extremes capability: region maps, choice of K, partition comparisons.

Sites are drawn from their coordinates: as a filled grid when they lie on a regular lat/lon grid
(one colour per cell), otherwise as a scatter plot. Colours are shared between maps when labels
were aligned first (``consensus.match_labels``).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure

_PALETTE = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e",
    "#e6ab02", "#a6761d", "#666666", "#1f78b4", "#b2df8a",
    "#fb9a99", "#cab2d6",
]  # fmt: skip


def _regular_axes(values: np.ndarray) -> np.ndarray | None:
    """Sorted unique values if they form a regular axis, else None."""
    u = np.unique(values)
    if u.size < 2:
        return None
    step = np.diff(u)
    return u if np.allclose(step, step[0], rtol=1e-6) else None


def _label_cmap(
    n: int, palette: Sequence[str] | None = None
) -> tuple[ListedColormap, BoundaryNorm]:
    palette = palette or _PALETTE
    colours = [palette[i % len(palette)] for i in range(max(n, 1))]
    cmap = ListedColormap(colours).with_extremes(bad="#ffffff")
    return cmap, BoundaryNorm(np.arange(-0.5, max(n, 1) + 0.5), cmap.N)


def draw_labels(
    ax: plt.Axes,
    labels: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    n_labels: int | None = None,
    medoids: Sequence[int] | None = None,
    title: str = "",
    palette: Sequence[str] | None = None,
) -> None:
    """Draw one partition on ``ax`` (a grid if the sites form one, else points)."""
    labels = np.asarray(labels, dtype=float)
    labels[labels < 0] = np.nan
    n = int(np.nanmax(labels)) + 1 if n_labels is None else n_labels
    cmap, norm = _label_cmap(n, palette)
    xs, ys = _regular_axes(lon), _regular_axes(lat)
    if xs is not None and ys is not None and xs.size * ys.size <= 4 * labels.size:
        grid = np.full((ys.size, xs.size), np.nan)
        grid[np.searchsorted(ys, lat), np.searchsorted(xs, lon)] = labels
        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        ax.pcolormesh(
            np.append(xs - dx / 2, xs[-1] + dx / 2),
            np.append(ys - dy / 2, ys[-1] + dy / 2),
            np.ma.masked_invalid(grid),
            cmap=cmap,
            norm=norm,
        )
    else:
        ax.scatter(lon, lat, c=labels, cmap=cmap, norm=norm, s=18, edgecolors="none")
    if medoids is not None and len(medoids):
        idx = np.asarray(medoids)
        ax.scatter(lon[idx], lat[idx], marker="*", s=120, c="k", edgecolors="w", linewidths=0.6)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal", adjustable="box")


def region_map(
    labels: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    medoids: Sequence[int] | None = None,
    title: str = "regions",
) -> Figure:
    """Map of a partition; medoids are marked with a star."""
    fig, ax = plt.subplots(figsize=(7, 4))
    draw_labels(ax, labels, lon, lat, medoids=medoids, title=title)
    return fig


def maps_side_by_side(
    partitions: Sequence[np.ndarray],
    titles: Sequence[str],
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    ncols: int = 2,
) -> Figure:
    """Several partitions on one figure, sharing one colour per label."""
    n = len(partitions)
    n_labels = int(max(np.nanmax(np.asarray(p, dtype=float)) for p in partitions)) + 1
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 2.6 * nrows), squeeze=False)
    for ax, part, title in zip(axes.ravel(), partitions, titles, strict=False):
        draw_labels(ax, part, lon, lat, n_labels=n_labels, title=title)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def changed_sites_map(
    reference: np.ndarray, other: np.ndarray, lon: np.ndarray, lat: np.ndarray, *, title: str
) -> Figure:
    """Sites whose (aligned) label differs between two partitions."""
    changed = (np.asarray(reference) != np.asarray(other)).astype(float)
    fig, ax = plt.subplots(figsize=(7, 4))
    draw_labels(ax, changed, lon, lat, n_labels=2, title=title, palette=["#e8e8e8", "#c0392b"])
    ax.text(
        0.01, -0.28, f"red: {int(changed.sum())} sites that change region", transform=ax.transAxes
    )
    return fig


def silhouette_curve(ks: Sequence[int], widths: Sequence[float], best_k: int) -> Figure:
    """Average silhouette width against K, with the chosen K marked."""
    fig, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(ks, widths, "o-", color="#345")
    ax.axvline(best_k, color="#d95f02", ls="--", label=f"chosen K = {best_k}")
    ax.set_xlabel("number of regions K")
    ax.set_ylabel("average silhouette width")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def dissimilarity_heatmap(D: np.ndarray, labels: np.ndarray, *, title: str) -> Figure:
    """The dissimilarity matrix with sites ordered by region (block structure = regions)."""
    order = np.argsort(labels, kind="stable")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(D[np.ix_(order, order)], cmap="viridis", vmin=0, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label="dissimilarity")
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig
