"""Reference fixtures of flyvis's own numerics for tests/test_connectome.py and tests/test_network.py.

Run with the python of a separate venv that has flyvis 1.2.0 installed (never a dependency of
flycluster), from the repository root::

    FLYVIS_ROOT_DIR=/tmp/flyvis-root python tools/make_simulation_fixtures.py

Writes into tests/fixtures/simulation/ (about 0.5 MB):

- ``connectome_extent15.json``: node/edge/group counts and sha256 digests of flyvis's node and
  edge arrays at extent 15 (the full arrays are 1.5 M edges, too big to commit);
- ``connectome_extent3.npz``: flyvis's full node and edge arrays at extent 3;
- ``initial_parameters.npz``: the state dict of a freshly initialised flyvis Network;
- ``responses.npz``: non-default (seeded, perturbed) parameters, two small random movies and
  flyvis's central-cell responses to them for the settings
  A (t_pre=0, t_fade_in=2.0, dt=1/100) and B (t_pre=1.0, t_fade_in=0, dt=1/200, one sample with
  trailing NaN padding frames), computed as flyvis's ``Network.stimulus_response`` does.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "simulation"
SEED = 20240501


def digest(array) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def connectome_arrays(connectome):
    types = [t.decode() for t in connectome.unique_cell_types[:]]
    type_index = {t: i for i, t in enumerate(types)}
    node_type = np.array([type_index[t.decode()] for t in connectome.nodes.type[:]], dtype=np.int64)
    edges = connectome.edges
    return dict(
        cell_types=np.array(types),
        node_type=node_type,
        node_u=np.asarray(connectome.nodes.u[:], dtype=np.int64),
        node_v=np.asarray(connectome.nodes.v[:], dtype=np.int64),
        edge_source=np.asarray(edges.source_index[:], dtype=np.int64),
        edge_target=np.asarray(edges.target_index[:], dtype=np.int64),
        edge_n_syn=np.asarray(edges.n_syn[:], dtype=np.float32),
        edge_du=np.asarray(edges.du[:], dtype=np.int64),
        edge_dv=np.asarray(edges.dv[:], dtype=np.int64),
        central_cells_index=np.asarray(connectome.central_cells_index[:], dtype=np.int64),
    )


def perturbed_parameters(init: dict, rng: np.random.Generator) -> dict:
    """Non-default parameters: every key changed, including edge cases flyvis handles."""
    p = {k: v.copy() for k, v in init.items()}
    p["nodes_bias"] = p["nodes_bias"] + rng.normal(0.0, 0.3, p["nodes_bias"].shape).astype(np.float32)
    tau = 0.05 * np.exp(rng.normal(0.0, 0.5, p["nodes_time_const"].shape))
    tau[[3, 20, 40]] = 0.003  # below dt: flyvis integrates with max(tau, dt)
    p["nodes_time_const"] = tau.astype(np.float32)
    p["edges_syn_count"] = p["edges_syn_count"] + rng.normal(0.0, 0.3, p["edges_syn_count"].shape).astype(np.float32)
    strength = p["edges_syn_strength"] * np.exp(rng.normal(0.5, 0.7, p["edges_syn_strength"].shape))
    strength[[5, 100, 300]] = -0.002  # negative: flyvis clamps strengths at 0
    p["edges_syn_strength"] = strength.astype(np.float32)
    return p


def flyvis_responses(network, movie: np.ndarray, dt: float, t_pre: float, t_fade_in: float) -> np.ndarray:
    """Central-cell responses as flyvis's Network.stimulus_response computes them (one batch)."""
    stim = torch.from_numpy(movie)[:, :, None, :]  # (batch, frames, 1, hexals)
    with torch.no_grad():
        initial = network.steady_state(t_pre, dt, batch_size=1, value=0.5)
        state = network.fade_in_state(t_fade_in=t_fade_in, dt=dt, initial_frames=stim[:, 0], state=initial)
        network.stimulus.zero(stim.shape[0], stim.shape[1])
        network.stimulus.add_input(stim)
        out = network(network.stimulus(), dt, state=state)
    central = np.asarray(network.connectome.central_cells_index[:])
    return out[:, :, central].numpy().astype(np.float32)


def main() -> int:
    from flyvis.connectome import init_connectome
    from flyvis.network import Network

    OUT.mkdir(parents=True, exist_ok=True)
    network = Network()
    init = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in network.state_dict().items()}
    np.savez_compressed(OUT / "initial_parameters.npz", **init)

    arrays = connectome_arrays(network.connectome)
    summary = {
        "extent": 15,
        "n_nodes": int(len(arrays["node_type"])),
        "n_edges": int(len(arrays["edge_source"])),
        "n_central": int(len(arrays["central_cells_index"])),
        "cell_types": arrays["cell_types"].tolist(),
        "parameter_shapes": {k: list(v.shape) for k, v in init.items()},
        "sha256": {k: digest(v) for k, v in arrays.items() if k != "cell_types"},
    }
    (OUT / "connectome_extent15.json").write_text(json.dumps(summary, indent=1))

    small = init_connectome(type="ConnectomeFromAvgFilters", file="fib25-fib19_v2.2.json", extent=3, n_syn_fill=1)
    small_arrays = connectome_arrays(small)
    np.savez_compressed(OUT / "connectome_extent3.npz", **{
        k: (v.astype(np.int32) if v.dtype == np.int64 else v) for k, v in small_arrays.items()})

    rng = np.random.default_rng(SEED)
    params = perturbed_parameters(init, rng)
    network.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})

    movie_a = rng.random((3, 20, 721)).astype(np.float32)
    resp_a = flyvis_responses(network, movie_a, dt=1 / 100, t_pre=0.0, t_fade_in=2.0)
    network.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})
    movie_b = rng.random((3, 30, 721)).astype(np.float32)
    movie_b[1, 22:] = np.nan  # padding of a shorter sample, as flyvis pads moving edges
    resp_b = flyvis_responses(network, movie_b, dt=1 / 200, t_pre=1.0, t_fade_in=0.0)

    np.savez_compressed(
        OUT / "responses.npz",
        **{f"param_{k}": v for k, v in params.items()},
        movie_a=movie_a, responses_a=resp_a, settings_a=np.array([1 / 100, 0.0, 2.0]),
        movie_b=movie_b, responses_b=resp_b, settings_b=np.array([1 / 200, 1.0, 0.0]),
    )
    print("range of responses A", np.nanmin(resp_a), np.nanmax(resp_a), "B", np.nanmin(resp_b), np.nanmax(resp_b))
    print("wrote", *sorted(p.name for p in OUT.iterdir()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
