"""Steps 1-3 of the clustering: masking, the UMAP embedding, min-max scaling (see
:mod:`flycluster.clustering`)."""

from __future__ import annotations

import contextlib
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

from flycluster.clustering.numba_cache import enable_umap_jit_cache
from flycluster.clustering.parameters import minimum_networks, resolve_umap_kwargs


def _thread_limit(threads: int | None):
    """Context limiting BLAS/OpenMP thread pools (``None``: no limit)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads))


def _as_matrix(X, network_names):
    """(networks, features) float array and network names from an array or DataArray."""
    if isinstance(X, xr.DataArray):
        if network_names is None and "network" in X.dims:
            network_names = [str(n) for n in X["network"].values]
        if "network" in X.dims:
            X = X.transpose("network", ...)
        X = X.values
    X = np.asarray(X)
    if X.ndim < 2:
        raise ValueError(f"X must have shape (networks, features), got shape {X.shape}")
    if X.ndim > 2:  # (networks, samples, frames) -> (networks, samples * frames), as flyvis
        X = X.reshape(X.shape[0], -1)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    n = X.shape[0]
    if network_names is None:
        network_names = [f"{i:03d}" for i in range(n)]
    network_names = [str(name) for name in network_names]
    if len(network_names) != n:
        raise ValueError(f"network_names has {len(network_names)} entries, X has {n} rows")
    if len(set(network_names)) != n:
        raise ValueError("network_names must be unique")
    return X, network_names


def embed(X: np.ndarray, umap_kwargs: Mapping[str, Any] | None = None,
          nonfinite: str = "raise", network_names: Sequence[str] | None = None,
          threads: int | None = 1) -> dict[str, np.ndarray]:
    """UMAP embedding of the rows of X with flyvis' masking; not yet scaled.

    Parameters
    ----------
    X : array (networks, features)
        One row per network (e.g. one cell type's responses to all samples and frames,
        flattened).
    umap_kwargs : dict, optional
        Overrides of :data:`DEFAULT_UMAP_KWARGS`; any other ``umap.UMAP`` argument is passed on.
    nonfinite : {"raise", "mask"}
        Rows with NaN or inf raise a ValueError naming the networks, or are masked. Features
        (columns) that are NaN in every row, such as the NaN padding of stimulus samples
        shorter than the longest, are dropped first.
    network_names : sequence of str, optional
        Names used in error messages.
    threads : int, optional
        Limit of BLAS/OpenMP threads.

    Returns
    -------
    dict with ``embedding`` (networks, n_components) float64, NaN where masked (UMAP units);
    ``clustered`` (networks,) bool, True = embedded; ``mask_reason`` (networks,) int8 codes of
    :data:`flycluster.formats.clustering.MASK_REASONS`;
    ``degenerate`` (str, empty when UMAP ran).
    """
    X, names = _as_matrix(X, network_names)
    kwargs = resolve_umap_kwargs(umap_kwargs)
    n = X.shape[0]
    needed = minimum_networks(kwargs)
    if n < needed:
        raise ValueError(
            f"UMAP needs at least {needed} networks (umap_kwargs n_neighbors="
            f"{kwargs['n_neighbors']} + 2, and n_components={kwargs['n_components']} <= "
            f"networks - 2), got {n}: add networks or lower n_neighbors")
    if nonfinite not in ("raise", "mask"):
        raise ValueError(f"nonfinite must be 'raise' or 'mask', got {nonfinite!r}")
    # frames that are NaN for every network (padding of shorter stimulus samples) carry no
    # information about any network: drop them rather than mask everything
    padding = np.isnan(X).all(axis=0)
    if padding.any() and not padding.all():
        X = X[:, ~padding]
    finite = np.isfinite(X).all(axis=1)
    if not finite.all() and nonfinite == "raise":
        bad = [names[i] for i in np.flatnonzero(~finite)]
        raise ValueError(f"responses of networks {bad[:10]} contain NaN or inf "
                         f"({len(bad)} of {n} networks); a diverging network? Pass "
                         "nonfinite='mask' to leave them out of the clustering")
    reason = np.zeros(n, dtype=np.int8)
    reason[~finite] = 2
    # flyvis: mask = ~np.isclose(X.std(axis=1), 0); rows are reduced independently, so
    # zeroing the non-finite rows first leaves the others' std unchanged
    std = np.where(finite[:, None], X, 0).std(axis=1)
    constant = finite & np.isclose(std, 0)
    reason[constant] = 1
    mask = reason == 0
    embedding = np.full((n, kwargs["n_components"]), np.nan)
    if mask.sum() < kwargs["n_components"] + 2:
        reason[mask] = 4
        message = (f"only {int(mask.sum())} of {n} networks have non-constant finite "
                   f"responses; UMAP with n_components={kwargs['n_components']} needs "
                   f"{kwargs['n_components'] + 2}: nothing embedded")
        warnings.warn(message, RuntimeWarning, stacklevel=2)
        return {"embedding": embedding, "clustered": np.zeros(n, bool), "mask_reason": reason,
                "degenerate": message}
    enable_umap_jit_cache()
    from umap import UMAP
    from umap.utils import disconnected_vertices

    reducer = UMAP(**kwargs)
    with _thread_limit(threads), warnings.catch_warnings():
        # umap's own chatter: seeded runs are single-threaded; a**x overflow at d=0 is benign
        warnings.filterwarnings("ignore", message="n_jobs value")
        warnings.filterwarnings("ignore", message="divide by zero encountered in power")
        warnings.filterwarnings("ignore", message="n_neighbors is larger than the dataset")
        points = reducer.fit_transform(X[mask])
    connected = ~disconnected_vertices(reducer)
    rows = np.flatnonzero(mask)
    reason[rows[~connected]] = 3
    mask = reason == 0
    embedding[mask] = points[connected]
    return {"embedding": embedding, "clustered": mask, "mask_reason": reason, "degenerate": ""}


def minmax_scale(embedding: np.ndarray) -> np.ndarray:
    """Scale every column to [0, 1] over its finite rows; NaN rows stay NaN (as flyvis)."""
    from sklearn.preprocessing import MinMaxScaler

    if not np.isfinite(embedding).any():
        return embedding.copy()
    return MinMaxScaler(feature_range=(0, 1), copy=True, clip=False).fit_transform(embedding)

