"""Stimulus sets on the hexagonal fly eye (lattice, rendering, naturalistic movies, edges).

Submodules (imported lazily so that ``import flycluster.stimuli`` stays light):

- :mod:`~flycluster.stimuli.lattice`: hex coordinates in flyvis order, flip/rotation permutations.
- :mod:`~flycluster.stimuli.render`: ``box_eye`` (BoxEye) and ``HexEye`` as flyvis.
- :mod:`~flycluster.stimuli.augment`: split, flip, rotate, resample (AugmentedSintel pipeline).
- :mod:`~flycluster.stimuli.photos`: naturalistic photo movies (embedded offline default).
- :mod:`~flycluster.stimuli.sintel`: MPI-Sintel as flyvis AugmentedSintel.
- :mod:`~flycluster.stimuli.edges`: moving edges and flashes.
- :mod:`~flycluster.stimuli.io`: stimulus netCDF files (write, read + validate).
- :mod:`~flycluster.stimuli.build`: ``build_stimulus_set(name, spec, random_state)``.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "build_stimulus_set": "flycluster.stimuli.build",
    "check_spec": "flycluster.stimuli.build",
    "box_eye": "flycluster.stimuli.render",
    "HexEye": "flycluster.stimuli.render",
    "moving_edges": "flycluster.stimuli.edges",
    "flashes": "flycluster.stimuli.edges",
    "photo_movies": "flycluster.stimuli.photos",
    "augmented_sintel": "flycluster.stimuli.sintel",
    "write_stimulus": "flycluster.stimuli.io",
    "read_stimulus": "flycluster.stimuli.io",
    "validate_stimulus": "flycluster.stimuli.io",
    "hex_coordinates": "flycluster.stimuli.lattice",
    "flip_permutation": "flycluster.stimuli.lattice",
    "rotation_permutation": "flycluster.stimuli.lattice",
    "hex_to_pixel": "flycluster.stimuli.lattice",
}
_SUBMODULES = {"lattice", "render", "augment", "photos", "sintel", "edges", "io", "build"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"flycluster.stimuli.{name}")
    raise AttributeError(f"module 'flycluster.stimuli' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
