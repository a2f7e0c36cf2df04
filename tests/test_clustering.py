"""flycluster.clustering against flyvis' own umap_embedding + gaussian_mixture.

The fixture (tools/make_clustering_fixtures.py, run with flyvis 1.2.0) holds a planted
26 x 400 matrix (three groups + one constant network) and flyvis' embedding, mask, labels, BIC
and mixture for the seed notebook's parameters.
"""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from flycluster import clustering
from flycluster.clustering import INVALID_LABEL, cluster_cell_type, mixture
from flycluster.formats.clustering import read_clustering, write_clustering
from tolerances import BIC_RTOL, COVARIANCES_ATOL, EMBEDDING_ATOL, MEANS_ATOL

FIXTURE = Path(__file__).parent / "fixtures" / "clustering" / "umap_gmm.npz"


@pytest.fixture(scope="module")
def ref():
    with np.load(FIXTURE) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def result(ref):
    return cluster_cell_type(ref["X"], task_error=ref["task_error"], cell_type="T4c")


def test_same_labels_k_embedding_and_bic_as_flyvis(ref, result):
    assert result.attrs["n_clusters"] == int(ref["n_clusters"]) == 3
    np.testing.assert_array_equal(result["clustered"].values, ref["mask"])
    np.testing.assert_array_equal(result["label"].values, ref["labels"])
    # fixture from another CPU: tolerances from measured cross-CPU variation (tests/tolerances.py)
    np.testing.assert_allclose(result["embedding"].values, ref["embedding"], rtol=0, atol=EMBEDDING_ATOL)
    np.testing.assert_array_equal(result["n_clusters"].values, ref["range_n_clusters"])
    np.testing.assert_allclose(result["bic"].values, ref["bic"], rtol=BIC_RTOL)
    assert int(result["n_clusters"][int(np.argmin(result["bic"].values))]) == 3
    # the planted groups are recovered and the constant network is masked as constant
    planted = ref["planted_group"]
    for g in range(3):
        assert len(set(result["label"].values[planted == g])) == 1
    assert result["label"].values[-1] == INVALID_LABEL
    assert result["mask_reason"].values[-1] == 1 and (result["mask_reason"].values[:-1] == 0).all()
    # masked rows are NaN, the others are scaled to [0, 1] with both ends reached
    emb = result["embedding"].values
    assert np.isnan(emb[-1]).all()
    np.testing.assert_allclose(np.nanmin(emb, axis=0), 0.0)
    np.testing.assert_allclose(np.nanmax(emb, axis=0), 1.0)


def test_mixture_is_reordered_to_the_cluster_numbering(ref, result):
    # flyvis' raw mixture component of each cluster: the raw label of its members
    raw_of_new = [int(np.unique(ref["labels_raw"][ref["labels"] == c])[0]) for c in range(3)]
    # the weights are member fractions (exact); means and covariances carry the embedding's
    # cross-CPU variation (tests/tolerances.py)
    np.testing.assert_allclose(result["weights"].values, ref["weights"][raw_of_new])
    np.testing.assert_allclose(result["means"].values, ref["means"][raw_of_new], rtol=0, atol=MEANS_ATOL)
    np.testing.assert_allclose(result["covariances"].values, ref["covariances"][raw_of_new], rtol=0,
                               atol=COVARIANCES_ATOL)
    # clusters are numbered by mean task error: 0 best; the planted group 2 has the best error
    te = result["cluster_task_error"].values
    assert np.all(np.diff(te) > 0)
    expected = [ref["task_error"][ref["labels"] == c].mean() for c in range(3)]
    np.testing.assert_allclose(te, expected)
    assert result["label"].values[ref["planted_group"] == 2][0] == 0
    np.testing.assert_array_equal(result["cluster_size"].values,
                                  [np.sum(ref["labels"] == c) for c in range(3)])


def test_attributes_record_parameters_and_versions(result):
    attrs = result.attrs
    assert attrs["umap_metric"] == "correlation" and attrs["umap_n_neighbors"] == 5
    assert attrs["umap_min_dist"] == 0.105 and attrs["umap_spread"] == 9.0
    assert attrs["umap_n_epochs"] == 1500 and attrs["umap_random_state"] == 42
    np.testing.assert_array_equal(attrs["gmm_range_n_clusters"], [1, 2, 3, 4, 5])
    assert attrs["gmm_n_init"] == 100 and attrs["gmm_tol"] == 1e-3
    assert attrs["gmm_covariance_type"] == "full" and attrs["label_order"] == "task_error"
    import sklearn
    import umap  # noqa: F401

    assert attrs["version_sklearn"] == sklearn.__version__
    assert attrs["version_umap"] and attrs["version_numpy"] == np.__version__
    assert attrs["cell_type"] == "T4c"


def test_netcdf_round_trip(tmp_path, result):
    path = tmp_path / "clustering" / "T4c.nc"
    write_clustering(result, path)
    back = read_clustering(path)
    assert back["clustered"].dtype == bool
    xr.testing.assert_allclose(back.drop_vars("mask_reason"), result.drop_vars("mask_reason"))
    assert back.attrs["n_clusters"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["T4c.nc"]  # no temporary left


def test_cluster_order_by_task_error_and_by_size():
    raw = np.array([2, 2, 0, 0, 0, 1, INVALID_LABEL, 1])
    te = np.array([0.1, 0.1, 0.9, 0.8, 0.7, 0.5, 0.0, 0.5])
    order = clustering.cluster_order(raw, 4, te)
    # component 2 (mean 0.1) first, then 1 (0.5), then 0 (0.8), then the empty component 3
    np.testing.assert_array_equal(order, [2, 1, 0, 3])
    # by size: component 0 (3 members), then 2 and 1 (2 each, original order kept), then 3
    np.testing.assert_array_equal(clustering.cluster_order(raw, 4, None), [0, 1, 2, 3])
    raw = np.array([1, 1, 1, 0, 2, 2])
    np.testing.assert_array_equal(clustering.cluster_order(raw, 3, None), [1, 2, 0])


def test_small_clusters_flag_what_bic_rewards_in_a_small_structureless_ensemble():
    labels = np.array([0, 0, 0, 1, 1, INVALID_LABEL, 2, INVALID_LABEL, INVALID_LABEL])
    assert clustering.small_clusters(labels) == {1: 2, 2: 1}
    assert clustering.small_clusters(labels, min_size=2) == {2: 1}
    # one 2-D Gaussian, no structure: with 9 points flyvis's search (min_cluster_size 1) takes
    # the largest k and fits degenerate clusters of 1-2 points; refusing clusters of fewer than
    # 3 (the default) keeps one cluster; with 50 points both keep one
    for n, flyvis_k in ((9, 5), (50, 1)):
        points = np.random.default_rng(0).normal(size=(n, 2))
        points = (points - points.min(0)) / (points.max(0) - points.min(0))
        ks, bic, model = clustering.fit_mixtures(points, {"min_cluster_size": 1}, threads=1)
        assert model.n_components == ks[int(np.argmin(bic))] == flyvis_k, n
        small = clustering.small_clusters(model.predict(points))
        assert (len(small) >= 3) if flyvis_k > 1 else small == {}, (n, small)
        ks3, bic3, model3 = clustering.fit_mixtures(points, None, threads=1)
        np.testing.assert_array_equal(bic3, bic)  # the same fits, another choice
        assert model3.n_components == 1, n
    with pytest.raises(ValueError, match="min_cluster_size"):
        clustering.resolve_gmm_kwargs({"min_cluster_size": 0})
    # the cluster job's warning: only for a chosen k > 1 with such clusters
    ds = xr.Dataset({"label": ("network", labels)}, attrs={"n_clusters": 3, "cell_type": "T4c"})
    warning = clustering.small_cluster_warning(ds)
    assert warning.startswith("T4c: BIC chose 3 clusters, 2 of them with fewer than 3 networks "
                              "(sizes 2/1)"), warning
    assert clustering.small_cluster_warning(ds, min_size=1) is None
    ds.attrs["n_clusters"] = 1
    assert clustering.small_cluster_warning(ds) is None


def test_nan_rows_raise_or_are_masked_without_changing_the_rest(ref):
    X = np.vstack([ref["X"], np.full((1, ref["X"].shape[1]), np.nan, np.float32)])
    X[-1, :10] = 1.0
    # stimulus padding: frames that are NaN for every network are ignored
    X = np.hstack([X, np.full((len(X), 7), np.nan, np.float32)])
    names = [f"net{i}" for i in range(len(X))]
    with pytest.raises(ValueError, match=r"net26.*NaN or inf"):
        cluster_cell_type(X, network_names=names)
    ds = cluster_cell_type(xr.DataArray(X, dims=("network", "feature"),
                                        coords={"network": names}),
                           task_error=np.append(ref["task_error"], 0.0), nonfinite="mask")
    assert list(ds["network"].values) == names
    assert ds["mask_reason"].values[-1] == 2 and ds["label"].values[-1] == INVALID_LABEL
    # the NaN network never reaches UMAP: everything else is exactly the flyvis result
    np.testing.assert_array_equal(ds["label"].values[:-1], ref["labels"])
    np.testing.assert_allclose(ds["embedding"].values[:-1], ref["embedding"], rtol=0, atol=EMBEDDING_ATOL)
    assert ds.attrs["n_clusters"] == 3


def test_too_few_networks_is_a_clear_error(ref):
    with pytest.raises(ValueError, match=r"at least 7 networks.*n_neighbors=5.*got 6"):
        cluster_cell_type(ref["X"][:6])
    with pytest.raises(ValueError, match=r"at least 12 networks.*n_components=10"):
        cluster_cell_type(ref["X"][:11], umap_kwargs={"n_neighbors": 3, "n_components": 10})
    with pytest.raises(ValueError, match="task_error must have shape"):
        cluster_cell_type(ref["X"], task_error=np.zeros(3))
    with pytest.raises(ValueError, match="range_n_clusters"):
        cluster_cell_type(ref["X"], gmm_kwargs={"range_n_clusters": [0, 2]})


def test_mostly_constant_rows_give_an_all_masked_result(tmp_path):
    rng = np.random.RandomState(0)
    X = np.zeros((10, 50), np.float32)
    X[:3] = rng.randn(3, 50)
    with pytest.warns(RuntimeWarning, match="only 3 of 10 networks"):
        ds = cluster_cell_type(X)
    assert ds.attrs["n_clusters"] == 0 and ds.sizes["cluster"] == 0
    assert not ds["clustered"].values.any()
    assert (ds["label"].values == INVALID_LABEL).all()
    np.testing.assert_array_equal(ds["mask_reason"].values, [4] * 3 + [1] * 7)
    assert "only 3 of 10" in ds.attrs["degenerate"]
    write_clustering(ds, tmp_path / "x.nc")
    assert read_clustering(tmp_path / "x.nc").sizes["cluster"] == 0


def test_no_k_fits_the_remaining_networks():
    rng = np.random.RandomState(1)
    X = np.zeros((10, 50), np.float32)
    X[:4] = rng.randn(4, 50)
    with pytest.warns(RuntimeWarning, match="no k in range_n_clusters"):
        ds = cluster_cell_type(X, gmm_kwargs={"range_n_clusters": [5, 6]})
    assert ds.attrs["n_clusters"] == 0 and not ds["clustered"].values.any()
    np.testing.assert_array_equal(ds["mask_reason"].values, [4] * 4 + [1] * 6)
    assert np.isnan(ds["bic"].values).all() and list(ds["n_clusters"].values) == [5, 6]


def test_paper_range_with_duplicate_k_and_size_order(ref):
    """flyvis' stored results used range_n_clusters [2, 3, 3, 4, 5]; no task error here."""
    ds = cluster_cell_type(ref["X"], gmm_kwargs={"range_n_clusters": [2, 3, 3, 4, 5]})
    assert ds.attrs["n_clusters"] == int(ref["paper_n_clusters"])
    assert ds.attrs["label_order"] == "size" and "task_error" not in ds
    np.testing.assert_array_equal(ds["n_clusters"].values, [2, 3, 4, 5])
    np.testing.assert_allclose(ds["bic"].values, np.delete(ref["paper_bic"], 2), rtol=BIC_RTOL)
    raw = ref["paper_labels_raw"]
    order = clustering.cluster_order(raw, int(ref["paper_n_clusters"]), None)
    expected = np.where(raw == INVALID_LABEL, INVALID_LABEL, np.argsort(order)[raw.clip(0)])
    np.testing.assert_array_equal(ds["label"].values, expected)
    sizes = ds["cluster_size"].values
    assert np.all(np.diff(sizes) <= 0) and sizes.sum() == ds["clustered"].sum()


def test_one_component_mixture_needs_one_start_bit_for_bit():
    """fit_mixtures fits k=1 with a single start: the same model as sklearn with n_init=100."""
    from sklearn.mixture import GaussianMixture

    kwargs = clustering.resolve_gmm_kwargs({})
    kwargs.pop("range_n_clusters"), kwargs.pop("min_cluster_size")  # ours, not sklearn's
    assert mixture._starts(1, kwargs)["n_init"] == 1
    assert mixture._starts(2, kwargs)["n_init"] == 100
    assert mixture._starts(1, {**kwargs, "init_params": "random"})["n_init"] == 100
    rng = np.random.default_rng(3)
    for n in (7, 12, 30):
        points = np.concatenate([rng.normal(0.2, 0.05, (n // 2, 2)),
                                 rng.uniform(0, 1, (n - n // 2, 2))])
        ks, bic, _ = clustering.fit_mixtures(points, {"range_n_clusters": [1]})
        full = GaussianMixture(n_components=1, **kwargs).fit(points)
        assert bic.tobytes() == np.float64(full.bic(points)).tobytes()
        ref = GaussianMixture(n_components=1, **mixture._starts(1, kwargs)).fit(points)
        for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                     "lower_bound_", "n_iter_"):
            assert np.asarray(getattr(ref, attr)).tobytes() == \
                np.asarray(getattr(full, attr)).tobytes(), attr


def test_warm_umap_cache_leaves_nothing_to_compile(tmp_path):
    """After rule umap_jit's warm_umap_cache, a new process embeds response-like data (float32,
    48 samples x 80 frames) without compiling a single numba function."""
    import os
    import subprocess
    import sys

    src = Path(__file__).resolve().parents[1] / "src"
    from flycluster.connectome import default_cache_dir

    cache = default_cache_dir()
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache / "numba"), OMP_NUM_THREADS="1",
               NUMBA_NUM_THREADS="1", PYTHONPATH=str(src))
    warm = subprocess.run(
        [sys.executable, "-c", "from flycluster.clustering import warm_umap_cache; "
         "print(warm_umap_cache()['functions_switched'])"],
        env=env, capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr[-3000:]
    assert int(warm.stdout.split()[-1]) > 100  # umap's and pynndescent's jitted functions
    code = (
        "import numpy as np\n"
        "from numba.core import event\n"
        "from flycluster.clustering import embed, enable_umap_jit_cache\n"
        "enable_umap_jit_cache()\n"
        "X = np.random.default_rng(5).standard_normal((12, 48 * 80)).astype(np.float32)\n"
        "with event.install_recorder('numba:compile') as rec:\n"
        "    out = embed(X)\n"
        "assert out['clustered'].all()\n"
        "print(sorted({ev.data['dispatcher'].py_func.__qualname__ for _, ev in rec.buffer}))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_mixture_search_skips_repeated_starts_bit_for_bit():
    """fit_mixtures' GaussianMixture replays starts whose k-means partition repeats an earlier
    one instead of rerunning EM: every fitted attribute is identical to sklearn's."""
    from sklearn.mixture import GaussianMixture

    memo_mixture = mixture._mixture_class()
    rng = np.random.default_rng(11)
    replayed = 0
    for n, groups in ((9, 2), (16, 3), (40, 4)):
        centres = rng.uniform(0, 1, (groups, 2))
        points = centres[rng.integers(0, groups, n)] + rng.normal(0, 0.08, (n, 2))
        for k in (2, 3, 5):
            for n_init, seed in ((100, 42), (10, 3)):
                kwargs = dict(n_components=k, n_init=n_init, max_iter=1000, tol=1e-3,
                              random_state=seed)
                ref = GaussianMixture(**kwargs).fit(points)
                fast = memo_mixture(**kwargs).fit(points)
                replayed += fast.starts_replayed_
                for attr in ("weights_", "means_", "covariances_", "precisions_cholesky_",
                             "precisions_", "lower_bound_", "n_iter_", "converged_"):
                    assert np.asarray(getattr(fast, attr)).tobytes() == \
                        np.asarray(getattr(ref, attr)).tobytes(), (n, k, attr)
                assert fast.bic(points) == ref.bic(points)
                np.testing.assert_array_equal(fast.predict(points), ref.predict(points))
    assert replayed > 300  # the replay path ran (most starts repeat a partition here)
