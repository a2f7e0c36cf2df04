"""What a training run did to a network: reference losses of the task and per-checkpoint state.

Three questions a training log alone does not answer:

- *Has the decoder learned anything?* :func:`flow_baselines` gives the validation loss of
  predicting no flow at all (what a decoder that has learned nothing converges to, since the
  augmented flow has mean zero) and of an oracle that knows each frame's mean flow (the global
  self-motion, which every movie here is made of). A validation loss near the first means the
  task has not been learned.
- *What did training do to the network?* :func:`checkpoint_diagnostics` reads every checkpoint
  of a folder and reports how many cell types rest at V <= 0 in the grey steady state (silent:
  no gradient passes through their relu), how the synaptic strengths moved (median ratio to the
  first checkpoint, excitatory and inhibitory edge types separately; how many are clamped at 0)
  and the largest change of resting potential and time constant.
- *Which cells does the decoder read?* :func:`input_ablation` gives the loss when cell types
  are clamped at what they do without a stimulus: a type the decoder relies on costs loss.

- *Has the network left the initial plateau?* :func:`left_plateau` finds where the training
  loss first falls clearly below its plateau (docs/training_studies.md, "Ways off the plateau").

``tools/inspect_training.py`` prints the first two for network folders,
``tools/decoder_inputs.py`` the third, ``tools/training_progress.py`` the fourth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from flycluster.training.data import FlowAugmentation, stack_samples
from flycluster.training.objectives import l2norm

__all__ = ["flow_baselines", "readout_scores", "decoder_cell_types", "input_ablation", "cell_inputs",
           "checkpoint_diagnostics", "folder_extent", "left_plateau", "plateau_level"]


def flow_baselines(sequences, n_frames: int = 19, dt: float = 0.02) -> dict:
    """Reference validation losses (flyvis's l2norm, mean over sequences) of ``sequences``
    (unaugmented, cropped at 0 and resampled as validation does).

    Returns dict: ``zero`` (predicting no flow), ``frame_mean`` (predicting at every hexal the
    frame's mean flow of that sequence: an oracle of the global motion), ``n_sequences``.
    """
    _, flow = _unaugmented(sequences, n_frames, dt)  # (samples, frames, 2, hexals)
    mean = flow.mean(dim=-1, keepdim=True).expand_as(flow)
    zero = [float(l2norm(torch.zeros_like(f[None]), f[None])) for f in flow]
    frame_mean = [float(l2norm(m[None], f[None])) for m, f in zip(mean, flow)]
    return {"zero": float(np.mean(zero)), "frame_mean": float(np.mean(frame_mean)),
            "n_sequences": len(sequences)}


def readout_scores(checkpoint, sequences, connectome, n_frames: int = 19, dt: float = 0.02,
                   t_pre: float = 0.25) -> dict:
    """How a checkpoint's decoder reads its network on ``sequences`` (validation's way:
    unaugmented, grey steady state after ``t_pre`` s, eval mode).

    Returns dict: ``loss`` (flyvis's l2norm, mean over sequences: the validation loss),
    ``correlation`` (Pearson, estimated against true flow over all frames,
    components and hexals; > 0 once flow is decoded), ``rms_estimate``, ``rms_target``, and
    ``activity_dependence`` (rms change of the estimate when every sequence gets another
    sequence's activity: ~0 while the decoder ignores the network).
    """
    from flycluster.network import load_network

    record = torch.load(checkpoint, map_location="cpu", weights_only=False)
    module = load_network(checkpoint, connectome=connectome).module()
    return _readout(module, record, sequences, n_frames, dt, t_pre)


def decoder_cell_types(record: dict, connectome) -> list[str]:
    """The cell types a checkpoint record's decoder reads, in its input order (its training
    config's ``decoder_cell_types``, else the connectome's output cell types)."""
    cell_types = (record.get("config") or {}).get("decoder_cell_types")
    return list(connectome.output_cell_types if cell_types is None else cell_types)


def _decoder(module, record: dict):
    """The record's trained decoder, in eval mode, for ``module``'s lattice."""
    from flycluster.training.decoder import FlowDecoder, output_node_index

    types = decoder_cell_types(record, module.connectome)
    decoder = FlowDecoder(output_node_index(module.connectome, types),
                          rectify=(record.get("config") or {}).get("decoder_rectify", True))
    decoder.load_state_dict(record["decoder"]["flow"])
    return decoder.eval()


def _unaugmented(sequences, n_frames: int, dt: float):
    """(luminance, flow) tensors of ``sequences`` as validation sees them."""
    augmentation = FlowAugmentation(n_frames=n_frames, dt=dt)
    return (torch.from_numpy(x) for x in
            stack_samples([augmentation(s, None, augment=False) for s in sequences]))


def _readout(module, record: dict, sequences, n_frames: int, dt: float,
             t_pre: float) -> dict:
    """:func:`readout_scores` of a network module and a checkpoint record."""
    decoder = _decoder(module, record)
    lum, flow = _unaugmented(sequences, n_frames, dt)
    with torch.no_grad():
        activity = module(lum, dt, state=module.steady_state(t_pre, dt, len(sequences)))
        estimate = decoder(activity)
        other = decoder(activity.roll(1, dims=0)) if len(sequences) > 1 else estimate
    e, t = estimate.double().flatten().numpy(), flow.double().flatten().numpy()
    correlation = float(np.corrcoef(e, t)[0, 1]) if e.std() > 0 else float("nan")
    return {"loss": float(l2norm(estimate, flow)), "correlation": correlation,
            "rms_estimate": float(np.sqrt(np.mean(e ** 2))),
            "rms_target": float(np.sqrt(np.mean(t ** 2))),
            "activity_dependence": float((estimate - other).pow(2).mean().sqrt())}


def input_ablation(checkpoint, sequences, connectome, groups: dict | None = None,
                   singles: bool = True, n_frames: int = 19, dt: float = 0.02,
                   t_pre: float = 0.25) -> pd.DataFrame:
    """Which cell types a checkpoint's decoder reads the flow from: its loss on ``sequences``
    (unaugmented, as validation) when the activity of some of its input cell types is
    replaced by what they do without a stimulus (their activity during a grey movie of the
    same length, from the same grey steady state), at every hexal and frame.

    Parameters
    ----------
    checkpoint : a training checkpoint (``chkpts/chkpt_NNNNN``).
    sequences : list of :class:`~flycluster.training.data.FlowSequence` at ``connectome``'s
        extent (e.g. a set of :func:`flycluster.training.ensemble.held_out_sets`).
    groups : ``{name: [cell type, ...]}`` to clamp together; default: ``T4`` (T4a-d), ``T5``,
        ``T4+T5``, ``all but T4+T5`` (of the decoder's inputs) and ``all``.
    singles : also clamp every input cell type alone (one row each, named by the type).

    Returns
    -------
    DataFrame, one row per ablation, first ``none`` (nothing clamped): ``ablation``,
    ``n_types`` (cell types clamped), ``loss`` (flyvis's l2norm, mean over sequences),
    ``loss_ratio`` (over the loss of predicting no flow on ``sequences``) and
    ``loss_increase`` (``loss_ratio`` minus that of ``none``). A decoder that does not use a
    type loses nothing when it is clamped; clamping ``all`` gives ~1 (no flow decoded).
    """
    from flycluster.network import load_network

    record = torch.load(checkpoint, map_location="cpu", weights_only=False)
    module = load_network(checkpoint, connectome=connectome).module()
    decoder = _decoder(module, record)
    inputs = decoder_cell_types(record, connectome)
    if groups is None:
        t4t5 = [t for t in inputs if t[:2] in ("T4", "T5")]
        groups = {"T4": [t for t in t4t5 if t.startswith("T4")],
                  "T5": [t for t in t4t5 if t.startswith("T5")], "T4+T5": t4t5,
                  "all but T4+T5": [t for t in inputs if t not in t4t5], "all": inputs}
    groups = {"none": [], **{k: list(v) for k, v in groups.items() if v}}
    if singles:
        groups.update({t: [t] for t in inputs if t not in groups})
    unknown = sorted({t for v in groups.values() for t in v} - set(inputs))
    if unknown:
        raise ValueError(f"{checkpoint}: the decoder does not read {unknown} (it reads "
                         f"{', '.join(inputs)})")
    lum, flow = _unaugmented(sequences, n_frames, dt)
    with torch.no_grad():
        state = module.steady_state(t_pre, dt, len(sequences))
        activity = module(lum, dt, state=state)
        grey = module(torch.full_like(lum[:1], 0.5), dt, state=state[:1]
                      if state is not None else None)
        no_flow = float(l2norm(torch.zeros_like(flow), flow))
        rows = []
        for name, types in groups.items():
            clamped = activity.clone()
            for t in types:
                nodes = torch.as_tensor(np.asarray(connectome.nodes_of(t)))
                clamped[..., nodes] = grey[..., nodes]
            loss = float(l2norm(decoder(clamped), flow))
            rows.append({"ablation": name, "n_types": len(types), "loss": loss,
                         "loss_ratio": loss / no_flow})
    table = pd.DataFrame(rows)
    table["loss_increase"] = table["loss_ratio"] - table["loss_ratio"].iloc[0]
    return table


def cell_inputs(checkpoint, connectome, cell_type: str) -> pd.DataFrame:
    """The inputs of ``cell_type`` in a checkpoint: one row per input cell type (edge type)
    with ``source``, ``sign`` (+1 excitatory, -1 inhibitory), ``syn_strength`` (the trained
    per-edge-type scale), ``source_time_const`` (s) and ``source_bias`` (V): what sets the
    relative timing of a motion detector's arms. ``checkpoint``: a checkpoint file or a
    state dict. Unknown ``cell_type`` raises KeyError naming it."""
    from flycluster.checkpoints import read_state_dict

    inputs = connectome.input_edge_types(cell_type)  # KeyError for an unknown type
    state = checkpoint if isinstance(checkpoint, dict) else read_state_dict(checkpoint)
    state = state.get("network", state)  # a checkpoint record
    types = list(connectome.cell_types)
    strength = state["edges_syn_strength"].detach().double().numpy()
    tau = state["nodes_time_const"].detach().double().numpy()
    bias = state["nodes_bias"].detach().double().numpy()
    rows = [{"source": source, "sign": float(connectome.edge_type_sign[e]),
             "syn_strength": float(strength[e]),
             "source_time_const": float(tau[types.index(source)]),
             "source_bias": float(bias[types.index(source)])}
            for source, e in inputs.items()]
    return pd.DataFrame(rows)


def checkpoint_diagnostics(folder, connectome=None, t_pre: float = 0.5,
                           dt: float = 0.02, sequences=None, n_frames: int = 19,
                           t_pre_val: float = 0.25, held_out: dict | None = None,
                           every: int = 1) -> pd.DataFrame:
    """One row per checkpoint of the network folder ``folder`` (work or published folder).

    Columns: ``checkpoint`` (position), ``iteration`` (trained iterations, <NA> if not recorded),
    ``val_loss``, ``silent_output``/``silent_other`` (cell types at V <= 0 in the grey steady
    state after ``t_pre`` s, among the decoder's output types / the rest), ``silent_types``
    (their names), ``exc_strength_ratio``/``inh_strength_ratio`` (median over excitatory /
    inhibitory edge types of strength / strength at the first checkpoint), ``n_clamped``
    (strengths at 0), ``max_bias_change``, ``max_time_const_change`` (V and s, against the first
    checkpoint). ``connectome``: the folder's lattice (default: flyvis's at
    :func:`folder_extent`). With validation ``sequences`` (at that extent) the columns of
    :func:`readout_scores` (``n_frames``, ``t_pre_val``: as in training) are added.
    ``held_out``: ``{name: sequences}`` (e.g. :func:`flycluster.training.ensemble.held_out_sets`)
    adds per set ``<name>_loss_ratio`` (the checkpoint's loss on them over the loss of
    predicting no flow there: below 1 once flow is decoded beyond the training movies) and
    ``<name>_correlation``. ``every``: one row per ``every`` checkpoints (positions 0,
    every, 2 every, ... and the last), for long runs.
    """
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every: expected an integer >= 1, got {every!r}")
    from flycluster.checkpoints import list_checkpoints, trained_iterations
    from flycluster.connectome import load_connectome
    from flycluster.network import Network

    folder = Path(folder)
    if connectome is None:
        connectome = load_connectome(extent=folder_extent(folder))
    rows, first = [], None
    held_out = dict(held_out or {})
    no_flow = {name: flow_baselines(seqs, n_frames, dt)["zero"] for name, seqs in held_out.items()}
    paths = list_checkpoints(folder)
    for position, path in enumerate(paths):
        if position % every and position != len(paths) - 1:
            continue
        record = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(record, dict) or "network" not in record:
            raise ValueError(f"{path}: not a training checkpoint (a dict with a 'network' "
                             "state dict)")
        module = Network(connectome, record["network"], source=path).module()
        state = {k: v.detach().double().numpy() for k, v in module.state_dict().items()}
        if first is None:
            first = state
        rest = module.resting_potentials(t_pre, dt)
        outputs = set(connectome.output_cell_types)
        silent = [t for t, v in rest.items() if v <= 0]
        sign = state["edges_sign"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = state["edges_syn_strength"] / first["edges_syn_strength"]
        rows.append({
            "checkpoint": position,
            "iteration": trained_iterations(record),
            "val_loss": float(record.get("val_loss", np.nan)),
            "silent_output": sum(t in outputs for t in silent),
            "silent_other": sum(t not in outputs for t in silent),
            "silent_types": " ".join(silent),
            "exc_strength_ratio": float(np.nanmedian(ratio[sign > 0])),
            "inh_strength_ratio": float(np.nanmedian(ratio[sign < 0])),
            "n_clamped": int((state["edges_syn_strength"] == 0).sum()),
            "max_bias_change": float(np.abs(state["nodes_bias"] - first["nodes_bias"]).max()),
            "max_time_const_change": float(np.abs(state["nodes_time_const"]
                                                  - first["nodes_time_const"]).max()),
        })
        if sequences:
            rows[-1].update(_readout(module, record, sequences, n_frames, dt, t_pre_val))
        for name, seqs in held_out.items():
            scores = _readout(module, record, seqs, n_frames, dt, t_pre_val)
            rows[-1][f"{name}_loss_ratio"] = scores["loss"] / no_flow[name]
            rows[-1][f"{name}_correlation"] = scores["correlation"]
    table = pd.DataFrame(rows)
    table["iteration"] = table["iteration"].astype("Int64")
    return table


def folder_extent(folder, default: int = 15) -> int:
    """The lattice extent a network folder's checkpoints were written at, from its
    ``_meta.yaml`` (published folders: ``published.analysis_extent``; work folders of
    ``train_network``: ``config.extent``), else from its first checkpoint's synapse-count
    groups if they name an extent below 4 (:func:`~flycluster.training.transfer.
    state_dict_extent`), else ``default``."""
    from flycluster.checkpoints import read_meta

    folder = Path(folder)
    meta = read_meta(folder)
    published = meta.get("published") or {}
    config = meta.get("config") or {}
    extent = published.get("analysis_extent", config.get("extent"))
    if extent is not None:
        return int(extent)
    from flycluster.checkpoints import list_checkpoints, read_state_dict
    from flycluster.errors import CheckpointError
    from flycluster.training.transfer import state_dict_extent

    try:
        found = state_dict_extent(read_state_dict(list_checkpoints(folder)[0]))
    except CheckpointError:
        return int(default)
    return found if found is not None and found < 4 else int(default)


def left_plateau(train_loss, window: int = 500, plateau_iterations: int = 5000,
                 drop: float = 0.035) -> int | None:
    """The iteration at which training left the initial plateau, or None if it has not.

    ``train_loss`` : training loss per iteration (a work folder's ``loss.h5``; NaN entries,
    iterations logged without a loss, are dropped). The plateau is the median of the
    ``window``-iteration running mean over the first ``plateau_iterations``; the result is the
    end of the first window whose mean is ``drop`` (a fraction) below it. On the texture task
    the plateau is ~275 and a network that leaves it ends near 210 (drop 0.035 = ~10).
    """
    mean, plateau = _running_mean_and_plateau(train_loss, window, plateau_iterations)
    if mean is None:
        return None
    below = np.flatnonzero(mean < plateau * (1 - drop))
    return int(below[0] + window) if len(below) else None


def plateau_level(train_loss, window: int = 500, plateau_iterations: int = 5000) -> float:
    """The initial plateau of the training loss as :func:`left_plateau` takes it (NaN if fewer
    than ``window`` iterations)."""
    return _running_mean_and_plateau(train_loss, window, plateau_iterations)[1]


def _running_mean_and_plateau(train_loss, window, plateau_iterations):
    x = np.asarray(train_loss, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) < window:
        return None, float("nan")
    mean = np.convolve(x, np.ones(window) / window, "valid")
    return mean, float(np.median(mean[:max(1, plateau_iterations - window + 1)]))
