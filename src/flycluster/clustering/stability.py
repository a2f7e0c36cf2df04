"""How much to believe a clustering: robustness to the UMAP seed and to leaving networks out.

flyvis reports one embedding and one clustering per cell type. Here the whole pipeline of
:func:`flycluster.clustering.cluster_cell_type` (masking, UMAP, min-max scaling, BIC choice of
k, mixture) is repeated

- ``n_seed_repeats`` times on all networks with other seeds (UMAP and mixture), and
- ``n_leave_out_repeats`` times with another seed and a random ``leave_out_fraction`` of the
  networks dropped,

and every repeat's labels are compared with the reference labels on the networks clustered in
both:

- ``stability_ari_repeat (repeat)``: adjusted Rand index (1 = same partition, ~0 = chance);
  the scalars ``stability_ari`` (mean of all repeats), ``stability_ari_seed``,
  ``stability_ari_leave_out`` and ``stability_ari_min`` summarise it.
- ``stability_jaccard (repeat, cluster)``: for each reference cluster, the Jaccard index of
  its members (present in the repeat) with the best-matching repeat cluster; its mean over
  repeats, ``stability_cluster_jaccard (cluster)``, is the cluster-wise stability of Hennig
  (2007, "Cluster-wise assessment of cluster stability"): > 0.75 a stable cluster, < 0.5 a
  dissolved one.
- ``stability_co_assignment (network, network_)``: fraction of the repeats holding both
  networks (clustered) in which they share a cluster.
- ``stability_n_clusters_repeat (repeat)``: k chosen by BIC in each repeat.

Cost: each repeat is one UMAP fit plus the mixtures for every k. The repeats default to the
reference UMAP settings (one UMAP fit of a few dozen networks takes ~0.1 s once compiled) and a
cheaper mixture search, ``n_init = 10`` instead of 100 (``repeat_gmm_kwargs``); the default
10 repeats cost about 10 x 0.3 s per cell type on one core. Everything is seeded from
``random_state``.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping

import numpy as np
import xarray as xr

from flycluster.clustering.dataset import cluster_cell_type
from flycluster.clustering.parameters import (
    DEFAULT_REPEAT_GMM_KWARGS,
    minimum_networks,
    resolve_gmm_kwargs,
    resolve_umap_kwargs,
)
from flycluster.formats.clustering import INVALID_LABEL


def _repeat_seeds(random_state: int, n: int) -> np.ndarray:
    """n distinct seeds in [0, 2**31) derived from random_state."""
    return np.random.SeedSequence(int(random_state)).generate_state(n, dtype=np.uint32) % (2**31)


def jaccard_best_match(reference: np.ndarray, other: np.ndarray, n_clusters: int) -> np.ndarray:
    """For each reference cluster, the Jaccard index with its best-matching cluster in other.

    Both label arrays are over the same networks (masked networks excluded beforehand).
    Returns (n_clusters,) float, NaN for a cluster without members here.
    """
    out = np.full(n_clusters, np.nan)
    for c in range(n_clusters):
        members = reference == c
        if not members.any():
            continue
        best = 0.0
        for d in np.unique(other):
            theirs = other == d
            union = np.sum(members | theirs)
            best = max(best, np.sum(members & theirs) / union)
        out[c] = best
    return out


def cluster_stability(X, reference: xr.Dataset, n_seed_repeats: int = 5,
                      n_leave_out_repeats: int = 5, leave_out_fraction: float = 0.2,
                      random_state: int = 0, umap_kwargs: Mapping[str, Any] | None = None,
                      gmm_kwargs: Mapping[str, Any] | None = None,
                      repeat_umap_kwargs: Mapping[str, Any] | None = None,
                      repeat_gmm_kwargs: Mapping[str, Any] | None = None,
                      nonfinite: str = "raise", threads: int | None = 1) -> xr.Dataset:
    """Repeat the clustering of one cell type with other seeds and with networks left out.

    Parameters
    ----------
    X : array or DataArray (networks, features) or (networks, samples, frames)
        The same responses the reference clustering was computed from (same network order).
    reference : xarray.Dataset
        The result of :func:`flycluster.clustering.cluster_cell_type` on X.
    n_seed_repeats, n_leave_out_repeats : int
        Repeats on all networks with new seeds, and with networks left out (and new seeds).
    leave_out_fraction : float in [0, 1)
        Fraction of the networks dropped in each leave-out repeat (rounded; never so many that
        fewer than :func:`flycluster.clustering.minimum_networks` remain).
    random_state : int
        Seeds every repeat (UMAP ``random_state``, mixture ``random_state``, which networks
        are left out).
    umap_kwargs, gmm_kwargs : dict, optional
        The reference parameters (as passed to ``cluster_cell_type``).
    repeat_umap_kwargs, repeat_gmm_kwargs : dict, optional
        Overrides for the repeats only, to bound their cost. Default: UMAP as the reference,
        mixtures with ``n_init=10``.
    nonfinite, threads
        As in ``cluster_cell_type``.

    Returns
    -------
    xarray.Dataset with dims ``repeat``, ``cluster`` (as the reference), ``network``,
    ``network_`` and the variables listed in the module docstring, plus coords
    ``stability_kind (repeat)`` ("seed" | "leave_out") and ``stability_seed (repeat)``.
    Scalars are NaN where no repeat could be compared. Attributes record the settings.
    Merge into the clustering file with :func:`add_stability`.
    """
    if not 0 <= leave_out_fraction < 1:
        raise ValueError(f"leave_out_fraction must be in [0, 1), got {leave_out_fraction!r}")
    for name, value in (("n_seed_repeats", n_seed_repeats),
                        ("n_leave_out_repeats", n_leave_out_repeats)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    names = [str(n) for n in reference["network"].values]
    n = len(names)
    X = np.asarray(getattr(X, "values", X))
    X = X.reshape(X.shape[0], -1) if X.ndim > 2 else X
    if X.shape[0] != n:
        raise ValueError(f"X has {X.shape[0]} networks, the reference clustering {n}")
    ref_labels = reference["label"].values.astype(int)
    ref_mask = reference["clustered"].values.astype(bool)
    k_ref = int(reference.attrs.get("n_clusters", reference.sizes.get("cluster", 0)))
    task_error = reference["task_error"].values if "task_error" in reference else None

    ukw = resolve_umap_kwargs(umap_kwargs)
    ukw.update(repeat_umap_kwargs or {})
    gkw = resolve_gmm_kwargs(gmm_kwargs)
    gkw.update(DEFAULT_REPEAT_GMM_KWARGS if repeat_gmm_kwargs is None else repeat_gmm_kwargs)
    needed = minimum_networks(ukw)
    n_drop = min(int(round(leave_out_fraction * n)), max(0, n - needed))

    kinds = ["seed"] * n_seed_repeats + ["leave_out"] * n_leave_out_repeats
    seeds = _repeat_seeds(random_state, len(kinds))
    ari = np.full(len(kinds), np.nan)
    k_chosen = np.zeros(len(kinds), dtype=np.int64)
    jaccard = np.full((len(kinds), k_ref), np.nan)
    together = np.zeros((n, n))
    both = np.zeros((n, n))
    from sklearn.metrics import adjusted_rand_score

    for r, (kind, seed) in enumerate(zip(kinds, seeds)):
        rng = np.random.RandomState(seed)
        keep = np.ones(n, bool)
        if kind == "leave_out" and n_drop:
            keep[rng.choice(n, size=n_drop, replace=False)] = False
        rows = np.flatnonzero(keep)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # degenerate repeats are expected
            rep = cluster_cell_type(
                X[rows], task_error=None if task_error is None else task_error[rows],
                umap_kwargs={**ukw, "random_state": int(seed)},
                gmm_kwargs={**gkw, "random_state": int(seed)},
                network_names=[names[i] for i in rows], nonfinite=nonfinite, threads=threads)
        k_chosen[r] = rep.attrs["n_clusters"]
        labels = np.full(n, INVALID_LABEL)
        labels[rows] = rep["label"].values
        common = ref_mask & (labels != INVALID_LABEL)
        if k_ref == 0 or common.sum() < 2:
            continue
        ari[r] = adjusted_rand_score(ref_labels[common], labels[common])
        jaccard[r] = jaccard_best_match(ref_labels[common], labels[common], k_ref)
        idx = np.flatnonzero(common)
        same = labels[idx][:, None] == labels[idx][None, :]
        both[np.ix_(idx, idx)] += 1
        together[np.ix_(idx, idx)] += same
    with np.errstate(invalid="ignore", divide="ignore"):
        co = np.where(both > 0, together / both, np.nan)
    kinds_arr = np.array(kinds, dtype=str)

    def _mean(values):
        values = values[np.isfinite(values)]
        return float(values.mean()) if values.size else np.nan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns -> NaN
        cluster_jaccard = (np.nanmean(jaccard, axis=0) if len(kinds) else np.full(k_ref, np.nan))
    ds = xr.Dataset(
        {
            "stability_ari_repeat": ("repeat", ari),
            "stability_n_clusters_repeat": ("repeat", k_chosen),
            "stability_jaccard": (("repeat", "cluster"), jaccard),
            "stability_cluster_jaccard": ("cluster", cluster_jaccard),
            "stability_co_assignment": (("network", "network_"), co),
            "stability_ari": ((), _mean(ari)),
            "stability_ari_seed": ((), _mean(ari[kinds_arr == "seed"])),
            "stability_ari_leave_out": ((), _mean(ari[kinds_arr == "leave_out"])),
            "stability_ari_min": ((), float(np.nanmin(ari)) if np.isfinite(ari).any()
                                  else np.nan),
        },
        coords={"repeat": np.arange(len(kinds)), "stability_kind": ("repeat", kinds_arr),
                "stability_seed": ("repeat", seeds.astype(np.int64)),
                "cluster": np.arange(k_ref), "network": names, "network_": names},
    )
    ds["stability_ari"].attrs["description"] = (
        "mean adjusted Rand index of the repeated clusterings vs the reference (1 = identical)")
    ds["stability_cluster_jaccard"].attrs["description"] = (
        "mean Jaccard index of each cluster with its best match in the repeats "
        "(>0.75 stable, <0.5 dissolved; Hennig 2007)")
    ds.attrs.update({
        "stability_random_state": int(random_state),
        "stability_n_seed_repeats": int(n_seed_repeats),
        "stability_n_leave_out_repeats": int(n_leave_out_repeats),
        "stability_leave_out_fraction": float(leave_out_fraction),
        "stability_n_left_out": int(n_drop),
        "stability_umap_n_epochs": int(ukw["n_epochs"]),
        "stability_gmm_n_init": int(gkw["n_init"]),
    })
    return ds


def add_stability(clustering: xr.Dataset, stability: xr.Dataset) -> xr.Dataset:
    """The clustering dataset with the stability variables and attributes added."""
    if list(clustering["network"].values) != list(stability["network"].values):
        raise ValueError("stability and clustering datasets cover different networks")
    if clustering.sizes.get("cluster", 0) != stability.sizes.get("cluster", 0):
        raise ValueError("stability and clustering datasets have different numbers of clusters")
    merged = xr.merge([clustering, stability], combine_attrs="override")
    merged.attrs = {**clustering.attrs, **stability.attrs}
    return merged
