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
    ({"umap.n_neighbors": 15}, ["ensemble.n_networks", "16 networks", "needs at least 17"]),
    # stimuli rendered for another eye than the network's
    ({"stimuli.naturalistic.extent": 15}, ["stimuli.naturalistic.extent", "connectome.extent"]),
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


# -- input files, checked where the workflow's rules read them ---------------------------------
# (the simulate rule: best_checkpoint -> load_network -> task_error -> simulate_stimulus_file;
#  the cluster rule: read_cell_type -> cluster_cell_type)

@pytest.fixture(scope="module")
def connectome():
    from flycluster.connectome import load_connectome

    return load_connectome(extent=4)


@pytest.fixture()
def network_dir(tmp_path, connectome):
    from flycluster.checkpoints import write_network_dir
    from flycluster.parameters import initial_state_dict

    return write_network_dir(tmp_path / "ensemble" / "000", initial_state_dict(connectome),
                             val_loss=0.5)


def _load(network_dir, connectome):
    from flycluster.checkpoints import best_checkpoint
    from flycluster.network import load_network

    return load_network(best_checkpoint(network_dir), connectome=connectome)


def test_intact_network_dir_loads(network_dir, connectome):
    from flycluster.checkpoints import task_error

    assert _load(network_dir, connectome) is not None
    assert task_error(network_dir) == pytest.approx(0.5)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_damaged_checkpoint_names_the_file(network_dir, connectome, damage):
    from flycluster.errors import CheckpointError

    chkpt = network_dir / "chkpts" / "chkpt_00000"
    data = chkpt.read_bytes()
    chkpt.write_bytes({"truncated": data[: len(data) // 2],
                       "garbage": bytes(range(256)) * (len(data) // 256),
                       "empty": b""}[damage])
    with pytest.raises(CheckpointError) as err:
        _load(network_dir, connectome)
    assert str(chkpt) in str(err.value)


def test_missing_validation_loss_file_names_the_file(network_dir):
    from flycluster.checkpoints import task_error
    from flycluster.errors import CheckpointError

    loss = network_dir / "validation" / "loss.h5"
    loss.unlink()
    with pytest.raises(CheckpointError) as err:
        task_error(network_dir)
    assert str(loss) in str(err.value) and "not found" in str(err.value)


def test_truncated_validation_loss_file_names_the_file(network_dir):
    from flycluster.checkpoints import task_error
    from flycluster.errors import CheckpointError

    loss = network_dir / "validation" / "loss.h5"
    loss.write_bytes(loss.read_bytes()[:100])
    with pytest.raises(CheckpointError) as err:
        task_error(network_dir)
    assert str(loss) in str(err.value)


@pytest.mark.parametrize("key, size", [("edges_syn_strength", 600), ("edges_syn_count", 2000),
                                       ("nodes_bias", 64)])
def test_checkpoint_of_another_connectome_names_key_and_shapes(tmp_path, connectome, key, size):
    from flycluster.checkpoints import write_network_dir
    from flycluster.errors import CheckpointError
    from flycluster.parameters import initial_state_dict

    state = initial_state_dict(connectome)
    expected = tuple(state[key].shape)
    state[key] = state[key][:size]
    net = write_network_dir(tmp_path / "other" / "000", state, val_loss=0.5)
    with pytest.raises(CheckpointError) as err:
        _load(net, connectome)
    message = str(err.value)
    assert str(net / "chkpts" / "chkpt_00000") in message
    assert key in message and str((size,)) in message and str(expected) in message
    assert "different connectome" in message


def _response_files(tmp_path, rows):
    """One response file per row of ``rows`` (networks, samples, frames) for cell type T4c."""
    import numpy as np
    import xarray as xr

    from flycluster.config import CELL_TYPES
    from flycluster.formats.responses import response_dataset, write_responses

    n_samples, n_frames = rows.shape[1:]
    stimulus = xr.Dataset(
        {"stimulus": (("sample", "frame", "hexal"), np.zeros((n_samples, n_frames, 7), np.float32))},
        coords={"time": ("frame", np.arange(n_frames) * 0.02)},
        attrs={"dt": 0.02, "t_pre": 0.0, "t_fade_in": 0.0, "stimulus_set": "naturalistic",
               "kind": "naturalistic"})
    paths = []
    for i, row in enumerate(rows):
        full = np.zeros((n_samples, n_frames, len(CELL_TYPES)), np.float32)
        full[..., CELL_TYPES.index("T4c")] = row
        ds = response_dataset(full, stimulus, CELL_TYPES, network=f"{i:03d}", checkpoint="-",
                              task_error=0.1 * i)
        paths.append(write_responses(ds, tmp_path / "responses" / f"{i:03d}.nc"))
    return paths


def test_constant_and_nan_responses_are_masked_not_fatal(tmp_path):
    """A constant network (e.g. a silent cell type) and a diverged one (NaN) are left out of the
    clustering of that cell type, as flyvis masks constant ones; the others are clustered."""
    import numpy as np

    from flycluster.clustering import INVALID_LABEL, cluster_cell_type
    from flycluster.formats.responses import read_cell_type

    rng = np.random.default_rng(0)
    rows = rng.normal(size=(12, 3, 20)).astype(np.float32)
    rows[4] = 0.25             # constant
    rows[7, 1, 5] = np.nan     # diverged
    paths = _response_files(tmp_path, rows)
    responses = read_cell_type(paths, "T4c")
    assert responses.sizes == {"network": 12, "sample": 3, "frame": 20}

    with pytest.raises(ValueError) as err:
        cluster_cell_type(responses, umap_kwargs={"n_epochs": 50}, gmm_kwargs={"n_init": 2},
                          nonfinite="raise")
    assert "'007'" in str(err.value) and "NaN" in str(err.value)

    ds = cluster_cell_type(responses, task_error=responses["task_error"].values,
                           umap_kwargs={"n_epochs": 50}, gmm_kwargs={"n_init": 2},
                           nonfinite="mask")
    mask = ds["clustered"].to_series()
    assert not mask["004"] and not mask["007"] and mask.drop(["004", "007"]).all()
    assert int(ds["mask_reason"].sel(network="004")) == 1   # constant
    assert int(ds["mask_reason"].sel(network="007")) == 2   # nonfinite
    labels = ds["label"].to_series()
    assert (labels[["004", "007"]] == INVALID_LABEL).all()
    assert (labels.drop(["004", "007"]) >= 0).all()
    assert np.isfinite(ds["embedding"].sel(network=mask[mask].index.tolist()).values).all()


def test_fewer_networks_than_umap_needs_names_the_minimum():
    import numpy as np

    from flycluster.clustering import cluster_cell_type

    X = np.random.default_rng(0).normal(size=(6, 30))
    with pytest.raises(ValueError) as err:
        cluster_cell_type(X, umap_kwargs={"n_neighbors": 5})
    assert "at least 7 networks" in str(err.value) and "got 6" in str(err.value)


def _edges_file(path, extent, n_hexals=None):
    """A valid small moving-edge stimulus file at ``extent`` (optionally with the hexal count
    forced to ``n_hexals``, making it inconsistent with its own extent)."""
    import numpy as np

    from flycluster.stimuli.io import make_stimulus_dataset, write_stimulus
    from flycluster.stimuli.lattice import n_hexals as count

    n = count(extent)
    movie = np.full((2, 10, n), 0.5, np.float32)
    movie[:, 5:, : n // 2] = 1.0
    ds = make_stimulus_dataset(
        movie, {"angle": [0, 180], "width": [80, 80], "intensity": [1, 1], "speed": [19, 19],
                "t_stim": [0.1, 0.1]},
        stimulus_set="edges", kind="moving_edges", dt=0.01, t_pre=0.0, t_fade_in=0.0,
        extent=extent)
    if n_hexals is None:
        return write_stimulus(ds, path)
    ds = ds.isel(hexal=slice(0, n_hexals))
    ds.to_netcdf(path)  # bypasses write_stimulus's validation on purpose
    return path


def test_stimulus_file_of_another_lattice_names_extents(tmp_path, connectome):
    """A valid stimulus file made for extent 15 (721 hexals) given to an extent-4 network.

    In the workflow this is stopped at parse time (stimuli.<set>.extent must equal
    connectome.extent, tested above); here the library refuses before simulating anything.
    """
    from flycluster.errors import StimulusError
    from flycluster.network import Network
    from flycluster.responses import simulate_stimulus_file

    stimulus = _edges_file(tmp_path / "edges.nc", extent=15)
    network = Network.initial(connectome)
    out = tmp_path / "responses" / "000.nc"
    with pytest.raises(StimulusError) as err:
        simulate_stimulus_file(network, stimulus, out, network_name="000")
    message = str(err.value)
    assert "721" in message and "extent 4" in message and "61" in message, message
    assert not out.exists()


def test_stimulus_file_inconsistent_with_its_extent_names_file(tmp_path, connectome):
    from flycluster.errors import StimulusError
    from flycluster.network import Network
    from flycluster.responses import simulate_stimulus_file

    stimulus = _edges_file(tmp_path / "edges.nc", extent=4, n_hexals=60)
    with pytest.raises(StimulusError) as err:
        simulate_stimulus_file(Network.initial(connectome), stimulus, tmp_path / "r.nc",
                               network_name="000")
    message = str(err.value)
    assert str(stimulus) in message and "60 hexals" in message and "61" in message, message


def test_corrupt_stimulus_file_names_file(tmp_path, connectome):
    from flycluster.errors import StimulusError
    from flycluster.network import Network
    from flycluster.responses import simulate_stimulus_file

    stimulus = _edges_file(tmp_path / "edges.nc", extent=4)
    stimulus.write_bytes(stimulus.read_bytes()[:200])
    with pytest.raises(StimulusError) as err:
        simulate_stimulus_file(Network.initial(connectome), stimulus, tmp_path / "r.nc",
                               network_name="000")
    assert str(stimulus) in str(err.value)


# -- MPI-Sintel folder: the stimulus job fails naming the folder -------------------------------

def _sintel_config(root):
    config = broken(**{"ensemble.kind": "synthetic"})
    config["stimuli"]["sintel"] = {"kind": "sintel", "root": str(root), "extent": 4}
    config["analysis"]["naturalistic"] = "sintel"
    return config


def _make_stimulus(config, tmp_path, target="resources/stimuli/sintel.nc"):
    path = tr.write_yaml(config, tmp_path / "sintel.yaml")
    cmd = tr.local_cmd(tmp_path / "work", path, target, cores=1)
    return tr.run(cmd, tmp_path / "sintel.log", timeout=180)


@pytest.mark.parametrize("layout, needles", [
    ("missing", ["does not exist", "sintel.is.tue.mpg.de"]),
    ("no_training", ["has no training/final/"]),
    ("short_scenes", ["more than 19 frames"]),
])
def test_sintel_folder_missing_or_incomplete(tmp_path, layout, needles):
    root = tmp_path / "MPI-Sintel"
    if layout == "no_training":
        (root / "test" / "final").mkdir(parents=True)
    elif layout == "short_scenes":
        import numpy as np
        from PIL import Image

        scene = root / "training" / "final" / "alley_1"
        scene.mkdir(parents=True)
        for i in range(5):  # a scene shorter than one 19-frame clip
            Image.fromarray(np.full((32, 64), 40 * i, np.uint8)).save(scene / f"frame_{i:04d}.png")
    rc, log = _make_stimulus(_sintel_config(root), tmp_path)
    assert_fails_naming(rc, log, str(root), *needles)
