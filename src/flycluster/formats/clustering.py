"""The clustering file, ``results/{ensemble}/clustering/{cell_type}.nc``: one cell type's embedding
and clusters (made by :func:`flycluster.clustering.cluster_cell_type`).

Variables (dims): ``embedding (network, component)`` float64 in [0, 1], NaN where not clustered;
``clustered (network)`` bool, True = the network was embedded and clustered; ``mask_reason
(network)`` int8, why a network was left out (:data:`MASK_REASONS`); ``label (network)`` int64,
cluster index, :data:`INVALID_LABEL` where not clustered; ``bic (n_clusters)``; the chosen
mixture ``weights (cluster)``, ``means (cluster, component)``, ``covariances (cluster, component,
component_)``; ``cluster_size (cluster)``; optionally ``task_error (network)``,
``cluster_task_error (cluster)`` and the ``stability*`` variables of
:func:`flycluster.clustering.add_stability`. Attributes: ``n_clusters``, ``umap_*``, ``gmm_*``,
``label_order``, ``degenerate``, ``version_*``, ``cell_type``.

Files written by earlier versions of flycluster hold ``mask`` (True = clustered, the
opposite of numpy.ma's convention) instead of ``clustered``; :func:`read_clustering` renames it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from flycluster.formats._netcdf import open_checked
from flycluster.io_utils import atomic_path

#: ``label`` of a network that was not clustered
INVALID_LABEL = -99999

#: Codes of the ``mask_reason`` variable (0 = clustered).
MASK_REASONS = {0: "clustered", 1: "constant", 2: "nonfinite", 3: "disconnected",
                4: "too_few_valid"}

#: variables every clustering file holds
REQUIRED_VARIABLES = ("embedding", "clustered", "label")
#: the name of ``clustered`` in files of the old convention
LEGACY_CLUSTERED = "mask"


def validate_clustering(ds: xr.Dataset, where: str = "clustering dataset") -> xr.Dataset:
    """Check the variables a clustering needs (``where`` names it in messages); returns ``ds``.

    Raises ``ValueError`` for missing variables, variables not along ``network``, or labels
    that disagree with ``clustered`` (a label >= 0 exactly where clustered)."""
    missing = [name for name in REQUIRED_VARIABLES if name not in ds]
    if missing:
        raise ValueError(f"{where} lacks variables {missing}")
    for name in ("clustered", "label"):
        if ds[name].dims != ("network",):
            raise ValueError(f"{where}: variable {name!r} must have dims ('network',), got {ds[name].dims}")
    clustered = np.asarray(ds["clustered"].values).astype(bool)
    labels = np.asarray(ds["label"].values)
    if np.any((labels >= 0) != clustered) or np.any(labels[~clustered] != INVALID_LABEL):
        raise ValueError(f"{where}: 'label' must be >= 0 exactly where 'clustered' is True and "
                         f"{INVALID_LABEL} elsewhere")
    return ds


def write_clustering(ds: xr.Dataset, path) -> Path:
    """Validate and write a clustering dataset to netCDF atomically (temporary name + rename)."""
    path = Path(path)
    validate_clustering(ds, where=f"clustering to write to {path}")
    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars
                if ds[name].dtype.kind in "fiub" and ds[name].size}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    return path


def read_clustering(path) -> xr.Dataset:
    """Read a clustering file (loaded into memory), old convention included (``mask`` is
    renamed ``clustered``: both are True for clustered networks).

    Raises
    ------
    FileNotFoundError, OSError, ValueError
        Missing or unreadable file, or a file without the variables ``embedding``,
        ``clustered`` (or ``mask``), ``label``, or with labels that disagree with ``clustered``.
    """
    ds = open_checked(path, "clustering", variables=("embedding", "label"))
    if "clustered" not in ds and LEGACY_CLUSTERED in ds:
        ds = ds.rename({LEGACY_CLUSTERED: "clustered"})
    if "clustered" not in ds:
        raise ValueError(f"clustering file {path} lacks the variable 'clustered'")
    ds["clustered"] = ds["clustered"].astype(bool)
    return validate_clustering(ds, where=f"clustering file {path}")
