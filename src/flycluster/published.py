"""flyvis's published clusterings (``umap_and_clustering/*.pickle``), read without flyvis.

flyvis (Lappalainen et al. 2024) ships one pickle per cell type in
``<ensemble>/umap_and_clustering/`` (``flyvis download-pretrained``); its
``EnsembleView.clustering(cell_type)`` unpickles a ``GaussianMixtureClustering``:

- ``embedding``: an ``Embedding`` with ``_embedding`` (networks, 2), the UMAP embedding
  min-max scaled to [0, 1] per column (NaN for masked networks), ``mask`` (networks,) bool
  (True = embedded and clustered), ``minmaxscaler`` (sklearn ``MinMaxScaler``) and
  ``reducer`` (the fitted ``umap.UMAP``);
- ``labels`` (networks,): the mixture component of each network as ``fit_predict`` returned
  it (not renumbered; flyvis renumbers by task error when it uses them,
  ``get_cluster_to_indices``), -99999 for masked networks;
- ``gm``: the fitted sklearn ``GaussianMixture``; ``scores``: BIC per k tried;
  ``n_clusters``: the k tried; ``range_n_clusters``, ``n_init``, ``max_iter``,
  ``random_state``, ``kwargs`` (e.g. ``tol``): the settings. flyvis's
  ``compute_umap_and_clustering`` uses ``range_n_clusters=[2, 3, 3, 4, 5]`` (never k = 1),
  the seed notebook 1..5.

Unpickling runs code named by the file, so a pickle from elsewhere must not be loaded with
:func:`pickle.load`. :func:`read_flyvis_clustering` uses a restricted unpickler: flyvis's
clustering classes and sklearn's ``GaussianMixture``/``MinMaxScaler`` become plain records of
their attributes (no flyvis or sklearn code runs), numpy arrays and scalars are rebuilt by
numpy's own constructors after checking their type, and the objects of the UMAP reducer
(``umap``, ``pynndescent``, ``numba``, ``scipy``, other ``sklearn`` modules) become inert
placeholders that are never imported or called, and are accepted only inside
``embedding.reducer``, which is dropped. Any other global (``os.system``,
``builtins.eval``, ``subprocess``...) raises :class:`PublishedClusteringError` before
anything is called.
"""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import xarray as xr

from flycluster.errors import FlyclusterError

__all__ = ["PublishedClusteringError", "read_flyvis_clustering", "read_flyvis_clusterings",
           "compare_clusterings", "align_labels", "published_comparison_table",
           "load_flyvis_pickle", "INVALID_LABEL", "FLYVIS_PAPER_RANGE_N_CLUSTERS"]

INVALID_LABEL = -99999
#: ``range_n_clusters`` of flyvis's ``compute_umap_and_clustering`` (the stored results).
FLYVIS_PAPER_RANGE_N_CLUSTERS = (2, 3, 3, 4, 5)


class PublishedClusteringError(FlyclusterError, ValueError):
    """A published clustering file that cannot be read safely or has unexpected content."""


# -- restricted unpickler ----------------------------------------------------------------------

class _Record:
    """Plain stand-in for a mapped class: its pickled attributes, nothing else."""

    _qualname = "?"

    def __init__(self, *args, **kwargs):
        self.__dict__["_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise PublishedClusteringError(
                f"{self._qualname}: unexpected pickled state of type {type(state).__name__}")
        bad = [k for k in state if not isinstance(k, str) or k.startswith("__")]
        if bad:
            raise PublishedClusteringError(f"{self._qualname}: refusing attributes {bad!r}")
        self.__dict__.update(state)

    def __repr__(self):
        return f"<record of {type(self)._qualname}>"


def _field(record, name, default=None):
    """An attribute of a record from its pickled state (never a method or class attribute)."""
    return record.__dict__.get(name, default)


def _is_record(obj, name=None):
    return isinstance(obj, _Record) and (name is None or type(obj)._name == name)


class _Inert:
    """Placeholder for an object of the UMAP reducer: swallows everything, runs nothing."""

    _qualname = "?"

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __setitem__(self, key, value):
        pass

    def append(self, value):
        pass

    def extend(self, values):
        pass

    def add(self, value):
        pass

    def __repr__(self):
        return f"<inert placeholder of {self._qualname}>"


_RECORD_CLASSES: dict[tuple[str, str], type] = {}
_INERT_CLASSES: dict[tuple[str, str], type] = {}


def _record_class(module, name):
    key = (module, name)
    if key not in _RECORD_CLASSES:
        _RECORD_CLASSES[key] = type(f"Record_{name}", (_Record,),
                                    {"_qualname": f"{module}.{name}", "_name": name})
    return _RECORD_CLASSES[key]


def _inert_class(module, name):
    key = (module, name)
    if key not in _INERT_CLASSES:
        _INERT_CLASSES[key] = type(f"Inert_{name}", (_Inert,), {"_qualname": f"{module}.{name}"})
    return _INERT_CLASSES[key]


_FLYVIS_MODULES = ("flyvis.analysis.clustering", "flyvision.analysis.clustering")
_FLYVIS_CLASSES = ("GaussianMixtureClustering", "Embedding", "Clustering", "EmbeddingPlot")
_SKLEARN_RECORDS = {
    ("sklearn.mixture._gaussian_mixture", "GaussianMixture"),
    ("sklearn.mixture.gaussian_mixture", "GaussianMixture"),
    ("sklearn.preprocessing._data", "MinMaxScaler"),
    ("sklearn.preprocessing.data", "MinMaxScaler"),
}
# packages whose objects may appear inside the pickled UMAP reducer (only there)
_INERT_PACKAGES = ("umap", "pynndescent", "numba", "llvmlite", "scipy", "sklearn", "joblib")


def _np_reconstruct(subtype, shape, dtype):
    if subtype is not np.ndarray:
        raise PublishedClusteringError(f"refusing to rebuild an array of type {subtype!r}")
    if isinstance(dtype, (bytes, str)) and len(dtype) <= 4:  # numpy pickles a b"b" stand-in
        dtype = np.dtype(dtype.decode("ascii") if isinstance(dtype, bytes) else dtype)
    return np.ndarray.__new__(np.ndarray, shape, _check_dtype(dtype))


def _check_dtype(dtype):
    if not isinstance(dtype, np.dtype):
        raise PublishedClusteringError(f"expected a numpy dtype, got {type(dtype).__name__}")
    return dtype


def _np_scalar(dtype, data=None):
    dtype = _check_dtype(dtype)
    if dtype.hasobject:
        return data
    if not isinstance(data, (bytes, bytearray)):
        raise PublishedClusteringError("numpy scalar without its bytes")
    return np.frombuffer(bytes(data), dtype=dtype, count=1)[0]


def _np_frombuffer(buffer, dtype, shape, order):
    dtype = _check_dtype(dtype)
    if dtype.hasobject:
        raise PublishedClusteringError("refusing an object array from a raw buffer")
    array = np.frombuffer(bytes(memoryview(buffer)), dtype=dtype)
    return array.reshape(shape, order="F" if order == "F" else "C").copy()


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise PublishedClusteringError("refusing _codecs.encode other than str -> latin1 bytes")
    return text.encode("latin1")


def _copyreg_reconstructor(cls, base, state):
    if not (isinstance(cls, type) and issubclass(cls, (_Record, _Inert))) or base is not object:
        raise PublishedClusteringError(f"refusing copyreg._reconstructor({cls!r}, {base!r})")
    obj = cls.__new__(cls)
    if state is not None:
        obj.__setstate__(state)
    return obj


_SAFE_GLOBALS = {
    ("builtins", "set"): set, ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice, ("builtins", "complex"): complex,
    ("builtins", "bytearray"): bytearray, ("builtins", "object"): object,
    ("__builtin__", "set"): set, ("__builtin__", "frozenset"): frozenset,
    ("__builtin__", "object"): object,
    ("collections", "OrderedDict"): dict,
    ("_codecs", "encode"): _codecs_encode,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("copy_reg", "_reconstructor"): _copyreg_reconstructor,
}
for _core in ("numpy.core", "numpy._core"):
    _SAFE_GLOBALS.update({
        (f"{_core}.multiarray", "_reconstruct"): _np_reconstruct,
        (f"{_core}.multiarray", "scalar"): _np_scalar,
        (f"{_core}.numeric", "_frombuffer"): _np_frombuffer,
    })
_SAFE_GLOBALS.update({("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype})


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, where):
        super().__init__(file)
        self.where = where

    def find_class(self, module, name):
        key = (module, name)
        if key in _SAFE_GLOBALS:
            return _SAFE_GLOBALS[key]
        if module in _FLYVIS_MODULES and name in _FLYVIS_CLASSES:
            return _record_class(module, name)
        if key in _SKLEARN_RECORDS:
            return _record_class(module, name)
        if module.split(".")[0] in _INERT_PACKAGES:
            return _inert_class(module, name)
        if module == "numpy" and name.startswith(("float", "int", "uint", "bool")):
            dtype_type = getattr(np, name, None)  # numpy scalar types used as dtype args
            if isinstance(dtype_type, type) and issubclass(dtype_type, np.generic):
                return dtype_type
        raise PublishedClusteringError(
            f"{self.where}: refusing to load global {module}.{name}: a flyvis clustering "
            "pickle holds only flyvis's clustering classes, sklearn's GaussianMixture and "
            "MinMaxScaler, numpy arrays and the UMAP reducer")

    def persistent_load(self, pid):
        raise PublishedClusteringError(f"{self.where}: refusing persistent id {pid!r}")


def _find_inert(obj, path, seen):
    """Path of the first inert placeholder reachable from obj (excluding reducers)."""
    if id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, _Inert):
        return f"{path} ({obj._qualname})"
    if isinstance(obj, _Record):
        items = [(k, v) for k, v in obj.__dict__.items()
                 if not (type(obj)._name == "Embedding" and k == "reducer")]
        children = [(f"{path}.{k}", v) for k, v in items]
    elif isinstance(obj, dict):
        children = [(f"{path}[{k!r}]", v) for k, v in obj.items()]
        children += [(f"{path} key", k) for k in obj]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    elif isinstance(obj, np.ndarray) and obj.dtype.hasobject:
        children = [(f"{path}[{i}]", v) for i, v in enumerate(obj.ravel())]
    else:
        children = []
    for child_path, child in children:
        found = _find_inert(child, child_path, seen)
        if found:
            return found
    return None


def load_flyvis_pickle(path):
    """Unpickle a flyvis clustering file with the restricted unpickler (plain records).

    Returns the record of the ``GaussianMixtureClustering`` (attributes in ``__dict__``).
    Raises :class:`PublishedClusteringError` for anything else in the file.
    """
    path = Path(path)
    where = f"published clustering {path}"
    if not path.is_file():
        raise PublishedClusteringError(f"{where} does not exist")
    data = path.read_bytes()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), where).load()
    except PublishedClusteringError:
        raise
    except Exception as e:  # truncated or malformed stream, bad opcode arguments
        raise PublishedClusteringError(f"{where} is not a readable pickle: "
                                       f"{type(e).__name__}: {e}") from None
    if not _is_record(obj, "GaussianMixtureClustering"):
        kind = getattr(obj, "_qualname", type(obj).__name__)
        raise PublishedClusteringError(f"{where} holds {kind}, expected flyvis's "
                                       "GaussianMixtureClustering")
    found = _find_inert(obj, "clustering", set())
    if found:
        raise PublishedClusteringError(f"{where}: unexpected object at {found}; only the UMAP "
                                       "reducer may hold objects other than arrays and records")
    return obj


# -- plain data --------------------------------------------------------------------------------

def _task_error_order(labels, task_error):
    """New label of each old one, flyvis's ``task_error_sort_labels`` (mean, argsort)."""
    occupied = np.unique(labels[labels != INVALID_LABEL])
    errors = [task_error[labels == k].mean() for k in occupied]
    return {int(occupied[old]): new for new, old in enumerate(np.argsort(errors))}


def read_flyvis_clustering(path, network_names=None, task_error=None,
                           cell_type: str | None = None) -> xr.Dataset:
    """Read one flyvis ``umap_and_clustering/<cell type>.pickle`` as plain labelled data.

    No flyvis, sklearn or umap code runs (see the module docstring); a pickle that names
    anything else raises :class:`PublishedClusteringError` without executing it.

    Parameters
    ----------
    path : path of the pickle.
    network_names : sequence of str, optional
        Names of the networks in the ensemble's order (flyvis: model folders 000, 001, ...);
        default ``"000"``, ``"001"``, ...
    task_error : array (networks,), optional
        With it, clusters are renumbered by mean task error of their members (0 = best) as
        flyvis does when it uses the labels (``get_cluster_to_indices``) and as flycluster's
        clustering file does; without it the stored mixture component indices are kept.
    cell_type : str, optional
        Default: the file name's stem.

    Returns
    -------
    xarray.Dataset in the conventions of flycluster's clustering file:
    ``embedding (network, component)`` float64 in [0, 1] (NaN where not clustered);
    ``clustered (network)`` bool, True = clustered (flyvis's ``mask``); ``label (network)``
    int64, -99999 where not clustered; ``bic (n_clusters)`` BIC per k tried (coordinate
    ``n_clusters`` = the k tried, in flyvis's order, duplicates kept); ``weights (cluster)``,
    ``means (cluster, component)``, ``covariances (cluster, component, component_)`` of the
    chosen mixture (full covariances; in label order); ``cluster_size (cluster)``;
    ``task_error (network)`` when given. Attrs: ``n_clusters`` (chosen k),
    ``range_n_clusters`` (as flyvis was called), ``gmm_n_init``, ``gmm_max_iter``,
    ``gmm_random_state``, ``gmm_<kwarg>`` (e.g. ``gmm_tol``), ``label_order`` ("task_error"
    or "stored"), ``cell_type``, ``source``, ``n_networks``.
    """
    path = Path(path)
    where = f"published clustering {path}"
    rec = load_flyvis_pickle(path)
    emb_rec = _field(rec, "embedding")
    if not _is_record(emb_rec, "Embedding"):
        raise PublishedClusteringError(f"{where}: no flyvis Embedding in 'embedding'")
    # flyvis 1.2.0 stores the scaled embedding as ``_embedding`` (property setter); accept a
    # plain ``embedding`` attribute too
    embedding = _field(emb_rec, "_embedding", _field(emb_rec, "embedding"))
    mask = _field(emb_rec, "mask")
    labels = _field(rec, "labels")
    for name, value in (("embedding", embedding), ("mask", mask), ("labels", labels)):
        if not isinstance(value, (np.ndarray, list, tuple)):
            raise PublishedClusteringError(f"{where}: {name} is missing or not an array")
    embedding = np.asarray(embedding, dtype=np.float64)
    if embedding.ndim != 2:
        raise PublishedClusteringError(f"{where}: embedding has shape {embedding.shape}, "
                                       "expected (networks, components)")
    n, n_comp = embedding.shape
    mask = np.asarray(mask, dtype=bool)
    labels = np.asarray(labels, dtype=np.int64)
    if mask.shape != (n,) or labels.shape != (n,):
        raise PublishedClusteringError(f"{where}: mask {mask.shape} / labels {labels.shape} "
                                       f"do not match {n} networks")
    if network_names is None:
        network_names = [f"{i:03d}" for i in range(n)]
    network_names = [str(x) for x in network_names]
    if len(network_names) != n:
        raise PublishedClusteringError(f"{where} has {n} networks, but {len(network_names)} "
                                       "network names were given")
    scores = np.asarray(_field(rec, "scores") if _field(rec, "scores") is not None else [],
                        dtype=np.float64)
    ks = np.asarray(_field(rec, "n_clusters") if _field(rec, "n_clusters") is not None else [],
                    dtype=np.int64)
    if scores.shape != ks.shape:
        raise PublishedClusteringError(f"{where}: {scores.size} BIC scores for {ks.size} k")
    gm = _field(rec, "gm")
    n_components = _field(gm, "n_components") if _is_record(gm) else None
    if not isinstance(n_components, (int, np.integer)) or isinstance(n_components, bool):
        n_components = int(labels[mask].max()) + 1 if mask.any() else 0
    k = int(n_components)
    if mask.any() and (labels[mask].min() < 0 or labels[mask].max() >= k):
        raise PublishedClusteringError(f"{where}: labels of clustered networks must lie in "
                                       f"0..{k - 1}, found {sorted(set(labels[mask]))}")
    weights = np.asarray(_field(gm, "weights_"), np.float64) if _is_record(gm) and \
        _field(gm, "weights_") is not None else np.full(k, np.nan)
    means = np.asarray(_field(gm, "means_"), np.float64) if _is_record(gm) and \
        _field(gm, "means_") is not None else np.full((k, n_comp), np.nan)
    covariances = _full_covariances(gm, k, n_comp)

    order = np.arange(k)
    if task_error is not None:
        task_error = np.asarray(getattr(task_error, "values", task_error), dtype=np.float64)
        if task_error.shape != (n,):
            raise ValueError(f"task_error must have shape ({n},), got {task_error.shape}")
        new_of_old = _task_error_order(labels, task_error)
        relabelled = labels.copy()
        for old, new in new_of_old.items():
            relabelled[labels == old] = new
        labels = relabelled
        inverse = {new: old for old, new in new_of_old.items()}
        order = np.array([inverse.get(c, c) for c in range(k)])
    sizes = np.array([int(np.sum(labels == c)) for c in range(k)], dtype=np.int64)
    ds = xr.Dataset(
        {
            "embedding": (("network", "component"), embedding),
            "clustered": ("network", mask),
            "label": ("network", labels),
            "bic": ("n_clusters", scores),
            "weights": ("cluster", weights[order]),
            "means": (("cluster", "component"), means[order]),
            "covariances": (("cluster", "component", "component_"), covariances[order]),
            "cluster_size": ("cluster", sizes),
        },
        coords={"network": np.asarray(network_names, dtype=object),
                "component": np.arange(n_comp), "component_": np.arange(n_comp),
                "cluster": np.arange(k), "n_clusters": ks},
    )
    if task_error is not None:
        ds["task_error"] = ("network", task_error)
    ds["label"].attrs["description"] = f"cluster index; {INVALID_LABEL} = not clustered"
    ds["clustered"].attrs["description"] = "True = embedded and clustered (flyvis 'mask')"
    range_n = _field(rec, "range_n_clusters")
    range_n = np.asarray(ks if range_n is None else range_n, dtype=np.int64)
    attrs = {"n_clusters": k, "range_n_clusters": range_n,
             "label_order": "task_error" if task_error is not None else "stored",
             "cell_type": cell_type or path.stem, "n_networks": n,
             "source": f"flyvis umap_and_clustering pickle {path.name}"}
    for key in ("n_init", "max_iter", "random_state"):
        value = _field(rec, key)
        if isinstance(value, (int, float, np.integer, np.floating)):
            attrs[f"gmm_{key}"] = value
    for key, value in (_field(rec, "kwargs") or {}).items():
        if isinstance(value, (int, float, str, np.integer, np.floating)):
            attrs[f"gmm_{key}"] = value
    ds.attrs.update(attrs)
    return ds


def _full_covariances(gm, k, d):
    if not _is_record(gm) or _field(gm, "covariances_") is None:
        return np.full((k, d, d), np.nan)
    cov = np.asarray(_field(gm, "covariances_"), np.float64)
    kind = _field(gm, "covariance_type", "full")
    if kind == "full":
        return cov
    if kind == "tied":
        return np.repeat(cov[None], k, axis=0)
    if kind == "diag":
        return np.stack([np.diag(c) for c in cov])
    return np.stack([np.eye(d) * c for c in cov])  # spherical


def read_flyvis_clusterings(folder, cell_types=None, **kwargs) -> dict[str, xr.Dataset]:
    """Every ``<cell type>.pickle`` of a flyvis ``umap_and_clustering`` folder (or those of
    ``cell_types``), read with :func:`read_flyvis_clustering`; dict cell type -> Dataset."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishedClusteringError(f"published clusterings folder {folder} does not exist")
    if cell_types is None:
        paths = sorted(folder.glob("*.pickle"))
    else:
        paths = [folder / f"{c}.pickle" for c in cell_types]
    return {p.stem: read_flyvis_clustering(p, **kwargs) for p in paths}


# -- comparison --------------------------------------------------------------------------------

def _clustered(ds):
    for name in ("clustered", "mask"):
        if name in ds:
            return np.asarray(ds[name].values, dtype=bool)
    return np.asarray(ds["label"].values) != INVALID_LABEL


def _k_range(ds, keys):
    for key in keys:
        if key in ds.attrs:
            return sorted({int(k) for k in np.atleast_1d(ds.attrs[key])})
    if "n_clusters" in ds.coords:
        return sorted({int(k) for k in np.atleast_1d(ds["n_clusters"].values)})
    return []


def compare_clusterings(ours: xr.Dataset, published: xr.Dataset) -> dict:
    """Our clustering of a cell type against flyvis's published one.

    Parameters
    ----------
    ours : flycluster clustering Dataset (``label``, ``clustered`` or ``mask``, attrs
        ``n_clusters`` and ``gmm_range_n_clusters``), coordinate ``network``.
    published : Dataset from :func:`read_flyvis_clustering`.

    Networks are matched by name (the ``network`` coordinates); the ARI (sklearn's
    ``adjusted_rand_score``, invariant to label numbering) is computed over the networks
    clustered in both.

    Returns
    -------
    dict with ``published_k``, ``our_k``, ``ari`` (NaN when fewer than 2 networks are
    clustered in both), ``n_compared`` (networks clustered in both), ``n_ours``,
    ``n_published`` (networks of each), ``our_k_range``, ``published_k_range`` (sorted distinct
    k tried, as "1,2,3,4,5"), ``same_k_range`` (bool); flyvis's stored results used
    ``range_n_clusters=[2, 3, 3, 4, 5]``, i.e. never k = 1, the notebook and flycluster's
    default 1..5, so ``same_k_range`` is False for the default configuration.
    """
    from sklearn.metrics import adjusted_rand_score

    our_names = [str(x) for x in ours["network"].values]
    pub_names = [str(x) for x in published["network"].values]
    common = [x for x in our_names if x in set(pub_names)]
    our_index = {x: i for i, x in enumerate(our_names)}
    pub_index = {x: i for i, x in enumerate(pub_names)}
    oi = np.array([our_index[x] for x in common], dtype=int)
    pi = np.array([pub_index[x] for x in common], dtype=int)
    both = _clustered(ours)[oi] & _clustered(published)[pi] if len(common) else np.zeros(0, bool)
    our_labels = np.asarray(ours["label"].values)[oi][both]
    pub_labels = np.asarray(published["label"].values)[pi][both]
    ari = float(adjusted_rand_score(pub_labels, our_labels)) if both.sum() >= 2 else float("nan")
    our_range = _k_range(ours, ("gmm_range_n_clusters", "range_n_clusters"))
    pub_range = _k_range(published, ("range_n_clusters", "gmm_range_n_clusters"))
    return {
        "published_k": int(published.attrs.get("n_clusters", len(np.unique(pub_labels)))),
        "our_k": int(ours.attrs.get("n_clusters", len(np.unique(our_labels)))),
        "ari": ari,
        "n_compared": int(both.sum()),
        "n_ours": len(our_names),
        "n_published": len(pub_names),
        "our_k_range": ",".join(map(str, our_range)),
        "published_k_range": ",".join(map(str, pub_range)),
        "same_k_range": our_range == pub_range,
    }


def align_labels(published: xr.Dataset, ours: xr.Dataset) -> xr.Dataset:
    """The published clustering with its clusters renumbered to best match ours.

    Hungarian assignment (scipy ``linear_sum_assignment``) on the contingency table of the
    networks clustered in both; unmatched published clusters get the next free numbers. The
    partition is unchanged (ARI identical); the mixture parameters follow the numbering.
    Attr ``label_order`` becomes "matched".
    """
    from scipy.optimize import linear_sum_assignment

    k_pub = int(published.attrs["n_clusters"])
    if k_pub == 0:
        return published.copy()
    our_names = {str(x): i for i, x in enumerate(ours["network"].values)}
    pub_labels = published["label"].values
    our_labels_all = np.asarray(ours["label"].values)
    k_ours = int(ours.attrs.get("n_clusters", our_labels_all.max() + 1 if our_labels_all.size
                                else 0))
    table = np.zeros((k_pub, max(k_ours, 1)), dtype=np.int64)
    clustered = _clustered(published)
    ours_clustered = _clustered(ours)
    for j, name in enumerate(str(x) for x in published["network"].values):
        i = our_names.get(name)
        if i is None or not clustered[j] or not ours_clustered[i]:
            continue
        if 0 <= our_labels_all[i] < table.shape[1]:
            table[pub_labels[j], our_labels_all[i]] += 1
    rows, cols = linear_sum_assignment(-table)
    new_of_old = {int(r): int(c) for r, c in zip(rows, cols)}
    free = iter(sorted(set(range(max(k_pub, table.shape[1]))) - set(new_of_old.values())))
    for old in range(k_pub):
        if old not in new_of_old:
            new_of_old[old] = next(free)
    # keep cluster numbers contiguous 0..k_pub-1 (a published k above ours keeps the extras)
    ranks = {new: rank for rank, new in enumerate(sorted(new_of_old.values()))}
    new_of_old = {old: ranks[new] for old, new in new_of_old.items()}
    out = published.copy(deep=True)
    labels = pub_labels.copy()
    for old, new in new_of_old.items():
        labels[pub_labels == old] = new
    out["label"].values[:] = labels
    order = np.empty(k_pub, dtype=np.int64)
    for old, new in new_of_old.items():
        order[new] = old
    for name in ("weights", "means", "covariances", "cluster_size"):
        if name in out and out[name].sizes.get("cluster", 0) == k_pub:
            out[name] = out[name].isel(cluster=order).assign_coords(cluster=np.arange(k_pub))
    out.attrs["label_order"] = "matched"
    return out


def published_comparison_table(ours_by_type, folder, network_names=None):
    """One row per cell type of :func:`compare_clusterings` against ``folder``'s pickles.

    Parameters
    ----------
    ours_by_type : mapping cell type -> our clustering Dataset.
    folder : flyvis's ``umap_and_clustering`` folder.
    network_names : names of the published networks in the ensemble's order (default
        "000", "001", ...; they must match our ``network`` names to be compared).

    Returns
    -------
    pandas.DataFrame indexed by ``cell_type`` with the :func:`compare_clusterings` columns and
    ``published_file`` ("" where the folder has no pickle for the type: the other published
    columns are then NaN / empty, never a guess).
    """
    import pandas as pd

    folder = Path(folder)
    if not folder.is_dir():
        raise PublishedClusteringError(f"published clusterings folder {folder} does not exist")
    rows = []
    for cell_type, ours in ours_by_type.items():
        path = folder / f"{cell_type}.pickle"
        if not path.is_file():
            rows.append({"cell_type": cell_type, "published_k": np.nan,
                         "our_k": int(ours.attrs.get("n_clusters", 0)), "ari": np.nan,
                         "n_compared": 0, "same_k_range": None, "published_file": ""})
            continue
        published = read_flyvis_clustering(path, network_names=network_names,
                                           cell_type=cell_type)
        rows.append({"cell_type": cell_type, **compare_clusterings(ours, published),
                     "published_file": path.name})
    return pd.DataFrame(rows).set_index("cell_type")
