"""Figures: right panels and artists, plotted values equal to the inputs, files saved."""

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flycluster import plots, tuning
from flycluster.clustering import cluster_cell_type
from flycluster.plots.style import MARKERS, task_error_colors, zorder

FIXTURE = Path(__file__).parent / "fixtures" / "clustering" / "umap_gmm.npz"


@pytest.fixture(scope="module")
def data():
    with np.load(FIXTURE) as f:
        X, te, group = f["X"], f["task_error"], f["planted_group"]
    names = [f"{i:03d}" for i in range(len(X))]
    ds = cluster_cell_type(X, task_error=te, network_names=names, cell_type="T4c",
                           gmm_kwargs={"n_init": 10})
    # naturalistic-like responses: the 400 features as 2 samples x 200 frames
    responses = xr.DataArray(X.reshape(len(X), 2, 200), dims=("network", "sample", "frame"),
                             coords={"network": names, "time": ("frame", np.arange(200) / 100),
                                     "name": ("sample", ["alley", "temple"])})
    return ds, responses, group


def moving_edges(ds, group):
    """Moving-edge responses: planted group 2 prefers 90 deg, group 0 270 deg, group 1 none."""
    grid = [(a, 80, i, s) for a in range(0, 360, 30) for i in (0, 1) for s in (9.7, 19.0)]
    angle, width, intensity, speed = (np.array(v, float) for v in zip(*grid))
    t_stim = 21 * 2.25 / (5.8 * speed)
    time = np.arange(-20, 80) / 40
    pref = {0: 270.0, 1: None, 2: 90.0, -1: None}
    rng = np.random.RandomState(0)
    r = np.zeros((ds.sizes["network"], len(grid), len(time)))
    for n, g in enumerate(group):
        for s in range(len(grid)):
            if pref[g] is None:
                amp = 1.0
            else:
                amp = np.exp(2 * (np.cos(np.deg2rad(angle[s] - pref[g])) - 1))
            amp *= rng.uniform(0.5, 1.5) if intensity[s] == 1 else 0.2
            r[n, s] = amp * np.exp(-0.5 * ((time - t_stim[s] / 2) / 0.1) ** 2)
    return xr.DataArray(r, dims=("network", "sample", "frame"),
                        coords={"network": ds["network"].values, "time": ("frame", time),
                                "angle": ("sample", angle), "width": ("sample", width),
                                "intensity": ("sample", intensity), "speed": ("sample", speed),
                                "t_stim": ("sample", t_stim)})


def test_embedding_figure_plots_the_clustering(data, tmp_path):
    ds, _, _ = data
    fig = plots.plot_embedding(ds)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # scatter + colorbar
    mask = ds["clustered"].values
    points = {c.get_gid(): c for c in ax.collections if c.get_gid()}
    assert set(points) == {str(n) for n in ds["network"].values[mask]}
    colors, _, _ = task_error_colors(ds["task_error"].values)
    order = zorder(ds["task_error"].values[mask])
    for j, i in enumerate(np.flatnonzero(mask)):
        artist = points[str(ds["network"].values[i])]
        np.testing.assert_allclose(artist.get_offsets()[0], ds["embedding"].values[i])
        np.testing.assert_allclose(artist.get_facecolor()[0][:3], colors[i][:3])
        assert artist.get_zorder() == pytest.approx(2 + order[j] / mask.sum())
        style = matplotlib.markers.MarkerStyle(MARKERS[ds["label"].values[i]])
        marker_path = style.get_path().transformed(style.get_transform())
        np.testing.assert_allclose(artist.get_paths()[0].vertices, marker_path.vertices)
    # the best network (lowest error) is drawn on top and darkest
    best = str(ds["network"].values[np.nanargmin(np.where(mask, ds["task_error"].values, np.inf))])
    assert points[best].get_zorder() == max(p.get_zorder() for p in points.values())
    # one annotation per cluster with its mean task error
    texts = sorted((t.get_gid(), t.get_text()) for t in ax.texts if t.get_gid())
    assert texts == [(f"cluster{c}", f"{float(ds['cluster_task_error'][c]):.3f}")
                     for c in range(ds.attrs["n_clusters"])]
    assert any(isinstance(c, matplotlib.contour.QuadContourSet) or "Contour" in type(c).__name__
               for c in ax.get_children())
    paths = plots.save_figure(fig, tmp_path / "figs" / "embedding")
    assert [p.name for p in paths] == ["embedding.png", "embedding.pdf"]
    assert paths[0].read_bytes()[:4] == b"\x89PNG" and paths[1].read_bytes()[:4] == b"%PDF"
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == ["embedding.pdf",
                                                                     "embedding.png"]


def test_trace_figure_one_panel_per_cluster(data):
    ds, responses, _ = data
    k = ds.attrs["n_clusters"]
    fig = plots.plot_cluster_traces(responses, ds, samples=[0, 1])
    axes = [a for a in fig.axes]
    assert len(axes) == 2 * k
    for c in range(k):
        ax = axes[c]  # first row: sample 0
        members = [str(n) for n in ds["network"].values[ds["label"].values == c]]
        lines = {line.get_gid(): line for line in ax.lines}
        assert set(lines) == set(members) | {"mean"}
        for name in members:
            np.testing.assert_allclose(lines[name].get_ydata(),
                                       responses.sel(network=name).isel(sample=0).values)
        np.testing.assert_allclose(
            lines["mean"].get_ydata(),
            responses.sel(network=members).isel(sample=0).mean("network").values, rtol=1e-6)
        assert ax.get_title().startswith(f"cluster {c} (n={len(members)})")
    assert "temple" in axes[k].get_ylabel()


def test_tuning_figure_polar_panels_ground_truth_and_dsi(data):
    ds, _, group = data
    edges = moving_edges(ds, group)
    fig = plots.plot_cluster_tuning(edges, ds)
    k = ds.attrs["n_clusters"]
    polar = [a for a in fig.axes if a.name == "polar"]
    assert len(polar) == k and len(fig.axes) == k + 1  # T4c: ON row only, plus the DSI axes
    curves = tuning.angular_tuning(edges, intensity=1)
    dsi = tuning.direction_selectivity_index(edges).sel(intensity=1)
    known = tuning.known_tuning("T4c")
    for c, ax in enumerate(polar):
        members = [str(n) for n in ds["network"].values[ds["label"].values == c]]
        lines = {line.get_gid(): line for line in ax.lines}
        assert set(lines) == set(members) | {"mean", "maisak2013"}
        name = members[0]
        curve = curves.sel(network=name).values
        np.testing.assert_allclose(lines[name].get_ydata()[:-1], curve / curve.max())
        np.testing.assert_allclose(lines["maisak2013"].get_ydata()[:-1], known.values)
        np.testing.assert_allclose(lines["maisak2013"].get_xdata()[:-1],
                                   np.deg2rad(np.arange(0, 360, 30)))
        assert f"DSI {float(dsi.sel(network=members).mean()):.2f}" in ax.get_title()
    # the planted 90-degree group is direction selective, the untuned group is not
    by_group = {g: float(dsi.sel(network=[str(n) for n in ds["network"].values[group == g]]).mean())
                for g in (0, 1, 2)}
    assert by_group[2] > 0.5 and by_group[1] < 0.15
    dsi_ax = fig.axes[-1]
    for c in range(k):
        members = [str(n) for n in ds["network"].values[ds["label"].values == c]]
        dots = [col for col in dsi_ax.collections if col.get_gid() == f"dsi{c}_1"][0]
        np.testing.assert_allclose(np.sort(dots.get_offsets()[:, 1]),
                                   np.sort(dsi.sel(network=members).values))
    # other cell types: both polarities, no ground truth
    fig2 = plots.plot_cluster_tuning(edges, ds, cell_type="Mi1")
    polar2 = [a for a in fig2.axes if a.name == "polar"]
    assert len(polar2) == 2 * k
    assert all("maisak2013" not in {ln.get_gid() for ln in a.lines} for a in polar2)


def test_summary_figure_bars_equal_table():
    table = pd.DataFrame({"cell_type": ["T4a", "T4b", "Mi1"], "n_clusters": [3, 1, 2],
                          "stability_ari": [0.95, 1.0, 0.4], "stability_ari_seed": [1, 1, 0.5],
                          "stability_ari_leave_out": [0.9, 1, 0.3],
                          "planted_ari": [0.98, np.nan, 0.1], "planted": [True, False, False]})
    fig = plots.plot_summary(table)
    assert len(fig.axes) == 3
    heights = [[bar.get_height() for bar in ax.patches] for ax in fig.axes]
    assert heights[0] == [3, 1, 2]
    np.testing.assert_allclose(heights[1], [0.95, 1.0, 0.4])
    np.testing.assert_allclose(heights[2], [0.98, 0.0, 0.1])
    assert [t.get_text() for t in fig.axes[-1].get_xticklabels()] == ["T4a", "T4b", "Mi1"]
    fig = plots.plot_summary(table[["cell_type", "n_clusters"]])
    assert len(fig.axes) == 1
    with pytest.raises(ValueError, match="n_clusters"):
        plots.plot_summary(table[["cell_type"]])


def test_unclustered_cell_type_still_gives_figures():
    X = np.zeros((10, 40), np.float32)
    with pytest.warns(RuntimeWarning):
        ds = cluster_cell_type(X)
    fig = plots.plot_embedding(ds)
    assert "no clustering" in fig.axes[0].texts[0].get_text()
