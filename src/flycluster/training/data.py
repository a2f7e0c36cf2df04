"""Optic-flow training data: luminance + flow sequences and flyvis's ``flow`` task augmentation.

A :class:`FlowSequence` is one vertical split of one movie on the hexagonal lattice at the
source frame rate (24 frames/s, Sintel's): luminance ``(T, n_hexals)`` and flow
``(T, 2, n_hexals)`` in flyvis's Sintel units (see :mod:`flycluster.training.flow`). Three
sources build them the same way:

- :func:`photo_flow_sequences`: scikit-image photographs with the seeded camera self-motion of
  :mod:`flycluster.stimuli.photos` (exact flow);
- :func:`texture_flow_sequences`: seeded procedural textures (:mod:`.textures`) moved the same
  way (unlimited data);
- :func:`sintel_flow_sequences`: MPI-Sintel ``training/final`` + ``training/flow``.

:class:`FlowAugmentation` turns a sequence into one training sample exactly as flyvis's
``MultiTaskSintel`` does for the ``flow`` task (``task.yaml`` defaults): random temporal crop of
19 source frames, luminance: Gaussian pixel noise (std 0.08, clamped at 0) then contrast /
brightness jitter ``max(0, c (x - 0.5) + 0.5 + c b)`` with ``c = exp(N(0, 0.2))``,
``b = N(0, 0.1)``; luminance and flow: hex flip (p 0.5, axes 1-3) then rotation by n x 60 deg
(p 0.5, n in 1..5), with the flow *vectors* mirrored / rotated by the same transform;
then resampling to 1/dt: luminance nearest-exact, flow linear (align_corners). Without
augmentation (validation) only the crop at frame 0 and the resampling remain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from flycluster.errors import ConfigError, StimulusError
from flycluster.stimuli.augment import render_vertical_splits, vertical_split_windows
from flycluster.stimuli.lattice import flip_permutation, rotation_permutation
from flycluster.training.flow import camera_flow, flo_to_flyvis, read_flo, render_flow_splits

__all__ = ["SINTEL_TRAIN_SCENES", "SINTEL_VALIDATION_SCENES", "FlowSequence",
           "photo_flow_sequences", "texture_flow_sequences",
           "sintel_flow_sequences", "FlowAugmentation", "flip_matrix", "rotation_matrix",
           "stack_samples", "flow_sequences", "split_by_group"]

SOURCE_FRAMERATE = 24

#: flyvis's original split of the MPI-Sintel training scenes (``original_train_and_validation_
#: indices``); flyvis also drops two validation sequences (indices 37 and 38) to fit its batch size
SINTEL_TRAIN_SCENES = ("alley_1", "alley_2", "ambush_4", "ambush_5", "ambush_6", "ambush_7",
                       "bamboo_2", "bandage_2", "cave_2", "market_5", "market_6", "shaman_2",
                       "shaman_3", "sleeping_1", "sleeping_2", "temple_2", "temple_3")
SINTEL_VALIDATION_SCENES = ("ambush_2", "bamboo_1", "bandage_1", "cave_4", "market_2", "mountain_1")


@dataclass
class FlowSequence:
    """One vertical split of one movie with its optic flow, at the source frame rate.

    Attributes
    ----------
    name : str
        e.g. ``sequence_03_coffee_split_01`` (flyvis's naming).
    lum : ndarray float32 (T, n_hexals)
        BoxEye luminance in [0, 1].
    flow : ndarray float32 (T, 2, n_hexals)
        Box-summed (x, y) flow, pixels per source frame / frame height, y up.
    group : str
        What the sequence shows (photo name, ``texture_<seed>`` or Sintel scene): splits of
        the same movie share it; use it to hold whole movies out for validation.
    """

    name: str
    lum: np.ndarray
    flow: np.ndarray
    group: str

    def __post_init__(self):
        if self.lum.ndim != 2 or self.flow.shape != (self.lum.shape[0], 2, self.lum.shape[1]):
            raise StimulusError(f"sequence {self.name!r}: lum {self.lum.shape} and flow "
                                f"{self.flow.shape} must be (T, n) and (T, 2, n)")


def _camera_sequences(images: dict, n_movies: int, frames_per_movie: int, rng, prefix,
                      max_speed, max_rotation, max_looming, height, width, vertical_splits,
                      center_crop_fraction, extent, kernel_size):
    from flycluster.stimuli.photos import photo_movie, self_motion

    windows = vertical_split_windows(width, vertical_splits, center_crop_fraction, extent,
                                     kernel_size)
    needed = (min(a for a, _ in windows), max(b for _, b in windows))
    out = []
    for i, (group, image) in enumerate(images):
        # pose 0 only serves the flow into frame 1; frames 1..T are kept (Sintel drops frame 0)
        motion = self_motion(frames_per_movie + 1, rng, max_speed, max_rotation, max_looming)
        frames = photo_movie(image() if callable(image) else image, motion, height, width,
                             needed)[1:]
        lum = render_vertical_splits(frames, f"sequence_{i:02d}_{group}", i, vertical_splits,
                                     center_crop_fraction, extent, kernel_size)
        del frames
        flows = [[] for _ in windows]
        for t in range(frames_per_movie):  # flow into frame t + 1, on frame t's grid
            field = flo_to_flyvis(camera_flow(motion, t, height, width, needed))
            for j, f in enumerate(render_flow_splits(field[None], vertical_splits,
                                                     center_crop_fraction, extent,
                                                     kernel_size)):
                flows[j].append(f[0])
        out += [FlowSequence(seq.name, seq.hexals, np.stack(flow), group)
                for seq, flow in zip(lum, flows)]
    return out


def photo_flow_sequences(images=None, n_movies: int | None = None, frames_per_movie: int = 50, *,
                         random_state: int = 0, max_speed: float = 8.0,
                         max_rotation: float = 2.0, max_looming: float = 0.02,
                         height: int = 436, width: int = 1024, vertical_splits: int = 3,
                         center_crop_fraction: float = 0.7, extent: int = 15,
                         kernel_size: int = 13) -> list[FlowSequence]:
    """Photo movies (:func:`flycluster.stimuli.photos.photo_movie`) with their exact flow.

    Movie i shows ``images[i % len(images)]`` (default: all of
    :data:`flycluster.stimuli.photos.PHOTOS`, one movie each) with a self-motion drawn from
    ``numpy.random.default_rng(random_state)``; ``frames_per_movie`` frames at 24 frames/s
    (50, like most Sintel scenes). Returns ``n_movies x vertical_splits`` sequences.
    """
    from flycluster.stimuli.photos import PHOTOS, load_photo

    images = list(PHOTOS if images is None else images)
    if not images:
        raise ConfigError("images must name at least one photograph")
    n_movies = len(images) if n_movies is None else int(n_movies)
    if n_movies < 1 or frames_per_movie < 1:
        raise ConfigError("n_movies and frames_per_movie must be >= 1")
    cache = {name: load_photo(name) for name in dict.fromkeys(images)}
    chosen = [(images[i % len(images)], cache[images[i % len(images)]]) for i in range(n_movies)]
    return _camera_sequences(chosen, n_movies, frames_per_movie, np.random.default_rng(random_state),
                             "photo", max_speed, max_rotation, max_looming, height, width,
                             vertical_splits, center_crop_fraction, extent, kernel_size)


def texture_flow_sequences(n_movies: int = 16, frames_per_movie: int = 50, *,
                           random_state: int = 0, texture_shape=(1024, 1024),
                           max_speed: float = 8.0, max_rotation: float = 2.0,
                           max_looming: float = 0.02, height: int = 436, width: int = 1024,
                           vertical_splits: int = 3, center_crop_fraction: float = 0.7,
                           extent: int = 15, kernel_size: int = 13,
                           texture_kwargs: dict | None = None) -> list[FlowSequence]:
    """Procedural-texture movies with their exact flow; every movie a new seeded texture.

    Texture seeds and motions are drawn from ``numpy.random.default_rng(random_state)``; the
    group of a movie is ``texture_<seed>``.
    """
    from flycluster.training.textures import natural_texture

    if n_movies < 1 or frames_per_movie < 1:
        raise ConfigError("n_movies and frames_per_movie must be >= 1")
    rng = np.random.default_rng(random_state)
    seeds = [int(s) for s in rng.integers(0, 2**31, size=n_movies)]
    kwargs = dict(texture_kwargs or {})
    chosen = [(f"texture_{s}", (lambda s=s: natural_texture(s, texture_shape, **kwargs)))
              for s in seeds]
    return _camera_sequences(chosen, n_movies, frames_per_movie, rng, "texture", max_speed,
                             max_rotation, max_looming, height, width, vertical_splits,
                             center_crop_fraction, extent, kernel_size)


def sintel_flow_sequences(root, scenes=None, *, min_frames: int = 19, vertical_splits: int = 3,
                          center_crop_fraction: float = 0.7, extent: int = 15,
                          kernel_size: int = 13) -> list[FlowSequence]:
    """MPI-Sintel ``training/final`` luminance with ``training/flow`` targets, as flyvis.

    Per scene (sorted; scenes with fewer than ``min_frames + 1`` frames skipped): frames 1..N-1
    (frame 0 dropped) paired with flow files 0..N-2; flow converted with
    :func:`~flycluster.training.flow.flo_to_flyvis` and box-summed per split.
    """
    from flycluster.stimuli.sintel import _frames, find_sintel_final, list_sintel_scenes, load_scene

    final = find_sintel_final(root)
    flow_root = final.parent / "flow"
    all_scenes = list_sintel_scenes(root)
    if scenes is not None:
        missing = [s for s in scenes if s not in all_scenes]
        if missing:
            raise StimulusError(f"MPI-Sintel scene(s) {missing} not found in {final}")
    out = []
    for i, scene in enumerate(all_scenes):
        if scenes is not None and scene not in scenes:
            continue
        if len(_frames(final / scene)) - 1 < min_frames:
            continue
        lum_frames = load_scene(final / scene, start=1)
        flo_dir = flow_root / scene
        flo_files = sorted(flo_dir.glob("*.flo")) if flo_dir.is_dir() else []
        if len(flo_files) < len(lum_frames):
            raise StimulusError(
                f"{flo_dir}: expected {len(lum_frames)} .flo files (one per frame after the "
                f"first) for the flow task, found {len(flo_files)}; training/flow comes with "
                "MPI-Sintel-complete.zip")
        fields = np.stack([flo_to_flyvis(read_flo(p)) for p in flo_files[:len(lum_frames)]])
        if fields.shape[2:] != lum_frames.shape[1:]:
            raise StimulusError(f"{flo_dir}: flow fields are {fields.shape[2:]} px but the "
                                f"frames are {lum_frames.shape[1:]}")
        lum = render_vertical_splits(lum_frames, f"sequence_{i:02d}_{scene}", i, vertical_splits,
                                     center_crop_fraction, extent, kernel_size)
        flows = render_flow_splits(fields, vertical_splits, center_crop_fraction, extent,
                                   kernel_size)
        out += [FlowSequence(s.name, s.hexals, f, scene) for s, f in zip(lum, flows)]
    if not out:
        raise StimulusError(f"no scene in {final} has more than {min_frames} frames")
    return out


def rotation_matrix(n_rot: int) -> np.ndarray:
    """2 x 2 counter-clockwise rotation by ``n_rot`` x 60 degrees (flow vectors, y up)."""
    a = np.radians(60.0 * (n_rot % 6))
    return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


# mirror line of each hex flip axis (degrees, y up), as flyvis's HexFlip
_FLIP_LINE = {1: 90.0, 2: 150.0, 3: 210.0}


def flip_matrix(axis: int) -> np.ndarray:
    """2 x 2 reflection of flow vectors that goes with :func:`~flycluster.stimuli.lattice.
    flip_permutation` (axis 0: identity; 1, 2, 3: mirror across the lines at 90, 150, 210 deg)."""
    if axis == 0:
        return np.eye(2)
    if axis not in _FLIP_LINE:
        raise ConfigError(f"flip axis must be 0, 1, 2 or 3, got {axis!r}")
    a = np.radians(2 * _FLIP_LINE[axis])
    return np.array([[np.cos(a), np.sin(a)], [np.sin(a), -np.cos(a)]])


def _resample_nearest(x: np.ndarray, n_out: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    index = torch.arange(len(x), dtype=torch.float32)[None, None]
    ix = F.interpolate(index, size=n_out, mode="nearest-exact").flatten().long().numpy()
    return x[ix]


def _resample_linear(x: np.ndarray, n_out: int) -> np.ndarray:
    # torch's linear interpolation with align_corners=True: output i samples the input at
    # i (T - 1) / (n_out - 1)
    n = len(x)
    if n_out == 1 or n == 1:
        return np.repeat(x[:1], n_out, axis=0)
    pos = np.arange(n_out) * ((n - 1) / (n_out - 1))
    lo = np.minimum(np.floor(pos).astype(np.int64), n - 2)
    w = (pos - lo).astype(np.float32).reshape((-1,) + (1,) * (x.ndim - 1))
    return (1 - w) * x[lo] + w * x[lo + 1]


@dataclass
class FlowAugmentation:
    """flyvis's ``MultiTaskSintel`` flow-task sampling and augmentation (``task.yaml``).

    Parameters
    ----------
    n_frames : source frames per sample (19).
    dt : simulation time step (0.02 s): samples have ``ceil(n_frames / (framerate dt))``
        frames (40).
    framerate : source frame rate (24).
    p_flip, flip_axes : probability of a hex flip and the axes (0-3: one of 1..max is drawn).
    p_rot : probability of a rotation by n x 60 deg, n drawn from 1..5.
    contrast_std, brightness_std, noise_std : luminance jitter and pixel noise.
    random_temporal_crop : crop start uniform in ``[0, T - n_frames)`` (flyvis's randint; 0
        when T == n_frames) when augmenting; 0 otherwise.
    interpolate : flow resampled linearly (True, flyvis) or nearest-exact.
    """

    n_frames: int = 19
    dt: float = 0.02
    framerate: float = SOURCE_FRAMERATE
    p_flip: float = 0.5
    flip_axes: tuple = (0, 1, 2, 3)
    p_rot: float = 0.5
    contrast_std: float = 0.2
    brightness_std: float = 0.1
    noise_std: float = 0.08
    random_temporal_crop: bool = True
    interpolate: bool = True

    @property
    def out_frames(self) -> int:
        """Frames of a sample after resampling to 1/dt (40 for 19 frames at dt 0.02)."""
        return math.ceil(1 / self.dt / self.framerate * self.n_frames)

    def draw(self, rng: np.random.Generator, n_source_frames: int) -> dict:
        """Draw one sample's augmentation parameters (flyvis's order of draws)."""
        if self.n_frames > n_source_frames:
            raise StimulusError(f"cannot crop {self.n_frames} frames from a sequence of "
                                f"{n_source_frames}")
        n_rot = int(rng.integers(1, 6)) if self.p_rot and self.p_rot > rng.uniform() else 0
        flip = (int(rng.integers(1, max(self.flip_axes) + 1))
                if self.p_flip and self.p_flip > rng.uniform() else 0)
        contrast = float(np.exp(rng.normal(0, self.contrast_std))) if self.contrast_std else None
        brightness = float(rng.normal(0, self.brightness_std)) if self.brightness_std else 0.0
        start = (int(rng.integers(0, (n_source_frames - self.n_frames) or 1))
                 if self.random_temporal_crop else 0)
        return {"n_rot": n_rot, "flip_axis": flip, "contrast": contrast,
                "brightness": brightness, "start": start}

    def __call__(self, seq: FlowSequence, rng: np.random.Generator | None = None,
                 augment: bool = True, params: dict | None = None):
        """One sample: (lum float32 (F, n_hexals), flow float32 (F, 2, n_hexals)).

        ``augment=False`` (validation): crop at frame 0, no noise/jitter/flip/rotation.
        ``params`` (from :meth:`draw`) fixes the random choices; the pixel noise still comes
        from ``rng``.
        """
        n = seq.lum.shape[1]
        extent = _extent_of(n)
        if augment:
            rng = np.random.default_rng(rng)
            p = params if params is not None else self.draw(rng, len(seq.lum))
        else:
            p = {"n_rot": 0, "flip_axis": 0, "contrast": None, "brightness": 0.0, "start": 0}
            if self.n_frames > len(seq.lum):
                raise StimulusError(f"cannot crop {self.n_frames} frames from sequence "
                                    f"{seq.name!r} of {len(seq.lum)}")
        s = slice(p["start"], p["start"] + self.n_frames)
        lum = seq.lum[s].astype(np.float32)
        flow = seq.flow[s].astype(np.float32)
        if augment:
            if self.noise_std:
                lum = np.maximum(lum + self.noise_std * rng.standard_normal(lum.shape,
                                                                            dtype=np.float32), 0)
            if p["contrast"] is not None:
                c, b = p["contrast"], p["brightness"]
                lum = np.maximum(c * (lum - 0.5) + 0.5 + c * b, 0).astype(np.float32)
            if p["flip_axis"]:
                perm = flip_permutation(extent, p["flip_axis"])
                lum = lum[:, perm]
                flow = np.einsum("ij,tjn->tin", flip_matrix(p["flip_axis"]),
                                 flow[:, :, perm]).astype(np.float32)
            if p["n_rot"]:
                perm = rotation_permutation(extent, p["n_rot"])
                lum = lum[:, perm]
                flow = np.einsum("ij,tjn->tin", rotation_matrix(p["n_rot"]),
                                 flow[:, :, perm]).astype(np.float32)
        n_out = self.out_frames
        lum = _resample_nearest(lum, n_out)
        flow = _resample_linear(flow, n_out) if self.interpolate else _resample_nearest(flow, n_out)
        return np.ascontiguousarray(lum, dtype=np.float32), np.ascontiguousarray(flow, dtype=np.float32)


def _extent_of(count: int) -> int:
    from flycluster.stimuli.lattice import extent_from_n_hexals

    return extent_from_n_hexals(count)


def stack_samples(samples):
    """[(lum, flow), ...] -> (lum (B, F, n), flow (B, F, 2, n)) float32 arrays."""
    lum, flow = zip(*samples)
    return np.stack(lum), np.stack(flow)



def flow_sequences(kind: str, **params) -> list[FlowSequence]:
    """Build sequences from a config-style description: ``kind`` is ``"photos"``
    (:func:`photo_flow_sequences`), ``"textures"`` (:func:`texture_flow_sequences`) or
    ``"sintel"`` (:func:`sintel_flow_sequences`, needs ``root``); ``params`` go to the builder."""
    builders = {"photos": photo_flow_sequences, "textures": texture_flow_sequences,
                "sintel": sintel_flow_sequences}
    if kind not in builders:
        raise ConfigError(f"flow data kind must be one of {sorted(builders)}, got {kind!r}")
    try:
        return builders[kind](**params)
    except TypeError as e:
        raise ConfigError(f"flow data of kind {kind!r}: {e}") from None


def split_by_group(sequences: list[FlowSequence], validation_groups) -> tuple[list, list]:
    """(train, validation): sequences whose ``group`` (photo, texture or Sintel scene) is in
    ``validation_groups`` validate, the rest train; whole movies stay on one side."""
    validation_groups = set(validation_groups)
    known = {s.group for s in sequences}
    missing = sorted(validation_groups - known)
    if missing:
        raise ConfigError(f"validation groups {missing} are not in the data (have {sorted(known)})")
    train = [s for s in sequences if s.group not in validation_groups]
    val = [s for s in sequences if s.group in validation_groups]
    return train, val
