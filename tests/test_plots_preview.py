"""Stimulus preview: hexagons at the lattice positions, frame values, PNG and GIF files."""

import numpy as np
from PIL import Image

from flycluster.plots.preview import hex_polygons, plot_stimulus_preview, preview_frames, write_stimulus_preview
from flycluster.stimuli import build_stimulus_set, flashes
from flycluster.stimuli.lattice import hex_coordinates, hex_to_pixel


def test_hexagons_tile_the_lattice():
    u, v = hex_coordinates(2)
    polys = hex_polygons(u, v)
    assert polys.shape == (19, 6, 2)
    x, y = hex_to_pixel(u, v)
    np.testing.assert_allclose(polys.mean(axis=1), np.stack([x, y], 1), atol=1e-12)
    # neighbouring hexagons share an edge: vertices of the centre hexagon recur in neighbours
    centre = polys[np.flatnonzero((u == 0) & (v == 0))[0]]
    for vertex in centre:
        shared = np.isclose(polys, vertex, atol=1e-9).all(axis=-1).any(axis=-1).sum()
        assert shared == 3  # each inner vertex is a corner of three hexagons


def test_preview_strip_shows_the_frames(tmp_path):
    ds = flashes(radius=[2], t_stim=0.05, t_pre=0.05, dt=0.01, extent=4)  # 15 frames
    assert preview_frames(ds, 0, 4).tolist() == [0, 5, 9, 14]
    fig = plot_stimulus_preview(ds, samples=(0, 1), n_frames=4)
    colls = {c.get_gid(): c for ax in fig.axes for c in ax.collections if c.get_gid()}
    assert sorted(colls) == sorted(f"sample{s}_frame{f}" for s in (0, 1) for f in (0, 5, 9, 14))
    for s in (0, 1):
        for f in (0, 5, 9, 14):
            np.testing.assert_allclose(colls[f"sample{s}_frame{f}"].get_array(),
                                       ds.stimulus.values[s, f])
    # the ON flash (sample 1, intensity 1) is white inside radius 2 during the flash
    assert colls["sample1_frame5"].get_array().max() == 1.0
    assert colls["sample1_frame0"].get_array().max() == 0.5


def test_preview_files_png_and_gif(tmp_path):
    ds = build_stimulus_set("edges", {"kind": "moving_edges", "angles": [0], "speeds": [19],
                                      "intensities": [1], "t_pre": 0.05, "t_post": 0.05,
                                      "dt": 0.02, "extent": 4})
    paths = write_stimulus_preview(ds, tmp_path / "preview", n_frames=5, gif_max_frames=8)
    assert [p.name for p in paths] == ["preview.png", "preview.gif"]
    with Image.open(paths[1]) as gif:
        assert gif.n_frames == min(8, ds.sizes["frame"])
    with Image.open(paths[0]) as png:
        assert png.size[0] > png.size[1] > 50
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.gif", "preview.png"]
