"""flyvis's published clusterings: pickles written by flyvis's own code read without flyvis,
hostile pickles refused without running anything, and the comparison with ours."""

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from sklearn.metrics import adjusted_rand_score

from flycluster.published import (
    PublishedClusteringError,
    compare_clusterings,
    read_flyvis_clustering,
    read_flyvis_clusterings,
)

FIXTURES = Path(__file__).parent / "fixtures" / "published"
FOLDER = FIXTURES / "umap_and_clustering"


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("cell_type", ["T4c", "Mi1"])
def test_reads_what_flyvis_stored(expected, cell_type):
    ds = read_flyvis_clustering(FOLDER / f"{cell_type}.pickle")
    e = lambda key: expected[f"{cell_type}_{key}"]  # noqa: E731
    np.testing.assert_array_equal(ds["label"].values, e("labels"))
    np.testing.assert_array_equal(ds["clustered"].values, e("mask"))
    np.testing.assert_array_equal(ds["embedding"].values, e("embedding"))
    np.testing.assert_array_equal(ds["bic"].values, e("scores"))
    np.testing.assert_array_equal(ds["n_clusters"].values, e("n_clusters"))
    assert ds.attrs["n_clusters"] == int(e("k"))
    np.testing.assert_array_equal(ds.attrs["range_n_clusters"], e("range_n_clusters"))
    assert ds.attrs["cell_type"] == cell_type and ds.attrs["label_order"] == "stored"
    assert ds.attrs["gmm_n_init"] == 10 and ds.attrs["gmm_tol"] == 0.001
    assert ds["network"].values.tolist() == [f"{i:03d}" for i in range(12)]
    k = ds.attrs["n_clusters"]
    assert ds["means"].shape == (k, 2) and ds["covariances"].shape == (k, 2, 2)
    np.testing.assert_allclose(ds["weights"].sum(), 1.0)
    # masked networks: label -99999, NaN embedding
    masked = ~e("mask")
    assert (ds["label"].values[masked] == -99999).all()
    assert np.isnan(ds["embedding"].values[masked]).all()
    sizes = [int((e("labels") == c).sum()) for c in range(k)]
    assert ds["cluster_size"].values.tolist() == sizes


def test_mi1_has_a_masked_network_and_paper_range_is_kept(expected):
    mi1 = read_flyvis_clustering(FOLDER / "Mi1.pickle")
    assert mi1["clustered"].values.tolist().count(False) == 1 and not mi1["clustered"][5]
    t4c = read_flyvis_clustering(FOLDER / "T4c.pickle")
    assert t4c.attrs["range_n_clusters"].tolist() == [2, 3, 3, 4, 5]
    assert t4c["n_clusters"].values.tolist() == [2, 3, 3, 4, 5]


def test_task_error_renumbers_like_flyvis(expected):
    rng = np.random.RandomState(0)
    task_error = rng.uniform(0, 1, 12)
    stored = read_flyvis_clustering(FOLDER / "T4c.pickle")
    ds = read_flyvis_clustering(FOLDER / "T4c.pickle", task_error=task_error,
                                network_names=[f"n{i}" for i in range(12)])
    assert ds.attrs["label_order"] == "task_error"
    assert ds["network"].values.tolist()[0] == "n0"
    labels = ds["label"].values
    # same partition, clusters numbered by increasing mean task error (0 = best)
    assert adjusted_rand_score(stored["label"].values, labels) == 1.0
    means = [task_error[labels == c].mean() for c in range(ds.attrs["n_clusters"])]
    assert means == sorted(means)
    # the mixture parameters follow the renumbering
    for c in range(ds.attrs["n_clusters"]):
        old = int(stored["label"].values[labels == c][0])
        np.testing.assert_array_equal(ds["means"].values[c], stored["means"].values[old])
    with pytest.raises(ValueError, match=r"task_error must have shape \(12,\)"):
        read_flyvis_clustering(FOLDER / "T4c.pickle", task_error=task_error[:3])


def test_read_folder():
    both = read_flyvis_clusterings(FOLDER)
    assert sorted(both) == ["Mi1", "T4c"]
    with pytest.raises(PublishedClusteringError, match="does not exist"):
        read_flyvis_clusterings(FOLDER / "nope")
    with pytest.raises(PublishedClusteringError, match="does not exist"):
        read_flyvis_clusterings(FOLDER, cell_types=["T5a"])


class _System:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Open:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


class _Eval:
    def __init__(self, code):
        self.code = code

    def __reduce__(self):
        return (eval, (self.code,))


@pytest.fixture()
def fake_flyvis(monkeypatch):
    """A module named flyvis.analysis.clustering with a look-alike class, to craft pickles."""
    module = types.ModuleType("flyvis.analysis.clustering")

    class GaussianMixtureClustering:
        pass

    class Embedding:
        pass

    for cls in (GaussianMixtureClustering, Embedding):
        cls.__module__ = module.__name__
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    for name in ("flyvis", "flyvis.analysis"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, module.__name__, module)
    return GaussianMixtureClustering


def _hostile_payloads(marker: Path, fake_cls):
    command = f"touch {marker}"
    outer = fake_cls()
    outer.labels = _System(command)
    outer.embedding = None
    return {
        "top-level os.system": _System(command),
        "open() for writing": _Open(str(marker)),
        "eval": _Eval(f"open({str(marker)!r}, 'w')"),
        "nested in a flyvis record": outer,
        "inside a dict": {"labels": [1, 2, _System(command)]},
    }


def test_hostile_pickles_are_refused_and_never_run(tmp_path, fake_flyvis):
    marker = tmp_path / "pwned"
    for what, payload in _hostile_payloads(marker, fake_flyvis).items():
        path = tmp_path / "T4c.pickle"
        path.write_bytes(pickle.dumps(payload))
        with pytest.raises(PublishedClusteringError, match="refusing to load global") as info:
            read_flyvis_clustering(path)
        assert str(path) in str(info.value), what
        assert any(name in str(info.value) for name in ("system", "open", "eval")), what
        assert not marker.exists(), what
    # protocol 0 (text) and 2 pickles too
    for protocol in (0, 2):
        path.write_bytes(pickle.dumps(_System(f"touch {marker}"), protocol=protocol))
        with pytest.raises(PublishedClusteringError, match="refusing"):
            read_flyvis_clustering(path)
        assert not marker.exists()


def test_unexpected_but_harmless_content_is_refused(tmp_path, fake_flyvis):
    path = tmp_path / "x.pickle"
    path.write_bytes(pickle.dumps({"labels": np.arange(3)}))
    with pytest.raises(PublishedClusteringError, match="expected flyvis's GaussianMixture"):
        read_flyvis_clustering(path)
    # an object of the UMAP reducer's packages outside the reducer
    obj = fake_flyvis()
    obj.labels = xr.Dataset.__new__  # any global outside the allow-list
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(PublishedClusteringError, match="refusing to load global"):
        read_flyvis_clustering(path)
    from scipy.sparse import csr_matrix

    obj = fake_flyvis()
    obj.embedding = csr_matrix(np.eye(2))  # inert placeholder, but not inside the reducer
    path.write_bytes(pickle.dumps(obj))
    with pytest.raises(PublishedClusteringError, match=r"unexpected object at "
                                                        r"clustering\.embedding \(scipy"):
        read_flyvis_clustering(path)
    path.write_bytes(b"\x80\x05not a pickle")
    with pytest.raises(PublishedClusteringError, match="not a readable pickle"):
        read_flyvis_clustering(path)


def _ours_from(published, permutation=None, flip=None, k_range=(1, 2, 3, 4, 5)):
    labels = published["label"].values.copy()
    if permutation is not None:
        ok = labels >= 0
        labels[ok] = np.asarray(permutation)[labels[ok]]
    if flip is not None:
        labels[flip] = (labels[flip] + 1) % published.attrs["n_clusters"]
    ds = xr.Dataset({"label": ("network", labels),
                     "mask": ("network", published["clustered"].values)},
                    coords={"network": published["network"].values})
    ds.attrs.update(n_clusters=int(published.attrs["n_clusters"]),
                    gmm_range_n_clusters=np.asarray(k_range))
    return ds


def test_compare_clusterings():
    pub = read_flyvis_clustering(FOLDER / "T4c.pickle")
    k = pub.attrs["n_clusters"]
    same = compare_clusterings(_ours_from(pub, permutation=np.roll(np.arange(k), 1)), pub)
    assert same["ari"] == 1.0 and same["published_k"] == same["our_k"] == k
    assert same["n_compared"] == 12 and same["same_k_range"] is False
    assert same["published_k_range"] == "2,3,4,5" and same["our_k_range"] == "1,2,3,4,5"
    ours = _ours_from(pub, flip=[0, 4], k_range=(5, 4, 3, 2))
    result = compare_clusterings(ours, pub)
    assert result["same_k_range"] is True
    assert result["ari"] == pytest.approx(
        adjusted_rand_score(pub["label"].values, ours["label"].values))
    assert result["ari"] < 1.0
    # networks matched by name; only those clustered in both count
    mi1 = read_flyvis_clustering(FOLDER / "Mi1.pickle")
    ours = _ours_from(mi1).isel(network=slice(2, None))
    result = compare_clusterings(ours, mi1)
    assert result["n_compared"] == 9 and result["n_ours"] == 10 and result["ari"] == 1.0


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_every_pickle_protocol_rebuilds_arrays(tmp_path, fake_flyvis, protocol):
    """Arrays pickled by protocol 2 (_codecs.encode), 3-4 (_reconstruct) and 5 (_frombuffer)."""
    module = sys.modules["flyvis.analysis.clustering"]
    emb = module.Embedding()
    emb._embedding = np.array([[0.0, 1.0], [0.5, 0.25], [np.nan, np.nan], [1.0, 0.0]])
    emb.mask = np.array([True, True, False, True])
    emb.reducer = None
    obj = fake_flyvis()
    obj.embedding = emb
    obj.labels = np.array([1, 0, -99999, 1])
    obj.scores = [np.float64(3.5), np.float64(-1.25)]
    obj.n_clusters = np.array([1, 2])
    obj.range_n_clusters = [1, 2]
    obj.kwargs = {"tol": 0.001}
    path = tmp_path / "T5a.pickle"
    path.write_bytes(pickle.dumps(obj, protocol=protocol))
    ds = read_flyvis_clustering(path)
    np.testing.assert_array_equal(ds["embedding"].values, emb._embedding)
    assert ds["clustered"].values.tolist() == [True, True, False, True]
    assert ds["label"].values.tolist() == [1, 0, -99999, 1]
    assert ds["bic"].values.tolist() == [3.5, -1.25] and ds.attrs["n_clusters"] == 2
    assert ds["cluster_size"].values.tolist() == [1, 2] and ds.attrs["cell_type"] == "T5a"


def test_align_labels_and_side_by_side_figure():
    from flycluster.plots.published import plot_published_side_by_side
    from flycluster.published import align_labels

    pub = read_flyvis_clustering(FOLDER / "T4c.pickle")
    k = pub.attrs["n_clusters"]
    permutation = np.roll(np.arange(k), 2)
    ours = _ours_from(pub, permutation=permutation)
    ours["embedding"] = pub["embedding"]
    matched = align_labels(pub, ours)
    np.testing.assert_array_equal(matched["label"].values, ours["label"].values)
    assert adjusted_rand_score(matched["label"].values, pub["label"].values) == 1.0
    for old in range(k):  # mixture parameters follow the renumbering
        np.testing.assert_array_equal(matched["means"].values[permutation[old]],
                                      pub["means"].values[old])
    fig = plot_published_side_by_side(ours, pub, cell_type="T4c")
    assert fig.comparison["ari"] == 1.0
    assert "ARI 1.00 over 12 networks" in fig._suptitle.get_text()
    assert "different k range" in fig._suptitle.get_text()
    for ax, ds in ((fig.axes[0], ours), (fig.axes[1], matched)):
        points = {c.get_gid(): c for c in ax.collections if c.get_gid()}
        assert set(points) == {f"{i:03d}" for i in range(12)}
        for i, name in enumerate(ds["network"].values):
            np.testing.assert_allclose(points[name].get_offsets()[0], ds["embedding"].values[i])


def test_comparison_table(tmp_path):
    from flycluster.published import published_comparison_table

    pubs = read_flyvis_clusterings(FOLDER)
    ours = {"T4c": _ours_from(pubs["T4c"], flip=[0]), "Mi1": _ours_from(pubs["Mi1"]),
            "T5a": _ours_from(pubs["Mi1"])}
    table = published_comparison_table(ours, FOLDER)
    assert table.index.tolist() == ["T4c", "Mi1", "T5a"]
    assert table.loc["Mi1", "ari"] == 1.0 and table.loc["Mi1", "n_compared"] == 11
    assert table.loc["T4c", "ari"] == pytest.approx(compare_clusterings(
        ours["T4c"], pubs["T4c"])["ari"]) and table.loc["T4c", "ari"] < 1
    assert table.loc["T4c", "published_k"] == pubs["T4c"].attrs["n_clusters"]
    assert np.isnan(table.loc["T5a", "published_k"]) and table.loc["T5a", "published_file"] == ""
    assert table.loc["Mi1", "published_file"] == "Mi1.pickle"
