"""Contrast preference (flash response index) and direction selectivity across the ensemble.

- :func:`plot_cluster_fri`: the FRI of a clustered cell type and of its input cell types,
  per cluster (the paper explains T4c's clusters by the FRIs of its inputs, Fig. 3e).
- :func:`plot_ensemble_fri_dsi`: the paper's Fig. 2b-c: FRI (top) and DSI for ON edges
  (middle) and OFF edges (bottom, axis inverted) of every cell type across the networks,
  cell types with a measured ON preference first, then OFF, then unknown (flyvis's
  ``known_first`` order), tick labels coloured by the measured polarity (FRI) and by the
  measured direction selectivity (DSI, T4 ON colour, T5 OFF colour, measured non-DS types
  grey).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from flycluster import tuning as tn
from flycluster.plots.edge_traces import clustered_members
from flycluster.plots.style import (
    OFF_COLOR,
    ON_COLOR,
    cluster_color,
    cluster_marker,
    placeholder_figure,
    publication_style,
)

__all__ = ["known_first_order", "input_cell_types", "plot_cluster_fri",
           "plot_ensemble_fri_dsi"]


def input_cell_types(edge_type_names, cell_type: str, include_self: bool = False) -> list[str]:
    """Presynaptic cell types of ``cell_type``, in first-appearance order.

    ``edge_type_names``: (source, target) pairs, e.g.
    :meth:`flycluster.connectome.Connectome.edge_type_names` (call it).
    """
    out = []
    for source, target in edge_type_names:
        if target == cell_type and (include_self or source != cell_type) and source not in out:
            out.append(str(source))
    return out


def known_first_order(cell_types) -> list[str]:
    """Cell types with measured ON preference first, then OFF, then the rest.

    Within each group the order of :data:`flycluster.tuning.KNOWN_POLARITY` (flyvis's
    ``nodes_list_sorting_on_off_unknown``); cell types missing from that table come last in
    their given order.
    """
    cell_types = [str(c) for c in cell_types]
    present = set(cell_types)
    rank = {1: 0, -1: 1, 0: 2}
    listed = [c for c in tn.KNOWN_POLARITY if c in present]
    listed = sorted(listed, key=lambda c: rank[tn.KNOWN_POLARITY[c]])  # stable
    return listed + [c for c in cell_types if c not in tn.KNOWN_POLARITY]


def _color_polarity_labels(ax, cell_types):
    for label, cell_type in zip(ax.get_xticklabels(), cell_types):
        polarity = tn.KNOWN_POLARITY.get(cell_type, 0)
        if polarity:
            label.set_color(ON_COLOR if polarity == 1 else OFF_COLOR)


def plot_cluster_fri(fri: xr.DataArray, ds: xr.Dataset, cell_type: str | None = None,
                     input_types=(), panel_height: float = 1.6):
    """FRI per cluster of a cell type and of its inputs.

    Parameters
    ----------
    fri : DataArray (network, cell_type)
        :func:`flycluster.tuning.flash_response_index` of the ensemble (radius 6).
    ds : Dataset
        Clustering of ``cell_type`` (label, clustered/mask).
    input_types : sequence of str
        Presynaptic cell types to show beside it (e.g. from the connectome's edges).

    Returns
    -------
    Figure with one axes: for each cell type (x) and cluster, the members' FRIs (scatter,
    ``gid`` "<cluster>:<cell type>", cluster's marker and colour) and the cluster median (a
    short bar). Tick labels coloured by the measured polarity.
    """
    cell_type = cell_type or ds.attrs.get("cell_type", "")
    members = clustered_members(ds)
    types = [cell_type] + [t for t in input_types if t != cell_type]
    missing = [t for t in types if t not in set(map(str, fri["cell_type"].values))]
    if missing:
        raise ValueError(f"FRI lacks cell types {missing}")
    with publication_style():
        if not members:
            return placeholder_figure("no clustering")
        k = len(members)
        fig, ax = plt.subplots(figsize=(0.35 * len(types) * max(k, 2) / 2 + 1.2, panel_height),
                               layout="constrained")
        width = 0.7 / k
        rng = np.random.RandomState(0)  # jitter only
        for x, t in enumerate(types):
            for c, names in members.items():
                values = fri.sel(network=names, cell_type=t).values.astype(float)
                xc = x - 0.35 + width * (c + 0.5)
                ax.scatter(xc + rng.uniform(-width / 4, width / 4, len(values)), values, s=6,
                           marker=cluster_marker(c), color=cluster_color(c), alpha=0.8,
                           linewidths=0.3, gid=f"{c}:{t}")
                if len(values):
                    ax.plot([xc - width / 3, xc + width / 3], [np.median(values)] * 2,
                            color="k", lw=1.0)
        ax.axhline(0, color="0.6", lw=0.4, zorder=0)
        ax.set_xticks(range(len(types)))
        ax.set_xticklabels(types, rotation=90)
        _color_polarity_labels(ax, types)
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("flash response index")
        handles = [plt.Line2D([], [], ls="", marker=cluster_marker(c), color=cluster_color(c),
                              markersize=3, label=f"cluster {c}") for c in members]
        ax.legend(handles=handles, frameon=False, fontsize=5, loc="upper left",
                  bbox_to_anchor=(1.0, 1.0))
        ax.set_title(f"{cell_type} and its inputs: contrast preference per cluster")
    return fig


def _violins(ax, data, color):
    """data: list of 1-D arrays; violin + points per position."""
    finite = [d[np.isfinite(d)] for d in data]
    positions = [i for i, d in enumerate(finite) if len(d) > 1 and np.ptp(d) > 0]
    if positions:
        parts = ax.violinplot([finite[i] for i in positions], positions=positions, widths=0.7,
                              showextrema=False, showmedians=False)
        for body in parts["bodies"]:
            body.set_facecolor(color)
            body.set_alpha(0.3)
            body.set_edgecolor("none")
    rng = np.random.RandomState(0)  # jitter only
    for i, d in enumerate(finite):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(d)), d, s=1.5, color="k", alpha=0.5,
                   linewidths=0, gid=None)
        if len(d):
            ax.plot([i - 0.3, i + 0.3], [np.median(d)] * 2, color="k", lw=0.8)


def plot_ensemble_fri_dsi(fri: xr.DataArray, dsi: xr.DataArray, width_per_type: float = 0.13):
    """The paper's Fig. 2b-c for the ensemble: FRI and DSI of every cell type.

    Parameters
    ----------
    fri : DataArray (network, cell_type) of flash response indices (radius 6).
    dsi : DataArray (network, intensity, cell_type) of direction selectivity indices
        (:func:`flycluster.tuning.direction_selectivity_index` per cell type).

    Returns
    -------
    Figure with three axes sharing x (cell types in :func:`known_first_order`): FRI,
    DSI ON edges, DSI OFF edges (inverted). Each axes' ``gid`` is "fri", "dsi_on",
    "dsi_off"; the per-network values of a cell type are the offsets of the scatter at its
    x position; tick labels coloured by measured polarity (FRI) and measured direction
    selectivity (DSI).
    """
    cell_types = known_first_order(fri["cell_type"].values)
    missing = [c for c in cell_types if c not in set(map(str, dsi["cell_type"].values))]
    if missing:
        raise ValueError(f"DSI lacks cell types {missing} that the FRI has")
    with publication_style():
        fig, axes = plt.subplots(3, 1, sharex=True, layout="constrained",
                                 figsize=(width_per_type * len(cell_types) + 1.0, 3.6))
        _violins(axes[0], [fri.sel(cell_type=c).values.astype(float) for c in cell_types],
                 "0.5")
        axes[0].set_ylim(-1.05, 1.05)
        axes[0].axhline(0, color="0.6", lw=0.4, zorder=0)
        axes[0].set_ylabel("FRI")
        axes[0].set_gid("fri")
        for ax, intensity, color, gid in ((axes[1], 1, ON_COLOR, "dsi_on"),
                                          (axes[2], 0, OFF_COLOR, "dsi_off")):
            _violins(ax, [dsi.sel(cell_type=c, intensity=intensity).values.astype(float)
                          for c in cell_types], color)
            ax.set_ylim(0, 1)
            ax.set_ylabel(f"DSI {'ON' if intensity == 1 else 'OFF'}", color=color)
            ax.set_gid(gid)
        axes[2].invert_yaxis()
        axes[2].set_xticks(range(len(cell_types)))
        axes[2].set_xticklabels(cell_types, rotation=90, fontsize=5)
        known_ds = tn.known_direction_selectivity(cell_types).values
        for label, cell_type, ds_flag in zip(axes[2].get_xticklabels(), cell_types, known_ds):
            polarity = tn.KNOWN_POLARITY.get(cell_type, 0)
            if polarity:
                label.set_color(ON_COLOR if polarity == 1 else OFF_COLOR)
            if ds_flag == 1:
                label.set_fontweight("bold")
            elif ds_flag == 0:
                label.set_fontstyle("italic")
        axes[0].set_title("contrast preference (flashes) and direction selectivity (moving "
                          "edges); labels: measured ON / OFF colour, measured DS bold, "
                          "measured non-DS italic", fontsize=6)
    return fig
