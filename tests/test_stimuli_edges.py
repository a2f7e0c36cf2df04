"""Moving edges and flashes against flyvis 1.2.0 (fixtures: tools/make_stimulus_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest

from flycluster.errors import ConfigError
from flycluster.stimuli import flashes, moving_edges

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "stimuli"
GROUPS = [(0, 1), (30, 0), (240, 1)]  # (angle, intensity) rendered by flyvis


@pytest.fixture(scope="module")
def edges():
    """The full default set the workflow renders (144 samples); its speed is measured in
    benchmarks/, not here (a timed assertion fails on slow or busy machines)."""
    return moving_edges()


def test_default_moving_edges_match_flyvis(edges):
    ds = edges
    ref = np.load(FIXTURES / "edges.npz")
    assert ds.stimulus.shape == (144, 1078, 721)
    for key in ("angle", "width", "intensity", "speed", "t_stim"):
        np.testing.assert_allclose(ds[key].values, ref[f"table_{key}"], rtol=0, atol=1e-12)
    for angle, intensity in GROUPS:
        mask = (ds.angle.values == angle) & (ds.intensity.values == intensity)
        ours = ds.stimulus.values[mask]
        theirs = ref[f"stimulus_{angle}_{intensity}"]
        assert ours.shape == theirs.shape == (6, 1078, 721)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        assert np.nanmax(np.abs(ours - theirs)) <= 1e-3
        # the edge really moves: it sweeps +-22.5 deg (+-3.9 columns) around the centre, so
        # the central hexal goes from grey to the edge's intensity and a band of hexals
        # changes during the motion (frames 200..264 at 25 columns/s)
        fastest = ours[-1]
        assert fastest[0, 360] == 0.5 and fastest[300, 360] == pytest.approx(intensity, abs=0.01)
        changing = np.ptp(fastest[200:265], axis=0) > 0.2
        assert 0.15 < changing.mean() < 0.5


def test_moving_edge_timing_and_padding(edges):
    ds = edges
    dt, t_pre = ds.attrs["dt"], ds.attrs["t_pre"]
    assert (dt, t_pre, ds.attrs["t_fade_in"], ds.attrs["kind"]) == (0.005, 1.0, 0.0,
                                                                    "moving_edges")
    np.testing.assert_allclose(ds.time.values, np.arange(1078) * 0.005 - 1.0)
    # t_stim = 21 LEDs of 2.25 deg at speed columns/s of 5.8 deg
    np.testing.assert_allclose(ds.t_stim.values, 21 * 2.25 / (5.8 * ds.speed.values))
    for speed in (2.4, 25):
        i = int(np.flatnonzero((ds.speed.values == speed) & (ds.angle.values == 90))[0])
        stim = ds.stimulus.values[i]
        valid = ~np.isnan(stim).all(axis=1)
        n_valid = int((ds.t_stim.values[i] + 2.0) / dt)
        assert valid.sum() == n_valid and valid[:n_valid].all()  # trailing NaN padding only
        assert np.all(stim[: int(t_pre / dt)] == 0.5)  # grey before the edge
        np.testing.assert_array_equal(stim[n_valid - 1], stim[n_valid - 150])  # held last frame
    assert ds.angle.values[:6].tolist() == [0] * 6
    assert ds.speed.values[:6].tolist() == [2.4, 4.8, 9.7, 13, 19, 25]


def test_moving_edge_options_and_errors():
    ds = moving_edges(angles=[90], speeds=[20], intensities=[1], t_pre=0.1, t_post=0.1,
                      post_pad_mode="value", extent=4)
    stim = ds.stimulus.values[0]
    assert stim.shape[1] == 61
    assert np.all(stim[-1] == 0.5)  # grey after the motion with post_pad_mode="value"
    with pytest.raises(ConfigError, match="post_pad_mode"):
        moving_edges(post_pad_mode="reflect")
    with pytest.raises(ConfigError, match="speeds"):
        moving_edges(speeds=[0])
    with pytest.raises(ConfigError, match="shorter than dt"):
        moving_edges(speeds=[5000], extent=4)
    with pytest.raises(ConfigError, match="offsets"):
        moving_edges(offsets=[0, 2, 5])


def test_flashes_match_flyvis():
    ref = np.load(FIXTURES / "flashes.npz")
    ds = flashes()
    assert ds.stimulus.shape == (4, 600, 721)
    np.testing.assert_array_equal(ds.stimulus.values, ref["stimulus"])
    np.testing.assert_array_equal(ds.intensity.values, ref["intensity"])
    np.testing.assert_array_equal(ds.radius.values, ref["radius"])
    np.testing.assert_allclose(ds.time.values[[0, 200, 599]], [-1.0, 0.0, 1.995])
    # radius 6 lights the 127 hexals within 6 columns of the centre
    assert np.count_nonzero(ds.stimulus.values[3, 300] != 0.5) == 127
    with pytest.raises(ConfigError, match="alternations"):
        flashes(alternations=(1, 0))
