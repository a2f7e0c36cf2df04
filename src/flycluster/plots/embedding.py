"""The UMAP embedding of one cell type: networks coloured by task error, one marker per
cluster, the Gaussian-mixture density as contours and each cluster's mean task error."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from flycluster.plots.style import cluster_color, cluster_marker, publication_style, task_error_colors, zorder

PAD = 0.2  # axis padding, as a fraction of the data range (flyvis' ax_lim_pad)


def mixture_density(ds: xr.Dataset, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Density of the stored Gaussian mixture on the grid (len(y), len(x)), in scaled units."""
    from scipy.stats import multivariate_normal

    grid = np.stack(np.meshgrid(x, y), axis=-1)
    density = np.zeros(grid.shape[:2])
    for w, mu, cov in zip(ds["weights"].values, ds["means"].values,
                          ds["covariances"].values):
        density += w * multivariate_normal(mu[:2], cov[:2, :2], allow_singular=True).pdf(grid)
    return density


def _limits(values):
    lo, hi = np.nanmin(values), np.nanmax(values)
    span = hi - lo if hi > lo else 1.0
    return lo - PAD * span, hi + PAD * span


def plot_embedding(ds: xr.Dataset, title: str | None = None, ax=None, contours: bool = True,
                   figsize=(2.9, 2.4)):
    """Scatter of the clustered networks in the 2-D embedding.

    Parameters
    ----------
    ds : xarray.Dataset
        A clustering (:func:`flycluster.clustering.cluster_cell_type`): ``embedding``,
        ``mask``, ``label``, the mixture, optionally ``task_error``.
    title : str, optional
        Default: the ``cell_type`` attribute and the number of clusters.
    ax : matplotlib Axes, optional
        Draw into this axes (its figure is returned).
    contours : bool
        Draw the mixture density as filled contours (levels at 1e-3..1 of its maximum).

    Returns
    -------
    matplotlib.figure.Figure. One scatter artist per network (``gid`` = network name, zorder =
    2 + (N - rank of its task error) / N so the best networks are on top), marker = cluster
    marker; one text per cluster with its mean task error (or size without task errors);
    a colorbar of the task error.
    """
    with publication_style():
        if ax is None:
            fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        else:
            fig = ax.figure
        k = int(ds.attrs.get("n_clusters", ds.sizes.get("cluster", 0)))
        cell_type = ds.attrs.get("cell_type", "")
        ax.set_title(title if title is not None else
                     f"{cell_type}  ({k} cluster{'s' if k != 1 else ''}, BIC)".strip())
        ax.set_xlabel("UMAP 1")
        ax.set_ylabel("UMAP 2")
        ax.set_xticks([])
        ax.set_yticks([])
        mask = ds["clustered"].values.astype(bool)
        if k == 0 or not mask.any():
            reason = ds.attrs.get("degenerate", "") or "no network could be clustered"
            ax.text(0.5, 0.5, "no clustering:\n" + reason, transform=ax.transAxes,
                    ha="center", va="center", fontsize=6, wrap=True)
            return fig
        emb = ds["embedding"].values[:, :2]
        labels = ds["label"].values.astype(int)
        names = [str(n) for n in ds["network"].values]
        has_error = "task_error" in ds and np.isfinite(ds["task_error"].values).any()
        xlim, ylim = _limits(emb[mask, 0]), _limits(emb[mask, 1])
        if contours and "weights" in ds and ds.sizes.get("cluster", 0):
            x = np.linspace(*xlim, 200)
            y = np.linspace(*ylim, 200)
            density = mixture_density(ds, x, y)
            levels = density.max() * np.array([1e-3, 1e-2, 0.1, 0.3, 0.6, 1.0])
            ax.contourf(x, y, density, levels=levels, cmap="Greys", alpha=0.25, zorder=0,
                        antialiased=True)
            ax.contour(x, y, density, levels=levels[:-1], colors="0.5", linewidths=0.3,
                       zorder=0.5)
        idx = np.flatnonzero(mask)
        if has_error:
            error = ds["task_error"].values.astype(float)
            colors, cmap, norm = task_error_colors(error)
            order = zorder(error[idx])
        else:
            colors = np.array([plt.matplotlib.colors.to_rgba(cluster_color(max(c, 0)))
                               for c in labels])
            order = np.ones(len(idx))
        for j, i in enumerate(idx):
            marker = cluster_marker(labels[i])
            filled = marker not in ("+",)
            # a thin grey rim keeps the lightest (worst) networks visible on white
            ax.scatter(emb[i, 0], emb[i, 1], s=18, marker=marker, c=[colors[i]], alpha=0.9,
                       edgecolors="0.45" if filled else None,
                       linewidths=0.25 if filled else 0.9, zorder=2 + order[j] / len(idx),
                       gid=names[i])
        for c in range(k):
            members = mask & (labels == c)
            if not members.any():
                continue
            cx, cy = emb[members, 0].mean(), emb[members, 1].mean()
            text = (f"{float(np.nanmean(ds['task_error'].values[members])):.3f}" if has_error
                    else f"n={int(members.sum())}")
            ax.annotate(text, (cx + 0.025 * (xlim[1] - xlim[0]),
                               cy - 0.025 * (ylim[1] - ylim[0])),
                        fontsize=6, ha="left", va="top", zorder=5, gid=f"cluster{c}")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        handles = [Line2D([], [], ls="", marker=cluster_marker(c), color="0.3", markersize=4,
                          label=f"{c}: n={int(np.sum(mask & (labels == c)))}")
                   for c in range(k)]
        ax.legend(handles=handles, title="cluster", loc="upper left", frameon=False,
                  fontsize=5, title_fontsize=5, handletextpad=0.2, borderaxespad=0.2)
        n_masked = int((~mask).sum())
        if n_masked:
            ax.text(0.99, 0.01, f"{n_masked} masked", transform=ax.transAxes, ha="right",
                    va="bottom", fontsize=5, color="0.4")
        if has_error:
            sm = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
            cbar = fig.colorbar(sm, ax=ax, fraction=0.05, pad=0.02)
            cbar.set_label("task error")
            cbar.outline.set_linewidth(0.4)
    return fig
