"""Figures of issue 12: moving-edge traces per cluster, ensemble + cluster polar tuning,
FRI per cluster, and the ensemble FRI/DSI figure; the plotted data equal the inputs."""

import numpy as np
import pytest
import xarray as xr

from flycluster import tuning as tn
from flycluster.plots.edge_traces import (
    clustered_members,
    normalize_edge_responses,
    plot_edge_traces,
    plot_ensemble_tuning,
    select_edge_sample,
)
from flycluster.plots.fri import known_first_order, plot_cluster_fri, plot_ensemble_fri_dsi

NAMES = [f"{i:03d}" for i in range(9)]
GROUP = np.array([0, 0, 0, 1, 1, 1, 2, 2, -1])  # last network not clustered


def clustering(mask_name="clustered"):
    labels = np.where(GROUP >= 0, GROUP, -99999)
    ds = xr.Dataset({"label": ("network", labels), mask_name: ("network", GROUP >= 0),
                     "task_error": ("network", np.linspace(0.1, 0.9, 9))},
                    coords={"network": NAMES})
    ds.attrs.update(n_clusters=3, cell_type="T4c")
    return ds


def moving_edges():
    """Group 0 prefers 90 deg, group 1 270 deg, group 2 (and the unclustered) none."""
    grid = [(a, 80, i, s) for a in range(0, 360, 30) for i in (0, 1) for s in (9.7, 19.0)]
    angle, width, intensity, speed = (np.array(v, float) for v in zip(*grid))
    t_stim = 21 * 2.25 / (5.8 * speed)
    time = np.arange(-20, 80) / 40
    pref = {0: 90.0, 1: 270.0, 2: None, -1: None}
    rng = np.random.RandomState(0)
    r = np.zeros((len(NAMES), len(grid), len(time)))
    for n, g in enumerate(GROUP):
        for s in range(len(grid)):
            amp = 1.0 if pref[g] is None else np.exp(
                2 * (np.cos(np.deg2rad(angle[s] - pref[g])) - 1))
            amp *= rng.uniform(0.5, 1.5) if intensity[s] == 1 else 0.2
            r[n, s] = amp * np.exp(-0.5 * ((time - t_stim[s] / 2) / 0.1) ** 2) - 0.1 * n
    return xr.DataArray(r, dims=("network", "sample", "frame"),
                        coords={"network": NAMES, "time": ("frame", time),
                                "angle": ("sample", angle), "width": ("sample", width),
                                "intensity": ("sample", intensity), "speed": ("sample", speed),
                                "t_stim": ("sample", t_stim)})


def _lines(ax):
    return {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}


@pytest.mark.parametrize("mask_name", ["clustered", "mask"])
def test_members_accept_both_mask_names(mask_name):
    assert clustered_members(clustering(mask_name)) == {0: NAMES[:3], 1: NAMES[3:6],
                                                        2: NAMES[6:8]}


def test_edge_traces_one_panel_per_cluster():
    resp = moving_edges()
    position = select_edge_sample(resp)  # ON, 19 columns/s, 90 deg
    assert (resp["angle"][position], resp["speed"][position],
            resp["intensity"][position]) == (90, 19, 1)
    fig = plot_edge_traces(resp, clustering())
    assert len(fig.axes) == 3
    normed = normalize_edge_responses(resp)
    for c, ax in enumerate(fig.axes):
        lines = _lines(ax)
        members = NAMES[3 * c: 3 * c + 3] if c < 2 else NAMES[6:8]
        assert set(lines) == set(members) | {"mean"}
        for name in members:
            np.testing.assert_allclose(lines[name].get_ydata(),
                                       normed.sel(network=name).isel(sample=position).values)
        np.testing.assert_allclose(
            lines["mean"].get_ydata(),
            normed.sel(network=members).isel(sample=position).mean("network").values)
    # normalisation: max |r| over all samples and frames is 1 per network
    np.testing.assert_allclose(np.abs(normed).max(("sample", "frame")).values, 1.0)
    with pytest.raises(ValueError, match="0 moving-edge samples match"):
        plot_edge_traces(resp, clustering(), speed=25)


def test_ensemble_tuning_panel_then_clusters_with_ground_truth():
    resp = moving_edges()
    fig = plot_ensemble_tuning(resp, clustering())
    assert len(fig.axes) == 4
    curves = tn.angular_tuning(resp, intensity=1, normalize=True)
    ensemble = _lines(fig.axes[0])
    assert set(ensemble) == set(NAMES) | {"mean", "maisak2013"}  # all 9, incl. unclustered
    for name in NAMES:
        np.testing.assert_allclose(ensemble[name].get_ydata()[:-1],
                                   curves.sel(network=name).values)
    known = tn.known_tuning("T4c")
    np.testing.assert_allclose(ensemble["maisak2013"].get_ydata()[:-1], known.values)
    cluster0 = _lines(fig.axes[1])
    assert set(cluster0) == set(NAMES[:3]) | {"mean", "maisak2013"}
    # cluster 0 (planted 90 deg) points up: its mean curve peaks at 90 deg
    theta = np.rad2deg(cluster0["mean"].get_xdata()[:-1])
    assert theta[np.argmax(cluster0["mean"].get_ydata()[:-1])] == 90
    # without a clustering: one panel; a non-T4/T5 type has no ground truth
    fig = plot_ensemble_tuning(resp, cell_type="Mi1")
    assert len(fig.axes) == 1 and "maisak2013" not in _lines(fig.axes[0])


def _fri():
    rng = np.random.RandomState(1)
    types = ["T4c", "Mi1", "Tm3", "Mi4", "Mi9", "TmY18", "Tm9"]
    values = rng.uniform(-1, 1, (len(NAMES), len(types)))
    return xr.DataArray(values, dims=("network", "cell_type"),
                        coords={"network": NAMES, "cell_type": types}, name="fri")


def test_cluster_fri_panel():
    fri = _fri()
    fig = plot_cluster_fri(fri, clustering(), input_types=["Mi1", "Tm3", "Mi4", "Mi9"])
    ax = fig.axes[0]
    points = {coll.get_gid(): coll for coll in ax.collections if coll.get_gid()}
    assert len(points) == 3 * 5
    for c, members in clustered_members(clustering()).items():
        for t in ["T4c", "Mi1", "Tm3", "Mi4", "Mi9"]:
            np.testing.assert_allclose(points[f"{c}:{t}"].get_offsets()[:, 1],
                                       fri.sel(network=members, cell_type=t).values)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["T4c", "Mi1", "Tm3", "Mi4", "Mi9"]
    # Mi9 is a measured OFF type: its label has the OFF colour
    from matplotlib.colors import to_rgba

    from flycluster.plots.style import OFF_COLOR, ON_COLOR
    colors = {t.get_text(): t.get_color() for t in ax.get_xticklabels()}
    assert to_rgba(colors["Mi9"]) == to_rgba(OFF_COLOR)
    assert to_rgba(colors["Mi1"]) == to_rgba(ON_COLOR)
    with pytest.raises(ValueError, match=r"FRI lacks cell types \['T5a'\]"):
        plot_cluster_fri(fri, clustering(), input_types=["T5a"])


def test_known_first_order_is_flyvis_order():
    order = known_first_order(["TmY18", "Tm9", "T4c", "Mi1", "Lawf1", "L1", "new"])
    assert order == ["Mi1", "T4c", "L1", "Tm9", "Lawf1", "TmY18", "new"]


def test_ensemble_fri_dsi_figure():
    fri = _fri()
    rng = np.random.RandomState(2)
    dsi = xr.DataArray(rng.uniform(0, 1, (len(NAMES), 2, 7)),
                       dims=("network", "intensity", "cell_type"),
                       coords={"network": NAMES, "intensity": [0, 1],
                               "cell_type": fri["cell_type"].values})
    fig = plot_ensemble_fri_dsi(fri, dsi)
    axes = {ax.get_gid(): ax for ax in fig.axes}
    assert set(axes) == {"fri", "dsi_on", "dsi_off"}
    order = known_first_order(fri["cell_type"].values)
    assert [t.get_text() for t in axes["dsi_off"].get_xticklabels()] == order
    for gid, data in (("fri", fri), ("dsi_on", dsi.sel(intensity=1)),
                      ("dsi_off", dsi.sel(intensity=0))):
        scatters = [c for c in axes[gid].collections if c.get_offsets().shape[0] == len(NAMES)]
        assert len(scatters) == len(order)
        for x, (coll, cell_type) in enumerate(zip(scatters, order)):
            offsets = coll.get_offsets()
            assert np.all(np.abs(offsets[:, 0] - x) < 0.13)
            np.testing.assert_allclose(offsets[:, 1], data.sel(cell_type=cell_type).values)
    assert axes["dsi_off"].yaxis_inverted()
    labels = {t.get_text(): t for t in axes["dsi_off"].get_xticklabels()}
    assert labels["T4c"].get_fontweight() == "bold"  # measured DS
    assert labels["Mi1"].get_fontstyle() == "italic"  # measured not DS


def test_input_cell_types():
    from flycluster.plots.fri import input_cell_types

    edges = [("Mi1", "T4c"), ("Tm3", "T4c"), ("T4c", "T4c"), ("Mi1", "T4c"), ("Mi9", "T4c"),
             ("L1", "Mi1")]
    assert input_cell_types(edges, "T4c") == ["Mi1", "Tm3", "Mi9"]
    assert input_cell_types(edges, "T4c", include_self=True) == ["Mi1", "Tm3", "T4c", "Mi9"]
