"""Planted structure: the workflow finds groups that were put into the ensemble on purpose.

The tiny planted config (tests/workflow_configs/planted_tiny.yaml; config/planted.yaml is the
full-size version shown in the README) makes an ensemble whose networks fall into K groups that
differ only in the inputs to a few named cell types. The ground truth is copied to
``results/{ensemble}/planted_groups.csv``; the summary reports the adjusted Rand index (ARI)
between the clusters and the planted groups for every cell type. The planted cell types must be
recovered (ARI >= 0.95); a cell type upstream of them, whose inputs do not differ between the
groups, must not show the planted groups (a clustering that "finds" them there would be
reporting structure that is not in its own responses).
"""

from __future__ import annotations

import pandas as pd
import pytest

import trust_runner as tr
from flycluster import config as fc

CONFIG = tr.load_yaml(tr.PLANTED_TINY)
ENSEMBLE = CONFIG["ensemble"]["name"]
PLANTED = CONFIG["ensemble"]["planted"]["cell_types"]
CONTROLS = [ct for ct in CONFIG["cell_types"] if ct not in PLANTED]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return tr.reference_run(tmp_path_factory)


@pytest.fixture(scope="module")
def summary(reference):
    return pd.read_csv(reference / "results" / ENSEMBLE / "summary.csv").set_index("cell_type")


def test_ground_truth_is_copied_next_to_the_results(reference):
    truth = pd.read_csv(reference / "results" / ENSEMBLE / "planted_groups.csv",
                        dtype={"network": str})
    assert list(truth.columns) == ["network", "group"]
    n_networks = CONFIG["ensemble"]["n_networks"]
    n_groups = CONFIG["ensemble"]["planted"]["n_groups"]
    assert sorted(truth["network"]) == [f"{i:03d}" for i in range(n_networks)]
    sizes = truth["group"].value_counts()
    assert len(sizes) == n_groups and sizes.min() >= n_networks // n_groups - 1
    source = pd.read_csv(reference / "resources" / "ensembles" / ENSEMBLE / "planted_groups.csv",
                         dtype={"network": str})
    pd.testing.assert_frame_equal(truth, source)


def test_planted_groups_are_recovered_in_the_planted_cell_types(summary):
    assert {"planted", "planted_ari"} <= set(summary.columns), list(summary.columns)
    for cell_type in PLANTED:
        row = summary.loc[cell_type]
        assert bool(row["planted"]) is True
        assert row["n_masked"] == 0
        assert row["n_clusters"] == CONFIG["ensemble"]["planted"]["n_groups"], row.to_dict()
        sizes = sorted(int(s) for s in row["cluster_sizes"].split("/"))
        k = CONFIG["ensemble"]["planted"]["n_groups"]
        assert sizes == [CONFIG["ensemble"]["n_networks"] // k] * k, row.to_dict()
        assert row["planted_ari"] >= 0.95, row.to_dict()


def test_no_planted_groups_where_inputs_do_not_differ(summary):
    assert CONTROLS
    for cell_type in CONTROLS:
        row = summary.loc[cell_type]
        assert bool(row["planted"]) is False
        assert row["planted_ari"] < 0.5, row.to_dict()


def test_summary_reports_stability(summary):
    """Stability (adjusted Rand index of re-clusterings with another UMAP seed / networks left
    out) is reported per cell type; a planted split this clear survives both in at least one
    planted cell type (in the tiny ensemble T4c's split survives both repeats, Tm1's changes
    when networks are left out: the column is what tells a user so)."""
    for column in ("stability_ari", "stability_ari_seed", "stability_ari_leave_out",
                   "stability_ari_min"):
        assert column in summary.columns, list(summary.columns)
        assert summary[column].between(-1, 1).all(), summary[column]
    assert summary.loc[PLANTED, "stability_ari_min"].max() >= 0.95, summary.loc[PLANTED].T


def test_full_planted_config_plants_named_cell_types_with_flyvis_clustering(tmp_path):
    """config/planted.yaml (the README's planted table) is valid, plants K >= 2 groups of >= 8
    networks in >= 2 named cell types that it clusters, keeps unplanted controls upstream of the
    planted inputs, clusters with the default config's (flyvis's) UMAP/GMM parameters, and
    snakemake plans one simulation per network and one clustering per cell type for it."""
    full = fc.load_config(tr.ROOT / "config" / "planted.yaml")
    default = fc.load_config(tr.ROOT / "config" / "config.yaml")
    ensemble, planted = full["ensemble"], full["ensemble"]["planted"]
    assert ensemble["kind"] == "planted"
    assert planted["n_groups"] >= 2 and ensemble["n_networks"] // planted["n_groups"] >= 8
    assert len(planted["cell_types"]) >= 2 and set(planted["cell_types"]) <= set(full["cell_types"])
    assert {"R1", "L1", "L2", "L3"} <= set(full["cell_types"]) - set(planted["cell_types"])
    assert full["umap"] == default["umap"] and full["gmm"] == default["gmm"]
    rc, log = tr.run(tr.snakemake_cmd(tmp_path, tr.ROOT / "config" / "planted.yaml", "--dry-run"),
                     tmp_path / "dry.log", timeout=300)
    assert rc == 0, log[-3000:]
    jobs = {line.split()[0]: line.split()[1] for line in log.splitlines() if len(line.split()) == 2}
    assert jobs.get("simulate") == str(ensemble["n_networks"]), log[-3000:]
    assert jobs.get("cluster") == str(len(full["cell_types"])), log[-3000:]
