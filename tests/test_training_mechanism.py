"""flycluster.training.mechanism: T4/T5 tuning with one input removed, on a network trained by
this code (tests/fixtures/training/trained_extent5.pt: the extent-5 run of
docs/training_studies.md after 54,000 iterations, whose T4c prefers the direction opposite to
Maisak et al.'s)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from flycluster.training.mechanism import input_knockouts, knockout_tuning
from tool_loader import load_tool

FIXTURE = Path(__file__).parent / "fixtures" / "training" / "trained_extent5.pt"
EDGES = {"speeds": [19.0], "t_pre": 0.25, "t_post": 0.25}


@pytest.fixture(scope="module")
def connectome(connectome_path):
    from flycluster.connectome import load_connectome

    return load_connectome(connectome_path, extent=4)


def test_input_knockouts(connectome):
    state = torch.load(FIXTURE, weights_only=False)["network"]
    names = connectome.edge_type_names()
    types = list(connectome.cell_types)
    variants = input_knockouts(state, connectome, "T4c", {"Mi9": 0.1})
    inputs = [s for s, t in names if t == "T4c"]
    assert list(variants) == ["intact"] + [f"T4c-{s}" for s in inputs]
    for name, variant in variants.items():
        assert float(variant["nodes_time_const"][types.index("Mi9")]) == pytest.approx(0.1)
        changed = torch.nonzero(variant["edges_syn_strength"] != state["edges_syn_strength"])
        if name == "intact":
            assert len(changed) == 0
        else:
            assert changed.flatten().tolist() == [names.index((name[4:], "T4c"))]
            assert float(variant["edges_syn_strength"][changed[0, 0]]) == 0
    assert torch.equal(variants["intact"]["edges_syn_count"], state["edges_syn_count"])
    assert float(state["nodes_time_const"][types.index("Mi9")]) != 0.1  # the input is untouched
    with pytest.raises(KeyError, match="T4e"):
        input_knockouts(state, connectome, "T4e")
    with pytest.raises(KeyError, match="Mi99"):
        input_knockouts(state, connectome, "T4c", {"Mi99": 0.1})
    with pytest.raises(ValueError, match="time constant of Mi9: expected > 0 s"):
        input_knockouts(state, connectome, "T4c", {"Mi9": 0})


def test_knockout_tuning_of_a_trained_network(tmp_path, connectome):
    from flycluster.checkpoints import write_network_dir
    from flycluster.training.evaluate import evaluate_networks

    record = torch.load(FIXTURE, weights_only=False)
    table = knockout_tuning(FIXTURE, ["T4c"], extent=4, edges=EDGES)
    n_inputs = sum(t == "T4c" for _, t in connectome.edge_type_names())
    assert len(table) == 1 + n_inputs and set(table["cell_type"]) == {"T4c"}
    rows = table.set_index("variant")
    # the intact variant is the network itself; a knockout is the network with that input at 0
    mi9 = input_knockouts(record["network"], connectome, "T4c")["T4c-Mi9"]
    write_network_dir(tmp_path / "intact", record["network"], 1.0)
    write_network_dir(tmp_path / "no_mi9", mi9, 1.0)
    direct = evaluate_networks([tmp_path / "intact", tmp_path / "no_mi9"], extent=4, edges=EDGES,
                               checkpoints=("best",)).set_index(["network", "cell_type"])
    for variant, folder in (("intact", "intact"), ("T4c-Mi9", "no_mi9")):
        for column in ("correlation", "dsi", "preferred_direction"):
            assert rows.loc[variant, column] == pytest.approx(direct.loc[(folder, "T4c"), column])
    assert rows.loc["T4c-Mi9", "sign"] == -1 and rows.loc["T4c-Mi9", "syn_strength"] > 0
    # measured on this network: T4c points away from Maisak's 90 deg, and its Mi9 input is
    # what turns it: without Mi9 it points the measured way
    assert rows.loc["intact", "direction_error"] > 135
    assert rows.loc["T4c-Mi9", "direction_error"] < 45
    assert np.isfinite(rows["dsi"]).all()


def test_knockout_tuning_errors(tmp_path):
    with pytest.raises(ValueError, match=r"\['Mi1'\]: knockout tuning is scored for T4a-d"):
        knockout_tuning(FIXTURE, ["Mi1"], extent=4, edges=EDGES)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    with pytest.raises(ValueError, match="expected an empty or new folder"):
        knockout_tuning(FIXTURE, ["T4c"], extent=4, edges=EDGES, workdir=tmp_path / "used")


def test_knockout_tool(tmp_path, capsys):
    import shutil

    import pandas as pd

    tool = load_tool("knockout_tuning")
    from flycluster.checkpoints import write_network_dir

    record = torch.load(FIXTURE, weights_only=False)
    folder = write_network_dir(tmp_path / "000", record["network"], record["val_loss"])
    with pytest.raises(SystemExit, match="--time-constants 'Mi9=slow': expected TYPE=SECONDS"):
        tool.main([str(folder), "--cell-types", "T5c", "--time-constants", "Mi9=slow"])
    with pytest.raises(SystemExit, match="checkpoint index 3 out of range"):
        tool.main([str(folder), "--cell-types", "T5c", "--checkpoint", "3"])
    tool.main([str(folder), "--cell-types", "T5c", "--checkpoint", "last", "--extent", "4",
               "--speeds", "19", "--time-constants", "Tm9=0.1", "--out", str(tmp_path / "ko")])
    table = pd.read_csv(tmp_path / "ko.csv")
    assert table["variant"].iloc[0] == "intact" and (table["cell_type"] == "T5c").all()
    assert "time constants {'Tm9': 0.1}" in (tmp_path / "ko.md").read_text()
    shutil.rmtree(folder)
