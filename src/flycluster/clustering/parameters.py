"""Parameters of the clustering: the defaults (one place) and their checks.

The defaults are flyvis's (``flyvis.analysis.clustering``); the workflow passes every value
explicitly from its config, whose schema documents them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

DEFAULT_UMAP_KWARGS: dict[str, Any] = {
    "n_components": 2,
    "metric": "correlation",
    "n_neighbors": 5,
    "min_dist": 0.105,
    "spread": 9.0,
    "n_epochs": 1500,
    "random_state": 42,
}


DEFAULT_GMM_KWARGS: dict[str, Any] = {
    "range_n_clusters": [1, 2, 3, 4, 5],
    "n_init": 100,
    "max_iter": 1000,
    "tol": 1e-3,
    "random_state": 42,
    "covariance_type": "full",
    "min_cluster_size": 3,
}


#: overrides of the mixture search of each stability repeat (:mod:`flycluster.clustering.stability`):
#: 10 starts instead of 100
DEFAULT_REPEAT_GMM_KWARGS: dict[str, Any] = {"n_init": 10}


def resolve_umap_kwargs(umap_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of :data:`DEFAULT_UMAP_KWARGS` updated by ``umap_kwargs`` (validated)."""
    kwargs = dict(DEFAULT_UMAP_KWARGS)
    kwargs.update(umap_kwargs or {})
    for key in ("n_components", "n_neighbors", "n_epochs"):
        value = kwargs[key]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"umap_kwargs[{key!r}] must be a positive integer, got {value!r}")
    if kwargs["n_neighbors"] < 2:
        raise ValueError(f"umap_kwargs['n_neighbors'] must be >= 2, got {kwargs['n_neighbors']}")
    return kwargs


def resolve_gmm_kwargs(gmm_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults of :data:`DEFAULT_GMM_KWARGS` updated by ``gmm_kwargs`` (validated).

    ``range_n_clusters`` becomes a list of distinct positive ints in the given order
    (duplicates, as in flyvis' paper setting ``[2, 3, 3, 4, 5]``, fit the same model twice and
    cannot change the argmin).
    """
    kwargs = dict(DEFAULT_GMM_KWARGS)
    kwargs.update(gmm_kwargs or {})
    ks = kwargs["range_n_clusters"]
    try:
        ks = [int(k) for k in np.atleast_1d(ks)]
    except (TypeError, ValueError):
        raise ValueError(f"gmm_kwargs['range_n_clusters'] must be a list of ints, got {ks!r}")
    if not ks or any(k < 1 for k in ks):
        raise ValueError(f"gmm_kwargs['range_n_clusters'] must be a non-empty list of "
                         f"positive ints, got {kwargs['range_n_clusters']!r}")
    kwargs["range_n_clusters"] = list(dict.fromkeys(ks))
    for key in ("n_init", "max_iter", "min_cluster_size"):
        value = kwargs[key]
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"gmm_kwargs[{key!r}] must be a positive integer, got {value!r}")
    if kwargs["covariance_type"] not in ("full", "tied", "diag", "spherical"):
        raise ValueError("gmm_kwargs['covariance_type'] must be one of full, tied, diag, "
                         f"spherical, got {kwargs['covariance_type']!r}")
    return kwargs


def minimum_networks(umap_kwargs: Mapping[str, Any] | None = None) -> int:
    """Fewest networks a clustering accepts: max(n_neighbors + 2, n_components + 2)."""
    kwargs = resolve_umap_kwargs(umap_kwargs)
    return max(kwargs["n_neighbors"], kwargs["n_components"]) + 2

