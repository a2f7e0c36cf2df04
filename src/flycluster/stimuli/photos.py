"""Naturalistic movies from photographs bundled in scikit-image (the offline default set).

Each movie flies a virtual camera over one grey photograph with seeded self-motion: constant
translation (view px/frame, random direction), rotation (deg/frame) and looming (zoom rate
per frame, > 0 approaching), from a random initial orientation. Frames have Sintel's geometry
(436 x 1024 px, 24 frames/s) and go through exactly the AugmentedSintel pipeline
(:mod:`flycluster.stimuli.augment`): centre crop, 3 vertical splits, BoxEye, temporal split
into 19-frame clips, flips, rotations, nearest-exact resampling to 1/dt.

The photograph is scaled so that the whole trajectory's field of view stays inside it (no
border artefacts); pixels are sampled bilinearly. Grey = (0.299 R + 0.587 G + 0.114 B) / 255,
the luma PIL uses for Sintel. Only images shipped inside the scikit-image wheel are used
(verified to load without network access with scikit-image 0.26).
"""

from __future__ import annotations

import numpy as np

from flycluster.errors import ConfigError, StimulusError
from flycluster.stimuli.augment import (
    augment_sequences,
    render_vertical_splits,
    vertical_split_windows,
)
from flycluster.stimuli.io import make_stimulus_dataset

__all__ = ["PHOTOS", "load_photo", "self_motion", "photo_movie", "photo_movies"]

# name -> skimage.data loader; natural photographs shipped in the scikit-image wheel
PHOTOS = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "brick", "grass",
          "gravel", "moon", "hubble_deep_field", "clock", "motorcycle")
PHOTO_FRAMERATE = 24


def load_photo(name: str) -> np.ndarray:
    """Grey photograph (H, W) float64 in [0, 1] from scikit-image's bundled data."""
    if name not in PHOTOS:
        raise ConfigError(f"unknown photo {name!r}; choose from {list(PHOTOS)}")
    import skimage.data

    try:
        image = skimage.data.stereo_motorcycle()[0] if name == "motorcycle" else \
            getattr(skimage.data, name)()
    except Exception as e:  # pragma: no cover - depends on the installed scikit-image
        raise StimulusError(f"scikit-image photo {name!r} cannot be loaded offline: {e}") from e
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return np.clip(image / 255.0, 0.0, 1.0)


def self_motion(n_frames: int, rng: np.random.Generator, max_speed: float = 8.0,
                max_rotation: float = 2.0, max_looming: float = 0.02) -> dict:
    """Draw one seeded self-motion: parameters and per-frame pose.

    Returns a dict with scalars ``speed`` (view px/frame), ``direction`` (deg),
    ``rotation`` (deg/frame), ``looming`` (1/frame), ``orientation`` (deg, initial) and
    arrays (n_frames,) ``shift_row``, ``shift_col`` (view px), ``angle`` (rad), ``zoom``.
    """
    speed = rng.uniform(0.25, 1.0) * max_speed
    direction = rng.uniform(0.0, 360.0)
    rotation = rng.uniform(-1.0, 1.0) * max_rotation
    looming = rng.uniform(-1.0, 1.0) * max_looming
    orientation = rng.uniform(0.0, 360.0)
    t = np.arange(n_frames, dtype=np.float64)
    return {
        "speed": speed, "direction": direction, "rotation": rotation, "looming": looming,
        "orientation": orientation,
        "shift_row": -t * speed * np.sin(np.radians(direction)),
        "shift_col": t * speed * np.cos(np.radians(direction)),
        "angle": np.radians(orientation + t * rotation),
        "zoom": np.exp(t * looming),
    }


def photo_movie(photo: np.ndarray, motion: dict, height: int = 436, width: int = 1024,
                columns: tuple[int, int] | None = None) -> np.ndarray:
    """Render frames (T, height, width) float32 in [0, 1] of a camera moving over ``photo``.

    ``columns`` = (start, stop) renders only those columns (the rest stays 0); the geometry,
    including the photo's scale, is that of the full frame.
    """
    from scipy.ndimage import map_coordinates

    rows = np.arange(height) - (height - 1) / 2
    cols = np.arange(width) - (width - 1) / 2
    corner_r = np.array([rows[0], rows[0], rows[-1], rows[-1]])
    corner_c = np.array([cols[0], cols[-1], cols[0], cols[-1]])

    def world(t, r, c):  # view offsets -> world offsets (view px units) at frame t
        a, z = motion["angle"][t], motion["zoom"][t]
        return (motion["shift_row"][t] + (np.cos(a) * r - np.sin(a) * c) / z,
                motion["shift_col"][t] + (np.sin(a) * r + np.cos(a) * c) / z)

    n_frames = len(motion["angle"])
    reach_r = reach_c = 0.0
    for t in range(n_frames):
        wr, wc = world(t, corner_r, corner_c)
        reach_r, reach_c = max(reach_r, np.abs(wr).max()), max(reach_c, np.abs(wc).max())
    # photo px per view px: the largest scale keeping every view inside the photograph
    half_r, half_c = (photo.shape[0] - 1) / 2 - 1, (photo.shape[1] - 1) / 2 - 1
    scale = min(half_r / reach_r, half_c / reach_c, 1.0)
    start, stop = columns if columns is not None else (0, width)
    grid_r, grid_c = np.meshgrid(rows, cols[start:stop], indexing="ij")
    frames = np.zeros((n_frames, height, width), dtype=np.float32)
    for t in range(n_frames):
        wr, wc = world(t, grid_r, grid_c)
        coords = np.stack([(photo.shape[0] - 1) / 2 + scale * wr,
                           (photo.shape[1] - 1) / 2 + scale * wc])
        frames[t, :, start:stop] = map_coordinates(photo, coords, order=1, mode="nearest")
    return np.clip(frames, 0.0, 1.0, out=frames)


def photo_movies(images=PHOTOS[:6], n_movies: int = 6, frames_per_movie: int = 19, *,
                 random_state: int = 0, stimulus_set: str = "photos", max_speed: float = 8.0,
                 max_rotation: float = 2.0, max_looming: float = 0.02, height: int = 436,
                 width: int = 1024, clip_frames: int = 19, vertical_splits: int = 3,
                 center_crop_fraction: float = 0.7, flip_axes=(0, 1), n_rotations=(0, 2, 4),
                 dt: float = 1 / 100, t_fade_in: float = 2.0, extent: int = 15,
                 kernel_size: int = 13, spec: dict | None = None):
    """Build the naturalistic photo stimulus set (stimulus-file layout).

    Movie i shows ``images[i % len(images)]`` with its own self-motion drawn from
    ``numpy.random.default_rng(random_state)``. Samples: n_movies x vertical_splits x
    round(frames_per_movie / clip_frames) clips x len(flip_axes) x len(n_rotations)
    (default 6 x 3 x 1 x 2 x 3 = 108 samples of 80 frames).

    Sample coordinates: Sintel's table (name, original_index = movie, vertical_split_index,
    temporal_split_index, frames, flip_ax, n_rot) plus ``photo`` and the movie's motion
    ``speed`` (view px/frame; 13 px = 1 column), ``direction`` (deg), ``rotation``
    (deg/frame), ``looming`` (1/frame).
    """
    images = list(images)
    if not images:
        raise ConfigError("images must name at least one photograph")
    if n_movies < 1 or frames_per_movie < 1:
        raise ConfigError(f"n_movies ({n_movies}) and frames_per_movie ({frames_per_movie}) "
                          "must be >= 1")
    if frames_per_movie < clip_frames:
        raise ConfigError(f"frames_per_movie ({frames_per_movie}) must be >= clip_frames "
                          f"({clip_frames})")
    rng = np.random.default_rng(random_state)
    photos = {name: load_photo(name) for name in dict.fromkeys(images)}
    windows = vertical_split_windows(width, vertical_splits, center_crop_fraction, extent,
                                     kernel_size)
    needed = (min(a for a, _ in windows), max(b for _, b in windows))  # columns the eye sees
    sequences, motions = [], []
    for i in range(n_movies):
        name = images[i % len(images)]
        motion = self_motion(frames_per_movie, rng, max_speed, max_rotation, max_looming)
        frames = photo_movie(photos[name], motion, height, width, needed)
        sequences += render_vertical_splits(frames, f"sequence_{i:02d}_{name}", i,
                                            vertical_splits, center_crop_fraction, extent,
                                            kernel_size)
        motions.append((name, motion))
    stimulus, table = augment_sequences(sequences, clip_frames, flip_axes, n_rotations, dt,
                                        PHOTO_FRAMERATE, extent)
    movie = table["original_index"]
    table["photo"] = np.array([motions[m][0] for m in movie], dtype=str)
    for key in ("speed", "direction", "rotation", "looming"):
        table[key] = np.array([motions[m][1][key] for m in movie], dtype=np.float64)
    return make_stimulus_dataset(stimulus, table, stimulus_set=stimulus_set,
                                 kind="naturalistic", dt=dt, t_pre=0.0, t_fade_in=t_fade_in,
                                 extent=extent, spec=spec)
