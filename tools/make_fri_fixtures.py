"""Reference fixtures for the flash response index (tests/test_fri.py), made with flyvis.

Run with the flyvis reference environment (never a flycluster dependency):

    FLYVIS_ROOT_DIR=/tmp/flyvis-root /tmp/flyvis-ref/bin/python tools/make_fri_fixtures.py

Writes ``tests/fixtures/fri/fri.npz`` with two cases, each: central-cell flash responses
``<case>_responses`` (network, sample, frame, cell_type) float32 in flyvis's sample order
(intensity x radius = (0, -1), (0, 6), (1, -1), (1, 6)), 600 frames at dt = 1/200 s with
time = frame * dt - 1 s, and what flyvis 1.2.0's
``flyvis.analysis.flash_responses.flash_response_index`` makes of them:
``<case>_fri_r<radius>[_neg]`` (network, cell_type) for radius 6 and -1, with
``nonnegative=True`` (default) and ``False`` (``_neg``).

- ``synthetic``: 5 networks x 9 cell types of seeded transient/sustained ON and OFF responses
  with offsets (some entirely negative), including large peaks at frames 198 and 401 and
  smaller ones at frames 199 and 400 around the window's edges (flyvis's window
  -dt <= time <= t_stim holds frames 200..400: frame 199's time is -0.0050000000000000044),
  and one constant cell type (FRI 0).
- ``network``: flyvis's own simulation of its ``Flashes`` dataset (flyvis's
  ``stimulus_response`` with t_pre = 1 s) by a default ``flyvis.Network`` whose biases and
  synapse strengths are perturbed with a seeded random draw (2 draws = 2 networks), central
  cells of 12 cell types.

Also ``cell_types_<case>`` and the flyvis ``groundtruth_utils.polarity`` table
(``polarity_types``, ``polarity_values``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "fri"
DT = 1 / 200
INTENSITY = np.array([0.0, 0.0, 1.0, 1.0])
RADIUS = np.array([-1, 6, -1, 6])
N_FRAMES = 600
NETWORK_TYPES = ["R1", "L1", "L2", "L3", "L5", "Mi1", "Mi9", "Tm3", "Tm9", "T4c", "T5c", "C3"]


def flyvis_dataset(responses, cell_types):
    """Responses in the layout of flyvis's ``flash_responses`` (generic_responses)."""
    n_net, n_sample, n_frame, n_types = responses.shape
    time = np.arange(n_frame).astype(float) * DT - 1.0
    config = {"dynamic_range": [0, 1], "t_stim": 1, "t_pre": 1.0, "dt": DT,
              "radius": (-1, 6), "alternations": (0, 1, 0)}
    return xr.Dataset(
        {"responses": (["network_id", "sample", "frame", "neuron"], responses)},
        coords={"sample": np.arange(n_sample), "frame": np.arange(n_frame),
                "neuron": np.arange(n_types), "network_id": np.arange(n_net),
                "baseline": ("sample", np.full(n_sample, 0.5)),
                "intensity": ("sample", INTENSITY), "radius": ("sample", RADIUS),
                "time": ("frame", time), "cell_type": ("neuron", np.asarray(cell_types))},
        attrs={"config": config},
    )


def synthetic(random_state=0):
    rng = np.random.RandomState(random_state)
    n_net, cell_types = 5, [f"X{i}" for i in range(8)] + ["const"]
    t = np.arange(N_FRAMES) * DT - 1.0
    out = np.zeros((n_net, 4, N_FRAMES, len(cell_types)), np.float32)
    for n in range(n_net):
        for c in range(len(cell_types) - 1):
            offset = rng.uniform(-2, 1)
            for s in range(4):
                sign = 1 if INTENSITY[s] == 1 else -1
                gain = rng.uniform(-1, 1.5) * (1.5 if RADIUS[s] == -1 else 1)
                tau = rng.uniform(0.02, 0.3)
                on = (t >= 0) & (t <= 1)
                r = np.where(on, sign * gain * (np.exp(-np.clip(t, 0, None) / tau)
                                                + rng.uniform(0, 0.5)), 0.0)
                off = t > 1
                r = r + np.where(off, -sign * gain * 0.7 * np.exp(-(t - 1) / tau), 0)
                r = r + 0.05 * rng.randn(N_FRAMES) + offset
                out[n, s, :, c] = r
            # window edges: a large value just outside, a smaller one just inside
            out[n, rng.randint(4), 198, c] += 5.0
            out[n, rng.randint(4), 401, c] += 5.0
            out[n, rng.randint(4), 199, c] += 1.0
            out[n, rng.randint(4), 400, c] += 1.2
        out[n, :, :, -1] = rng.uniform(-1, 1)
    return out, cell_types


def network_case(random_state=0, n_networks=2):
    import torch
    from flyvis import Network
    from flyvis.datasets.flashes import Flashes

    dataset = Flashes(dynamic_range=[0, 1], t_stim=1, t_pre=1.0, dt=DT, radius=[-1, 6],
                      alternations=(0, 1, 0))
    assert np.array_equal(dataset.arg_df.intensity.values, INTENSITY)
    assert np.array_equal(dataset.arg_df.radius.values, RADIUS)
    network = Network()
    base = {k: v.clone() for k, v in network.state_dict().items()}
    types = network.connectome.nodes.type[:].astype(str)
    central = network.connectome.central_cells_index[:]
    index = [central[list(types[central]).index(ct)] for ct in NETWORK_TYPES]
    gen = torch.Generator().manual_seed(random_state)
    rows = []
    for _ in range(n_networks):
        state = {k: v.clone() for k, v in base.items()}
        state["nodes_bias"] += 0.3 * torch.randn(state["nodes_bias"].shape, generator=gen)
        state["edges_syn_strength"] *= torch.exp(
            0.5 * torch.randn(state["edges_syn_strength"].shape, generator=gen))
        network.load_state_dict(state)
        resp = [r for _, r in network.stimulus_response(dataset, DT, t_pre=1.0, t_fade_in=0.0,
                                                        batch_size=4)]
        resp = np.concatenate(resp)  # (sample, frame, [channel,] node)
        rows.append((resp[:, :, 0] if resp.ndim == 4 else resp)[..., index])
    return np.stack(rows).astype(np.float32), NETWORK_TYPES


def main():
    from flyvis.analysis.flash_responses import flash_response_index
    from flyvis.utils import groundtruth_utils

    OUT.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for case, (responses, cell_types) in (("synthetic", synthetic()),
                                          ("network", network_case())):
        arrays[f"{case}_responses"] = responses
        arrays[f"cell_types_{case}"] = np.asarray(cell_types)
        for radius in (6, -1):
            for nonneg, suffix in ((True, ""), (False, "_neg")):
                ds = flyvis_dataset(responses.copy(), cell_types)
                fri = flash_response_index(ds, radius=radius, nonnegative=nonneg)
                fri = fri.transpose("network_id", "sample", "neuron")
                assert fri.sizes["sample"] == 1
                arrays[f"{case}_fri_r{radius}{suffix}"] = fri.values[:, 0]
                print(case, radius, nonneg, fri.dtype, np.round(fri.values[:, 0], 3)[0])
    arrays["polarity_types"] = np.asarray(list(groundtruth_utils.polarity))
    arrays["polarity_values"] = np.asarray(list(groundtruth_utils.polarity.values()))
    np.savez_compressed(OUT / "fri.npz", **arrays)
    print("wrote", OUT / "fri.npz", (OUT / "fri.npz").stat().st_size, "bytes")


if __name__ == "__main__":
    main()
