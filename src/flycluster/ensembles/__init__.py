"""Trained ensembles shipped with flycluster (the ``shipped`` ensemble kind).

Each sub-folder is an ensemble in the form flyvis releases its ensembles in: one folder per
network with a single checkpoint (``chkpts/chkpt_00000``), ``validation/loss.h5`` and
``_meta.yaml`` (made by ``tools/export_ensemble.py``), and a ``README.md`` saying how it was
trained, with the exact config and commands that reproduce it.
"""

from __future__ import annotations

from pathlib import Path

from flycluster.errors import ConfigError

__all__ = ["SHIPPED_DIR", "available", "shipped_ensemble"]

#: where the shipped ensembles are (inside the installed package)
SHIPPED_DIR = Path(__file__).resolve().parent


def available() -> list[str]:
    """Names of the shipped ensembles (folders holding networks)."""
    return sorted(p.name for p in SHIPPED_DIR.iterdir()
                  if p.is_dir() and not p.name.startswith(("_", ".")))


def shipped_ensemble(name: str) -> Path:
    """The folder of shipped ensemble ``name``; a :class:`ConfigError` naming the key and the
    shipped ensembles if there is none of that name."""
    if name not in available():
        raise ConfigError(f"config key ensemble.shipped: no shipped ensemble {name!r} "
                          f"(shipped: {', '.join(available()) or 'none'})")
    return SHIPPED_DIR / name
