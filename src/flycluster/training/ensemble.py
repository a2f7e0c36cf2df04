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

from flycluster.checkpoints import (
    BEST_CHECKPOINT,
    CHECKPOINT_DIR,
    best_checkpoint,
    list_checkpoints,
    read_meta,
    write_meta,
)
from flycluster.errors import ConfigError
from flycluster.training.data import flow_sequences, split_by_group
from flycluster.training.loop import TrainConfig, train_flow

__all__ = ["add_option_arguments", "network_random_state", "initial_network", "training_data", "held_out_sets",
           "parse_overrides", "read_training_options", "tool_options", "train_config",
           "train_network", "publish", "BEST_CHECKPOINT"]

logger = logging.getLogger("flycluster.training")

#: TrainConfig fields settable from the config's ``ensemble.training`` (same names).
_TRAIN_KEYS = ("iterations", "batch_size", "dt", "n_frames", "t_pre_train", "t_pre_val",
               "lr_start", "lr_stop", "lr_steps", "lr_decoder_factor", "lr_node_factor",
               "penalty_weight", "penalty_stop", "checkpoint_every", "validation_batch",
               "decoder_cell_types", "decoder_from", "decoder_rectify")


def network_random_state(seed: int, index: int) -> int:
    """Seed of network ``index`` of an ensemble seeded ``seed`` (independent streams)."""
    return int(np.random.SeedSequence([int(seed), 7_919, int(index)]).generate_state(1)[0]
               % 2**31)


def initial_network(extent: int, random_state: int, bias_mean: float = 0.5,
                    bias_std: float = 0.05, connectome=None, time_const_sigma: float = 0.0):
    """flyvis's initial network at ``extent`` with resting potentials drawn from ``random_state``.

    The initial parameters are flyvis's extent-15 ones (:func:`flycluster.parameters.
    initial_state_dict`) transferred to ``extent`` (the initial strengths are defined over the
    extent-15 lattice); ``nodes_bias`` ~ Normal(``bias_mean``, ``bias_std``) per cell type.
    ``time_const_sigma`` > 0 (not flyvis, whose time constants all start at 0.05 s): each
    type's time constant is 0.05 s times exp(Normal(0, ``time_const_sigma``)), drawn from
    ``random_state`` after the biases (0: the biases are drawn exactly as before).
    ``connectome``: a json path or None (flyvis's, as :func:`flycluster.connectome.
    load_connectome`). Returns a :class:`flycluster.network.Network`.
    """
    from flycluster.connectome import load_connectome
    from flycluster.network import Network
    from flycluster.parameters import initial_state_dict
    from flycluster.training.transfer import transfer_state_dict

    c15 = load_connectome(connectome, extent=15)
    small = c15 if extent == 15 else load_connectome(connectome, extent=extent)
    state = initial_state_dict(c15)
    if small is not c15:
        state = transfer_state_dict(state, c15, small)
    generator = torch.Generator().manual_seed(int(random_state))
    n = len(small.cell_types)
    state["nodes_bias"] = torch.normal(torch.full((n,), float(bias_mean)),
                                       torch.full((n,), float(bias_std)),
                                       generator=generator).float()
    if time_const_sigma:
        factor = torch.exp(torch.normal(torch.zeros(n), torch.full((n,), float(time_const_sigma)),
                                        generator=generator))
        state["nodes_time_const"] = (state["nodes_time_const"] * factor).float()
    return Network(small, state, source=f"<flyvis initial parameters, bias seed {random_state}>")


_CAMERA_KEYS = ("n_movies", "frames_per_movie", "height", "width", "max_speed", "max_rotation",
                "max_looming")
#: The config keys each data kind reads (the others are ignored, so that one schema with
#: defaults serves every kind).
_DATA_KEYS = {"textures": _CAMERA_KEYS + ("texture_size",),
              "photos": _CAMERA_KEYS + ("images",),
              "sintel": ("root", "scenes")}


def _sequences(spec: dict, extent: int, random_state: int, what: str):
    spec = dict(spec)
    kind = spec.get("kind")
    if kind not in _DATA_KEYS:
        raise ConfigError(f"config key ensemble.training.{what}.kind: expected one of "
                          f"{sorted(_DATA_KEYS)}, got {kind!r}")
    params = {k: spec[k] for k in _DATA_KEYS[kind] if spec.get(k) is not None}
    if "texture_size" in params:
        size = int(params.pop("texture_size"))
        params["texture_shape"] = (size, size)
    if kind != "sintel":
        params["random_state"] = int(random_state)
    elif "root" not in params:
        raise ConfigError(f"config key ensemble.training.{what}.root: required for kind sintel "
                          "(the folder holding training/final and training/flow)")
    try:
        return flow_sequences(kind, extent=extent, **params)
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


def held_out_sets(options: dict, seed: int = 0, n_textures: int = 20,
                  photo_draws: int = 2) -> dict:
    """Movies no network of the ensemble was trained or validated on, at the training extent,
    to measure what the decoder learned beyond its training movies
    (:func:`flycluster.training.diagnostics.checkpoint_diagnostics`, ``held_out``).

    ``textures``: ``n_textures`` new texture movies (the training data's texture options, drawn
    from ``seed + 20,000``; training draws from ``seed``, validation from ``seed + 10,000``).
    ``photos``: every bundled photograph (:data:`flycluster.stimuli.photos.PHOTOS`), each under
    ``photo_draws`` self-motions drawn from ``seed + 30,000``, with the frame options of the
    validation movies (of the data where validation holds out groups). Either is left out
    at 0. Returns ``{name: [FlowSequence, ...]}``.
    """
    from flycluster.stimuli.photos import PHOTOS

    extent = int(options.get("extent", 15))
    data, validation = dict(options.get("data") or {}), dict(options.get("validation") or {})
    sets = {}
    if n_textures > 0:
        spec = dict(data) if data.get("kind") == "textures" else {"kind": "textures"}
        spec["n_movies"] = int(n_textures)
        sets["textures"] = _sequences(spec, extent, int(seed) + 20_000, "data")
    if photo_draws > 0:
        frame_keys = ("frames_per_movie", "height", "width", "max_speed", "max_rotation",
                      "max_looming")
        own = not validation.get("groups") and validation.get("kind") in ("photos", "textures")
        frames = validation if own else data  # held-out groups: the data's frames
        spec = {k: frames[k] for k in frame_keys if frames.get(k) is not None}
        spec.update(kind="photos", images=list(PHOTOS), n_movies=int(photo_draws) * len(PHOTOS))
        sets["photos"] = _sequences(spec, extent, int(seed) + 30_000, "validation")
    return sets


def add_option_arguments(parser, required: bool = True) -> None:
    """Give a tool's ``argparse`` parser the options-file arguments every training tool takes:
    ``--options`` (YAML with ``ensemble.training``), ``--seed`` and ``--set KEY=VALUE ...``
    (read them with :func:`tool_options`)."""
    parser.add_argument("--options", required=required, default=None,
                        help="YAML with ensemble.training options (a workflow config works)")
    parser.add_argument("--seed", type=int, default=None,
                        help="ensemble random_state (default: the options file's, else 0)")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="override top-level training options (YAML values), e.g. "
                             "iterations=5000 extent=5")


def tool_options(path, set_items=(), seed: int | None = None) -> tuple[dict, int]:
    """What the training tools read: (options of ``path`` with the ``--set`` items applied
    (:func:`parse_overrides`, :func:`read_training_options`), the ensemble seed: ``seed``,
    else the file's ``ensemble.random_state``, else 0). Raises ConfigError."""
    options, file_seed = read_training_options(path, parse_overrides(set_items))
    return options, int(seed) if seed is not None else file_seed


def _with_schema(options: dict) -> dict:
    """``ensemble.training`` options with the config schema's defaults and checks."""
    from flycluster.config_schema import apply_schema

    config = apply_schema({"ensemble": {"kind": "trained", "training": dict(options)}})
    return config["ensemble"]["training"]


def parse_overrides(items) -> dict:
    """``["KEY=VALUE", ...]`` (the tools' ``--set``) -> ``{KEY: value}``: values are YAML
    (``true``, ``[a, b]``, ``{kind: photos}``), and numbers YAML 1.1 reads as strings
    (``1e-3``, no dot) become floats. A malformed item raises ConfigError naming it."""
    import yaml

    overrides = {}
    for item in items:
        key, sep, text = str(item).partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        value = yaml.safe_load(text)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                pass
        overrides[key] = value
    return overrides


def read_training_options(path, overrides: dict | None = None) -> tuple[dict, int]:
    """``ensemble.training`` options of a workflow config file (or of a file holding only
    them), with ``overrides`` applied and the schema's defaults and checks (as the workflow
    applies them). Returns (options, the file's ``ensemble.random_state`` or 0)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: options file not found")
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a mapping of options, got {type(doc).__name__}")
    ensemble = doc.get("ensemble") or {}
    options = _with_schema({**dict(ensemble.get("training", doc)), **(overrides or {})})
    return options, int(ensemble.get("random_state", 0))


def train_config(options: dict, random_state: int) -> TrainConfig:
    """The :class:`TrainConfig` of ``ensemble.training`` options for one network."""
    kwargs = {k: options[k] for k in _TRAIN_KEYS if options.get(k) is not None}
    init = options.get("decoder_init") or "constant"
    if init not in ("constant", "random"):
        raise ConfigError(f"config key ensemble.training.decoder_init: expected constant or "
                          f"random, got {init!r}")
    if init == "random":
        kwargs["decoder_const_weight"] = None
    if kwargs.get("decoder_cell_types") is not None:
        from flycluster.config import CELL_TYPES, _check_names

        _check_names(kwargs["decoder_cell_types"], "ensemble.training.decoder_cell_types",
                     CELL_TYPES)
    return TrainConfig(random_state=int(random_state), **kwargs)


def publish(work, dest, connectome, meta: dict | None = None, source_json=None) -> Path:
    """Write the finished work folder as a flyvis network folder at ``connectome``'s extent.

    Every checkpoint's ``network`` state dict is transferred to ``connectome``; the h5 files
    and the decoder state are copied; ``best_chkpt`` = the lowest-validation-loss checkpoint;
    ``_meta.yaml`` gains ``published`` (extents, source folder). Written to a temporary
    sibling and renamed: ``dest`` is replaced as a whole. ``source_json``: the connectome
    json the work folder was trained with (None = flyvis's).
    """
    from flycluster.connectome import load_connectome
    from flycluster.training.transfer import state_dict_extent, transfer_state_dict

    work, dest = Path(work), Path(dest)
    chkpts = list_checkpoints(work)
    first = torch.load(chkpts[0], map_location="cpu", weights_only=False)
    work_meta = read_meta(work)
    train_extent = state_dict_extent(
        first["network"], source_json,
        first=int((work_meta.get("config") or {}).get("extent", 0)) or None)
    if train_extent is None:
        raise ConfigError(f"{work}: no lattice extent has "
                          f"{first['network']['edges_syn_count'].numel()} synapse-count groups")
    source = load_connectome(source_json, extent=train_extent)
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
        if item.is_dir():  # plain copies: new modification times (snakemake compares them)
            shutil.copytree(item, tmp / item.name, copy_function=shutil.copy)
        else:
            shutil.copy(item, tmp / item.name)
    best = best_checkpoint(tmp)
    shutil.copyfile(best, tmp / BEST_CHECKPOINT)
    doc = read_meta(tmp)
    doc["published"] = {"training_extent": train_extent,
                        "analysis_extent": int(connectome.extent),
                        "work_folder": str(work), "best_checkpoint": best.name,
                        "time": time.ctime(), **(meta or {})}
    write_meta(tmp, doc)
    if dest.exists():
        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


#: Options that do not change what is trained (may differ between a run and its resumption).
_RUN_KEYS = ("iterations", "device", "threads", "mem_mb", "runtime", "log_every",
             "validation_batch")


def _recipe(options: dict, seed: int, connectome) -> dict:
    return {"options": {k: v for k, v in sorted(dict(options).items()) if k not in _RUN_KEYS},
            "ensemble_random_state": int(seed),
            "connectome": None if connectome is None else str(connectome)}


def _same_recipe(before: dict, now: dict) -> bool:
    """Whether a work folder's recorded recipe is the one asked for now. Both sides get the
    schema's defaults first, so an option added to flycluster later (its default being the
    old behaviour) does not make an older work folder look different."""
    import yaml

    def normal(recipe):
        recipe = yaml.safe_load(yaml.safe_dump(recipe))
        options = _with_schema(recipe.get("options") or {})
        return {**recipe, "options": {k: v for k, v in sorted(options.items())
                                      if k not in _RUN_KEYS}}

    try:
        return normal(before) == normal(now)
    except ConfigError:  # options this version no longer knows: not the same recipe
        return False


def train_network(work, dest, index: int, options: dict, *, seed: int = 0, connectome=None,
                  analysis_extent: int = 15, device: str = "cpu", log_every: float = 30.0,
                  stop_at: int | None = None):
    """Train network ``index`` of an ensemble (resuming ``work``) and publish it to ``dest``.

    Parameters
    ----------
    work : training folder (checkpoints at the training extent; resumed if present).
    dest : published network folder (``analysis_extent``), replaced when training has finished.
    index : the network's number; its random state is ``network_random_state(seed, index)``.
    options : the config's ``ensemble.training`` (extent, data, validation, TrainConfig keys).
    seed : the ensemble's ``random_state`` (also draws the movies).
    connectome : connectome json (None = flyvis's).
    analysis_extent : extent of the published folder (the analysis's ``connectome.extent``).
    device : "cpu" or "cuda".
    stop_at : stop when this many iterations are trained (on the full run's schedule), at
        a checkpoint, without publishing: e.g. to screen networks early and continue the
        promising ones later with the same command without it. None: train to the end.

    A ``work`` folder made with other options (anything but iterations, device, threads and
    resources; an option the folder's record lacks counts at its default) is refused, naming
    the folder: delete it to train anew. More iterations than a finished work folder holds
    continue it (the learning-rate schedule then is that of the new total).

    Returns the :class:`flycluster.training.loop.TrainResult`.
    """
    from flycluster.connectome import load_connectome
    from flycluster.network import resolve_device

    work, dest = Path(work), Path(dest)
    recipe = _recipe(options, seed, connectome)
    before = (read_meta(work).get("config") or {}).get("recipe")
    if before is not None and not _same_recipe(before, recipe):
        raise ConfigError(
            f"{work}: was trained with other ensemble.training options or seed than the "
            "config's now; delete this folder to train the network anew (or restore the "
            f"options it was made with, in its _meta.yaml: {before})")
    extent = int(options.get("extent", 15))
    random_state = network_random_state(seed, index)
    config = train_config(options, random_state)
    t0 = time.time()
    train, val = training_data(options["data"], options["validation"], extent, int(seed))
    logger.info("network %s: %d training and %d validation sequences at extent %d "
                "(rendered in %.0f s); random_state %d", index, len(train), len(val), extent,
                time.time() - t0, random_state)
    device = resolve_device(device)
    network = initial_network(extent, random_state, connectome=connectome,
                              time_const_sigma=float(options.get("init_time_const_sigma") or 0))
    module = network.module().to(device)
    meta = {"extent": extent, "network_index": int(index), "recipe": recipe,
            "device": str(device)}
    stop_after = None
    if stop_at is not None:
        every = config.checkpoint_every * (len(train) // config.batch_size)
        if stop_at % every:
            raise ConfigError(f"stop_at {stop_at}: not at a checkpoint (every {every} iterations)")
        done = 0
        if (work / "chkpts").is_dir():
            from flycluster.checkpoints import list_checkpoints

            last = torch.load(list_checkpoints(work)[-1], map_location="cpu", weights_only=False)
            done = int(last.get("n_iterations_done", 0))
        if done >= stop_at:
            logger.info("network %s: %d iterations trained already (stop_at %d)", index, done,
                        stop_at)
            return None
        stop_after = stop_at - done
    result = train_flow(module, train, val, work, config, meta=meta, log_every=log_every,
                        stop_after=stop_after)
    if stop_after is not None and len(result.train_loss) < config.iterations:
        logger.info("network %s: stopped at %d iterations (stop_at); not published", index,
                    len(result.train_loss))
        return result
    publish(work, dest, load_connectome(connectome, extent=analysis_extent),
            source_json=connectome)
    logger.info("network %s: validation loss %.5g -> %.5g (ratio %.4f); published to %s",
                index, result.val_loss[0], result.val_loss[-1],
                result.val_loss[-1] / result.val_loss[0], dest)
    return result
