"""umap's numba functions cached on disk.

umap's first fit in a process spends ~15 s compiling its numba functions.
:func:`enable_umap_jit_cache` turns on numba's on-disk cache for umap and pynndescent, so only
the first process ever pays it. The cache goes where numba puts it: ``$NUMBA_CACHE_DIR`` when
set (set it to a shared folder for cluster jobs), else ``__pycache__`` next to umap's sources
when writable, else ``~/.cache/numba``-style user cache folders.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import version
from typing import Any, Mapping

import numpy as np

from flycluster.clustering.parameters import minimum_networks, resolve_umap_kwargs

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
    from flycluster.clustering.embedding import embed  # embedding imports this module

    switched = enable_umap_jit_cache()
    kwargs = resolve_umap_kwargs(umap_kwargs)
    rng = np.random.default_rng(random_state)
    X = rng.standard_normal((minimum_networks(kwargs) + 4, n_features)).astype(np.float32)
    embed(X, kwargs, threads=1)
    return {"functions_switched": switched,
            "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR", ""),
            "version_numba": version("numba"), "version_umap": version("umap-learn")}

