"""BoxEye and HexEye rendering against flyvis 1.2.0 (fixtures: tools/make_stimulus_fixtures.py)."""

from pathlib import Path

import numpy as np
import pytest

from flycluster.errors import StimulusError
from flycluster.stimuli import box_eye
from flycluster.stimuli.lattice import hex_coordinates
from flycluster.stimuli.render import HexEye, box_eye_min_frame_size
from stimulus_tool import load_fixture_tool

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "stimuli"


@pytest.mark.parametrize("name", ["random", "sintel_like", "small"])
def test_box_eye_matches_flyvis(name):
    image = load_fixture_tool().fabricated_images()[name]
    expected = np.load(FIXTURES / "boxeye.npz")[name]
    out = box_eye(image[None], extent=15, kernel_size=13)
    assert out.shape == (1, 721) and out.dtype == np.float32
    assert np.abs(out[0] - expected).max() <= 1e-5
    # not a trivially flat image: the comparison means something
    assert expected.std() > 0.01


def test_box_eye_is_a_box_mean_at_the_hexal_centres():
    assert box_eye_min_frame_size(15, 13) == (391, 391)
    frames = np.full((2, 436, 417), 0.7, np.float32)
    np.testing.assert_allclose(box_eye(frames), 0.7, atol=1e-6)
    # one bright pixel at the image centre lights the central hexal's box only
    frames = np.zeros((1, 436, 417), np.float32)
    frames[0, 218, 208] = 1.0
    out = box_eye(frames)[0]
    u, v = hex_coordinates(15)
    centre = np.flatnonzero((u == 0) & (v == 0))[0]
    assert out[centre] == pytest.approx(1 / 169, rel=1e-6)
    assert np.count_nonzero(out) == 1
    # a pixel 6 columns to the right is still inside the box, 7 is not
    frames[0, 218, 208], frames[0, 218, 214] = 0.0, 1.0
    assert box_eye(frames)[0, centre] == pytest.approx(1 / 169, rel=1e-6)
    frames[0, 218, 214], frames[0, 218, 215] = 0.0, 1.0
    assert box_eye(frames)[0, centre] == 0.0
    with pytest.raises(StimulusError, match="T, H, W"):
        box_eye(np.zeros((1, 2, 3, 4)))


def test_hex_eye_averages_pixels_inside_hexagons():
    eye = HexEye(15, 25)
    assert eye.size == 775 and eye.n_hexals == 721
    # hexagons of apothem 12.5 px hold ~541 px (area 2 sqrt(3) 12.5^2); flyvis's float16
    # geometry gives 513..545
    assert 500 <= eye.count.min() and eye.count.max() <= 560
    assert abs(eye.count.mean() - 2 * np.sqrt(3) * 12.5**2) < 15
    image = np.full((775, 775), 0.25)
    np.testing.assert_allclose(eye(image), 0.25)
    # left half bright: hexals left of the centre are 1, right of it 0
    image[:, :387] = 1.0
    out = eye(image)[0]
    u, v = hex_coordinates(15)
    assert np.all(out[v <= -1] == 1.0) and np.all(out[v >= 1] == 0.25)
    with pytest.raises(StimulusError, match="775x775"):
        eye(np.zeros((10, 10)))
