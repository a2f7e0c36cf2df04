"""Shared look of flycluster's figures: style, task-error colours, cluster markers, saving.

Colours follow flyvis: task error on ``Blues_r`` truncated to [0, 0.9] (the lightest tenth
would vanish on white), ``Normalize(min, max)`` over the ensemble, low error = dark; the best
networks are drawn on top (zorder = N - rank of the error). Clusters get flyvis' markers
``o ^ s * + h p 8`` (cluster 0 = "o") and one colour family each.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg", force=False)  # never needs a display; a no-op if a backend is set

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from flycluster.io_utils import atomic_path  # noqa: E402

MARKERS = ("o", "^", "s", "*", "+", "h", "p", "8")
#: Colour families per cluster (traces and tuning curves shade within the family by error).
CLUSTER_CMAPS = ("Blues_r", "Reds_r", "Greens_r", "Oranges_r", "Purples_r", "Greys_r")
CLUSTER_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#7f7f7f",
                  "#8c564b", "#e377c2")
ON_COLOR, OFF_COLOR = "#af7a36", "#5b4b9b"  # ON edges, OFF edges

STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6,
    "ytick.labelsize": 6, "legend.fontsize": 6, "axes.linewidth": 0.6,
    "xtick.major.width": 0.6, "ytick.major.width": 0.6, "xtick.major.size": 2.5,
    "ytick.major.size": 2.5, "lines.linewidth": 0.8, "axes.spines.top": False,
    "axes.spines.right": False, "pdf.fonttype": 42, "ps.fonttype": 42,
    "savefig.bbox": "tight", "savefig.pad_inches": 0.02, "figure.dpi": 100,
}


@contextlib.contextmanager
def publication_style():
    """Context with small fonts, thin lines and embeddable (Type 42) PDF fonts."""
    with plt.rc_context(STYLE):
        yield


def placeholder_figure(text: str = "no clustering"):
    """A small blank figure saying why there is nothing to plot (e.g. no clustering)."""
    fig, ax = plt.subplots(figsize=(2.5, 1.2), layout="constrained")
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center")
    return fig


def cluster_marker(cluster: int) -> str:
    """Marker of a cluster: flyvis' ``o ^ s * + h p 8``, then ``$9$``-style digits."""
    return MARKERS[cluster] if cluster < len(MARKERS) else f"${cluster}$"


def cluster_color(cluster: int) -> str:
    return CLUSTER_COLORS[cluster % len(CLUSTER_COLORS)]


def truncate_cmap(cmap, minval: float = 0.0, maxval: float = 0.9, n: int = 256):
    """The part [minval, maxval] of a colormap as a new colormap."""
    cmap = plt.get_cmap(cmap) if isinstance(cmap, str) else cmap
    return mcolors.LinearSegmentedColormap.from_list(
        f"trunc({cmap.name},{minval:.2f},{maxval:.2f})", cmap(np.linspace(minval, maxval, n)))


def task_error_colors(task_error, cmap="Blues_r", vmin=None, vmax=None, maxval=0.9):
    """RGBA colours (N, 4) of task errors, the colormap and the norm (flyvis' convention).

    The colormap is truncated to [0, maxval] (flyvis: 0.9). NaN errors get mid grey.
    """
    task_error = np.asarray(task_error, dtype=float)
    cmap = truncate_cmap(cmap, 0.0, maxval)
    finite = task_error[np.isfinite(task_error)]
    lo = np.min(finite) if vmin is None and finite.size else (vmin or 0.0)
    hi = np.max(finite) if vmax is None and finite.size else (vmax or 1.0)
    if hi <= lo:
        hi = lo + 1e-12
    norm = mcolors.Normalize(vmin=lo, vmax=hi)
    colors = cmap(norm(np.nan_to_num(task_error, nan=lo)))
    colors[~np.isfinite(task_error)] = (0.6, 0.6, 0.6, 1.0)
    return colors, cmap, norm


def zorder(task_error) -> np.ndarray:
    """Drawing order putting the best (lowest error) on top: N - rank (rank 0 = best)."""
    task_error = np.asarray(task_error, dtype=float)
    return len(task_error) - np.argsort(np.argsort(task_error))


def save_figure(fig, path_without_suffix, formats=("png", "pdf"), dpi: int = 300,
                close: bool = True) -> list[Path]:
    """Save ``fig`` as ``<path>.png`` and ``<path>.pdf`` atomically; return the paths.

    Each file is written under a temporary name in the same folder and renamed when complete,
    so an interrupted run never leaves a truncated figure under the final name. PDFs carry no
    creation date, so a rerun writes byte-identical files.
    """
    base = Path(path_without_suffix)
    paths = []
    for fmt in formats:
        path = base.with_name(base.name + f".{fmt}")
        with atomic_path(path) as tmp:
            metadata = {"CreationDate": None} if fmt == "pdf" else None
            fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata)
        paths.append(path)
    if close:
        plt.close(fig)
    return paths
