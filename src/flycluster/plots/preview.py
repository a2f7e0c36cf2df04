"""Stimulus preview: frames of a stimulus set on the hexagonal lattice (PNG strip, GIF).

Each hexal is drawn as a flat-topped hexagon at its lattice position
(:func:`flycluster.stimuli.lattice.hex_to_pixel`: v to the right, u downwards, so an edge
moving at 0 deg goes right and at 90 deg goes up), grey levels 0 (black) .. 1 (white),
NaN padding blank.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import xarray as xr
from matplotlib.collections import PolyCollection

from flycluster.io_utils import atomic_path
from flycluster.plots.style import publication_style, save_figure
from flycluster.stimuli.lattice import hex_to_pixel

__all__ = ["hex_polygons", "plot_hex_frame", "preview_frames", "plot_stimulus_preview",
           "write_stimulus_gif", "write_stimulus_preview"]


def hex_polygons(u, v) -> np.ndarray:
    """Vertices (n_hexals, 6, 2) of the hexagons around each hexal centre (neighbours 1 apart)."""
    x, y = hex_to_pixel(u, v)
    radius = 1 / np.sqrt(3)  # circumradius of a hexagon whose flat sides are 1 apart
    angles = np.deg2rad(np.arange(0, 360, 60))
    return np.stack([x[:, None] + radius * np.cos(angles), y[:, None] + radius * np.sin(angles)],
                    axis=-1)


def plot_hex_frame(ax, values, u, v, vmin: float = 0.0, vmax: float = 1.0,
                   cmap: str = "binary_r") -> PolyCollection:
    """Draw one frame (n_hexals,) on ``ax``; returns the PolyCollection (its array = values)."""
    values = np.asarray(values, dtype=float)
    collection = PolyCollection(hex_polygons(u, v), array=np.ma.masked_invalid(values),
                                cmap=cmap, edgecolors=(0.5, 0.5, 0.5, 0.25), linewidths=0.2)
    collection.set_clim(vmin, vmax)
    ax.add_collection(collection)
    x, y = hex_to_pixel(u, v)
    ax.set_xlim(x.min() - 1, x.max() + 1)
    ax.set_ylim(y.min() - 1, y.max() + 1)
    ax.set_aspect("equal")
    ax.set_axis_off()
    return collection


def preview_frames(stimulus: xr.Dataset, sample: int = 0, n_frames: int = 6) -> np.ndarray:
    """Frame positions shown for a sample: ``n_frames`` evenly spaced over its valid frames."""
    values = stimulus["stimulus"].isel(sample=sample).values
    valid = int((~np.isnan(values).all(axis=1)).sum())
    return np.unique(np.linspace(0, max(valid - 1, 0), min(n_frames, valid)).round().astype(int))


def _sample_title(stimulus, sample):
    coords = [c for c in stimulus.coords if stimulus[c].dims == ("sample",) and c != "sample"]
    parts = []
    for c in coords[:4]:
        value = stimulus[c].values[sample]
        parts.append(f"{c}={value:g}" if isinstance(value, (int, float, np.number))
                     else f"{c}={value}")
    return f"sample {sample}" + (": " + ", ".join(parts) if parts else "")


def plot_stimulus_preview(stimulus: xr.Dataset, samples=(0,), n_frames: int = 6,
                          panel_size: float = 1.1):
    """PNG strip: one row per sample, ``n_frames`` frames spread over each sample's duration.

    Parameters
    ----------
    stimulus : Dataset in the stimulus-file layout (``stimulus (sample, frame, hexal)``, coords
        ``u``, ``v``, ``time``).
    samples : positions along ``sample`` to show.
    n_frames : frames per row.

    Returns
    -------
    Figure; axes (row, column) hold a PolyCollection with ``gid`` "sample{s}_frame{f}" whose
    array is that frame's luminance, titled with the frame's time in s.
    """
    samples = [int(s) for s in samples]
    u, v = stimulus["u"].values, stimulus["v"].values
    time = stimulus["time"].values
    with publication_style():
        fig, axes = plt.subplots(len(samples), n_frames, squeeze=False,
                                 figsize=(panel_size * n_frames, panel_size * len(samples) + 0.3),
                                 layout="constrained")
        for row, s in enumerate(samples):
            frames = preview_frames(stimulus, s, n_frames)
            values = stimulus["stimulus"].isel(sample=s).values
            for col in range(n_frames):
                ax = axes[row, col]
                if col >= len(frames):
                    ax.set_axis_off()
                    continue
                f = int(frames[col])
                coll = plot_hex_frame(ax, values[f], u, v)
                coll.set_gid(f"sample{s}_frame{f}")
                label = f"t = {time[f]:.3g} s"
                if col == 0:
                    label = _sample_title(stimulus, s) + "\n" + label
                ax.set_title(label, fontsize=5, loc="left" if col == 0 else "center")
        fig.suptitle(f"stimulus set {stimulus.attrs.get('stimulus_set', '')} "
                     f"({stimulus.attrs.get('kind', '')}, dt = {stimulus.attrs.get('dt', 0):g} s)",
                     fontsize=7)
        fig.colorbar(coll, ax=axes, shrink=0.6, label="luminance")
    return fig


def write_stimulus_gif(stimulus: xr.Dataset, path, sample: int = 0, max_frames: int = 60,
                       fps: float = 10.0, size: float = 2.0) -> Path:
    """Animated GIF of one sample (matplotlib's PillowWriter; offline), written atomically.

    At most ``max_frames`` frames, evenly spaced over the sample's valid frames.
    """
    from matplotlib.animation import FuncAnimation, PillowWriter

    path = Path(path)
    u, v = stimulus["u"].values, stimulus["v"].values
    values = stimulus["stimulus"].isel(sample=sample).values
    time = stimulus["time"].values
    frames = preview_frames(stimulus, sample, max_frames)
    with publication_style():
        fig, ax = plt.subplots(figsize=(size, size))
        coll = plot_hex_frame(ax, values[frames[0]], u, v)
        title = ax.set_title("")

        def update(i):
            f = int(frames[i])
            coll.set_array(np.ma.masked_invalid(values[f].astype(float)))
            title.set_text(f"t = {time[f]:.3f} s")
            return coll, title

        animation = FuncAnimation(fig, update, frames=len(frames), blit=False)
        with atomic_path(path) as tmp:
            animation.save(tmp, writer=PillowWriter(fps=fps))
        plt.close(fig)
    return path


def write_stimulus_preview(stimulus: xr.Dataset, path_without_suffix, samples=(0,),
                           n_frames: int = 6, gif: bool = True, gif_max_frames: int = 60,
                           fps: float = 10.0) -> list[Path]:
    """Write ``<path>.png`` (strip) and, with ``gif``, ``<path>.gif`` (first sample animated).

    Returns the paths written.
    """
    base = Path(path_without_suffix)
    fig = plot_stimulus_preview(stimulus, samples=samples, n_frames=n_frames)
    paths = save_figure(fig, base, formats=("png",), dpi=200)
    if gif:
        paths.append(write_stimulus_gif(stimulus, base.with_name(base.name + ".gif"),
                                        sample=int(samples[0]), max_frames=gif_max_frames,
                                        fps=fps))
    return paths
