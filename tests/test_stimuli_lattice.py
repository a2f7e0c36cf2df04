"""Hex lattice: flyvis order, flip and rotation permutations, pixel positions."""

import numpy as np
import pytest

from flycluster.stimuli.lattice import (
    augmentation_permutation,
    box_eye_centers,
    extent_from_n_hexals,
    flip_permutation,
    hex_coordinates,
    hex_distance,
    hex_to_pixel,
    n_hexals,
    rotation_permutation,
)


def _index(extent):
    u, v = hex_coordinates(extent)
    return {(a, b): i for i, (a, b) in enumerate(zip(u.tolist(), v.tolist()))}


def test_coordinates_are_flyvis_u_major_order():
    u, v = hex_coordinates(15)
    assert len(u) == n_hexals(15) == 721
    assert (u[0], v[0]) == (-15, 0) and (u[-1], v[-1]) == (15, 0)
    assert (u[360], v[360]) == (0, 0)  # the central hexal of flyvis
    order = np.lexsort((v, u))
    np.testing.assert_array_equal(order, np.arange(721))
    assert hex_distance(u, v).max() == 15 and np.all(np.abs(u + v) <= 15)
    assert [n_hexals(e) for e in (0, 1, 4)] == [1, 7, 61]
    assert extent_from_n_hexals(61) == 4
    with pytest.raises(ValueError, match="700 hexals"):
        extent_from_n_hexals(700)


@pytest.mark.parametrize("extent", [2, 15])
def test_flip_moves_u_v_to_u_plus_v_minus_v(extent):
    u, v = hex_coordinates(extent)
    index = _index(extent)
    values = 1000 * u + v
    flipped = values[flip_permutation(extent, 1)]
    for k, (uk, vk) in enumerate(zip(u.tolist(), v.tolist())):
        # the hexal landing on (uk, vk) came from (us, vs) with (us + vs, -vs) = (uk, vk)
        us, vs = uk + vk, -vk
        assert flipped[k] == values[index[(us, vs)]]
    np.testing.assert_array_equal(flipped[flip_permutation(extent, 1)], values)  # involution
    np.testing.assert_array_equal(flip_permutation(extent, 0), np.arange(len(u)))


def test_rotation_by_60_degrees_and_its_powers():
    extent = 15
    u, v = hex_coordinates(extent)
    index = _index(extent)
    values = np.arange(721) * 7 % 721
    rotated = values[rotation_permutation(extent, 1)]
    for k, (uk, vk) in enumerate(zip(u.tolist(), v.tolist())):
        # source (us, vs) with (-vs, us + vs) = (uk, vk)
        vs = -uk
        us = vk - vs
        assert rotated[k] == values[index[(us, vs)]]
    three = values
    for _ in range(3):
        three = three[rotation_permutation(extent, 1)]
    np.testing.assert_array_equal(three, values[rotation_permutation(extent, 3)])
    np.testing.assert_array_equal(values[rotation_permutation(extent, 6)], values)
    # 3 x 60 degrees is the point reflection (u, v) -> (-u, -v)
    np.testing.assert_array_equal(values[rotation_permutation(extent, 3)], values[::-1])


def test_augmentation_flips_first_then_rotates():
    values = np.random.default_rng(0).random(721)
    for flip in (0, 1):
        for n in range(6):
            expected = values[flip_permutation(15, flip)][rotation_permutation(15, n)]
            np.testing.assert_array_equal(values[augmentation_permutation(15, flip, n)], expected)
    with pytest.raises(ValueError, match="flip axis"):
        flip_permutation(15, 4)


def test_pixel_positions_put_neighbours_at_unit_distance():
    u, v = hex_coordinates(3)
    x, y = hex_to_pixel(u, v)
    centre = np.flatnonzero((u == 0) & (v == 0))[0]
    d = np.hypot(x - x[centre], y - y[centre])
    np.testing.assert_allclose(np.sort(d)[1:7], 1.0)
    np.testing.assert_allclose(d[hex_distance(u, v) == 1], 1.0)


def test_box_eye_centres_as_flyvis():
    rows, cols = box_eye_centers(15, 13)
    u, v = hex_coordinates(15)
    i = np.flatnonzero((u == -1) & (v == 1))[0]
    assert (rows[i], cols[i]) == (-6, 13)  # 13 * (-1 + 1/2) = -6.5 truncates towards zero
    assert rows.min() == -195 and rows.max() == 195 and cols.max() == 195
