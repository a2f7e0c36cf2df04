"""The training loop at a tiny scale (extent 2, 120 x 240 px photo movies, a few iterations):
the loss falls, the folder round-trips through flycluster.checkpoints, a killed run resumes to
exactly the parameters of an uninterrupted one."""

import numpy as np
import pytest
import torch

from flycluster.checkpoints import (
    best_checkpoint,
    list_checkpoints,
    read_state_dict,
    task_error,
    validation_losses,
)
from flycluster.errors import CheckpointError
from flycluster.network import Network, load_network
from flycluster.training.data import photo_flow_sequences
from flycluster.training.loop import TrainConfig, train_flow


@pytest.fixture(scope="module")
def connectome(connectome_path):
    from flycluster.connectome import load_connectome

    return load_connectome(connectome_path, extent=2)


@pytest.fixture(scope="module")
def sequences():
    return photo_flow_sequences(["camera", "coins", "astronaut"], frames_per_movie=20, height=120,
                                width=240, extent=2, vertical_splits=2, random_state=0)


NO_AUGMENTATION = dict(p_flip=0, p_rot=0, noise_std=0, contrast_std=0, brightness_std=0)


def config(**kw):
    base = dict(iterations=4, batch_size=2, checkpoint_every=1, lr_start=1e-3, lr_stop=1e-3,
                random_state=3)
    base.update(kw)
    return TrainConfig(**base)


def test_tiny_run_learns_and_round_trips(connectome, sequences, tmp_path):
    net = Network.initial(connectome)
    start = {k: v.clone() for k, v in net.state_dict().items()}
    # flyvis's "overfit" check: two splits of one movie, no augmentation, validated on themselves
    cfg = config(iterations=6, checkpoint_every=2, augmentation=NO_AUGMENTATION)
    result = train_flow(net, sequences[:2], sequences[:2], tmp_path / "000", cfg,
                        meta={"data": "photos"})
    assert result.val_iterations.tolist() == [0, 2, 4, 6]
    assert np.all(np.diff(result.val_loss) < 0) and result.val_loss[-1] < 0.96 * result.val_loss[0]
    assert len(result.train_loss) == 6 and np.isfinite(result.train_loss).all()
    # the folder is a flyvis network folder that flycluster reads unchanged
    assert [p.name for p in list_checkpoints(tmp_path / "000")] == [f"chkpt_{i:05d}" for i in range(4)]
    np.testing.assert_allclose(validation_losses(tmp_path / "000"), result.val_loss)
    assert task_error(tmp_path / "000") == pytest.approx(result.val_loss.min())
    best = best_checkpoint(tmp_path / "000")
    assert best.name == f"chkpt_{int(np.argmin(result.val_loss)):05d}"
    record = torch.load(best, weights_only=False)
    assert set(record) >= {"network", "decoder", "optim", "time", "val_loss", "iteration", "dt"}
    assert record["dt"] == 0.02 and "base.0.weight" in record["decoder"]["flow"]
    trained = load_network(tmp_path / "000", connectome=connectome).state_dict()
    for k in ("nodes_bias", "nodes_time_const", "edges_syn_strength"):
        torch.testing.assert_close(trained[k], read_state_dict(best)[k])
        assert not torch.equal(trained[k], start[k]), k
    for k in ("edges_sign", "edges_syn_count"):
        assert torch.equal(trained[k], start[k]), k
    assert (trained["edges_syn_strength"] >= 0).all()
    meta = (tmp_path / "000" / "_meta.yaml").read_text()
    assert "status: done" in meta and "data: photos" in meta and "random_state: 3" in meta


def test_killed_run_resumes_to_the_same_parameters(connectome, sequences, tmp_path):
    cfg = config(augmentation={"flip_axes": (0, 1, 2, 3)})  # a tuple: stored as a YAML list
    full = train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "a", cfg)
    # "killed" after 3 iterations: the last checkpoint is at iteration 2
    train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "b", cfg,
               stop_after=3)
    assert len(list_checkpoints(tmp_path / "b")) == 2
    resumed = train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "b", cfg)
    for k, v in full.network.flyvis_state_dict().items():
        torch.testing.assert_close(resumed.network.flyvis_state_dict()[k], v, rtol=0, atol=0)
    for k, v in full.decoder.state_dict().items():
        torch.testing.assert_close(resumed.decoder.state_dict()[k], v, rtol=0, atol=0)
    np.testing.assert_array_equal(resumed.train_loss, full.train_loss)
    np.testing.assert_array_equal(resumed.val_loss, full.val_loss)
    # a finished folder is left as it is; a different seed is refused
    again = train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "b", cfg)
    np.testing.assert_array_equal(again.val_loss, full.val_loss)
    with pytest.raises(CheckpointError, match="random_state"):
        train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "b",
                   config(random_state=4, augmentation={"flip_axes": (0, 1, 2, 3)}))
    with pytest.raises(CheckpointError, match="resume=True"):
        train_flow(Network.initial(connectome), sequences[:4], sequences[4:], tmp_path / "b", cfg,
                   resume=False)


def test_penalty_gradient_from_a_second_backward_pass(connectome):
    """The loop takes the activity-penalty gradient with a second backward pass through the
    forward of the loss; the native adjoint allows it and agrees with autograd (torch)."""
    from flycluster.training.decoder import FlowDecoder, output_node_index
    from flycluster.training.objectives import ActivityPenalty, l2norm

    net = Network.initial(connectome)
    lum = torch.rand(2, 12, connectome.n_hexals, generator=torch.Generator().manual_seed(0))
    flow = torch.randn(2, 12, 2, connectome.n_hexals, generator=torch.Generator().manual_seed(1))
    penalty = ActivityPenalty(connectome.central_cells_index)
    grads = {}
    for backend in ("torch", "native"):
        module = net.module(backend=backend)
        decoder = FlowDecoder(output_node_index(connectome), p_dropout=0).eval()
        state = module.steady_state(0.1, 0.02, 2)
        activity = module(lum, 0.02, state=state)
        l2norm(decoder(activity), flow).backward(retain_graph=True)
        other = module(torch.rand_like(lum), 0.02, state=state)  # must not reuse the saved grids
        (grads[backend],) = torch.autograd.grad(penalty(activity), module.nodes_bias)
        grads[backend + "_loss"] = module.edges_syn_strength.grad.clone()
        del other
    assert grads["torch"].abs().max() > 0
    torch.testing.assert_close(grads["native"], grads["torch"], rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(grads["native_loss"], grads["torch_loss"], rtol=1e-4, atol=1e-7)


def test_transfer_between_extents(connectome, connectome_path):
    """Extent 2 has 2310 syn-count groups in another order than extent 15's 2355: a state dict
    trained at extent 2 is transferred by (source, target, dv, du) key and back unchanged."""
    from flycluster.connectome import load_connectome
    from flycluster.parameters import initial_state_dict
    from flycluster.training.transfer import syn_count_keys, transfer_state_dict

    big = load_connectome(connectome_path, extent=15)
    small = initial_state_dict(connectome)
    assert small["edges_syn_count"].shape == (2310,)
    assert syn_count_keys(big)[:2310] != syn_count_keys(connectome)
    g = torch.Generator().manual_seed(0)
    free = ("nodes_bias", "nodes_time_const", "edges_syn_strength")
    trained = {k: v + 0.01 * torch.rand(v.shape, generator=g) if k in free else v
               for k, v in small.items()}
    up = transfer_state_dict(trained, connectome, big)
    assert up["edges_syn_count"].shape == (2355,)
    Network(big, up)  # loads at extent 15
    for k in ("nodes_bias", "nodes_time_const", "edges_syn_strength", "edges_sign"):
        assert torch.equal(up[k], trained[k])
    # syn counts are fixed: equal to extent 15's own values, group by group
    torch.testing.assert_close(up["edges_syn_count"], initial_state_dict(big)["edges_syn_count"])
    back = transfer_state_dict(up, big, connectome)
    for k, v in trained.items():
        assert torch.equal(back[k], v), k
    # flyvis's initial strengths (extent 15) differ from those computed at extent 2
    down = transfer_state_dict(initial_state_dict(big), big, connectome)
    assert not torch.allclose(down["edges_syn_strength"], small["edges_syn_strength"])


def test_continuing_past_an_end_off_an_epoch_boundary_is_refused(connectome, sequences, tmp_path):
    # 4 sequences, batch 2: 2 iterations per epoch; a 3-iteration run ends mid-epoch
    train_flow(Network.initial(connectome), sequences[:4], sequences[4:5], tmp_path / "c",
               config(iterations=3))
    with pytest.raises(CheckpointError, match="epoch boundary"):
        train_flow(Network.initial(connectome), sequences[:4], sequences[4:5], tmp_path / "c",
                   config(iterations=5))


def test_decoder_learning_rate_factor(connectome, sequences, tmp_path):
    """lr_decoder_factor scales the decoder's Adam rate only: Adam's first step moves every
    parameter with a non-zero gradient by its group's learning rate (|m / sqrt(v)| = 1)."""
    net = Network.initial(connectome)
    bias0 = net.state_dict()["nodes_bias"].clone()
    cfg = config(iterations=1, lr_start=1e-3, lr_stop=1e-3, lr_decoder_factor=10,
                 penalty_stop=0, augmentation=NO_AUGMENTATION)
    result = train_flow(net, sequences[:2], sequences[:2], tmp_path / "000", cfg)
    step_net = (result.network.state_dict()["nodes_bias"] - bias0).abs()
    step_dec = (result.decoder.state_dict()["base.0.weight"] - 1e-3).abs()
    moved_net, moved_dec = step_net[step_net > 0], step_dec[step_dec > 0]
    assert len(moved_net) > 10 and len(moved_dec) > 10
    np.testing.assert_allclose(moved_net.median(), 1e-3, rtol=1e-2)
    np.testing.assert_allclose(moved_dec.median(), 1e-2, rtol=1e-2)
    groups = torch.load(list_checkpoints(tmp_path / "000")[-1],
                        weights_only=False)["optim"]["param_groups"]
    assert [g["lr"] for g in groups] == pytest.approx([1e-3, 1e-2])
    with pytest.raises(Exception, match="lr_decoder_factor"):
        TrainConfig(lr_decoder_factor=0)


def test_silent_output_types_are_reported(connectome, sequences, tmp_path, caplog):
    from flycluster.training.loop import silent_output_types

    module = Network.initial(connectome).module()
    cfg = config()
    assert silent_output_types(module, cfg) == []  # flyvis's initial network: all types rest > 0
    rest = module.resting_potentials(cfg.t_pre_train, cfg.dt)
    assert len(rest) == 65 and min(rest.values()) > 0
    types = list(connectome.cell_types)
    with torch.no_grad():
        for name in ("T4a", "Mi1", "R1"):  # two output types, one input type
            module.nodes_bias[types.index(name)] = -5.0
    silent = silent_output_types(module, cfg)
    assert "T4a" in silent and "R1" not in silent
    assert set(silent) <= set(connectome.output_cell_types)
    # every checkpoint records and logs them
    with caplog.at_level("INFO", logger="flycluster.training"):
        train_flow(module, sequences[:2], sequences[:2], tmp_path / "000", config(iterations=2))
    record = torch.load(list_checkpoints(tmp_path / "000")[0], weights_only=False)
    assert record["silent_output_types"] == silent
    assert f"{len(silent)} of {len(connectome.output_cell_types)} output cell types silent" \
        in caplog.text


def test_random_decoder_init_is_seeded(connectome, sequences, tmp_path):
    from flycluster.training.ensemble import train_config

    assert train_config({"decoder_init": "random"}, 3).decoder_const_weight is None
    assert train_config({}, 3).decoder_const_weight == 1e-3  # flyvis's constant
    with pytest.raises(Exception, match="decoder_init"):
        train_config({"decoder_init": "zeros"}, 3)

    def initial_decoder(name, seed):
        cfg = config(iterations=0, decoder_const_weight=None, random_state=seed)
        train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / name, cfg)
        return torch.load(list_checkpoints(tmp_path / name)[0], weights_only=False)["decoder"]["flow"]

    torch.manual_seed(0)
    a = initial_decoder("a", 3)
    torch.manual_seed(1)  # the global torch state does not matter, and is not consumed
    state = torch.random.get_rng_state()
    b = initial_decoder("b", 3)
    assert torch.equal(torch.random.get_rng_state(), state)
    c = initial_decoder("c", 4)
    w = "base.0.weight"
    assert torch.equal(a[w], b[w]) and not torch.equal(a[w], c[w])
    assert a[w].std() > 0.01  # random, not flyvis's constant 0.001


def test_decoder_from_starts_with_a_trained_decoder(connectome, sequences, tmp_path):
    """decoder_from: training starts from another run's decoder (a checkpoint file or a network
    folder's best checkpoint); a decoder of other cell types is refused, naming the file; a
    resumed run does not read the file again."""
    from flycluster.errors import ConfigError

    donor_cfg = config(iterations=4, checkpoint_every=2, decoder_const_weight=None)
    train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / "donor",
               donor_cfg)
    donor_best = torch.load(best_checkpoint(tmp_path / "donor"), weights_only=False)
    donor_last = list_checkpoints(tmp_path / "donor")[-1]
    for source, expected in ((tmp_path / "donor", donor_best),
                             (donor_last, torch.load(donor_last, weights_only=False))):
        name = f"from_{source.name}"
        cfg = config(iterations=0, decoder_from=str(source), random_state=5)
        train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / name, cfg)
        start = torch.load(list_checkpoints(tmp_path / name)[0], weights_only=False)
        assert start["config"]["decoder_from"] == str(source)
        for k, v in expected["decoder"]["flow"].items():
            assert torch.equal(start["decoder"]["flow"][k], v), k
    # without it, the start is flyvis's constant decoder
    train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / "own",
               config(iterations=0, random_state=5))
    own = torch.load(list_checkpoints(tmp_path / "own")[0], weights_only=False)["decoder"]["flow"]
    w = own["base.0.weight"]
    assert torch.allclose(w[w != 0], torch.tensor(1e-3))  # the hexagonal kernel's taps
    # a decoder of other cell types does not fit
    with pytest.raises(ConfigError, match=r"decoder_from: .*chkpt_00002.*does not fit"):
        train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / "t4",
                   config(iterations=0, decoder_from=str(donor_last),
                          decoder_cell_types=("T4a", "T4b")))
    with pytest.raises(ConfigError, match="decoder_from: .*missing.*no such"):
        train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / "m",
                   config(iterations=0, decoder_from=str(tmp_path / "missing")))
    (tmp_path / "junk").write_text("not a checkpoint")
    with pytest.raises(ConfigError, match="decoder_from: .*junk.*not a training checkpoint"):
        train_flow(Network.initial(connectome), sequences[:2], sequences[:2], tmp_path / "j",
                   config(iterations=0, decoder_from=str(tmp_path / "junk")))
    # a resumed run continues from its own checkpoint, even if the donor is gone
    work = tmp_path / "resumed"
    cfg = config(iterations=4, decoder_from=str(donor_last), random_state=5)
    train_flow(Network.initial(connectome), sequences[:2], sequences[:2], work, cfg, stop_after=2)
    import shutil

    shutil.rmtree(tmp_path / "donor")
    result = train_flow(Network.initial(connectome), sequences[:2], sequences[:2], work, cfg)
    assert result.val_iterations.tolist()[-1] == 4


def test_lr_node_factor_moves_biases_and_time_constants_faster(connectome, sequences, tmp_path):
    """lr_node_factor: biases and time constants get their own Adam group at that multiple of
    the rate (1, flyvis: the two groups as before); a run resumed with it equals an
    uninterrupted one."""
    def run(name, stop_after=None, **kw):
        cfg = config(iterations=4, checkpoint_every=2, lr_start=1e-3, lr_stop=1e-3,
                     penalty_weight=0, augmentation=NO_AUGMENTATION, **kw)
        return train_flow(Network.initial(connectome), sequences[:2], sequences[:2],
                          tmp_path / name, cfg, stop_after=stop_after)

    run("flyvis")
    run("fast", lr_node_factor=10)
    start = Network.initial(connectome).state_dict()
    flyvis = torch.load(list_checkpoints(tmp_path / "flyvis")[-1], weights_only=False)
    fast = torch.load(list_checkpoints(tmp_path / "fast")[-1], weights_only=False)
    assert len(flyvis["optim"]["param_groups"]) == 2 and len(fast["optim"]["param_groups"]) == 3
    assert [g["lr"] for g in fast["optim"]["param_groups"]] == pytest.approx([1e-3, 1e-3, 1e-2])

    def moved(record, key):
        return float((record["network"][key] - start[key]).abs().max())

    # Adam moves a parameter by about its rate per step: 10x for biases and time constants
    assert moved(fast, "nodes_bias") > 5 * moved(flyvis, "nodes_bias")
    assert moved(fast, "nodes_time_const") > 5 * moved(flyvis, "nodes_time_const")
    run("resumed", stop_after=2, lr_node_factor=10)
    run("resumed", lr_node_factor=10)
    resumed = torch.load(list_checkpoints(tmp_path / "resumed")[-1], weights_only=False)
    for key, value in fast["network"].items():
        assert torch.equal(resumed["network"][key], value), key
    with pytest.raises(Exception, match="lr_node_factor must be > 0"):
        TrainConfig(lr_node_factor=0)


def test_state_dict_extent(connectome_path):
    from flycluster.connectome import load_connectome
    from flycluster.parameters import initial_state_dict
    from flycluster.training.transfer import state_dict_extent

    for extent in (2, 3):
        state = initial_state_dict(load_connectome(connectome_path, extent=extent))
        assert state_dict_extent(state) == extent
    state8 = initial_state_dict(load_connectome(connectome_path, extent=8))
    assert state_dict_extent(state8) == 4  # extents >= 4 share flyvis's 2355 groups
    assert state_dict_extent(state8, first=8) == 8 and state_dict_extent(state8, first=3) == 4
    assert state_dict_extent({"edges_syn_count": torch.zeros(17)}) is None
