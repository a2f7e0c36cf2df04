"""Summary over all cell types: clusters found, how stable they are, planted-group recovery."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from flycluster.plots.style import publication_style

STABLE_ARI = 0.75  # reference line: above, the clustering is reproduced by most repeats


def plot_summary(table: pd.DataFrame, title: str | None = None):
    """Bars over cell types: chosen number of clusters, stability ARI, planted ARI.

    Parameters
    ----------
    table : pandas.DataFrame
        One row per cell type with columns ``cell_type``, ``n_clusters`` and optionally
        ``stability_ari`` (mean adjusted Rand index of the repeats),
        ``stability_ari_seed``/``stability_ari_leave_out`` (drawn as dots) and
        ``planted_ari`` (with ``planted`` marking the planted cell types); the table of
        :func:`flycluster.summary.summary_table`.

    Returns
    -------
    matplotlib.figure.Figure with 1 + (stability present) + (planted present) rows of axes
    sharing the cell-type axis; bar heights equal the table values (NaN drawn as empty).
    """
    for column in ("cell_type", "n_clusters"):
        if column not in table.columns:
            raise ValueError(f"summary table lacks column {column!r}")
    has_stability = "stability_ari" in table.columns
    has_planted = "planted_ari" in table.columns
    rows = 1 + has_stability + has_planted
    n = len(table)
    x = np.arange(n)
    with publication_style():
        fig, axes = plt.subplots(rows, 1, sharex=True, squeeze=False, layout="constrained",
                                 figsize=(max(3.0, 0.11 * n + 1.0), 1.1 * rows + 0.6))
        axes = axes[:, 0]
        ax = axes[0]
        ax.bar(x, table["n_clusters"].astype(float), color="0.35", width=0.75, gid="n_clusters")
        ax.set_ylabel("clusters")
        top = int(np.nanmax(table["n_clusters"].astype(float))) if n else 1
        ax.set_yticks(range(0, max(top, 1) + 1))
        i = 1
        if has_stability:
            ax = axes[i]
            i += 1
            ari = table["stability_ari"].astype(float).to_numpy()
            ax.bar(x, np.nan_to_num(ari), color=np.where(ari >= STABLE_ARI, "#1f77b4", "#d62728"),
                   width=0.75, gid="stability_ari")
            for column, marker in (("stability_ari_seed", "_"), ("stability_ari_leave_out", "x")):
                if column in table.columns:
                    ax.scatter(x, table[column].astype(float), marker=marker, s=8, color="k",
                               lw=0.6, zorder=3, label=column.replace("stability_ari_", ""),
                               gid=column)
            ax.axhline(STABLE_ARI, color="0.5", lw=0.5, ls=":")
            ax.set_ylim(min(0.0, np.nanmin(ari) if np.isfinite(ari).any() else 0.0), 1.05)
            ax.set_ylabel("stability\n(ARI)")
            handles, _ = ax.get_legend_handles_labels()
            handles += [Patch(color="#1f77b4", label=f"mean >= {STABLE_ARI}"),
                        Patch(color="#d62728", label=f"mean < {STABLE_ARI}")]
            ax.legend(handles=handles, frameon=False, fontsize=5, ncols=2,
                      loc="lower left", bbox_to_anchor=(0, 1.0), borderaxespad=0.1)
        if has_planted:
            ax = axes[i]
            ari = table["planted_ari"].astype(float).to_numpy()
            planted = (table["planted"].astype(bool).to_numpy() if "planted" in table.columns
                       else np.zeros(n, bool))
            ax.bar(x, np.nan_to_num(ari), color=np.where(planted, "#2ca02c", "0.7"), width=0.75,
                   gid="planted_ari")
            ax.axhline(0.95, color="0.5", lw=0.5, ls=":")
            ax.legend(handles=[Patch(color="#2ca02c", label="planted cell type"),
                               Patch(color="0.7", label="other")], frameon=False, fontsize=5,
                      ncols=2, loc="lower left", bbox_to_anchor=(0, 1.0), borderaxespad=0.1)
            ax.set_ylim(min(0.0, np.nanmin(ari) if np.isfinite(ari).any() else 0.0), 1.05)
            ax.set_ylabel("planted groups\n(ARI)")
        axes[-1].set_xticks(x, table["cell_type"].astype(str), rotation=90, fontsize=5)
        axes[-1].set_xlim(-0.6, n - 0.4)
        if title:
            fig.suptitle(title, fontsize=7)
    return fig
