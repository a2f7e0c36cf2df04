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
   covariance_type="full")`` is fitted to the scaled, unmasked embedding; k = argmin BIC
   among the k whose mixture gives every cluster at least ``min_cluster_size`` networks
   (default 3; flyvis has no such rule, ``min_cluster_size=1`` is its search).
   (flyvis fits the chosen k a second time with the same seed; the fit is deterministic, so
   the model of the loop is reused: same parameters, same labels.) Work that provably gives
   the same result is skipped: one start for k = 1 (all k-means starts coincide), and no EM
   rerun for a start whose k-means partition repeats an earlier start's (:func:`_starts`,
   :func:`_mixture_class`); every fitted attribute stays bit-identical to sklearn's.
5. Labels of masked rows are -99999. Clusters are renumbered by the mean task error of their
   members (best cluster = 0), or, without task errors, by size (largest = 0; ties keep the
   mixture's order).

Where this module deliberately differs from flyvis (in cases where flyvis crashes or is
ill-defined): mixtures with a cluster of fewer than ``min_cluster_size`` networks are not
chosen (BIC rewards a Gaussian fitted to 1-2 points whatever the data: on structureless data
with 9-20 networks flyvis's search picks k > 1 in most draws,
``benchmarks/small_ensemble_bic.py``; set ``min_cluster_size=1`` for flyvis's choice); too few
networks raise a clear ``ValueError``; rows with NaN/inf raise (or are masked with
``nonfinite="mask"``) instead of failing inside UMAP; when fewer than ``n_components + 2`` rows
remain after masking, no embedding is attempted and an all-masked result with ``n_clusters =
0`` is returned (attr ``degenerate`` explains why); an occupied mixture component is renumbered
by its own label value (flyvis indexes by position in the list of occupied labels, which only
differs when a component ends up empty).

Modules: :mod:`.parameters` (defaults and their checks), :mod:`.embedding` (masking, UMAP,
scaling), :mod:`.mixture` (the BIC search over Gaussian mixtures), :mod:`.dataset` (one cell
type's result, :func:`cluster_cell_type`), :mod:`.stability` (repeats with other seeds and
networks left out), :mod:`.numba_cache` (umap's compiled functions cached on disk). The
clustering file (netCDF) is read and written by :mod:`flycluster.formats.clustering`.
"""

from flycluster.clustering.dataset import cluster_cell_type
from flycluster.clustering.embedding import embed, minmax_scale
from flycluster.clustering.mixture import (
    cluster_order,
    fit_mixtures,
    small_cluster_warning,
    small_clusters,
)
from flycluster.clustering.numba_cache import enable_umap_jit_cache, warm_umap_cache
from flycluster.clustering.parameters import (
    DEFAULT_GMM_KWARGS,
    DEFAULT_REPEAT_GMM_KWARGS,
    DEFAULT_UMAP_KWARGS,
    minimum_networks,
    resolve_gmm_kwargs,
    resolve_umap_kwargs,
)
from flycluster.clustering.stability import add_stability, cluster_stability, jaccard_best_match
from flycluster.formats.clustering import INVALID_LABEL, MASK_REASONS

__all__ = [
    "cluster_cell_type", "embed", "minmax_scale", "fit_mixtures", "cluster_order", "small_clusters",
    "small_cluster_warning",
    "enable_umap_jit_cache", "warm_umap_cache", "DEFAULT_UMAP_KWARGS", "DEFAULT_GMM_KWARGS",
    "DEFAULT_REPEAT_GMM_KWARGS", "resolve_umap_kwargs", "resolve_gmm_kwargs", "minimum_networks",
    "cluster_stability", "add_stability", "jaccard_best_match", "INVALID_LABEL", "MASK_REASONS",
]
