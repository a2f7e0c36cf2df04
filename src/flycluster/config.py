"""Workflow configuration: the checks that span keys, and the names known before a run.

Types, ranges and defaults of every key live in the schema (:mod:`flycluster.config_schema`);
:func:`check_config` adds what a schema cannot express (cell type names, references between
keys, the ensemble folder). The Snakefile applies the schema, then :func:`check_config`;
:func:`load_config` does both for config files, merged as snakemake merges them. Nothing here
imports torch, umap or xarray, so parsing the workflow stays fast.
"""

from __future__ import annotations

import copy
import difflib
import re
from pathlib import Path

import yaml

from flycluster.config_schema import apply_schema, default_of
from flycluster.errors import ConfigError

#: The 65 cell types of the flyvis connectome (fib25-fib19_v2.2.json), in connectome order.
CELL_TYPES = (
    "R1", "R2", "R3", "R4", "R5", "R6", "R7", "R8",
    "L1", "L2", "L3", "L4", "L5", "Lawf1", "Lawf2", "Am", "C2", "C3",
    "CT1(Lo1)", "CT1(M10)",
    "Mi1", "Mi2", "Mi3", "Mi4", "Mi9", "Mi10", "Mi11", "Mi12", "Mi13", "Mi14", "Mi15",
    "T1", "T2", "T2a", "T3", "T4a", "T4b", "T4c", "T4d", "T5a", "T5b", "T5c", "T5d",
    "Tm1", "Tm2", "Tm3", "Tm4", "Tm5Y", "Tm5a", "Tm5b", "Tm5c", "Tm9", "Tm16", "Tm20",
    "Tm28", "Tm30", "TmY3", "TmY4", "TmY5a", "TmY9", "TmY10", "TmY13", "TmY14", "TmY15",
    "TmY18",
)

def _merge(base: dict, update: dict) -> dict:
    """``base`` updated by ``update`` as snakemake merges config files: mappings key by key
    (recursively), any other value (lists included) replaced."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def load_config(*paths) -> dict:
    """Read YAML config files, merge them as snakemake merges ``configfile:`` and
    ``--configfile`` (later files win, mappings merged key by key), apply the schema
    (:func:`flycluster.config_schema.apply_schema`: types, ranges, defaults) and
    :func:`check_config`; return the completed config.

    ``load_config("config/config.yaml", "my.yaml")`` is the config that
    ``snakemake --configfile my.yaml`` runs with.

    Raises
    ------
    FileNotFoundError
        If a file does not exist.
    flycluster.errors.ConfigError
        If a value has the wrong type or range; the message names the file(s) and the key.
    """
    config = {}
    for path in map(Path, paths):
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        with open(path) as fh:
            try:
                data = yaml.safe_load(fh)
            except yaml.YAMLError as err:
                raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        if not isinstance(data, (dict, type(None))):
            raise ConfigError(f"config file {path}: expected a mapping of keys to values, "
                              f"got {type(data).__name__}")
        _merge(config, data or {})
    try:
        return check_config(apply_schema(config))
    except ConfigError as err:
        names = ", ".join(str(p) for p in paths)
        raise ConfigError(f"config file {names}: {err}") from err


def _check_names(names, key, known=CELL_TYPES):
    unknown = [n for n in names if n not in known]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, known, n=3)
            hints.append(f"{name!r}" + (f" (did you mean {', '.join(close)}?)" if close else ""))
        raise ConfigError(f"config key {key}: unknown cell type(s) {', '.join(hints)}; "
                          f"known cell types: {', '.join(known)}")


#: Stimulus kinds each analysis role accepts.
ANALYSIS_KINDS = {"naturalistic": ("photos", "sintel", "file"),
                  "moving_edges": ("moving_edges",), "flashes": ("flashes",)}


def stimulus_sets(config: dict) -> list[str]:
    """The stimulus sets the workflow builds and simulates: those the analysis names
    (``analysis.naturalistic``, ``analysis.moving_edges``, ``analysis.flashes``); other sets
    under ``stimuli`` are a catalog to choose from."""
    names = (config["analysis"][role] for role in ANALYSIS_KINDS)
    return list(dict.fromkeys(name for name in names if name is not None))


def _check_figure_selection(config: dict):
    """figures.edge_trace must name an edge of the moving-edge set, figures.fri_radius a radius
    of the flash set (else the figure job would fail after the simulations)."""
    analysis, figures = config["analysis"], config["figures"]
    if analysis["moving_edges"] is not None:
        spec = config["stimuli"][analysis["moving_edges"]]
        edge = figures["edge_trace"]
        for key, values in (("intensity", "intensities"), ("speed", "speeds"),
                            ("angle", "angles"), ("width", "widths")):
            if key == "width" and edge["width"] is None:
                if len(spec["widths"]) > 1:
                    raise ConfigError(
                        "config key figures.edge_trace.width: null, but stimulus set "
                        f"{analysis['moving_edges']!r} has several widths {spec['widths']}; "
                        "name one")
                continue
            if not any(abs(float(edge[key]) - float(v)) < 1e-9 for v in spec[values]):
                raise ConfigError(
                    f"config key figures.edge_trace.{key}: {edge[key]} is not one of the "
                    f"{values} of stimulus set {analysis['moving_edges']!r} ({spec[values]})")
    if analysis["flashes"] is not None:
        spec = config["stimuli"][analysis["flashes"]]
        if figures["fri_radius"] not in spec["radius"]:
            raise ConfigError(
                f"config key figures.fri_radius: {figures['fri_radius']} is not one of the "
                f"radii of stimulus set {analysis['flashes']!r} ({spec['radius']})")


def check_config(config: dict, known_cell_types=CELL_TYPES) -> dict:
    """The checks that span keys, on a config the schema has been applied to
    (:func:`flycluster.config_schema.apply_schema`); returns ``config`` unchanged.

    Checks: cell type names (``cell_types``, ``figures.tuning_cell_types``,
    ``ensemble.planted.cell_types``, ``ensemble.training.decoder_cell_types``); that
    ``ensemble.training.decoder_from`` exists; that
    ``analysis`` names stimulus sets defined under ``stimuli``, of a fitting kind and
    rendered for the network's eye (``extent`` equal to ``connectome.extent``); the ensemble
    folder for ``ensemble.kind: flyvis``; that the
    ensemble has at least ``umap.n_neighbors + 2`` networks (UMAP's minimum) and at least as
    many as planted groups.

    Raises
    ------
    flycluster.errors.ConfigError
        Naming the key and what was expected.
    """
    if config["cell_types"] != "all":
        _check_names(config["cell_types"], "cell_types", known_cell_types)
    if config["figures"]["tuning_cell_types"] != "all":
        _check_names(config["figures"]["tuning_cell_types"], "figures.tuning_cell_types",
                     known_cell_types)

    extent = config["connectome"]["extent"]
    for role, kinds in ANALYSIS_KINDS.items():
        name = config["analysis"][role]
        if name is None:
            continue
        if name not in config["stimuli"]:
            raise ConfigError(f"config key analysis.{role}: stimulus set {name!r} is not defined "
                              f"under stimuli (defined: {', '.join(config['stimuli'])})")
        spec = config["stimuli"][name]
        if spec["kind"] not in kinds:
            raise ConfigError(f"config key analysis.{role}: stimulus set {name!r} is of kind "
                              f"{spec['kind']!r}, expected {' or '.join(map(repr, kinds))}")
        if spec["extent"] != extent:
            raise ConfigError(f"config key stimuli.{name}.extent: {spec['extent']} differs from "
                              f"connectome.extent = {extent}; the stimulus must cover the "
                              "network's eye (set both to the same radius)")
    _check_figure_selection(config)
    published = config["ensemble"]["published_clusterings"]
    if published is not None and not Path(published).is_dir():
        raise ConfigError(f"config key ensemble.published_clusterings: {published} is not a "
                          "folder (expected flyvis's umap_and_clustering/ folder with one "
                          "<cell type>.pickle per cell type)")

    ensemble = config["ensemble"]
    decoder_types = (ensemble.get("training") or {}).get("decoder_cell_types")
    if ensemble["kind"] == "trained" and decoder_types is not None:
        _check_names(decoder_types, "ensemble.training.decoder_cell_types", known_cell_types)
    decoder_from = (ensemble.get("training") or {}).get("decoder_from")
    if ensemble["kind"] == "trained" and decoder_from is not None \
            and not Path(decoder_from).exists():
        raise ConfigError(f"config key ensemble.training.decoder_from: {decoder_from} does not "
                          "exist (expected a training checkpoint file or a network folder)")
    n_neighbors = config["umap"]["n_neighbors"]
    if ensemble["kind"] in ("flyvis", "shipped"):
        if ensemble["kind"] == "flyvis" and not ensemble["path"]:
            raise ConfigError("config key ensemble.path: required when ensemble.kind is "
                              "'flyvis' (a flyvis ensemble directory, e.g. .../results/flow/0000)")
        n_networks = len(network_names(config))
        where = (f"ensemble.path ({ensemble['path']})" if ensemble["kind"] == "flyvis"
                 else f"ensemble.shipped ({ensemble['shipped']})")
        default_n = default_of("ensemble", "n_networks")
        if ensemble["n_networks"] != default_n:
            raise ConfigError(
                f"config key ensemble.n_networks: {ensemble['n_networks']} is not used by the "
                f"{ensemble['kind']} kind, whose {n_networks} networks are the folders of "
                f"{where}; set ensemble.kind (synthetic, planted or trained) to make "
                "n_networks networks, or remove the key")
    else:
        n_networks = ensemble["n_networks"]
        where = "ensemble.n_networks"
        if ensemble["kind"] == "planted":
            planted = ensemble["planted"]
            _check_names(planted["cell_types"], "ensemble.planted.cell_types", known_cell_types)
            if planted["n_groups"] > n_networks:
                raise ConfigError(f"config key ensemble.planted.n_groups: {planted['n_groups']} "
                                  "groups need at least as many networks "
                                  f"(ensemble.n_networks = {n_networks})")
    if n_networks < n_neighbors + 2:
        raise ConfigError(f"config key {where}: {n_networks} networks, but UMAP with "
                          f"umap.n_neighbors = {n_neighbors} needs at least {n_neighbors + 2}")
    if config["umap"]["n_components"] > n_networks - 2:
        raise ConfigError(f"config key umap.n_components: {config['umap']['n_components']} "
                          f"components need at least {config['umap']['n_components'] + 2} "
                          f"networks ({where} gives {n_networks})")
    return config


def ensemble_folder(config: dict) -> str | None:
    """The folder of an existing ensemble: ``ensemble.path`` for the flyvis kind, the shipped
    ensemble ``ensemble.shipped`` (:mod:`flycluster.ensembles`) for the shipped kind; None for
    the kinds the workflow makes (synthetic, planted, trained)."""
    ensemble = config["ensemble"]
    if ensemble["kind"] == "flyvis":
        return ensemble["path"]
    if ensemble["kind"] == "shipped":
        from flycluster.ensembles import shipped_ensemble

        return str(shipped_ensemble(ensemble["shipped"]))
    return None


def network_names(config: dict) -> list[str]:
    """The networks of the configured ensemble, known before anything runs.

    Synthetic, planted and trained ensembles are named ``000 .. n_networks-1`` (as
    flycluster.synthetic and the train rule write them); a flyvis or shipped ensemble lists
    its folder (:func:`flycluster.checkpoints.list_networks`).

    Raises
    ------
    flycluster.errors.ConfigError
        Naming ``ensemble.path`` (``ensemble.shipped``) when the folder is missing, empty or a
        network lacks its validation loss file.
    """
    ensemble = config["ensemble"]
    folder = ensemble_folder(config)
    if folder is None:
        return [f"{i:03d}" for i in range(ensemble["n_networks"])]
    from flycluster.checkpoints import list_networks
    from flycluster.errors import CheckpointError

    key = "ensemble.path" if ensemble["kind"] == "flyvis" else "ensemble.shipped"
    try:
        return list_networks(folder, ensemble["loss_name"])
    except CheckpointError as err:
        raise ConfigError(f"config key {key}: {err} (config key ensemble.loss_name: "
                          f"{ensemble['loss_name']!r})") from err


def selected_cell_types(config: dict, known_cell_types=CELL_TYPES) -> list[str]:
    """The cell types to cluster, in connectome order."""
    chosen = config["cell_types"]
    if chosen == "all":
        return list(known_cell_types)
    return [ct for ct in known_cell_types if ct in set(chosen)]


def tuning_cell_types(config: dict, known_cell_types=CELL_TYPES) -> list[str]:
    """The selected cell types that get a direction tuning figure (none without moving edges)."""
    if config["analysis"]["moving_edges"] is None:
        return []
    chosen = config["figures"]["tuning_cell_types"]
    selected = selected_cell_types(config, known_cell_types)
    if chosen == "all":
        return selected
    return [ct for ct in selected if ct in set(chosen)]


def target_name(cell_type: str) -> str:
    """The short snakemake target of a cell type: its name with other than [A-Za-z0-9_] -> '_'.

    ``T4c`` -> ``T4c``; ``CT1(M10)`` -> ``CT1_M10``.
    """
    return re.sub(r"[^A-Za-z0-9_]+", "_", cell_type).strip("_")
