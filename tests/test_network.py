"""Network dynamics: equivalence with flyvis, batching, NaN padding, devices, bad input."""

from pathlib import Path

import numpy as np
import pytest
import torch

from flycluster.connectome import load_connectome
from flycluster.errors import CheckpointError, StimulusError
from flycluster.network import Network
from flycluster.parameters import PARAMETER_KEYS, initial_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "simulation"


@pytest.fixture(scope="module")
def connectome(connectome_path):
    return load_connectome(connectome_path, extent=15)


@pytest.fixture(scope="module")
def reference():
    data = np.load(FIXTURES / "responses.npz")
    return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def flyvis_params(reference):
    return {k[len("param_"):]: v for k, v in reference.items() if k.startswith("param_")}


@pytest.fixture(scope="module")
def network(connectome, flyvis_params):
    return Network(connectome, flyvis_params, source="fixture")


@pytest.fixture(scope="module")
def scipy_network(connectome, flyvis_params):
    return Network(connectome, flyvis_params, source="fixture", kernel="scipy")


def test_default_cpu_kernel_is_native(network):
    """CI has a C compiler: the default CPU path is the compiled stencil kernel, not the fallback."""
    assert type(network.kernel_for(0.01)).__name__ == "NativeKernel"


def test_make_kernel_and_public_parameters(connectome, network):
    """make_kernel builds the kernel a Network uses from the Network's public arrays; those arrays
    are read-only views; relax and steady_state agree."""
    from flycluster.kernels import KERNELS, ScipyKernel, check_kernel, make_kernel

    assert network.node_bias.shape == network.node_time_constants.shape == (connectome.n_nodes,)
    assert network.edge_weights.shape == (connectome.n_edges,)
    for array in (network.node_bias, network.node_time_constants, network.edge_weights):
        assert not array.flags.writeable
    kernel = make_kernel("scipy", "cpu", connectome, network.edge_weights, network.node_time_constants,
                         network.node_bias, 0.01, n_threads=1)
    assert isinstance(kernel, ScipyKernel)
    relaxed = kernel.relax(network.node_bias, 20)
    np.testing.assert_allclose(network.relax(network.node_bias, 20, 0.01), relaxed, rtol=0, atol=2e-5)
    np.testing.assert_allclose(network.steady_state(0.2, 0.01), relaxed, rtol=0, atol=2e-5)
    assert np.abs(relaxed - network.node_bias).max() > 1e-3  # the 20 steps moved the state
    assert set(KERNELS) == {"auto", "native", "scipy", "triton", "torch"}
    with pytest.raises(ValueError, match="runs on the CPU only"):
        check_kernel("native", "cuda")
    with pytest.raises(ValueError, match="kernel must be one of"):
        check_kernel("numba")


def test_fixture_parameters_are_not_the_initial_ones(connectome, flyvis_params):
    init = initial_state_dict(connectome)
    for key in ("nodes_bias", "nodes_time_const", "edges_syn_count", "edges_syn_strength"):
        assert np.abs(flyvis_params[key] - init[key].numpy()).max() > 1e-3, key
    assert (flyvis_params["edges_syn_strength"] < 0).any()  # exercises the clamp
    assert (flyvis_params["nodes_time_const"] < 1 / 200).any()  # exercises max(tau, dt)


def test_initial_parameters_equal_flyvis(connectome):
    ref = np.load(FIXTURES / "initial_parameters.npz")
    ours = initial_state_dict(connectome)
    assert set(ref.files) == set(PARAMETER_KEYS)
    for key in PARAMETER_KEYS:
        np.testing.assert_allclose(ours[key].numpy(), ref[key], rtol=1e-6, atol=0, err_msg=key)


@pytest.mark.parametrize("kernel", ["native", "scipy"])
@pytest.mark.parametrize("setting", ["a", "b"])
def test_equivalent_to_flyvis(network, scipy_network, reference, setting, kernel):
    """A: t_pre=0, t_fade_in=2 s, dt=1/100. B: t_pre=1 s, no fade-in, dt=1/200, NaN padding.
    Both CPU kernels: the native default and the scipy fallback."""
    network = network if kernel == "native" else scipy_network
    dt, t_pre, t_fade_in = reference[f"settings_{setting}"]
    expected = reference[f"responses_{setting}"]
    out = network.simulate(reference[f"movie_{setting}"], dt, t_pre=t_pre, t_fade_in=t_fade_in)
    assert out.dtype == np.float32 and out.shape == expected.shape
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.nanmax(np.abs(out - expected)) <= 1e-4
    # the responses are not trivial: they vary over time and across cell types
    assert np.nanstd(expected) > 0.1


def test_nan_padding_stays_in_its_sample(network, reference):
    dt, t_pre, t_fade_in = reference["settings_b"]
    movie = reference["movie_b"]
    assert np.isnan(movie[1, 22:]).all() and not np.isnan(movie[[0, 2]]).any()
    together = network.simulate(movie, dt, t_pre=t_pre, batch_size=3)
    alone = network.simulate(movie[[0, 2]], dt, t_pre=t_pre, batch_size=2)
    np.testing.assert_array_equal(together[[0, 2]], alone)
    assert not np.isnan(together[1, :22]).any()
    # photoreceptors turn NaN on the first padding frame, T5c three steps later (as in flyvis)
    t5c = network.cell_types.index("T5c")
    assert np.isnan(together[1, 22:, 0]).all()
    assert not np.isnan(together[1, 24, t5c]) and np.isnan(together[1, 25:, t5c]).all()


def test_batch_size_does_not_change_results(network, reference):
    movie = reference["movie_a"][:, :8]
    full = network.simulate(movie, 0.01, t_fade_in=0.1, batch_size=3)
    single = network.simulate(movie, 0.01, t_fade_in=0.1, batch_size=1)
    np.testing.assert_allclose(full, single, rtol=0, atol=1e-6)


def test_torch_kernel_matches_scipy_kernel(connectome, flyvis_params, reference):
    """The CUDA code path (torch CSR), run on the CPU, agrees with the scipy kernel."""
    movie = reference["movie_b"][:, :12]
    cpu = Network(connectome, flyvis_params, kernel="scipy").simulate(movie, 1 / 200, t_pre=0.2, t_fade_in=0.03)
    torch_path = Network(connectome, flyvis_params, kernel="torch").simulate(movie, 1 / 200, t_pre=0.2,
                                                                            t_fade_in=0.03)
    np.testing.assert_allclose(torch_path, cpu, rtol=0, atol=2e-5)


def test_steady_state_computed_once_and_reused(network):
    first = network.steady_state(0.1, 0.01)
    assert network.steady_state(0.1, 0.01) is first
    assert first.shape == (network.connectome.n_nodes,)
    np.testing.assert_array_equal(network.steady_state(0.0, 0.01), network.node_bias)
    assert np.abs(first - network.node_bias).max() > 1e-3


def test_api_properties(network, connectome):
    assert len(network.cell_types) == 65 and network.cell_types[0] == "R1" and "T4c" in network.cell_types
    assert network.central_cells.shape == (65,)
    assert np.all(connectome.node_u[network.central_cells] == 0)
    assert network.connectome is connectome
    sd = network.state_dict()
    assert set(sd) == set(PARAMETER_KEYS) and all(v.dtype == torch.float32 for v in sd.values())


def test_progress_is_logged(network, caplog):
    movie = np.full((2, 3, 721), 0.5, dtype=np.float32)
    with caplog.at_level("INFO", logger="flycluster.network"):
        network.simulate(movie, 0.01, batch_size=1, progress=True)
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "flycluster.network")
    assert "2/2 samples" in text and "samples/s" in text and "ETA" in text
    caplog.clear()
    with caplog.at_level("INFO", logger="flycluster.network"):
        network.simulate(movie, 0.01, batch_size=1, progress=False)
    assert not [r for r in caplog.records if r.name == "flycluster.network"]


def test_cuda_request_runs_where_possible(connectome, flyvis_params):
    if torch.cuda.is_available():
        net = Network(connectome, flyvis_params, device="cuda")
        assert net.device.type == "cuda"
    else:
        with pytest.warns(UserWarning, match="CUDA was requested but is not available"):
            net = Network(connectome, flyvis_params, device="cuda")
        assert net.device.type == "cpu"
    out = net.simulate(np.full((1, 2, 721), 0.5, np.float32), 0.01)
    assert out.shape == (1, 2, 65) and np.isfinite(out).all()


@pytest.mark.parametrize("movie, message", [
    (np.zeros((2, 721), np.float32), r"shape \(samples, frames, 721\)"),
    (np.zeros((2, 3, 720), np.float32), r"shape \(samples, frames, 721\)"),
    (np.zeros((2, 0, 721), np.float32), "at least one frame"),
    (np.full((2, 3, 721), 1.2, np.float32), r"\[0, 1\]"),
    (np.full((2, 3, 721), -0.1, np.float32), r"\[0, 1\]"),
])
def test_bad_movies(network, movie, message):
    with pytest.raises(StimulusError, match=message):
        network.simulate(movie, 0.01)


def test_partial_nan_frames_and_infinities_are_rejected(network):
    movie = np.full((2, 3, 721), 0.5, np.float32)
    movie[1, 2, :5] = np.nan
    with pytest.raises(StimulusError, match="sample 1, frame 2: some hexals are NaN"):
        network.simulate(movie, 0.01)
    movie = np.full((1, 3, 721), 0.5, np.float32)
    movie[0, 1, 0] = np.inf
    with pytest.raises(StimulusError):
        network.simulate(movie, 0.01)


@pytest.mark.parametrize("kwargs, message", [
    ({"dt": 0.0}, "dt must be > 0"),
    ({"dt": float("nan")}, "dt must be a finite number"),
    ({"dt": 0.01, "t_pre": -1.0}, "t_pre and t_fade_in must be >= 0"),
    ({"dt": 0.01, "batch_size": 0}, "batch_size must be a positive integer"),
])
def test_bad_simulation_settings(network, kwargs, message):
    with pytest.raises(ValueError, match=message):
        network.simulate(np.full((1, 2, 721), 0.5, np.float32), **kwargs)


def test_state_dict_errors_name_the_key(connectome, flyvis_params):
    missing = {k: v for k, v in flyvis_params.items() if k != "nodes_time_const"}
    with pytest.raises(CheckpointError, match="lacks nodes_time_const"):
        Network(connectome, missing, source="my.ckpt")
    wrong = {**flyvis_params, "edges_syn_count": flyvis_params["edges_syn_count"][:-5]}
    with pytest.raises(CheckpointError, match=r"my.ckpt: edges_syn_count has shape \(2350,\).*needs \(2355,\)"):
        Network(connectome, wrong, source="my.ckpt")
    nan = {**flyvis_params, "nodes_bias": np.full(65, np.nan, np.float32)}
    with pytest.raises(CheckpointError, match="nodes_bias contains NaN"):
        Network(connectome, nan)
    with pytest.raises(CheckpointError, match="expected a mapping"):
        Network(connectome, [1, 2, 3])
    with pytest.raises(ValueError, match="kernel must be"):
        Network(connectome, flyvis_params, kernel="fast")
