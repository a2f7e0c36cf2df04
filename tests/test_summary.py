"""Summary table across cell types, including planted-group recovery."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from flycluster import summary
from flycluster.formats.clustering import INVALID_LABEL, read_clustering
from flycluster.formats.summary import read_summary, write_summary

NETWORKS = [f"{i:03d}" for i in range(8)]


def _clustering(labels, mask, task_error, bic, stability=None, cell_type=None, variable="clustered"):
    """A clustering dataset; ``variable="mask"``: the convention of files written before
    ``clustered`` (the same truth values under the old name)."""
    labels = np.asarray(labels)
    ds = xr.Dataset(
        {
            "embedding": (("network", "component"), np.random.default_rng(0).random((8, 2))),
            variable: ("network", np.asarray(mask, bool)),
            "label": ("network", np.where(mask, labels, INVALID_LABEL)),
            "task_error": ("network", np.asarray(task_error, float)),
            "bic": ("n_clusters", np.asarray(bic, float)),
        },
        coords={"network": NETWORKS, "n_clusters": np.arange(1, len(bic) + 1)},
        attrs={"n_clusters": int(np.argmin(bic) + 1)},
    )
    if cell_type:
        ds.attrs["cell_type"] = cell_type
    for name, value in (stability or {}).items():
        ds[name] = value
    return ds


def _write(tmp_path, name, ds):
    path = tmp_path / f"{name}.nc"
    ds.to_netcdf(path)
    return path


@pytest.fixture
def clustering_files(tmp_path):
    errors = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
    t4c = _clustering([0, 0, 0, 1, 1, 1, 2, 2], [True] * 8, errors, [50.0, 30.0, 20.0, 25.0],
                      {"stability_seed_ari": 0.9, "stability_leave_out_ari": 0.8})
    l1 = _clustering([0] * 8, [True] * 7 + [False], errors, [10.0, 12.0, 14.0, 16.0],
                     {"stability_seed_ari": 1.0, "stability_leave_out_ari": 1.0}, variable="mask")
    odd = _clustering([0, 1, 0, 1, 0, 1, 0, 1], [True] * 8, errors, [40.0, 30.0, 35.0, 36.0],
                      {"stability_seed_ari": 0.2, "stability_leave_out_ari": 0.1},
                      cell_type="CT1(M10)")
    return [_write(tmp_path, "T4c", t4c), _write(tmp_path, "L1", l1),
            _write(tmp_path, "CT1_M10_", odd)]


def test_summary_rows(clustering_files):
    table = summary.summary_table(clustering_files)
    assert list(table["cell_type"]) == ["T4c", "L1", "CT1(M10)"]  # attr wins over file name
    t4c = table.iloc[0]
    assert t4c["n_networks"] == 8 and t4c["n_masked"] == 0
    assert t4c["n_clusters"] == 3
    assert t4c["cluster_sizes"] == "3/3/2"
    assert t4c["cluster_task_errors"] == "0.2/0.5/0.75"
    assert t4c["bic_gain"] == pytest.approx(30.0)
    assert t4c["stability_seed_ari"] == pytest.approx(0.9)
    assert t4c["stability_leave_out_ari"] == pytest.approx(0.8)
    l1 = table.iloc[1]
    assert l1["n_masked"] == 1 and l1["n_clusters"] == 1 and l1["cluster_sizes"] == "7"
    assert l1["bic_gain"] == 0.0
    assert "planted_ari" not in table.columns


def test_planted_ari(clustering_files, tmp_path):
    groups = pd.DataFrame({"network": NETWORKS, "group": [2, 2, 2, 0, 0, 0, 1, 1]})
    groups.to_csv(tmp_path / "planted_groups.csv", index=False)
    table = summary.summary_table(clustering_files, tmp_path / "planted_groups.csv",
                                  planted_cell_types=["T4c"])
    by_type = table.set_index("cell_type")
    # T4c clusters are the planted groups up to renaming
    assert by_type.loc["T4c", "planted_ari"] == pytest.approx(1.0)
    assert bool(by_type.loc["T4c", "planted"]) is True
    assert bool(by_type.loc["L1", "planted"]) is False
    # one cluster vs three groups: chance level
    assert by_type.loc["L1", "planted_ari"] == pytest.approx(0.0)
    assert by_type.loc["CT1(M10)", "planted_ari"] < 0.1


def test_planted_groups_errors(tmp_path, clustering_files):
    bad = tmp_path / "bad.csv"
    bad.write_text("net,grp\n000,1\n")
    with pytest.raises(ValueError, match=r"bad.csv: expected columns network,group"):
        summary.read_planted_groups(bad)
    partial = tmp_path / "partial.csv"
    pd.DataFrame({"network": NETWORKS[:4], "group": [0, 0, 1, 1]}).to_csv(partial, index=False)
    with pytest.raises(ValueError, match="planted groups lack networks"):
        summary.summary_table(clustering_files, partial)


def test_write_summary(clustering_files, tmp_path):
    table = summary.summary_table(clustering_files)
    out = write_summary(table, tmp_path / "out" / "summary.csv")
    back = read_summary(out)
    pd.testing.assert_frame_equal(back, pd.read_csv(out, dtype={"cell_type": str}))
    assert list(back["cell_type"]) == ["T4c", "L1", "CT1(M10)"]
    assert list(back["n_clusters"]) == [3, 1, 2]
    assert back["stability_seed_ari"].tolist() == pytest.approx([0.9, 1.0, 0.2])
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["summary.csv"]


def test_old_mask_convention_is_read_as_clustered(tmp_path):
    """A file written before the rename (variable ``mask``, True = clustered) reads back with
    ``clustered`` holding the same values; the summary counts its unclustered network."""
    mask = [True] * 5 + [False] * 3
    path = _write(tmp_path, "Mi1", _clustering([0, 1, 0, 1, 1, 0, 0, 0], mask, [0.1] * 8, [9.0, 8.0],
                                                variable="mask"))
    with xr.open_dataset(path) as raw:
        assert "mask" in raw and "clustered" not in raw
    back = read_clustering(path)
    assert "mask" not in back and back["clustered"].dtype == bool
    np.testing.assert_array_equal(back["clustered"].values, mask)
    row = summary.summary_table([path]).iloc[0]
    assert row["n_masked"] == 3 and row["cluster_sizes"] == "2/3"


def test_clustering_file_with_inconsistent_labels_is_rejected(tmp_path):
    ds = _clustering([0, 1, 0, 1, 1, 0, 0, 0], [True] * 8, [0.1] * 8, [9.0, 8.0])
    ds["label"][2] = INVALID_LABEL  # labelled as not clustered, but clustered is True
    path = _write(tmp_path, "bad", ds)
    with pytest.raises(ValueError, match=r"bad.nc: 'label' must be >= 0 exactly where 'clustered'"):
        read_clustering(path)
    ds = ds.drop_vars("clustered")
    path = _write(tmp_path, "none", ds)
    with pytest.raises(ValueError, match="none.nc lacks the variable 'clustered'"):
        read_clustering(path)


def test_summary_file_missing_columns_is_rejected(tmp_path, clustering_files):
    table = summary.summary_table(clustering_files)
    with pytest.raises(ValueError, match="lacks columns \\['n_clusters'\\]"):
        write_summary(table.drop(columns="n_clusters"), tmp_path / "s.csv")
    table.drop(columns="n_clusters").to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(ValueError, match="s.csv lacks columns"):
        read_summary(tmp_path / "s.csv")
