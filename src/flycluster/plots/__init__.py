"""Figures of flycluster (matplotlib, Agg backend); every function returns a Figure.

Save them with :func:`save_figure` (PNG + PDF, written atomically).
"""

from flycluster.plots.embedding import plot_embedding
from flycluster.plots.style import publication_style, save_figure, task_error_colors, zorder
from flycluster.plots.summary import plot_summary
from flycluster.plots.traces import plot_cluster_traces
from flycluster.plots.tuning import plot_cluster_tuning

__all__ = ["plot_embedding", "plot_cluster_traces", "plot_cluster_tuning", "plot_summary",
           "save_figure", "publication_style", "task_error_colors", "zorder"]
