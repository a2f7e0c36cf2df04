"""Optic-flow targets on the hexagonal lattice, in flyvis's Sintel conventions.

flyvis's ``MultiTaskSintel`` (task ``flow``) reads MPI-Sintel's ``training/flow/<scene>/
frame_XXXX.flo`` files: forward flow (u, v) in pixels per Sintel frame (1/24 s) from frame k
to frame k + 1, u along columns (right), v along rows (down). It converts each field to

    (u / H, -v / H)          H = the image height in pixels (436 for Sintel)

(y inverted: up is positive), cuts the same centre crop and vertical splits as the luminance
and renders each component with the BoxEye as a **sum** (not a mean) of the 13 x 13 box around
each hexal centre (zero padded). Luminance frame k (k >= 1; frame 0 is dropped) is paired with
flow file k - 1, i.e. with the motion from frame k - 1 to frame k, defined on frame k - 1's
pixel grid. The targets are not scaled by the simulation time step: after resampling to
1/dt they are still per Sintel frame (1/24 s).

This module renders the same quantity for the photo movies of
:mod:`flycluster.stimuli.photos` and for procedural textures moved the same way, where the
flow is known exactly from the camera motion, and reads Sintel's ``.flo`` files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flycluster.errors import StimulusError
from flycluster.stimuli.augment import vertical_split_windows
from flycluster.stimuli.render import box_eye

__all__ = ["FLO_MAGIC", "read_flo", "write_flo", "flo_to_flyvis", "camera_flow",
           "box_eye_sum", "render_flow_splits"]

FLO_MAGIC = np.float32(202021.25)


def read_flo(path) -> np.ndarray:
    """Read a Middlebury/Sintel ``.flo`` file -> float32 (H, W, 2) (u right, v down; px/frame).

    Format: float32 magic 202021.25, int32 width, int32 height, then H x W x 2 float32
    (little endian), row-major.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise StimulusError(f"cannot read flow file {path}: {e}") from None
    if len(raw) < 12 or np.frombuffer(raw[:4], "<f4")[0] != FLO_MAGIC:
        raise StimulusError(f"{path}: not a .flo file (expected the float32 magic 202021.25 "
                            "at its start)")
    width, height = (int(x) for x in np.frombuffer(raw[4:12], "<i4"))
    expected = 12 + 4 * 2 * width * height
    if width <= 0 or height <= 0 or len(raw) != expected:
        raise StimulusError(f"{path}: header says {width} x {height} px, which needs "
                            f"{expected} bytes; the file has {len(raw)}")
    return np.frombuffer(raw[12:], "<f4").reshape(height, width, 2).copy()


def write_flo(path, flow) -> None:
    """Write float (H, W, 2) flow as a ``.flo`` file (the inverse of :func:`read_flo`)."""
    flow = np.asarray(flow, dtype="<f4")
    if flow.ndim != 3 or flow.shape[2] != 2:
        raise StimulusError(f"flow must have shape (H, W, 2), got {flow.shape}")
    with open(path, "wb") as f:
        np.array([FLO_MAGIC], "<f4").tofile(f)
        np.array([flow.shape[1], flow.shape[0]], "<i4").tofile(f)
        flow.tofile(f)


def flo_to_flyvis(flow: np.ndarray, height: int | None = None) -> np.ndarray:
    """(H, W, 2) px/frame -> (2, H, W) flyvis units: (u / H, -v / H) (y up)."""
    flow = np.asarray(flow, dtype=np.float32)
    h = flow.shape[0] if height is None else height
    out = np.empty((2,) + flow.shape[:2], dtype=np.float32)
    out[0] = flow[..., 0] / h
    out[1] = -flow[..., 1] / h
    return out


def _pose(motion: dict, t: int):
    return (motion["shift_row"][t], motion["shift_col"][t], motion["angle"][t],
            motion["zoom"][t])


def camera_flow(motion: dict, t: int, height: int = 436, width: int = 1024,
                columns: tuple[int, int] | None = None) -> np.ndarray:
    """Exact forward flow (px/frame) of a photo movie from frame ``t`` to ``t + 1``.

    ``motion`` is a :func:`flycluster.stimuli.photos.self_motion` dict; a view pixel at
    centred offsets (r, c) in frame t sees the world point ``w = shift_t + R(a_t) (r, c) / z_t``
    (as :func:`~flycluster.stimuli.photos.photo_movie` renders); in frame t + 1 that point is
    at ``z_{t+1} R(-a_{t+1}) (w - shift_{t+1})``. Returns float32 (H, W, 2) = (d column,
    d row) on frame t's grid, like a Sintel ``.flo`` field; columns outside ``columns`` are 0.
    """
    rows = np.arange(height) - (height - 1) / 2
    cols = np.arange(width) - (width - 1) / 2
    start, stop = columns if columns is not None else (0, width)
    r, c = np.meshgrid(rows, cols[start:stop], indexing="ij")
    sr0, sc0, a0, z0 = _pose(motion, t)
    sr1, sc1, a1, z1 = _pose(motion, t + 1)
    wr = sr0 + (np.cos(a0) * r - np.sin(a0) * c) / z0 - sr1
    wc = sc0 + (np.sin(a0) * r + np.cos(a0) * c) / z0 - sc1
    r1 = z1 * (np.cos(a1) * wr + np.sin(a1) * wc)
    c1 = z1 * (-np.sin(a1) * wr + np.cos(a1) * wc)
    flow = np.zeros((height, width, 2), dtype=np.float32)
    flow[:, start:stop, 0] = c1 - c
    flow[:, start:stop, 1] = r1 - r
    return flow


def box_eye_sum(frames, extent: int = 15, kernel_size: int = 13) -> np.ndarray:
    """BoxEye with flyvis's ``ftype="sum"``: sum of the zero-padded box -> float32 (T, n_hexals)."""
    frames = np.asarray(frames, dtype=np.float32)
    return (box_eye(frames, extent, kernel_size).astype(np.float64)
            * kernel_size**2).astype(np.float32)


def render_flow_splits(flow_frames, vertical_splits: int = 3, center_crop_fraction: float = 0.7,
                       extent: int = 15, kernel_size: int = 13) -> list[np.ndarray]:
    """flyvis-unit flow frames (T, 2, H, W) -> one float32 (T, 2, n_hexals) per vertical split.

    Same column windows as the luminance (:func:`~flycluster.stimuli.augment.
    vertical_split_windows`); each component box-summed.
    """
    flow_frames = np.asarray(flow_frames, dtype=np.float32)
    if flow_frames.ndim != 4 or flow_frames.shape[1] != 2:
        raise StimulusError(f"flow frames must have shape (T, 2, H, W), got {flow_frames.shape}")
    windows = vertical_split_windows(flow_frames.shape[-1], vertical_splits,
                                     center_crop_fraction, extent, kernel_size)
    return [np.stack([box_eye_sum(flow_frames[:, k, :, a:b], extent, kernel_size)
                      for k in range(2)], axis=1) for a, b in windows]
