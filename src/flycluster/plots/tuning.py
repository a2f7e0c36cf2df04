"""Direction tuning per cluster: polar tuning curves of the members, the measured tuning of
T4/T5 (Maisak et al. 2013) and the direction selectivity index of every cluster."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.lines import Line2D

from flycluster import tuning as tn
from flycluster.plots.style import OFF_COLOR, ON_COLOR, cluster_color, placeholder_figure, publication_style
from flycluster.plots.traces import cluster_members, member_colors


def _closed(angles_deg, values):
    """Polar line coordinates (radians) closed back to the first angle."""
    return np.deg2rad(np.append(angles_deg, angles_deg[0])), np.append(values, values[0])


def plot_cluster_tuning(responses: xr.DataArray, ds: xr.Dataset, cell_type: str | None = None,
                        intensities=None, panel_size=1.35):
    """Polar direction tuning of every cluster and the DSI per cluster.

    Parameters
    ----------
    responses : DataArray (network, sample, frame)
        Moving-edge responses of one cell type (coords angle, speed, intensity, width, t_stim,
        time; see :mod:`flycluster.tuning`).
    ds : xarray.Dataset
        The clustering of that cell type.
    cell_type : str, optional
        Default: ``ds.attrs["cell_type"]``. T4 subtypes show ON edges, T5 subtypes OFF edges,
        with the measured tuning overlaid (black, dashed); other types show both.
    intensities : sequence of {0, 1}, optional
        Override the edge polarities shown (one row each).

    Returns
    -------
    matplotlib.figure.Figure: for each intensity row, one polar axes per cluster (curves of
    the members normalised to their maximum, ``gid`` = network name; the cluster mean
    ``gid`` = "mean"; the measured tuning ``gid`` = "maisak2013"; title with the cluster's
    mean DSI), and a last axes with the DSI of every member per cluster (ON and OFF).
    """
    cell_type = cell_type or ds.attrs.get("cell_type", "")
    members = cluster_members(ds)
    k = len(members)
    if intensities is None:
        preferred = tn.preferred_intensity(cell_type)
        intensities = [preferred] if preferred is not None else [1, 0]
    intensities = [int(i) for i in intensities]
    with publication_style():
        if k == 0:
            return placeholder_figure("no clustering")
        nets = [n for names in members.values() for n in names]
        sub = responses.sel(network=nets)
        curves = tn.angular_tuning(sub)  # (network, intensity, angle)
        dsi = tn.direction_selectivity_index(sub)
        angles = curves["angle"].values
        known = tn.known_tuning(cell_type)
        rows = len(intensities)
        fig = plt.figure(figsize=(panel_size * (k + 1.3), panel_size * rows + 0.5),
                         layout="constrained")
        grid = fig.add_gridspec(rows, k + 1, width_ratios=[1] * k + [1.3])
        for r, intensity in enumerate(intensities):
            row_color = ON_COLOR if intensity == 1 else OFF_COLOR
            for c, names in members.items():
                ax = fig.add_subplot(grid[r, c], projection="polar")
                cv = curves.sel(network=names, intensity=intensity).transpose(
                    "network", "angle").values
                peak = np.nanmax(cv, axis=1, keepdims=True)
                normed = np.divide(cv, peak, out=np.zeros_like(cv), where=peak > 0)
                colors, order = member_colors(ds, c, names)
                for curve, color, z, name in zip(normed, colors, order, names):
                    theta, rr = _closed(angles, curve)
                    ax.plot(theta, rr, color=color, lw=0.6, alpha=0.8,
                            zorder=2 + z / len(names), gid=name)
                theta, rr = _closed(angles, normed.mean(axis=0))
                ax.plot(theta, rr, color=row_color, lw=1.4, zorder=4, gid="mean")
                if not np.any(peak > 0):
                    # relu: a cell that never depolarises above 0 has a flat, empty tuning
                    ax.text(0.5, 0.5, "no response > 0", transform=ax.transAxes, ha="center",
                            va="center", fontsize=5, color="0.3", zorder=6)
                if known is not None:
                    theta, rr = _closed(known["angle"].values, known.values)
                    ax.plot(theta, rr, color="k", lw=0.9, ls="--", zorder=5, gid="maisak2013")
                mean_dsi = float(dsi.sel(network=names, intensity=intensity).mean())
                ax.set_title(f"cluster {c} (n={len(names)})\nDSI {mean_dsi:.2f}",
                             color=cluster_color(c), fontsize=6, pad=2)
                ax.set_ylim(0, 1.05)
                ax.set_yticks([0.5, 1.0])
                ax.set_yticklabels([])
                ax.set_xticks(np.deg2rad([0, 90, 180, 270]))
                ax.set_xticklabels(["0°", "90°", "180°", "270°"], fontsize=5)
                ax.tick_params(pad=-3)
                ax.grid(lw=0.3)
                ax.spines["polar"].set_linewidth(0.4)
                if c == 0:
                    ax.text(-0.35, 0.5, "ON edges" if intensity == 1 else "OFF edges",
                            transform=ax.transAxes, rotation=90, ha="center", va="center",
                            color=row_color, fontsize=6)
        ax = fig.add_subplot(grid[:, k])
        rng = np.random.RandomState(0)  # jitter only
        width = 0.35 if len(intensities) > 1 else 0.0
        for j, intensity in enumerate(intensities):
            color = ON_COLOR if intensity == 1 else OFF_COLOR
            for c, names in members.items():
                values = dsi.sel(network=names, intensity=intensity).values
                x = c + (j - (len(intensities) - 1) / 2) * width
                ax.scatter(x + rng.uniform(-0.08, 0.08, len(values)), values, s=5,
                           color=color, alpha=0.7, edgecolors="none", gid=f"dsi{c}_{intensity}")
                ax.plot([x - 0.15, x + 0.15], [values.mean()] * 2, color="k", lw=1.0)
        ax.set_xticks(range(k))
        ax.set_xlabel("cluster")
        ax.set_ylabel("direction selectivity index")
        ax.set_ylim(0, 1)
        ax.set_xlim(-0.6, k - 0.4)
        handles = [Line2D([], [], ls="", marker="o", markersize=3,
                          color=ON_COLOR if i == 1 else OFF_COLOR,
                          label="ON" if i == 1 else "OFF") for i in intensities]
        if known is not None:
            handles.append(Line2D([], [], color="k", ls="--", lw=0.9,
                                  label="Maisak et al. 2013"))
        ax.legend(handles=handles, frameon=False, fontsize=5, loc="upper right")
        fig.suptitle(f"{cell_type} direction tuning (moving edges)", fontsize=7)
    return fig
