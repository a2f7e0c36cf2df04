"""Summary across cell types: one row per clustering file (figure: flycluster.plots.plot_summary).

Columns of the table (``results/{ensemble}/summary.csv``, written and read by
:mod:`flycluster.formats.summary`):

- ``cell_type``; ``n_networks`` (all networks), ``n_masked`` (constant or disconnected
  responses, left out of the clustering);
- ``n_clusters`` (chosen by BIC), ``bic_gain`` (BIC of one cluster minus BIC of the chosen
  number, > 0 when clustering beats a single Gaussian; NaN when k = 1 was not tried);
- ``cluster_sizes`` and ``cluster_task_errors``: per cluster, cluster 0 first, joined by "/";
- every scalar ``stability*`` variable of the clustering file (adjusted Rand indices, 1 =
  identical clusterings), when present;
- for planted ensembles (``planted_groups.csv``): ``planted`` (cell type is one whose inputs
  differ between the groups) and ``planted_ari``, the adjusted Rand index between the clusters
  and the planted groups over the unmasked networks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from flycluster.formats.clustering import read_clustering


def read_planted_groups(path) -> pd.Series:
    """Ground-truth groups of a planted ensemble: Series (index network name) of int groups.

    Raises
    ------
    ValueError
        If the csv lacks the columns ``network`` and ``group``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"planted groups file {path} does not exist")
    table = pd.read_csv(path, dtype={"network": str})
    if not {"network", "group"} <= set(table.columns):
        raise ValueError(f"planted groups file {path}: expected columns network,group, "
                         f"got {','.join(table.columns)}")
    return pd.Series(table["group"].to_numpy(), index=table["network"].astype(str), name="group")


def _join(values, fmt):
    return "/".join(fmt.format(v) for v in values)


def summarize_clustering(ds: xr.Dataset, cell_type: str, planted_groups: pd.Series | None = None,
                         planted_cell_types=()) -> dict:
    """One summary row (a dict) from one clustering dataset; see the module docstring."""
    from sklearn.metrics import adjusted_rand_score

    labels = np.asarray(ds["label"].values).astype(int)
    mask = np.asarray(ds["clustered"].values).astype(bool)
    networks = [str(n) for n in ds["network"].values]
    n_clusters = int(ds.attrs.get("n_clusters", len(np.unique(labels[mask]))))
    task_error = (np.asarray(ds["task_error"].values, dtype=float) if "task_error" in ds
                  else np.full(len(labels), np.nan))
    sizes = [int(np.sum(labels[mask] == k)) for k in range(n_clusters)]
    errors = [float(np.nanmean(task_error[mask & (labels == k)])) if sizes[k] else np.nan
              for k in range(n_clusters)]
    row = {
        "cell_type": cell_type,
        "n_networks": len(labels),
        "n_masked": int((~mask).sum()),
        "n_clusters": n_clusters,
        "bic_gain": np.nan,
        "cluster_sizes": _join(sizes, "{}"),
        "cluster_task_errors": _join(errors, "{:.4g}"),
    }
    if "bic" in ds and "n_clusters" in ds["bic"].dims:
        bic = ds["bic"].to_series()
        if 1 in bic.index and n_clusters in bic.index:
            row["bic_gain"] = float(bic.loc[1] - bic.loc[n_clusters])
    for name, var in ds.data_vars.items():
        if name.startswith("stability") and var.ndim == 0 and np.issubdtype(var.dtype, np.number):
            row[name] = float(var.values)
    if planted_groups is not None:
        missing = [n for n in networks if n not in planted_groups.index]
        if missing:
            raise ValueError(f"planted groups lack networks {missing[:5]} of the {cell_type} "
                             "clustering: are they from the same ensemble?")
        truth = planted_groups.loc[networks].to_numpy()
        row["planted"] = cell_type in set(planted_cell_types)
        row["planted_ari"] = float(adjusted_rand_score(truth[mask], labels[mask])) if mask.any() \
            else np.nan
    return row


def summary_table(clustering_paths, planted_groups=None, planted_cell_types=()) -> pd.DataFrame:
    """Summary of the clustering files of an ensemble, one row per cell type, in input order.

    Parameters
    ----------
    clustering_paths : sequence of paths ``results/{ensemble}/clustering/{cell_type}.nc``
        (the cell type is the file's stem, or its ``cell_type`` attribute when present).
    planted_groups : pandas.Series or path, optional
        Ground truth of a planted ensemble (:func:`read_planted_groups`).
    planted_cell_types : sequence of str
        Cell types whose inputs differ between the planted groups.
    """
    if planted_groups is not None and not isinstance(planted_groups, pd.Series):
        planted_groups = read_planted_groups(planted_groups)
    rows = []
    for path in clustering_paths:
        path = Path(path)
        ds = read_clustering(path)
        cell_type = str(ds.attrs.get("cell_type", path.stem))
        rows.append(summarize_clustering(ds, cell_type, planted_groups, planted_cell_types))
    return pd.DataFrame(rows)
