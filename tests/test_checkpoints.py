"""flyvis network/ensemble directories: best checkpoint, task errors, loading, bad files."""

import h5py
import numpy as np
import pytest
import torch
import yaml

import flycluster
from flycluster.checkpoints import (
    best_checkpoint,
    ensemble_task_errors,
    list_checkpoints,
    list_networks,
    read_meta,
    read_state_dict,
    task_error,
    write_network_dir,
)
from flycluster.connectome import load_connectome
from flycluster.errors import CheckpointError
from flycluster.network import Network
from flycluster.parameters import initial_state_dict


@pytest.fixture(scope="module")
def connectome(connectome_path):
    return load_connectome(connectome_path, extent=15)


@pytest.fixture(scope="module")
def prior(connectome):
    return initial_state_dict(connectome)


def _scaled(prior, factor):
    return {**prior, "edges_syn_strength": prior["edges_syn_strength"] * factor}


def _write_h5(path, values):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f.create_dataset("data", data=np.asarray(values, dtype=np.float64))


def _flyvis_like_dir(root, states, losses):
    """A network directory with several checkpoints, as flyvis's solver writes it."""
    (root / "chkpts").mkdir(parents=True)
    for i, state in enumerate(states):
        torch.save({"network": state, "decoder": {}, "optim": {}, "time": "now", "val_loss": losses[i],
                    "iteration": i, "dt": 0.02}, root / "chkpts" / f"chkpt_{i:05d}")
    _write_h5(root / "validation" / "loss.h5", losses)
    return root


def test_read_meta_reads_a_mapping_and_names_a_bad_file(tmp_path):
    assert read_meta(tmp_path) == {}  # no _meta.yaml: nothing recorded
    (tmp_path / "_meta.yaml").write_text("")
    assert read_meta(tmp_path) == {}
    (tmp_path / "_meta.yaml").write_text("config: {extent: 6}\nstatus: done\n")
    assert read_meta(tmp_path) == {"config": {"extent": 6}, "status": "done"}
    (tmp_path / "_meta.yaml").write_text("- a\n- b\n")
    with pytest.raises(CheckpointError, match=r"_meta\.yaml: expected a mapping.*list"):
        read_meta(tmp_path)
    (tmp_path / "_meta.yaml").write_text("config: {extent: [6\n")
    with pytest.raises(CheckpointError, match=r"_meta\.yaml: not a readable YAML file"):
        read_meta(tmp_path)


def test_write_network_dir_is_flyvis_format_and_loads(tmp_path, connectome, prior):
    state = _scaled(prior, 2.0)
    dest = write_network_dir(tmp_path / "ens" / "000", state, 1.25, config={"kind": "test"})
    assert (dest / "chkpts" / "chkpt_00000").is_file()
    chkpt = torch.load(dest / "chkpts" / "chkpt_00000", weights_only=False)
    assert set(chkpt) >= {"network", "decoder", "optim", "time", "val_loss", "iteration", "dt"}
    with h5py.File(dest / "validation" / "loss.h5") as f:
        assert f["data"][()].tolist() == [1.25]
    meta = yaml.safe_load((dest / "_meta.yaml").read_text())
    assert meta["status"] == "done" and meta["config"]["kind"] == "test"
    assert not list(dest.rglob(".*tmp*"))  # no temporary files left behind

    net = flycluster.load_network(dest, connectome=connectome)
    for key, value in state.items():
        torch.testing.assert_close(net.state_dict()[key], value)
    direct = Network(connectome, state)
    movie = np.random.default_rng(0).random((2, 5, 721)).astype(np.float32)
    np.testing.assert_array_equal(net.simulate(movie, 0.01), direct.simulate(movie, 0.01))
    # a checkpoint file works as well as the directory
    net_file = flycluster.load_network(dest / "chkpts" / "chkpt_00000", connectome=connectome)
    torch.testing.assert_close(net_file.state_dict()["edges_syn_strength"], state["edges_syn_strength"])


def test_best_checkpoint_is_argmin_of_validation_loss(tmp_path, connectome, prior):
    root = _flyvis_like_dir(tmp_path / "net", [_scaled(prior, f) for f in (1.0, 2.0, 3.0)], [0.5, 0.2, 0.9])
    assert [p.name for p in list_checkpoints(root)] == ["chkpt_00000", "chkpt_00001", "chkpt_00002"]
    assert best_checkpoint(root).name == "chkpt_00001"
    assert task_error(root) == pytest.approx(0.2)
    net = flycluster.load_network(root, connectome=connectome)
    torch.testing.assert_close(net.state_dict()["edges_syn_strength"], prior["edges_syn_strength"] * 2.0)
    # another loss file picks another checkpoint
    _write_h5(root / "validation" / "epe.h5", [0.1, 0.3, 0.05])
    assert best_checkpoint(root, loss_name="epe").name == "chkpt_00002"
    assert task_error(root, loss_name="epe") == pytest.approx(0.05)
    # a missing loss file falls back to loss.h5 with a warning, as flyvis does
    with pytest.warns(UserWarning, match="other.h5 not found"):
        assert best_checkpoint(root, loss_name="other").name == "chkpt_00001"


def test_loss_count_must_match_checkpoints(tmp_path, prior):
    root = _flyvis_like_dir(tmp_path / "net", [prior, prior], [0.5, 0.2])
    _write_h5(root / "validation" / "loss.h5", [0.5, 0.2, 0.1])
    with pytest.raises(CheckpointError, match="3 validation losses for 2 checkpoints"):
        best_checkpoint(root)


def test_ensemble_task_errors(tmp_path, prior):
    for i, loss in enumerate([0.7, 0.3, 0.5]):
        write_network_dir(tmp_path / "ens" / f"{i:03d}", prior, loss)
    (tmp_path / "ens" / "notes").mkdir()  # not a network
    assert list_networks(tmp_path / "ens") == ["000", "001", "002"]
    errors = ensemble_task_errors(tmp_path / "ens")
    assert errors.index.tolist() == ["000", "001", "002"] and errors.name == "task_error"
    np.testing.assert_allclose(errors.values, [0.7, 0.3, 0.5])


def test_missing_and_corrupt_checkpoints(tmp_path, connectome, prior):
    with pytest.raises(CheckpointError, match="does not exist"):
        flycluster.load_network(tmp_path / "nothing", connectome=connectome)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint files"):
        flycluster.load_network(tmp_path / "empty", connectome=connectome)
    with pytest.raises(CheckpointError, match="no network directories"):
        list_networks(tmp_path / "empty")
    corrupt = tmp_path / "corrupt" / "chkpts" / "chkpt_00000"
    corrupt.parent.mkdir(parents=True)
    corrupt.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="chkpt_00000: not a readable torch checkpoint"):
        flycluster.load_network(tmp_path / "corrupt", connectome=connectome)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(CheckpointError, match="expected a dict with a 'network' state dict"):
        read_state_dict(other)
    missing = tmp_path / "missing.pt"
    torch.save({"network": {k: v for k, v in prior.items() if k != "edges_sign"}}, missing)
    with pytest.raises(CheckpointError, match="missing.pt: state dict lacks edges_sign"):
        flycluster.load_network(missing, connectome=connectome)
    bad_loss = tmp_path / "badloss"
    _flyvis_like_dir(bad_loss, [prior, prior], [0.1, 0.2])
    (bad_loss / "validation" / "loss.h5").write_bytes(b"not h5")
    with pytest.raises(CheckpointError, match="loss.h5: not a readable h5 file"):
        best_checkpoint(bad_loss)


def test_checkpoint_of_another_extent_is_a_clear_error(tmp_path, connectome_path, connectome):
    small = load_connectome(connectome_path, extent=3)
    path = tmp_path / "extent3.pt"
    torch.save({"network": initial_state_dict(small)}, path)
    with pytest.raises(CheckpointError, match=r"extent3.pt: edges_syn_count has shape .* extent 15 needs \(2355,\)"):
        flycluster.load_network(path, connectome=connectome)
