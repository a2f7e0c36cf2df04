"""Bad input is caught with a clear message naming the file or config key (workflow level).

Config mistakes fail when snakemake parses the workflow (before any job), so these run
``snakemake --dry-run`` on a broken copy of the tiny CI config and read the message. Mistakes
in input files (checkpoints, stimuli, MPI-Sintel, responses) are checked where the workflow
reads them, through the library functions its rules call. Unit-level checks live with each
module's own tests.
"""

from __future__ import annotations

import copy

import pytest

import trust_runner as tr

BASE_CONFIG = tr.WORKFLOW_CONFIGS / "planted_tiny.yaml"


def dry_run(config, tmp_path, name="bad"):
    """``snakemake --dry-run`` with ``config`` (a dict); returns (returncode, output)."""
    path = tr.write_yaml(config, tmp_path / f"{name}.yaml")
    cmd = tr.snakemake_cmd(tmp_path / "work", path, "--dry-run", cores=1)
    rc, log = tr.run(cmd, tmp_path / f"{name}.log", timeout=120)
    return rc, log


def broken(**changes):
    """The tiny CI config with ``changes`` applied (dotted keys, e.g. ``umap.n_neighbors``)."""
    config = copy.deepcopy(tr.load_yaml(BASE_CONFIG))
    for dotted, value in changes.items():
        node = config
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return config


def assert_fails_naming(rc, log, *needles):
    assert rc not in (0, None), f"snakemake accepted a bad config:\n{log[-3000:]}"
    for needle in needles:
        assert needle in log, f"error message lacks {needle!r}:\n{log[-3000:]}"


def test_base_config_parses(tmp_path):
    rc, log = dry_run(tr.load_yaml(BASE_CONFIG), tmp_path, "good")
    assert rc == 0, log[-3000:]


@pytest.mark.parametrize("changes, needles", [
    # unknown cell type names, in each place a cell type can be named
    ({"cell_types": ["T4c", "T4x"]}, ["config key cell_types", "'T4x'", "did you mean"]),
    ({"ensemble.planted.cell_types": ["Mi99"]}, ["ensemble.planted.cell_types", "'Mi99'"]),
    ({"figures.tuning_cell_types": ["t4a"]}, ["figures.tuning_cell_types", "'t4a'"]),
    # wrong types
    ({"umap.n_neighbors": "five"}, ["umap.n_neighbors", "'five'", "integer"]),
    ({"gmm.range_n_clusters": 5}, ["gmm.range_n_clusters", "array"]),
    ({"ensemble.n_networks": 10.5}, ["ensemble.n_networks", "integer"]),
    ({"simulate.device": "gpu"}, ["simulate.device", "'gpu'", "cuda"]),
    # wrong ranges
    ({"gmm.n_init": 0}, ["gmm.n_init", "minimum of 1"]),
    ({"umap.spread": -1.0}, ["umap.spread"]),
    ({"stability.leave_out_fraction": 1.5}, ["stability.leave_out_fraction"]),
    # a key that does not exist (typo)
    ({"umap.n_neighbours": 5}, ["umap", "n_neighbours"]),
    # fewer networks than UMAP needs: n_neighbors + 2
    ({"ensemble.n_networks": 6}, ["ensemble.n_networks", "6 networks", "needs at least 7"]),
    ({"umap.n_neighbors": 9}, ["ensemble.n_networks", "10 networks", "needs at least 11"]),
    # a stimulus set the analysis refers to but the config does not define
    ({"analysis.naturalistic": "sintel"}, ["analysis.naturalistic", "'sintel'"]),
])
def test_bad_config_fails_at_parse_time_naming_the_key(tmp_path, changes, needles):
    rc, log = dry_run(broken(**changes), tmp_path)
    assert_fails_naming(rc, log, *needles)


def test_flyvis_ensemble_path_missing(tmp_path):
    missing = tmp_path / "no_such_ensemble"
    rc, log = dry_run(broken(**{"ensemble.kind": "flyvis", "ensemble.path": str(missing)}),
                      tmp_path)
    assert_fails_naming(rc, log, str(missing), "does not exist")


def test_flyvis_network_without_validation_loss_file(tmp_path):
    ensemble = tmp_path / "ensemble"
    for i in range(10):
        (ensemble / f"{i:03d}" / "chkpts").mkdir(parents=True)
        (ensemble / f"{i:03d}" / "validation").mkdir()
        if i != 3:
            (ensemble / f"{i:03d}" / "validation" / "loss.h5").write_bytes(b"")
    rc, log = dry_run(broken(**{"ensemble.kind": "flyvis", "ensemble.path": str(ensemble)}),
                      tmp_path)
    assert_fails_naming(rc, log, str(ensemble / "003"), "validation/loss.h5")
