"""flycluster.training.diagnostics: the task's reference losses on flows with known answers, and
per-checkpoint diagnostics of a tiny trained folder."""

import math
import re

import numpy as np
import pytest
import torch

from flycluster.training.data import FlowSequence
from flycluster.training.diagnostics import checkpoint_diagnostics, flow_baselines, folder_extent
from tool_loader import load_tool


def _sequence(flow_fn, n_hexals=19, frames=25, name="s"):
    t = np.arange(frames)[:, None, None].astype(np.float32)
    flow = np.broadcast_to(flow_fn(t, np.arange(n_hexals)[None, None, :]),
                           (frames, 2, n_hexals)).astype(np.float32)
    return FlowSequence(name, np.full((frames, n_hexals), 0.5, np.float32), flow.copy(), name)


def test_baselines_of_known_flows():
    # uniform flow (1, -2) per frame: predicting nothing costs its norm, the frame mean nothing
    uniform = _sequence(lambda t, h: np.stack([np.ones_like(h + t), -2 * np.ones_like(h + t)],
                                              axis=1)[:, :, 0])
    out = flow_baselines([uniform], n_frames=19, dt=0.02)
    frames = math.ceil(19 / (24 * 0.02))  # validation's resampling: 40 frames
    assert out["n_sequences"] == 1
    assert out["zero"] == pytest.approx(math.sqrt(frames * 19 * (1 + 4)), rel=1e-5)
    assert out["frame_mean"] == pytest.approx(0, abs=1e-4)
    # zero-mean flow over the hexals: the frame mean is no better than nothing
    ramp = _sequence(lambda t, h: np.stack([h - 9.0 + 0 * t, 0 * h + 0 * t], axis=1)[:, :, 0])
    out = flow_baselines([ramp], n_frames=19, dt=0.02)
    assert out["zero"] == pytest.approx(math.sqrt(frames * sum((h - 9) ** 2 for h in range(19))),
                                        rel=1e-5)
    assert out["frame_mean"] == pytest.approx(out["zero"], rel=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, connectome_path):
    from flycluster.connectome import load_connectome
    from flycluster.network import Network
    from flycluster.training.data import photo_flow_sequences
    from flycluster.training.loop import TrainConfig, train_flow

    connectome = load_connectome(connectome_path, extent=2)
    seqs = photo_flow_sequences(["camera", "coins"], frames_per_movie=20, height=120, width=240,
                                extent=2, vertical_splits=2, random_state=0)
    folder = tmp_path_factory.mktemp("diag") / "000"
    train_flow(Network.initial(connectome), seqs[:2], seqs[2:], folder,
               TrainConfig(iterations=4, batch_size=2, checkpoint_every=1, lr_start=1e-2,
                           lr_stop=1e-2, random_state=0))
    return folder, connectome, seqs[2:]


def test_checkpoint_diagnostics(trained):
    folder, connectome, validation = trained
    table = checkpoint_diagnostics(folder, connectome, sequences=validation)
    assert table["checkpoint"].tolist() == [0, 1, 2, 3, 4]
    assert table["iteration"].tolist() == [0, 1, 2, 3, 4]
    first = table.iloc[0]
    assert first["exc_strength_ratio"] == 1 and first["inh_strength_ratio"] == 1
    assert first["max_bias_change"] == 0 and first["silent_output"] == 0
    # Adam at 1e-2 moves every parameter: strengths and biases changed, losses recorded
    assert (table["max_bias_change"].iloc[1:] > 0).all()
    assert (table["exc_strength_ratio"].iloc[1:] != 1).all()
    saved = [torch.load(p, weights_only=False)["val_loss"]
             for p in sorted((folder / "chkpts").iterdir())]
    np.testing.assert_allclose(table["val_loss"], saved)
    # the readout's loss on the validation sequences is the validation loss training recorded
    np.testing.assert_allclose(table["loss"], table["val_loss"], rtol=1e-5)
    # readout: flyvis's constant decoder start gives the same estimate whatever the activity
    # (every weight equal, batch norm at its initial statistics: a constant field)
    assert table["activity_dependence"].iloc[0] < 1e-4
    assert (table["activity_dependence"].iloc[1:] > table["activity_dependence"].iloc[0]).all()
    assert np.isfinite(table["correlation"].iloc[1:]).all()
    assert (table["rms_target"] == table["rms_target"].iloc[0]).all()
    assert (table["rms_target"] > 0).all()
    from flycluster.training.diagnostics import readout_scores

    last = readout_scores(sorted((folder / "chkpts").iterdir())[-1], validation, connectome)
    for key, value in last.items():
        assert table[key].iloc[-1] == pytest.approx(value, rel=1e-6), key
    # the silent count is the checkpoint's own record
    for p, row in zip(sorted((folder / "chkpts").iterdir()), table.itertuples()):
        recorded = torch.load(p, weights_only=False)["silent_output_types"]
        assert row.silent_output == len(recorded)


def test_folder_extent(tmp_path):
    assert folder_extent(tmp_path) == 15
    (tmp_path / "_meta.yaml").write_text("config: {extent: 6}\n")
    assert folder_extent(tmp_path) == 6
    (tmp_path / "_meta.yaml").write_text("config: {extent: 6}\npublished: {analysis_extent: 9}\n")
    assert folder_extent(tmp_path) == 9


def test_every_kth_checkpoint(trained):
    folder, connectome, _ = trained
    full = checkpoint_diagnostics(folder, connectome)
    for every, positions in ((2, [0, 2, 4]), (3, [0, 3, 4]), (9, [0, 4])):
        table = checkpoint_diagnostics(folder, connectome, every=every)
        assert table["checkpoint"].tolist() == positions
        # ratios still against the first checkpoint
        expected = full.set_index("checkpoint").loc[positions, "inh_strength_ratio"].to_numpy()
        np.testing.assert_allclose(table["inh_strength_ratio"], expected)
    with pytest.raises(ValueError, match="every: expected an integer >= 1, got 0"):
        checkpoint_diagnostics(folder, connectome, every=0)


def test_held_out_scores(trained):
    folder, connectome, validation = trained
    table = checkpoint_diagnostics(folder, connectome, held_out={"again": validation})
    zero = flow_baselines(validation)["zero"]
    saved = [torch.load(p, weights_only=False)["val_loss"]
             for p in sorted((folder / "chkpts").iterdir())]
    np.testing.assert_allclose(table["again_loss_ratio"], np.asarray(saved) / zero, rtol=1e-5)
    assert np.isfinite(table["again_correlation"].iloc[1:]).all()


def test_held_out_sets_are_new_movies():
    from flycluster.stimuli.photos import PHOTOS
    from flycluster.training.ensemble import held_out_sets, training_data

    frames = {"frames_per_movie": 20, "height": 60, "width": 120}
    options = {"extent": 2, "data": {"kind": "textures", "n_movies": 2, "texture_size": 128, **frames},
               "validation": {"kind": "photos", "images": ["camera"], **frames}}
    sets = held_out_sets(options, seed=3, n_textures=2, photo_draws=1)
    assert sorted(sets) == ["photos", "textures"]
    train, _ = training_data(options["data"], options["validation"], 2, 3)
    assert len(sets["textures"]) == len(train)  # same texture options, other draws
    for new, old in zip(sets["textures"], train):
        assert new.lum.shape == old.lum.shape and not np.allclose(new.lum, old.lum)
    assert len(sets["photos"]) == 3 * len(PHOTOS)  # every photo, 3 vertical splits each
    assert held_out_sets(options, seed=3, n_textures=0, photo_draws=0) == {}


def test_inspect_tool_held_out(trained, tmp_path, capsys):
    import shutil

    import pandas as pd

    inspect_training = load_tool("inspect_training")
    folder, _, _ = trained
    work = tmp_path / "work"
    shutil.copytree(folder, work)
    (work / "_meta.yaml").write_text("config: {extent: 2}\n")
    frames = "frames_per_movie: 20, height: 60, width: 120"
    options = tmp_path / "options.yaml"
    options.write_text("ensemble:\n  training:\n    extent: 2\n"
                       f"    data: {{kind: textures, n_movies: 2, texture_size: 128, {frames}}}\n"
                       f"    validation: {{kind: photos, images: [camera], {frames}}}\n")
    with pytest.raises(SystemExit):
        inspect_training.main([str(work), "--held-out"])
    assert "--held-out and --set need --options" in capsys.readouterr().err
    inspect_training.main([str(work), "--options", str(options), "--held-out", "--set", "extent=2",
                           "--out", str(tmp_path / "inspection")])
    table = pd.read_csv(tmp_path / "inspection.csv")
    assert len(table) == 5
    for column in ("textures_loss_ratio", "photos_loss_ratio", "photos_correlation"):
        assert np.isfinite(table[column]).all(), column
    assert re.search(r"held out: [1-9]\d* textures sequences, [1-9]\d* photos sequences",
                     capsys.readouterr().out)


def test_parse_overrides():
    from flycluster.errors import ConfigError
    from flycluster.training.ensemble import parse_overrides

    assert parse_overrides(["extent=5", "lr_start=1e-3", "decoder_init=random",
                            "validation={kind: photos, n_movies: 26}", "x=1.0e-9"]) == {
        "extent": 5, "lr_start": 1e-3, "decoder_init": "random",
        "validation": {"kind": "photos", "n_movies": 26}, "x": 1e-9}
    for bad in ("iterations", "=3"):
        with pytest.raises(ConfigError, match=f"--set '{bad}': expected KEY=VALUE"):
            parse_overrides([bad])


def test_held_out_photos_take_the_data_frames_when_validation_holds_out_groups():
    from flycluster.training.ensemble import held_out_sets

    options = {"extent": 2,
               "data": {"kind": "photos", "frames_per_movie": 20, "height": 60, "width": 120},
               "validation": {"groups": ["camera"], "kind": "photos", "frames_per_movie": 50,
                              "height": 436, "width": 1024}}
    photos = held_out_sets(options, n_textures=0, photo_draws=1)["photos"]
    assert photos[0].lum.shape[0] == 20  # the data's 20 frames, not the schema's 50


def test_input_ablation(trained):
    from flycluster.network import load_network
    from flycluster.training.diagnostics import _decoder, _unaugmented, input_ablation
    from flycluster.training.objectives import l2norm

    folder, connectome, validation = trained
    paths = sorted((folder / "chkpts").iterdir())
    zero = flow_baselines(validation)["zero"]
    first = input_ablation(paths[0], validation, connectome)
    n_out = len(connectome.output_cell_types)
    assert first["ablation"].tolist()[:6] == ["none", "T4", "T5", "T4+T5", "all but T4+T5", "all"]
    assert len(first) == 6 + n_out and first["n_types"].tolist()[:6] == [0, 4, 4, 8, n_out - 8, n_out]
    # nothing clamped: the validation loss the checkpoint recorded
    recorded = torch.load(paths[0], weights_only=False)["val_loss"]
    assert first["loss"].iloc[0] == pytest.approx(recorded, rel=1e-5)
    assert first["loss_ratio"].iloc[0] == pytest.approx(recorded / zero, rel=1e-5)
    # flyvis's constant decoder start ignores its input: clamping anything changes nothing
    np.testing.assert_allclose(first["loss_increase"], 0, atol=1e-5)
    # a decoder that reads its input (random first-layer weights): clamping every input is
    # decoding the grey movie's activity, built here
    record = torch.load(paths[-1], weights_only=False)
    generator = torch.Generator().manual_seed(0)
    for key in ("base.0.weight", "decoder.0.weight"):
        weight = record["decoder"]["flow"][key]
        weight.copy_(torch.randn(weight.shape, generator=generator))
    reading = folder.parent / "reading_decoder"
    torch.save(record, reading)
    last = input_ablation(reading, validation, connectome, singles=False)
    assert len(last) == 6 and abs(last["loss_increase"].iloc[-1]) > 1e-3
    module = load_network(paths[-1], connectome=connectome).module()
    lum, flow = _unaugmented(validation, 19, 0.02)
    with torch.no_grad():
        state = module.steady_state(0.25, 0.02, 1)
        grey = module(torch.full_like(lum[:1], 0.5), 0.02, state=state)
        estimate = _decoder(module, record)(grey.expand(len(validation), -1, -1))
    assert last.set_index("ablation").loc["all", "loss"] == pytest.approx(
        float(l2norm(estimate, flow)), rel=1e-5)
    # chosen groups; a type the decoder does not read is an error
    table = input_ablation(reading, validation, connectome, groups={"L": ["Tm3"]},
                           singles=False)
    assert table["ablation"].tolist() == ["none", "L"]
    with pytest.raises(ValueError, match=r"the decoder does not read \['L1'\]"):
        input_ablation(paths[-1], validation, connectome, groups={"x": ["L1"]})


def test_decoder_of_chosen_cell_types(tmp_path, connectome_path):
    """A decoder reading only T4/T5: trained, recorded in the checkpoint, read back by the
    diagnostics with the same inputs."""
    from flycluster.connectome import load_connectome
    from flycluster.network import Network
    from flycluster.training.data import photo_flow_sequences
    from flycluster.training.diagnostics import input_ablation, readout_scores
    from flycluster.training.loop import TrainConfig, train_flow

    connectome = load_connectome(connectome_path, extent=2)
    seqs = photo_flow_sequences(["camera", "coins"], frames_per_movie=20, height=120, width=240,
                                extent=2, vertical_splits=2, random_state=0)
    types = ("T5c", "T4a", "T4b")
    result = train_flow(Network.initial(connectome), seqs[:2], seqs[2:], tmp_path / "000",
                        TrainConfig(iterations=2, batch_size=2, checkpoint_every=1,
                                    lr_start=1e-2, lr_stop=1e-2, decoder_cell_types=types))
    assert result.decoder.base[0].weight.shape[1] == 3
    last = sorted((tmp_path / "000" / "chkpts").iterdir())[-1]
    record = torch.load(last, weights_only=False)
    assert record["config"]["decoder_cell_types"] == list(types)
    scores = readout_scores(last, seqs[2:], connectome)
    assert scores["loss"] == pytest.approx(record["val_loss"], rel=1e-5)
    table = input_ablation(last, seqs[2:], connectome)
    assert table["ablation"].tolist() == ["none", "T4", "T5", "T4+T5", "all", "T5c", "T4a", "T4b"]


def test_decoder_inputs_tool(trained, tmp_path, capsys):

    import pandas as pd

    decoder_inputs = load_tool("decoder_inputs")
    folder, connectome, _ = trained
    frames = "frames_per_movie: 20, height: 60, width: 120"
    options = tmp_path / "options.yaml"
    options.write_text("ensemble:\n  training:\n    extent: 2\n"
                       f"    data: {{kind: textures, n_movies: 2, texture_size: 128, {frames}}}\n"
                       f"    validation: {{kind: photos, images: [camera], {frames}}}\n")
    decoder_inputs.main([str(folder), "--options", str(options), "--checkpoints", "0", "-1",
                         "--textures", "1", "--photo-draws", "0", "--inputs", "T4c",
                         "--out", str(tmp_path / "in")])
    inputs = pd.read_csv(tmp_path / "in_cell_inputs.csv")
    n_in = sum(t == "T4c" for _, t in connectome.edge_type_names())
    assert len(inputs) == 2 * n_in and set(inputs["checkpoint"]) == {"chkpt_00000", "chkpt_00004"}
    assert {"Mi1", "Tm3", "Mi4", "Mi9"} <= set(inputs["source"])
    np.testing.assert_allclose(inputs.loc[inputs["checkpoint"] == "chkpt_00000", "source_time_const"],
                               0.05, rtol=1e-6)  # flyvis: every time constant starts at 50 ms
    table = pd.read_csv(tmp_path / "in.csv")
    n = 6 + len(connectome.output_cell_types)
    assert len(table) == 2 * n and set(table["movies"]) == {"textures"}
    assert table["checkpoint"].tolist() == ["chkpt_00000"] * n + ["chkpt_00004"] * n
    assert table["iterations"].tolist() == [0] * n + [4] * n
    assert "held out: 3 textures sequences" in capsys.readouterr().out
    assert (tmp_path / "in.md").read_text().startswith("# Decoder inputs")
    # inputs only
    decoder_inputs.main([str(folder), "--options", str(options), "--textures", "0",
                         "--photo-draws", "0", "--inputs", "T5c", "--out", str(tmp_path / "only")])
    assert not (tmp_path / "only.csv").exists()
    assert len(pd.read_csv(tmp_path / "only_cell_inputs.csv")) == 2 * sum(
        t == "T5c" for _, t in connectome.edge_type_names())
    with pytest.raises(SystemExit, match="nothing to do"):
        decoder_inputs.main([str(folder), "--options", str(options), "--textures", "0",
                             "--photo-draws", "0"])
    with pytest.raises(SystemExit, match="no checkpoint at position 9 "):
        decoder_inputs.main([str(folder), "--options", str(options), "--checkpoints", "9",
                             "--textures", "1", "--photo-draws", "0"])


def test_cell_inputs(trained):
    from flycluster.checkpoints import read_state_dict
    from flycluster.training.diagnostics import cell_inputs

    folder, connectome, _ = trained
    path = sorted((folder / "chkpts").iterdir())[-1]
    table = cell_inputs(path, connectome, "T4c")
    state = read_state_dict(path)
    names = connectome.edge_type_names()
    types = list(connectome.cell_types)
    for row in table.itertuples():
        i = names.index((row.source, "T4c"))
        assert row.syn_strength == pytest.approx(float(state["edges_syn_strength"][i]))
        assert row.sign == connectome.edge_type_sign[i]
        assert row.source_time_const == pytest.approx(
            float(state["nodes_time_const"][types.index(row.source)]))
    signs = dict(zip(table["source"], table["sign"]))
    assert signs["Mi1"] == 1 and signs["Mi4"] == -1 and signs["Mi9"] == -1  # the connectome's
    record = torch.load(path, weights_only=False)
    assert cell_inputs(record, connectome, "T4c").equals(table)
    with pytest.raises(KeyError, match="unknown cell type 'T4e'"):
        cell_inputs(path, connectome, "T4e")


def test_left_plateau():
    from flycluster.training.diagnostics import left_plateau

    rng = np.random.default_rng(0)
    plateau = 275 + rng.normal(0, 30, 12_000)  # the training loss is noisy per iteration
    learned = 215 + rng.normal(0, 30, 6_000)
    at = left_plateau(np.concatenate([plateau, learned]))
    assert 12_000 < at < 12_500  # the first 500-iteration mean 3.5 % below 275 ends there
    assert left_plateau(plateau) is None
    assert left_plateau(plateau[:300]) is None
    with_gaps = np.concatenate([plateau, [np.nan] * 50, learned])  # unlogged iterations
    assert left_plateau(with_gaps) == at


def test_training_progress_tool(trained, tmp_path, capsys):
    trained = trained[0]
    import pandas as pd

    from flycluster.checkpoints import validation_losses

    tool = load_tool("training_progress")
    tool.main([str(trained), "--out", str(tmp_path / "progress")])
    row = pd.read_csv(tmp_path / "progress.csv").iloc[0]
    val = validation_losses(trained)
    assert row["val_start"] == pytest.approx(val[0], abs=0.01)
    assert row["val_best"] == pytest.approx(val.min(), abs=0.01)
    assert row["iterations"] > 0 and pd.isna(row["left_plateau_at"])  # too short to say
    assert str(trained) in capsys.readouterr().out
    with pytest.raises(SystemExit, match="nowhere"):
        tool.main([str(tmp_path / "nowhere")])
    # --tuning: T4/T5 DSI at the folder's own extent (2 here), the largest over the last
    # checkpoints: over one checkpoint, it is the last one's
    from flycluster.training.evaluate import evaluate_networks

    tool.main([str(trained), "--tuning", "--out", str(tmp_path / "screen")])
    row = pd.read_csv(tmp_path / "screen.csv").iloc[0]
    tool.main([str(trained), "--tuning", "--window", "1", "--out", str(tmp_path / "last")])
    last = pd.read_csv(tmp_path / "last.csv").iloc[0]
    table = evaluate_networks([trained], extent=2, edges={"speeds": [19.0]}, checkpoints=[-1])
    t5 = table["cell_type"].str.startswith("T5")
    assert last["median_dsi_t5"] == pytest.approx(table.loc[t5, "dsi"].median(), abs=1e-4)
    assert last["median_dsi_t4"] == pytest.approx(table.loc[~t5, "dsi"].median(), abs=1e-4)
    for column in ("median_dsi_t4", "median_dsi_t5"):
        assert last[column] <= row[column] <= 1
    with pytest.raises(SystemExit, match="--window: expected at least 1"):
        tool.main([str(trained), "--tuning", "--window", "0"])
