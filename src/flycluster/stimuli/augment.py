"""Split, flip, rotate and resample: the AugmentedSintel pipeline, shared by Sintel and photos.

Given movies of cartesian frames recorded at ``framerate`` (24 frames/s for Sintel):

1. :func:`vertical_split_windows`: centre-crop the columns to ``center_crop_fraction`` and cut
   ``vertical_splits`` overlapping windows of ``box width`` columns (417 px for extent 15 and
   kernel 13): column windows [154, 571), [303, 720), [452, 869) of a 1024 px Sintel frame.
2. each window is rendered with :func:`~flycluster.stimuli.render.box_eye` -> (T, 721).
3. :func:`temporal_split_windows`: ``round(T / clip_frames)`` overlapping clips of
   ``clip_frames`` frames (one clip of the first ``clip_frames`` frames when that is <= 1).
4. every clip x flip axis x number of 60-degree rotations (flip first, then rotate), sample
   index ``clip * n_flips * n_rots + flip * n_rots + rot``.
5. :func:`resample_indices`: nearest-exact resampling from ``framerate`` to ``1 / dt``:
   ``ceil(clip_frames / (framerate dt))`` frames (80 for 19 frames at dt = 1/100).

Sample table columns as flyvis's ``arg_df``: name, original_index, vertical_split_index,
temporal_split_index, frames, flip_ax, n_rot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import product

import numpy as np

from flycluster.errors import StimulusError
from flycluster.stimuli.lattice import augmentation_permutation, n_hexals
from flycluster.stimuli.render import box_eye, box_eye_min_frame_size

__all__ = [
    "center_crop_window",
    "split_windows",
    "vertical_split_windows",
    "temporal_split_windows",
    "resample_indices",
    "RenderedSequence",
    "render_vertical_splits",
    "augment_sequences",
]


def center_crop_window(n: int, fraction: float) -> tuple[int, int]:
    """(start, stop) of the central ``int(fraction * n)`` elements of ``n``."""
    keep = int(fraction * n)
    return (n - keep) // 2, (n + keep) // 2


def split_windows(n: int, out: int, n_splits: int) -> list[tuple[int, int]]:
    """Overlapping (start, stop) windows of ``out`` elements covering ``n`` (flyvis ``split``).

    The window grows to ``int(n / n_splits)`` when that is larger; windows overlap by
    ``ceil((out * n_splits - n) / (n_splits - 1))``.
    """
    if n_splits < 1:
        raise StimulusError(f"number of splits must be >= 1, got {n_splits}")
    if n_splits == 1:
        return [(0, n)]
    out = max(int(out), int(n / n_splits))
    overlap = int(np.ceil((out * n_splits - n) / (n_splits - 1)))
    windows = [(i * out - i * overlap, (i + 1) * out - i * overlap) for i in range(n_splits)]
    if windows[0][0] < 0 or windows[-1][1] > n or any(a < 0 for a, _ in windows):
        raise StimulusError(
            f"cannot cut {n_splits} windows of {out} from {n} elements (too few elements)"
        )
    return windows


def vertical_split_windows(width: int, n_splits: int = 3, center_crop_fraction: float = 0.7,
                           extent: int = 15, kernel_size: int = 13) -> list[tuple[int, int]]:
    """Absolute column windows of the vertical splits of a ``width`` px frame."""
    box_width = box_eye_min_frame_size(extent, kernel_size)[1] + 2 * kernel_size
    start, stop = center_crop_window(width, center_crop_fraction)
    try:
        windows = split_windows(stop - start, box_width, n_splits)
    except StimulusError as e:
        raise StimulusError(
            f"frames of width {width} px are too narrow for {n_splits} vertical splits of "
            f"{box_width} px after cropping to {center_crop_fraction}: {e}"
        ) from None
    return [(start + a, start + b) for a, b in windows]


def temporal_split_windows(n_frames: int, clip_frames: int = 19) -> list[tuple[int, int]]:
    """(start, stop) frame windows of the temporal split of an ``n_frames`` sequence."""
    n_clips = int(np.round(n_frames / clip_frames))
    if n_clips <= 1:
        return [(0, min(clip_frames, n_frames))]
    return split_windows(n_frames, clip_frames, n_clips)


def resample_indices(n_frames: int, framerate: float = 24, dt: float = 1 / 100) -> np.ndarray:
    """Frame index per output frame when resampling ``framerate`` -> ``1/dt`` (nearest-exact).

    ``ceil(n_frames / (framerate dt))`` outputs; output i takes input
    ``min(floor((i + 0.5) n_frames / n_out), n_frames - 1)`` (torch's nearest-exact, used
    directly so rounding matches flyvis).
    """
    import torch
    import torch.nn.functional as F

    n_out = math.ceil(1 / dt / framerate * n_frames)
    index = torch.arange(n_frames, dtype=torch.float32)[None, None]
    out = F.interpolate(index, size=n_out, mode="nearest-exact").flatten()
    return out.long().numpy()


@dataclass
class RenderedSequence:
    """One vertical split of one movie on the hexagonal lattice.

    Attributes
    ----------
    name : str
        Unique name, e.g. ``sequence_00_alley_1_split_00``.
    original_index : int
        Index of the source movie (scene) in its folder / list.
    hexals : ndarray, float32, (T, n_hexals)
        Box-eye rendered luminance, frames at the source frame rate.
    """

    name: str
    original_index: int
    hexals: np.ndarray


def render_vertical_splits(frames: np.ndarray, name: str, original_index: int,
                           vertical_splits: int = 3, center_crop_fraction: float = 0.7,
                           extent: int = 15, kernel_size: int = 13) -> list[RenderedSequence]:
    """Cut a movie (T, H, W) into vertical splits and render each with the box eye.

    Names follow flyvis: ``f"{name}_split_{j:02d}"``.
    """
    windows = vertical_split_windows(frames.shape[-1], vertical_splits, center_crop_fraction,
                                     extent, kernel_size)
    return [
        RenderedSequence(f"{name}_split_{j:02d}", int(original_index),
                         box_eye(frames[:, :, a:b], extent, kernel_size))
        for j, (a, b) in enumerate(windows)
    ]


def augment_sequences(sequences: list[RenderedSequence], clip_frames: int = 19,
                      flip_axes=(0, 1), n_rotations=(0, 1, 2, 3, 4, 5), dt: float = 1 / 100,
                      framerate: float = 24, extent: int = 15):
    """Temporal split, flip/rotate and resample rendered sequences (steps 3-5 above).

    Returns
    -------
    stimulus : ndarray float32 (sample, frame, n_hexals)
        Samples shorter than the longest are padded with trailing NaN frames.
    table : dict of column -> ndarray (sample,)
        name, original_index, vertical_split_index, temporal_split_index, frames,
        flip_ax, n_rot.
    """
    if not sequences:
        raise StimulusError("no sequences to augment (every movie was too short?)")
    flip_axes = [int(a) for a in flip_axes]
    n_rotations = [int(n) for n in n_rotations]
    if not flip_axes or not n_rotations:
        raise StimulusError("flip_axes and n_rotations must not be empty")
    size = n_hexals(extent)
    clips = []  # (sequence index, start, stop)
    for i, seq in enumerate(sequences):
        if seq.hexals.ndim != 2 or seq.hexals.shape[1] != size:
            raise StimulusError(
                f"sequence {seq.name!r} has shape {seq.hexals.shape}, expected (T, {size})"
            )
        for start, stop in temporal_split_windows(len(seq.hexals), clip_frames):
            clips.append((i, start, stop))
    indices = {n: resample_indices(n, framerate, dt) for n in {b - a for _, a, b in clips}}
    n_out = max(len(ix) for ix in indices.values())
    params = list(product(range(len(clips)), flip_axes, n_rotations))
    stimulus = np.full((len(params), n_out, size), np.nan, dtype=np.float32)
    perms = {(f, r): augmentation_permutation(extent, f, r) for f in flip_axes for r in n_rotations}
    table = {k: [] for k in ("name", "original_index", "vertical_split_index",
                             "temporal_split_index", "frames", "flip_ax", "n_rot")}
    for sample, (clip, flip, rot) in enumerate(params):
        i, start, stop = clips[clip]
        seq = sequences[i]
        ix = indices[stop - start]
        stimulus[sample, : len(ix)] = seq.hexals[start:stop][ix][:, perms[(flip, rot)]]
        table["name"].append(seq.name)
        table["original_index"].append(seq.original_index)
        table["vertical_split_index"].append(i)
        table["temporal_split_index"].append(clip)
        table["frames"].append(stop - start)
        table["flip_ax"].append(flip)
        table["n_rot"].append(rot)
    table = {k: np.asarray(v) if k == "name" else np.asarray(v, dtype=np.int64)
             for k, v in table.items()}
    table["name"] = table["name"].astype(str)
    return stimulus, table
