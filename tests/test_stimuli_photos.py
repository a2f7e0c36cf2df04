"""Naturalistic photo movies: offline photographs, seeded self-motion, the Sintel pipeline."""

import numpy as np
import pytest

from flycluster.stimuli import build_stimulus_set
from flycluster.stimuli.lattice import augmentation_permutation
from flycluster.stimuli.photos import PHOTOS, load_photo, photo_movie, self_motion

SMALL = {"kind": "photos", "images": ["coins"], "n_movies": 1, "flip_axes": [0],
         "n_rotations": [0]}


def test_every_bundled_photo_loads_as_grey():
    for name in PHOTOS:
        photo = load_photo(name)
        assert photo.ndim == 2 and min(photo.shape) >= 200, name
        assert 0.0 <= photo.min() and photo.max() <= 1.0 and photo.std() > 0.05, name


def test_default_photo_set_shape_table_and_augmentations():
    ds = build_stimulus_set("naturalistic", {"kind": "photos"}, random_state=0)
    # 6 movies x 3 vertical splits x 1 clip x 2 flips x 3 rotations, 19 frames -> 80 at 100 Hz
    assert ds.stimulus.shape == (108, 80, 721)
    assert ds.attrs["kind"] == "naturalistic" and ds.attrs["dt"] == 0.01
    assert ds.attrs["t_fade_in"] == 2.0 and ds.attrs["t_pre"] == 0.0
    stim = ds.stimulus.values
    assert not np.isnan(stim).any() and stim.min() >= 0 and stim.max() <= 1
    assert stim.std() > 0.1  # photographs, not a grey screen
    assert ds.photo.values[0] == "astronaut" and ds.original_index.values[-1] == 5
    assert ds.flip_ax.values[:6].tolist() == [0, 0, 0, 1, 1, 1]
    assert ds.n_rot.values[:6].tolist() == [0, 2, 4, 0, 2, 4]
    assert ds.frames.values.tolist() == [19] * 108
    # every augmented sample is its clip's unaugmented sample, permuted on the lattice
    for sample in (7, 50, 107):
        base = sample - sample % 6
        perm = augmentation_permutation(15, int(ds.flip_ax[sample]), int(ds.n_rot[sample]))
        np.testing.assert_array_equal(stim[sample], stim[base][:, perm])
    # nearest-exact 24 -> 100 frames/s: output frame i shows clip frame floor((i+.5)*19/80)
    first = stim[0]
    src = np.minimum(np.floor((np.arange(80) + 0.5) * 19 / 80).astype(int), 18)
    for i in range(1, 80):
        assert np.array_equal(first[i], first[i - 1]) == (src[i] == src[i - 1])


def test_photo_set_is_seeded():
    a = build_stimulus_set("p", SMALL, random_state=3).stimulus.values
    b = build_stimulus_set("p", SMALL, random_state=3).stimulus.values
    c = build_stimulus_set("p", SMALL, random_state=4).stimulus.values
    assert a.shape == (3, 80, 721)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.01


def test_self_motion_translates_rotates_and_looms():
    photo = load_photo("camera")
    motion = self_motion(4, np.random.default_rng(0), max_speed=8.0)
    for key in ("shift_row", "shift_col"):
        motion[key] = np.zeros(4)
    still = dict(motion, angle=np.zeros(4), zoom=np.ones(4))
    moving = dict(still, shift_col=np.arange(4) * 8.0)
    frames = photo_movie(photo, still, 436, 1024)
    assert np.array_equal(frames[0], frames[3])
    frames = photo_movie(photo, moving, 436, 1024)
    # the camera moves right by 8 view px per frame: the scene shifts left by 8 px
    np.testing.assert_allclose(frames[2][:, :-16], frames[0][:, 16:], atol=1e-6)
    assert np.abs(frames[2] - frames[0]).mean() > 0.01
    looming = dict(still, zoom=np.array([1.0, 1.1, 1.2, 1.3]))
    frames = photo_movie(photo, looming, 436, 1024)
    centre = frames[:, 216:220, 510:514]  # the focus of expansion stays put
    assert np.abs(centre[3] - centre[0]).max() < 0.05
    assert np.abs(frames[3] - frames[0]).mean() > 0.01


@pytest.mark.parametrize("extent, n_hexals", [(4, 61)])
def test_photo_set_on_a_small_eye(extent, n_hexals):
    ds = build_stimulus_set("p", dict(SMALL, extent=extent, frames_per_movie=49),
                            random_state=0)
    # 49 frames -> round(49/19) = 3 overlapping clips of 19 per split, as a Sintel scene
    assert ds.stimulus.shape == (3 * 3, 80, n_hexals)
    assert ds.temporal_split_index.values.tolist() == list(range(9))
    assert ds.vertical_split_index.values.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert ds.u.size == n_hexals
    # 40 frames -> flyvis's split widens the 2 clips to 20 frames (84 frames at 100 Hz)
    ds = build_stimulus_set("p", dict(SMALL, extent=extent, frames_per_movie=40,
                                      vertical_splits=1), random_state=0)
    assert ds.frames.values.tolist() == [20, 20] and ds.stimulus.shape == (2, 84, n_hexals)
