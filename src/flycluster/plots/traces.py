"""Response traces of one cell type, one panel per cluster (and one row per chosen sample)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from flycluster.plots.style import (
    CLUSTER_CMAPS,
    cluster_color,
    placeholder_figure,
    publication_style,
    task_error_colors,
    zorder,
)


def cluster_members(ds: xr.Dataset) -> dict[int, list[str]]:
    """Network names per cluster (clustered networks only), cluster 0 first."""
    labels = ds["label"].values.astype(int)
    mask = ds["clustered"].values.astype(bool)
    names = np.array([str(n) for n in ds["network"].values])
    k = int(ds.attrs.get("n_clusters", ds.sizes.get("cluster", 0)))
    return {c: names[mask & (labels == c)].tolist() for c in range(k)}


def member_colors(ds: xr.Dataset, cluster: int, names) -> tuple[np.ndarray, np.ndarray]:
    """Colours (shade of the cluster's family by task error) and zorders of members."""
    if "task_error" in ds and len(names):
        error = ds["task_error"].sel(network=list(names)).values.astype(float)
        # truncated at 0.7 (not flyvis' 0.9): thin lines need more contrast than markers
        colors, _, _ = task_error_colors(error, cmap=CLUSTER_CMAPS[cluster % len(CLUSTER_CMAPS)],
                                         maxval=0.7)
        return colors, zorder(error)
    rgba = plt.matplotlib.colors.to_rgba(cluster_color(cluster))
    return np.tile(rgba, (len(names), 1)), np.ones(len(names))


def draw_member_traces(ax, time, traces: xr.DataArray, ds: xr.Dataset, cluster: int, names) -> None:
    """One line per member network (``traces``: (network, frame)) shaded by task error, and the
    cluster mean in black; lines carry the network name (``gid``) so tests can read them."""
    values = traces.transpose("network", "frame").values
    colors, order = member_colors(ds, cluster, names)
    for trace, color, z, name in zip(values, colors, order, names):
        ax.plot(time, trace, color=color, lw=0.6, alpha=0.8, zorder=2 + z / len(names), gid=name)
    ax.plot(time, np.nanmean(values, axis=0), color="k", lw=1.0, zorder=4, gid="mean")


def _sample_label(responses: xr.DataArray, position: int) -> str:
    sample = responses.isel(sample=position)
    if "name" in sample.coords:
        return f"{str(sample['name'].values)}"
    return f"sample {position}"


def plot_cluster_traces(responses: xr.DataArray, ds: xr.Dataset, samples=(0,),
                        norm: xr.DataArray | None = None, title: str | None = None,
                        panel_size=(1.5, 1.1)):
    """Traces of every clustered network, one column per cluster, one row per sample.

    Parameters
    ----------
    responses : DataArray (network, sample, frame)
        One cell type's responses (e.g. naturalistic movies) with coords ``network`` and
        ``time`` (frame, s).
    ds : xarray.Dataset
        The clustering of that cell type (labels, mask, optional task_error).
    samples : sequence of int
        Positions along ``sample`` to show (one row each).
    norm : DataArray (network), optional
        Divide each network's responses by it (e.g. the response norm), as the seed notebook.
    title : str, optional
        Figure title (default: the clustering's ``cell_type``).

    Returns
    -------
    matplotlib.figure.Figure with len(samples) x n_clusters axes; axes (i, c) holds one line
    per member of cluster c (shaded by task error, best on top, ``gid`` = network name) and
    the cluster mean (black, ``gid`` = "mean").
    """
    members = cluster_members(ds)
    k = len(members)
    samples = [int(s) for s in samples]
    with publication_style():
        if k == 0:
            return placeholder_figure("no clustering")
        missing = [n for names in members.values() for n in names
                   if n not in set(map(str, responses["network"].values))]
        if missing:
            raise ValueError(f"responses lack networks {missing[:5]} of the clustering")
        data = responses
        if norm is not None:
            data = data / (norm + 1e-6)
        time = data["time"].values
        fig, axes = plt.subplots(len(samples), k, squeeze=False, sharex=True, sharey="row",
                                 figsize=(panel_size[0] * k + 0.4,
                                          panel_size[1] * len(samples) + 0.4),
                                 layout="constrained")
        for row, position in enumerate(samples):
            for c, names in members.items():
                ax = axes[row, c]
                draw_member_traces(ax, time, data.sel(network=names).isel(sample=position), ds, c, names)
                if row == 0:
                    ax.set_title(f"cluster {c} (n={len(names)})", color=cluster_color(c))
                if row == len(samples) - 1:
                    ax.set_xlabel("time (s)")
                if c == 0:
                    ax.set_ylabel(("normalized response" if norm is not None else
                                   "response (a.u.)") + "\n" + _sample_label(data, position),
                                  fontsize=6)
        fig.suptitle(title if title is not None else ds.attrs.get("cell_type", ""),
                     fontsize=7)
    return fig
