"""Train one network of an ensemble from a config description, resumably, and publish it.

Two folders per network:

- the *work* folder (``train_flow``'s network folder at the training extent): checkpoints are
  written here while training runs, and a rerun continues from the last one. Nothing but this
  module writes or deletes it (the workflow keeps it outside every declared output, so
  snakemake never removes it when a job fails or is killed);
- the *published* folder (flyvis's layout at the analysis extent): made from the work folder
  when training has finished, in a temporary sibling that is renamed into place, so it is either
  absent or complete. Every checkpoint's network state dict is transferred to the analysis
  extent (:func:`flycluster.training.transfer.transfer_state_dict`; an identity for training
  extents >= 4 apart from checking), so the simulation reads it unchanged. ``best_chkpt`` is a
  copy of the checkpoint with the lowest validation loss (the one flyvis analyses), at a path
  known before training, for the workflow.

Randomness: network ``i`` of an ensemble seeded ``s`` trains with
``random_state = network_random_state(s, i)``; that seed draws its initial resting potentials
(flyvis draws them per network: Normal(0.5, 0.05)) and every training choice (batch order,
augmentation, dropout). The movies are the same for every network (drawn from ``s``), as all
flyvis networks see the same Sintel movies.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from flycluster.checkpoints import CHECKPOINT_DIR, best_checkpoint, list_checkpoints
from flycluster.errors import ConfigError
from flycluster.training.data import flow_sequences, split_by_group
from flycluster.training.loop import TrainConfig, train_flow

__all__ = ["network_random_state", "initial_network", "training_data", "train_config",
           "train_network", "publish", "BEST_CHECKPOINT"]

logger = logging.getLogger("flycluster.training")

#: File name (in a published network folder) of the copy of the best checkpoint.
BEST_CHECKPOINT = "best_chkpt"

#: TrainConfig fields settable from the config's ``ensemble.training`` (same names).
_TRAIN_KEYS = ("iterations", "batch_size", "dt", "n_frames", "t_pre_train", "t_pre_val",
               "lr_start", "lr_stop", "lr_steps", "penalty_stop", "checkpoint_every",
               "validation_batch")


def network_random_state(seed: int, index: int) -> int:
    """Seed of network ``index`` of an ensemble seeded ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([int(seed), 7_919, int(index)]).generate_state(1)[0]
               % 2**31)


def initial_network(extent: int, random_state: int, bias_mean: float = 0.5,
                    bias_std: float = 0.05):
    """flyvis's initial network at ``extent`` with resting potentials drawn from ``random_state``.

    The initial parameters are flyvis's extent-15 ones (:func:`flycluster.parameters.
    initial_state_dict`) transferred to ``extent`` (the initial strengths are defined over the
    extent-15 lattice); ``nodes_bias`` ~ Normal(``bias_mean``, ``bias_std``) per cell type.
    Returns a :class:`flycluster.network.Network`.
    """
    from flycluster.connectome import load_connectome
    from flycluster.network import Network
    from flycluster.parameters import initial_state_dict
    from flycluster.training.transfer import transfer_state_dict

    c15 = load_connectome(extent=15)
    small = c15 if extent == 15 else load_connectome(extent=extent)
    state = initial_state_dict(c15)
    if small is not c15:
        state = transfer_state_dict(state, c15, small)
    generator = torch.Generator().manual_seed(int(random_state))
    n = len(small.cell_types)
    state["nodes_bias"] = torch.normal(torch.full((n,), float(bias_mean)),
                                       torch.full((n,), float(bias_std)),
                                       generator=generator).float()
    return Network(small, state, source=f"<flyvis initial parameters, bias seed {random_state}>")


def _sequences(spec: dict, extent: int, random_state: int, what: str):
    spec = {k: v for k, v in dict(spec).items() if v is not None}
    kind = spec.pop("kind", None)
    if kind is None:
        raise ConfigError(f"config key ensemble.training.{what}.kind: required")
    spec.pop("groups", None)
    if kind == "textures" and "texture_size" in spec:
        size = int(spec.pop("texture_size"))
        spec["texture_shape"] = (size, size)
    else:
        spec.pop("texture_size", None)
    if kind != "sintel":
        spec.setdefault("random_state", random_state)
    else:
        spec.pop("random_state", None)
    try:
        return flow_sequences(kind, extent=extent, **spec)
    except ConfigError as e:
        raise ConfigError(f"config key ensemble.training.{what}: {e}") from None


def training_data(data: dict, validation: dict, extent: int, random_state: int = 0):
    """(train, validation) sequences from config descriptions.

    ``data``: ``kind`` (textures / photos / sintel) and the keyword arguments of its builder
    (:func:`flycluster.training.data.flow_sequences`; ``texture_size`` for a square texture).
    ``validation``: either ``{"groups": [...]}`` (hold these photos / textures / Sintel scenes
    of ``data`` out) or a data description of its own (e.g. held-out photos).
    """
    validation = dict(validation or {})
    if validation.get("groups"):
        return split_by_group(_sequences(data, extent, random_state, "data"),
                              validation["groups"])
    if not validation.get("kind"):
        raise ConfigError("config key ensemble.training.validation: give groups (held-out "
                          "groups of the data) or a kind with its options")
    return (_sequences(data, extent, random_state, "data"),
            _sequences(validation, extent, random_state + 10_000, "validation"))


def train_config(options: dict, random_state: int) -> TrainConfig:
    """The :class:`TrainConfig` of ``ensemble.training`` options for one network."""
    kwargs = {k: options[k] for k in _TRAIN_KEYS if options.get(k) is not None}
    return TrainConfig(random_state=int(random_state), **kwargs)


def publish(work, dest, connectome, meta: dict | None = None) -> Path:
    """Write the finished work folder as a flyvis network folder at ``connectome``'s extent.

    Every checkpoint's ``network`` state dict is transferred to ``connectome``; the h5 files
    and the decoder state are copied; ``best_chkpt`` = the lowest-validation-loss checkpoint;
    ``_meta.yaml`` gains ``published`` (extents, source folder). Written to a temporary
    sibling and renamed: ``dest`` is replaced as a whole.
    """
    import yaml

    from flycluster.connectome import load_connectome
    from flycluster.training.transfer import transfer_state_dict

    work, dest = Path(work), Path(dest)
    chkpts = list_checkpoints(work)
    first = torch.load(chkpts[0], map_location="cpu", weights_only=False)
    n_groups = int(first["network"]["edges_syn_count"].numel())
    meta_file = work / "_meta.yaml"
    work_meta = yaml.safe_load(meta_file.read_text()) if meta_file.is_file() else {}
    train_extent = int((work_meta or {}).get("config", {}).get("extent", 0)) or None
    source = None
    for candidate in ([train_extent] if train_extent else []) + list(range(2, 16)):
        c = load_connectome(extent=candidate)
        if c.syn_count_groups[1] == n_groups:
            source, train_extent = c, candidate
            break
    if source is None:
        raise ConfigError(f"{work}: no lattice extent has {n_groups} synapse-count groups")
    tmp = dest.parent / f".{dest.name}.publishing"
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / CHECKPOINT_DIR).mkdir(parents=True)
    for path in chkpts:
        record = torch.load(path, map_location="cpu", weights_only=False)
        record["network"] = transfer_state_dict(record["network"], source, connectome)
        torch.save(record, tmp / CHECKPOINT_DIR / path.name)
    for item in work.iterdir():
        if item.name == CHECKPOINT_DIR or item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, tmp / item.name)
        else:
            shutil.copy2(item, tmp / item.name)
    best = best_checkpoint(tmp)
    shutil.copyfile(best, tmp / BEST_CHECKPOINT)
    doc = yaml.safe_load((tmp / "_meta.yaml").read_text()) if (tmp / "_meta.yaml").is_file() else {}
    doc["published"] = {"training_extent": train_extent,
                        "analysis_extent": int(connectome.extent),
                        "work_folder": str(work), "best_checkpoint": best.name,
                        "time": time.ctime(), **(meta or {})}
    (tmp / "_meta.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def train_network(work, dest, index: int, options: dict, *, seed: int = 0,
                  analysis_connectome=None, device: str = "cpu", log_every: float = 30.0):
    """Train network ``index`` of an ensemble (resuming ``work``) and publish it to ``dest``.

    Parameters
    ----------
    work : training folder (checkpoints at the training extent; resumed if present).
    dest : published network folder (analysis extent), replaced when training has finished.
    index : the network's number; its random state is ``network_random_state(seed, index)``.
    options : the config's ``ensemble.training`` (extent, data, validation, TrainConfig keys).
    seed : the ensemble's ``random_state`` (also draws the movies).
    analysis_connectome : :class:`flycluster.connectome.Connectome` of the analysis (extent).
    device : "cpu" or "cuda".

    Returns the :class:`flycluster.training.loop.TrainResult`.
    """
    from flycluster.connectome import load_connectome
    from flycluster.network import resolve_device

    extent = int(options.get("extent", 15))
    random_state = network_random_state(seed, index)
    config = train_config(options, random_state)
    t0 = time.time()
    train, val = training_data(options["data"], options["validation"], extent, int(seed))
    logger.info("network %s: %d training and %d validation sequences at extent %d "
                "(rendered in %.0f s); random_state %d", index, len(train), len(val), extent,
                time.time() - t0, random_state)
    device = resolve_device(device)
    network = initial_network(extent, random_state)
    module = network.module().to(device)
    meta = {"extent": extent, "network_index": int(index), "ensemble_random_state": int(seed),
            "data": dict(options["data"]), "validation": dict(options["validation"]),
            "device": str(device)}
    result = train_flow(module, train, val, work, config, meta=meta, log_every=log_every)
    if analysis_connectome is None:
        analysis_connectome = load_connectome(extent=15)
    publish(work, dest, analysis_connectome)
    logger.info("network %s: validation loss %.5g -> %.5g (ratio %.4f); published to %s",
                index, result.val_loss[0], result.val_loss[-1],
                result.val_loss[-1] / result.val_loss[0], dest)
    return result
