"""MPI-Sintel as flyvis's AugmentedSintel, on a fabricated folder of PNGs in Sintel's layout."""

from pathlib import Path

import numpy as np
import pytest

from flycluster.errors import StimulusError
from flycluster.stimuli import augmented_sintel, build_stimulus_set
from flycluster.stimuli.augment import temporal_split_windows, vertical_split_windows
from stimulus_tool import load_fixture_tool

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "stimuli"
TABLE = ["original_index", "vertical_split_index", "temporal_split_index", "frames", "flip_ax",
         "n_rot"]


@pytest.fixture(scope="module")
def sintel_root(tmp_path_factory):
    return load_fixture_tool().fabricate_sintel_folder(tmp_path_factory.mktemp("sintel"))


def test_augmented_sintel_matches_flyvis(sintel_root):
    ref = np.load(FIXTURES / "sintel.npz")
    ds = build_stimulus_set("sintel", {"kind": "sintel", "root": str(sintel_root)})
    assert ds.stimulus.shape == tuple(ref["shape"]) == (216, 80, 721)
    np.testing.assert_array_equal(ds["name"].values.astype(str), ref["name"])
    for column in TABLE:
        np.testing.assert_array_equal(ds[column].values, ref[column], err_msg=column)
    stim = ds.stimulus.values
    assert np.abs(stim[ref["full_index"]] - ref["full"]).max() <= 1e-5
    x = stim.astype(np.float64)
    assert np.abs(x.mean(axis=(1, 2)) - ref["mean"]).max() <= 1e-5
    assert np.abs(x.std(axis=(1, 2)) - ref["std"]).max() <= 1e-5
    assert ds.attrs["dt"] == 0.01 and ds.attrs["t_pre"] == 0.0 and ds.attrs["t_fade_in"] == 2.0
    # bamboo_9 has 5 frames: skipped, but it still counts in original_index (as flyvis)
    assert sorted(set(ds.original_index.values.tolist())) == [0, 1, 3]


def test_full_sintel_gives_2268_samples():
    # frame counts of the 23 MPI-Sintel training scenes
    lengths = [50] * 19 + [21, 33, 20, 40]
    clips = sum(len(temporal_split_windows(n - 1, 19)) for n in lengths)
    assert clips * 3 == 189 and clips * 3 * 2 * 6 == 2268
    assert vertical_split_windows(1024) == [(154, 571), (303, 720), (452, 869)]
    assert temporal_split_windows(49) == [(0, 19), (15, 34), (30, 49)]
    assert temporal_split_windows(32) == [(0, 19), (13, 32)]


def test_scene_subset_and_nested_root(sintel_root, tmp_path):
    nested = tmp_path / "data"
    nested.mkdir()
    (nested / "MPI-Sintel-complete").symlink_to(sintel_root, target_is_directory=True)
    ds = augmented_sintel(nested, scenes=["ambush_6"], n_rotations=[0])
    assert ds.stimulus.shape == (6, 80, 721)  # 3 splits x 1 clip x 2 flips x 1 rotation
    assert set(ds.original_index.values.tolist()) == {1}


def test_missing_folder_or_scene_says_where_to_get_sintel(sintel_root, tmp_path):
    with pytest.raises(StimulusError) as err:
        augmented_sintel(tmp_path / "nowhere")
    assert "sintel.is.tue.mpg.de" in str(err.value) and "nowhere" in str(err.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StimulusError, match="training/final"):
        augmented_sintel(tmp_path / "empty")
    with pytest.raises(StimulusError) as err:
        augmented_sintel(sintel_root, scenes=["cave_2"])
    assert "cave_2" in str(err.value) and "MPI-Sintel-complete.zip" in str(err.value)
