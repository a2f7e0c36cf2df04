"""One cell type's clustering as a labelled dataset: :func:`cluster_cell_type`."""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from flycluster.clustering.embedding import _as_matrix, embed, minmax_scale
from flycluster.clustering.mixture import _full_covariances, cluster_order, fit_mixtures
from flycluster.clustering.parameters import resolve_gmm_kwargs, resolve_umap_kwargs
from flycluster.formats.clustering import INVALID_LABEL, MASK_REASONS


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    import flycluster
    from flycluster.reproducible import cpu_mode

    versions = {"version_numpy": numpy.__version__, "version_sklearn": sklearn.__version__,
                "version_flycluster": flycluster.__version__, "cpu_mode": cpu_mode()}
    try:
        from importlib.metadata import version

        versions["version_umap"] = version("umap-learn")
    except Exception:  # pragma: no cover - umap always installed with flycluster
        versions["version_umap"] = "unknown"
    return versions


def _attr(value):
    """A netCDF-storable attribute value."""
    if value is None:
        return "None"
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (list, tuple)):
        return np.asarray(value)
    if isinstance(value, (int, float, str, np.integer, np.floating, np.ndarray)):
        return value
    return str(value)


def cluster_cell_type(X, task_error=None, umap_kwargs: Mapping[str, Any] | None = None,
                      gmm_kwargs: Mapping[str, Any] | None = None,
                      network_names: Sequence[str] | None = None, nonfinite: str = "raise",
                      threads: int | None = 1, cell_type: str | None = None) -> xr.Dataset:
    """Embed the networks of one cell type with UMAP and cluster them by Gaussian mixtures.

    Parameters
    ----------
    X : array or xarray.DataArray, shape (networks, features) or (networks, samples, frames)
        Responses of one cell type, one row per network (flyvis flattens samples x frames).
        A DataArray with a ``network`` dim supplies the network names.
    task_error : array (networks,), optional
        Task error (min validation loss) per network. Clusters are numbered by the mean task
        error of their members (0 = best); without it, by size (0 = largest).
    umap_kwargs, gmm_kwargs : dict, optional
        Overrides of :data:`DEFAULT_UMAP_KWARGS` and :data:`DEFAULT_GMM_KWARGS`.
    network_names : sequence of str, optional
        Names of the rows (default "000", "001", ... or the DataArray's ``network`` coord).
    nonfinite : {"raise", "mask"}
        What to do with networks whose responses contain NaN or inf (features that are NaN
        for every network, i.e. stimulus padding, are dropped first).
    threads : int or None
        Limit of BLAS/OpenMP threads for UMAP and the mixtures (threadpoolctl). The default 1
        is fastest: the mixtures are fitted to a few dozen 2-D points, where thread pools only
        add synchronisation (measured 2.3 s with 1 thread vs 60 s unlimited on a loaded 2-core
        machine for k = 1..5, n_init = 100). ``None`` leaves the pools alone. A seeded UMAP is
        single-threaded anyway.
    cell_type : str, optional
        Stored as attribute ``cell_type``.

    Returns
    -------
    xarray.Dataset with coords ``network`` (names), ``component`` (0..n_components-1),
    ``cluster`` (0..n_clusters-1), ``n_clusters`` (the k tried) and variables

    - ``embedding (network, component)`` float64 in [0, 1], NaN for masked networks;
    - ``clustered (network)`` bool, True = clustered; ``mask_reason (network)`` int8 code
      (attr ``flag_meanings``: 0 clustered, 1 constant, 2 nonfinite, 3 disconnected,
      4 too_few_valid);
    - ``label (network)`` int64, cluster index, -99999 for masked networks;
    - ``bic (n_clusters)`` BIC of the mixture with k components (scaled-embedding units);
    - ``weights (cluster)``, ``means (cluster, component)``,
      ``covariances (cluster, component, component_)``: the chosen mixture, in the embedding's
      scaled coordinates, components reordered to the cluster numbering;
    - ``cluster_size (cluster)`` members per cluster; ``task_error (network)`` and
      ``cluster_task_error (cluster)`` (mean of members) when task errors are given.

    Attributes: ``n_clusters`` (chosen k; 0 when nothing could be clustered), ``umap_*`` and
    ``gmm_*`` (every parameter used), ``label_order`` ("task_error" or "size"),
    ``degenerate`` (why nothing was clustered, else ""), ``version_*`` (numpy, sklearn, umap,
    flycluster), ``cell_type`` when given.

    Raises
    ------
    ValueError
        Fewer networks than :func:`minimum_networks`, NaN/inf rows with ``nonfinite="raise"``,
        task_error of the wrong length, invalid parameters.
    """
    X, names = _as_matrix(X, network_names)
    n = X.shape[0]
    ukw = resolve_umap_kwargs(umap_kwargs)
    gkw = resolve_gmm_kwargs(gmm_kwargs)
    if task_error is not None:
        task_error = np.asarray(getattr(task_error, "values", task_error), dtype=np.float64)
        if task_error.shape != (n,):
            raise ValueError(f"task_error must have shape ({n},) (one value per network), got "
                             f"{task_error.shape}")
    emb = embed(X, ukw, nonfinite=nonfinite, network_names=names, threads=threads)
    mask = emb["clustered"]
    reason = emb["mask_reason"]
    embedding = minmax_scale(emb["embedding"])
    labels = np.full(n, INVALID_LABEL, dtype=np.int64)
    n_comp = ukw["n_components"]
    degenerate = emb["degenerate"]
    ks_tried = [k for k in gkw["range_n_clusters"] if k <= int(mask.sum())]
    if not degenerate and not ks_tried:
        degenerate = (f"only {int(mask.sum())} networks left after masking; no k in "
                      f"range_n_clusters {gkw['range_n_clusters']} fits")
        warnings.warn(degenerate, RuntimeWarning, stacklevel=2)
    if degenerate:
        ks, bic = gkw["range_n_clusters"], np.full(len(gkw["range_n_clusters"]), np.nan)
        weights, means = np.zeros(0), np.zeros((0, n_comp))
        covariances = np.zeros((0, n_comp, n_comp))
        reason[mask] = 4
        mask = np.zeros(n, bool)
        embedding[:] = np.nan
        k_chosen = 0
    else:
        points = embedding[mask]
        ks, bic, model = fit_mixtures(points, gkw, threads=threads)
        k_chosen = int(model.n_components)
        raw = np.full(n, INVALID_LABEL, dtype=np.int64)
        raw[mask] = model.predict(points)
        order = cluster_order(raw, k_chosen, task_error)
        new_of_old = np.empty(k_chosen, dtype=np.int64)
        new_of_old[order] = np.arange(k_chosen)
        labels[mask] = new_of_old[raw[mask]]
        weights = model.weights_[order]
        means = model.means_[order]
        covariances = _full_covariances(model)[order]

    sizes = np.array([int(np.sum(labels == c)) for c in range(k_chosen)], dtype=np.int64)
    ds = xr.Dataset(
        {
            "embedding": (("network", "component"), embedding),
            "clustered": ("network", mask.astype(bool)),
            "mask_reason": ("network", reason.astype(np.int8),
                            {"flag_values": np.arange(5, dtype=np.int8),
                             "flag_meanings": " ".join(MASK_REASONS.values())}),
            "label": ("network", labels),
            "bic": ("n_clusters", np.asarray(bic, dtype=np.float64)),
            "weights": ("cluster", np.asarray(weights, dtype=np.float64)),
            "means": (("cluster", "component"), np.asarray(means, dtype=np.float64)),
            "covariances": (("cluster", "component", "component_"),
                            np.asarray(covariances, dtype=np.float64)),
            "cluster_size": ("cluster", sizes),
        },
        coords={"network": names, "component": np.arange(n_comp),
                "component_": np.arange(n_comp), "cluster": np.arange(k_chosen),
                "n_clusters": np.asarray(ks, dtype=np.int64)},
    )
    if task_error is not None:
        ds["task_error"] = ("network", task_error)
        ds["cluster_task_error"] = ("cluster", np.array(
            [task_error[labels == c].mean() if sizes[c] else np.nan for c in range(k_chosen)]))
    ds["embedding"].attrs["description"] = "UMAP embedding min-max scaled to [0, 1] per column"
    ds["label"].attrs["description"] = f"cluster index; {INVALID_LABEL} = not clustered"
    ds["bic"].attrs["description"] = "Bayesian information criterion of the k-component mixture"
    attrs = {"n_clusters": k_chosen, "label_order": "task_error" if task_error is not None
             else "size", "degenerate": degenerate, "n_networks": n}
    attrs.update({f"umap_{k}": _attr(v) for k, v in ukw.items()})
    attrs.update({f"gmm_{k}": _attr(v) for k, v in gkw.items()})
    attrs.update(_versions())
    if cell_type is not None:
        attrs["cell_type"] = str(cell_type)
    ds.attrs.update(attrs)
    return ds

