"""Reference gradients of flyvis's own autograd for tests/test_gradients.py.

Run with the python of a separate venv that has flyvis 1.2.0 installed (never a dependency of
flycluster), from the repository root::

    FLYVIS_ROOT_DIR=/tmp/flyvis-root python tools/make_gradient_fixtures.py

Writes ``tests/fixtures/training/gradients.npz`` (well under 1 MB): a flyvis Network at extent 3
with non-default (seeded, perturbed) parameters, some time constants below dt and some negative
strengths (flyvis clamps them at 0 in place at every forward call), a small random movie, and for
two starts

- ``default``: flyvis's default state (V = bias, through which the bias gets a gradient too);
- ``steady``: the grey steady state after t_pre = 0.5 s, computed without gradient as flyvis's
  solver does once per epoch,

the activity of all nodes and the gradients of the scalar loss
``sum(activity * probe) + mean(activity ** 2)`` (``probe`` a fixed random array, stored) with
respect to the three trainable tensors ``nodes_bias``, ``nodes_time_const`` and
``edges_syn_strength``. Parameters are stored *before* flyvis's clamp (``param_*``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "training"
SEED = 20261202
EXTENT = 3
DT = 1 / 50
T_PRE = 0.5
N_SAMPLES, N_FRAMES = 2, 10
TRAINABLE = ("nodes_bias", "nodes_time_const", "edges_syn_strength")


def perturbed_parameters(init: dict, rng: np.random.Generator) -> dict:
    """Non-default parameters, including the cases flyvis clamps or cuts."""
    p = {k: v.copy() for k, v in init.items()}
    p["nodes_bias"] = p["nodes_bias"] + rng.normal(0.0, 0.3, p["nodes_bias"].shape).astype(np.float32)
    tau = 0.05 * np.exp(rng.normal(0.0, 0.5, p["nodes_time_const"].shape))
    tau[[3, 20, 40]] = 0.012  # below dt: flyvis integrates with max(tau, dt), no gradient to tau
    p["nodes_time_const"] = tau.astype(np.float32)
    p["edges_syn_count"] = p["edges_syn_count"] + rng.normal(0.0, 0.3, p["edges_syn_count"].shape).astype(np.float32)
    strength = p["edges_syn_strength"] * np.exp(rng.normal(0.5, 0.7, p["edges_syn_strength"].shape))
    strength[[5, 100, 300]] = -0.002  # negative: clamped at 0 in place by flyvis's forward
    p["edges_syn_strength"] = strength.astype(np.float32)
    return p


def run(network, params: dict, movie: np.ndarray, probe: np.ndarray, steady: bool):
    network.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    network.zero_grad()
    stim = torch.from_numpy(movie)[:, :, None, :]
    state = network.steady_state(T_PRE, DT, batch_size=movie.shape[0], value=0.5) if steady else None
    network.stimulus.zero(movie.shape[0], movie.shape[1])
    network.stimulus.add_input(stim)
    activity = network(network.stimulus(), DT, state=state)
    loss = (activity * torch.from_numpy(probe)).sum() + (activity ** 2).mean()
    loss.backward()
    grads = {k: getattr(network, k).grad.detach().numpy().copy() for k in TRAINABLE}
    return activity.detach().numpy().astype(np.float32), float(loss), grads


def main() -> int:
    from datamate import Namespace
    from flyvis.network import Network

    OUT.mkdir(parents=True, exist_ok=True)
    network = Network(connectome=Namespace(type="ConnectomeFromAvgFilters", file="fib25-fib19_v2.2.json",
                                           extent=EXTENT, n_syn_fill=1))
    init = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in network.state_dict().items()}
    rng = np.random.default_rng(SEED)
    params = perturbed_parameters(init, rng)
    n_hexals = 3 * EXTENT * (EXTENT + 1) + 1
    movie = rng.random((N_SAMPLES, N_FRAMES, n_hexals)).astype(np.float32)
    probe = rng.normal(0.0, 1.0, (N_SAMPLES, N_FRAMES, network.n_nodes)).astype(np.float32)
    result = {f"param_{k}": v for k, v in params.items()}
    result.update(movie=movie, probe=probe, settings=np.array([EXTENT, DT, T_PRE]))
    for name, steady in (("default", False), ("steady", True)):
        activity, loss, grads = run(network, params, movie, probe, steady)
        result[f"{name}_activity"] = activity
        result[f"{name}_loss"] = np.array(loss)
        result.update({f"{name}_grad_{k}": v for k, v in grads.items()})
        print(name, "loss", loss, {k: float(np.linalg.norm(v)) for k, v in grads.items()})
    target = OUT / "gradients.npz"
    tmp = target.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **result)
    tmp.replace(target)
    print("wrote", target, target.stat().st_size, "bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
