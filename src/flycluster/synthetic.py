"""Synthetic ensembles of flyvis networks, written in flyvis's ensemble directory format.

Used as the workflow's embedded default (no trained ensemble to download) and to validate the
clustering on a known answer. Every network is the connectome prior (flyvis's initial
parameters, :func:`flycluster.parameters.initial_state_dict`) with seeded perturbations:

- synapse strengths (per (source, target) type): ``strength_gain * prior * exp(s * strength_sigma * z)``;
- time constants (per type): ``0.05 s * exp(s * time_const_sigma * z)``;
- biases (per type): ``prior + s * bias_sigma * z``;

with independent standard normal ``z`` and a per-network perturbation scale ``s`` drawn
uniformly from ``scale_range``. Synapse counts and signs stay those of the connectome.
``strength_gain`` (default 4) lifts the prior's weak coupling so that visual signals reach the
deep cell types: at gain 1 the T4/T5 responses are ~1e-4 of the photoreceptors'; at gain 4 they
are ~0.3 of them; the network loses stability near gain 8-10. Every sampled network is checked
to settle under grey input (otherwise it is redrawn from the same seeded stream).

Task error (the stand-in for a trained model's validation loss): the network's distance from the
prior, ``1 + d`` with ``d`` the root mean square of the applied normalised perturbations
``s * z`` over all perturbed parameters -- larger perturbations, larger error, so colours and
cluster ordering by task error have a meaning. The planted variant adds ``group_error_step * g``
for group ``g``, so that group 0 is the best group. Planted ensembles default to
``effect_size`` 5 and strength/time-constant sigmas 0.1.

Network ``i`` uses the random stream ``numpy.random.default_rng([random_state, i])``: the same
``random_state`` gives the same networks, and adding networks does not change earlier ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flycluster.checkpoints import write_network_dir
from flycluster.connectome import Connectome, hex_columns, load_connectome
from flycluster.errors import ConfigError
from flycluster.io_utils import atomic_path
from flycluster.parameters import DEFAULT_TIME_CONST, initial_state_dict

#: defaults of the perturbations (documented in the module docstring and the README)
STRENGTH_GAIN = 4.0
STRENGTH_SIGMA = 0.25
TIME_CONST_SIGMA = 0.25
BIAS_SIGMA = 0.05
SCALE_RANGE = (0.5, 1.5)
#: planted defaults: a strong planted factor and smaller random perturbations, so that the planted
#: structure dominates the random one (measured: T4c groups separate with ARI 1.0 under UMAP + GMM)
EFFECT_SIZE = 5.0
PLANTED_STRENGTH_SIGMA = 0.1
PLANTED_TIME_CONST_SIGMA = 0.1
GROUP_ERROR_STEP = 0.05
_MAX_REDRAWS = 20


@dataclass(frozen=True)
class PerturbationSettings:
    """Magnitudes of the seeded perturbations around the connectome prior (see module docstring)."""

    strength_gain: float = STRENGTH_GAIN
    strength_sigma: float = STRENGTH_SIGMA
    time_const_sigma: float = TIME_CONST_SIGMA
    bias_sigma: float = BIAS_SIGMA
    scale_range: tuple = SCALE_RANGE

    def check(self):
        if self.strength_gain <= 0:
            raise ConfigError(f"strength_gain must be > 0, got {self.strength_gain}")
        for name in ("strength_sigma", "time_const_sigma", "bias_sigma"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        lo, hi = self.scale_range
        if not 0 <= lo <= hi:
            raise ConfigError(f"scale_range must be (low, high) with 0 <= low <= high, got {self.scale_range}")


def sample_network(prior: dict, rng: np.random.Generator, settings: PerturbationSettings):
    """One perturbed state dict and its task error.

    Returns (state dict of float32 tensors, dict with ``scale`` s and ``distance`` d, task error 1 + d).
    """
    p = {k: v.numpy().astype(np.float64) for k, v in prior.items()}
    scale = rng.uniform(*settings.scale_range)
    z_strength = rng.standard_normal(p["edges_syn_strength"].shape)
    z_tau = rng.standard_normal(p["nodes_time_const"].shape)
    z_bias = rng.standard_normal(p["nodes_bias"].shape)
    out = dict(prior)
    out["edges_syn_strength"] = settings.strength_gain * p["edges_syn_strength"] * np.exp(
        scale * settings.strength_sigma * z_strength)
    out["nodes_time_const"] = DEFAULT_TIME_CONST * np.exp(scale * settings.time_const_sigma * z_tau)
    out["nodes_bias"] = p["nodes_bias"] + scale * settings.bias_sigma * z_bias
    out = {k: torch.as_tensor(np.asarray(v, dtype=np.float32)) for k, v in out.items()}
    distance = float(scale * np.sqrt(np.mean(np.concatenate([z_strength, z_tau, z_bias]) ** 2)))
    return out, {"scale": float(scale), "distance": distance}, 1.0 + distance


def is_stable(state_dict, connectome: Connectome, dt: float = 0.01, t: float = 1.5, bound: float = 50.0) -> bool:
    """True if the network settles under grey input: after ``t`` s of grey (0.5) from V = bias,
    all voltages are finite, |V| < ``bound``, and 10 more steps change them by < 1e-3 (relative)."""
    from flycluster.network import Network

    net = Network(connectome, state_dict)
    v1 = net.relax(net.node_bias, int(t / dt), dt, luminance=0.5)
    v2 = net.relax(v1, 10, dt, luminance=0.5)
    if not np.all(np.isfinite(v2)) or np.abs(v2).max() >= bound:
        return False
    return bool(np.abs(v2 - v1).max() < 1e-3 * max(1.0, float(np.abs(v2).max())))


def group_separation(responses, groups) -> pd.DataFrame:
    """How strongly responses separate by group, per cell type.

    Parameters
    ----------
    responses : array (networks, samples, frames, cell types) (NaN ignored) or an xarray
        DataArray with those dims in that order.
    groups : (networks,) group label of each network.

    Returns
    -------
    DataFrame indexed by cell type index with ``within`` and ``between``: mean Pearson
    correlation of the flattened responses between networks of the same / different groups,
    and ``gap`` = within - between.
    """
    r = np.asarray(responses, dtype=np.float64)
    groups = np.asarray(groups)
    n = r.shape[0]
    same = groups[:, None] == groups[None, :]
    off = ~np.eye(n, dtype=bool)
    rows = []
    for c in range(r.shape[-1]):
        x = np.nan_to_num(r[..., c].reshape(n, -1))
        x = x - x.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        x = x / np.where(norm > 0, norm, 1)
        corr = x @ x.T
        within = corr[same & off].mean() if (same & off).any() else np.nan
        between = corr[~same].mean() if (~same).any() else np.nan
        rows.append({"within": within, "between": between, "gap": within - between})
    return pd.DataFrame(rows)


def _stable_sample(prior, connectome, random_state, index, settings, modify=None):
    rng = np.random.default_rng([int(random_state), int(index)])
    for _ in range(_MAX_REDRAWS):
        state, info, error = sample_network(prior, rng, settings)
        if modify is not None:
            state = modify(state)
        if is_stable(state, connectome):
            return state, info, error
    raise ConfigError(f"network {index}: no stable sample in {_MAX_REDRAWS} draws; lower strength_gain or the sigmas")


@contextlib.contextmanager
def _atomic_dir(dest: Path, overwrite: bool):
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _resolve(connectome, extent) -> Connectome:
    return connectome if isinstance(connectome, Connectome) else load_connectome(connectome, extent=extent)


def _check_n(n_networks):
    if isinstance(n_networks, bool) or not isinstance(n_networks, (int, np.integer)) or n_networks < 1:
        raise ConfigError(f"n_networks must be a positive integer, got {n_networks!r}")


def _write_table(dest: Path, name: str, table: pd.DataFrame):
    with atomic_path(dest / name) as tmp:
        table.to_csv(tmp, index=False)


def network_names(n_networks: int) -> list[str]:
    """Directory names of an ensemble's networks: "000", "001", ... (flyvis style)."""
    return [f"{i:03d}" for i in range(n_networks)]


def write_synthetic_ensemble(dest, n_networks: int, connectome=None, random_state: int = 0, extent: int = 15,
                             overwrite: bool = False, **perturbation) -> pd.DataFrame:
    """Write ``n_networks`` perturbed prior networks to ``dest/<000..>`` in flyvis format.

    Parameters
    ----------
    dest : ensemble directory (written atomically: appears complete or not at all).
    n_networks : number of networks (>= 1).
    connectome : :class:`Connectome`, json path or None (fetched).
    random_state : seed of every random choice.
    extent : eye radius when the connectome is loaded here.
    overwrite : replace an existing ``dest``.
    **perturbation : fields of :class:`PerturbationSettings` (strength_gain, strength_sigma,
        time_const_sigma, bias_sigma, scale_range).

    Returns
    -------
    DataFrame with columns network, scale, distance, task_error (also written as
    ``dest/synthetic_networks.csv``).
    """
    _check_n(n_networks)
    settings = PerturbationSettings(**perturbation)
    settings.check()
    connectome = _resolve(connectome, extent)
    prior = initial_state_dict(connectome)
    rows = []
    with _atomic_dir(Path(dest), overwrite) as tmp:
        for i, name in enumerate(network_names(n_networks)):
            state, info, error = _stable_sample(prior, connectome, random_state, i, settings)
            write_network_dir(tmp / name, state, error, config={
                "kind": "synthetic", "random_state": int(random_state), "index": i,
                "perturbation": {**settings.__dict__, "scale_range": list(settings.scale_range)}, **info})
            rows.append({"network": name, **info, "task_error": error})
        table = pd.DataFrame(rows)
        _write_table(tmp, "synthetic_networks.csv", table)
    return table


def planted_input_edge_types(connectome: Connectome, cell_type: str, n_inputs: int) -> list[int]:
    """The ``n_inputs`` strongest input edge types of ``cell_type``: most synapses onto its central
    cell (summed over offsets), self-connections excluded; ties broken by edge-type order."""
    target = connectome.cell_types.index(cell_type)
    candidates = [e for e in range(connectome.n_edge_types)
                  if connectome.edge_type_target[e] == target and connectome.edge_type_source[e] != target]
    if len(candidates) < 2:
        raise ConfigError(f"cell type {cell_type} has fewer than 2 input types; cannot plant groups on it")
    central = connectome.central_cells_index[target]
    into = connectome.edge_target == central
    n_syn = np.bincount(connectome.edge_type[into], weights=connectome.edge_n_syn[into].astype(np.float64),
                        minlength=connectome.n_edge_types)
    order = sorted(candidates, key=lambda e: (-n_syn[e], e))
    return order[:n_inputs]


def write_planted_ensemble(dest, n_networks: int, n_groups: int, cell_types, connectome=None, random_state: int = 0,
                           effect_size: float = EFFECT_SIZE, n_inputs: int | None = None,
                           group_error_step: float = GROUP_ERROR_STEP, extent: int = 15, overwrite: bool = False,
                           **perturbation) -> pd.DataFrame:
    """A synthetic ensemble whose networks fall in ``n_groups`` groups that differ in the inputs
    to ``cell_types``; writes ``dest/planted_groups.csv`` (columns network, group).

    For each planted cell type, its ``n_inputs`` (default ``max(2, n_groups)``) strongest input
    edge types (self-connections excluded) are ordered j = 0, 1, ...; in group g the strength
    of input ``g mod n_inputs`` is multiplied by ``effect_size`` and that of input
    ``(g + 1) mod n_inputs`` divided by it, on top of the random perturbations of
    :func:`write_synthetic_ensemble`, whose strength and time-constant sigmas default here to
    0.1 (not 0.25) so that the planted structure dominates. The inputs differ in sign and
    dynamics, so the groups differ in the shape of the planted types' responses, not only their
    scale. Networks are assigned to groups in a seeded random order with balanced group sizes.
    Task error = 1 + d + ``group_error_step`` * g.

    Read the groups with ``pandas.read_csv(path, dtype={"network": str})`` (names are "000", ...).

    Returns
    -------
    DataFrame with columns network, group, scale, distance, task_error (also written as
    ``dest/synthetic_networks.csv``).
    """
    _check_n(n_networks)
    if isinstance(n_groups, bool) or not isinstance(n_groups, (int, np.integer)) or not 1 <= n_groups <= n_networks:
        raise ConfigError(f"n_groups must be an integer in [1, n_networks={n_networks}], got {n_groups!r}")
    if effect_size <= 0:
        raise ConfigError(f"effect_size must be > 0 (a multiplicative factor), got {effect_size}")
    if isinstance(cell_types, str):
        cell_types = [cell_types]
    perturbation.setdefault("strength_sigma", PLANTED_STRENGTH_SIGMA)
    perturbation.setdefault("time_const_sigma", PLANTED_TIME_CONST_SIGMA)
    settings = PerturbationSettings(**perturbation)
    settings.check()
    connectome = _resolve(connectome, extent)
    unknown = [t for t in cell_types if t not in connectome.cell_types]
    if unknown or not cell_types:
        raise ConfigError(f"planted cell_types must be names of the connectome's cell types, got "
                          f"{list(cell_types)} (unknown: {unknown})")
    n_inputs = max(2, n_groups) if n_inputs is None else int(n_inputs)
    inputs = {t: planted_input_edge_types(connectome, t, n_inputs) for t in cell_types}
    rng = np.random.default_rng([int(random_state), 2**31 - 1])
    groups = rng.permutation(np.arange(n_networks) % n_groups)
    prior = initial_state_dict(connectome)
    names = connectome.edge_type_names()

    def factors(group: int) -> np.ndarray:
        f = np.ones(connectome.n_edge_types)
        for edges in inputs.values():
            k = len(edges)
            f[edges[group % k]] *= effect_size
            if k > 1 and n_groups > 1:
                f[edges[(group + 1) % k]] /= effect_size
        return f

    rows = []
    with _atomic_dir(Path(dest), overwrite) as tmp:
        for i, name in enumerate(network_names(n_networks)):
            g = int(groups[i])
            f = torch.as_tensor(factors(g), dtype=torch.float32)

            def modify(state, f=f):
                return {**state, "edges_syn_strength": state["edges_syn_strength"] * f}

            state, info, error = _stable_sample(prior, connectome, random_state, i, settings, modify)
            error = error + group_error_step * g
            write_network_dir(tmp / name, state, error, config={
                "kind": "planted", "random_state": int(random_state), "index": i, "group": g,
                "planted_cell_types": list(cell_types), "effect_size": float(effect_size),
                "planted_inputs": {t: [f"{names[e][0]}->{names[e][1]}" for e in edges] for t, edges in inputs.items()},
                "perturbation": {**settings.__dict__, "scale_range": list(settings.scale_range)}, **info})
            rows.append({"network": name, "group": g, **info, "task_error": error})
        table = pd.DataFrame(rows)
        _write_table(tmp, "planted_groups.csv", table[["network", "group"]])
        _write_table(tmp, "synthetic_networks.csv", table)
    return table


def smooth_random_movie(n_samples: int, n_frames: int, extent: int = 15, dt: float = 0.01,
                        random_state: int = 0, n_gratings: int = 4, contrast: float = 0.15) -> np.ndarray:
    """Seeded naturalistic-like test movies: sums of drifting sine gratings on the hex eye.

    Each sample superposes ``n_gratings`` gratings of random orientation, wavelength (4-15
    columns), speed (-20..20 columns/s) and phase around grey 0.5 with the given contrast,
    clipped to [0, 1]. Returns float32 (n_samples, n_frames, hexals) in flyvis hexal order.
    For tests, checks and benchmarks; the workflow's stimuli live in :mod:`flycluster.stimuli`.
    """
    u, v = hex_columns(extent)
    x = u + v / 2
    y = v * np.sqrt(3) / 2
    t = np.arange(n_frames) * dt
    rng = np.random.default_rng(random_state)
    movie = np.empty((n_samples, n_frames, len(u)), dtype=np.float32)
    for s in range(n_samples):
        acc = np.zeros((n_frames, len(u)))
        for _ in range(n_gratings):
            theta, wavelength = rng.uniform(0, 2 * np.pi), rng.uniform(4, 15)
            speed, phase, amp = rng.uniform(-20, 20), rng.uniform(0, 2 * np.pi), rng.uniform(0.3, 1.0)
            proj = x * np.cos(theta) + y * np.sin(theta)
            acc += amp * np.sin(2 * np.pi * (proj[None] - speed * t[:, None]) / wavelength + phase)
        movie[s] = np.clip(0.5 + contrast * acc, 0, 1)
    return movie
