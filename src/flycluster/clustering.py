"""UMAP embedding and Gaussian-mixture clustering of one cell type, as flyvis does it.

The numerics follow ``flyvis.analysis.clustering`` (``umap_embedding`` then
``gaussian_mixture`` then ``task_error_sort_labels``) step by step, so that on the same input
matrix the labels and the chosen number of clusters are identical:

1. Rows (networks) whose standard deviation is ~0 (``np.isclose(std, 0)``) are masked: UMAP
   cannot embed a constant vector under the correlation metric.
2. UMAP (``n_components=2, metric="correlation", n_neighbors=5, min_dist=0.105, spread=9,
   n_epochs=1500, random_state=42`` by default) is fitted on the unmasked rows; rows that the
   fitted fuzzy graph leaves without any edge (``umap.utils.disconnected_vertices``) are masked
   too.
3. The embedding (NaN for masked rows) is min-max scaled to [0, 1] per column with
   ``sklearn.preprocessing.MinMaxScaler`` (NaN rows are ignored by the scaler and stay NaN).
4. For every k in ``range_n_clusters`` with k <= number of unmasked rows, a
   ``GaussianMixture(k, n_init=100, max_iter=1000, tol=1e-3, random_state=42,
   covariance_type="full")`` is fitted to the scaled, unmasked embedding; k = argmin BIC.
   (flyvis fits the chosen k a second time with the same seed; the fit is deterministic, so
   the model of the loop is reused: same parameters, same labels.) Work that provably gives
   the same result is skipped: one start for k = 1 (all k-means starts coincide), and no EM
   rerun for a start whose k-means partition repeats an earlier start's (:func:`_starts`,
   :func:`_mixture_class`); every fitted attribute stays bit-identical to sklearn's.
5. Labels of masked rows are -99999. Clusters are renumbered by the mean task error of their
   members (best cluster = 0), or, without task errors, by size (largest = 0; ties keep the
   mixture's order).

Where this module deliberately differs from flyvis (only in cases where flyvis crashes or is
ill-defined): too few networks raise a clear ``ValueError``; rows with NaN/inf raise (or are
masked with ``nonfinite="mask"``) instead of failing inside UMAP; when fewer than
``n_components + 2`` rows remain after masking, no embedding is attempted and an all-masked
result with ``n_clusters = 0`` is returned (attr ``degenerate`` explains why); an occupied
mixture component is renumbered by its own label value (flyvis indexes by position in the list
of occupied labels, which only differs when a component ends up empty).

Numba compilation: umap's first fit in a process spends ~15 s compiling its numba functions.
:func:`enable_umap_jit_cache` turns on numba's on-disk cache for umap and pynndescent, so only
the first process ever pays it. The cache goes where numba puts it: ``$NUMBA_CACHE_DIR`` when
set (set it to a shared folder for cluster jobs), else ``__pycache__`` next to umap's sources
when writable, else ``~/.cache/numba``-style user cache folders.
"""

from __future__ import annotations

import contextlib
import importlib
import warnings
from typing import Any, Mapping, Sequence

import numpy as np
import xarray as xr

INVALID_LABEL = -99999

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
}

#: Codes of the ``mask_reason`` variable (0 = clustered).
MASK_REASONS = {0: "clustered", 1: "constant", 2: "nonfinite", 3: "disconnected",
                4: "too_few_valid"}

_UMAP_JIT_MODULES = (
    "umap.umap_", "umap.layouts", "umap.distances", "umap.sparse", "umap.utils",
    "umap.spectral", "pynndescent.distances", "pynndescent.sparse", "pynndescent.utils",
    "pynndescent.rp_trees", "pynndescent.pynndescent_",
)
_jit_cache_enabled = False


def enable_umap_jit_cache() -> int:
    """Turn on numba's on-disk cache for the jitted functions of umap and pynndescent.

    umap compiles ~250 numba functions on its first fit in every new process (~15 s on one
    core); most are declared without ``cache=True``. Enabling the cache before they compile
    makes every later process load them from disk (~0.1 s). Results are bit-identical.
    Idempotent; returns the number of functions switched to caching in this call.
    """
    global _jit_cache_enabled
    if _jit_cache_enabled:
        return 0
    from numba.core.registry import CPUDispatcher

    switched = 0
    for name in _UMAP_JIT_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:  # optional module in another umap/pynndescent version
            continue
        for value in vars(module).values():
            if (isinstance(value, CPUDispatcher)
                    and type(value._cache).__name__ == "NullCache"):
                value.enable_caching()
                switched += 1
    _jit_cache_enabled = True
    return switched


def warm_umap_cache(umap_kwargs: Mapping[str, Any] | None = None, n_features: int = 256,
                    random_state: int = 0) -> dict[str, Any]:
    """Compile umap's numba functions into the on-disk cache by embedding random data once.

    Runs :func:`embed` (hence UMAP with ``umap_kwargs``) on ``minimum_networks + 4`` rows of
    seeded standard-normal float32 features, the argument types the clustering of response
    files uses, so that later processes load every function from the cache instead of
    compiling it (~50 s of CPU with an empty cache, ~3 s from the cache). Nothing of the
    random data is kept.

    Returns
    -------
    dict with ``functions_switched`` (umap/pynndescent functions whose caching this call
    enabled), ``numba_cache_dir`` (``$NUMBA_CACHE_DIR`` or "" for numba's default) and the
    versions of numba and umap.
    """
    import os
    from importlib.metadata import version

    switched = enable_umap_jit_cache()
    kwargs = resolve_umap_kwargs(umap_kwargs)
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((minimum_networks(kwargs) + 4, n_features)).astype(np.float32)
    embed(X, kwargs, threads=1)
    return {"functions_switched": switched,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
            "version_numba": version("numba"), "version_umap": version("umap-learn")}


def _thread_limit(threads: int | None):
    """Context limiting BLAS/OpenMP thread pools (``None``: no limit)."""
    if threads is None:
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=int(threads))


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
    for key in ("n_init", "max_iter"):
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
    ``mask`` (networks,) bool; ``mask_reason`` (networks,) int8 codes of :data:`MASK_REASONS`;
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
        return {"embedding": embedding, "mask": np.zeros(n, bool), "mask_reason": reason,
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
    return {"embedding": embedding, "mask": mask, "mask_reason": reason, "degenerate": ""}


def minmax_scale(embedding: np.ndarray) -> np.ndarray:
    """Scale every column to [0, 1] over its finite rows; NaN rows stay NaN (as flyvis)."""
    from sklearn.preprocessing import MinMaxScaler

    if not np.isfinite(embedding).any():
        return embedding.copy()
    return MinMaxScaler(feature_range=(0, 1), copy=True, clip=False).fit_transform(embedding)


def _starts(k: int, kwargs: dict[str, Any]) -> dict[str, Any]:
    """GaussianMixture arguments for k components: one start instead of n_init where all
    starts are provably the same.

    With the default k-means initialisation, every start of a one-component mixture labels all
    points 0, so each of the ``n_init`` starts runs the same EM from the same responsibilities
    and reaches the same lower bound; sklearn keeps the first of equal bounds, which is what a
    single start (drawn from the same fresh ``random_state``) returns. Same parameters, BIC and
    labels, bit for bit (tested); ~15% of the mixture search of a cell type saved.
    """
    if (k == 1 and kwargs.get("init_params", "kmeans") == "kmeans"
            and not kwargs.get("warm_start", False)
            and not any(kwargs.get(key) is not None
                        for key in ("weights_init", "means_init", "precisions_init"))):
        return {**kwargs, "n_init": 1}
    return kwargs


_MIXTURE_CLASS = None


def _mixture_class():
    """sklearn's GaussianMixture, minus the EM of starts that repeat an earlier start.

    Each of the ``n_init`` starts runs k-means (consuming the shared random state) to get
    initial responsibilities, then EM, which is a deterministic function of those
    responsibilities. On a few dozen points most k-means starts find a partition an earlier
    start already found (~60% on the default ensemble): for them EM would retrace the earlier
    start's steps to the same parameters and lower bound, and since sklearn keeps the first of
    equal lower bounds, such a start can never be chosen. This subclass runs every k-means (the
    random stream is consumed as before) and for a repeated start returns the earlier start's
    final parameters and lower bound instead of rerunning EM. Parameters, BIC and labels are
    bit-identical to ``GaussianMixture`` (tested); the mixture search costs ~1/3 less.
    """
    global _MIXTURE_CLASS
    if _MIXTURE_CLASS is not None:
        return _MIXTURE_CLASS
    from sklearn.mixture import GaussianMixture

    class StartMemoGaussianMixture(GaussianMixture):
        def fit(self, X, y=None):
            self._memo, self._key, self._replay, self._bound = {}, None, None, None
            self.starts_replayed_ = 0
            try:
                return super().fit(X, y)
            finally:
                del self._memo, self._key, self._replay, self._bound

        def _initialize(self, X, resp, *args, **kwargs):
            # a new start: remember where the previous (computed) start ended
            if self._key is not None and self._replay is None:
                self._memo[self._key] = (
                    tuple(np.array(p, copy=True) for p in self._get_parameters()), self._bound)
            self._key = None if resp is None else np.asarray(resp).tobytes()
            self._replay = self._memo.get(self._key) if self._key is not None else None
            if self._replay is None:
                return super()._initialize(X, resp, *args, **kwargs)
            self.starts_replayed_ += 1
            return None

        def _e_step(self, X, *args, **kwargs):
            if self._replay is None:
                return super()._e_step(X, *args, **kwargs)
            return np.nan, None

        def _m_step(self, X, log_resp, *args, **kwargs):
            if self._replay is None:
                return super()._m_step(X, log_resp, *args, **kwargs)
            (self.weights_, self.means_, self.covariances_,
             self.precisions_cholesky_) = self._replay[0]
            return None

        def _compute_lower_bound(self, *args, **kwargs):
            if self._replay is None:
                self._bound = super()._compute_lower_bound(*args, **kwargs)
                return self._bound
            return self._replay[1]

        def _set_parameters(self, params, *args, **kwargs):
            self._replay = None  # after the starts: the final E-step is a real one
            return super()._set_parameters(params, *args, **kwargs)

    _MIXTURE_CLASS = StartMemoGaussianMixture
    return _MIXTURE_CLASS


def fit_mixtures(points: np.ndarray, gmm_kwargs: Mapping[str, Any] | None = None,
                 threads: int | None = 1):
    """Fit one Gaussian mixture per k and pick k by BIC, as flyvis' ``gaussian_mixture``.

    Parameters
    ----------
    points : array (n_points, n_components)
        The scaled embedding of the unmasked networks.
    gmm_kwargs : dict, optional
        Overrides of :data:`DEFAULT_GMM_KWARGS`; other ``GaussianMixture`` arguments pass on.
    threads : int, optional
        Limit of BLAS/OpenMP threads (1-2 is fastest for these tiny problems).

    Returns
    -------
    (ks, bic, best_model): list of the k tried (k <= n_points), BIC per k (float64 array),
    the fitted ``GaussianMixture`` with the smallest BIC (first on ties).
    """
    GaussianMixture = _mixture_class()  # sklearn's, without recomputing repeated starts

    kwargs = resolve_gmm_kwargs(gmm_kwargs)
    ks = [k for k in kwargs.pop("range_n_clusters") if k <= len(points)]
    if not ks:
        raise ValueError(f"no k in gmm_kwargs['range_n_clusters'] is <= the {len(points)} "
                         "unmasked networks")
    bic, models = [], []
    with _thread_limit(threads):
        for k in ks:
            model = GaussianMixture(n_components=k, **_starts(k, kwargs)).fit(points)
            bic.append(model.bic(points))
            models.append(model)
    bic = np.asarray(bic, dtype=np.float64)
    return ks, bic, models[int(np.argmin(bic))]


def cluster_order(labels: np.ndarray, n_clusters: int,
                  task_error: np.ndarray | None = None) -> np.ndarray:
    """Permutation ``order`` such that new cluster i is mixture component ``order[i]``.

    Occupied components come first: by ascending mean task error of their members (flyvis'
    ``task_error_sort_labels``, ``np.argsort`` default kind), or by descending size (stable)
    without task errors. Empty components follow in their original order.
    """
    occupied = np.unique(labels[labels != INVALID_LABEL])
    if task_error is not None:
        score = [np.mean(task_error[labels == k]) for k in occupied]
        ranked = occupied[np.argsort(score)]
    else:
        sizes = np.array([np.sum(labels == k) for k in occupied])
        ranked = occupied[np.argsort(-sizes, kind="stable")]
    empty = [k for k in range(n_clusters) if k not in set(occupied.tolist())]
    return np.concatenate([ranked, np.asarray(empty, dtype=ranked.dtype)]).astype(int)


def _full_covariances(model) -> np.ndarray:
    """Covariances of a fitted GaussianMixture as (k, d, d) whatever its covariance_type."""
    k, d = model.means_.shape
    cov = np.asarray(model.covariances_)
    if model.covariance_type == "full":
        return cov
    if model.covariance_type == "tied":
        return np.repeat(cov[None], k, axis=0)
    if model.covariance_type == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(d) * c for c in cov])  # spherical


def _versions() -> dict[str, str]:
    import numpy
    import sklearn

    import flycluster

    versions = {"version_numpy": numpy.__version__, "version_sklearn": sklearn.__version__,
                "version_flycluster": flycluster.__version__}
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
    - ``mask (network)`` bool, True = clustered; ``mask_reason (network)`` int8 code
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
    mask = emb["mask"]
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
            "mask": ("network", mask.astype(bool)),
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
    ds["label"].attrs["description"] = f"cluster index; {INVALID_LABEL} = masked"
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


def write_clustering(ds: xr.Dataset, path) -> None:
    """Write a clustering dataset to netCDF atomically (temporary name + rename)."""
    from flycluster.io_utils import atomic_path

    encoding = {name: {"zlib": True, "complevel": 4} for name in ds.data_vars
                if ds[name].dtype.kind in "fiub" and ds[name].size}
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="netcdf4", encoding=encoding)


def read_clustering(path) -> xr.Dataset:
    """Read a clustering file written by :func:`write_clustering` (loaded into memory).

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, or a file without the variables ``embedding``, ``mask``, ``label``.
    """
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"clustering file {path} does not exist")
    with xr.open_dataset(path, engine="netcdf4") as ds:
        ds = ds.load()
    missing = [v for v in ("embedding", "mask", "label") if v not in ds]
    if missing:
        raise ValueError(f"clustering file {path} lacks variables {missing}")
    ds["mask"] = ds["mask"].astype(bool)
    return ds
