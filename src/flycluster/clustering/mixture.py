"""Steps 4-5 of the clustering: Gaussian mixtures for every k, k by BIC, clusters renumbered
(see :mod:`flycluster.clustering`).

The mixture is scikit-learn's ``GaussianMixture`` with a memo of repeated starts
(:func:`_mixture_class`), which overrides five of its private methods (``_initialize``,
``_e_step``, ``_m_step``, ``_compute_lower_bound``, ``_set_parameters``): ``pyproject.toml``
bounds scikit-learn to the versions tested (tests/test_clustering.py checks bit-identity).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from flycluster.clustering.embedding import _thread_limit
from flycluster.clustering.parameters import resolve_gmm_kwargs
from flycluster.formats.clustering import INVALID_LABEL


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
    """Fit one Gaussian mixture per k and pick k by BIC, as flyvis' ``gaussian_mixture``,
    among the mixtures whose clusters all hold at least ``min_cluster_size`` points.

    Parameters
    ----------
    points : array (n_points, n_components)
        The scaled embedding of the unmasked networks.
    gmm_kwargs : dict, optional
        Overrides of :data:`DEFAULT_GMM_KWARGS`; other ``GaussianMixture`` arguments pass on.
        ``min_cluster_size`` (default 3; 1 is flyvis's search): a k whose mixture assigns
        fewer points than this to one of its clusters is not chosen, because BIC rewards a
        component fitted to 1-2 points whatever the data (:func:`small_clusters`). If no k
        qualifies, the k of lowest BIC is taken as flyvis would.
    threads : int, optional
        Limit of BLAS/OpenMP threads (1-2 is fastest for these tiny problems).

    Returns
    -------
    (ks, bic, best_model): list of the k tried (k <= n_points), BIC per k (float64 array,
    every k tried), the fitted ``GaussianMixture`` chosen (smallest BIC among the qualifying k,
    first on ties).
    """
    GaussianMixture = _mixture_class()  # sklearn's, without recomputing repeated starts

    kwargs = resolve_gmm_kwargs(gmm_kwargs)
    min_size = kwargs.pop("min_cluster_size")
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
    allowed = np.array([model.n_components == 1 or not small_clusters(model.predict(points),
                                                                      min_size)
                        for model in models]) if min_size > 1 else np.ones(len(ks), bool)
    if not allowed.any():
        allowed[:] = True
    return ks, bic, models[int(np.argmin(np.where(allowed, bic, np.inf)))]


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


def small_clusters(labels: np.ndarray, min_size: int = 3) -> dict[int, int]:
    """Clusters with fewer than ``min_size`` members: ``{label: size}`` (masked rows,
    :data:`INVALID_LABEL`, are not a cluster).

    A full-covariance Gaussian in the 2-D embedding fitted to 1 or 2 points is degenerate (its
    covariance collapses to the mixture's ``reg_covar``), so its likelihood, and BIC's reward
    for it, grows without bound whatever the data: when BIC's chosen k has such clusters, k says
    more about the ensemble's size than about its structure (e.g. 9 networks: k = 5 and a BIC
    gain of ~55 for every one of the 65 cell types). Read the stability columns before such k.
    """
    values, counts = np.unique(np.asarray(labels)[np.asarray(labels) != INVALID_LABEL],
                               return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts) if c < min_size}


def small_cluster_warning(clustering, min_size: int = 3) -> str | None:
    """A warning (str) when a clustering's chosen k > 1 has clusters of fewer than ``min_size``
    networks (see :func:`small_clusters`), else None. ``clustering``: a clustering dataset
    (:func:`~flycluster.clustering.cluster_cell_type`) with ``label`` and attr ``n_clusters``."""
    small = small_clusters(clustering["label"].values, min_size)
    k = int(clustering.attrs.get("n_clusters", 0))
    if k <= 1 or not small:
        return None
    name = clustering.attrs.get("cell_type", "this cell type")
    return (f"{name}: BIC chose {k} clusters, {len(small)} of them with fewer than {min_size} "
            f"networks (sizes {'/'.join(str(v) for v in small.values())}): a Gaussian fitted to "
            "1-2 points is degenerate and BIC rewards it whatever the data, so this k reflects "
            "the ensemble's size more than its structure; see the stability columns (README: "
            "Reading and trusting the results)")


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

