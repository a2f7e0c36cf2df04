"""Cluster stability: planted clusters are stable, clusters forced onto noise are not."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flycluster.clustering import add_stability, cluster_cell_type, cluster_stability, jaccard_best_match
from flycluster.formats.clustering import read_clustering, write_clustering

FIXTURE = Path(__file__).parent / "fixtures" / "clustering" / "umap_gmm.npz"


@pytest.fixture(scope="module")
def planted():
    with np.load(FIXTURE) as data:
        X, te, group = data["X"], data["task_error"], data["planted_group"]
    return X, te, group, cluster_cell_type(X, task_error=te)


@pytest.fixture(scope="module")
def planted_stability(planted):
    X, _, _, ref = planted
    return cluster_stability(X, ref, n_seed_repeats=3, n_leave_out_repeats=3,
                             leave_out_fraction=0.2, random_state=7)


def test_planted_clusters_are_stable(planted, planted_stability):
    _, _, group, ref = planted
    st = planted_stability
    assert st.sizes["repeat"] == 6 and st.sizes["cluster"] == ref.sizes["cluster"] == 3
    assert list(st["stability_kind"].values) == ["seed"] * 3 + ["leave_out"] * 3
    assert len(set(st["stability_seed"].values.tolist())) == 6
    assert st.attrs["stability_n_left_out"] == 5  # round(0.2 * 26)
    assert np.isfinite(st["stability_ari_repeat"].values).all()
    assert float(st["stability_ari"]) >= 0.9
    assert float(st["stability_ari_min"]) <= float(st["stability_ari"])
    np.testing.assert_allclose(
        float(st["stability_ari"]),
        np.mean([float(st["stability_ari_seed"]), float(st["stability_ari_leave_out"])]))
    assert (st["stability_cluster_jaccard"].values >= 0.8).all()
    # co-assignment: networks of one planted group stay together, other groups apart
    co = st["stability_co_assignment"].values
    same = group[:, None] == group[None, :]
    valid = (group[:, None] >= 0) & (group[None, :] >= 0)
    assert np.nanmean(co[same & valid]) >= 0.9
    assert np.nanmean(co[~same & valid]) <= 0.1
    assert np.isnan(co[-1]).all()  # the constant network is never clustered


def test_clusters_forced_onto_noise_are_unstable():
    X = np.random.RandomState(3).randn(26, 400).astype(np.float32)
    gmm = {"range_n_clusters": [3]}
    ref = cluster_cell_type(X, gmm_kwargs=gmm)
    st = cluster_stability(X, ref, gmm_kwargs=gmm, n_seed_repeats=3, n_leave_out_repeats=3)
    assert ref.attrs["n_clusters"] == 3
    assert float(st["stability_ari"]) < 0.6
    assert st["stability_cluster_jaccard"].values.mean() < 0.75


def test_same_random_state_same_result(planted, planted_stability):
    X, _, _, ref = planted
    again = cluster_stability(X, ref, n_seed_repeats=3, n_leave_out_repeats=3,
                              leave_out_fraction=0.2, random_state=7)
    xr.testing.assert_identical(again, planted_stability)


def test_stored_in_the_clustering_file(tmp_path, planted, planted_stability):
    _, _, _, ref = planted
    merged = add_stability(ref, planted_stability)
    write_clustering(merged, tmp_path / "T4c.nc")
    back = read_clustering(tmp_path / "T4c.nc")
    assert float(back["stability_ari"]) == float(planted_stability["stability_ari"])
    assert back["stability_ari"].ndim == 0  # scalars: one column each in the summary table
    assert back.attrs["n_clusters"] == 3 and back.attrs["stability_gmm_n_init"] == 10
    np.testing.assert_array_equal(back["label"].values, ref["label"].values)


def test_jaccard_best_match_and_bad_arguments(planted):
    ref = np.array([0, 0, 0, 1, 1, 2])
    other = np.array([5, 5, 6, 6, 6, 6])
    # cluster 0 {0,1,2} vs {0,1}: 2/3; cluster 1 {3,4} vs {2,3,4,5}: 2/4; cluster 2: 1/4
    np.testing.assert_allclose(jaccard_best_match(ref, other, 4), [2 / 3, 0.5, 0.25, np.nan])
    X, _, _, ref_ds = planted
    with pytest.raises(ValueError, match="leave_out_fraction"):
        cluster_stability(X, ref_ds, leave_out_fraction=1.0)
    with pytest.raises(ValueError, match="X has 25 networks"):
        cluster_stability(X[:25], ref_ds)
    with pytest.raises(ValueError, match="n_seed_repeats"):
        cluster_stability(X, ref_ds, n_seed_repeats=-1)
