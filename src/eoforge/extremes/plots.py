"""Figures for the extremes capability: region maps, choice of K, partition comparisons.

Sites are drawn from their coordinates: as a filled grid when they lie on a regular lat/lon grid
(one colour per cell), otherwise as a scatter plot. Colours are shared between maps when labels
were aligned first (``partitions.match_labels``). Maps of sites with longitudes and latitudes get
a graticule (light lines at the labelled ticks, e.g. 105°W, 39°N); no coastlines or borders are
drawn (outline data with a compatible licence are not shipped).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg", force=False)
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import PathCollection, QuadMesh
from matplotlib.colors import BoundaryNorm, Colormap, ListedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

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


def _label_cmap(n: int, palette: Sequence[str] | None = None) -> tuple[Colormap, BoundaryNorm]:
    palette = palette or _PALETTE
    colours = [palette[i % len(palette)] for i in range(max(n, 1))]
    cmap = ListedColormap(colours).with_extremes(bad="#ffffff")
    return cmap, BoundaryNorm(np.arange(-0.5, max(n, 1) + 0.5), cmap.N)


def _draw_sites(
    ax: plt.Axes,
    values: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    cmap: Colormap | str,
    norm: Normalize | None = None,
) -> QuadMesh | PathCollection:
    """Per-site values as grid cells when the sites form a regular grid, else as points."""
    xs, ys = _regular_axes(lon), _regular_axes(lat)
    if xs is not None and ys is not None and xs.size * ys.size <= 4 * values.size:
        grid = np.full((ys.size, xs.size), np.nan)
        grid[np.searchsorted(ys, lat), np.searchsorted(xs, lon)] = values
        dx, dy = xs[1] - xs[0], ys[1] - ys[0]
        return ax.pcolormesh(
            np.append(xs - dx / 2, xs[-1] + dx / 2),
            np.append(ys - dy / 2, ys[-1] + dy / 2),
            np.ma.masked_invalid(grid),
            cmap=cmap,
            norm=norm,
        )
    return ax.scatter(lon, lat, c=values, s=18, edgecolors="none", cmap=cmap, norm=norm)


def _degrees(value: float, hemispheres: str) -> str:
    v = ((value + 180.0) % 360.0) - 180.0 if hemispheres == "EW" else value
    if abs(v) < 1e-9:
        return "0°"
    text = f"{abs(v):.10g}"
    return f"{text}°{hemispheres[0] if v > 0 else hemispheres[1]}"


def is_lonlat(lon: np.ndarray, lat: np.ndarray) -> bool:
    """Whether the site coordinates look like degrees (not the site-index fallback)."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon) & np.isfinite(lat)
    if not ok.any() or np.ptp(lat[ok]) == 0:
        return False
    return bool(np.all(np.abs(lat[ok]) <= 90) and np.all((lon[ok] >= -180) & (lon[ok] <= 360)))


def graticule(ax: plt.Axes) -> None:
    """Labelled lon/lat ticks (°E/°W, °N/°S) and light grid lines at them."""
    for axis, hemi in ((ax.xaxis, "EW"), (ax.yaxis, "NS")):
        axis.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
        axis.set_major_formatter(FuncFormatter(lambda v, _pos, h=hemi: _degrees(v, h)))
    ax.grid(True, color="#bbbbbb", lw=0.5, ls=":", zorder=0)
    ax.set_axisbelow(True)
    ax.tick_params(labelsize=8)


def _sites(n: int) -> str:
    return f"{n} site" if n == 1 else f"{n} sites"


def region_legend(
    n: int,
    *,
    counts: Sequence[int] | None = None,
    names: Sequence[str] | None = None,
    medoids: bool = False,
    palette: Sequence[str] | None = None,
) -> list:
    """Legend handles naming every region (with its number of sites) and the medoid marker."""
    palette = palette or _PALETTE
    handles: list = []
    for r in range(n):
        name = names[r] if names is not None else f"region {r}"
        if counts is not None:
            name += f" ({_sites(counts[r])})"
        handles.append(Patch(facecolor=palette[r % len(palette)], label=name))
    if medoids:
        handles.append(
            Line2D([], [], marker="*", ls="", color="k", markersize=10, label="medoid site")
        )
    return handles


def draw_labels(
    ax: plt.Axes,
    labels: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    n_labels: int | None = None,
    medoids: Sequence[int] | np.ndarray | None = None,
    title: str = "",
    palette: Sequence[str] | None = None,
    legend: bool = False,
) -> None:
    """Draw one partition on ``ax`` (a grid if the sites form one, else points).

    With ``legend``, a legend right of the map names every region and its number of sites.
    """
    labels = np.asarray(labels, dtype=float)
    labels[labels < 0] = np.nan
    n = int(np.nanmax(labels)) + 1 if n_labels is None else n_labels
    cmap, norm = _label_cmap(n, palette)
    _draw_sites(ax, labels, lon, lat, cmap=cmap, norm=norm)
    if legend:
        counts = [int((labels == r).sum()) for r in range(n)]
        handles = region_legend(
            n, counts=counts, medoids=medoids is not None and len(medoids) > 0, palette=palette
        )
        n_masked = int(np.isnan(labels).sum())
        if n_masked:
            handles.append(
                Patch(
                    facecolor="#ffffff", edgecolor="#999999", label=f"masked ({_sites(n_masked)})"
                )
            )
        ax.legend(
            handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False,
            fontsize=8,
        )  # fmt: skip
    if medoids is not None and len(medoids):
        idx = np.asarray(medoids)
        ax.scatter(lon[idx], lat[idx], marker="*", s=120, c="k", edgecolors="w", linewidths=0.6)
    _frame(ax, title, lon, lat)


def _frame(ax: plt.Axes, title: str, lon: np.ndarray, lat: np.ndarray) -> None:
    """Title, axis names, equal aspect and (for lon/lat sites) a labelled graticule."""
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_aspect("equal", adjustable="box")
    if is_lonlat(lon, lat):
        graticule(ax)


def region_map(
    labels: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    medoids: Sequence[int] | np.ndarray | None = None,
    title: str = "regions",
) -> Figure:
    """Map of a partition with a legend naming the regions; medoids are marked with a star."""
    fig, ax = plt.subplots(figsize=(8, 4))
    draw_labels(ax, labels, lon, lat, medoids=medoids, title=title, legend=True)
    fig.tight_layout()
    return fig


def field_map(
    values: np.ndarray, lon: np.ndarray, lat: np.ndarray, *, label: str, title: str = ""
) -> Figure:
    """Map of one per-site quantity with a colourbar labelled ``label`` (name and units)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    mesh = _draw_sites(ax, np.asarray(values, dtype=float), lon, lat, cmap="viridis")
    fig.colorbar(mesh, ax=ax, shrink=0.85, label=label)
    _frame(ax, title, lon, lat)
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
    fig.legend(
        handles=region_legend(n_labels), loc="lower center", ncol=min(n_labels, 6),
        frameon=False, fontsize=8,
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.04 + 0.03 * ((n_labels - 1) // 6), 1, 1))
    return fig


def changed_sites_map(
    reference: np.ndarray, other: np.ndarray, lon: np.ndarray, lat: np.ndarray, *, title: str
) -> Figure:
    """Sites whose (aligned) label differs between two partitions."""
    changed = (np.asarray(reference) != np.asarray(other)).astype(float)
    fig, ax = plt.subplots(figsize=(8, 4))
    palette = ["#e8e8e8", "#c0392b"]
    draw_labels(ax, changed, lon, lat, n_labels=2, title=title, palette=palette)
    n_changed = int(changed.sum())
    handles = region_legend(
        2,
        names=[f"same region ({changed.size - n_changed})", f"changed ({n_changed})"],
        palette=palette,
    )
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=8
    )
    fig.tight_layout()
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


def dissimilarity_heatmap(
    D: np.ndarray, labels: np.ndarray, *, title: str, label: str = "dissimilarity (unitless)"
) -> Figure:
    """The dissimilarity matrix with sites ordered by region (block structure = regions)."""
    order = np.argsort(labels, kind="stable")
    fig, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(D[np.ix_(order, order)], cmap="viridis", vmin=0, interpolation="nearest")
    fig.colorbar(im, ax=ax, shrink=0.8, label=label)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig
