"""What sets a trained T4/T5 cell's direction tuning: its tuning with one input removed.

For a network and a cell type, :func:`input_knockouts` makes one variant of the network per
input cell type of that cell, with that edge type's synaptic strength set to 0 (every other
parameter unchanged); :func:`knockout_tuning` scores the cell's moving-edge tuning in each
variant (:func:`flycluster.training.evaluate.evaluate_networks`: DSI, preferred direction,
correlation with Maisak et al. 2013). An input whose removal turns the preferred direction
around, or removes the selectivity, is the one the tuning comes from. ``time_constants``
(``{cell type: seconds}``) gives every variant other time constants as well, e.g. to test
whether the timing of the detector's arms sets the direction.

``tools/decoder_inputs.py`` asks which cells the decoder reads; this module asks how the
cells it might read are built.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

__all__ = ["input_knockouts", "knockout_tuning"]

#: name of the variant without a knockout
INTACT = "intact"


def input_knockouts(state_dict: dict, connectome, cell_type: str,
                    time_constants: dict | None = None) -> dict:
    """``{variant: state dict}``: ``intact`` and one ``<cell_type>-<source>`` per input edge
    type of ``cell_type``, with that edge type's ``edges_syn_strength`` set to 0. With
    ``time_constants`` (``{cell type: s}``) every variant, ``intact`` included, has those
    ``nodes_time_const``. Unknown cell types raise KeyError naming them."""
    types = list(connectome.cell_types)
    inputs = connectome.input_edge_types(cell_type)  # KeyError for an unknown type
    unknown = [t for t in (time_constants or {}) if t not in types]
    if unknown:
        raise KeyError(f"unknown cell type(s) {unknown}; known: {', '.join(types)}")
    base = {k: torch.as_tensor(v).detach().clone() for k, v in state_dict.items()}
    for name, tau in (time_constants or {}).items():
        if not float(tau) > 0:
            raise ValueError(f"time constant of {name}: expected > 0 s, got {tau!r}")
        base["nodes_time_const"][types.index(name)] = float(tau)
    variants = {INTACT: base}
    for source, e in inputs.items():
        variant = {k: v.clone() for k, v in base.items()}
        variant["edges_syn_strength"][e] = 0.0
        variants[f"{cell_type}-{source}"] = variant
    return variants


def knockout_tuning(checkpoint, cell_types, *, extent: int = 15, edges: dict | None = None,
                    time_constants: dict | None = None, workdir=None) -> pd.DataFrame:
    """T4/T5 tuning of ``checkpoint``'s network with each input of each of ``cell_types``
    removed in turn (:func:`input_knockouts`).

    Parameters
    ----------
    checkpoint : a checkpoint file (its ``network`` state dict is used).
    cell_types : T4/T5 types whose inputs are knocked out (e.g. ``["T4c", "T5c"]``).
    extent, edges : as :func:`flycluster.training.evaluate.evaluate_networks` (moving edges).
    time_constants : ``{cell type: s}`` applied to every variant.
    workdir : where the variants' folders and responses go (default: a temporary folder).

    Returns
    -------
    DataFrame, one row per (cell type, variant): ``cell_type``, ``variant`` (``intact`` or
    ``<cell type>-<source>``), ``knocked_out`` (the source type, empty for intact), ``sign``
    of that input, its ``syn_strength`` before removal, and the tuning columns of
    :func:`flycluster.training.evaluate.tuning_scores` (``correlation``, ``dsi``,
    ``preferred_direction``, ``direction_error``, ``direction_within_45``) of that cell type.
    """
    import tempfile

    from flycluster.checkpoints import read_state_dict, write_network_dir
    from flycluster.connectome import load_connectome
    from flycluster.training.evaluate import T4T5, evaluate_networks

    cell_types = list(cell_types)
    bad = [t for t in cell_types if t not in T4T5]
    if bad:
        raise ValueError(f"{bad}: knockout tuning is scored for T4a-d and T5a-d only")
    connectome = load_connectome(extent=extent)
    state = read_state_dict(checkpoint)
    record = torch.load(checkpoint, map_location="cpu", weights_only=False)
    # the variants' folders carry the original's validation loss (not measured for them)
    val_loss = float(record.get("val_loss", 1.0)) if isinstance(record, dict) else 1.0
    if workdir is not None and Path(workdir).is_dir() and any(Path(workdir).iterdir()):
        raise ValueError(f"workdir {workdir}: expected an empty or new folder (responses there "
                         "would be taken for this network's)")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(workdir or tmp)
        folders, rows = {}, []
        for cell_type in cell_types:
            variants = input_knockouts(state, connectome, cell_type, time_constants)
            rows.append({"cell_type": cell_type, "variant": INTACT, "knocked_out": "",
                         "sign": 0.0, "syn_strength": float("nan")})
            for source, e in connectome.input_edge_types(cell_type).items():
                rows.append({"cell_type": cell_type, "variant": f"{cell_type}-{source}",
                             "knocked_out": source, "sign": float(connectome.edge_type_sign[e]),
                             "syn_strength": float(state["edges_syn_strength"][e])})
            for variant, variant_state in variants.items():
                if variant not in folders:
                    folders[variant] = write_network_dir(
                        root / "networks" / variant, variant_state, val_loss,
                        config={"knockout_of": str(checkpoint)})
        scores = evaluate_networks(list(folders.values()), extent=extent, edges=edges,
                                   checkpoints=("best",), workdir=root / "responses")
    keep = ["network", "cell_type", "correlation", "dsi", "preferred_direction",
            "direction_error", "direction_within_45"]
    scores = scores[keep].rename(columns={"network": "variant"})
    return pd.DataFrame(rows).merge(scores, on=["variant", "cell_type"], how="left")
