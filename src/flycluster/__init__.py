"""flycluster: simulate ensembles of flyvis-style connectome-constrained networks and
cluster the models per cell type.

Heavy submodules are imported lazily so that ``import flycluster`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_network": ("flycluster.network", "load_network"),
    "Network": ("flycluster.network", "Network"),
    "load_connectome": ("flycluster.connectome", "load_connectome"),
    "Connectome": ("flycluster.connectome", "Connectome"),
}

#: subpackages and modules reachable as attributes (``flycluster.clustering``) without an import
_SUBMODULES = frozenset({"checkpoints", "clustering", "config", "connectome", "formats", "kernels", "network",
                         "parameters", "plots", "responses", "stimuli", "summary", "synthetic", "tuning"})

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"flycluster.{name}")
    raise AttributeError(f"module 'flycluster' has no attribute {name!r}")
