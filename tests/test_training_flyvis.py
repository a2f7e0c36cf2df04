"""The optic-flow task against flyvis 1.2.0 (fixture from tools/make_training_fixtures.py):
Sintel flow rendering, the flow-task augmentation, hex flips/rotations of flow vectors,
DecoderGAVP, l2norm and the stepwise schedule."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from flycluster.stimuli.lattice import flip_permutation, rotation_permutation
from flycluster.training.data import FlowAugmentation, flip_matrix, rotation_matrix, sintel_flow_sequences
from flycluster.training.decoder import FlowDecoder, output_node_index
from flycluster.training.objectives import l2norm, stepwise_schedule

ROOT = Path(__file__).resolve().parents[1]
REF = np.load(ROOT / "tests" / "fixtures" / "training" / "flow_task.npz")


def _tool():
    spec = importlib.util.spec_from_file_location("make_training_fixtures",
                                                  ROOT / "tools" / "make_training_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def sintel_sequences(tmp_path_factory):
    root = _tool().fabricate_flow_folder(tmp_path_factory.mktemp("flow") / "sintel")
    return sintel_flow_sequences(root)


def test_sintel_flow_targets_match_flyvis(sintel_sequences):
    assert [s.name for s in sintel_sequences] == REF["sintel_names"].tolist()
    for j, seq in enumerate(sintel_sequences):
        np.testing.assert_allclose(seq.lum, REF["sintel_lum"][j], atol=1e-5)
        scale = np.abs(REF["sintel_flow"][j]).max()
        np.testing.assert_allclose(seq.flow, REF["sintel_flow"][j], atol=1e-5 * scale)
    assert np.abs(REF["sintel_flow"]).max() > 0.1  # a real flow field, not zeros


@pytest.mark.parametrize("i", [0, 1])
def test_flow_task_augmentation_matches_flyvis(sintel_sequences, i):
    flip, n_rot, contrast, brightness = REF["augmented"][i]
    params = {"n_rot": int(n_rot), "flip_axis": int(flip), "contrast": float(contrast),
              "brightness": float(brightness), "start": int(REF[f"aug{i}_start"])}
    lum, flow = FlowAugmentation(noise_std=0)(sintel_sequences[i], np.random.default_rng(0),
                                              params=params)
    assert lum.shape == (40, 721) and flow.shape == (40, 2, 721)
    np.testing.assert_allclose(lum, REF[f"aug{i}_lum"], atol=1e-5)
    np.testing.assert_allclose(flow, REF[f"aug{i}_flow"], atol=1e-4 * np.abs(flow).max())


def test_hex_flips_and_rotations_of_flow_match_flyvis():
    seq = REF["hex_seq"]
    for axis in (1, 2, 3):
        ours = np.einsum("ij,tjn->tin", flip_matrix(axis), seq[:, :, flip_permutation(3, axis)])
        np.testing.assert_allclose(ours, REF[f"hexflip_{axis}"], atol=1e-6)
    for n in range(1, 6):
        ours = np.einsum("ij,tjn->tin", rotation_matrix(n), seq[:, :, rotation_permutation(3, n)])
        np.testing.assert_allclose(ours, REF[f"hexrot_{n}"], atol=1e-6)


def test_decoder_matches_flyvis(connectome_path):
    from flycluster.connectome import load_connectome

    connectome = load_connectome(connectome_path, extent=2)
    assert list(connectome.output_cell_types) == REF["decoder_output_types"].tolist()
    dec = FlowDecoder(output_node_index(connectome))
    state = {k[len("decoder_state_"):]: torch.from_numpy(np.asarray(REF[k]))
             for k in REF.files if k.startswith("decoder_state_")}
    dec.load_state_dict(state)  # flyvis's keys load as they are
    dec.eval()
    with torch.no_grad():
        out = dec(torch.from_numpy(REF["decoder_activity"]))
    np.testing.assert_allclose(out.numpy(), REF["decoder_out"], rtol=1e-5, atol=1e-6)


def test_loss_and_schedule_match_flyvis():
    a, b = torch.from_numpy(REF["l2norm_a"]), torch.from_numpy(REF["l2norm_b"])
    assert float(l2norm(a, b)) == pytest.approx(float(REF["l2norm"]), rel=1e-6)
    np.testing.assert_array_equal(stepwise_schedule(1000, 5e-5, 5e-6, 10), REF["schedule"])
