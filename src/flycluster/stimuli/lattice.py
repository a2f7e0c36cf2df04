"""The hexagonal lattice of ommatidia in flyvis order.

Hexals are addressed by axial coordinates (u, v). A regular lattice of ``extent`` n holds
every (u, v) with ``|u| <= n``, ``|v| <= n`` and ``|u + v| <= n`` (``3 n (n + 1) + 1`` hexals,
721 for n = 15), ordered u-major (u ascending, then v ascending) exactly like flyvis's
``get_hex_coords``. All arrays indexed by hexal in flycluster use this order.

Augmentation permutations follow flyvis's ``HexFlip``/``HexRotate``: a permutation ``p`` is
applied as ``values[..., p]``; the value at output hexal k comes from the input hexal that the
transform moves onto hexal k.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

__all__ = [
    "n_hexals",
    "extent_from_n_hexals",
    "hex_coordinates",
    "hex_distance",
    "flip_permutation",
    "rotation_permutation",
    "augmentation_permutation",
    "hex_to_pixel",
    "box_eye_centers",
]


def _check_extent(extent) -> int:
    if isinstance(extent, bool) or not isinstance(extent, (int, np.integer)) or extent < 0:
        raise ValueError(f"extent must be a non-negative integer, got {extent!r}")
    return int(extent)


def n_hexals(extent: int) -> int:
    """Number of hexals of a regular lattice of ``extent`` (721 for 15)."""
    extent = _check_extent(extent)
    return 3 * extent * (extent + 1) + 1


def extent_from_n_hexals(count: int) -> int:
    """Inverse of :func:`n_hexals`; raises ValueError if ``count`` fills no regular lattice."""
    extent = int(round((-3 + np.sqrt(9 + 12 * (count - 1))) / 6)) if count > 0 else -1
    if extent < 0 or n_hexals(extent) != count:
        raise ValueError(f"{count} hexals do not fill a regular hexagonal lattice")
    return extent


@lru_cache(maxsize=32)
def _coordinates(extent: int) -> tuple[np.ndarray, np.ndarray]:
    u, v = [], []
    for uu in range(-extent, extent + 1):
        for vv in range(max(-extent, -extent - uu), min(extent, extent - uu) + 1):
            u.append(uu)
            v.append(vv)
    u, v = np.array(u, dtype=np.int64), np.array(v, dtype=np.int64)
    u.flags.writeable = False
    v.flags.writeable = False
    return u, v


def hex_coordinates(extent: int = 15) -> tuple[np.ndarray, np.ndarray]:
    """Axial coordinates (u, v) of a regular lattice, u-major order, int64 arrays (n_hexals,)."""
    u, v = _coordinates(_check_extent(extent))
    return u.copy(), v.copy()


def hex_distance(u, v, u0: int = 0, v0: int = 0) -> np.ndarray:
    """Hexagonal (column) distance between (u, v) and (u0, v0)."""
    du, dv = np.asarray(u) - u0, np.asarray(v) - v0
    return (np.abs(du) + np.abs(dv) + np.abs(du + dv)) // 2


def _permutation_to(u_new: np.ndarray, v_new: np.ndarray) -> np.ndarray:
    # the transformed coordinates are a permutation of the lattice; sorting them u-major
    # tells, for each output hexal, which input hexal lands there.
    return np.lexsort((v_new, u_new)).astype(np.int64)


@lru_cache(maxsize=64)
def _flip(extent: int, axis: int) -> np.ndarray:
    u, v = _coordinates(extent)
    if axis == 0:
        return np.arange(len(u), dtype=np.int64)
    if axis == 1:  # mirror across v = 0 (the horizontal axis)
        return _permutation_to(u + v, -v)
    if axis == 2:  # mirror across u = 0
        return _permutation_to(-u, u + v)
    if axis == 3:  # mirror across u + v = 0
        return _permutation_to(-v, -u)
    raise ValueError(f"flip axis must be 0, 1, 2 or 3, got {axis!r}")


def flip_permutation(extent: int = 15, axis: int = 1) -> np.ndarray:
    """Permutation (n_hexals,) that mirrors a lattice as flyvis's ``HexFlip(axis)``.

    Axis 1 (the one AugmentedSintel uses) maps (u, v) -> (u + v, -v); axis 0 is the identity.
    """
    return _flip(_check_extent(extent), int(axis)).copy()


@lru_cache(maxsize=64)
def _rotation(extent: int, n: int) -> np.ndarray:
    u, v = _coordinates(extent)
    for _ in range(n % 6):
        u, v = -v, u + v  # 60 degrees counter-clockwise
    return _permutation_to(u, v)


def rotation_permutation(extent: int = 15, n: int = 1) -> np.ndarray:
    """Permutation (n_hexals,) rotating a lattice by ``n`` x 60 degrees: (u, v) -> (-v, u + v)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise ValueError(f"number of rotations must be an integer, got {n!r}")
    return _rotation(_check_extent(extent), int(n) % 6).copy()


def augmentation_permutation(extent: int, flip_axis: int, n_rot: int) -> np.ndarray:
    """Single permutation equal to flipping first, then rotating (as AugmentedSintel does)."""
    flip = _flip(_check_extent(extent), int(flip_axis))
    rot = _rotation(int(extent), int(n_rot) % 6)
    # rotate(flip(x)) = x[flip][rot] = x[flip[rot]]
    return flip[rot]


def hex_to_pixel(u, v, scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Cartesian positions (x, y) of hexal centres for plotting (pointy side along v).

    x grows with v, y with -(u + v/2), matching the image rows/columns that BoxEye samples
    (row ~ u + v/2, column ~ v) with the image's row axis flipped to point up; so an edge
    moving at 0 deg goes right and at 90 deg goes up. This is flyvis's ``hex_to_pixel``
    (mode "default") divided by sqrt(3): neighbouring centres are ``scale`` apart.
    """
    u = np.asarray(u, dtype=float)
    v = np.asarray(v, dtype=float)
    x = scale * v * np.sqrt(3) / 2
    y = -scale * (u + v / 2)
    return x, y


def box_eye_centers(extent: int = 15, kernel_size: int = 13) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets (row, col) of the hexal centres from the image centre, as flyvis BoxEye.

    row = trunc(kernel_size * (u + v / 2)), col = kernel_size * v (int64 arrays).
    """
    u, v = _coordinates(_check_extent(extent))
    rows = np.trunc(kernel_size * (u + v / 2)).astype(np.int64)
    cols = (kernel_size * v).astype(np.int64)
    return rows, cols
