"""Exporting trained networks as a compact ensemble (one checkpoint per network, as flyvis
releases its ensembles): the chosen checkpoint, its loss, provenance; read back unchanged."""

import numpy as np
import pytest
import torch
import yaml

from flycluster.checkpoints import best_checkpoint, list_checkpoints, task_error, validation_losses
from flycluster.errors import CheckpointError
from flycluster.network import Network, load_network
from flycluster.training.data import photo_flow_sequences
from flycluster.training.export import choose_checkpoint, export_network
from flycluster.training.loop import TrainConfig, train_flow
from tool_loader import load_tool


@pytest.fixture(scope="module")
def connectome(connectome_path):
    from flycluster.connectome import load_connectome

    return load_connectome(connectome_path, extent=2)


@pytest.fixture(scope="module")
def trained(connectome, tmp_path_factory):
    sequences = photo_flow_sequences(["camera", "coins"], frames_per_movie=20, height=120,
                                     width=240, extent=2, vertical_splits=2, random_state=0)
    folder = tmp_path_factory.mktemp("trained") / "000"
    cfg = TrainConfig(iterations=6, batch_size=2, checkpoint_every=1, lr_start=1e-2,
                      lr_stop=1e-2, random_state=3)
    train_flow(Network.initial(connectome), sequences, sequences, folder, cfg)
    return folder


def test_export_writes_the_chosen_checkpoint_alone(trained, connectome, tmp_path):
    losses = validation_losses(trained)
    best = best_checkpoint(trained)
    assert best != list_checkpoints(trained)[0]  # the test needs a best after the start
    dest = export_network(trained, tmp_path / "ens" / "000", connectome,
                          provenance={"command": "made by a test"})
    assert [p.name for p in list_checkpoints(dest)] == ["chkpt_00000"]
    record = torch.load(dest / "chkpts" / "chkpt_00000", weights_only=False)
    source = torch.load(best, weights_only=False)
    assert "optim" not in record and "optim" in source
    for k, v in source["network"].items():
        assert torch.equal(record["network"][k], v), k
    for k, v in source["decoder"]["flow"].items():
        assert torch.equal(record["decoder"]["flow"][k], v), k
    assert validation_losses(dest).tolist() == [pytest.approx(losses.min())]
    assert task_error(dest) == pytest.approx(losses.min())
    info = yaml.safe_load((dest / "_meta.yaml").read_text())["exported"]
    assert info["checkpoint"] == best.name and info["source"] == str(trained)
    assert info["validation_loss_start"] == pytest.approx(losses[0])
    assert info["loss_ratio"] == pytest.approx(losses.min() / losses[0])
    assert info["iterations"] == source["n_iterations_done"] and info["command"] == "made by a test"
    # the evaluation's loss ratio of the exported folder is the trained one, not 1
    from flycluster.training.evaluate import loss_ratio

    ratio = loss_ratio(dest)
    assert ratio["loss_ratio"] == pytest.approx(losses.min() / losses[0]) and ratio["loss_ratio"] < 1
    assert ratio["loss_start"] == pytest.approx(losses[0]) and ratio["n_checkpoints"] == 1
    assert ratio["iterations"] == source["n_iterations_done"]
    # read by flycluster as any network folder, with the parameters of the best checkpoint
    net = load_network(dest, connectome=connectome)
    np.testing.assert_array_equal(net.state_dict()["nodes_bias"].numpy(),
                                  source["network"]["nodes_bias"].numpy())
    # exported again (another checkpoint): the folder is replaced as a whole
    export_network(trained, dest, connectome, which="start")
    again = torch.load(dest / "chkpts" / "chkpt_00000", weights_only=False)
    assert again["n_iterations_done"] == 0 and len(list(dest.parent.iterdir())) == 1


def test_export_errors_name_the_file(trained, connectome, tmp_path):
    from flycluster.connectome import load_connectome

    assert choose_checkpoint(trained, -1) == list_checkpoints(trained)[-1]
    assert choose_checkpoint(trained, "last") == list_checkpoints(trained)[-1]
    with pytest.raises(CheckpointError, match="no checkpoint 'newest'"):
        choose_checkpoint(trained, "newest")
    with pytest.raises(CheckpointError, match="no checkpoint 99 "):
        choose_checkpoint(trained, 99)
    with pytest.raises(CheckpointError, match=r"chkpt_\d+: does not fit the connectome at extent 4"):
        export_network(trained, tmp_path / "x", load_connectome(None, extent=4))
    assert not (tmp_path / "x").exists()
    with pytest.raises(CheckpointError, match="nowhere"):
        export_network(tmp_path / "nowhere", tmp_path / "y", connectome)


def test_export_tool(trained, tmp_path, capsys, monkeypatch):
    tool = load_tool("export_ensemble")
    with pytest.raises(SystemExit, match="--names"):
        tool.main([str(trained), "--out", str(tmp_path / "e"), "--names", "a", "b"])
    with pytest.raises(SystemExit, match="does not fit"):  # extent 2 networks, analysis extent 15
        tool.main([str(trained), "--out", str(tmp_path / "e")])
    tool.main([str(trained), str(trained), "--out", str(tmp_path / "e"), "--extent", "2",
               "--names", "first", "second"])
    out = capsys.readouterr().out
    assert "first: " in out and "second: " in out and "ratio" in out
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == ["first", "second"]
    info = yaml.safe_load((tmp_path / "e" / "first" / "_meta.yaml").read_text())["exported"]
    assert info["command"].startswith("python tools/export_ensemble.py ")


def test_shipped_kind_reads_an_exported_ensemble(trained, connectome, tmp_path, monkeypatch):
    """The shipped kind lists the networks of a folder under flycluster/ensembles/; an unknown
    name is refused naming the key and what is shipped."""
    import flycluster.ensembles as shipped
    from flycluster.config import check_config, ensemble_folder, network_names
    from flycluster.config_schema import apply_schema
    from flycluster.errors import ConfigError

    root = tmp_path / "ensembles"
    for i in range(7):  # UMAP's minimum with n_neighbors 5
        export_network(trained, root / "demo" / f"{i:03d}", connectome)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", root)
    assert shipped.available() == ["demo"]
    config = apply_schema({"ensemble": {"kind": "shipped", "shipped": "demo"}})
    check_config(config)
    assert ensemble_folder(config) == str(root / "demo")
    assert network_names(config) == [f"{i:03d}" for i in range(7)]
    config = apply_schema({"ensemble": {"kind": "shipped", "shipped": "other"}})
    with pytest.raises(ConfigError, match=r"ensemble.shipped: no shipped ensemble 'other' "
                                          r"\(shipped: demo\)"):
        check_config(config)
    (root / "demo" / "006" / "validation" / "loss.h5").unlink()
    config = apply_schema({"ensemble": {"kind": "shipped", "shipped": "demo"}})
    with pytest.raises(ConfigError, match=r"ensemble.shipped: .*006"):
        check_config(config)
