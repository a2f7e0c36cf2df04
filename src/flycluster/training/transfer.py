"""Move flyvis parameters between lattice extents (train small, analyse at extent 15).

The trainable parameters are per cell type (``nodes_bias``, ``nodes_time_const``) and per
(source, target) type (``edges_syn_strength``, ``edges_sign``): the same 65 / 604 entries in
the same order at every extent. ``edges_syn_count`` has one entry per (source type, target
type, dv, du) *that occurs on the lattice*, numbered by first appearance: 2355 groups in
flyvis's order from extent 4 on, but fewer, in another order, at extents 2 (2310) and 3
(2353), so a state dict trained there does not load at extent 15 as it is.
:func:`transfer_state_dict` maps every group by its (source, target, dv, du) key; groups the
source lattice lacks take the target connectome's values (``edges_syn_count`` is fixed, not
trained, and equal for shared groups at every extent).

Also note: the *initial* strengths (0.01 / mean synapse count of the type) are computed over
the edges present on the lattice and so differ slightly between extents; to start a
small-extent training from flyvis's initial network, transfer the extent-15 initial state dict
down (``transfer_state_dict(initial_state_dict(c15), c15, c_small)``).
"""

from __future__ import annotations

import numpy as np
import torch

from flycluster.errors import CheckpointError
from flycluster.parameters import initial_state_dict, validate_state_dict

__all__ = ["syn_count_keys", "transfer_state_dict", "state_dict_extent"]


def syn_count_keys(connectome) -> list[tuple]:
    """(source type, target type, dv, du) of each ``edges_syn_count`` group, in group order."""
    group, n_groups = connectome.syn_count_groups[:2]
    _, first = np.unique(group, return_index=True)
    names = connectome.edge_type_names()
    return [(*names[int(connectome.edge_type[e])], int(connectome.edge_dv[e]),
             int(connectome.edge_du[e])) for e in first[:n_groups]]


def transfer_state_dict(state_dict, source, target) -> dict[str, torch.Tensor]:
    """The parameters of ``state_dict`` (valid for connectome ``source``) laid out for ``target``.

    Per-type and per-edge-type tensors are copied (checked to name the same types in the same
    order); ``edges_syn_count`` groups are matched by key, those missing in ``source`` taken
    from ``target``'s default values.
    """
    params = validate_state_dict(state_dict, source)
    if tuple(source.cell_types) != tuple(target.cell_types):
        raise CheckpointError("source and target connectomes have different cell types")
    if source.edge_type_names() != target.edge_type_names():
        raise CheckpointError("source and target connectomes have different edge types")
    out = {k: params[k].detach().clone() for k in ("nodes_bias", "nodes_time_const",
                                                    "edges_sign", "edges_syn_strength")}
    default = initial_state_dict(target)["edges_syn_count"].clone()
    where = {key: i for i, key in enumerate(syn_count_keys(source))}
    values = params["edges_syn_count"]
    for j, key in enumerate(syn_count_keys(target)):
        if key in where:
            default[j] = values[where[key]]
    out["edges_syn_count"] = default.to(values.dtype)
    return validate_state_dict(out, target)


def state_dict_extent(state_dict, source_json=None, first: int | None = None) -> int | None:
    """The lattice extent a state dict was written at, from its number of ``edges_syn_count``
    groups (which grows with the extent up to 4, then stays 2355: extents >= 4 share the
    count, and the smallest, 4, or ``first`` when it fits, is returned); None if no extent in
    2..15 fits. ``source_json``: the connectome json (None: flyvis's)."""
    from flycluster.connectome import load_connectome

    n_groups = int(state_dict["edges_syn_count"].numel())
    for extent in ([first] if first else []) + list(range(2, 16)):
        if load_connectome(source_json, extent=extent).syn_count_groups[1] == n_groups:
            return extent
    return None
