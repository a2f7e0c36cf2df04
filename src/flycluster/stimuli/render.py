"""Rendering cartesian images onto the hexagonal lattice: BoxEye and HexEye as flyvis.

- :func:`box_eye`: mean of a ``kernel_size`` x ``kernel_size`` box (zero padded) around each
  hexal centre, centres at row ``H//2 + trunc(k (u + v/2))``, column ``W//2 + k v``; frames
  smaller than the lattice (391 x 391 px for extent 15, k = 13) are first resized bilinearly
  to that size, as flyvis's ``BoxEye`` does. Used for Sintel and photo movies.
- :class:`HexEye`: mean of the pixels inside each hexagon of a ``ppo`` pixels-per-ommatidium
  monitor (775 x 775 px for 721 hexals). Membership is computed with flyvis's float16
  arithmetic so that the same pixels fall inside each hexagon. Used for moving edges.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from flycluster.errors import StimulusError
from flycluster.stimuli.lattice import box_eye_centers, extent_from_n_hexals, hex_coordinates

__all__ = ["box_eye", "box_eye_min_frame_size", "HexEye", "hex_eye"]


def box_eye_min_frame_size(extent: int = 15, kernel_size: int = 13) -> tuple[int, int]:
    """Smallest (height, width) in pixels holding every BoxEye hexal centre (391, 391)."""
    rows, cols = box_eye_centers(extent, kernel_size)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def _resize_bilinear(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[:, None]
    # torchvision's tensor resize (used by flyvis) is this call with antialias on
    y = F.interpolate(x, size=list(size), mode="bilinear", align_corners=False, antialias=True)
    return y[:, 0].numpy()


def box_eye(frames, extent: int = 15, kernel_size: int = 13) -> np.ndarray:
    """Render cartesian frames onto the hexagonal lattice like flyvis's BoxEye.

    Parameters
    ----------
    frames : array (T, H, W) or (H, W)
        Luminance in [0, 1]; (H, W) is treated as a single frame.
    extent : int
        Lattice radius in columns (15 -> 721 hexals).
    kernel_size : int
        Box side in pixels and hexal spacing (13 in flyvis).

    Returns
    -------
    numpy.ndarray, float32, shape (T, n_hexals)
        Box mean at each hexal centre, hexals in flyvis (u-major) order.
    """
    frames = np.asarray(frames)
    if frames.ndim == 2:
        frames = frames[None]
    if frames.ndim != 3:
        raise StimulusError(f"box_eye expects frames of shape (T, H, W), got {frames.shape}")
    if kernel_size < 1:
        raise StimulusError(f"kernel_size must be >= 1, got {kernel_size}")
    min_h, min_w = box_eye_min_frame_size(extent, kernel_size)
    if frames.shape[1] < min_h or frames.shape[2] < min_w:
        frames = _resize_bilinear(frames, (min_h, min_w))
    n_frames, height, width = frames.shape
    # integral image in float64: window sums exact to ~1e-13
    integral = np.zeros((n_frames, height + 1, width + 1), dtype=np.float64)
    np.cumsum(frames, axis=1, dtype=np.float64, out=integral[:, 1:, 1:])
    np.cumsum(integral[:, 1:, 1:], axis=2, out=integral[:, 1:, 1:])
    d_rows, d_cols = box_eye_centers(extent, kernel_size)
    before = int(np.ceil((kernel_size - 1) / 2))  # zero padding before, as flyvis's pad
    rows = height // 2 + d_rows
    cols = width // 2 + d_cols
    r0 = np.clip(rows - before, 0, height)
    r1 = np.clip(rows - before + kernel_size, 0, height)
    c0 = np.clip(cols - before, 0, width)
    c1 = np.clip(cols - before + kernel_size, 0, width)
    sums = integral[:, r1, c1] - integral[:, r0, c1] - integral[:, r1, c0] + integral[:, r0, c0]
    means = sums / kernel_size**2
    # the integral-image differences carry ~1e-13 rounding; keep means inside the data range
    # (zero padding included) so that [0, 1] frames give [0, 1] hexals
    np.clip(means, min(float(frames.min()), 0.0), max(float(frames.max()), 0.0), out=means)
    return means.astype(np.float32)


class HexEye:
    """Hexagonal monitor eye as flyvis's ``HexEye(n_ommatidia, ppo)``.

    A ``(2 extent + 1) ppo`` square monitor (775 px for extent 15, ppo 25); hexal i averages
    the pixels inside a hexagon of apothem ``ppo / 2`` centred at column ``W//2 + ppo v`` and
    row ``H//2 + ppo (u + v/2)``.

    Attributes
    ----------
    size : int
        Monitor side in pixels.
    pixel_index : ndarray (n_entries,)
        Flat (row-major) pixel indices inside hexagons.
    hexal_index : ndarray (n_entries,)
        Hexal of each entry.
    count : ndarray (n_hexals,)
        Pixels per hexagon.
    """

    def __init__(self, extent: int = 15, ppo: int = 25):
        self.extent = int(extent)
        self.ppo = int(ppo)
        self.size = self.ppo * (2 * self.extent + 1)
        self.pixel_index, self.hexal_index, self.count = _hexagon_membership(self.extent, self.ppo)
        self.n_hexals = len(self.count)

    def __call__(self, images) -> np.ndarray:
        """Mean luminance per hexagon: images (T, size, size) -> float64 (T, n_hexals)."""
        images = np.asarray(images, dtype=np.float64)
        if images.ndim == 2:
            images = images[None]
        if images.shape[1:] != (self.size, self.size):
            raise StimulusError(
                f"HexEye expects images of {self.size}x{self.size} px, got {images.shape[1:]}"
            )
        flat = images.reshape(len(images), -1)
        sums = np.zeros((len(images), self.n_hexals))
        for t in range(len(images)):
            sums[t] = np.bincount(self.hexal_index, weights=flat[t, self.pixel_index],
                                  minlength=self.n_hexals)
        return sums / self.count


@lru_cache(maxsize=4)
def _hexagon_membership(extent: int, ppo: int):
    import torch

    half = torch.float16
    size = ppo * (2 * extent + 1)
    u, v = hex_coordinates(extent)
    spacing = size / (2 * extent + 1)
    # hexagon centres: x along columns, y along rows (pixel units)
    x_c = spacing * v + size // 2
    y_c = spacing * (u + v / 2) + size // 2
    # flyvis builds the hexagon from float16 vertices; rounding decides boundary pixels.
    tilt = torch.tensor(0.0, dtype=half)
    rot = torch.tensor([[torch.cos(tilt), -torch.sin(tilt)], [torch.sin(tilt), torch.cos(tilt)]],
                       dtype=half)
    pi = torch.tensor(np.pi, dtype=half)
    rot60 = torch.tensor([[torch.cos(pi / 3), -torch.sin(pi / 3)],
                          [torch.sin(pi / 3), torch.cos(pi / 3)]], dtype=half)
    dist_to_edge = torch.tensor((spacing + spacing) / 4, dtype=half)
    dist_to_vertex = 2 / np.sqrt(3) * dist_to_edge
    vertices = torch.zeros(7, 2, dtype=half)
    vertices[0] = rot @ torch.tensor([dist_to_vertex, 0], dtype=half)
    for i in range(1, 7):
        vertices[i] = rot60 @ vertices[i - 1]
    xc = torch.tensor(x_c, dtype=half)
    yc = torch.tensor(y_c, dtype=half)
    vx = vertices[:, 0:1] + xc[None]  # (7, n_hexals)
    vy = vertices[:, 1:2] + yc[None]
    # candidate pixels: a window around each centre (the hexagon's circumradius is ppo/sqrt(3))
    reach = int(np.ceil(ppo / np.sqrt(3))) + 3
    offsets = np.arange(-reach, reach + 1)
    rows = np.round(y_c).astype(np.int64)[:, None, None] + offsets[None, :, None]
    cols = np.round(x_c).astype(np.int64)[:, None, None] + offsets[None, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)
    rows = rows.reshape(len(u), -1)
    cols = cols.reshape(len(u), -1)
    valid = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    px = torch.tensor(np.clip(cols, 0, size - 1), dtype=half)  # point x = column
    py = torch.tensor(np.clip(rows, 0, size - 1), dtype=half)  # point y = row
    inside = torch.ones(px.shape, dtype=torch.bool)
    for i in range(6):
        x1, y1, x2, y2 = vx[i], vy[i], vx[i + 1], vy[i + 1]
        slope = (y2 - y1) / (x2 - x1)
        f_centre = y1 + slope * (xc - x1) - yc
        f_points = y1[:, None] + slope[:, None] * (px - x1[:, None]) - py
        inside &= f_centre.sign()[:, None] == f_points.sign()
    inside = inside.numpy() & valid
    hexal_index, entry = np.nonzero(inside)
    pixel_index = rows[hexal_index, entry] * size + cols[hexal_index, entry]
    count = np.bincount(hexal_index, minlength=len(u)).astype(np.float64)
    if (count == 0).any():
        raise StimulusError(f"HexEye(extent={extent}, ppo={ppo}) has empty hexagons")
    return pixel_index, hexal_index, count


def hex_eye(images, n_hexals: int = 721, ppo: int = 25) -> np.ndarray:
    """Functional form of :class:`HexEye`: images (T, size, size) -> float64 (T, n_hexals)."""
    return HexEye(extent_from_n_hexals(n_hexals), ppo)(images)
