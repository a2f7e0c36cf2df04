"""The ``file`` stimulus kind: a user's movie (netCDF, .npy on the lattice, .npy images)."""

import numpy as np
import pytest

from flycluster.errors import StimulusError
from flycluster.stimuli import box_eye, flashes, read_stimulus, write_stimulus
from flycluster.stimuli.lattice import n_hexals
from flycluster.stimuli.user_file import load_user_stimulus

EXTENT = 3  # 37 hexals: cheap
N_HEX = n_hexals(EXTENT)


def _movie(n_sample=3, n_frame=5, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n_sample, n_frame, N_HEX)).astype(
        np.float32)


def test_hexal_npy_round_trip_with_padding(tmp_path):
    movie = _movie()
    movie[1, 3:] = np.nan  # sample 1 has 3 valid frames
    path = tmp_path / "my_movie.npy"
    np.save(path, movie)
    ds = load_user_stimulus(path, dt=0.01, extent=EXTENT)
    np.testing.assert_array_equal(ds.stimulus.values, movie)
    assert ds.attrs["kind"] == "naturalistic" and ds.attrs["stimulus_set"] == "my_movie"
    assert ds.attrs["dt"] == 0.01 and ds.attrs["t_fade_in"] == 2.0 and ds.attrs["extent"] == 3
    assert ds.frames.values.tolist() == [5, 3, 5]
    assert ds.name.values.tolist() == ["my_movie_0", "my_movie_1", "my_movie_2"]
    np.testing.assert_allclose(ds.time.values, np.arange(5) * 0.01)
    assert '"layout": "hexals"' in ds.attrs["spec"] and '"sha256"' in ds.attrs["spec"]
    # what the other kinds return: it writes and reads back as a stimulus file
    back = read_stimulus(write_stimulus(ds, tmp_path / "out.nc"))
    np.testing.assert_array_equal(back.stimulus.values, movie)


def test_images_are_rendered_through_the_box_eye(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.uniform(0, 1, (2, 3, 90, 90)).astype(np.float32)
    images[0, 2] = np.nan  # trailing padding frame of sample 0
    path = tmp_path / "images.npy"
    np.save(path, images)
    ds = load_user_stimulus(path, dt=0.02, extent=EXTENT, kernel_size=13)
    assert ds.stimulus.shape == (2, 3, N_HEX)
    np.testing.assert_array_equal(ds.stimulus.values[1], box_eye(images[1], EXTENT, 13))
    np.testing.assert_array_equal(ds.stimulus.values[0, :2], box_eye(images[0, :2], EXTENT, 13))
    assert np.isnan(ds.stimulus.values[0, 2]).all()
    assert ds.frames.values.tolist() == [2, 3]


def test_netcdf_stimulus_file_is_read_and_renamed(tmp_path):
    ds = flashes(radius=[-1], t_stim=0.05, t_pre=0.05, dt=0.01, extent=EXTENT)
    path = write_stimulus(ds, tmp_path / "f.nc")
    back = load_user_stimulus(path, stimulus_set="mine", extent=EXTENT)
    assert back.attrs["stimulus_set"] == "mine" and back.attrs["kind"] == "flashes"
    np.testing.assert_array_equal(back.stimulus.values, ds.stimulus.values)
    with pytest.raises(StimulusError, match=r"f\.nc: file has dt=0\.01 s, but dt=0\.02"):
        load_user_stimulus(path, dt=0.02, extent=EXTENT)
    with pytest.raises(StimulusError, match="file has extent 3, expected 15"):
        load_user_stimulus(path)


@pytest.mark.parametrize("make, match", [
    (lambda: _movie()[..., :-1], r"36 hexals per frame, but a lattice of extent 3 has 37"),
    (lambda: _movie()[0], r"shape \(5, 37\).*add a leading samples axis"),
    (lambda: _movie()[..., None, None], r"expected \(samples, frames, hexals\)"),
    (lambda: _movie()[:, :0], r"empty array"),
    (lambda: _movie() * 2, r"values span \[.*\]; expected luminance in \[0, 1\]"),
    (lambda: _movie() - 0.5, r"expected luminance in \[0, 1\]"),
    (lambda: np.where(np.arange(N_HEX) == 4, np.inf, _movie()), r"infinite values"),
    (lambda: _movie().astype(np.complex64), r"not numeric"),
])
def test_wrong_arrays_name_the_file_and_the_expectation(tmp_path, make, match):
    path = tmp_path / "bad.npy"
    np.save(path, make())
    with pytest.raises(StimulusError, match=match) as info:
        load_user_stimulus(path, dt=0.01, extent=EXTENT)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("where, match", [
    ((1, 2, slice(0, 5)), r"sample 1 frame 2 is partly NaN"),
    ((2, slice(1, 3)), r"sample 2 has NaN frames before valid ones"),
    ((0, slice(None)), r"sample 0 has no valid frame"),
])
def test_nan_rules(tmp_path, where, match):
    movie = _movie()
    movie[where] = np.nan
    path = tmp_path / "nan.npy"
    np.save(path, movie)
    with pytest.raises(StimulusError, match=match):
        load_user_stimulus(path, dt=0.01, extent=EXTENT)


def test_partial_nan_image_frame_is_refused(tmp_path):
    images = np.full((1, 2, 40, 40), 0.5, np.float32)
    images[0, 0, 3, 3] = np.nan
    path = tmp_path / "img.npy"
    np.save(path, images)
    with pytest.raises(StimulusError, match="sample 0 frame 0 is partly NaN"):
        load_user_stimulus(path, dt=0.01, extent=EXTENT)


def test_dt_suffix_and_missing_file(tmp_path):
    path = tmp_path / "m.npy"
    np.save(path, _movie())
    with pytest.raises(StimulusError, match="needs dt"):
        load_user_stimulus(path, extent=EXTENT)
    for dt in (0, -0.01, float("nan")):
        with pytest.raises(StimulusError, match="must be a positive number of seconds"):
            load_user_stimulus(path, dt=dt, extent=EXTENT)
    with pytest.raises(StimulusError, match="does not exist"):
        load_user_stimulus(tmp_path / "none.npy", dt=0.01)
    (tmp_path / "m.mp4").write_bytes(b"x")
    with pytest.raises(StimulusError, match=r"unknown suffix '\.mp4'"):
        load_user_stimulus(tmp_path / "m.mp4", dt=0.01)
    with pytest.raises(StimulusError, match="t_pre=-1"):
        load_user_stimulus(path, dt=0.01, extent=EXTENT, t_pre=-1)


def test_pickled_npy_is_not_loaded(tmp_path):
    """An object array (stored as a pickle inside the .npy) is refused, never unpickled."""
    marker = tmp_path / "executed"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npy"
    arr = np.empty(1, dtype=object)
    arr[0] = Payload()
    with open(path, "wb") as f:
        np.lib.format.write_array(f, arr, allow_pickle=True)
    with pytest.raises(StimulusError, match="without pickles"):
        load_user_stimulus(path, dt=0.01, extent=EXTENT)
    assert not marker.exists()
