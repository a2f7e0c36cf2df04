"""The Triton (CUDA) adjoint of :mod:`flycluster.kernels.gpu_adjoint`: on CUDA where torch sees a
GPU, else on the CPU in Triton's interpreter (TRITON_INTERPRET=1, set by conftest.py).

The interpreter runs the same kernel code with numpy (about 25 ms per program and launch), so these
tests use few frames and small extents: they check the indexing, tiling, mirrored offsets, masks and
sums of the three kernels against the float64 autograd reference and flyvis's own gradients.
"""

import numpy as np
import pytest
import torch

from flycluster.connectome import load_connectome
from flycluster.kernels import gpu, gpu_adjoint
from flycluster.training import NetworkModule
from test_gradients import DT, FIXTURES, TRAINABLE, _loss, movie_for, perturbed, rel_err

triton = pytest.importorskip("triton", reason="triton is installed with the test extra on Linux x86-64")
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"  # cpu: in the interpreter


@pytest.fixture(scope="module")
def smallest(connectome_path):
    return load_connectome(connectome_path, extent=1)


def _gradients(connectome, params, backend, dtype, movie, probe, state=None, device="cpu"):
    """Activity and the gradients of every trainable tensor and of the initial state."""
    module = NetworkModule(connectome, params, backend=backend).to(device=device, dtype=dtype)
    batch = movie.shape[0]
    state = module.initial_state(batch).detach() if state is None else torch.as_tensor(state)
    state = state.to(device=device, dtype=dtype).clone().requires_grad_(True)
    out = module(movie.to(device=device, dtype=dtype), DT, state=state)
    _loss(out, probe.to(device=device, dtype=dtype)).backward()
    grads = {k: getattr(module, k).grad.double().cpu().numpy() for k in TRAINABLE}
    grads["state"] = state.grad.double().cpu().numpy()
    grads["activity"] = out.detach().double().cpu().numpy()
    return grads


def test_triton_adjoint_equals_autograd_reference(smallest, monkeypatch):
    """float32 Triton kernels vs float64 autograd: activity, every trainable tensor (three strengths
    clamped at 0 and three time constants below dt among them) and the initial state's gradient.

    Small tiles and lane blocks, so that every cell type spans two tiles (tile ranks > 0), 3 samples
    fill 2 lane blocks of 2 (one spare lane), term groups are padded to multiples of 3 and each tile's
    terms go to 2 weight-gradient programs. One frame (the interpreter takes ~30 s here); the flyvis
    test below runs 10 frames with the default tiles."""
    monkeypatch.setattr(gpu_adjoint, "CONFIG", {**gpu_adjoint.CONFIG, "block_p": 4, "block_b": 2, "unroll": 3,
                                                "ksplit": 2})
    frames = 1
    c = smallest
    params = perturbed(c, seed=5)
    movie = movie_for(c, 3, frames)
    probe = torch.from_numpy(np.random.default_rng(6).normal(size=(3, frames, c.n_nodes)))
    start = torch.from_numpy(np.random.default_rng(7).normal(0, 0.5, (3, c.n_nodes)))  # about half the cells active
    ref = _gradients(c, params, "torch", torch.float64, movie, probe, start)
    fast = _gradients(c, params, "triton", torch.float32, movie, probe, start, device=DEVICE)
    assert np.abs(fast["activity"] - ref["activity"]).max() < 2e-6
    for key in (*TRAINABLE, "state"):
        assert np.abs(ref[key]).max() > 0, key
        assert rel_err(fast[key], ref[key]) < 1e-5, key
    assert (fast["nodes_time_const"][[3, 20, 40]] == 0).all()  # tau < dt: max(tau, dt) is flat
    strength = NetworkModule(c, params).edges_syn_strength.detach().clamp(min=0).numpy()
    assert (fast["edges_syn_strength"][strength == 0] != 0).any()  # clamped strengths keep their gradient


def test_triton_adjoint_equals_flyvis(connectome_path):
    """flyvis's float32 autograd gradients (tests/fixtures/training/gradients.npz: extent 3, 2 samples,
    10 frames) from the grey steady state, which is computed without gradient as flyvis's solver
    does (here by the torch reference, whose steady state equals flyvis's in test_gradients.py)."""
    ref = {k: v for k, v in np.load(FIXTURES / "gradients.npz").items()}
    extent, dt, t_pre = ref["settings"]
    connectome = load_connectome(connectome_path, extent=int(extent))
    params = {k[len("param_"):]: v for k, v in ref.items() if k.startswith("param_")}
    state = NetworkModule(connectome, params, backend="torch").steady_state(float(t_pre), float(dt), 2)
    module = NetworkModule(connectome, params, backend="triton").to(DEVICE)
    out = module(torch.from_numpy(ref["movie"]).to(DEVICE), float(dt), state=state.to(DEVICE))
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref["steady_activity"], atol=1e-5, rtol=0)
    loss = _loss(out, torch.from_numpy(ref["probe"]).to(DEVICE))
    assert abs(loss.item() - float(ref["steady_loss"])) <= 1e-5 * abs(float(ref["steady_loss"]))
    loss.backward()
    for key in TRAINABLE:
        assert rel_err(getattr(module, key).grad.cpu().numpy(), ref[f"steady_grad_{key}"]) <= 1e-4, key


def test_triton_backend_needs_cuda_or_the_interpreter(smallest, monkeypatch):
    """backend='triton' names why it cannot run; backend='auto' on the CPU never picks it."""
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    params = perturbed(smallest, seed=8)
    movie = movie_for(smallest, 1, 2)
    with pytest.raises(RuntimeError, match="triton backend cannot run this call: it runs on CUDA devices only"):
        NetworkModule(smallest, params, backend="triton")(movie, DT)
    with pytest.raises(RuntimeError, match="triton backend cannot run this call: it runs in float32 only"):
        NetworkModule(smallest, params, backend="triton").double()(movie.double(), DT)
    with pytest.raises(gpu.TritonUnavailable, match="needs a CUDA device"):
        gpu_adjoint.TritonSimulation(smallest, device="cpu")
    with pytest.raises(ValueError, match=r"unknown Triton adjoint options \['block'\]"):
        monkeypatch.setenv("TRITON_INTERPRET", "1")
        gpu_adjoint.TritonSimulation(smallest, device="cpu", block=3)
