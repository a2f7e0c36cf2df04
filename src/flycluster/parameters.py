"""flyvis network parameters: layout, default (untrained) values, validation of state dicts.

A flyvis checkpoint's ``network`` entry holds five tensors, each shared by a group of nodes or
edges (groups numbered by first appearance in node/edge order):

============================  =====================================  =======  ===========================
key                           shared by                              size@15  meaning (units)
============================  =====================================  =======  ===========================
``nodes_bias``                cell type                              65       resting input b (a.u.)
``nodes_time_const``          cell type                              65       tau (s)
``edges_sign``                (source type, target type)             604      +-1
``edges_syn_count``           (source type, target type, dv, du)     2355     log of the synapse count
``edges_syn_strength``        (source type, target type)             604      strength per synapse (>= 0)
============================  =====================================  =======  ===========================

Edge weight = sign * exp(syn_count) * max(strength, 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from flycluster.connectome import Connectome
from flycluster.errors import CheckpointError

PARAMETER_KEYS = ("nodes_bias", "nodes_time_const", "edges_sign", "edges_syn_count",
                  "edges_syn_strength")

#: flyvis defaults for an untrained network (initialization.py / network.py of flyvis 1.2.0).
DEFAULT_BIAS_MEAN = 0.5
DEFAULT_BIAS_STD = 0.05
DEFAULT_BIAS_SEED = 0
DEFAULT_TIME_CONST = 0.05  # s
DEFAULT_STRENGTH_SCALE = 0.01


def parameter_shapes(connectome: Connectome) -> dict[str, tuple[int]]:
    """Expected shape of each state-dict tensor for this connectome."""
    n_types = len(connectome.cell_types)
    n_edge_types = connectome.n_edge_types
    return {"nodes_bias": (n_types,), "nodes_time_const": (n_types,),
            "edges_sign": (n_edge_types,), "edges_syn_count": (connectome.syn_count_groups[1],),
            "edges_syn_strength": (n_edge_types,)}


def mean_syn_count_per_edge_type(connectome: Connectome) -> np.ndarray:
    """(n_edge_types,) mean synapse count over the edges of each (source, target) type."""
    n = connectome.n_edge_types
    return (np.bincount(connectome.edge_type, weights=connectome.edge_n_syn.astype(np.float64), minlength=n)
            / np.bincount(connectome.edge_type, minlength=n))


def initial_state_dict(connectome: Connectome) -> dict[str, torch.Tensor]:
    """The parameters of a freshly initialised flyvis network (the connectome prior).

    bias ~ Normal(0.5, 0.05) drawn with a torch generator seeded 0 (as flyvis does on CPU);
    time constants 0.05 s; signs from the json; syn_count = log(mean n_syn of the
    (source, target, dv, du) group); strength = 0.01 / mean n_syn of the (source, target) type.
    Returns float32 CPU tensors keyed by :data:`PARAMETER_KEYS`.
    """
    n_types = len(connectome.cell_types)
    generator = torch.Generator(device="cpu")
    generator.manual_seed(DEFAULT_BIAS_SEED)
    bias = torch.normal(torch.full((n_types,), DEFAULT_BIAS_MEAN), torch.full((n_types,), DEFAULT_BIAS_STD),
                        generator=generator)
    _, _, _, group_mean = connectome.syn_count_groups
    return {
        "nodes_bias": bias.float(),
        "nodes_time_const": torch.full((n_types,), DEFAULT_TIME_CONST, dtype=torch.float32),
        "edges_sign": torch.from_numpy(connectome.edge_type_sign.astype(np.float32)),
        "edges_syn_count": torch.from_numpy(np.log(group_mean).astype(np.float32)),
        "edges_syn_strength": torch.from_numpy(
            (DEFAULT_STRENGTH_SCALE / mean_syn_count_per_edge_type(connectome)).astype(np.float32)),
    }


def validate_state_dict(state_dict, connectome: Connectome, source="<state dict>") -> dict[str, torch.Tensor]:
    """Check a network state dict against the connectome; return float32 CPU tensors.

    Raises :class:`CheckpointError` naming ``source`` and the offending key when a key is
    missing, a value is not numeric, not finite, or has a shape that does not fit the
    connectome (a checkpoint of another connectome or extent). Extra keys are ignored.
    """
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{source}: expected a mapping of parameter tensors, got {type(state_dict).__name__}")
    missing = [k for k in PARAMETER_KEYS if k not in state_dict]
    if missing:
        raise CheckpointError(
            f"{source}: state dict lacks {', '.join(missing)}; expected keys {', '.join(PARAMETER_KEYS)} "
            f"(found: {', '.join(map(str, state_dict)) or 'none'})")
    shapes = parameter_shapes(connectome)
    out = {}
    for key in PARAMETER_KEYS:
        value = state_dict[key]
        try:
            tensor = torch.as_tensor(np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value,
                                                dtype=np.float32))
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"{source}: {key} is not numeric: {exc}") from exc
        if tuple(tensor.shape) != shapes[key]:
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(tensor.shape)} but the connectome "
                f"{connectome.path.name} at extent {connectome.extent} needs {shapes[key]} "
                "(a checkpoint of a different connectome or extent?)")
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"{source}: {key} contains NaN or infinite values")
        out[key] = tensor.contiguous()
    if not torch.all(out["edges_sign"].abs() == 1):
        raise CheckpointError(f"{source}: edges_sign must be +1 or -1")
    return out
