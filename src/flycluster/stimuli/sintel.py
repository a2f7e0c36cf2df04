"""MPI-Sintel rendered on the fly eye, reproducing flyvis's AugmentedSintel.

flyvis call reproduced (seed notebook)::

    AugmentedSintel(tasks=["lum"], interpolate=False, temporal_split=True, dt=1/100,
                    boxfilter={"extent": 15, "kernel_size": 13})

-> 2268 samples x 80 frames x 721 hexals from the 23 scenes of ``training/final``.

Data: MPI-Sintel-complete.zip from http://sintel.is.tue.mpg.de (about 5.3 GB); unpack it and
point ``root`` at the folder that contains ``training/`` (``<root>/training/final/<scene>/
frame_0001.png ...``). A folder ``MPI-Sintel-complete`` inside ``root`` is accepted as well.

Per scene (scenes sorted by name; scenes with fewer than ``clip_frames + 1`` frames skipped,
as flyvis does): frames as grey ``PIL convert("L") / 255``, first frame dropped, then the
shared pipeline of :mod:`flycluster.stimuli.augment`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from flycluster.errors import StimulusError
from flycluster.stimuli.augment import augment_sequences, render_vertical_splits, temporal_split_windows
from flycluster.stimuli.io import make_stimulus_dataset

__all__ = ["SINTEL_URL", "find_sintel_final", "list_sintel_scenes", "scene_frame_counts",
           "load_scene", "augmented_sintel", "augmented_sintel_size"]

SINTEL_URL = "http://sintel.is.tue.mpg.de (file MPI-Sintel-complete.zip)"
SINTEL_FRAMERATE = 24
#: MPI-Sintel's training set (``training/final``): scene -> number of frames (1064 in all)
SINTEL_TRAINING_FRAMES = {
    "alley_1": 50, "alley_2": 50, "ambush_2": 21, "ambush_4": 33, "ambush_5": 50,
    "ambush_6": 20, "ambush_7": 50, "bamboo_1": 50, "bamboo_2": 50, "bandage_1": 50,
    "bandage_2": 50, "cave_2": 50, "cave_4": 50, "market_2": 50, "market_5": 50,
    "market_6": 40, "mountain_1": 50, "shaman_2": 50, "shaman_3": 50, "sleeping_1": 50,
    "sleeping_2": 50, "temple_2": 50, "temple_3": 50,
}
#: (height, width) of every Sintel frame in pixels
SINTEL_FRAME_SHAPE = (436, 1024)


def _where_to_get(root) -> str:
    return (f"Download MPI-Sintel-complete.zip from {SINTEL_URL.split(' ')[0]}, unpack it and "
            f"set the Sintel root to the folder containing 'training/' (looked in {root})")


def find_sintel_final(root) -> Path:
    """Return ``<root>/training/final`` (or ``<root>/MPI-Sintel-complete/training/final``)."""
    root = Path(root).expanduser()
    for candidate in (root, root / "MPI-Sintel-complete"):
        final = candidate / "training" / "final"
        if final.is_dir():
            return final
    if not root.exists():
        raise StimulusError(f"MPI-Sintel folder {root} does not exist. {_where_to_get(root)}")
    raise StimulusError(f"MPI-Sintel folder {root} has no training/final/. {_where_to_get(root)}")


def _frames(scene_dir: Path) -> list[Path]:
    return sorted(p for p in scene_dir.iterdir() if p.suffix.lower() == ".png")


def list_sintel_scenes(root) -> list[str]:
    """Names of all scene folders in ``training/final``, sorted (flyvis scene order)."""
    final = find_sintel_final(root)
    scenes = sorted(p.name for p in final.iterdir() if p.is_dir())
    if not scenes:
        raise StimulusError(f"no scene folders in {final}. {_where_to_get(root)}")
    return scenes


def scene_frame_counts(root, scenes=None) -> dict[str, int]:
    """Frames (PNG files) per scene folder of ``training/final``, in flyvis's scene order."""
    final = find_sintel_final(root)
    return {scene: len(_frames(final / scene)) for scene in list_sintel_scenes(root)
            if scenes is None or scene in scenes}


def load_scene(scene_dir: Path, start: int = 1) -> np.ndarray:
    """Grey frames (T, H, W) float32 in [0, 1] of one scene, from frame index ``start`` on."""
    from PIL import Image

    paths = _frames(scene_dir)[start:]
    if not paths:
        raise StimulusError(f"scene folder {scene_dir} holds no frame PNGs after frame {start}")
    frames = []
    for p in paths:
        try:
            with Image.open(p) as im:
                frames.append(np.asarray(im.convert("L"), dtype=np.float32) / 255)
        except OSError as e:
            raise StimulusError(f"cannot read Sintel frame {p}: {e}") from None
    shapes = {f.shape for f in frames}
    if len(shapes) != 1:
        raise StimulusError(f"frames of {scene_dir} differ in size: {sorted(shapes)}")
    return np.stack(frames)


def augmented_sintel(root, scenes=None, *, stimulus_set: str = "sintel", clip_frames: int = 19,
                     vertical_splits: int = 3, center_crop_fraction: float = 0.7,
                     flip_axes=(0, 1), n_rotations=(0, 1, 2, 3, 4, 5), dt: float = 1 / 100,
                     t_fade_in: float = 2.0, extent: int = 15, kernel_size: int = 13,
                     spec: dict | None = None):
    """Build the augmented Sintel stimulus set as an xarray Dataset (stimulus-file layout).

    Parameters
    ----------
    root : path
        Folder containing ``training/final/<scene>/frame_XXXX.png``.
    scenes : list of str, optional
        Restrict to these scene names (original_index still counts every scene folder, as
        flyvis). Default: all scenes.
    clip_frames : int
        Frames per temporal clip at 24 frames/s (19).
    vertical_splits, center_crop_fraction : int, float
        Column windows per frame (3) after central cropping (0.7).
    flip_axes, n_rotations : sequences of int
        Hex flips (0 = none, 1 = (u, v) -> (u + v, -v)) and 60-degree rotations per clip.
    dt : float
        Output time step in seconds (1/100 -> 80 frames per 19-frame clip).
    t_fade_in : float
        Seconds of fade-in the simulation runs before each sample (2.0, as flyvis).
    extent, kernel_size : int
        BoxEye lattice radius (15 -> 721 hexals) and box size in pixels (13).

    Returns
    -------
    xarray.Dataset
        ``stimulus`` (sample, frame, hexal) float32 with the flyvis sample table as coords.
    """
    final = find_sintel_final(root)
    all_scenes = list_sintel_scenes(root)
    if scenes is not None:
        missing = [s for s in scenes if s not in all_scenes]
        if missing:
            raise StimulusError(
                f"MPI-Sintel scene(s) {missing} not found in {final} (found {all_scenes}). "
                f"{_where_to_get(root)}"
            )
    sequences = []
    for i, scene in enumerate(all_scenes):
        if scenes is not None and scene not in scenes:
            continue
        scene_dir = final / scene
        if len(_frames(scene_dir)) - 1 < clip_frames:
            continue  # flyvis skips scenes shorter than one clip
        frames = load_scene(scene_dir, start=1)  # frame 0 has no flow in Sintel: dropped
        sequences += render_vertical_splits(frames, f"sequence_{i:02d}_{scene}", i,
                                            vertical_splits, center_crop_fraction, extent,
                                            kernel_size)
    if not sequences:
        raise StimulusError(
            f"no scene in {final} has more than {clip_frames} frames. {_where_to_get(root)}"
        )
    stimulus, table = augment_sequences(sequences, clip_frames, flip_axes, n_rotations, dt,
                                        SINTEL_FRAMERATE, extent)
    return make_stimulus_dataset(stimulus, table, stimulus_set=stimulus_set,
                                 kind="naturalistic", dt=dt, t_pre=0.0, t_fade_in=t_fade_in,
                                 extent=extent, spec=spec)


def augmented_sintel_size(frame_counts=None, clip_frames: int = 19, vertical_splits: int = 3,
                          n_flips: int = 2, n_rotations: int = 6) -> int:
    """Number of sequences :func:`augmented_sintel` makes from scenes of ``frame_counts``
    (scene -> frames; default MPI-Sintel's training set), without reading a frame.

    Per scene: the first frame is dropped, the rest split into ``round(n / clip_frames)``
    clips (scenes shorter than one clip are skipped), each clip rendered for every vertical
    split, flip and rotation. The 23 training scenes give 63 clips x 36 = 2268.
    """
    counts = SINTEL_TRAINING_FRAMES if frame_counts is None else frame_counts
    clips = sum(len(temporal_split_windows(n - 1, clip_frames))
                for n in counts.values() if n - 1 >= clip_frames)
    return clips * vertical_splits * n_flips * n_rotations
