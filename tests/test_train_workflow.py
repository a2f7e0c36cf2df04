"""The trained ensemble kind: rule train end to end on a CI-sized config, and resumption of a
killed train job at the level the rule calls (flycluster.training.ensemble.train_network).

The loop's own resumption (bit-identical parameters after a kill) is tested in
tests/test_training_loop.py; here: the work folder outside the rule's outputs is resumed and
published, and a work folder made with other options is refused.
"""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import flycluster.checkpoints as layout
from flycluster.config_schema import apply_schema
from flycluster.errors import ConfigError
from flycluster.training.ensemble import (
    BEST_CHECKPOINT,
    initial_network,
    network_random_state,
    train_config,
    train_network,
    training_data,
)
from flycluster.training.loop import train_flow
from test_workflow import job_counts, snakemake
from tool_loader import load_tool

ROOT = Path(__file__).resolve().parents[1]
TRAIN_TINY = ROOT / "tests" / "workflow_configs" / "train_tiny.yaml"


def _options():
    config = apply_schema(yaml.safe_load(TRAIN_TINY.read_text()))
    return config["ensemble"]["training"], config["ensemble"]["random_state"]


@pytest.fixture(scope="module")
def train_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("train_tiny")
    proc = snakemake("--cores", 2, workdir=workdir, configfile=TRAIN_TINY, timeout=900)
    return workdir, proc


def test_train_tiny_end_to_end(train_run):
    workdir, proc = train_run
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["train"] == 6 and counts["simulate"] == 6 and counts["cluster"] == 1
    ensemble = workdir / "resources" / "ensembles" / "train_tiny"
    options, _ = _options()
    ratios = []
    for i in range(6):
        net = ensemble / f"{i:03d}"
        chkpts = layout.list_checkpoints(net)
        # before training, after 6 and after 12 iterations (an epoch is 3 x batch 2 of 6 sequences)
        assert len(chkpts) == 3
        losses = layout.validation_losses(net)
        assert losses.shape == (3,) and np.all(np.isfinite(losses))
        ratios.append(losses.min() / losses[0])
        best = torch.load(net / BEST_CHECKPOINT, weights_only=False)
        assert best["val_loss"] == pytest.approx(losses.min())
        # trained at extent 3 (2353 synapse-count groups), published at extent 4 (2355)
        assert best["network"]["edges_syn_count"].numel() == 2355
        assert set(best["decoder"]["flow"]) >= {"base.0.weight", "decoder.0.bias"}
        meta = yaml.safe_load((net / "_meta.yaml").read_text())
        assert meta["status"] == "done"
        assert meta["published"]["training_extent"] == 3
        assert meta["published"]["analysis_extent"] == 4
        assert meta["config"]["train"]["random_state"] == network_random_state(3, i)
        assert meta["config"]["recipe"]["options"]["data"] == options["data"]
        work = workdir / "resources" / "training" / "train_tiny" / f"{i:03d}"
        assert torch.load(layout.list_checkpoints(work)[0], weights_only=False)[
            "network"]["edges_syn_count"].numel() == 2353
        log = (workdir / "logs" / "train_tiny" / "train" / f"{i:03d}.log").read_text()
        assert "iteration 12/12" in log and " it/s ETA " in log
    # 12 iterations at a large learning rate: noisy, but better than untrained. Measured
    # best/start ratios 0.40-0.97 (median 0.84) and, after the decoder's dropout masks came
    # from another random stream, 0.37-1.0 (median 0.87: one network of six never beat its
    # start). So: most networks improve, and the median clearly.
    assert sum(r < 1 for r in ratios) >= 4, ratios
    assert np.median(ratios) < 0.9, ratios
    # networks differ (their own seeds), and differ from the untrained start
    biases = [torch.load(ensemble / f"{i:03d}" / BEST_CHECKPOINT, weights_only=False)
              ["network"]["nodes_bias"] for i in range(6)]
    assert not torch.equal(biases[0], biases[1])
    results = workdir / "results" / "train_tiny"
    assert (results / "clustering" / "T4c.nc").is_file()
    assert (results / "summary.csv").is_file()
    assert sorted(p.name for p in (results / "responses" / "naturalistic").iterdir()) == \
        [f"{i:03d}.nc" for i in range(6)]
    rerun = snakemake("--cores", 2, workdir=workdir, configfile=TRAIN_TINY)
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_lost_published_folder_is_remade_without_training_again(train_run):
    """A deleted published folder (e.g. a failed job's outputs, which snakemake removes) is
    remade from the finished work folder without training again."""
    workdir, _ = train_run
    loss = workdir / "resources" / "ensembles" / "train_tiny" / "002" / "validation" / "loss.h5"
    loss.unlink()
    proc = snakemake("--cores", 2, loss.relative_to(workdir), workdir=workdir,
                     configfile=TRAIN_TINY)
    assert job_counts(proc.stdout + proc.stderr) == {"train": 1}
    log = (workdir / "logs" / "train_tiny" / "train" / "002.log").read_text()
    assert "resuming" in log and "iteration 1/" not in log  # nothing trained again
    assert loss.is_file()


def test_killed_train_job_resumes_and_publishes_the_uninterrupted_result(tmp_path):
    options, seed = _options()
    uninterrupted = train_network(tmp_path / "a_work", tmp_path / "a", 1, options, seed=seed,
                                  analysis_extent=4)
    # the same network killed after 7 of 12 iterations (its last checkpoint: after 6)
    random_state = network_random_state(seed, 1)
    train, val = training_data(options["data"], options["validation"], options["extent"], seed)
    from flycluster.training.ensemble import _recipe

    train_flow(initial_network(options["extent"], random_state).module(), train, val,
               tmp_path / "b_work", train_config(options, random_state),
               meta={"extent": options["extent"], "network_index": 1,
                     "recipe": _recipe(options, seed, None)}, stop_after=7)
    assert not (tmp_path / "b").exists()
    resumed = train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                            analysis_extent=4)
    assert len(resumed.train_loss) == 12
    a = torch.load(tmp_path / "a" / BEST_CHECKPOINT, weights_only=False)["network"]
    b = torch.load(tmp_path / "b" / BEST_CHECKPOINT, weights_only=False)["network"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
    np.testing.assert_array_equal(uninterrupted.val_loss, resumed.val_loss)
    # other options on the same work folder: refused, naming it
    for changed in (dict(options, lr_start=0.02), dict(options, decoder_init="random")):
        with pytest.raises(ConfigError, match="b_work"):
            train_network(tmp_path / "b_work", tmp_path / "b", 1, changed, seed=seed,
                          analysis_extent=4)
    # a folder made before an option existed (recorded without it) is the same recipe when
    # the option is at its default, the old behaviour
    meta_file = tmp_path / "b_work" / "_meta.yaml"
    meta = yaml.safe_load(meta_file.read_text())
    for key in ("decoder_init", "penalty_weight", "lr_decoder_factor", "decoder_cell_types",
                "decoder_from", "decoder_rectify", "init_time_const_sigma", "lr_node_factor"):
        del meta["config"]["recipe"]["options"][key]
    meta_file.write_text(yaml.safe_dump(meta, sort_keys=False))
    again = train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                          analysis_extent=4)
    np.testing.assert_array_equal(again.val_loss, resumed.val_loss)


def test_train_config_dry_run(tmp_path):
    """config/train.yaml: 8 train jobs feeding the default analysis, in one DAG."""
    proc = snakemake("-n", workdir=tmp_path, configfile=ROOT / "config" / "train.yaml")
    counts = job_counts(proc.stdout + proc.stderr)
    # 8 networks x the default's 3 stimulus sets (naturalistic, moving edges, flashes)
    assert counts["train"] == 8 and counts["simulate"] == 24 and counts["cluster"] == 65
    assert "synthetic_ensemble" not in counts
    assert "resources/ensembles/train/007/best_chkpt" in proc.stdout + proc.stderr


def test_decoder_cell_types_are_checked_at_parse_time(tmp_path):
    from flycluster.config import load_config

    mine = tmp_path / "mine.yaml"
    mine.write_text("ensemble:\n  training:\n    decoder_cell_types: [T4a, T5q]\n")
    with pytest.raises(ConfigError, match=r"config file .*train.yaml, .*mine.yaml: config key "
                                          r"ensemble.training.decoder_cell_types: unknown cell "
                                          r"type\(s\) 'T5q'"):
        load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "train.yaml", mine)
    mine.write_text("ensemble:\n  training:\n    decoder_cell_types: T4a\n")
    with pytest.raises(ConfigError, match=r"ensemble.training.decoder_cell_types"):
        load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "train.yaml", mine)
    mine.write_text("ensemble:\n  training:\n    decoder_cell_types: [T4a, T4b]\n")
    config = load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "train.yaml", mine)
    assert config["ensemble"]["training"]["decoder_cell_types"] == ["T4a", "T4b"]


def test_decoder_from_is_checked_at_parse_time_and_is_an_input(tmp_path):
    """A missing decoder_from is named at parse time; an existing one is the train jobs'
    input (a new decoder file retrains)."""
    from flycluster.config import load_config

    mine = tmp_path / "mine.yaml"
    missing = tmp_path / "nowhere" / "chkpt_00050"
    mine.write_text(f"ensemble:\n  training:\n    decoder_from: {missing}\n")
    with pytest.raises(ConfigError, match=r"ensemble.training.decoder_from: .*nowhere.*does not "
                                          r"exist"):
        load_config(ROOT / "config" / "config.yaml", ROOT / "config" / "train.yaml", mine)
    donor = ROOT / "tests" / "fixtures" / "training" / "trained_extent5.pt"
    mine.write_text(f"ensemble:\n  training:\n    decoder_from: {donor}\n")
    proc = snakemake("-n", "-p", "--configfile", str(ROOT / "config" / "train.yaml"), str(mine),
                     workdir=tmp_path)
    assert job_counts(proc.stdout + proc.stderr)["train"] == 8
    assert str(donor) in proc.stdout + proc.stderr


def test_training_data_errors_name_the_key():
    options, _ = _options()
    with pytest.raises(ConfigError, match=r"ensemble.training.data.root"):
        training_data({"kind": "sintel"}, options["validation"], 3)
    with pytest.raises(ConfigError, match=r"ensemble.training.validation"):
        training_data(options["data"], {"kind": None}, 3)


def test_train_network_tool_overrides(tmp_path):
    """tools/train_network.py: what one train job does; --set takes YAML values and numbers
    YAML 1.1 reads as strings (1e-3)."""

    tool = load_tool("train_network")
    tool.main(["--options", str(TRAIN_TINY), "--index", "1", "--work", str(tmp_path / "work"),
               "--dest", str(tmp_path / "001"), "--analysis-extent", "4", "--log-every", "1",
               "--set", "iterations=4", "lr_start=1e-3", "lr_stop=5.0e-4",
               "lr_decoder_factor=4", "penalty_weight=0", "decoder_init=random"])
    meta = yaml.safe_load((tmp_path / "001" / "_meta.yaml").read_text())
    train = meta["config"]["train"]
    assert (train["iterations"], train["lr_start"], train["lr_stop"],
            train["lr_decoder_factor"], train["penalty_weight"],
            train["decoder_const_weight"]) == (4, 1e-3, 5e-4, 4, 0, None)
    assert train["random_state"] == network_random_state(3, 1)
    assert layout.best_checkpoint(tmp_path / "001").is_file()
    with pytest.raises(SystemExit, match="KEY=VALUE"):
        tool.main(["--options", str(TRAIN_TINY), "--work", str(tmp_path / "w2"),
                   "--dest", str(tmp_path / "d2"), "--set", "iterations"])


def test_initial_time_constant_spread_is_seeded():
    """init_time_const_sigma: 0 is flyvis's start (every tau 0.05 s); > 0 spreads them
    log-normally, seeded, leaving the biases as they were drawn."""
    flyvis = initial_network(4, 3).state_dict()
    assert torch.all(flyvis["nodes_time_const"] == 0.05)
    spread = initial_network(4, 3, time_const_sigma=0.5).state_dict()
    assert torch.equal(spread["nodes_bias"], flyvis["nodes_bias"])
    log_ratio = torch.log(spread["nodes_time_const"] / 0.05)
    assert 0.35 < float(log_ratio.std()) < 0.65 and abs(float(log_ratio.mean())) < 0.2
    again = initial_network(4, 3, time_const_sigma=0.5).state_dict()["nodes_time_const"]
    other = initial_network(4, 4, time_const_sigma=0.5).state_dict()["nodes_time_const"]
    assert torch.equal(again, spread["nodes_time_const"]) and not torch.equal(other, again)


def test_stop_at_screens_a_network_and_the_same_command_continues_it(tmp_path):
    """stop_at: train to a checkpoint and stop unpublished (to screen networks early); the
    command without it continues to the uninterrupted result."""
    options, seed = _options()
    uninterrupted = train_network(tmp_path / "a_work", tmp_path / "a", 1, options, seed=seed,
                                  analysis_extent=4)
    with pytest.raises(ConfigError, match="stop_at 5: not at a checkpoint"):
        train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                      analysis_extent=4, stop_at=5)
    screened = train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                             analysis_extent=4, stop_at=6)
    assert len(screened.train_loss) == 6 and screened.val_iterations.tolist()[-1] == 6
    assert not (tmp_path / "b").exists()  # not published
    assert train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                         analysis_extent=4, stop_at=6) is None  # there already
    finished = train_network(tmp_path / "b_work", tmp_path / "b", 1, options, seed=seed,
                             analysis_extent=4)
    np.testing.assert_array_equal(finished.val_loss, uninterrupted.val_loss)
    a = torch.load(tmp_path / "a" / BEST_CHECKPOINT, weights_only=False)["network"]
    b = torch.load(tmp_path / "b" / BEST_CHECKPOINT, weights_only=False)["network"]
    for key in a:
        assert torch.equal(a[key], b[key]), key
