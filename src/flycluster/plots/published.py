"""Our clustering of a cell type beside flyvis's published one (both embeddings)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import xarray as xr

from flycluster.plots.embedding import plot_embedding
from flycluster.plots.style import publication_style
from flycluster.published import align_labels, compare_clusterings

__all__ = ["plot_published_side_by_side"]


def _for_plot(ds: xr.Dataset) -> xr.Dataset:
    """plot_embedding reads the clustered flag as ``mask`` (or ``clustered`` after the rename)."""
    ds = ds.copy()
    if "clustered" in ds and "mask" not in ds:
        ds["mask"] = ds["clustered"]
    if "mask" in ds and "clustered" not in ds:
        ds["clustered"] = ds["mask"]
    return ds


def plot_published_side_by_side(ours: xr.Dataset, published: xr.Dataset,
                                cell_type: str | None = None):
    """Two embeddings: ours (left) and flyvis's published (right, clusters renumbered to match
    ours, :func:`flycluster.published.align_labels`); the suptitle gives both k, the ARI over
    the networks clustered in both and whether the same k range was searched.

    Returns
    -------
    Figure whose first two axes are the embeddings (``plot_embedding``'s artists, ``gid`` =
    network name), with ``fig.comparison`` = the :func:`compare_clusterings` dict.
    """
    cell_type = cell_type or ours.attrs.get("cell_type", published.attrs.get("cell_type", ""))
    comparison = compare_clusterings(ours, published)
    matched = align_labels(published, ours)
    with publication_style():
        fig, axes = plt.subplots(1, 2, figsize=(6.2, 2.6), layout="constrained")
        plot_embedding(_for_plot(ours), ax=axes[0],
                       title=f"flycluster: k = {comparison['our_k']} "
                             f"(k tried {comparison['our_k_range']})")
        plot_embedding(_for_plot(matched), ax=axes[1],
                       title=f"flyvis published: k = {comparison['published_k']} "
                             f"(k tried {comparison['published_k_range']})")
        same = "same" if comparison["same_k_range"] else "different"
        fig.suptitle(f"{cell_type}: ARI {comparison['ari']:.2f} over "
                     f"{comparison['n_compared']} networks clustered in both; {same} k range",
                     fontsize=7)
    fig.comparison = comparison
    return fig
