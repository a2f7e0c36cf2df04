"""Moving-edge traces per cluster and polar tuning of the ensemble beside each cluster.

The seed notebook (flyvis notebook 05) shows, after clustering T4c: the T4c responses to one
moving edge (ON, 19 columns/s, 90 deg) of the networks of each cluster, one panel per
cluster, responses divided by each network's max |r| over all moving-edge samples and
frames; and ``plot_angular_tuning`` of the whole ensemble, then of each cluster (measured
tuning overlaid).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from flycluster import tuning as tn
from flycluster.plots.style import (
    OFF_COLOR,
    ON_COLOR,
    cluster_color,
    placeholder_figure,
    publication_style,
    task_error_colors,
    zorder,
)
from flycluster.plots.traces import draw_member_traces, member_colors

__all__ = ["clustered_members", "select_edge_sample", "normalize_edge_responses",
           "plot_edge_traces", "plot_ensemble_tuning"]


def _clustered(ds: xr.Dataset) -> np.ndarray:
    for name in ("clustered", "mask"):  # "mask" before the clustering file's rename
        if name in ds:
            return ds[name].values.astype(bool)
    return ds["label"].values.astype(int) >= 0


def clustered_members(ds: xr.Dataset) -> dict[int, list[str]]:
    """Network names per cluster (clustered networks only), cluster 0 first."""
    labels = ds["label"].values.astype(int)
    clustered = _clustered(ds)
    names = np.array([str(n) for n in ds["network"].values])
    k = int(ds.attrs.get("n_clusters", ds.sizes.get("cluster", 0)))
    return {c: names[clustered & (labels == c)].tolist() for c in range(k)}


def select_edge_sample(responses: xr.DataArray, intensity=1, speed=19.0, angle=90.0,
                       width=None) -> int:
    """Position along ``sample`` of the moving edge with these parameters.

    ``width`` None accepts any width if only one matches. Raises ValueError naming the
    values present when no (or more than one) sample matches.
    """
    mask = np.ones(responses.sizes["sample"], bool)
    wanted = {"intensity": intensity, "speed": speed, "angle": angle, "width": width}
    for key, value in wanted.items():
        if value is None:
            continue
        if key not in responses.coords:
            raise ValueError(f"moving-edge responses lack the sample coordinate {key!r}")
        mask &= np.isclose(responses[key].values.astype(float), float(value))
    hits = np.flatnonzero(mask)
    if len(hits) != 1:
        present = {k: sorted(set(np.round(responses[k].values.astype(float), 3).tolist()))
                   for k in wanted if k in responses.coords}
        raise ValueError(f"{len(hits)} moving-edge samples match {wanted}; present: {present}")
    return int(hits[0])


def normalize_edge_responses(responses: xr.DataArray) -> xr.DataArray:
    """Divide each network's responses by its max |r| over all samples and frames (notebook)."""
    scale = np.abs(responses).max(dim=("sample", "frame"), skipna=True)
    return responses / scale.where(scale > 0)


def plot_edge_traces(responses: xr.DataArray, ds: xr.Dataset, cell_type: str | None = None,
                     intensity=1, speed=19.0, angle=90.0, width=None, normalize: bool = True,
                     panel_size=(1.5, 1.1)):
    """Responses to one moving edge, one panel per cluster (the notebook's T4c figure).

    Parameters
    ----------
    responses : DataArray (network, sample, frame)
        Moving-edge responses of one cell type (sample coords angle, speed, intensity,
        width; frame coord time).
    ds : Dataset
        Clustering of that cell type (label, clustered/mask, optional task_error).
    intensity, speed, angle, width : the edge shown (default: ON, 19 columns/s, 90 deg).
    normalize : divide by each network's max |r| over all samples and frames (notebook).

    Returns
    -------
    Figure with one axes per cluster: one line per member (``gid`` = network name, shaded by
    task error, best on top) and the cluster mean (black, ``gid`` "mean").
    """
    cell_type = cell_type or ds.attrs.get("cell_type", "")
    members = clustered_members(ds)
    with publication_style():
        if not members:
            return placeholder_figure("no clustering")
        position = select_edge_sample(responses, intensity, speed, angle, width)
        data = normalize_edge_responses(responses) if normalize else responses
        time = data["time"].values
        k = len(members)
        fig, axes = plt.subplots(1, k, squeeze=False, sharey=True, layout="constrained",
                                 figsize=(panel_size[0] * k + 0.4, panel_size[1] + 0.5))
        for c, names in members.items():
            ax = axes[0, c]
            draw_member_traces(ax, time, data.sel(network=names).isel(sample=position), ds, c, names)
            ax.set_title(f"cluster {c} (n={len(names)})", color=cluster_color(c))
            ax.set_xlabel("time (s)")
        axes[0, 0].set_ylabel("normalized response" if normalize else "response (a.u.)")
        polarity = "ON" if float(intensity) == 1 else "OFF"
        fig.suptitle(f"{cell_type}: {polarity} edge, {speed:g} columns/s, {angle:g}°",
                     fontsize=7)
    return fig


def _closed(angles_deg, values):
    return np.deg2rad(np.append(angles_deg, angles_deg[0])), np.append(values, values[0])


def _polar_panel(ax, curves, angles, names, colors, order, mean_color, known, title):
    peak = np.nanmax(curves, axis=1, keepdims=True)
    normed = np.divide(curves, peak, out=np.zeros_like(curves), where=peak > 0)
    for curve, color, z, name in zip(normed, colors, order, names):
        theta, r = _closed(angles, curve)
        ax.plot(theta, r, color=color, lw=0.6, alpha=0.8, zorder=2 + z / max(len(names), 1),
                gid=name)
    theta, r = _closed(angles, normed.mean(axis=0))
    ax.plot(theta, r, color=mean_color, lw=1.4, zorder=4, gid="mean")
    if known is not None:
        theta, r = _closed(known["angle"].values, known.values)
        ax.plot(theta, r, color="k", lw=0.9, ls="--", zorder=5, gid="maisak2013")
    ax.set_title(title, fontsize=6, pad=2)
    ax.set_ylim(0, 1.05)
    ax.set_yticks([0.5, 1.0])
    ax.set_yticklabels([])
    ax.set_xticks(np.deg2rad([0, 90, 180, 270]))
    ax.set_xticklabels(["0°", "90°", "180°", "270°"], fontsize=5)
    ax.grid(lw=0.3)


def plot_ensemble_tuning(responses: xr.DataArray, ds: xr.Dataset | None = None,
                         cell_type: str | None = None, intensity=None, panel_size=1.35):
    """Polar direction tuning of the whole ensemble, then of each cluster.

    Tuning curves are :func:`flycluster.tuning.angular_tuning` (peak of relu(r) during the
    edge's motion, mean over speeds and widths), each network normalised to its maximum, as
    flyvis's ``plot_angular_tuning``. The measured tuning (Maisak et al. 2013) is overlaid on
    every panel for T4/T5 subtypes.

    Parameters
    ----------
    responses : DataArray (network, sample, frame) of moving-edge responses.
    ds : clustering of the cell type (optional: without it only the ensemble panel).
    intensity : 1 (ON) or 0 (OFF); default: ON for T4, OFF for T5, else ON.

    Returns
    -------
    Figure: first polar axes "ensemble" with one line per network (``gid`` = name) and the
    mean (``gid`` "mean"), then one per cluster; measured tuning ``gid`` "maisak2013".
    """
    cell_type = cell_type or (ds.attrs.get("cell_type", "") if ds is not None else "")
    if intensity is None:
        intensity = tn.preferred_intensity(cell_type)
        intensity = 1 if intensity is None else intensity
    members = clustered_members(ds) if ds is not None else {}
    curves = tn.angular_tuning(responses, intensity=intensity).transpose("network", "angle")
    angles = curves["angle"].values
    known = tn.known_tuning(cell_type)
    color = ON_COLOR if intensity == 1 else OFF_COLOR
    names = [str(n) for n in curves["network"].values]
    with publication_style():
        n_panels = 1 + len(members)
        fig, axes = plt.subplots(1, n_panels, squeeze=False, subplot_kw={"projection": "polar"},
                                 figsize=(panel_size * n_panels + 0.3, panel_size + 0.5),
                                 layout="constrained")
        if ds is not None and "task_error" in ds:
            error = ds["task_error"].sel(network=names).values.astype(float)
            colors, _, _ = task_error_colors(error)
            order = zorder(error)
        else:
            colors, order = np.tile((0.4, 0.4, 0.4, 1.0), (len(names), 1)), np.ones(len(names))
        dsi = tn.direction_selectivity_index(responses).sel(intensity=intensity)
        _polar_panel(axes[0, 0], curves.values, angles, names, colors, order, color, known,
                     f"ensemble (n={len(names)})\nDSI {float(dsi.mean()):.2f}")
        for c, member_names in members.items():
            cv = curves.sel(network=member_names).values
            mc, mo = member_colors(ds, c, member_names)
            _polar_panel(axes[0, 1 + c], cv, angles, member_names, mc, mo, color, known,
                         f"cluster {c} (n={len(member_names)})\n"
                         f"DSI {float(dsi.sel(network=member_names).mean()):.2f}")
            axes[0, 1 + c].title.set_color(cluster_color(c))
        fig.suptitle(f"{cell_type} {'ON' if intensity == 1 else 'OFF'}-edge tuning", fontsize=7)
    return fig
