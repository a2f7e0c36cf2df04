"""The differentiable network (flycluster.training): forward vs the simulation kernels, gradients vs
float64 finite differences, the C adjoint vs the autograd reference, and flyvis's own gradients."""

from pathlib import Path

import numpy as np
import pytest
import torch

from flycluster.connectome import load_connectome
from flycluster.network import Network
from flycluster.parameters import initial_state_dict
from flycluster.training import TRAINABLE, NetworkModule

FIXTURES = Path(__file__).parent / "fixtures" / "training"
DT = 1 / 50


def perturbed(connectome, seed=0, positive=False) -> dict:
    """Non-default parameters: biases, time constants (three below dt), counts and strengths
    changed; unless ``positive``, three strengths negative (clamped at 0 by the forward)."""
    rng = np.random.default_rng(seed)
    p = {k: v.numpy().copy() for k, v in initial_state_dict(connectome).items()}
    p["nodes_bias"] += rng.normal(0, 0.3, p["nodes_bias"].shape).astype(np.float32)
    tau = 0.05 * np.exp(rng.normal(0, 0.5, p["nodes_time_const"].shape))
    tau[[3, 20, 40]] = 0.012
    tau[(tau > 0.015) & (tau < 0.025)] = 0.03  # finite differences stay on one side of max(tau, dt)
    p["nodes_time_const"] = tau.astype(np.float32)
    p["edges_syn_count"] += rng.normal(0, 0.3, p["edges_syn_count"].shape).astype(np.float32)
    strength = p["edges_syn_strength"] * np.exp(rng.normal(0.5, 0.7, p["edges_syn_strength"].shape))
    if not positive:
        strength[[5, 100, 300]] = -0.002
    p["edges_syn_strength"] = strength.astype(np.float32)
    return p


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def small(connectome_path):
    return load_connectome(connectome_path, extent=3)


@pytest.fixture(scope="module")
def tiny(connectome_path):
    return load_connectome(connectome_path, extent=2)


def movie_for(connectome, samples, frames, seed=1):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.random((samples, frames, connectome.n_hexals)).astype(np.float32))


def test_parameters_named_and_fixed_as_flyvis(small):
    module = Network(small, perturbed(small)).module()
    assert [n for n, p in module.named_parameters()] == list(TRAINABLE)
    buffers = {n for n, _ in module.named_buffers(recurse=False) if not n.startswith("_")}
    assert buffers == {"edges_sign", "edges_syn_count"}
    assert set(module.state_dict()) == {*TRAINABLE, "edges_sign", "edges_syn_count"}
    assert module.nodes_bias.shape == (65,) and module.edges_syn_strength.shape == module.edges_sign.shape
    assert (module.edges_syn_strength < 0).sum() == 3
    module(movie_for(small, 1, 2), DT)
    assert (module.edges_syn_strength >= 0).all()  # flyvis's clamp, in place
    assert int((module.edges_syn_strength == 0).sum()) >= 3


@pytest.mark.parametrize("backend", ["torch", "native"])
def test_forward_equals_simulation_kernel(small, backend):
    """Central cells equal Network.simulate (the native stencil kernel), from V = bias and from the
    grey steady state; all nodes are returned in flyvis's node order."""
    network = Network(small, perturbed(small))
    module = network.module(backend=backend)
    movie = movie_for(small, 3, 12)
    with torch.no_grad():
        out = module(movie, DT)
        steady = module(movie, DT, state=module.steady_state(0.5, DT, 3))
    assert out.shape == (3, 12, small.n_nodes)
    central = small.central_cells_index
    np.testing.assert_allclose(out[:, :, central].numpy(), network.simulate(movie.numpy(), DT), atol=2e-6, rtol=0)
    np.testing.assert_allclose(steady[:, :, central].numpy(), network.simulate(movie.numpy(), DT, t_pre=0.5),
                               atol=2e-6, rtol=0)
    assert np.abs(out.numpy() - steady.numpy()).max() > 1e-3  # the start matters


def _loss(out, probe):
    return (out * probe).sum() + (out ** 2).mean()


@pytest.mark.parametrize("steady", [False, True])
def test_gradients_match_float64_finite_differences(tiny, steady):
    """Autograd gradients of the torch reference (float64) equal central differences along random
    directions of every trainable tensor and along single coordinates."""
    module = NetworkModule(tiny, perturbed(tiny, seed=2, positive=True), backend="torch").double()
    movie = movie_for(tiny, 2, 6).double()
    probe = torch.from_numpy(np.random.default_rng(3).normal(size=(2, 6, tiny.n_nodes)))

    # the steady state is a constant start, computed once without gradient (as flyvis's solver does)
    state = module.steady_state(0.2, DT, 2) if steady else None

    def loss():
        return _loss(module(movie, DT, state=state), probe)

    module.zero_grad()
    loss().backward()
    rng = np.random.default_rng(4)
    eps = 1e-5
    for name in TRAINABLE:
        param = getattr(module, name)
        grad = param.grad.detach().clone()
        assert grad.abs().max() > 0, name
        directions = [torch.from_numpy(rng.normal(size=param.shape)) for _ in range(2)]
        for i in (int(grad.abs().argmax()), int(rng.integers(param.numel()))):
            directions.append(torch.nn.functional.one_hot(torch.tensor(i), param.numel()).double())
        for d in directions:
            d = d * param.detach().abs().clamp(min=1e-3)  # relative steps (strengths are ~1e-3)
            with torch.no_grad():
                param += eps * d
                up = loss().item()
                param -= 2 * eps * d
                down = loss().item()
                param += eps * d
            fd = (up - down) / (2 * eps)
            analytic = float((grad * d).sum())
            assert abs(fd - analytic) <= 1e-5 * max(abs(analytic), 1e-3), (name, fd, analytic)


@pytest.mark.parametrize("steady", [False, True])
def test_native_adjoint_equals_autograd_reference(small, steady):
    """The C adjoint (float32) gives the float64 autograd gradients of every trainable tensor and
    of the initial state."""
    params = perturbed(small, seed=5)
    movie = movie_for(small, 3, 15)
    probe = torch.from_numpy(np.random.default_rng(6).normal(size=(3, 15, small.n_nodes)).astype(np.float32))
    grads = {}
    for backend, dtype in (("torch", torch.float64), ("native", torch.float32)):
        module = NetworkModule(small, params, backend=backend).to(dtype)
        state = module.steady_state(0.5, DT, 3)
        state = (state if steady else module.initial_state(3).detach()).clone().requires_grad_(True)
        _loss(module(movie.to(dtype), DT, state=state), probe.to(dtype)).backward()
        grads[backend] = {k: getattr(module, k).grad.numpy() for k in TRAINABLE}
        grads[backend]["state"] = state.grad.numpy()
    for key, ref in grads["torch"].items():
        assert rel_err(grads["native"][key], ref) < 2e-6, key
    assert (grads["native"]["nodes_time_const"][[3, 20, 40]] == 0).all()  # tau < dt: max(tau, dt) is flat


@pytest.fixture(scope="module")
def flyvis_reference():
    data = np.load(FIXTURES / "gradients.npz")
    return {k: data[k] for k in data.files}


@pytest.mark.parametrize("backend, dtype", [("torch", torch.float32), ("torch", torch.float64),
                                            ("native", torch.float32)])
@pytest.mark.parametrize("start", ["default", "steady"])
def test_gradients_equal_flyvis(connectome_path, flyvis_reference, backend, dtype, start):
    """Activity and the gradients of all three trainable tensors equal flyvis's float32 autograd
    (relative error <= 1e-4; measured: <= 5e-7), from flyvis's default state and from the steady state."""
    ref = flyvis_reference
    extent, dt, t_pre = ref["settings"]
    connectome = load_connectome(connectome_path, extent=int(extent))
    params = {k[len("param_"):]: v for k, v in ref.items() if k.startswith("param_")}
    assert (params["edges_syn_strength"] < 0).any() and (params["nodes_time_const"] < dt).any()
    module = NetworkModule(connectome, params, backend=backend).to(dtype)
    movie = torch.from_numpy(ref["movie"]).to(dtype)
    state = module.steady_state(float(t_pre), float(dt), movie.shape[0]) if start == "steady" else None
    out = module(movie, float(dt), state=state)
    np.testing.assert_allclose(out.detach().numpy(), ref[f"{start}_activity"], atol=1e-5, rtol=0)
    loss = _loss(out, torch.from_numpy(ref["probe"]).to(dtype))
    assert abs(loss.item() - float(ref[f"{start}_loss"])) <= 1e-5 * abs(float(ref[f"{start}_loss"]))
    loss.backward()
    for key in TRAINABLE:
        assert rel_err(getattr(module, key).grad.numpy(), ref[f"{start}_grad_{key}"]) <= 1e-4, key


def test_bad_input_is_named(small):
    module = Network(small, perturbed(small)).module()
    with pytest.raises(ValueError, match=r"movie must be a tensor \(samples, frames, 37\)"):
        module(torch.zeros(1, 2, 721), DT)
    with pytest.raises(ValueError, match="dt must be"):
        module(torch.zeros(1, 2, 37), 0.0)
    with pytest.raises(ValueError, match="state must have shape"):
        module(torch.zeros(2, 2, 37), DT, state=torch.zeros(3, small.n_nodes))
    with pytest.raises(ValueError, match="backend must be"):
        NetworkModule(small, perturbed(small), backend="cuda")


def test_native_threads_agree(small):
    """The C kernels split the segments over threads: 1 and 3 threads give the same activity and
    the same gradients (up to the order of the per-thread float64 sums)."""
    params = perturbed(small, seed=7)
    movie = movie_for(small, 5, 8)
    results = []
    for n_threads in (1, 3):
        module = NetworkModule(small, params, backend="native")
        module._simulation("native").n_threads = n_threads
        out = module(movie, DT)
        (out ** 2).mean().backward()
        results.append((out.detach().numpy(), {k: getattr(module, k).grad.numpy() for k in TRAINABLE}))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for key in TRAINABLE:
        assert rel_err(results[1][1][key], results[0][1][key]) < 1e-6, key


def test_auto_falls_back_to_reference_with_a_warning(small, monkeypatch):
    """Without the C kernel (FLYCLUSTER_NATIVE=0 here) backend='auto' warns once and uses the torch
    reference, whose results are the same; backend='native' refuses."""
    import flycluster.adjoint as adjoint

    monkeypatch.setattr(adjoint, "_LIBRARY", None)
    monkeypatch.setenv("FLYCLUSTER_NATIVE", "0")
    params = perturbed(small, seed=8)
    movie = movie_for(small, 2, 4)
    module = NetworkModule(small, params)
    with pytest.warns(UserWarning, match="native adjoint is unavailable"):
        out = module(movie, DT)
    ref = NetworkModule(small, params, backend="torch")(movie, DT)
    np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
    with pytest.raises(RuntimeError, match="native backend cannot run"):
        NetworkModule(small, params, backend="native")(movie, DT)
