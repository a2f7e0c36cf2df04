"""Synthetic and planted ensembles: format, seeding, task errors, planted separation."""

import numpy as np
import pandas as pd
import pytest
import torch

import flycluster
from flycluster.checkpoints import ensemble_task_errors, list_networks, read_state_dict
from flycluster.connectome import load_connectome
from flycluster.errors import ConfigError
from flycluster.parameters import initial_state_dict
from flycluster.synthetic import (
    group_separation,
    planted_input_edge_types,
    smooth_random_movie,
    write_planted_ensemble,
    write_synthetic_ensemble,
)


@pytest.fixture(scope="module")
def connectome(connectome_path):
    return load_connectome(connectome_path, extent=15)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory, connectome):
    dest = tmp_path_factory.mktemp("synthetic") / "ens"
    table = write_synthetic_ensemble(dest, 6, connectome=connectome, random_state=3)
    return dest, table


def _states(dest):
    return [read_state_dict(dest / name / "chkpts" / "chkpt_00000") for name in list_networks(dest)]


def test_synthetic_ensemble_format_and_task_errors(synthetic, connectome):
    dest, table = synthetic
    assert list_networks(dest) == [f"{i:03d}" for i in range(6)]
    for p in (dest / name for name in list_networks(dest)):
        assert (p / "validation" / "loss.h5").is_file() and (p / "_meta.yaml").is_file()
    errors = ensemble_task_errors(dest)
    np.testing.assert_allclose(errors.values, table.task_error.values)
    np.testing.assert_allclose(table.task_error, 1 + table.distance)
    assert errors.nunique() == 6
    # larger perturbation scale, larger distance from the prior, larger task error
    assert np.argsort(table.scale.values).tolist() == np.argsort(table.task_error.values).tolist()
    assert pd.read_csv(dest / "synthetic_networks.csv", dtype={"network": str}).network.tolist()[:2] == ["000", "001"]
    net = flycluster.load_network(dest / "001", connectome=connectome)
    assert len(net.cell_types) == 65


def test_parameters_are_perturbations_of_the_prior(synthetic, connectome):
    dest, table = synthetic
    prior = initial_state_dict(connectome)
    for state, scale in zip(_states(dest), table.scale):
        log_ratio = np.log(state["edges_syn_strength"].numpy() / (4.0 * prior["edges_syn_strength"].numpy()))
        # log-normal around gain * prior with sd = scale * 0.25
        assert abs(log_ratio.mean()) < 0.1 and log_ratio.std() == pytest.approx(0.25 * scale, rel=0.15)
        tau_ratio = np.log(state["nodes_time_const"].numpy() / 0.05)
        assert tau_ratio.std() == pytest.approx(0.25 * scale, rel=0.35)
        bias_shift = state["nodes_bias"].numpy() - prior["nodes_bias"].numpy()
        assert bias_shift.std() == pytest.approx(0.05 * scale, rel=0.35)
        torch.testing.assert_close(state["edges_syn_count"], prior["edges_syn_count"])
        torch.testing.assert_close(state["edges_sign"], prior["edges_sign"])


def test_seeding(tmp_path, synthetic, connectome):
    dest, _ = synthetic
    again = write_synthetic_ensemble(tmp_path / "again", 2, connectome=connectome, random_state=3)
    for a, b in zip(_states(dest)[:2], _states(tmp_path / "again")):  # a prefix of the same ensemble
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    other = write_synthetic_ensemble(tmp_path / "other", 1, connectome=connectome, random_state=4)
    assert not torch.equal(_states(tmp_path / "other")[0]["nodes_bias"], _states(dest)[0]["nodes_bias"])
    assert other.task_error[0] != again.task_error[0]
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_synthetic_ensemble(tmp_path / "other", 1, connectome=connectome, random_state=4)


def _correlation(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


def test_planted_groups_separate_the_planted_cell_type_only(tmp_path, connectome):
    """Planted T4c responses separate by group; every other cell type stays as in the unplanted
    twin ensemble (same seed, same random perturbations), so it does not split by group."""
    twin_dest = tmp_path / "twin"
    write_synthetic_ensemble(twin_dest, 6, connectome=connectome, random_state=3, strength_sigma=0.1,
                             time_const_sigma=0.1)  # the planted defaults, without the planting
    n_networks, n_groups = 6, 3
    table = write_planted_ensemble(tmp_path / "planted", n_networks, n_groups, ["T4c"], connectome=connectome,
                                   random_state=3)
    groups = pd.read_csv(tmp_path / "planted" / "planted_groups.csv", dtype={"network": str})
    assert groups.columns.tolist() == ["network", "group"]
    assert groups.network.tolist() == [f"{i:03d}" for i in range(n_networks)]
    assert sorted(groups.group.value_counts().tolist()) == [2, 2, 2]
    np.testing.assert_array_equal(groups.group, table.group)
    # group g adds 0.05 * g to the task error
    np.testing.assert_allclose(table.task_error, 1 + table.distance + 0.05 * table.group)

    movie = smooth_random_movie(4, 40, random_state=11)

    def simulate(dest):
        return np.stack([flycluster.load_network(p, connectome=connectome).simulate(movie, 0.01, t_fade_in=1.0)
                         for p in (dest / name for name in list_networks(dest))])

    planted, twin = simulate(tmp_path / "planted"), simulate(twin_dest)
    t4c = connectome.cell_types.index("T4c")
    sep = group_separation(planted, groups.group.values)
    assert sep.within[t4c] > 0.8 and sep.gap[t4c] > 0.5, sep.loc[t4c]
    null = group_separation(twin, groups.group.values)  # same labels, nothing planted
    assert null.gap[t4c] < 0.3
    # what the planting adds to the group structure of each cell type (chance structure of a
    # 6-network ensemble cancels out): large for T4c only
    added = np.delete((sep.gap - null.gap).to_numpy(), t4c)
    assert added.max() < 0.2, dict(zip(np.delete(connectome.cell_types, t4c), added.round(3)))
    twin_corr = np.array([[_correlation(planted[n, ..., c], twin[n, ..., c]) for c in range(65)]
                          for n in range(n_networks)]).mean(axis=0)
    assert twin_corr[t4c] < 0.9
    # most other cell types are untouched; T4c's targets change somewhat, but not by group
    assert np.median(np.delete(twin_corr, t4c)) > 0.99


def test_planted_inputs_are_the_strongest_mixed_sign_inputs(connectome):
    names = connectome.edge_type_names()
    inputs = [names[e][0] for e in planted_input_edge_types(connectome, "T4c", 3)]
    assert inputs == ["Mi1", "Mi9", "TmY15"]
    signs = connectome.edge_type_sign[planted_input_edge_types(connectome, "T4c", 3)]
    assert set(signs.tolist()) == {1.0, -1.0}


def test_group_separation_on_known_data():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((2, 50))
    groups = np.array([0, 0, 1, 1])
    r = np.stack([base[g] + 0.1 * rng.standard_normal(50) for g in groups])[:, None, :, None]
    sep = group_separation(r, groups)
    assert sep.within[0] > 0.95 and abs(sep.between[0]) < 0.4


@pytest.mark.parametrize("kwargs, message", [
    ({"n_groups": 5}, "n_groups must be an integer in"),
    ({"cell_types": ["T4x"]}, "unknown: \\['T4x'\\]"),
    ({"effect_size": 0.0}, "effect_size must be > 0"),
    ({"n_networks": 0}, "n_networks must be a positive integer"),
    ({"strength_sigma": -1.0}, "strength_sigma must be >= 0"),
])
def test_planted_bad_settings(tmp_path, connectome, kwargs, message):
    args = {"n_networks": 4, "n_groups": 2, "cell_types": ["T4c"], **kwargs}
    with pytest.raises(ConfigError, match=message):
        write_planted_ensemble(tmp_path / "x", connectome=connectome, **args)
    assert not (tmp_path / "x").exists()
